"""Mathematics of the softmax-gated multinomial-logistic mixture of experts.

Pure functions on arrays, in *design coordinates*:

* ``Z`` is the ``(n, q)`` design matrix whose first column is the intercept;
* ``gate_coef`` is ``(q, K - 1)``: the free columns of the gate matrix ``W``,
  whose last column (the reference expert) is fixed to zero;
* ``expert_coef`` is ``(K, q, M - 1)``: the free columns of every expert's
  matrix ``V_k``, whose last column (the reference class) is fixed to zero;
* ``y`` holds integer class codes in ``0 .. M - 1``;
* ``weights`` are non-negative row weights that sum to one, so that
  ``weights @ values`` is the (weighted) mean over rows.

Every probability is computed in the log domain with log-softmax, so logits
of any finite size (1e4 and beyond) never overflow. See ``math.md``, section 1.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.linalg import block_diag

__all__ = [
    "BLOCK_ELEMENTS",
    "Blocks",
    "FUSED_PRODUCT_MIN_COLUMNS",
    "MEMORY_BLOCK_ELEMENTS",
    "Dims",
    "EStep",
    "SerialReduction",
    "Support",
    "Workspace",
    "accumulate",
    "copied_terms",
    "e_step",
    "experts_objective_and_gradient",
    "gradient",
    "hessian",
    "log_class_proba",
    "log_experts",
    "log_gate",
    "mean_loglik",
    "objective",
    "objective_and_gradient",
    "pack",
    "responsibilities",
    "ridge_hessian",
    "ridge_penalty",
    "row_blocks",
    "row_scores",
    "row_slices",
    "rows_per_block",
    "unpack",
]


class Dims(NamedTuple):
    """Sizes of a problem: ``q`` design columns, ``K`` experts, ``M`` classes."""

    q: int
    K: int
    M: int

    @property
    def n_gate(self) -> int:
        """Number of free gate parameters, ``q (K - 1)``."""
        return self.q * (self.K - 1)

    @property
    def n_params(self) -> int:
        """Number of free parameters, ``q (K - 1) + K q (M - 1)``."""
        return self.n_gate + self.K * self.q * (self.M - 1)


class Support(NamedTuple):
    """Which design columns enter the gate and which the experts.

    Boolean masks of length ``q`` (the intercept, column 0, enters both).
    The coefficient rows of a column outside a block's mask are held at
    zero: a gate on a few covariates and experts on others, a gate with an
    intercept only (a mixture with constant weights), or experts with an
    intercept only.
    """

    gate: np.ndarray
    experts: np.ndarray

    @classmethod
    def full(cls, q: int) -> Support:
        """Every column in both blocks."""
        return cls(np.ones(q, dtype=bool), np.ones(q, dtype=bool))

    def free(self, dims: Dims) -> np.ndarray:
        """Which entries of :func:`pack`'s vector are estimated, ``(P,)`` booleans."""
        _, K, M = dims
        gate = np.repeat(self.gate, K - 1)
        return np.concatenate([gate, np.tile(np.repeat(self.experts, M - 1), K)])

    def n_params(self, dims: Dims) -> int:
        """Number of estimated parameters."""
        _, K, M = dims
        return int(self.gate.sum()) * (K - 1) + K * int(self.experts.sum()) * (M - 1)

    def restrict(self, gate_coef: np.ndarray, expert_coef: np.ndarray) -> None:
        """Zero, in place, the rows of ``(gate_coef, expert_coef)`` (or their gradients) outside."""
        gate_coef[~self.gate] = 0.0
        expert_coef[:, ~self.experts] = 0.0

    def holds(self, gate_coef: np.ndarray, expert_coef: np.ndarray) -> bool:
        """Whether the coefficients outside the masks are all zero."""
        return not (np.any(gate_coef[~self.gate]) or np.any(expert_coef[:, ~self.experts]))


def pack(gate_coef: np.ndarray, expert_coef: np.ndarray) -> np.ndarray:
    """Flatten ``(gate_coef, expert_coef)`` into one parameter vector ``theta``."""
    return np.concatenate([gate_coef.ravel(), expert_coef.ravel()])


def unpack(theta: np.ndarray, dims: Dims) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`: views of ``theta`` as ``(gate_coef, expert_coef)``."""
    q, K, M = dims
    gate_coef = theta[: dims.n_gate].reshape(q, K - 1)
    expert_coef = theta[dims.n_gate :].reshape(K, q, M - 1)
    return gate_coef, expert_coef


# Internally arrays are laid out with the rows last, ``(categories, ..., n)``:
# softmax reductions then run over the small leading axis as elementwise
# operations between contiguous slabs, which is several times faster in NumPy
# than reducing a short trailing axis row by row. Public functions return
# transposed views in the documented ``(n, ...)`` shapes.


# From this many design columns on, gate and expert logits come from one
# product (see _logits).
FUSED_PRODUCT_MIN_COLUMNS = 64


class Workspace:
    """Named scratch arrays, allocated once and reused by every call.

    The MM map evaluates the same shapes thousands of times; fresh
    multi-megabyte temporaries at every step cost page faults that took about
    half of a step's time at n = 10,000 (measured with glibc's allocator).
    An array handed out is overwritten by the next call that asks for the
    same name, so a result must be used before the next evaluation. One
    buffer a name, as large as the largest shape asked for, serves shapes of
    any size: the row blocks of :func:`row_blocks`, of two sizes one row
    apart, share one set of arrays instead of two. Arrays of another dtype
    (rows in single precision) are others of the same name.
    """

    def __init__(self):
        self._buffers: dict[tuple, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        size = math.prod(shape)
        key = (name, np.dtype(dtype))
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[key] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)


Blocks = Callable[[int], list]
"""How a reduction cuts rows into blocks: ``blocks(n_rows)`` gives slices covering them."""


class SerialReduction:
    """Sums of per-block terms over the rows, block after block, in one workspace.

    The one seam through which a fit visits its rows: every full-data
    quantity (log-likelihood, gradient, Gram matrices) is
    ``reduction(terms, arrays, blocks)``, the elementwise sum, in block
    order, of the tuples ``terms(parts, rows, workspace)`` (floats and
    arrays), where ``parts`` are the block's rows of the row-aligned
    ``arrays`` (design, labels, weights) and ``rows`` its slice of them.
    Another executor (a thread pool, a Dask cluster) computes the same terms
    elsewhere; where the data lie in chunks, ``rows`` is None (a term may
    then keep no state of its own by row position).
    """

    def __init__(self, workspace: Workspace | None = None, *, positions: bool = True):
        self.workspace = Workspace() if workspace is None else workspace
        self.positions = positions  # False: the arrays are a chunk of larger data

    def __call__(self, terms: Callable, arrays: tuple, blocks: Blocks) -> tuple:
        total = None
        for rows in blocks(arrays[0].shape[0]):
            parts = tuple(array[rows] for array in arrays)
            part = terms(parts, rows if self.positions else None, self.workspace)
            total = accumulate(total, part)
        return tuple(total)


def _copied(term):
    """A block's term, copied; in double precision if it is a float array of less (rows in single)."""
    if isinstance(term, np.ndarray) and term.dtype.kind == "f" and term.itemsize < 8:
        return term.astype(np.float64, order="C")
    return term.copy() if isinstance(term, np.ndarray) else term


def copied_terms(part: tuple) -> list:
    """A block's terms, copied (they may live in a workspace), float arrays in double precision."""
    return [_copied(term) for term in part]


def accumulate(total: list | None, part: tuple) -> list:
    """``total + part`` elementwise, in place where ``total`` holds arrays; ``part`` if no total."""
    if total is None:
        return copied_terms(part)
    for i, term in enumerate(part):
        if isinstance(term, np.ndarray):
            total[i] += term
        else:
            total[i] = total[i] + term
    return total


def _fresh(name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """The default scratch source: a new array every time."""
    return np.empty(shape, dtype)


def _gate_logits(Z: np.ndarray, gate_coef: np.ndarray, buf=_fresh) -> np.ndarray:
    """Gate logits ``(K, n)`` with the reference row at zero."""
    logits = buf("gate_logits", (gate_coef.shape[1] + 1, Z.shape[0]), Z.dtype)
    np.matmul(gate_coef.T.astype(Z.dtype, copy=False), Z.T, out=logits[:-1])
    logits[-1] = 0.0
    return logits


def _expert_logits(Z: np.ndarray, expert_coef: np.ndarray, buf=_fresh) -> np.ndarray:
    """Expert logits ``(M, K, n)`` with the reference class slab at zero."""
    K, q, M1 = expert_coef.shape
    logits = buf("expert_logits", (M1 + 1, K, Z.shape[0]), Z.dtype)
    # One BLAS product for all experts: (M-1) K rows of coefficients times Z^T.
    flat = expert_coef.transpose(2, 0, 1).reshape(M1 * K, q).astype(Z.dtype, copy=False)
    np.matmul(flat, Z.T, out=logits[:-1].reshape(M1 * K, Z.shape[0]))
    logits[-1] = 0.0
    return logits


def _logits(Z: np.ndarray, gate_coef: np.ndarray, expert_coef: np.ndarray, buf=_fresh):
    """Gate logits ``(K, n)`` and expert logits ``(M, K, n)``, reference rows at zero.

    With at least :data:`FUSED_PRODUCT_MIN_COLUMNS` design columns both come
    from one product, which reads ``Z`` once instead of twice: a log-likelihood
    and gradient evaluation took 28% less time at q = 1,147, K = 3, M = 2. With
    fewer columns the gain was nil and the two separate products are kept:
    the fused one may round differently, and fits on such data then stay
    reproducible to the bit across this change.
    """
    K, q, M1 = expert_coef.shape
    n = Z.shape[0]
    if q < FUSED_PRODUCT_MIN_COLUMNS:
        return _gate_logits(Z, gate_coef, buf), _expert_logits(Z, expert_coef, buf)
    coef = buf("logit_coef", (K - 1 + M1 * K, q), Z.dtype)
    coef[: K - 1] = gate_coef.T
    coef[K - 1 :] = expert_coef.transpose(2, 0, 1).reshape(M1 * K, q)
    product = np.matmul(coef, Z.T, out=buf("logit_product", (len(coef), n), Z.dtype))
    gate = buf("gate_logits", (K, n), Z.dtype)
    gate[:-1] = product[: K - 1]
    gate[-1] = 0.0
    experts = buf("expert_logits", (M1 + 1, K, n), Z.dtype)
    experts[:-1] = product[K - 1 :].reshape(M1, K, n)
    experts[-1] = 0.0
    return gate, experts


def _softmax0(logits: np.ndarray, buf=_fresh, name: str = "") -> tuple[np.ndarray, ...]:
    """Softmax over axis 0, one ``exp`` in all.

    Returns ``(proba, top, log_total)`` with ``log proba = (logits - top) -
    log_total``; evaluated in that order the log-probabilities are never
    positive. ``logits`` is left unchanged.
    """
    # ufunc.reduce directly: np.max and np.sum add microseconds of Python
    # dispatch per call, a visible share of a step at n in the thousands.
    shape, dtype = logits.shape, logits.dtype
    top = np.maximum.reduce(logits, axis=0, out=buf(name + "_top", shape[1:], dtype))
    proba = np.subtract(logits, top, out=buf(name + "_proba", shape, dtype))
    np.exp(proba, out=proba)
    total = np.add.reduce(proba, axis=0, out=buf(name + "_total", shape[1:], dtype))
    proba /= total
    return proba, top, np.log(total, out=total)


def _log_softmax0(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over axis 0, in place."""
    _, top, log_total = _softmax0(logits)
    logits -= top
    logits -= log_total
    return logits


def log_gate(Z: np.ndarray, gate_coef: np.ndarray) -> np.ndarray:
    """Log gate weights ``log pi_ik``, shape ``(n, K)``."""
    return _log_softmax0(_gate_logits(Z, gate_coef)).T


def log_experts(Z: np.ndarray, expert_coef: np.ndarray) -> np.ndarray:
    """Log class probabilities of every expert ``log eta_ikm``, shape ``(n, K, M)``."""
    return _log_softmax0(_expert_logits(Z, expert_coef)).transpose(2, 1, 0)


class EStep(NamedTuple):
    """Quantities at one parameter value that the MM step and gradient need.

    Arrays are in the internal rows-last layout.
    """

    loglik: float  # weighted mean log-likelihood
    resp: np.ndarray  # responsibilities tau, (K, n)
    gate: np.ndarray  # gate weights pi, (K, n)
    experts: np.ndarray  # expert class probabilities eta, (M, K, n)


def _log_joint(Z, y, gate_coef, expert_coef, buf=_fresh):
    """``log pi_ik + log eta_ik,y_i`` as ``(K, n)``, with gate and expert probabilities."""
    gate_logits, expert_logits = _logits(Z, gate_coef, expert_coef, buf)
    gate, gate_top, gate_log_total = _softmax0(gate_logits, buf, "gate")
    experts, expert_top, expert_log_total = _softmax0(expert_logits, buf, "expert")
    log_joint = np.subtract(
        gate_logits, gate_top, out=buf("log_joint", gate_logits.shape, gate_logits.dtype)
    )
    log_joint -= gate_log_total
    # Each row's own class logit, shifted like the log-probabilities above:
    # gathered from the flat array, expert by expert, which is several times
    # faster than a masked copy per class or np.take_along_axis.
    K, n = gate_logits.shape
    own = buf("own", (K, n), gate_logits.dtype)
    flat_index = np.multiply(y, K * n, dtype=np.intp)
    flat_index += np.arange(n)
    for k in range(K):
        # mode='clip' (indices are valid): 'raise' buffers the output.
        np.take(expert_logits.reshape(-1), flat_index, out=own[k], mode="clip")
        flat_index += n
    own -= expert_top
    own -= expert_log_total
    log_joint += own
    return log_joint, gate, experts


def e_step(
    Z: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    gate_coef: np.ndarray,
    expert_coef: np.ndarray,
    workspace: Workspace | None = None,
) -> EStep:
    """Mean log-likelihood, responsibilities, gate and expert probabilities.

    With a :class:`Workspace` the returned arrays live in it and are
    overwritten by its next use.
    """
    buf = _fresh if workspace is None else workspace
    log_joint, gate, experts = _log_joint(Z, y, gate_coef, expert_coef, buf)
    resp, top, log_total = _softmax0(log_joint, buf, "joint")
    top += log_total  # per-row log-likelihood
    if top.dtype != np.float64:
        # Rows in single precision: their mean in double, whose rounding
        # (about 1e-7 / sqrt(n) relative, not 1e-7) SQUAREM's tests can resolve.
        weights, top = weights.astype(np.float64), top.astype(np.float64)
    return EStep(loglik=float(np.dot(weights, top)), resp=resp, gate=gate, experts=experts)


def mean_loglik(Z, y, weights, gate_coef, expert_coef) -> float:
    """Weighted mean log-likelihood ``sum_i w_i log p(y_i | x_i)``."""
    return e_step(Z, y, weights, gate_coef, expert_coef).loglik


def responsibilities(Z, y, gate_coef, expert_coef) -> np.ndarray:
    """Posterior expert probabilities ``tau_ik = p(expert k | x_i, y_i)``, ``(n, K)``."""
    log_joint, _, _ = _log_joint(Z, y, gate_coef, expert_coef)
    return _softmax0(log_joint)[0].T


def log_class_proba(Z: np.ndarray, gate_coef: np.ndarray, expert_coef: np.ndarray) -> np.ndarray:
    """Log class probabilities ``log p(y = m | x_i)`` of the mixture, ``(n, M)``."""
    log_pi = _log_softmax0(_gate_logits(Z, gate_coef))  # (K, n)
    log_eta = _log_softmax0(_expert_logits(Z, expert_coef))  # (M, K, n)
    # Imported here: SciPy's special functions took 30 ms to import
    # (python -X importtime), and a screening worker never needs them.
    from scipy.special import logsumexp

    # The clip removes rounding above log 1 = 0 when one expert dominates.
    return np.minimum(logsumexp(log_eta + log_pi, axis=1), 0.0).T


def ridge_penalty(gate_coef: np.ndarray, expert_coef: np.ndarray, alpha: float) -> float:
    """Symmetric ridge on slopes, ``(alpha / 2) * sum of squared centred slopes``.

    For the gate, the slopes of all ``K`` experts (reference included) are
    centred across experts; for each expert, its class slopes are centred
    across classes. The penalty is therefore invariant to which expert or class
    is the reference, and for one expert it is scikit-learn's multinomial L2
    penalty. Intercepts (row 0) are not penalised.
    """
    if alpha == 0.0:
        return 0.0

    def centred_sq(free_slopes: np.ndarray) -> float:
        # With the reference's zero column, J columns in all: sum x^2 - (sum x)^2 / J
        # per row, without forming the full matrix (a few us, on every step).
        J = free_slopes.shape[-1] + 1
        return float(np.vdot(free_slopes, free_slopes) - np.sum(free_slopes.sum(axis=-1) ** 2) / J)

    return 0.5 * alpha * (centred_sq(gate_coef[1:]) + centred_sq(expert_coef[:, 1:, :]))


def objective(Z, y, weights, gate_coef, expert_coef, alpha: float = 0.0) -> float:
    """The fitted objective: mean log-likelihood minus :func:`ridge_penalty`."""
    return mean_loglik(Z, y, weights, gate_coef, expert_coef) - ridge_penalty(
        gate_coef, expert_coef, alpha
    )


def _ridge_gradient(free: np.ndarray, alpha: float) -> np.ndarray | float:
    """Gradient of the symmetric ridge w.r.t. free columns: ``alpha * D B C_J``.

    ``C_J = I - 1 1^T / J`` with ``J`` the number of columns including the
    reference; it equals ``2 A_J`` in the notation of math.md. Without a
    ridge it is the scalar 0, which callers subtract at no cost.
    """
    if alpha == 0.0:
        return 0.0
    grad = alpha * free
    grad[..., 0, :] = 0.0  # intercepts are not penalised
    J = free.shape[-1] + 1
    return grad - grad.sum(axis=-1, keepdims=True) / J


def _expert_residuals(experts, y, expert_weights, out):
    """``out`` filled with ``W_ik (1[y_i = m] - eta_ikm)`` over the free classes, ``(M - 1, K, n)``.

    ``experts`` are the class probabilities ``(M, K, n)`` and
    ``expert_weights`` the rows' weights per expert ``(K, n)``: the
    residuals whose product with ``Z`` is the experts' gradient.
    """
    np.negative(experts[: out.shape[0]], out=out)
    for m in range(out.shape[0]):
        out[m] += y == m  # the one-hot label; the reference class adds none
    out *= expert_weights
    return out


def gradient(
    Z: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    gate_coef: np.ndarray,
    expert_coef: np.ndarray,
    alpha: float = 0.0,
    estep: EStep | None = None,
    workspace: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`objective` with respect to ``(gate_coef, expert_coef)``.

    ``G_W = Z^T diag(w) (T - Pi)[:, :K-1]`` and
    ``G_k = Z^T diag(w tau_k) (Y - H_k)[:, :M-1]`` (math.md, section 2), minus
    the ridge gradient. Pass ``estep`` to reuse an :func:`e_step` at the same
    parameters, and ``workspace`` to reuse scratch arrays.
    """
    buf = _fresh if workspace is None else workspace
    if estep is None:
        estep = e_step(Z, y, weights, gate_coef, expert_coef, workspace)
    n, q = Z.shape
    M, K = estep.experts.shape[:2]
    # Stack the weighted residuals [gate (K-1) | experts (M-1) K] as rows and hit
    # them with a single product block @ Z. Products over the rows into a small
    # result are np.dot's here and in moelogit.mm: NumPy's matmul holds the GIL
    # through them (2.4, measured), np.dot calls the same BLAS routine without it.
    block = buf("gradient_block", ((K - 1) + (M - 1) * K, n), Z.dtype)
    np.subtract(estep.resp[: K - 1], estep.gate[: K - 1], out=block[: K - 1])
    block[: K - 1] *= weights
    _expert_residuals(
        estep.experts,
        y,
        np.multiply(estep.resp, weights, out=buf("weighted_resp", (K, n), Z.dtype)),
        out=block[K - 1 :].reshape(M - 1, K, n),  # a view: filled in place
    )
    grad = np.dot(block, Z)
    grad_gate = grad[: K - 1].T - _ridge_gradient(gate_coef, alpha)
    grad_experts = grad[K - 1 :].reshape(M - 1, K, q).transpose(1, 2, 0)
    return grad_gate, grad_experts - _ridge_gradient(expert_coef, alpha)


def hessian(
    Z: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    gate_coef: np.ndarray,
    expert_coef: np.ndarray,
    alpha: float = 0.0,
) -> np.ndarray:
    """Hessian of :func:`objective` in the order of :func:`pack`, shape ``(P, P)``.

    By Louis' identity, a row's log-likelihood has Hessian
    ``sum_k tau_k H_k + Cov_tau(u_k)``: the complete-data Hessians ``H_k``
    (minus the multinomial Fisher information of the gate, and
    ``tau_k`` times that of expert ``k``) plus the covariance, under the
    responsibilities, of the complete-data scores ``u_k``. Both are
    ``z z^T`` Kronecker a small ``L x L`` matrix per row, ``L = (K - 1) +
    K (M - 1)``, so the sum over rows is one product of ``(n, q^2)`` and
    ``(n, L^2)`` arrays (by blocks of rows).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> y, weights = np.array([0, 1, 1, 0]), np.full(4, 0.25)
    >>> H = hessian(Z, y, weights, np.zeros((2, 1)), np.zeros((2, 2, 1)))
    >>> H.shape, bool(np.allclose(H, H.T))
    ((6, 6), True)
    """
    K, q, M1 = expert_coef.shape
    L = (K - 1) + K * M1
    curvature = np.zeros((q * q, L * L))
    for rows in row_slices(Z.shape[0], rows_per_block(q * q + L * L)):
        estep = e_step(Z[rows], y[rows], weights[rows], gate_coef, expert_coef)
        resp, gate = estep.resp.T, estep.gate[: K - 1].T  # (n, K), (n, K - 1)
        experts = estep.experts[:M1].transpose(2, 1, 0)  # (n, K, M - 1)
        n = resp.shape[0]
        # Complete-data scores minus their tau-mean are R_i (e_k - tau_i) for
        # expert k, where R_i maps expert indicators to the L coordinates.
        residual = -experts
        free = np.flatnonzero(y[rows] < M1)  # rows labelled by a free class: one-hot 1
        residual[free, :, y[rows][free]] += 1.0
        mapping = np.zeros((n, L, K))
        mapping[:, np.arange(K - 1), np.arange(K - 1)] = 1.0
        for k in range(K):
            mapping[:, K - 1 + k * M1 : K - 1 + (k + 1) * M1, k] = residual[:, k]
        # The covariance of the expert indicators, diag(tau) - tau tau^T.
        row_curv = mapping @ _fisher(resp) @ mapping.transpose(0, 2, 1)
        row_curv[:, : K - 1, : K - 1] -= _fisher(gate)
        for k in range(K):
            block = slice(K - 1 + k * M1, K - 1 + (k + 1) * M1)
            row_curv[:, block, block] -= resp[:, k, None, None] * _fisher(experts[:, k])
        design = (Z[rows] * weights[rows, None])[:, :, None] * Z[rows][:, None, :]
        curvature += design.reshape(n, q * q).T @ row_curv.reshape(n, L * L)
    full = curvature.reshape(q, q, L, L).transpose(0, 2, 1, 3).reshape(q * L, q * L)
    # Reorder from (design column, L coordinate) to pack's (gate | expert k) blocks.
    column, coord = np.divmod(np.arange(q * L), L)
    gate_index = column * (K - 1) + coord
    expert, klass = np.divmod(coord - (K - 1), M1)
    expert_index = q * (K - 1) + expert * q * M1 + column * M1 + klass
    order = np.empty(q * L, dtype=int)
    order[np.where(coord < K - 1, gate_index, expert_index)] = np.arange(q * L)
    full = full[np.ix_(order, order)]
    if alpha:
        full -= ridge_hessian(Dims(q, K, M1 + 1), alpha)
    return full


def _fisher(proba: np.ndarray) -> np.ndarray:
    """``diag(p) - p p^T`` row by row, ``(n, J) -> (n, J, J)``: the multinomial
    Fisher information for the ``J`` categories given (the free ones, or all)."""
    fisher = -proba[:, :, None] * proba[:, None, :]
    fisher[:, np.arange(proba.shape[1]), np.arange(proba.shape[1])] += proba
    return fisher


def ridge_hessian(dims: Dims, alpha: float) -> np.ndarray:
    """Hessian of :func:`ridge_penalty` in the order of :func:`pack` (it is quadratic)."""
    q, K, M = dims
    slopes = np.diag(np.r_[0.0, np.ones(q - 1)])  # intercepts unpenalised

    def block(J: int) -> np.ndarray:  # free columns of J, centred across all J
        return alpha * np.kron(slopes, np.eye(J - 1) - 1.0 / J)

    return block_diag(block(K), *[block(M)] * K)


# Rows per block times M K: the size of the expert logits and probabilities of
# a block, its largest scratch arrays (with the block's scaled design rows in
# the per-expert curvature, rows times q).
# 2^17 doubles (1 MiB, a core's L2 cache here) keep a block's arrays in cache.
# On one thread an objective-and-gradient evaluation took 15.2-15.3 ms in
# blocks of 8,738 rows against 18.4-18.6 ms in blocks of 17,476 (2^18) on
# benchmark problem b (n = 1e5, K = 5, M = 3), and 294 ms against 343 ms on
# c (n = 1e6, K = 8, M = 2; 2026-12-05). Earlier, 2^18 had beaten 2^17 on c
# (0.39 s against 0.41-0.44 s), with other code, on another machine.
BLOCK_ELEMENTS = 2**17

# Values the temporaries of a block of rows may hold where no faster size was
# measured: 2^20 doubles (8 MiB) bound the memory of a pass over large data.
MEMORY_BLOCK_ELEMENTS = 2**20


def rows_per_block(
    values_per_row: int, budget: int = MEMORY_BLOCK_ELEMENTS, *, at_least: int = 1
) -> int:
    """Rows per block when a block's temporaries hold ``values_per_row`` values a row.

    The one rule by which moelogit cuts its passes over the rows: as many
    rows as fit ``budget`` values (default :data:`MEMORY_BLOCK_ELEMENTS`;
    :func:`row_blocks`, the fit's hot loop, uses :data:`BLOCK_ELEMENTS`),
    but at least ``at_least`` and at least one row.

    Examples
    --------
    >>> rows_per_block(10), rows_per_block(10, budget=100), rows_per_block(10**9)
    (104857, 10, 1)
    >>> rows_per_block(16, BLOCK_ELEMENTS, at_least=1024), rows_per_block(4096, at_least=1024)
    (8192, 1024)
    """
    return max(at_least, 1, budget // max(int(values_per_row), 1))


def row_slices(n_rows: int, size: int) -> list[slice]:
    """Consecutive slices of ``size`` rows (the last one shorter) covering ``n_rows``.

    ``size`` is usually :func:`rows_per_block`'s.
    """
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def row_blocks(n_rows: int, dims: Dims) -> list[slice]:
    """Consecutive row blocks whose scratch arrays hold about :data:`BLOCK_ELEMENTS` values.

    The blocks of the fit's objective and gradient: ``n_rows // size`` of
    them (one at least), ``size`` being :func:`rows_per_block`'s with
    ``M K`` values a row and at least 1,024 rows, their lengths one row
    apart at most; one more where that makes an odd number above one, so
    that two threads share them evenly (:class:`moelogit.reduction.ThreadReduction`
    gives each a run of consecutive blocks). So a block holds at most twice
    ``size`` rows, and at least ``size`` but for those odd numbers (three
    quarters of it at least): 10,000 rows at 8,738 a block make one block,
    not one of 8,738 and one of 1,262.
    """
    size = rows_per_block(dims.K * dims.M, BLOCK_ELEMENTS, at_least=1024)
    n_blocks = max(n_rows // size, 1)
    n_blocks += n_blocks % 2 if n_blocks > 1 else 0
    ends = [n_rows * block // n_blocks for block in range(n_blocks + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(ends) if stop > start]


def objective_and_gradient(
    Z: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    gate_coef: np.ndarray,
    expert_coef: np.ndarray,
    alpha: float = 0.0,
    *,
    blocks: Blocks | None = None,
    workspace: Workspace | None = None,
    extra: Callable | None = None,
    reduction: Callable | None = None,
) -> tuple:
    """:func:`objective` and its :func:`gradient`, summed over blocks of rows.

    Both are weighted sums over rows, so evaluating them block by block gives
    the same values with scratch memory of one block instead of ``n`` rows.

    Parameters
    ----------
    Z, y, weights, gate_coef, expert_coef, alpha
        As in :func:`objective`.
    blocks : callable, optional
        ``blocks(n_rows)``: row blocks covering every row once; default
        :func:`row_blocks`.
    workspace : Workspace, optional
        Scratch arrays reused between calls.
    extra : callable, optional
        Called as ``extra(parts, rows, estep, workspace)`` with every
        block's rows and :class:`EStep` (whose arrays the next block
        overwrites; blocks may be visited concurrently; ``rows`` is None
        where the data lie in chunks): a tuple of terms summed alongside and
        returned as a fourth value.
    reduction : callable, optional
        How the blocks' terms are computed and summed (see
        :class:`SerialReduction`, the default, with ``workspace``).

    Returns
    -------
    value : float
        The objective, mean log-likelihood minus :func:`ridge_penalty`.
    grad_gate, grad_experts : ndarray
        Its gradient with respect to ``gate_coef`` and ``expert_coef``.
    extra_sums : tuple
        Only with ``extra``: the sums of its terms.
    """
    if blocks is None:
        blocks = functools.partial(
            row_blocks, dims=Dims(Z.shape[1], expert_coef.shape[0], expert_coef.shape[2] + 1)
        )
    if reduction is None:
        reduction = SerialReduction(workspace)

    def terms(parts: tuple, rows: slice | None, workspace: Workspace) -> tuple:
        Z_rows, y_rows, w_rows = parts
        estep = e_step(Z_rows, y_rows, w_rows, gate_coef, expert_coef, workspace)
        gate_part, expert_part = gradient(
            Z_rows, y_rows, w_rows, gate_coef, expert_coef, 0.0, estep, workspace
        )
        more = () if extra is None else extra(parts, rows, estep, workspace)
        return estep.loglik, gate_part, expert_part, *more

    loglik, grad_gate, grad_experts, *sums = reduction(terms, (Z, y, weights), blocks)
    grad_gate -= _ridge_gradient(gate_coef, alpha)
    grad_experts -= _ridge_gradient(expert_coef, alpha)
    value = loglik - ridge_penalty(gate_coef, expert_coef, alpha)
    if extra is None:
        return value, grad_gate, grad_experts
    return value, grad_gate, grad_experts, tuple(sums)


def experts_objective_and_gradient(
    Z: np.ndarray,
    y: np.ndarray,
    expert_weights: np.ndarray,
    expert_coef: np.ndarray,
    alpha: float = 0.0,
    *,
    blocks: Blocks | None = None,
    workspace: Workspace | None = None,
) -> tuple[float, np.ndarray]:
    """Objective and gradient of ``K`` separate weighted multinomial regressions.

    The objective is ``sum_k sum_i W_ik log eta_k(y_i | x_i)`` minus the
    experts' :func:`ridge_penalty`, ``W = expert_weights`` of shape
    ``(n, K)``: the experts' part of the mixture's problem with the
    responsibilities held at ``W`` (a starting point's experts are fitted so,
    with ``W`` from the gate). Summed over row blocks as in
    :func:`objective_and_gradient`; the gradient is shaped like ``expert_coef``.
    """
    K, q, M1 = expert_coef.shape
    if blocks is None:
        blocks = functools.partial(row_blocks, dims=Dims(q, K, M1 + 1))

    def terms(parts: tuple, rows: slice | None, workspace: Workspace) -> tuple:
        Z_rows, y_rows, W_rows = parts
        W_rows = W_rows.T  # as (K, n)
        logits = _expert_logits(Z_rows, expert_coef, workspace)
        proba, top, log_total = _softmax0(logits, workspace, "expert")
        own = np.take_along_axis(logits, y_rows[None, None, :].repeat(K, 1), axis=0)[0]
        own -= top
        own -= log_total
        resid = workspace("expert_resid", (M1, K, Z_rows.shape[0]), Z_rows.dtype)
        grad = np.dot(
            _expert_residuals(proba, y_rows, W_rows, out=resid).reshape(M1 * K, -1), Z_rows
        )
        return float(np.sum(W_rows * own)), grad

    loglik, grad = SerialReduction(workspace)(terms, (Z, y, expert_weights), blocks)
    grad = grad.reshape(M1, K, q).transpose(1, 2, 0) - _ridge_gradient(expert_coef, alpha)
    return loglik - ridge_penalty(np.zeros((q, 0)), expert_coef, alpha), grad


def row_scores(Z: np.ndarray, y: np.ndarray, gate_coef: np.ndarray, expert_coef: np.ndarray):
    """Every row's score, the gradient of its own ``log p(y_i | x_i)``, ``(n, P)`` as :func:`pack`.

    Row ``i``'s gate score is ``z_i (tau_i - pi_i)`` over the free experts and
    its expert ``k`` score ``z_i tau_ik (e_y - eta_ik)`` over the free classes
    (math.md, section 2): the terms :func:`gradient` sums with the weights.
    """
    estep = e_step(Z, y, np.zeros(Z.shape[0]), gate_coef, expert_coef)
    K, q, M1 = expert_coef.shape
    n = Z.shape[0]
    gate_part = (estep.resp[: K - 1] - estep.gate[: K - 1]).T  # (n, K - 1)
    residuals = _expert_residuals(estep.experts, y, estep.resp, out=np.empty((M1, K, n)))
    expert_part = residuals.transpose(2, 1, 0)  # (n, K, M - 1)
    gate_scores = Z[:, :, None] * gate_part[:, None, :]  # (n, q, K - 1)
    expert_scores = Z[:, None, :, None] * expert_part[:, :, None, :]  # (n, K, q, M - 1)
    return np.concatenate([gate_scores.reshape(n, -1), expert_scores.reshape(n, -1)], axis=1)
