"""Starting points for the MM fit.

A start is a gate plus, for each expert, a weighted multinomial logistic
regression with weights ``pi_k(x)`` fitted by a few Böhning steps (the same
closed-form update as the MM solver with one expert). The gates:

* ``"kmeans"``: k-means centres ``c_k`` on at most :data:`KMEANS_MAX_ROWS`
  rows; a softmax gate with slopes ``c_k`` and intercepts ``-||c_k||^2 / 2``
  is exactly the soft Voronoi partition around them, so no fitting is needed;
* ``"random"``: every gate coefficient (intercepts included, standardised
  features) drawn ``N(0, s^2)``, with the sharpness ``s`` log-uniform in
  :data:`RANDOM_GATE_SCALES`: random hyperplane partitions, soft to sharp.

MoE likelihoods have many local optima and k-means partitions of unclustered
features all look alike, so diverse random gates matter: on simulated truths
(n = 10,000, d = 4, K = 3, M = 3, coefficients N(0, 2^2)) the global optimum
was reached from 2 to 4 of 10 random-gate starts and, for one truth, from none
of 4 k-means starts.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from .mm import BohningMM
from .model import Dims, log_gate, pack
from .solver import maximize

__all__ = ["INITS", "KMEANS_MAX_ROWS", "RANDOM_GATE_SCALES", "initial_theta"]

INITS = ("kmeans", "random")
KMEANS_MAX_ROWS = 10_000
RANDOM_GATE_SCALES = (0.5, 4.0)
# Böhning steps per expert at the start; the MM fit does the rest.
_EXPERT_STEPS = 10
# A ridge for the starting experts only, so that a cluster whose classes are
# separable still yields finite coefficients.
_EXPERT_RIDGE = 1e-3


def _kmeans_gate(X: np.ndarray, weights: np.ndarray, K: int, rng) -> np.ndarray:
    """Free gate columns ``(q, K - 1)`` of the soft Voronoi partition of k-means centres."""
    rows = np.flatnonzero(weights > 0)
    if rows.size > KMEANS_MAX_ROWS:
        rows = rng.choice(rows, size=KMEANS_MAX_ROWS, replace=False)
    kmeans = KMeans(n_clusters=K, n_init=1, random_state=rng.integers(2**31 - 1))
    with warnings.catch_warnings():
        # Fewer distinct points than K: the MM fit breaks the tie if it can.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans.fit(X[rows], sample_weight=weights[rows])
    centres = kmeans.cluster_centers_
    full = np.vstack([-0.5 * np.sum(centres**2, axis=1), centres.T])  # (q, K)
    return full[:, :-1] - full[:, -1:]


def _random_gate(q: int, K: int, rng) -> np.ndarray:
    low, high = np.log(RANDOM_GATE_SCALES)
    return rng.normal(scale=np.exp(rng.uniform(low, high)), size=(q, K - 1))


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
        How the starting gate is drawn.
    random_state : None, int or numpy.random.Generator
        Seed of the start.
    """
    if method not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {method!r}")
    rng = np.random.default_rng(random_state)
    q, K, M = dims
    if K == 1:
        gate_coef = np.zeros((q, 0))
    elif method == "kmeans":
        gate_coef = _kmeans_gate(Z[:, 1:], weights, K, rng)
    else:
        gate_coef = _random_gate(q, K, rng)
    gate_weights = np.exp(log_gate(Z, gate_coef))
    expert_coef = np.empty((K, q, M - 1))
    one_expert = Dims(q, 1, M)
    for k in range(K):
        w_k = weights * (gate_weights[:, k] + 1e-12)  # never all zero
        logistic = BohningMM(Z, y, w_k / w_k.sum(), one_expert, alpha=_EXPERT_RIDGE)
        fit = maximize(logistic, np.zeros(one_expert.n_params), max_iter=_EXPERT_STEPS, tol=1e-6)
        expert_coef[k] = fit.theta.reshape(q, M - 1)
    return pack(gate_coef, expert_coef)
