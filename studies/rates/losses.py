"""Losses between a fitted and a true mixture (math.md, section 4).

For simulations only, where the truth ``G0`` is known. A mixture is read as
its mixing measure ``G = sum_k p_k delta_{theta_k}`` (weights and atoms of
:func:`moelogit.selection.atoms`): gate slopes with the common-shift ambiguity
fixed by a zero ``p``-weighted mean, expert parameters centred across classes.

* :func:`voronoi_losses`: ``D1`` and ``D2``, which compare atoms inside the
  Voronoi cells of the true atoms;
* :func:`hellinger_error`: the conditional density error, the Hellinger
  distance between ``p(.|x; G)`` and ``p(.|x; G0)`` averaged over a sample of
  ``x``.
"""

from __future__ import annotations

import numpy as np

from moelogit import MoEParams
from moelogit.selection import atoms

__all__ = ["hellinger_error", "voronoi_cells", "voronoi_losses"]


def voronoi_cells(fitted: MoEParams, truth: MoEParams) -> np.ndarray:
    """Index of the nearest true atom for every fitted atom (ties to the first).

    Returns
    -------
    ndarray of shape (fitted.n_experts,)
        ``cells[k] = j`` when fitted atom ``k`` lies in the Voronoi cell ``A_j``.
    """
    _check_compatible(fitted, truth)
    _, theta = atoms(fitted)
    _, theta0 = atoms(truth)
    return _nearest(theta, theta0)[0]


def voronoi_losses(fitted: MoEParams, truth: MoEParams) -> dict[str, float]:
    """The Voronoi losses ``D1(G, G0)`` and ``D2(G, G0)`` of math.md.

    With cells ``A_j`` (fitted atoms nearest to true atom ``j``)::

        D1 = sum_j |sum_{A_j} p_k - p0_j| + sum_j sum_{A_j} p_k ||theta_k - theta0_j||
        D2 = sum_j |sum_{A_j} p_k - p0_j| + sum_{|A_j| = 1} p_k ||theta_k - theta0_j||
                                          + sum_{|A_j| > 1} sum_{A_j} p_k ||theta_k - theta0_j||^2

    An empty cell contributes its whole weight ``p0_j`` to the first sum.

    Parameters
    ----------
    fitted, truth : MoEParams
        Mixtures with the same features and classes; any numbers of experts.

    Returns
    -------
    dict
        ``{"D1": float, "D2": float}``.

    Examples
    --------
    >>> import numpy as np
    >>> from moelogit.datasets import random_params
    >>> truth = random_params(2, 3, 3, random_state=0)
    >>> voronoi_losses(truth, truth)
    {'D1': 0.0, 'D2': 0.0}
    """
    _check_compatible(fitted, truth)
    weights, theta = atoms(fitted)
    weights0, theta0 = atoms(truth)
    cells, distance = _nearest(theta, theta0)
    cell_weight = np.bincount(cells, weights=weights, minlength=truth.n_experts)
    cell_size = np.bincount(cells, minlength=truth.n_experts)
    weight_error = float(np.abs(cell_weight - weights0).sum())
    shared = cell_size[cells] > 1  # fitted atoms in an over-covered cell
    d1 = weight_error + float(np.sum(weights * distance))
    d2 = weight_error + float(
        np.sum(weights[~shared] * distance[~shared])
        + np.sum(weights[shared] * distance[shared] ** 2)
    )
    return {"D1": d1, "D2": d2}


def hellinger_error(fitted: MoEParams, truth: MoEParams, X) -> float:
    """Mean over the rows of ``X`` of the Hellinger distance between class distributions.

    ``H(x) = sqrt(1/2 sum_m (sqrt p(m|x; G) - sqrt p(m|x; G0))^2)``, in
    ``[0, 1]``; the mean is a Monte Carlo estimate of ``E_x H(x)`` when ``X``
    is a sample of the feature distribution.

    Examples
    --------
    >>> import numpy as np
    >>> from moelogit.datasets import random_params
    >>> truth = random_params(2, 3, 3, random_state=0)
    >>> X = np.random.default_rng(0).normal(size=(1000, 2))
    >>> hellinger_error(truth, truth, X)
    0.0
    """
    _check_compatible(fitted, truth)
    root_fit = np.exp(0.5 * fitted.log_class_proba(X))
    root_true = np.exp(0.5 * truth.log_class_proba(X))
    per_row = np.sqrt(0.5 * np.sum((root_fit - root_true) ** 2, axis=1))
    return float(per_row.mean())


def _nearest(theta: np.ndarray, theta0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances = np.linalg.norm(theta[:, None, :] - theta0[None, :, :], axis=-1)
    cells = distances.argmin(axis=1)
    return cells, distances[np.arange(len(theta)), cells]


def _check_compatible(fitted: MoEParams, truth: MoEParams) -> None:
    if (fitted.n_features, fitted.n_classes) != (truth.n_features, truth.n_classes):
        raise ValueError(
            "the fitted and true mixtures must share features and classes: got "
            f"(d={fitted.n_features}, M={fitted.n_classes}) and "
            f"(d={truth.n_features}, M={truth.n_classes})"
        )
