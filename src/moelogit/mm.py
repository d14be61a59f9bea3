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
per-expert curvature ``S_k = Z^T diag(w tau_k) Z`` gives a tighter bound for
expert ``k`` at the price of ``K`` factorisations per iteration.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .model import Dims, Workspace, e_step, gradient, objective, pack, ridge_penalty, unpack

__all__ = ["CURVATURES", "BohningMM"]

CURVATURES = ("fixed", "expert")

# Relative jitter added to every curvature matrix. A larger curvature is still a
# valid minorizer, so this keeps ascent while making singular designs (collinear
# columns, an expert with no responsibility) factorisable. Fixed points, where
# the gradient is zero, are unaffected.
_JITTER = 1e-10


def _apply_inverse_bohning(step: np.ndarray) -> np.ndarray:
    """Right-multiply by ``A_J^{-1} = 2 (I + 1 1^T)`` along the last axis."""
    return 2.0 * (step + step.sum(axis=-1, keepdims=True))


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
        ``"expert"`` uses ``S_k`` for expert ``k``, refactorised every call.

    Notes
    -----
    Calling the map returns ``(theta_next, objective(theta))``: the objective
    at the *input* comes for free from the E-step, so drivers never evaluate it
    separately.
    """

    def __init__(self, Z, y, weights, dims: Dims, alpha: float = 0.0, curvature: str = "fixed"):
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}")
        self.Z, self.y, self.weights, self.dims = Z, y, weights, dims
        self.alpha = float(alpha)
        self.curvature = curvature
        self._ridge_diag = np.full(dims.q, 2.0 * self.alpha)
        self._ridge_diag[0] = 0.0  # intercept unpenalised
        S = (Z * weights[:, None]).T @ Z
        self._jitter = _JITTER * max(np.trace(S) / dims.q, np.finfo(float).tiny)
        self._fixed_factor = self._factor(S)
        self._workspace = Workspace()

    def _factor(self, S: np.ndarray):
        curv = S + np.diag(self._ridge_diag + self._jitter)
        return cho_factor(curv, lower=True, check_finite=False)

    def objective(self, theta: np.ndarray) -> float:
        """Penalised mean log-likelihood at ``theta``."""
        return objective(self.Z, self.y, self.weights, *unpack(theta, self.dims), self.alpha)

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        gate_coef, expert_coef = unpack(theta, self.dims)
        estep = e_step(self.Z, self.y, self.weights, gate_coef, expert_coef, self._workspace)
        value = estep.loglik - ridge_penalty(gate_coef, expert_coef, self.alpha)
        grad_gate, grad_experts = gradient(
            self.Z, self.y, self.weights, gate_coef, expert_coef, self.alpha, estep, self._workspace
        )
        new_gate = gate_coef + _apply_inverse_bohning(
            cho_solve(self._fixed_factor, grad_gate, check_finite=False)
        )
        K, q, M1 = expert_coef.shape
        if self.curvature == "fixed":
            # All experts share S: one solve with a (q, K (M-1)) right-hand side.
            rhs = grad_experts.transpose(1, 0, 2).reshape(q, K * M1)
            solved = cho_solve(self._fixed_factor, rhs, check_finite=False)
            solved = solved.reshape(q, K, M1).transpose(1, 0, 2)
        else:
            solved = np.empty_like(grad_experts)
            weighted_rows = self._workspace("weighted_Zt", self.Z.T.shape)
            for k in range(K):
                np.multiply(self.Z.T, self.weights * estep.resp[k], out=weighted_rows)
                S_k = weighted_rows @ self.Z
                solved[k] = cho_solve(self._factor(S_k), grad_experts[k], check_finite=False)
        new_experts = expert_coef + _apply_inverse_bohning(solved)
        return pack(new_gate, new_experts), value
