"""Every class of bad input gets a clear ValueError or TypeError from our code."""

import numpy as np
import pytest

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_moe_classification(200, 3, 2, 3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    return MoEClassifier(2, n_init=1, random_state=0).fit(*data)


def with_value(X, value):
    X = X.copy()
    X[5, 1] = value
    return X


@pytest.mark.parametrize(
    "make_X, error, match",
    [
        (lambda X: with_value(X, np.nan), ValueError, "NaN"),
        (lambda X: with_value(X, np.inf), ValueError, "infinity"),
        (lambda X: X[:, 0], ValueError, "2D array"),
        (lambda X: X[:, :, None], ValueError, "dim 3"),
        (lambda X: X[:0], ValueError, "0 sample"),
        (lambda X: X[:, :0], ValueError, "0 feature"),
        (lambda X: X.astype(str).astype(object) + "cm", TypeError, "numbers"),
        (lambda X: X.astype(complex) + 1j, ValueError, "Complex"),
    ],
    ids=["nan", "inf", "1d", "3d", "no-rows", "no-features", "strings", "complex"],
)
def test_bad_X_in_fit(data, make_X, error, match):
    X, y = data
    bad = make_X(X)
    with pytest.raises(error, match=match):
        MoEClassifier(2).fit(bad, y[: len(bad)])


def test_non_numeric_dataframe_column_is_named(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(colour="red")
    with pytest.raises(TypeError, match=r"non-numeric feature columns \['colour'\]"):
        MoEClassifier(2).fit(frame, y)


@pytest.mark.parametrize(
    "make_y, error, match",
    [
        (lambda y: np.zeros_like(y), ValueError, "at least 2 classes"),
        (lambda y: y + 0.5, ValueError, "Unknown label type"),
        (lambda y: np.where(y == 0, np.nan, y), ValueError, "NaN"),
        (lambda y: y[:-3], ValueError, "inconsistent numbers of samples"),
        (lambda y: np.array([1, "a"] * 100, dtype=object), ValueError, "Unknown label type"),
        (lambda y: np.array(["a", 1] * 100, dtype=object), TypeError, "comparable"),
    ],
    ids=["single-class", "continuous", "nan", "length", "mixed-types", "mixed-types-str-first"],
)
def test_bad_y_in_fit(data, make_y, error, match):
    X, y = data
    with pytest.raises(error, match=match):
        MoEClassifier(2).fit(X, make_y(y))


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(10), "expected \\(200,\\)"),
        (-np.ones(200), "non-negative"),
        (np.full(200, np.nan), "NaN or infinite"),
        (np.zeros(200), "sums to zero"),
        (np.array(["a"] * 200), "numeric"),
    ],
    ids=["length", "negative", "nan", "all-zero", "strings"],
)
def test_bad_sample_weight(data, weights, match):
    X, y = data
    with pytest.raises((ValueError, TypeError), match=match):
        MoEClassifier(2).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_experts": 0}, ValueError, "n_experts == 0, must be >= 1"),
        ({"n_experts": 2.5}, TypeError, "n_experts must be an instance of"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"n_init": 0}, ValueError, "n_init"),
        ({"screen_rows": 1}, ValueError, "screen_rows == 1, must be >= 2"),
        ({"screen_rows": 5e4}, TypeError, "screen_rows must be an instance of"),
        ({"n_experts": 3, "screen_rows": 2}, ValueError, "screen_rows=2 is below n_experts=3"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"alpha": np.inf}, ValueError, "finite"),
        ({"init": "kmeans++"}, ValueError, "init must be one of"),
        ({"curvature": "newton"}, ValueError, "curvature must be one of"),
        ({"solver": "newton"}, ValueError, "solver must be one of"),
        ({"screen_solver": "em"}, ValueError, "screen_solver must be one of"),
        ({"screen_precision": "half"}, ValueError, "screen_precision must be one of"),
        ({"acceleration": "yes"}, TypeError, "acceleration must be True or False"),
        ({"polish": 1}, TypeError, "polish must be True or False"),
    ],
)
def test_bad_hyperparameters(data, params, error, match):
    with pytest.raises(error, match=match):
        MoEClassifier(**params).fit(*data)


def test_more_experts_than_rows():
    X, y, _ = make_moe_classification(5, 2, 2, 2, random_state=1)
    y[:2] = [0, 1]
    with pytest.raises(ValueError, match="n_experts=6 needs at least as many rows"):
        MoEClassifier(6).fit(X, y)


def test_bad_input_at_predict_time(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match="features"):
        fitted.predict_proba(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(with_value(X, np.nan))
    with pytest.raises(ValueError, match="labels not seen in fit"):
        fitted.loglik(X, np.where(y == 0, 7, y))
    with pytest.raises(ValueError, match="rows"):
        fitted.loglik(X, y[:-1])


def test_unfitted_model_says_so(data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MoEClassifier().predict(data[0])


@pytest.mark.parametrize(
    "make_codes, match",
    [
        (lambda y: y + 1, "integers in 0 .. 2"),  # the class 3 does not exist
        (lambda y: y - 1, "integers in 0 .. 2"),
        (lambda y: y + 0.5, "integers in 0 .. 2"),
        (lambda y: y.astype(str), "integers in 0 .. 2"),
        (lambda y: np.r_[y, 0], "one per row of X"),
    ],
)
def test_bad_class_codes_for_true_parameters(data, make_codes, match):
    X, y = data
    _, _, truth = make_moe_classification(200, 3, 2, 3, random_state=0)
    with pytest.raises(ValueError, match=match):
        truth.responsibilities(X, make_codes(y))
    # Integer-valued floats are codes too.
    np.testing.assert_array_equal(
        truth.responsibilities(X, y.astype(float)), truth.responsibilities(X, y)
    )
