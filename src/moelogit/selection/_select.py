"""Choosing the number of experts: the DSC path against information-criterion sweeps."""

from __future__ import annotations

import numbers
import time
import warnings
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from .._entry_points import provide
from .._progress import progress
from ..chunked import is_dask_collection
from ..engine import SOLVERS
from ..estimator import SELECTION_METHODS as METHODS
from ..estimator import MoEClassifier, classifier_with, num_rows
from ..params import MoEParams
from ._dendrogram import dendrogram, dissimilarities, function_dissimilarities, merge

__all__ = ["DISSIMILARITIES", "HEIGHT_SCALES", "METHODS", "SelectionResult", "select_n_experts"]

DISSIMILARITIES = ("function", "parameter")
HEIGHT_SCALES = ("log1p", "raw")
PATHS = ("refit", "tree")


@dataclass
class SelectionResult:
    """What :func:`select_n_experts` chose and the evidence for it.

    Attributes
    ----------
    method : str
        ``"dsc"``, ``"aic"``, ``"bic"`` or ``"icl"``.
    n_experts_ : int
        The selected number of experts.
    sizes_ : ndarray of shape (max_experts,)
        ``1 .. max_experts``: the dendrogram levels, or the swept sizes.
    criterion_ : ndarray of shape (max_experts,)
        The criterion at every size; the selected size is its argmin (for
        the DSC, the smallest size within the path's resolution of the
        minimum; see :func:`select_n_experts`, "Ties").
    loglik_ : ndarray of shape (max_experts,)
        Mean log-likelihood on the training data at every size.
    model_ : MoEClassifier
        The fitted model at the selected size. For DSC, refitted with the
        estimator's settings from the path's model of that size whenever the
        path's ridge, tolerance, iteration cap or screening differ from the
        estimator's (with the defaults, always); otherwise the path's model
        itself.
    models_ : list of MoEClassifier
        The model at every size, ``models_[k - 1]`` with ``k`` experts (for
        DSC, the models along the path: fitted with ``path_alpha``,
        ``path_tol`` and ``path_max_iter``, or, with ``path="tree"``, the
        merged measures of the over-fitted fit).
    heights_ : ndarray of shape (max_experts,) or None
        DSC only: ``heights_[k - 1]`` is the height ``h(k)`` at level ``k``
        (``0`` at ``k = 1``): with ``path_="refit"`` the dissimilarity of
        the two closest experts of the path's ``k``-expert fit, with
        ``"tree"`` that of the merge leaving level ``k`` of the over-fitted
        fit's dendrogram. Dissimilarities are weighted by
        ``p_i p_j / (p_i + p_j)``: gate-weighted mean squared distances
        between the experts' class logits on the training data
        (``dissimilarity="function"``), or squared coefficient distances on
        the standardised-feature scale (``"parameter"``).
    linkage_ : ndarray of shape (max_experts - 1, 4) or None
        DSC only: the dendrogram of the over-fitted fit in SciPy's linkage
        format. With ``path_="refit"`` its heights below the top level are
        not the ``heights_``, which come from the refitted levels.
    path_ : str or None
        DSC only: ``"refit"`` or ``"tree"``, how the levels were made.
    omega_ : float or None
        DSC only: the weight of the log-likelihood term.
    dissimilarity_ : str or None
        DSC only: ``"function"`` or ``"parameter"``, the scale of the heights.
    wall_time_ : float
        Seconds spent, fits included.
    """

    method: str
    n_experts_: int
    sizes_: np.ndarray
    criterion_: np.ndarray
    loglik_: np.ndarray
    model_: MoEClassifier
    models_: list = field(repr=False)
    heights_: np.ndarray | None = None
    linkage_: np.ndarray | None = None
    omega_: float | None = None
    dissimilarity_: str | None = None
    path_: str | None = None
    wall_time_: float = 0.0


def _user_scale(params_std: MoEParams, fitted: MoEClassifier) -> MoEParams:
    return MoEParams.from_design(
        *params_std.to_design(), fitted.feature_mean_, fitted.feature_scale_
    )


def _entropy(resp: np.ndarray) -> float:
    """``-sum_ik tau_ik log tau_ik``, with ``0 log 0 = 0``."""
    return float(-np.sum(resp * np.log(np.where(resp > 0, resp, 1.0))))


def _check_optional_number(value, name, kind, lowest):
    """A clear ValueError unless ``value`` is None or a finite ``kind`` >= ``lowest``."""
    if value is None:
        return
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, kind)
        or not np.isfinite(value)
        or value < lowest
    ):
        what = "an integer" if kind is numbers.Integral else "a finite number"
        raise ValueError(f"{name} must be None or {what} >= {lowest}, got {value!r}")


def _smallest_within(criterion: np.ndarray, resolution: float) -> int:
    """Index of the first (fewest experts) criterion within ``resolution`` of the minimum.

    >>> _smallest_within(np.array([3.0, 1.0, 1.0 - 1e-9, 2.0]), 1e-6)
    1
    """
    if not (np.all(np.isfinite(criterion)) and np.isfinite(resolution)):
        raise FloatingPointError(
            f"the selection criterion is not finite ({criterion}, resolution {resolution})"
        )
    return int(np.flatnonzero(criterion <= criterion.min() + resolution)[0])


def information_criterion(models, loglik, X, y, method) -> np.ndarray:
    """AIC, BIC or ICL (lower is better) of fitted models with mean log-likelihoods ``loglik``.

    ICL is BIC plus twice the entropy of the responsibilities.
    """
    n = num_rows(X)
    penalty = {"aic": 2.0, "bic": np.log(n), "icl": np.log(n)}[method]
    criterion = np.array(
        [-2.0 * n * ll + penalty * m.n_parameters() for m, ll in zip(models, loglik)]
    )
    if method == "icl":
        criterion += 2.0 * np.array([_entropy(m.responsibilities(X, y)) for m in models])
    return criterion


def select_n_experts(
    X,
    y,
    max_experts=6,
    method="dsc",
    *,
    estimator=None,
    path="refit",
    path_alpha=None,
    path_tol=1e-6,
    path_max_iter=300,
    path_screen_solver="mm",
    merge_screen_iter=5,
    dissimilarity="function",
    height_scale="log1p",
    omega=None,
    sample_weight=None,
    n_jobs=None,
):
    """Choose the number of experts.

    ``"dsc"`` fits once with ``max_experts`` experts, builds the dendrogram
    of the fitted mixing measure (:func:`moelogit.selection.dendrogram`, on
    the standardised-feature scale) and minimises the dendrogram selection
    criterion over its levels::

        DSC(k) = -( H(h(k)) + omega * Lbar(k) )

    where ``h(k)`` is the height of the merge leaving level ``k`` (0 at
    ``k = 1``) and ``Lbar(k)`` the mean log-likelihood of the level-``k``
    model. ``"aic"``, ``"bic"`` and ``"icl"`` fit every size
    ``1 .. max_experts`` with the same estimator settings (the sweep DSC
    avoids) and minimise the criterion.

    The defaults differ from the criterion as first stated (levels read off
    the over-fitted fit, coefficient distances, raw heights,
    ``omega = log n``: ``path="tree", path_alpha=0, path_tol=None,
    path_max_iter=None, dissimilarity="parameter", height_scale="raw",
    omega=np.log(n)``), which selects poorly at realistic n. The user guide's
    :ref:`choosing-k` explains each default, and
    :doc:`/selection-validation` has the measurements behind them.

    Ties: the path's fits stop once the objective changes by less than their
    relative tolerance ``tol_path = max(tol, path_tol)`` (the estimator's
    ``tol`` when ``path_tol`` is None) per cycle, so each level's mean
    log-likelihood is known only to about ``tol_path * |Lbar|``. Levels whose
    criterion is within ``omega * tol_path * max |Lbar|`` of the minimum are
    ties, and the one with the fewest experts is selected.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    max_experts : int, default=6
        Largest number of experts considered; the DSC's over-fitted size.
    method : {"dsc", "aic", "bic", "icl"}, default="dsc"
    estimator : MoEClassifier, optional
        Settings for every fit (restarts, tolerance, ridge, seed, ...);
        ``n_experts`` is overridden. Default ``MoEClassifier()``. With its
        ``verbose >= 1``, progress bars follow the sizes and every fit's starts.
    path : {"refit", "tree"}, default="refit"
        DSC only. ``"tree"``: the levels are the merged measures of the
        over-fitted fit's dendrogram, evaluated as they are, and ``h(k)`` are
        its heights. ``"refit"``: level ``k`` is fitted from the merges of
        every pair of atoms of the (refitted) level ``k + 1`` as warm starts,
        screened like random starts, and ``h(k)`` is the smallest
        dissimilarity between the atoms of the level-``k`` model, the height
        at which its first merge would happen.
    path_alpha : float, optional
        DSC only: ridge of the fits along the path (at least the estimator's
        ``alpha``); default ``1 / n``, a standard normal prior on the
        standardised slopes, under which redundant atoms coincide; ``0``
        keeps the estimator's. The selected size is refitted with the
        estimator's own ``alpha``.
    path_tol : float or None, default=1e-6
        DSC only: relative tolerance of the fits along the path, the
        over-fitted fit included (so with ``path="tree"`` it also shapes the
        heights): the looser of this and the estimator's ``tol``; ``None``
        keeps the estimator's.
    path_max_iter : int or None, default=300
        DSC only: iteration cap of the fits along the path, as ``path_tol``:
        the smaller of this and the estimator's ``max_iter``; ``None`` keeps
        the estimator's. Fits stopped by these two do not warn.
    path_screen_solver : {"mm", "lbfgs"} or None, default="mm"
        DSC only: how the fits along the path screen their starts and merges
        (the estimator's ``screen_solver``); ``None`` keeps the estimator's.
        Screening by the MM map instead of L-BFGS halves ``init_iter``, and
        the other way doubles it: an estimator's 30 L-BFGS iterations
        become the 15 SQUAREM cycles under which the DSC was validated,
        which picked the true size more often than L-BFGS screening in a
        cell of the selection study (:doc:`/performance`).
    merge_screen_iter : int or None, default=5
        DSC only, ``path="refit"``: iterations each pairwise merge runs
        before the best one is continued (at most the path's
        ``init_iter``, which still applies to the over-fitted fit's random
        starts); ``None`` keeps the path's ``init_iter``.
    dissimilarity : {"function", "parameter"}, default="function"
        DSC only: how atoms are compared, both for the heights and, with
        ``path="tree"``, for choosing the merges.
        :func:`function_dissimilarities` on the training data, or
        :func:`dissimilarities` of the coefficients on the
        standardised-feature scale (math.md). With ``path="refit"`` the
        tree only gives ``linkage_`` (its merges of the over-fitted fit).
    height_scale : {"log1p", "raw"}, default="log1p"
        DSC only: ``H(h) = log(1 + h)`` or ``H(h) = h``.
    omega : float, optional
        DSC only: weight of the log-likelihood term; default ``sqrt(n)``,
        between ``log n`` (too weak at realistic n) and ``n / log n``.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights for every fit and for the log-likelihoods.
    n_jobs : int or None, optional
        Cores of every fit (see :class:`moelogit.MoEClassifier`); default
        the estimator's.

    Returns
    -------
    SelectionResult
        For DSC, ``models_`` are the models along the path and ``model_`` the
        selected size refitted with the estimator's settings (ridge,
        tolerance, iteration cap, screening), warm-started from the path's
        model of that size, when the path's differ.
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if dissimilarity not in DISSIMILARITIES:
        raise ValueError(f"dissimilarity must be one of {DISSIMILARITIES}, got {dissimilarity!r}")
    if height_scale not in HEIGHT_SCALES:
        raise ValueError(f"height_scale must be one of {HEIGHT_SCALES}, got {height_scale!r}")
    if (
        not isinstance(max_experts, (int, np.integer))
        or isinstance(max_experts, bool)
        or max_experts < 1
    ):
        raise ValueError(f"max_experts must be an integer >= 1, got {max_experts!r}")
    _check_optional_number(path_alpha, "path_alpha", numbers.Real, 0)
    _check_optional_number(path_tol, "path_tol", numbers.Real, 0)
    _check_optional_number(path_max_iter, "path_max_iter", numbers.Integral, 1)
    _check_optional_number(merge_screen_iter, "merge_screen_iter", numbers.Integral, 1)
    if path_screen_solver not in (None, *SOLVERS):
        raise ValueError(
            f"path_screen_solver must be None or one of {SOLVERS}, got {path_screen_solver!r}"
        )
    template = MoEClassifier() if estimator is None else estimator
    if n_jobs is not None:
        template = clone(template).set_params(n_jobs=n_jobs)
    sizes = np.arange(1, max_experts + 1)
    if isinstance(y, str) and is_dask_collection(X):  # y names X's label column
        X, y = X.drop(columns=[y]), X[y]
    n = num_rows(X)
    show_progress = template.verbose >= 1

    def fit(k, settings, init=None):
        params = {"n_experts": int(k)} | ({} if init is None else {"init": init})
        return clone(settings).set_params(**params).fit(X, y, sample_weight=sample_weight)

    if method == "dsc":
        path_alpha = 1.0 / n if path_alpha is None else path_alpha
        path_template = clone(template).set_params(
            alpha=max(template.alpha, path_alpha),
            tol=template.tol if path_tol is None else max(template.tol, path_tol),
            max_iter=template.max_iter
            if path_max_iter is None
            else min(template.max_iter, path_max_iter),
        )
        if path_screen_solver not in (None, template.screen_solver):
            budget = template.init_iter
            budget = -(-budget // 2) if path_screen_solver == "mm" else 2 * budget
            path_template.set_params(screen_solver=path_screen_solver, init_iter=budget)
        merge_template = clone(path_template)
        if merge_screen_iter is not None:
            merge_template.set_params(init_iter=min(path_template.init_iter, merge_screen_iter))
        # Fits stopped early on purpose do not warn; the selected size is then
        # refitted with the estimator's settings, and that fit may warn.
        capped = path_template.tol > template.tol or path_template.max_iter < template.max_iter

        def fit_on_path(k, settings, init=None):
            with warnings.catch_warnings():
                if capped:
                    warnings.simplefilter("ignore", ConvergenceWarning)
                return fit(k, settings, init)

        overfit = fit_on_path(max_experts, path_template)
        omega = float(np.sqrt(n)) if omega is None else float(omega)
        if dissimilarity == "parameter":
            distances = dissimilarities
        else:
            X_checked = X if is_dask_collection(X) else overfit._validated(X)

            def distances(standardized: MoEParams) -> np.ndarray:
                # The data's scale for the data's distances; merges stay standardised.
                return function_dissimilarities(
                    _user_scale(standardized, overfit), X_checked, sample_weight
                )

        tree = dendrogram(overfit.standardized_params_, distances)
        if path == "tree":
            models = [
                classifier_with(overfit, _user_scale(level, overfit)) for level in tree.levels[:-1]
            ]
            models.append(overfit)
            heights = tree.heights
        else:
            models = [overfit]
            levels = range(max_experts - 1, 0, -1)
            for _ in progress(levels, total=len(levels), desc="DSC path", enabled=show_progress):
                parent = models[-1]
                atoms = parent.standardized_params_
                # Every pair's merge is a warm start; the screening keeps the best.
                starts = [
                    _user_scale(merge(atoms, i, j), parent)
                    for i, j in combinations(range(atoms.n_experts), 2)
                ]
                models.append(fit_on_path(atoms.n_experts - 1, merge_template, starts))
            models = models[::-1]
            heights = np.array(
                [0.0] + [distances(m.standardized_params_).min() for m in models[1:]]
            )
        loglik = np.array([m.loglik(X, y, sample_weight) for m in models])
        height_term = np.log1p(heights) if height_scale == "log1p" else heights
        criterion = -(height_term + omega * loglik)
        # The path's fits give each level's likelihood only to their tolerance:
        # levels within that of the best are ties, and the fewest experts win.
        resolution = omega * path_template.tol * np.abs(loglik).max()
        best = _smallest_within(criterion, resolution)
        selected = models[best]
        # The path never tightens the estimator's tolerance or cap, so "capped"
        # says whether they differ.
        settings = ("alpha", "screen_solver", "init_iter")
        if capped or any(getattr(path_template, s) != getattr(template, s) for s in settings):
            selected = fit(best + 1, template, selected.params_)
        extra = {
            "heights_": heights,
            "linkage_": tree.linkage,
            "omega_": omega,
            "dissimilarity_": dissimilarity,
            "path_": path,
        }
    else:
        swept = progress(sizes, total=sizes.size, desc="sizes", enabled=show_progress)
        models = [fit(k, template) for k in swept]
        loglik = np.array([m.loglik(X, y, sample_weight) for m in models])
        criterion = information_criterion(models, loglik, X, y, method)
        best = int(np.argmin(criterion))
        selected = models[best]
        extra = {}
    return SelectionResult(
        method=method,
        n_experts_=int(sizes[best]),
        sizes_=sizes,
        criterion_=criterion,
        loglik_=loglik,
        model_=selected,
        models_=models,
        wall_time_=time.perf_counter() - started,
        **extra,
    )


provide("select_n_experts", select_n_experts)
