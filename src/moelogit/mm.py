"""The batch MM map for the SGMLMoE, with Böhning's quadratic minorizer.

One call of :class:`BohningMM` takes ``theta`` to the maximiser of the
quadratic minorizer at ``theta`` (math.md, section 2). With the fixed
curvature ``S = Z^T diag(w) Z`` every block update is

    Delta = (S + 2 alpha D)^{-1} G A^{-1},   A^{-1} = 2 (I + 1 1^T),

where ``G`` is the block's gradient of the objective (ridge included) and
``D = diag(0, 1, .., 1)`` leaves intercepts unpenalised. Because the ridge is
symmetric (see :func:`moelogit.model.ridge_penalty`) its Hessian is
``2 alpha (A ⊗ D)``, so the bound stays ``A ⊗ (S + 2 alpha D)``: a single
Cholesky factor serves every block and every iteration of a fit. The
per-expert curvature ``S_k = Z^T diag(w tau_k) Z`` (bounded from above as in
:class:`BohningMM`'s notes) gives a tighter bound for expert ``k`` at the
price of ``K`` Gram matrices and factorisations per iteration.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg import LinAlgError
from scipy.linalg.blas import dsyrk, ssyrk
from scipy.linalg.lapack import dpotrf, dpotrs

from .model import (
    Dims,
    SerialReduction,
    Support,
    Workspace,
    e_step,
    hessian,
    objective_and_gradient,
    pack,
    ridge_hessian,
    ridge_penalty,
    row_blocks,
    unpack,
)

__all__ = [
    "CURVATURES",
    "DENSE_GRAM_MAX_COLUMNS",
    "RESPONSIBILITY_FLOOR",
    "ROW_PRODUCTS_MAX_VALUES",
    "BohningMM",
    "apply_inverse_bohning",
    "decoupled",
]

CURVATURES = ("fixed", "expert")

# The per-expert curvature leaves out rows whose responsibility for expert k
# is below this fraction of the expert's weight p_k, and adds the most they can
# contribute instead (see BohningMM's notes): a bound looser than the exact
# one by at most this fraction of p_k S, for every expert whatever its size
# (relative to S_k itself, about this fraction where the expert's rows are
# spread like all rows, more in directions where they are not). At 1e-4 the
# Gram matrices of all experts together cost about 2.5 passes over the rows
# instead of K = 5 or 8 on fitted models of the benchmark's problems; at 1e-3
# one fit in the tests (n = 3000, K = 3) wandered on a flat ridge for over
# 1000 cycles where the exact curvature converged in 487 and 1e-4 in 411.
RESPONSIBILITY_FLOOR = 1e-4
# Up to this many design columns the exact per-expert curvatures are cheaper
# than the bound that leaves rows out: at n = 5,000, q = 5, K = 3, M = 3 a step
# took 1.49 ms with the bound and 1.17 ms with separate exact products.
DENSE_GRAM_MAX_COLUMNS = 8
# With more columns, :meth:`BohningMM.steps` makes the bounds of several points
# at once from one product of their row weights (points x K rows) with the
# upper triangles of the rows' outer products z_i z_i^T (n x q (q + 1) / 2,
# made once per map) instead of K syrk products per point: a fat product
# where the others are thin. On benchmark problem b's screening sample
# (n = 10,000, q = 21, K = 5) a step took 2.7, 2.4 and 2.3 ms per point for
# 5, 10 and 20 points against 4.0-3.6 ms one by one (benchmarks.
# screening_steps); at q = 51 (problem c, K = 8) a prototype gained 1.2 times,
# not worth 106 MB of outer products. They are made only while they hold at
# most this many values (32 MiB).
ROW_PRODUCTS_MAX_VALUES = 2**22

# Relative jitter added to every curvature matrix. A larger curvature is still a
# valid minorizer, so this keeps ascent while making singular designs (collinear
# columns, an expert with no responsibility) factorisable. Fixed points, where
# the gradient is zero, are unaffected.
_JITTER = 1e-10
# BLAS's syrk of each precision of rows (single: a screening map's).
_SYRK = {np.dtype(np.float64): dsyrk, np.dtype(np.float32): ssyrk}


def _symmetric(upper: np.ndarray) -> np.ndarray:
    """Symmetric matrices from their upper triangles (last two axes)."""
    return upper + np.triu(upper, 1).swapaxes(-1, -2)


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor by LAPACK directly.

    ``scipy.linalg.cho_factor`` and ``cho_solve`` spend 5-10 us per call on
    argument handling, against under 1 us for the work at q = 5; the
    per-expert curvature makes ``2 K + 1`` such calls every step.
    """
    factor, info = dpotrf(matrix, lower=1, clean=0)
    if info != 0:
        raise LinAlgError(f"curvature matrix is not positive definite (LAPACK info {info})")
    return factor


def _solve(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L L^T x = rhs`` with the factor of :func:`_cholesky`."""
    solution, info = dpotrs(factor, rhs, lower=1)
    if info != 0:  # only on malformed arguments
        raise ValueError(f"LAPACK dpotrs failed (info {info})")
    return solution


def _gram_upper(rows: np.ndarray) -> np.ndarray:
    """The upper triangle of ``rows^T rows`` (the lower one is zero).

    BLAS's syrk: half the work of a general product. ``rows.T`` is
    Fortran-ordered, so no copy is made. (A function of the module, so that
    closures sent to Dask workers refer to it by name: SciPy's BLAS
    wrappers cannot be pickled.)
    """
    return _SYRK[rows.dtype](1.0, rows.T, trans=0)


def _exact_grams(parts: tuple, rows, estep, workspace: Workspace) -> tuple:
    """A block's term of every expert's exact curvature ``S_k = Z^T diag(w tau_k) Z``, ``(K, q, q)``."""
    Z_rows, _, w_rows = parts
    K, q = estep.resp.shape[0], Z_rows.shape[1]
    weighted = estep.resp * w_rows
    # Into a contiguous (K q, n) array, then one product: half the time of a
    # batched matmul at n = 5,000, q = 5, K = 3.
    scaled = workspace("scaled_columns", (K, q, Z_rows.shape[0]), Z_rows.dtype)
    np.multiply(Z_rows.T, weighted[:, None, :], out=scaled)
    return (np.dot(scaled.reshape(K * q, -1), Z_rows).reshape(K, q, q),)


def _floored_grams(Z_rows, resp, w_rows, floors, workspace: Workspace) -> np.ndarray:
    """A block's upper triangles of ``sum over rows with tau_ik > f_k of w_i tau_ik z_i z_i^T``."""
    K, q = resp.shape[0], Z_rows.shape[1]
    roots = np.sqrt(resp * w_rows)
    scaled_rows = workspace("scaled_rows", Z_rows.shape, Z_rows.dtype)
    upper = np.zeros((K, q, q))
    for k, floor in enumerate(floors):
        # Strictly above the floor: rows at or below it (rows of zero
        # responsibility among them) are covered by floor * S.
        kept = np.flatnonzero(resp[k] > floor)
        scaled = scaled_rows[: kept.size]
        if kept.size == len(Z_rows):  # diffuse gates (early steps): no gather
            np.multiply(Z_rows, roots[k, :, None], out=scaled)
        else:
            # mode='clip' (indices are valid): 'raise' buffers the output.
            np.take(Z_rows, kept, axis=0, out=scaled, mode="clip")
            scaled *= roots[k, kept, None]
        upper[k] += _gram_upper(scaled)
    return upper


def _outer_products(Z: np.ndarray, blocks) -> np.ndarray:
    """Every row's ``z_i z_i^T``, its upper triangle packed as :func:`_unpacked` reads it, ``(n, q (q + 1) / 2)``."""
    first, second = np.triu_indices(Z.shape[1])
    products = np.empty((Z.shape[0], first.size), Z.dtype)
    for rows in blocks(Z.shape[0]):
        np.multiply(Z[rows][:, first], Z[rows][:, second], out=products[rows])
    return products


@functools.cache
def _packed_positions(q: int) -> np.ndarray:
    """Where each entry of a symmetric ``q x q`` matrix lies in its packed upper triangle, ``(q * q,)``."""
    first, second = np.triu_indices(q)
    positions = np.empty((q, q), dtype=np.intp)
    positions[first, second] = positions[second, first] = np.arange(first.size)
    return positions.reshape(-1)


def _unpacked(packed: np.ndarray, q: int) -> np.ndarray:
    """Symmetric matrices ``(..., q, q)`` from their packed upper triangles ``(..., q (q + 1) / 2)``."""
    # One gather (mode='clip': the positions are valid; 'raise' buffers).
    full = np.take(packed, _packed_positions(q), axis=-1, mode="clip")
    return full.reshape(*packed.shape[:-1], q, q)


def _weight_and_floored_grams(floors, parts: tuple, rows, estep, workspace: Workspace) -> tuple:
    """A block's terms of every expert's weight ``p_k`` and of its floored curvature."""
    Z_rows, _, w_rows = parts
    return np.dot(estep.resp, w_rows), _floored_grams(Z_rows, estep.resp, w_rows, floors, workspace)


def _weighted_gram(parts: tuple, rows, workspace) -> tuple:
    """A block's term of ``S = Z^T diag(w) Z``."""
    Z_rows, w_rows = parts
    return (np.dot((Z_rows * w_rows[:, None]).T, Z_rows),)


def decoupled(curvature: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """``curvature`` with the rows and columns outside ``kept`` those of the identity.

    Its factor then solves the kept block alone and leaves the others as
    they are: with a gradient that is zero outside ``kept`` (see
    :class:`moelogit.model.Support`), a step never moves them.
    """
    if kept.all():
        return curvature
    curvature = np.where(np.outer(kept, kept), curvature, 0.0)
    curvature[..., ~kept, ~kept] = 1.0  # stacked matrices too
    return curvature


def apply_inverse_bohning(step: np.ndarray) -> np.ndarray:
    """Right-multiply by ``A_J^{-1} = 2 (I + 1 1^T)`` along the last axis."""
    return 2.0 * (step + step.sum(axis=-1, keepdims=True))


def _moved(gate_coef, expert_coef, solved_gate, solved_experts) -> np.ndarray:
    """The map's next point, packed: each block moved by its solve times ``A^{-1}``."""
    return pack(
        gate_coef + apply_inverse_bohning(solved_gate),
        expert_coef + apply_inverse_bohning(solved_experts),
    )


class BohningMM:
    """The monotone MM map ``theta -> theta_next`` of a fixed data set.

    Parameters
    ----------
    Z : ndarray of shape (n, q)
        Design matrix, intercept in column 0.
    y : ndarray of shape (n,)
        Integer class codes in ``0 .. n_classes - 1``.
    weights : ndarray of shape (n,)
        Non-negative row weights summing to one.
    dims : Dims
        ``(q, n_experts, n_classes)``.
    alpha : float, default=0.0
        Symmetric ridge on slopes (see :func:`moelogit.model.ridge_penalty`).
    curvature : {"fixed", "expert"}, default="fixed"
        ``"fixed"`` uses ``S`` for every block, factorised once here;
        ``"expert"`` uses a bound on ``S_k`` for expert ``k``, refactorised
        every call (see Notes).
    reduction : callable, optional
        How sums over row blocks are computed (the seam of
        :class:`moelogit.model.SerialReduction`, the default): for example
        :class:`moelogit.reduction.ThreadReduction` runs blocks on threads.
    support : Support, optional
        The design columns of the gate and of the experts (default all):
        coefficients outside stay at their value, zero in a fit. The
        gradient is zero there and each block's curvature
        :func:`decoupled`, so the fixed curvature is one matrix per
        distinct mask, still factorised once.

    Notes
    -----
    Calling the map returns ``(theta_next, objective(theta))``: the objective
    at the *input* comes for free from the E-step, so drivers never evaluate it
    separately. Rows are visited in blocks (:func:`moelogit.model.row_blocks`).

    With ``curvature="expert"`` the curvature of expert ``k`` is

        B_k = sum over rows with tau_ik > f_k of w_i tau_ik z_i z_i^T  +  f_k S,

    with ``f_k = c p_k``, ``p_k = sum_i w_i tau_ik`` the expert's weight and
    ``c`` = :data:`RESPONSIBILITY_FLOOR`. The rows left out of the sum
    contribute at most ``f_k S`` to ``S_k``, so ``B_k >= S_k`` and the
    quadratic is still a minorizer, while each expert's Gram matrix is built
    only from the rows it is responsible for: a few passes of ``n q^2`` work
    per step for all experts together once the gate is sharp, instead of
    ``K``. With at most :data:`DENSE_GRAM_MAX_COLUMNS` design columns the
    exact ``S_k`` are used instead. Apart from the ``K x n``
    responsibilities kept for these bounds, scratch memory does not grow
    with ``n``.
    """

    def __init__(
        self,
        Z,
        y,
        weights,
        dims: Dims,
        alpha: float = 0.0,
        curvature: str = "fixed",
        reduction=None,
        support: Support | None = None,
    ):
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}")
        self.Z, self.y, self.weights, self.dims = Z, y, weights, dims
        self.alpha = float(alpha)
        self.curvature = curvature
        self.support = Support.full(dims.q) if support is None else support
        self._ridge_diag = np.full(dims.q, 2.0 * self.alpha)
        self._ridge_diag[0] = 0.0  # intercept unpenalised
        self._blocks = functools.partial(row_blocks, dims=dims)
        self._workspace = Workspace()
        self.reduction = SerialReduction(self._workspace) if reduction is None else reduction
        # By blocks: no temporary of the size of Z.
        (self._S,) = self.reduction(_weighted_gram, (Z, weights), self._blocks)
        self._jitter = _JITTER * max(np.trace(self._S) / dims.q, np.finfo(float).tiny)
        self._gate_factor = self._factor(self._S, self.support.gate)
        self._expert_factor = (
            self._gate_factor if self.shares_factor else self._factor(self._S, self.support.experts)
        )
        # Chunked data: the floors of the next bounds, from the last evaluation.
        self._floors = np.full(dims.K, RESPONSIBILITY_FLOOR / dims.K)
        self._products = None  # the rows' outer products, made by the first steps() to use them

    @property
    def shares_factor(self) -> bool:
        """Whether the gate and every expert step with one curvature (fixed, same columns)."""
        return self.curvature == "fixed" and np.array_equal(self.support.gate, self.support.experts)

    @property
    def n_rows(self) -> int:
        """Rows of the data, of positive weight or not."""
        return self.Z.shape[0]

    @property
    def _rows_in_memory(self) -> bool:
        """Whether the rows are a NumPy array (else chunks of a Dask array, seen block by block)."""
        return isinstance(self.Z, np.ndarray)

    def _expert_bounds(self, resp: np.ndarray) -> np.ndarray:
        """The per-expert curvatures ``B_k`` (see the class notes) from all rows' ``resp``, ``(K, q, q)``.

        For more than :data:`DENSE_GRAM_MAX_COLUMNS` columns, in memory; the
        floors are those of the current responsibilities.
        """
        floors = RESPONSIBILITY_FLOOR * np.dot(resp, self.weights)

        def terms(parts: tuple, rows: slice, workspace: Workspace) -> tuple:
            Z_rows, _, w_rows = parts
            return (_floored_grams(Z_rows, resp[:, rows], w_rows, floors, workspace),)

        (upper,) = self.reduction(terms, (self.Z, self.y, self.weights), self._blocks)
        return floors[:, None, None] * self._S + _symmetric(upper)

    def curvature_factors(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower Cholesky factors of the curvatures the map uses at ``theta``.

        Returns the gate's factor ``(q, q)`` and the experts' ``(K, q, q)``
        (all one with ``curvature="fixed"``, the gate's if
        :attr:`shares_factor`), ridge and jitter included; the bound on the
        classes, ``A``, is not part of them.
        """
        K = self.dims.K
        gate_factor = np.tril(self._gate_factor)  # dpotrf leaves the upper triangle as it was
        if self.curvature == "fixed":
            expert_factor = np.tril(self._expert_factor)
            return gate_factor, np.broadcast_to(expert_factor, (K, *expert_factor.shape))
        *_, bounds = self._evaluate(*unpack(theta, self.dims), with_bounds=True)
        kept = self.support.experts
        return gate_factor, np.stack([np.tril(self._factor(bound, kept)) for bound in bounds])

    def _evaluate(self, gate_coef, expert_coef, with_bounds: bool, keep=None):
        """Objective, its gradients and (if ``with_bounds``) the per-expert curvatures ``B_k``.

        The curvatures come from the same pass over the rows where they can:
        with few columns (the exact ``S_k``), and for chunked data, whose
        floors are then those of the previous evaluation (any floor gives a
        valid bound; see the class notes). In memory with more columns the
        pass keeps every row's responsibilities, and a second pass leaves
        out the rows below the current floors. Given ``keep``, an array
        ``(K, n)``, the pass keeps them there (rows in memory).
        """
        K, q = self.dims.K, self.dims.q
        extra = None
        if keep is None and with_bounds:
            if q <= DENSE_GRAM_MAX_COLUMNS:
                extra = _exact_grams
            elif not self._rows_in_memory:
                extra = functools.partial(_weight_and_floored_grams, self._floors)
            else:
                keep = self._workspace("all_resp", (K, self.n_rows), self.Z.dtype)
        if keep is not None:

            def extra(parts, rows, estep, workspace) -> tuple:
                keep[:, rows] = estep.resp
                return ()

        value, grad_gate, grad_experts, *sums = objective_and_gradient(
            self.Z,
            self.y,
            self.weights,
            gate_coef,
            expert_coef,
            self.alpha,
            blocks=self._blocks,
            reduction=self.reduction,
            extra=extra,
        )
        self.support.restrict(grad_gate, grad_experts)
        if not with_bounds:
            return value, grad_gate, grad_experts, None
        if keep is not None:
            return value, grad_gate, grad_experts, self._expert_bounds(keep)
        if q <= DENSE_GRAM_MAX_COLUMNS:
            return value, grad_gate, grad_experts, sums[0][0]
        weight, upper = sums[0]
        bounds = self._floors[:, None, None] * self._S + _symmetric(upper)
        self._floors = RESPONSIBILITY_FLOOR * weight
        return value, grad_gate, grad_experts, bounds

    def _regularised(self, S: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """The curvature ``S`` (stacked or not), ridge and jitter added, of a block with columns ``kept``."""
        return decoupled(S + np.diag(self._ridge_diag + self._jitter), kept)

    def _factor(self, S: np.ndarray, kept: np.ndarray):
        """Cholesky factor of the curvature ``S`` (ridge and jitter added) of a block with columns ``kept``."""
        return _cholesky(self._regularised(S, kept))

    def objective(self, theta: np.ndarray) -> float:
        """Penalised mean log-likelihood at ``theta``, by row blocks (scratch of one block)."""
        gate_coef, expert_coef = unpack(theta, self.dims)

        def terms(parts: tuple, rows: slice | None, workspace: Workspace) -> tuple:
            return (e_step(*parts, gate_coef, expert_coef, workspace).loglik,)

        (loglik,) = self.reduction(terms, (self.Z, self.y, self.weights), self._blocks)
        return loglik - ridge_penalty(gate_coef, expert_coef, self.alpha)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised mean log-likelihood at ``theta`` and its gradient, packed like ``theta``."""
        value, grad_gate, grad_experts = objective_and_gradient(
            self.Z,
            self.y,
            self.weights,
            *unpack(theta, self.dims),
            self.alpha,
            blocks=self._blocks,
            reduction=self.reduction,
        )
        self.support.restrict(grad_gate, grad_experts)
        return value, pack(grad_gate, grad_experts)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the penalised mean log-likelihood at ``theta`` (see :func:`moelogit.model.hessian`)."""
        gate_coef, expert_coef = unpack(theta, self.dims)

        def terms(parts: tuple, rows: slice | None, workspace: Workspace) -> tuple:
            return (hessian(*parts, gate_coef, expert_coef),)

        (loglik_hessian,) = self.reduction(terms, (self.Z, self.y, self.weights), self._blocks)
        return loglik_hessian - ridge_hessian(self.dims, self.alpha)

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        gate_coef, expert_coef = unpack(theta, self.dims)
        value, *gradients_and_bounds = self._evaluate(
            gate_coef, expert_coef, with_bounds=self.curvature == "expert"
        )
        return self._stepped(gate_coef, expert_coef, *gradients_and_bounds), value

    def steps(self, thetas: list) -> list[tuple[np.ndarray, float]]:
        """The map at each of ``thetas``: ``[self(theta) for theta in thetas]``.

        With the per-expert curvature, more than
        :data:`DENSE_GRAM_MAX_COLUMNS` columns and the rows in memory, the
        bounds of all points come from one product with the rows' outer
        products (see :data:`ROW_PRODUCTS_MAX_VALUES`) and their solves
        from two calls: the same steps up to rounding, sooner.
        :func:`moelogit.solver.maximize_together` runs several fits on it.
        """
        products = self._gram_products()
        if products is None or len(thetas) < 2:
            return [self(theta) for theta in thetas]
        coefs = [unpack(theta, self.dims) for theta in thetas]
        resp = self._workspace("points_resp", (len(thetas), self.dims.K, self.n_rows), self.Z.dtype)
        evaluated = [
            self._evaluate(*coef, with_bounds=False, keep=kept) for coef, kept in zip(coefs, resp)
        ]
        bounds = self._bounds_of_points(resp, products)
        K, q, _ = coefs[0][1].shape
        # The points' solves in few calls: one for the gates (one factor),
        # one batched for the P x K bounds (LU of each, as good as Cholesky
        # for these positive definite matrices); each call of the many
        # small ones holds the GIL, which threads screening side by side share.
        grad_gates = np.concatenate([gradients[1] for gradients in evaluated], axis=1)
        solved_gates = _solve(self._gate_factor, grad_gates).reshape(q, len(thetas), K - 1)
        curvatures = self._regularised(bounds, self.support.experts)
        grad_experts = np.stack([gradients[2] for gradients in evaluated])
        solved_experts = np.linalg.solve(curvatures, grad_experts)
        return [
            (_moved(*coef, solved_gates[:, point], solved_experts[point]), value)
            for point, (coef, (value, *_)) in enumerate(zip(coefs, evaluated))
        ]

    @property
    def row_product_values(self) -> int:
        """Values of the rows' packed outer products ``z_i z_i^T``, ``n q (q + 1) / 2``."""
        q = self.dims.q
        return self.n_rows * q * (q + 1) // 2

    @property
    def steps_together(self) -> bool:
        """Whether :meth:`steps` takes several steps together faster than one by one."""
        return (
            self.curvature == "expert"
            and self.dims.q > DENSE_GRAM_MAX_COLUMNS
            and self._rows_in_memory
            and self.row_product_values <= ROW_PRODUCTS_MAX_VALUES
        )

    def _gram_products(self) -> np.ndarray | None:
        """The rows' :func:`_outer_products` where :meth:`steps` takes its bounds from them, else None."""
        if self._products is None and self.steps_together:
            self._products = _outer_products(self.Z, self._blocks)
        return self._products

    def _bounds_of_points(self, resp: np.ndarray, products: np.ndarray) -> np.ndarray:
        """:meth:`_expert_bounds` of several points' ``resp`` ``(points, K, n)``, ``(points, K, q, q)``."""
        points, K, n = resp.shape
        floors = RESPONSIBILITY_FLOOR * np.dot(resp.reshape(points * K, n), self.weights).reshape(
            points, K
        )
        # Rows at or below the floor weigh nothing here: floor * S covers them.
        # Times the mask's ones and zeros (the same values): a third of
        # np.where's time, which branches on every value.
        weighted = np.multiply(
            resp, self.weights, out=self._workspace("points_weighted", resp.shape, resp.dtype)
        )
        weighted *= resp > floors[..., None]
        packed = weighted.reshape(points * K, n) @ products
        grams = _unpacked(packed.reshape(points, K, -1), self.dims.q)
        return floors[..., None, None] * self._S + grams

    def _stepped(self, gate_coef, expert_coef, grad_gate, grad_experts, bounds) -> np.ndarray:
        """The map's next point from the gradients and (per-expert curvature) bounds at a point."""
        K, q, M1 = expert_coef.shape
        if self.curvature == "fixed":  # the experts' gradients as columns of one right-hand side
            experts_rhs = grad_experts.transpose(1, 0, 2).reshape(q, K * M1)
        if self.shares_factor:
            # Gate and experts share S: one solve with a (q, K - 1 + K (M-1))
            # right-hand side reads the factor once (at q = 1,147: 1.1 ms
            # instead of 1.8 ms for two solves; the same result to the bit
            # with this machine's OpenBLAS, though LAPACK does not promise it).
            solved = _solve(self._gate_factor, np.concatenate([grad_gate, experts_rhs], 1))
            solved_gate = solved[:, : K - 1]
            solved = solved[:, K - 1 :].reshape(q, K, M1).transpose(1, 0, 2)
        else:
            solved_gate = _solve(self._gate_factor, grad_gate)
            if self.curvature == "fixed":
                solved = _solve(self._expert_factor, experts_rhs)
                solved = solved.reshape(q, K, M1).transpose(1, 0, 2)
            else:
                solved = np.empty_like(grad_experts)
                for k, bound in enumerate(bounds):
                    solved[k] = _solve(self._factor(bound, self.support.experts), grad_experts[k])
        return _moved(gate_coef, expert_coef, solved_gate, solved)
