"""Metrics of probabilistic classifiers: scores, discrimination, calibration, paired comparisons.

Every metric moelogit reports is computed here: :func:`classification_scores`
(accuracy, log loss and the multiclass :func:`brier_score`, the report's
held-out scores) for any number of classes, and :func:`binary_metrics`
(also ROC-AUC, PR-AUC and the ECE) for two.

Calibration is measured on the probability of the positive class: the
reliability curve bins the predicted probabilities into equal-width bins on
[0, 1] and compares each bin's mean prediction with its observed frequency of
positives; the expected calibration error (ECE) is the mean absolute gap,
weighted by the bins' shares of the rows.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

__all__ = [
    "METRICS",
    "binary_metrics",
    "brier_score",
    "classification_scores",
    "expected_calibration_error",
    "paired_comparison",
    "reliability_curve",
]

#: metric name -> True when higher is better
METRICS = {
    "accuracy": True,
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
}


def brier_score(y, proba, classes) -> float:
    """Multiclass Brier score: mean over rows of ``sum_m (p_m - 1[y = m])^2``.

    It lies in ``[0, 2]``, lower is better; with two classes it is twice
    scikit-learn's binary ``brier_score_loss``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, each in ``classes``.
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, columns in ``classes`` order.
    classes : array-like of shape (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> brier_score(["a", "b"], np.array([[1.0, 0.0], [0.5, 0.5]]), ["a", "b"])
    0.25
    """
    onehot = np.asarray(y)[:, None] == np.asarray(classes)[None, :]
    return float(np.mean(np.sum((np.asarray(proba) - onehot) ** 2, axis=1)))


def classification_scores(y, proba, classes) -> dict:
    """Rows, accuracy (most probable class), log loss (natural log, per row) and Brier score.

    The arguments are those of :func:`brier_score`.

    Returns
    -------
    dict
        ``n_rows``, ``accuracy``, ``log_loss`` and ``brier``
        (:func:`brier_score`).

    Examples
    --------
    >>> import numpy as np
    >>> s = classification_scores(["a", "b"], np.array([[0.8, 0.2], [0.5, 0.5]]), ["a", "b"])
    >>> s["n_rows"], s["accuracy"], round(s["brier"], 2)
    (2, 0.5, 0.29)
    """
    classes = np.asarray(classes)
    predicted = classes[np.argmax(proba, axis=1)]
    return {
        "n_rows": len(y),
        "accuracy": float(accuracy_score(y, predicted)),
        "log_loss": float(log_loss(y, proba, labels=classes)),
        "brier": brier_score(y, proba, classes),
    }


def _checked(y_true, proba):
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 1 or y_true.shape != proba.shape:
        raise ValueError(
            f"y_true and proba must be 1-D of the same length, got {y_true.shape} and {proba.shape}"
        )
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold 0/1 labels")
    if np.any((proba < 0) | (proba > 1)) or not np.all(np.isfinite(proba)):
        raise ValueError("proba must be probabilities in [0, 1]")
    return y_true.astype(np.int64), proba


def reliability_curve(y_true, proba, n_bins=15):
    """Mean prediction, frequency of positives and row count of every equal-width bin.

    Bin ``b`` holds predictions in ``[b / n_bins, (b + 1) / n_bins)``, the
    last bin also 1. Empty bins have NaN means and a count of 0.

    Returns
    -------
    mean_proba, frequency : ndarray of shape (n_bins,)
    counts : ndarray of int, shape (n_bins,)

    Examples
    --------
    >>> mean, freq, counts = reliability_curve([0, 1, 1, 1], [0.1, 0.2, 0.9, 1.0], n_bins=2)
    >>> mean.tolist(), freq.tolist(), counts.tolist()
    ([0.15000000000000002, 0.95], [0.5, 1.0], [2, 2])
    """
    y_true, proba = _checked(y_true, proba)
    bins = np.minimum((proba * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(bins, weights=proba, minlength=n_bins) / counts
        frequency = np.bincount(bins, weights=y_true, minlength=n_bins) / counts
    return mean, frequency, counts


def expected_calibration_error(y_true, proba, n_bins=15):
    """ECE: ``sum_b (n_b / n) |frequency_b - mean_proba_b|`` over equal-width bins.

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n,)
    proba : array-like of shape (n,)
        Predicted probability of the positive class.
    n_bins : int, default=15

    Examples
    --------
    >>> # bins: {0.1, 0.2} (mean 0.15, half positive), {0.9, 1.0} (mean 0.95, all positive)
    >>> round(expected_calibration_error([0, 1, 1, 1], [0.1, 0.2, 0.9, 1.0], n_bins=2), 10)
    0.2
    """
    mean, frequency, counts = reliability_curve(y_true, proba, n_bins)
    used = counts > 0
    gaps = np.abs(frequency[used] - mean[used])
    return float(np.sum(counts[used] * gaps) / counts.sum())


def binary_metrics(y_true, proba) -> dict:
    """Accuracy (threshold 0.5), ROC-AUC, PR-AUC (average precision), log loss, Brier, ECE.

    ``brier`` is scikit-learn's binary Brier score (half :func:`brier_score`).
    ROC-AUC needs both classes and PR-AUC a positive: where ``y_true``
    lacks them they are undefined, and NaN.

    Examples
    --------
    >>> m = binary_metrics([0, 0, 1, 1], [0.2, 0.6, 0.7, 0.9])
    >>> m["accuracy"], m["roc_auc"], round(m["brier"], 3)
    (0.75, 1.0, 0.125)
    """
    y_true, proba = _checked(y_true, proba)
    both = 0 < y_true.sum() < y_true.size
    return {
        "accuracy": accuracy_score(y_true, proba >= 0.5),
        "roc_auc": roc_auc_score(y_true, proba) if both else np.nan,
        "pr_auc": average_precision_score(y_true, proba) if y_true.any() else np.nan,
        "log_loss": log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1]),
        "brier": brier_score_loss(y_true, proba),
        "ece": expected_calibration_error(y_true, proba),
    }


def paired_comparison(a, b, test_fraction=None, confidence=0.95) -> dict:
    """Fold-wise differences ``a - b``: mean, a t interval and a paired t-test.

    Cross-validation folds share training rows, so their differences are
    correlated and the plain paired t-test is too confident. With
    ``test_fraction`` (test rows / training rows of a fold) the variance is
    corrected as by Nadeau and Bengio (2003, Machine Learning 52:239):
    ``(1/k + test_fraction)`` times the sample variance instead of ``1/k``.

    Returns
    -------
    dict
        ``mean``, ``low``, ``high`` (the interval), ``p_value`` (two-sided)
        and ``n`` (folds).

    Examples
    --------
    >>> r = paired_comparison([0.90, 0.92, 0.91], [0.88, 0.89, 0.90])
    >>> round(r["mean"], 4), r["n"], bool(r["low"] < r["mean"] < r["high"])
    (0.02, 3, True)
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    k = diff.size
    if k < 2:
        raise ValueError("a paired comparison needs at least two folds")
    factor = 1.0 / k + (test_fraction or 0.0)
    se = np.sqrt(factor * diff.var(ddof=1))
    mean = float(diff.mean())
    quantile = stats.t.ppf(0.5 + confidence / 2, df=k - 1)
    if se == 0:
        p_value = 1.0 if mean == 0 else 0.0
    else:
        p_value = float(2 * stats.t.sf(abs(mean) / se, df=k - 1))
    return {
        "mean": mean,
        "low": mean - quantile * se,
        "high": mean + quantile * se,
        "p_value": p_value,
        "n": k,
    }
