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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from ..params import MoEParams

__all__ = ["Dendrogram", "dendrogram"]


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


def _atom_vectors(gate_slopes: np.ndarray, experts: np.ndarray) -> np.ndarray:
    """Atoms as flat vectors: gate slopes, then class-centred expert parameters."""
    centred = experts - experts.mean(axis=1, keepdims=True)  # (K, M, q)
    return np.hstack([gate_slopes, centred.reshape(len(centred), -1)])


def _dissimilarities(weights: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """``d(i, j) = p_i p_j / (p_i + p_j) ||theta_i - theta_j||^2``; ``inf`` on the diagonal."""
    sq = np.sum((atoms[:, None, :] - atoms[None, :, :]) ** 2, axis=-1)
    d = np.outer(weights, weights) / np.add.outer(weights, weights) * sq
    np.fill_diagonal(d, np.inf)
    return d


def dendrogram(params: MoEParams) -> Dendrogram:
    """Merge the atoms of a fitted mixture until one remains.

    At every step the pair ``(i, j)`` with the smallest
    ``p_i p_j / (p_i + p_j) ||theta_i - theta_j||^2`` is replaced by one atom
    of weight ``p_i + p_j`` at the weighted mean ``(p_i theta_i + p_j
    theta_j) / (p_i + p_j)``; the merged gate intercept is ``log(p_i + p_j)``
    (all intercepts are re-expressed as ``log p``, which leaves the gate
    weights at ``x = 0`` unchanged).

    Parameters
    ----------
    params : MoEParams
        The fitted mixture, on the scale distances should be measured in
        (:meth:`moelogit.MoEClassifier.standardized_params_` gives the scale of
        the fit's standardised features).

    Returns
    -------
    Dendrogram
    """
    weights = softmax(params.gate_intercept)
    slopes = params.gate_coef.copy()
    experts = np.concatenate([params.expert_intercept[:, :, None], params.expert_coef], axis=2)
    ids = list(range(params.n_experts))
    counts = [1] * params.n_experts
    levels = [params]
    heights = [0.0] * params.n_experts
    linkage = []
    next_id = params.n_experts
    while len(weights) > 1:
        d = _dissimilarities(weights, _atom_vectors(slopes, experts))
        i, j = np.unravel_index(np.argmin(d), d.shape)
        i, j = min(i, j), max(i, j)
        heights[len(weights) - 1] = float(d[i, j])
        linkage.append([ids[i], ids[j], d[i, j], counts[i] + counts[j]])
        p = weights[i] + weights[j]
        slopes[i] = (weights[i] * slopes[i] + weights[j] * slopes[j]) / p
        experts[i] = (weights[i] * experts[i] + weights[j] * experts[j]) / p
        weights[i], ids[i], counts[i] = p, next_id, counts[i] + counts[j]
        next_id += 1
        keep = np.arange(len(weights)) != j
        weights, slopes, experts = weights[keep], slopes[keep], experts[keep]
        del ids[j], counts[j]
        levels.append(
            MoEParams(
                gate_coef=slopes.copy(),
                gate_intercept=np.log(weights),
                expert_coef=experts[:, :, 1:].copy(),
                expert_intercept=experts[:, :, 0].copy(),
            )
        )
    return Dendrogram(
        levels=levels[::-1], heights=np.asarray(heights), linkage=np.asarray(linkage, dtype=float)
    )
