"""Calibration and comparison metrics on hand-computed cases."""

import numpy as np
import pytest
from scipy import stats

from moelogit.metrics import (
    binary_metrics,
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
