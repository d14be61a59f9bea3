"""Simulate classification data from a softmax-gated mixture of experts."""

from __future__ import annotations

import numpy as np

from ..params import MoEParams

__all__ = ["make_moe_classification", "random_params"]


# Rejection sampling gives up after this many draws.
_MAX_DRAWS = 1000
# Monte Carlo rows used to check the separation constraints of a random truth.
_CHECK_ROWS = 4000


def _expert_total_variation(params: MoEParams, X: np.ndarray) -> np.ndarray:
    """Mean over ``X`` of the total-variation distance between every pair of experts."""
    experts = params.expert_proba(X)  # (n, K, M)
    diff = np.abs(experts[:, :, None, :] - experts[:, None, :, :]).sum(axis=-1) / 2
    return diff.mean(axis=0)


def random_params(
    n_features,
    n_experts,
    n_classes,
    coef_scale=2.0,
    random_state=None,
    *,
    min_gate_weight=0.0,
    min_expert_distance=0.0,
) -> MoEParams:
    """A random truth: every free coefficient, intercepts included, ``N(0, coef_scale^2)``.

    The last expert and the last class are the references (zero coefficients).
    Draws are repeated until every expert's mean gate weight over
    ``x ~ N(0, I)`` is at least ``min_gate_weight`` and every pair of experts
    differs by at least ``min_expert_distance`` in mean total-variation
    distance between their class distributions (both checked on 4,000 Monte
    Carlo rows), so that every expert of the truth matters.
    """
    rng = np.random.default_rng(random_state)
    constrained = min_gate_weight > 0 or min_expert_distance > 0
    # A separate stream for the checks keeps unconstrained draws as they were.
    check_X = (
        np.random.default_rng(0).normal(size=(_CHECK_ROWS, n_features)) if constrained else None
    )
    for _ in range(_MAX_DRAWS):
        gate = rng.normal(scale=coef_scale, size=(n_experts, n_features + 1))
        gate[-1] = 0.0
        experts = rng.normal(scale=coef_scale, size=(n_experts, n_classes, n_features + 1))
        experts[:, -1] = 0.0
        params = MoEParams(
            gate_coef=gate[:, 1:],
            gate_intercept=gate[:, 0],
            expert_coef=experts[:, :, 1:],
            expert_intercept=experts[:, :, 0],
        )
        if not constrained:
            return params
        weights_ok = params.gate_proba(check_X).mean(axis=0).min() >= min_gate_weight
        distance = _expert_total_variation(params, check_X)
        distance_ok = (
            n_experts == 1 or distance[np.triu_indices(n_experts, 1)].min() >= min_expert_distance
        )
        if weights_ok and distance_ok:
            return params
    raise ValueError(
        f"no random truth met min_gate_weight={min_gate_weight} and "
        f"min_expert_distance={min_expert_distance} in {_MAX_DRAWS} draws; relax them"
    )


def make_moe_classification(
    n_samples=1000,
    n_features=4,
    n_experts=3,
    n_classes=3,
    *,
    coef_scale=2.0,
    params=None,
    min_gate_weight=0.0,
    min_expert_distance=0.0,
    random_state=None,
):
    """Draw a classification data set from a softmax-gated mixture of experts.

    Features are standard normal, ``x ~ N(0, I_d)``; the label is drawn from
    ``p(y | x) = sum_k pi_k(x) eta_k(y | x)``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=4
        Number of features ``d``.
    n_experts : int, default=3
        Number of experts ``K`` of a random truth.
    n_classes : int, default=3
        Number of classes ``M`` of a random truth.
    coef_scale : float, default=2.0
        Standard deviation of the random truth's coefficients (intercepts
        included); ignored when ``params`` is given.
    params : MoEParams, optional
        The truth to sample from. ``n_features`` must match it; ``n_experts``
        and ``n_classes`` are taken from it.
    min_gate_weight, min_expert_distance : float, default=0.0
        Constraints on a random truth (see :func:`random_params`): every
        expert's mean gate weight, and every pair's mean total-variation
        distance, at least this large.
    random_state : None, int or numpy.random.Generator
        Seed. The same seed gives the same truth and the same data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Integer labels ``0 .. n_classes - 1``.
    params : MoEParams
        The truth; ``params.class_proba(X)`` gives the true ``p(y | x)``.

    Examples
    --------
    >>> from moelogit.datasets import make_moe_classification
    >>> X, y, truth = make_moe_classification(500, n_features=2, random_state=0)
    >>> X.shape, truth.n_experts, truth.n_classes
    ((500, 2), 3, 3)
    """
    for name, value, low in [
        ("n_samples", n_samples, 1),
        ("n_features", n_features, 1),
        ("n_experts", n_experts, 1),
        ("n_classes", n_classes, 2),
    ]:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not np.isfinite(coef_scale) or coef_scale < 0:
        raise ValueError(f"coef_scale must be a finite number >= 0, got {coef_scale!r}")
    rng = np.random.default_rng(random_state)
    if params is None:
        params = random_params(
            n_features,
            n_experts,
            n_classes,
            coef_scale,
            rng,
            min_gate_weight=min_gate_weight,
            min_expert_distance=min_expert_distance,
        )
    elif params.n_features != n_features:
        raise ValueError(
            f"params describe {params.n_features} features but n_features={n_features}"
        )
    X = rng.normal(size=(n_samples, n_features))
    return X, params.sample_labels(X, rng), params
