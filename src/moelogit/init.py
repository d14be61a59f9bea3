"""Starting points for the MM fit.

A start is a gate plus, for each expert, a weighted multinomial logistic
regression with weights ``pi_k(x)`` fitted by a few Böhning steps (the MM
solver's closed-form update with the responsibilities held at the gate's
weights; all ``K`` regressions are stepped together). The gates:

* ``"kmeans"``: k-means centres ``c_k`` on at most :data:`KMEANS_MAX_ROWS`
  rows; a softmax gate with slopes ``c_k`` and intercepts ``-||c_k||^2 / 2``
  is exactly the soft Voronoi partition around them, so no fitting is needed;
* ``"random"``: every gate coefficient (intercepts included, standardised
  features) drawn ``N(0, s^2)``, with the sharpness ``s`` log-uniform in
  :data:`RANDOM_GATE_SCALES`: random hyperplane partitions, soft to sharp.

With a :class:`~moelogit.model.Support`, both gates use the gate's
columns only and the experts theirs. A gate with an intercept only starts
with the shares of a partition drawn as if it had them all, on which the
experts are fitted: they then start apart.

MoE likelihoods have many local optima and k-means partitions of unclustered
features all look alike, so diverse random gates matter: on simulated truths
(n = 10,000, d = 4, K = 3, M = 3, coefficients N(0, 2^2)) the global optimum
was reached from 2 to 4 of 10 random-gate starts and, for one truth, from none
of 4 k-means starts.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import ThreadpoolController

from .mm import apply_inverse_bohning, decoupled
from .model import Dims, Support, experts_objective_and_gradient, log_gate, pack, row_blocks
from .solver import maximize

__all__ = ["INITS", "KMEANS_MAX_ROWS", "RANDOM_GATE_SCALES", "initial_theta"]

INITS = ("kmeans", "random")
KMEANS_MAX_ROWS = 10_000
RANDOM_GATE_SCALES = (0.5, 4.0)
# SQUAREM iterations of the starting experts' Böhning steps; screening does
# the rest. Four instead of ten reached the best optimum as often on problem
# a's truths (96/120) and kept the DSC's picks in its K0 = 3 cell (19/20),
# 10-13% faster (docs/performance.md, "Starting points").
_EXPERT_STEPS = 4
# A ridge for the starting experts only, so that a cluster whose classes are
# separable still yields finite coefficients.
_EXPERT_RIDGE = 1e-3


@functools.cache
def _openmp_pools():
    """The OpenMP runtimes loaded by the first k-means start (scikit-learn's among them).

    Looked up once: a lookup inspects every loaded library, and with one
    per start problem a's fit on 2 cores took 0.43 s instead of 0.40 s.
    Not :mod:`moelogit.reduction`'s snapshot of the BLAS pools, which may
    be taken before scikit-learn (imported here, lazily) loads its runtime.
    """
    return ThreadpoolController().select(user_api="openmp")


def _kmeans_gate(X: np.ndarray, weights: np.ndarray, K: int, rng) -> np.ndarray:
    """Free gate columns ``(q, K - 1)`` of the soft Voronoi partition of k-means centres."""
    # Imported here: processes that only draw random starts need no scikit-learn.
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    rows = np.flatnonzero(weights > 0)
    if rows.size > KMEANS_MAX_ROWS:
        rows = rng.choice(rows, size=KMEANS_MAX_ROWS, replace=False)
    kmeans = KMeans(n_clusters=K, n_init=1, random_state=rng.integers(2**31 - 1))
    # One OpenMP thread: k-means's sums over its threads' chunks then do not
    # depend on the cores of the machine or of a worker process, so a seed
    # gives the same start with any n_jobs.
    with warnings.catch_warnings(), _openmp_pools().limit(limits=1):
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
    support: Support | None = None,
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
    support : Support, optional
        The columns of the gate and of the experts (default all); the start
        is zero outside them.
    """
    if method not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {method!r}")
    rng = np.random.default_rng(random_state)
    q, K, M = dims
    support = Support.full(q) if support is None else support
    # The partition the starting experts are fitted on: the gate's own,
    # unless the gate has an intercept only (then its experts would all be
    # fitted on the same weights, identical: a fixed point of the fit).
    columns = support.gate if support.gate[1:].any() else np.ones(q, dtype=bool)
    partition = np.zeros((q, K - 1))
    if K > 1 and method == "kmeans" and columns[1:].any():
        partition[columns] = _kmeans_gate(Z[:, columns][:, 1:], weights, K, rng)
    elif K > 1:
        partition[columns] = _random_gate(int(columns.sum()), K, rng)
    gate = np.exp(log_gate(Z, partition))
    if columns is support.gate:
        gate_coef = partition
    else:  # constant weights: the partition's shares
        log_shares = np.log(weights @ gate)
        gate_coef = np.zeros((q, K - 1))
        gate_coef[0] = log_shares[:-1] - log_shares[-1]
    expert_weights = weights[:, None] * (gate + 1e-12)  # never all zero
    experts = _StartingExperts(
        Z, y, expert_weights / expert_weights.sum(axis=0), dims, support.experts
    )
    fit = maximize(experts, np.zeros(K * q * (M - 1)), max_iter=_EXPERT_STEPS, tol=1e-6)
    return pack(gate_coef, fit.theta.reshape(K, q, M - 1))


class _StartingExperts:
    """The MM map of a start's ``K`` weighted regressions, expert ``k`` on weights ``W[:, k]``.

    One Böhning step for every expert at once (the regressions are
    separable): ``Delta_k = (S_k + 2 alpha D)^{-1} G_k A^{-1}`` with
    ``S_k = Z^T diag(W_k) Z``, which the weights fix, so it is factorised
    once; only the ``kept`` columns move.
    """

    def __init__(self, Z, y, expert_weights, dims: Dims, kept: np.ndarray | None = None):
        self.Z, self.y, self.expert_weights, self.dims = Z, y, expert_weights, dims
        self.kept = np.ones(dims.q, dtype=bool) if kept is None else kept
        self.blocks = functools.partial(row_blocks, dims=dims)
        ridge = np.full(dims.q, 2.0 * _EXPERT_RIDGE)
        ridge[0] = 0.0  # intercepts unpenalised; each S_k has sum W_k = 1 there
        self.factors = []
        for weights_k in expert_weights.T:
            curvature = np.diag(ridge)
            for rows in self.blocks(Z.shape[0]):  # by blocks: no temporary of the size of Z
                curvature += (Z[rows] * weights_k[rows, None]).T @ Z[rows]
            self.factors.append(
                cho_factor(decoupled(curvature, self.kept), lower=True, check_finite=False)
            )

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        q, K, M = self.dims
        coef = theta.reshape(K, q, M - 1)
        value, grad = experts_objective_and_gradient(
            self.Z, self.y, self.expert_weights, coef, _EXPERT_RIDGE, blocks=self.blocks
        )
        grad[:, ~self.kept] = 0.0
        step = np.stack([cho_solve(f, g, check_finite=False) for f, g in zip(self.factors, grad)])
        return theta + apply_inverse_bohning(step).ravel(), value
