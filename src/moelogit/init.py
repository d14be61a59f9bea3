"""Starting points for the MM fit.

Both starts place ``K`` centres in the (standardised) feature space and turn
them into a gate: a softmax gate with slopes ``c_k`` and intercepts
``-||c_k||^2 / 2`` is exactly the soft Voronoi partition around the centres,
so no fitting is needed for the gate. Each expert is then a weighted
multinomial logistic regression with weights ``pi_k(x)``, fitted by a few
Böhning steps (the same closed-form update as the MM solver with one expert).

* ``"kmeans"``: centres from k-means on at most :data:`KMEANS_MAX_ROWS` rows;
* ``"random"``: centres are ``K`` distinct rows drawn at random.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from .mm import BohningMM
from .model import Dims, log_gate, pack
from .solver import maximize

__all__ = ["INITS", "KMEANS_MAX_ROWS", "initial_theta"]

INITS = ("kmeans", "random")
KMEANS_MAX_ROWS = 10_000
# Böhning steps per expert at the start; the MM fit does the rest.
_EXPERT_STEPS = 10
# A ridge for the starting experts only, so that a cluster whose classes are
# separable still yields finite coefficients.
_EXPERT_RIDGE = 1e-3


def _centres(X: np.ndarray, weights: np.ndarray, K: int, method: str, rng) -> np.ndarray:
    candidates = np.flatnonzero(weights > 0)
    if method == "random":
        return X[rng.choice(candidates, size=K, replace=False)]
    if candidates.size > KMEANS_MAX_ROWS:
        candidates = rng.choice(candidates, size=KMEANS_MAX_ROWS, replace=False)
    kmeans = KMeans(n_clusters=K, n_init=1, random_state=rng.integers(2**31 - 1))
    with warnings.catch_warnings():
        # Fewer distinct points than K: the MM fit breaks the tie if it can.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans.fit(X[candidates], sample_weight=weights[candidates])
    return kmeans.cluster_centers_


def initial_theta(
    Z: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    dims: Dims,
    method: str = "kmeans",
    random_state=None,
) -> np.ndarray:
    """A starting parameter vector (design coordinates, see :mod:`moelogit.model`).

    Parameters
    ----------
    Z : ndarray of shape (n, q)
        Design matrix with the intercept in column 0.
    y : ndarray of shape (n,)
        Class codes.
    weights : ndarray of shape (n,)
        Row weights summing to one.
    dims : Dims
        Problem sizes; needs at least ``dims.K`` rows of positive weight.
    method : {"kmeans", "random"}
        How the gate centres are placed.
    random_state : None, int or numpy.random.Generator
        Seed of the start.
    """
    if method not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {method!r}")
    rng = np.random.default_rng(random_state)
    q, K, M = dims
    if K == 1:
        gate_coef = np.zeros((q, 0))
        gate_weights = np.ones((Z.shape[0], 1))
    else:
        centres = _centres(Z[:, 1:], weights, K, method, rng)  # (K, q - 1)
        full = np.vstack([-0.5 * np.sum(centres**2, axis=1), centres.T])  # (q, K)
        gate_coef = full[:, :-1] - full[:, -1:]
        gate_weights = np.exp(log_gate(Z, gate_coef))
    expert_coef = np.empty((K, q, M - 1))
    one_expert = Dims(q, 1, M)
    for k in range(K):
        w_k = weights * (gate_weights[:, k] + 1e-12)  # never all zero
        logistic = BohningMM(Z, y, w_k / w_k.sum(), one_expert, alpha=_EXPERT_RIDGE)
        fit = maximize(logistic, np.zeros(one_expert.n_params), max_iter=_EXPERT_STEPS, tol=1e-6)
        expert_coef[k] = fit.theta.reshape(q, M - 1)
    return pack(gate_coef, expert_coef)
