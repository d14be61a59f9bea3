"""Figures: the dendrogram of a fitted mixing measure and selection criteria."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_criterion", "plot_dendrogram"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def plot_dendrogram(result, ax=None):
    """Draw the dendrogram of a DSC :class:`~moelogit.SelectionResult`.

    Leaves are the atoms of the over-fitted model (labelled by their gate
    weight); the vertical axis is the merge height in the result's
    ``dissimilarity_`` (by default squared distances between the experts'
    class logits on the training data). The selected level is marked by a
    dashed line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from scipy.cluster.hierarchy import dendrogram
    from scipy.special import softmax

    if result.linkage_ is None:
        raise ValueError(f"a dendrogram needs a DSC result, got method={result.method!r}")
    ax = _axes(ax)
    overfit = result.models_[-1]
    weights = softmax(overfit.standardized_params_.gate_intercept)
    labels = [f"{k + 1}\n(p={w:.2f})" for k, w in enumerate(weights)]
    # SciPy draws merges in the order given; heights need not be monotone here,
    # so draw the running maximum and keep the real heights in the result.
    linkage = result.linkage_.copy()
    linkage[:, 2] = np.maximum.accumulate(linkage[:, 2])
    dendrogram(linkage, labels=labels, ax=ax, color_threshold=0, above_threshold_color="C0")
    level = result.n_experts_
    if level > 1:  # cut between the merge that reaches the level and the one leaving it
        below = linkage[-level, 2] if level <= len(linkage) else 0.0
        cut = 0.5 * (below + linkage[-level + 1, 2])
        ax.axhline(cut, color="C3", ls="--", lw=1, label=f"selected: {level} experts")
        ax.legend(loc="upper left", frameon=False)
    kind = f" ({result.dissimilarity_} dissimilarity)" if result.dissimilarity_ else ""
    ax.set_ylabel(f"merge height{kind}")
    ax.set_title(f"Merges of the over-fitted {len(weights)}-expert fit")
    return ax


def plot_criterion(result, ax=None, label=None):
    """Plot a selection criterion against the number of experts, marking the minimum.

    Works for every method; call it on several results with the same ``ax`` to
    compare DSC with the AIC/BIC/ICL sweeps (criteria on different scales are
    best drawn on separate axes).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    label = label or result.method.upper()
    (line,) = ax.plot(result.sizes_, result.criterion_, marker="o", label=label)
    best = result.n_experts_ - 1
    ax.plot(result.sizes_[best], result.criterion_[best], marker="*", ms=14, color=line.get_color())
    ax.set_xlabel("number of experts")
    ax.set_ylabel("criterion (lower is better)")
    ax.set_xticks(result.sizes_)
    ax.legend(frameon=False)
    return ax
