"""Calibration and comparison metrics on hand-computed cases."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from moelogit import report
from moelogit.metrics import (
    binary_metrics,
    brier_score,
    classification_scores,
    expected_calibration_error,
    paired_comparison,
    reliability_curve,
)


def test_ece_hand_case_with_15_bins():
    # Bin 0 ([0, 1/15)): predictions 0.0 and 0.05, one positive -> |0.5 - 0.025| = 0.475.
    # Bin 7 ([7/15, 8/15)): 0.5 twice, both negative -> |0 - 0.5| = 0.5.
    # Bin 14 ([14/15, 1]): 1.0 once, positive -> 0.
    y = [0, 1, 0, 0, 1]
    p = [0.0, 0.05, 0.5, 0.5, 1.0]
    expected = (2 * 0.475 + 2 * 0.5 + 1 * 0.0) / 5
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    mean, freq, counts = reliability_curve(y, p)
    assert counts.tolist() == [2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1]
    assert np.isnan(mean[1]) and freq[7] == 0.0 and mean[14] == 1.0


def test_ece_zero_when_calibrated_and_one_when_confidently_wrong():
    assert expected_calibration_error([0, 1, 0, 1], [0.5] * 4) == 0.0
    assert expected_calibration_error([0, 0, 1, 1], [1.0, 1.0, 0.0, 0.0]) == 1.0


def test_ece_bin_edges():
    # 1/15 lies on an edge: it belongs to bin 1, not bin 0.
    _, _, counts = reliability_curve([1, 1], [1 / 15 + 1e-12, 1 / 15 - 1e-12])
    assert counts[:2].tolist() == [1, 1]


def test_binary_metrics_known_values():
    m = binary_metrics([0, 1], [0.25, 0.75])
    assert m["accuracy"] == 1.0 and m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert m["brier"] == pytest.approx(0.0625)
    assert m["log_loss"] == pytest.approx(-np.log(0.75))
    assert m["ece"] == pytest.approx(0.25)


def test_binary_metrics_of_one_class_say_what_is_undefined():
    # ROC-AUC needs both classes, PR-AUC a positive: NaN where undefined, no warning.
    p = [0.2, 0.7, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        positives, negatives = binary_metrics([1, 1, 1], p), binary_metrics([0, 0, 0], p)
    assert np.isnan(positives["roc_auc"]) and positives["pr_auc"] == 1.0
    assert np.isnan(negatives["roc_auc"]) and np.isnan(negatives["pr_auc"])
    assert positives["accuracy"] == pytest.approx(2 / 3)
    assert negatives["accuracy"] == pytest.approx(1 / 3)
    assert positives["log_loss"] == pytest.approx(log_loss([1, 1, 1], p, labels=[0, 1]))
    both = binary_metrics([0, 1, 1], p)
    assert both["roc_auc"] == roc_auc_score([0, 1, 1], p)


def test_classification_scores_are_the_reports_and_agree_with_scikit_learn():
    assert report.brier_score is brier_score  # the report's name for older code
    y = np.array(["b", "a", "c", "c"])
    proba = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])
    scores = classification_scores(y, proba, ["a", "b", "c"])
    assert scores["n_rows"] == 4
    assert scores["accuracy"] == accuracy_score(y, ["b", "a", "c", "a"])
    assert scores["log_loss"] == pytest.approx(log_loss(y, proba, labels=["a", "b", "c"]))
    onehot = np.eye(3)[[1, 0, 2, 2]]
    assert scores["brier"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    # Two classes: the multiclass Brier score is twice the binary one.
    p1 = proba[:2, 1] / proba[:2, :2].sum(axis=1)
    two = np.column_stack([1 - p1, p1])
    binary = binary_metrics([1, 0], p1)["brier"]
    assert brier_score([1, 0], two, [0, 1]) == pytest.approx(2 * binary)
    assert binary == pytest.approx(brier_score_loss([1, 0], p1))


@pytest.mark.parametrize(
    "y, p, message",
    [
        ([0, 2], [0.1, 0.2], "0/1 labels"),
        ([0, 1], [0.1, 1.2], "probabilities"),
        ([0, 1], [0.1], "same length"),
    ],
)
def test_bad_input(y, p, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, p)


def test_paired_comparison_matches_scipy_without_correction():
    rng = np.random.default_rng(0)
    a, b = rng.random(5), rng.random(5)
    result = paired_comparison(a, b)
    assert result["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    corrected = paired_comparison(a, b, test_fraction=0.25)
    assert corrected["p_value"] > result["p_value"]
    assert corrected["high"] - corrected["low"] == pytest.approx(
        (result["high"] - result["low"]) * np.sqrt((1 / 5 + 0.25) / (1 / 5))
    )
    with pytest.raises(ValueError, match="two folds"):
        paired_comparison([1.0], [0.0])
