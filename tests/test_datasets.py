import numpy as np
import pytest

from moelogit.datasets import make_moe_classification
from moelogit.params import MoEParams


def test_shapes_labels_and_reproducibility():
    X, y, truth = make_moe_classification(500, 4, 3, 5, random_state=0)
    assert X.shape == (500, 4) and y.shape == (500,)
    assert set(np.unique(y)) <= set(range(5))
    assert (truth.n_experts, truth.n_classes, truth.n_features) == (3, 5, 4)
    X2, y2, truth2 = make_moe_classification(500, 4, 3, 5, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(truth.gate_coef, truth2.gate_coef)


def test_labels_follow_the_true_probabilities():
    X, y, truth = make_moe_classification(200_000, 2, 2, 3, random_state=1)
    proba = truth.class_proba(X)
    # Frequencies match the mean probabilities to Monte Carlo accuracy.
    np.testing.assert_allclose(np.bincount(y, minlength=3) / y.size, proba.mean(axis=0), atol=5e-3)


def test_given_truth_is_used():
    truth = MoEParams(
        gate_coef=np.array([[4.0], [0.0]]),
        gate_intercept=np.zeros(2),
        expert_coef=np.array([[[5.0], [0.0]], [[-5.0], [0.0]]]),
        expert_intercept=np.zeros((2, 2)),
    )
    X, y, params = make_moe_classification(20_000, 1, params=truth, random_state=0)
    assert params is truth
    # For x > 0 the first expert dominates and prefers class 0.
    assert np.mean(y[X[:, 0] > 1] == 0) > 0.95


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_experts": 1.5}, "n_experts"),
        ({"coef_scale": -1.0}, "coef_scale"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_moe_classification(**kwargs)


def test_truth_with_other_feature_count_is_rejected():
    _, _, truth = make_moe_classification(10, 3, random_state=0)
    with pytest.raises(ValueError, match="3 features"):
        make_moe_classification(10, 2, params=truth)
