"""L-BFGS in the metric of the MM map: the runs to convergence of a fit.

An MM step is a gradient step scaled by the minorizer's curvature,
``theta + B^{-1} g``. It ascends at every step but converges linearly, at a
rate set by how far ``B`` overstates the curvature, and crawls along the
flat directions of a mixture likelihood. :func:`lbfgs_ascent` takes ``B``
once, at the run's start, as a change of coordinates in which that
curvature is the identity, and maximises there by L-BFGS (SciPy's
L-BFGS-B, no bounds): the first direction is the MM step's, and the
curvature pairs of later steps correct what ``B`` gets wrong. Each
iteration costs about one evaluation of the objective and its gradient
(no Gram matrices), and the line search accepts a point only when the
objective rises enough (Armijo), so ascent stays monotone. When the line
search finds no further rise before ``tol`` is met, the MM map (with
SQUAREM) finishes the run. ``docs/performance.md`` has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import minimize

from .mm import BohningMM
from .model import pack, unpack
from .reduction import other_blas_single_threaded
from .solver import FitResult, join_fits, maximize, settled

__all__ = ["LBFGS_MEMORY", "lbfgs_ascent"]

# Curvature pairs kept (SciPy's default): on benchmark problem c's final run
# 10 pairs converged in 86 iterations.
LBFGS_MEMORY = 10


class _Metric:
    """Coordinates ``phi`` with ``theta = theta0 + T phi``, where ``T T^T`` inverts the MM curvature.

    Per block the curvature is ``A ⊗ L L^T`` (``L`` the block's Cholesky
    factor, ``A`` Böhning's bound on the classes), so ``T`` maps a block's
    ``phi`` to ``L^{-T} phi C^T`` with ``C C^T = A^{-1}``. The inverse
    factors are formed once: then each map is one batched product, where
    ``K + 1`` small triangular solves per call cost more than the
    evaluation itself at a few thousand rows. With ``curvature="fixed"``
    every expert's factor is the gate's: one inverse, applied to all blocks
    in one product (at 1,147 columns and 4 experts, K copies of a q x q
    inverse made each map memory-bound, 5 ms, a tenth of an evaluation);
    where the gate and the experts have columns of their own (a
    :class:`~moelogit.model.Support`), one for the gate and one for all experts.
    """

    def __init__(self, mm: BohningMM, theta0: np.ndarray):
        self.dims, self.theta0 = mm.dims, theta0
        gate_factor, expert_factors = mm.curvature_factors(theta0)
        identity = np.eye(mm.dims.q)
        self.gate_inverse = solve_triangular(gate_factor, identity, lower=True)
        self.shared = mm.shares_factor
        self.expert_inverse = self.expert_inverses = None
        if mm.curvature == "fixed" and not self.shared:
            self.expert_inverse = solve_triangular(expert_factors[0], identity, lower=True)
        elif not self.shared:
            self.expert_inverses = np.stack(
                [solve_triangular(factor, identity, lower=True) for factor in expert_factors]
            )
        self.gate_classes = _inverse_bohning_factor(mm.dims.K - 1)
        self.expert_classes = _inverse_bohning_factor(mm.dims.M - 1)

    def _blocks(self, vector: np.ndarray, transposed: bool) -> tuple[np.ndarray, np.ndarray]:
        """Every block of ``vector`` times its inverse factor (transposed or not), on the left."""
        gate, experts = unpack(vector, self.dims)
        if self.expert_inverses is None:
            q, K, m = self.dims.q, self.dims.K, experts.shape[2]
            gate_inverse = self.gate_inverse.T if transposed else self.gate_inverse
            columns = experts.transpose(1, 0, 2).reshape(q, K * m)
            if self.shared:
                product = gate_inverse @ np.hstack([gate, columns])
                gate, columns = product[:, : K - 1], product[:, K - 1 :]
            else:
                gate = gate_inverse @ gate
                columns = (self.expert_inverse.T if transposed else self.expert_inverse) @ columns
            return gate, columns.reshape(q, K, m).transpose(1, 0, 2)
        if transposed:
            return self.gate_inverse.T @ gate, self.expert_inverses.transpose(0, 2, 1) @ experts
        return self.gate_inverse @ gate, self.expert_inverses @ experts

    def theta(self, phi: np.ndarray) -> np.ndarray:
        gate, experts = self._blocks(phi, transposed=True)
        return self.theta0 + pack(gate @ self.gate_classes.T, experts @ self.expert_classes.T)

    def gradient(self, grad: np.ndarray) -> np.ndarray:
        """The gradient in ``phi`` of a function whose gradient in ``theta`` is ``grad``."""
        gate, experts = self._blocks(grad, transposed=False)
        return pack(gate @ self.gate_classes, experts @ self.expert_classes)


def _inverse_bohning_factor(size: int) -> np.ndarray:
    """Lower Cholesky factor of ``A^{-1} = 2 (I + 1 1^T)`` of order ``size``."""
    return cholesky(2.0 * (np.eye(size) + 1.0), lower=True)


def lbfgs_ascent(
    mm: BohningMM,
    theta0: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
    callback: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Maximise ``mm``'s objective from ``theta0`` by L-BFGS in the MM map's metric.

    Parameters
    ----------
    mm : BohningMM
        The data, the objective and the curvature that sets the metric.
    theta0 : ndarray
        Starting point.
    max_iter : int, default=1000
        Largest number of iterations (L-BFGS steps, then SQUAREM cycles of
        the MM map if it finishes the run).
    tol : float, default=1e-8
        Converged when the objective's relative change between iterations
        falls below ``tol``, as for :func:`moelogit.solver.maximize`.
    callback : callable, optional
        Called as ``callback(iteration, objective)`` after every iteration.

    Returns
    -------
    FitResult
        ``trace`` holds the objective at ``theta0`` and after every
        iteration (``n_iter`` values, as from ``maximize``); it never
        decreases.
    """
    metric = _Metric(mm, theta0)
    trace, last_phi = [mm.objective(theta0)], [np.zeros_like(theta0)]
    if callback is not None:
        callback(1, trace[0])

    def negative(phi):
        with np.errstate(over="ignore", invalid="ignore"):
            value, grad = mm.value_and_gradient(metric.theta(phi))
        if not np.isfinite(value):  # a trial step too far: the line search shortens it
            return np.inf, np.zeros_like(phi)
        return -value, -metric.gradient(grad)

    def after_step(intermediate_result):
        trace.append(-float(intermediate_result.fun))
        last_phi[0] = np.array(intermediate_result.x)
        if callback is not None:
            callback(len(trace), trace[-1])
        if settled(trace[-2], trace[-1], tol):
            raise StopIteration

    if max_iter > 1:
        with other_blas_single_threaded():  # SciPy's pool would fight NumPy's for the cores
            minimize(
                negative,
                last_phi[0],
                jac=True,
                method="L-BFGS-B",
                callback=after_step,
                # Only tol (in the callback), max_iter or a failed line search stop it.
                options={"maxiter": max_iter - 1, "maxfun": 100 * max_iter, "ftol": 0.0,
                         "gtol": 0.0, "maxcor": LBFGS_MEMORY},
            )  # fmt: skip
    converged = len(trace) > 1 and settled(trace[-2], trace[-1], tol)
    result = FitResult(
        metric.theta(last_phi[0]), trace[-1], np.asarray(trace), len(trace), converged
    )
    if converged or len(trace) >= max_iter:
        return result

    # The line search found no further rise before tol was met: the MM map finishes.
    def continued(iteration, value):
        if callback is not None and iteration > 1:  # its first value is the last one above
            callback(len(trace) + iteration - 1, value)

    more = maximize(
        mm, result.theta, max_iter=max_iter - len(trace) + 1, tol=tol, callback=continued
    )
    return join_fits(result, more)
