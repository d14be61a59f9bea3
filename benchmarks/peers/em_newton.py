"""EM with approximate M-steps: the classical fitter of flexmix, mixtools, HDME.

E-step: responsibilities. M-step: a few damped Newton (IRLS) iterations on the
gate's multinomial-logistic problem with soft targets and on each expert's
weighted multinomial-logistic problem, each step halved until the M-step
objective rises (a generalised EM, so the likelihood still never falls).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve

from moelogit.model import Dims, e_step, pack, unpack
from moelogit.solver import FitResult


def _log_softmax_free(Z, coef):
    logits = np.column_stack([Z @ coef, np.zeros(Z.shape[0])])
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _weighted_objective(Z, coef, targets, row_weights):
    return float(np.sum(row_weights[:, None] * targets * _log_softmax_free(Z, coef)))


def newton_multinomial(Z, targets, row_weights, coef, n_steps):
    """Damped Newton ascent of ``sum_i w_i sum_j t_ij log p_ij`` over ``coef (q, J-1)``."""
    q, J1 = coef.shape
    value = _weighted_objective(Z, coef, targets, row_weights)
    for _ in range(n_steps):
        P = np.exp(_log_softmax_free(Z, coef))
        grad = Z.T @ (row_weights[:, None] * (targets - P))[:, :J1]  # (q, J-1)
        hess = np.empty((J1, q, J1, q))
        for a in range(J1):
            for b in range(J1):
                curv = P[:, a] * ((a == b) - P[:, b]) * row_weights
                hess[a, :, b, :] = (Z.T * curv) @ Z
        hess = hess.reshape(J1 * q, J1 * q) + 1e-10 * np.eye(J1 * q)
        step = solve(hess, grad.T.ravel(), assume_a="pos").reshape(J1, q).T
        for _ in range(30):  # step halving keeps the M-step an ascent
            trial = coef + step
            trial_value = _weighted_objective(Z, trial, targets, row_weights)
            if trial_value >= value:
                coef, value = trial, trial_value
                break
            step = step / 2
        else:
            break
    return coef


def fit_em_newton(
    Z, y, weights, dims: Dims, theta0, *, max_iter=1000, tol=1e-8, newton_steps=3, callback=None
):
    """EM with ``newton_steps`` damped Newton iterations per block and M-step.

    ``callback(iteration, loglik)`` is called after every E-step, as by
    :func:`moelogit.solver.maximize`.
    """
    _, K, M = dims
    onehot = np.eye(M)[y]
    theta = theta0.copy()
    trace = []
    converged = False
    for _ in range(max_iter):
        gate_coef, expert_coef = (a.copy() for a in unpack(theta, dims))
        estep = e_step(Z, y, weights, gate_coef, expert_coef)
        trace.append(estep.loglik)
        if callback is not None:
            callback(len(trace), estep.loglik)
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-2]):
            converged = True
            break
        resp = estep.resp.T  # (n, K)
        if K > 1:
            gate_coef = newton_multinomial(Z, resp, weights, gate_coef, newton_steps)
        for k in range(K):
            expert_coef[k] = newton_multinomial(
                Z, onehot, weights * resp[:, k], expert_coef[k], newton_steps
            )
        theta = pack(gate_coef, expert_coef)
    return FitResult(theta, trace[-1], np.asarray(trace), len(trace), converged)
