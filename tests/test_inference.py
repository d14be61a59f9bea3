"""Standard errors, the sandwich, coefficient tables: against finite differences and flexmix."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from moelogit import MoEClassifier
from moelogit.bootstrap import parametric_bootstrap
from moelogit.datasets import make_moe_classification
from moelogit.inference import parameter_covariance
from moelogit.model import ridge_penalty
from moelogit.params import MoEParams


def _params_from(vector: np.ndarray, index: pd.MultiIndex, model: MoEClassifier) -> MoEParams:
    """The user-scale parameters whose free entries, labelled by ``index``, are ``vector``."""
    K, M, d = model.n_experts_, model.classes_.size, model.n_features_in_
    terms = ["intercept", *[f"x{j}" for j in range(d)]]
    gate = np.zeros((K, 1 + d))
    experts = np.zeros((K, M, 1 + d))
    for value, (block, level, term) in zip(vector, index):
        column = terms.index(term)
        if block == "gate":
            gate[int(level.split()[1]) - 1, column] = value
        else:
            klass = list(map(str, model.classes_)).index(level)
            experts[int(block.split()[1]) - 1, klass, column] = value
    return MoEParams(gate[:, 1:], gate[:, 0], experts[:, :, 1:], experts[:, :, 0])


def _total_objective(vector, index, model, X, codes):
    """The penalised total log-likelihood, the ridge on the standardised scale as fitted."""
    params = _params_from(vector, index, model)
    log_proba = params.log_class_proba(X)
    design = params.to_design(model.feature_mean_, model.feature_scale_)
    penalty = X.shape[0] * ridge_penalty(*design, model.alpha)
    return float(log_proba[np.arange(X.shape[0]), codes].sum()) - penalty


@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(
    seed=st.integers(0, 2**16),
    K=st.integers(2, 3),
    M=st.integers(2, 3),
    shift=st.floats(-3.0, 3.0),
    spread=st.floats(0.2, 5.0),
    gate_features=st.sampled_from([None, [0], []]),
    expert_features=st.sampled_from([None, [1], []]),
)
# Plain differences at 1e-4 were 1.7e-4 off here (a weak, far from quadratic direction).
@example(seed=178, K=2, M=2, shift=-0.4007819610735215, spread=0.99999,
         gate_features=[], expert_features=[1])  # fmt: skip
def test_standard_errors_match_a_finite_difference_hessian(
    seed, K, M, shift, spread, gate_features, expert_features
):
    # On the user's scale (shifted, scaled features): the standardisation's map is checked
    # too, and so are gates and experts on features of their own. A ridge keeps a small
    # expert's slopes finite (near-separation).
    X, y, _ = make_moe_classification(2000, 2, K, M, random_state=seed)
    X = X * spread + shift
    model = MoEClassifier(
        K, gate_features=gate_features, expert_features=expert_features, alpha=1e-3,
        n_init=3, random_state=0,
    ).fit(X, y)  # fmt: skip
    try:
        estimates, covariance = model._estimates_and_covariance(X, y, None, False)
    except ValueError:  # an expert emptied by the fit: refused (tested below), no reference
        assume(False)
    codes = np.searchsorted(model.classes_, y)
    theta, index = estimates.to_numpy(), estimates.index
    # The table's estimates are the model's own parameters.
    fitted = len(y) * model.objective_
    assert _total_objective(theta, index, model, X, codes) == pytest.approx(fitted, rel=1e-9)
    # Where an expert is nearly separated the likelihood is far from quadratic
    # within any useful step (standard errors in the hundreds): finite
    # differences are then no reference, so those fits are left out.
    assume(np.all(np.diag(covariance) < 10.0**2))
    # Differences along the columns of a square root of our covariance, where
    # the Hessian is near minus the identity and well conditioned whatever the
    # features' scales; steps of 1e-4 and 2e-4 standard errors, extrapolated
    # (Richardson) to cancel the h^2 error: it reached 16,000 h^2 in a weak
    # direction of a near-separated expert (seed 178, K = M = 2, a constant
    # gate), while rounding stays near 1e-5.
    root = np.linalg.cholesky(covariance)
    P = theta.size

    def differenced(h):
        hessian = np.empty((P, P))
        for i in range(P):
            for j in range(i, P):
                def at(si, sj):
                    point = theta + h * (si * root[:, i] + sj * root[:, j])
                    return _total_objective(point, index, model, X, codes)

                second = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)
                hessian[i, j] = hessian[j, i] = second
        return hessian

    hessian = (4 * differenced(1e-4) - differenced(2e-4)) / 3
    numeric_se = np.sqrt(np.diag(root @ np.linalg.inv(-hessian) @ root.T))
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), numeric_se, rtol=1e-4)


@pytest.fixture(scope="module")
def fitted():
    X, y, _ = make_moe_classification(1500, 2, 2, 3, random_state=3)
    return MoEClassifier(2, random_state=0).fit(X, y), X, y


def test_summary_table_is_consistent(fitted):
    model, X, y = fitted
    summary = model.summary(X, y, level=0.9)
    table = summary.table
    assert len(table) == model.n_parameters()
    np.testing.assert_allclose(table["z"], table["coef"] / table["std err"])
    np.testing.assert_allclose(table["[0.05"], table["coef"] - 1.6448536269 * table["std err"])
    assert np.all((table["P>|z|"] > 0) & (table["P>|z|"] <= 1))
    # The reference expert and class have no rows; the gate has K - 1 experts.
    assert set(table.index.get_level_values("block")) == {"gate", "expert 1", "expert 2"}
    assert set(table.loc["gate"].index.get_level_values("level")) == {"expert 1"}
    assert str(model.classes_[-1]) not in set(table.loc["expert 1"].index.get_level_values("level"))
    assert summary.info["Log-likelihood"] == pytest.approx(len(y) * model.loglik(X, y))
    text = str(summary)
    assert "gate" in text and "std err" in text and "observed information" in text
    # The table's slopes are the fitted model's: gate of expert 1 against expert 2.
    assert table.loc[("gate", "expert 1", "x0"), "coef"] == pytest.approx(
        model.gate_coef_[0, 0] - model.gate_coef_[1, 0]
    )


def test_covariance_is_symmetric_and_labelled(fitted):
    model, X, y = fitted
    for robust in (False, True):
        covariance = model.covariance(X, y, robust=robust)
        assert covariance.index.equals(covariance.columns)
        np.testing.assert_allclose(covariance, covariance.T, rtol=1e-10, atol=1e-14)
        assert np.all(np.linalg.eigvalsh(covariance) > 0)


def test_frequency_weights_equal_repeated_rows(fitted):
    model, X, y = fitted
    twice = model.covariance(np.vstack([X, X]), np.concatenate([y, y]), robust=True)
    weighted = model.covariance(X, y, np.full(len(y), 2.0), robust=True)
    np.testing.assert_allclose(weighted, twice, rtol=1e-8, atol=1e-14)
    # Twice the rows, half the variance.
    halved = model.covariance(X, y, np.full(len(y), 2.0))
    np.testing.assert_allclose(halved, model.covariance(X, y) / 2, rtol=1e-10, atol=1e-14)


def test_sandwich_is_the_observed_covariance_when_the_model_is_right():
    # Well specified and large: the two estimates agree to sampling error.
    X, y, _ = make_moe_classification(20_000, 2, 2, 2, random_state=5)
    model = MoEClassifier(2, random_state=0).fit(X, y)
    observed = np.sqrt(np.diag(model.covariance(X, y)))
    robust = np.sqrt(np.diag(model.covariance(X, y, robust=True)))
    np.testing.assert_allclose(robust, observed, rtol=0.1)


def test_a_rescaled_feature_rescales_its_standard_errors(fitted):
    model, X, y = fitted
    scaled = X * np.array([10.0, 1.0])
    refit = MoEClassifier(2, random_state=0).fit(scaled, y)
    se, se_scaled = model.summary(X, y).table["std err"], refit.summary(scaled, y).table["std err"]
    slopes = se.index.get_level_values("term") == "x0"
    np.testing.assert_allclose(se_scaled[slopes], se[slopes] / 10.0, rtol=1e-3)
    np.testing.assert_allclose(se_scaled[~slopes], se[~slopes], rtol=1e-3)


def test_summary_before_fit_and_on_other_data_are_refused(fitted):
    model, X, y = fitted
    with pytest.raises(NotFittedError):
        MoEClassifier(2).summary(X, y)
    constant = X.copy()
    constant[:, 1] = 1.0
    with pytest.raises(ValueError, match="fitted on"):
        model.summary(constant, y)
    with pytest.raises(ValueError, match="rows"):
        model.summary(X, y[:-1])
    with pytest.raises(ValueError, match="level"):
        model.summary(X, y, level=1.5)


def test_unconverged_fit_warns(fitted):
    _, X, y = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        short = MoEClassifier(2, max_iter=2, n_init=1, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        try:
            short.summary(X, y)
        except ValueError:  # so short a fit may not be at a maximum at all
            pass


def test_a_saddle_is_refused_naming_the_block():
    # Two identical experts: the gate is not identified, the information singular.
    X, y, _ = make_moe_classification(400, 2, 1, 2, random_state=0)
    Z = np.column_stack([np.ones(len(y)), X])
    codes = np.searchsorted(np.unique(y), y)
    gate = np.zeros((3, 1))
    experts = np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match="not positive definite in the gate"):
        parameter_covariance(Z, codes, np.ones(len(y)), gate, experts)


@pytest.mark.parametrize(
    ("gate_features", "expert_features", "n_params"),
    [(None, None, 9), ([0], [1], 6), ([], None, 7), (None, [], 5)],
    ids=["all", "separate", "constant-gate", "intercept-experts"],
)
def test_standard_errors_equal_flexmix_refit(gate_features, expert_features, n_params):
    from benchmarks.peers.flexmix import flexmix_available
    from studies.coverage.flexmix_comparison import comparison

    available, why = flexmix_available()
    if not available:
        pytest.skip(f"flexmix not available: {why}")
    table, ours, theirs = comparison(gate_features=gate_features, expert_features=expert_features)
    # Both at the same optimum (flexmix's EM stops at its tolerance) ...
    assert theirs == pytest.approx(ours, abs=1e-6)
    # ... where, references swapped (two classes, two experts), every estimate
    # changes sign and every standard error agrees within 1%.
    np.testing.assert_allclose(table["flexmix coef"], -table["moelogit coef"], rtol=0.01, atol=1e-3)
    np.testing.assert_allclose(table["se ratio"], 1.0, rtol=0.01)
    assert len(table) == n_params


def test_probability_intervals_hold_the_estimate_and_widen_with_the_level(fitted):
    model, X, y = fitted
    covariance = model.covariance(X, y)
    proba = model.predict_proba(X[:50])
    low, high = model.predict_proba_interval(X[:50], covariance)
    assert np.all((0 < low) & (low <= proba) & (proba <= high) & (high < 1))
    wide_low, wide_high = model.predict_proba_interval(X[:50], covariance, level=0.99)
    assert np.all(wide_low <= low) and np.all(wide_high >= high)
    # Four times the rows, half the width (on the logit scale, exactly).
    quarter = covariance / 4
    q_low, q_high = model.predict_proba_interval(X[:50], quarter)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    # (Exact up to the rounding of probabilities near 1, whose logit loses digits.)
    np.testing.assert_allclose(
        logit(q_high) - logit(q_low), (logit(high) - logit(low)) / 2, rtol=1e-5
    )


@pytest.fixture(scope="module")
def fitted_apart():
    """A gate on the first feature and experts on the second (other data: on those of
    ``fitted`` such a model nearly separates a class, and its information is refused)."""
    X, y, _ = make_moe_classification(1500, 2, 2, 3, random_state=5)
    model = MoEClassifier(2, gate_features=[0], expert_features=[1], random_state=0).fit(X, y)
    return model, X, y


@pytest.mark.parametrize("which", ["fitted", "fitted_apart"])
def test_probability_intervals_match_a_finite_difference_delta_method(which, request):
    model, X, y = request.getfixturevalue(which)
    covariance = model.covariance(X, y)
    estimates = model._estimates_and_covariance(X, y, None, False)[0]
    theta, index = estimates.to_numpy(), estimates.index
    rows = X[:5]
    h = 1e-6

    def proba_at(point):
        return _params_from(point, index, model).class_proba(rows)

    jacobian = np.stack(
        [(proba_at(theta + h * e) - proba_at(theta - h * e)) / (2 * h) for e in np.eye(theta.size)],
        axis=2,
    )  # (n, M, P)
    se = np.sqrt(np.einsum("nmp,pr,nmr->nm", jacobian, covariance.to_numpy(), jacobian))
    proba = model.predict_proba(rows)
    low, high = model.predict_proba_interval(rows, covariance)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    expected_half = 1.959963985 * se / (proba * (1 - proba))
    np.testing.assert_allclose((logit(high) - logit(low)) / 2, expected_half, rtol=1e-5)


def test_probability_intervals_refuse_another_models_covariance(fitted):
    model, X, y = fitted
    other = MoEClassifier(1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not this model's"):
        model.predict_proba_interval(X, other.covariance(X, y))


def test_probability_intervals_stay_finite_where_a_probability_rounds_to_one():
    from moelogit.inference import proba_intervals

    proba = np.array([[1.0, 0.0], [0.3, 0.7]])
    gradients = np.full((2, 2, 3), 2.0)  # variance left at 0 and 1: an infinite logit interval
    low, high = proba_intervals(proba, gradients, np.eye(3), 0.95)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    assert np.all((0 <= low) & (low <= proba + 1e-15) & (proba - 1e-15 <= high) & (high <= 1))


@pytest.fixture(scope="module")
def bootstrapped():
    X, y, _ = make_moe_classification(2000, 2, 2, 2, random_state=11)
    model = MoEClassifier(2, n_init=5, random_state=0).fit(X, y)
    return model, X, y, parametric_bootstrap(model, X, n_boot=60, random_state=0, n_jobs=2)


def test_bootstrap_standard_errors_are_near_the_wald_ones(bootstrapped):
    model, X, y, boot = bootstrapped
    wald = model.summary(X, y).table
    assert boot.estimates.columns.equals(wald.index)
    # Experts: near-quadratic likelihoods, where the middle of the refits' spread
    # agrees with the Wald errors (their tails are heavier: at n = 2,000 the
    # standard deviations were 1.0-1.9 times the Wald errors, the interquartile
    # ranges 0.97-1.2 times; docs/guide/inference.md) ...
    experts = wald.index.get_level_values("block") != "gate"
    spread = (boot.estimates.quantile(0.75) - boot.estimates.quantile(0.25)) / 1.349
    ratio = spread[experts] / wald["std err"][experts]
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    assert np.all(boot.standard_errors() >= 0.9 * spread)
    # ... and the refits are matched to the fit's experts: centred on its estimates.
    centre = boot.estimates.median()
    assert np.all(np.abs(centre - wald["coef"]) < 1.0 * wald["std err"])
    intervals = boot.intervals(0.9)
    assert np.all(intervals["low"] < intervals["high"])


def test_bootstrap_probability_intervals_hold_the_estimate(bootstrapped):
    model, X, _, boot = bootstrapped
    low, high = boot.predict_proba_interval(X[:40], level=0.95)
    proba = model.predict_proba(X[:40])
    assert np.all((0 <= low) & (low <= high) & (high <= 1))
    assert np.mean((low <= proba) & (proba <= high)) > 0.9
    wide_low, wide_high = boot.predict_proba_interval(X[:40], level=0.99)
    assert np.all(wide_low <= low) and np.all(wide_high >= high)


def test_bootstrap_is_reproducible_and_refuses_bad_input(bootstrapped):
    model, X, _, boot = bootstrapped
    again = parametric_bootstrap(model, X, n_boot=3, random_state=0)
    pd.testing.assert_frame_equal(again.estimates, boot.estimates.iloc[:3])
    with pytest.raises(ValueError, match="n_boot must be an integer >= 2"):
        parametric_bootstrap(model, X, n_boot=1)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        boot.intervals(1.5)
    with pytest.raises(NotFittedError):
        parametric_bootstrap(MoEClassifier(2), X, n_boot=3)
