"""Gates and experts on covariates of their own: the MM map, the fit, inference, files, the CLI."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moelogit import MoEClassifier, select_n_experts
from moelogit.datasets import make_moe_classification
from moelogit.engine import Strategy, fit_multistart
from moelogit.init import initial_theta
from moelogit.io import load_model, save_model
from moelogit.mm import BohningMM
from moelogit.model import Dims, Support, unpack
from moelogit.params import MoEParams
from moelogit.report import build_report
from moelogit.solver import maximize

from .conftest import random_problem
from .test_mm import assert_never_falls


def _random_support(rng, q) -> Support:
    gate, experts = rng.random((2, q)) < 0.5
    gate[0] = experts[0] = True
    return Support(gate, experts)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 1500),
    d=st.integers(0, 10),
    K=st.integers(1, 4),
    M=st.integers(2, 4),
    alpha=st.sampled_from([0.0, 1e-3]),
    curvature=st.sampled_from(["fixed", "expert"]),
    acceleration=st.booleans(),
)
def test_the_map_ascends_and_keeps_coefficients_outside_the_support_at_zero(
    seed, n, d, K, M, alpha, curvature, acceleration
):
    Z, y, w, dims, _ = random_problem(seed, n=n, d=d, K=K, M=M)
    support = _random_support(np.random.default_rng(seed), dims.q)
    theta = initial_theta(Z, y, w, dims, "random", seed, support)
    assert support.holds(*unpack(theta, dims))
    mm = BohningMM(Z, y, w, dims, alpha=alpha, curvature=curvature, support=support)
    result = maximize(mm, theta, max_iter=20, tol=0.0, acceleration=acceleration)
    assert_never_falls(np.concatenate([[mm.objective(theta)], result.trace]))
    assert support.holds(*unpack(result.theta, dims))


@pytest.mark.parametrize("curvature", ["fixed", "expert"])
@pytest.mark.parametrize("solver", ["lbfgs", "mm"])
def test_the_fit_ends_where_the_gradient_of_the_free_parameters_vanishes(curvature, solver):
    X, y, _ = make_moe_classification(3000, 4, 2, 3, random_state=1)
    Z = np.column_stack([np.ones(len(X)), X])
    weights = np.full(len(X), 1 / len(X))
    support = Support(np.array([1, 1, 1, 0, 0], bool), np.array([1, 0, 1, 1, 1], bool))
    dims = Dims(5, 2, 3)
    strategy = Strategy(n_init=4, solver=solver, tol=1e-12, max_iter=5000, polish=True)
    found = fit_multistart(
        Z, y, weights, dims, curvature=curvature, strategy=strategy,
        rng=np.random.RandomState(0), support=support,
    )  # fmt: skip
    mm = BohningMM(Z, y, weights, dims, support=support)
    _, gradient = mm.value_and_gradient(found.best.theta)
    free = support.free(mm.dims)
    assert np.all(gradient[~free] == 0) and np.all(found.best.theta[~free] == 0)
    assert np.max(np.abs(gradient[free])) < 1e-7


@pytest.fixture(scope="module")
def frame():
    X, y, _ = make_moe_classification(2000, 3, 2, 3, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c"]), y


@pytest.mark.parametrize(
    ("gate_features", "expert_features", "n_params"),
    [
        (["a"], ["b", "c"], 2 * 1 + 2 * 3 * 2),  # (1 + 1)(K - 1) + K (1 + 2)(M - 1)
        ([], None, 1 + 2 * 4 * 2),
        (None, [], 4 + 2 * 1 * 2),
        ([0, 2], [1], 3 + 2 * 2 * 2),
    ],
)
def test_slopes_outside_the_chosen_features_are_zero_and_not_counted(
    frame, gate_features, expert_features, n_params
):
    X, y = frame
    model = MoEClassifier(
        2, gate_features=gate_features, expert_features=expert_features, n_init=4, random_state=0
    ).fit(X, y)
    assert np.all(model.gate_coef_[:, ~model.gate_support_] == 0)
    assert np.all(model.expert_coef_[:, :, ~model.expert_support_] == 0)
    assert np.any(model.gate_coef_[:, model.gate_support_] != 0) or not model.gate_support_.any()
    assert model.n_parameters() == n_params
    assert len(model.summary(X, y).table) == n_params
    # The same model on the same data as all features: lower (or equal) likelihood.
    full = MoEClassifier(2, n_init=4, random_state=0).fit(X, y)
    assert model.objective_ <= full.objective_ + 1e-9


def test_every_feature_named_is_the_default(frame):
    X, y = frame
    default = MoEClassifier(2, n_init=3, random_state=0).fit(X, y)
    named = MoEClassifier(
        2, gate_features=["a", "b", "c"], expert_features=[0, 1, 2], n_init=3, random_state=0
    ).fit(X, y)
    assert named.objective_ == default.objective_
    np.testing.assert_array_equal(named.gate_coef_, default.gate_coef_)


def test_a_constant_gate_is_a_mixture_with_constant_weights(frame):
    X, y = frame
    model = MoEClassifier(2, gate_features=[], n_init=5, random_state=0).fit(X, y)
    weights = model.gate_proba(X)
    np.testing.assert_allclose(weights, np.broadcast_to(weights[0], weights.shape))
    # Its experts start apart (a start from one partition for all would leave them equal).
    assert not np.allclose(model.expert_coef_[0], model.expert_coef_[1], atol=0.1)


def test_intercept_only_experts_are_constant_class_distributions(frame):
    X, y = frame
    model = MoEClassifier(2, expert_features=[], n_init=5, random_state=0).fit(X, y)
    experts = model.params_.expert_proba(X.to_numpy())
    np.testing.assert_allclose(experts, np.broadcast_to(experts[0], experts.shape))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"gate_features": ["zz"]}, ValueError, "'zz' is not a column of X"),
        ({"gate_features": [3]}, ValueError, "out of range"),
        ({"expert_features": ["a", "a"]}, ValueError, "twice"),
        ({"gate_features": "a"}, TypeError, "list of column indices or names"),
        ({"gate_features": [1.5]}, TypeError, "column indices or names"),
        ({"gate_features": [True]}, TypeError, "column indices or names"),
    ],
)
def test_bad_feature_choices_are_refused(frame, options, error, match):
    X, y = frame
    with pytest.raises(error, match=match):
        MoEClassifier(2, n_init=2, **options).fit(X, y)


def test_names_need_a_dataframe(frame):
    X, y = frame
    with pytest.raises(ValueError, match="X has no column names"):
        MoEClassifier(2, gate_features=["a"], n_init=2).fit(X.to_numpy(), y)


def test_a_warm_start_with_slopes_outside_is_refused(frame):
    X, y = frame
    start = MoEClassifier(2, n_init=2, random_state=0).fit(X, y).params_
    with pytest.raises(ValueError, match="outside gate_features or expert_features"):
        MoEClassifier(2, gate_features=["a"], init=start).fit(X, y)
    zeroed = MoEParams(
        start.gate_coef * [1, 0, 0], start.gate_intercept, start.expert_coef, start.expert_intercept
    )
    MoEClassifier(2, gate_features=["a"], init=zeroed).fit(X, y)


def test_the_model_file_keeps_the_choice(frame, tmp_path):
    X, y = frame
    model = MoEClassifier(2, gate_features=["a"], expert_features=[1, 2], n_init=3).fit(X, y)
    save_model(model, tmp_path / "model.zip")
    loaded = load_model(tmp_path / "model.zip")
    assert loaded.get_params()["gate_features"] == ["a"]
    assert loaded.get_params()["expert_features"] == [1, 2]
    np.testing.assert_array_equal(loaded.gate_support_, model.gate_support_)
    assert loaded.n_parameters() == model.n_parameters()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_report_shows_only_the_features_used(frame):
    X, y = frame
    model = MoEClassifier(2, gate_features=["a"], n_init=3, random_state=0).fit(X, y)
    html = build_report(model)
    assert "The gate uses 1 of the 3 features and the experts 3" in html


@pytest.mark.parametrize("method", ["dsc", "bic"])
def test_selection_carries_the_choice(frame, method):
    X, y = frame
    template = MoEClassifier(gate_features=[], n_init=3, random_state=0)
    result = select_n_experts(X, y, 3, method, estimator=template)
    for fitted in result.models_:
        assert not fitted.gate_support_.any()
        assert np.all(fitted.gate_coef_ == 0)
    if method == "bic":  # the criterion counts only the estimated parameters
        n = len(y)
        expected = [-2 * n * m.loglik(X, y) + np.log(n) * m.n_parameters() for m in result.models_]
        np.testing.assert_allclose(result.criterion_, expected)
