"""Dendrogram of a fitted mixing measure (math.md, section 3).

A fitted mixture with ``K`` experts is the mixing measure
``G = sum_k p_k delta_{theta_k}``: ``p_k`` is the gate weight implied by the
gate intercepts (``softmax`` over experts, so a common shift cancels) and the
atom ``theta_k`` stacks the expert's gate slopes and all its expert
coefficients. Repeatedly merging the closest pair of atoms gives one mixture
per level ``K, K-1, .., 1``.

Coordinates (our choices, see :func:`dendrogram`): parameters on the
*standardised* feature scale of the fit, so that distances compare like with
like; expert coefficients centred across classes, so that distances do not
depend on which class is the reference. Gate slopes enter only through
differences between atoms, so the gate's common-shift ambiguity cancels.

:func:`function_dissimilarities` measures the same atoms by what they do on
the data instead: how far apart two experts' class logits are where the gate
uses them. It is the dissimilarity the selection defaults to (see
:func:`moelogit.select_n_experts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, softmax
from sklearn.utils import check_array

from .. import dask_data, model
from ..chunked import is_dask_collection
from ..estimator import normalised_weights
from ..params import MoEParams

__all__ = [
    "Dendrogram",
    "atoms",
    "dendrogram",
    "dissimilarities",
    "function_dissimilarities",
    "merge",
]

@dataclass(frozen=True)
class Dendrogram:
    """Merged mixtures at every level and the heights of the merges.

    Attributes
    ----------
    levels : list of MoEParams
        ``levels[k - 1]`` is the mixture with ``k`` atoms, in the coordinates
        the dendrogram was built in; ``levels[-1]`` is the input.
    heights : ndarray of shape (K,)
        ``heights[k - 1]`` is the height of the merge that leaves level ``k``
        (from ``k`` to ``k - 1`` atoms); ``heights[0] = 0``.
    linkage : ndarray of shape (K - 1, 4)
        The merges in SciPy's linkage format (original atoms ``0..K-1`` in the
        order of the input, merged clusters numbered from ``K``), for
        :func:`scipy.cluster.hierarchy.dendrogram`.
    """

    levels: list
    heights: np.ndarray
    linkage: np.ndarray


def _weights(params: MoEParams) -> np.ndarray:
    """Atom weights ``p_k = softmax(gate intercepts)``."""
    return softmax(params.gate_intercept)


def _experts(params: MoEParams) -> np.ndarray:
    """Expert parameters ``(K, M, q)``, intercept first."""
    return np.concatenate([params.expert_intercept[:, :, None], params.expert_coef], axis=2)


def atoms(params: MoEParams) -> tuple[np.ndarray, np.ndarray]:
    """The mixing measure as weights ``p (K,)`` and atoms ``theta (K, d + M (d + 1))``.

    ``theta_k`` stacks the gate slopes, centred so that their ``p``-weighted
    mean is zero (the gate's common-shift ambiguity fixed the same way for
    any two measures), and the expert parameters (intercepts first) centred
    across classes (so that no class is singled out as the reference).
    """
    weights = _weights(params)
    experts = _experts(params)
    centred = experts - experts.mean(axis=1, keepdims=True)
    slopes = params.gate_coef - weights @ params.gate_coef
    return weights, np.hstack([slopes, centred.reshape(len(centred), -1)])


def dissimilarities(params: MoEParams) -> np.ndarray:
    """``d(i, j) = p_i p_j / (p_i + p_j) ||theta_i - theta_j||^2`` for every pair of atoms.

    ``theta_k`` are the :func:`atoms`. The diagonal is ``inf``.
    """
    weights, theta = atoms(params)
    sq = np.sum((theta[:, None, :] - theta[None, :, :]) ** 2, axis=-1)
    d = _harmonic_weights(weights) * sq
    np.fill_diagonal(d, np.inf)
    return d


def _harmonic_weights(weights: np.ndarray) -> np.ndarray:
    """``p_i p_j / (p_i + p_j)``, which is 0 (not 0/0) when both weights underflow."""
    total = np.add.outer(weights, weights)
    return np.divide(np.outer(weights, weights), total, out=np.zeros_like(total), where=total > 0)


def _spread_and_mass(params: MoEParams, X: np.ndarray, weights: np.ndarray) -> tuple:
    """``spread[i, j] = sum_x w(x) pi_i(x) ||c_i(x) - c_j(x)||^2`` and ``mass[k] = sum_x w(x) pi_k(x)``.

    Summed over row blocks of about model.MEMORY_BLOCK_ELEMENTS numbers, so
    that no n x K x K x M array is formed. Differences are taken directly:
    |a|^2 + |b|^2 - 2 a.b would cancel catastrophically for the
    near-identical experts this must rank.
    """
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    K, M = params.n_experts, params.n_classes
    spread, mass = np.zeros((K, K)), np.zeros(K)
    for rows in model.row_slices(X.shape[0], model.rows_per_block(K * K * M)):
        gate = params.gate_proba(X[rows]) * weights[rows, None]
        logits = params.expert_intercept + np.einsum("bd,kmd->bkm", X[rows], params.expert_coef)
        logits -= logits.mean(axis=2, keepdims=True)
        gaps = logits[:, :, None, :] - logits[:, None, :, :]
        spread += np.einsum("bi,bijm,bijm->ij", gate, gaps, gaps)
        mass += gate.sum(axis=0)
    return spread, mass


def function_dissimilarities(params: MoEParams, X, sample_weight=None) -> np.ndarray:
    """Dissimilarities of the atoms measured on the data, for every pair.

    ``d(i, j) = pbar_i pbar_j / (pbar_i + pbar_j) * D(i, j)`` with
    ``pbar_k`` the mean gate weight of expert ``k`` over the rows of ``X``
    and ``D(i, j)`` the mean, over the rows weighted by
    ``pi_i(x) + pi_j(x)``, of ``||c(x)_i - c(x)_j||^2``: the squared
    distance between the two experts' class logits at ``x``, each centred
    across classes (so no class is the reference).

    Why on the data: the conditional density depends on the experts only
    through their class probabilities where the gate gives them weight. Two
    fitted experts that split one true expert's region agree there, however
    far apart their coefficients lie in directions the data hardly visit,
    and however differently the gate splits the region between them (a
    direction in which the likelihood is flat). Coefficient distances count
    both and keep such redundant atoms apart at realistic sample sizes.
    Two atoms with equal experts but different gates count as redundant.

    Parameters
    ----------
    params : MoEParams
        The mixture, on the scale of ``X`` (for a fitted classifier, its
        ``params_`` with the raw features; the logits, and so the result, are
        the same on any feature scale as long as the two match).
    X : array-like of shape (n_samples, n_features)
    sample_weight : float or array-like of shape (n_samples,), optional

    Returns
    -------
    ndarray of shape (n_experts, n_experts)
        Symmetric, ``inf`` on the diagonal.
    """
    if is_dask_collection(X):
        X, _, weights, _ = dask_data.as_dask_arrays(X, None, sample_weight, params.n_features)
        weights = dask_data.normalised_weights(weights, X)
        spread, mass = dask_data.chunk_sum(_spread_and_mass, (X, weights), params)
    else:
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != params.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features but the mixture was fitted on {params.n_features}"
            )
        spread, mass = _spread_and_mass(params, X, normalised_weights(sample_weight, X.shape[0]))
    K = params.n_experts
    total_mass = np.add.outer(mass, mass)
    mean_distance = np.divide(
        spread + spread.T, total_mass, out=np.zeros((K, K)), where=total_mass > 0
    )
    d = _harmonic_weights(mass) * mean_distance
    np.fill_diagonal(d, np.inf)
    return d


def merge(params: MoEParams, i: int, j: int) -> MoEParams:
    """Replace atoms ``i < j`` by one atom: summed weight, weighted-mean parameters.

    The merged atom takes position ``i``; every gate intercept is re-expressed
    as ``log p_k``, which leaves the gate weights at ``x = 0`` unchanged.
    Computed in log space: a fit on separable data can push a weight below
    the smallest float, and ``log 0`` would poison the merged model.
    """
    log_weights = params.gate_intercept - logsumexp(params.gate_intercept)
    slopes, experts = params.gate_coef.copy(), _experts(params)
    share_i, share_j = softmax(log_weights[[i, j]])  # of i and j in the merged atom
    slopes[i] = share_i * slopes[i] + share_j * slopes[j]
    experts[i] = share_i * experts[i] + share_j * experts[j]
    log_weights[i] = np.logaddexp(log_weights[i], log_weights[j])
    keep = np.arange(len(log_weights)) != j
    return MoEParams(
        gate_coef=slopes[keep],
        gate_intercept=log_weights[keep],
        expert_coef=experts[keep, :, 1:],
        expert_intercept=experts[keep, :, 0],
    )


def dendrogram(params: MoEParams, dissimilarity=dissimilarities) -> Dendrogram:
    """Merge the closest pair of atoms until one remains.

    Parameters
    ----------
    params : MoEParams
        The fitted mixture, on the scale distances should be measured in
        (:attr:`moelogit.MoEClassifier.standardized_params_` gives the scale of
        the fit's standardised features).
    dissimilarity : callable, default=dissimilarities
        Maps a mixture to its matrix of pairwise dissimilarities (``inf`` on
        the diagonal): :func:`dissimilarities` (coefficients, math.md), or
        for example ``lambda p: function_dissimilarities(p, X)``, where ``X``
        must be on the scale of ``params`` (the raw features with a
        classifier's ``params_``).

    Returns
    -------
    Dendrogram
    """
    ids = list(range(params.n_experts))
    counts = [1] * params.n_experts
    levels = [params]
    heights = np.zeros(params.n_experts)
    linkage = []
    while levels[-1].n_experts > 1:
        current = levels[-1]
        d = dissimilarity(current)
        i, j = sorted(np.unravel_index(np.argmin(d), d.shape))
        heights[current.n_experts - 1] = d[i, j]
        linkage.append([ids[i], ids[j], d[i, j], counts[i] + counts[j]])
        ids[i], counts[i] = len(levels) - 1 + params.n_experts, counts[i] + counts[j]
        del ids[j], counts[j]
        levels.append(merge(current, i, j))
    return Dendrogram(
        levels=levels[::-1], heights=heights, linkage=np.asarray(linkage, dtype=float)
    )
