"""The parametric bootstrap of a fitted mixture: standard errors and intervals by refitting.

The Wald standard errors of :meth:`moelogit.MoEClassifier.summary` and the
delta-method intervals of
:meth:`~moelogit.MoEClassifier.predict_proba_interval` rest on the
likelihood being close to quadratic around the fit. The parametric
bootstrap does not: it draws new labels for the training rows from the
fitted model, refits from the fitted parameters, and reads the spread of
the refits. It costs one fit per draw, and answers where the observed
information is refused (a nearly empty expert, near-separation) as well.
See :doc:`/guide/inference`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._progress import progress
from .estimator import MoEClassifier, fitted_classifier
from .params import MoEParams

__all__ = ["ParametricBootstrap", "parametric_bootstrap"]


@dataclass(frozen=True)
class ParametricBootstrap:
    """The refits of a parametric bootstrap (see :func:`parametric_bootstrap`).

    Attributes
    ----------
    model : MoEClassifier
        The fitted model the labels were drawn from.
    refits : list of MoEClassifier
        One model per draw, its experts in the order of ``model``'s.
    estimates : pandas.DataFrame
        One row per refit, one column per parameter, labelled as
        :meth:`MoEClassifier.coefficients`.
    """

    model: MoEClassifier
    refits: list
    estimates: pd.DataFrame

    def covariance(self) -> pd.DataFrame:
        """The covariance of the refits' parameters, labelled as :meth:`MoEClassifier.covariance`."""
        return self.estimates.cov()

    def standard_errors(self) -> pd.Series:
        """The standard deviation of every parameter over the refits."""
        return self.estimates.std()

    def intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of every parameter: columns ``low`` and ``high``.

        Unlike Wald intervals they need not be symmetric about the estimate:
        gate slopes, whose likelihood is far from quadratic, are often skewed.
        """
        low, high = _quantiles(self.estimates.to_numpy(), level)
        return pd.DataFrame({"low": low, "high": high}, index=self.estimates.columns)

    def predict_proba_interval(self, X, *, level: float = 0.95):
        """Percentile intervals of every class probability of every row of ``X``.

        Returns ``(low, high)``, each of shape ``(n_samples, n_classes)``,
        columns in ``model.classes_`` order: the ``(1 - level) / 2`` and
        ``(1 + level) / 2`` quantiles of the refits' probabilities.
        """
        return _quantiles(np.stack([refit.predict_proba(X) for refit in self.refits]), level)


def _quantiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles over the first axis."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    low, high = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
    return low, high


def parametric_bootstrap(
    model: MoEClassifier,
    X,
    sample_weight=None,
    *,
    n_boot: int = 200,
    random_state=None,
    n_jobs: int | None = None,
    progress_bar: bool = False,
) -> ParametricBootstrap:
    """Refit ``model`` on ``n_boot`` sets of labels drawn from itself at the rows of ``X``.

    Each draw gives every row of ``X`` (the training features) a label from
    the fitted ``p(y | x)``; the model is refitted on it with its own
    settings (``n_experts_`` experts, ``gate_features``, ``alpha``, ...),
    starting from the fitted parameters, so that every refit stays near
    the fit's optimum and its experts can be matched to the fit's. The
    experts of each refit are put in the order nearest to ``model``'s.

    Parameters
    ----------
    model : MoEClassifier
        A fitted model.
    X : array-like of shape (n_samples, n_features)
        The rows the model was fitted on (their labels are not needed).
    sample_weight : array-like of shape (n_samples,), optional
        The weights of the fit, used again by every refit.
    n_boot : int, default=200
        Number of draws and refits.
    random_state : None, int or numpy.random.RandomState
        Seeds the draws.
    n_jobs : int or None
        Refits run in parallel processes (joblib's meaning).
    progress_bar : bool, default=False
        Show the refits' progress on stderr.

    Returns
    -------
    ParametricBootstrap
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    fitted = model.params_  # refuses an unfitted model
    rng = check_random_state(random_state)
    template = clone(model).set_params(
        n_experts=fitted.n_experts, init=fitted, verbose=0, n_jobs=None
    )
    draws = [_draw(model, X, rng) for _ in range(n_boot)]
    jobs = (delayed(_refit)(template, X, y, sample_weight) for y in draws)
    refits = Parallel(n_jobs=n_jobs)(
        progress(jobs, total=n_boot, desc="bootstrap refits", enabled=progress_bar)
    )
    refits = [_in_order_of(refit, fitted) for refit in refits]
    estimates = pd.DataFrame([refit.coefficients() for refit in refits]).reset_index(drop=True)
    return ParametricBootstrap(model, refits, estimates)


def _draw(model: MoEClassifier, X, rng) -> np.ndarray:
    """Labels for the rows of ``X`` drawn from ``model``, with every class present."""
    values = np.asarray(X, dtype=float)
    for _ in range(100):
        codes = model.params_.sample_labels(values, rng)
        if np.unique(codes).size == model.classes_.size:
            return model.classes_[codes]
    raise ValueError(
        "100 draws of labels from the model missed a class: it predicts some class with a "
        "probability too small for a bootstrap on these rows"
    )


def _refit(template: MoEClassifier, X, y, sample_weight) -> MoEClassifier:
    return clone(template).fit(X, y, sample_weight=sample_weight)


def _in_order_of(refit: MoEClassifier, reference: MoEParams) -> MoEClassifier:
    """``refit`` with its experts permuted to be nearest to ``reference``'s (label switching)."""
    params = refit.params_
    K = params.n_experts
    if K == 1:
        return refit

    def distance(permuted: MoEParams) -> float:
        return sum(
            float(np.sum((getattr(permuted, name) - getattr(reference, name)) ** 2))
            for name in ("gate_coef", "gate_intercept", "expert_coef", "expert_intercept")
        )

    # Expert order[i] at position i, for every order.
    orders = itertools.permutations(range(K))
    best = min((params.in_gate_order(-np.argsort(order)) for order in orders), key=distance)
    return fitted_classifier(clone(refit), best, refit.training_facts_, refit.fit_record_)
