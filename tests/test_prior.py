"""Class priors (issue 25): the prior-shift correction, the EM estimate, and the estimator's use."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.io import ModelFileError, load_model, save_model
from moelogit.prior import (
    binary_log_proba,
    bootstrap_prior,
    check_prior,
    em_prior,
    shift_log_proba,
)


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_moe_classification(600, n_features=2, n_experts=2, n_classes=3, random_state=4)
    labels = np.array(["a", "b", "c"], dtype=object)[y]
    return pd.DataFrame(X, columns=["u", "v"]), labels


@pytest.fixture(scope="module")
def fitted(data):
    return MoEClassifier(2, n_init=2, random_state=0).fit(*data)


# -- the pure functions -------------------------------------------------------------------


def _bayes(proba, new, old):
    """The correction written out: p(m|x) new_m / old_m, divided by its sum over m."""
    unnormalised = proba * np.asarray(new) / np.asarray(old)
    return unnormalised / unnormalised.sum(axis=1, keepdims=True)


def test_shift_matches_a_direct_bayes_computation():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=50)
    old, new = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    shifted = np.exp(shift_log_proba(np.log(proba), new, old))
    np.testing.assert_allclose(shifted, _bayes(proba, new, old), rtol=1e-12)
    np.testing.assert_allclose(shifted.sum(axis=1), 1.0, rtol=1e-14)
    # Binary: the odds change by the prior odds ratio.
    p = rng.random(20)
    corrected = np.exp(shift_log_proba(binary_log_proba(p), [0.9, 0.1], [0.5, 0.5])[:, 1])
    np.testing.assert_allclose(logit(corrected), logit(p) + logit(0.1), rtol=1e-10, atol=1e-12)


def test_shift_stays_accurate_far_in_the_tails():
    log_proba = np.array([[-800.0, 0.0], [0.0, -800.0]])  # exp underflows
    shifted = shift_log_proba(log_proba, [0.99, 0.01], [0.5, 0.5])
    assert np.all(np.isfinite(shifted))
    np.testing.assert_allclose(shifted[0, 0], -800.0 + np.log(99), rtol=1e-12)


def test_shift_to_a_then_b_equals_shift_to_b():
    rng = np.random.default_rng(1)
    log_proba = np.log(rng.dirichlet(np.ones(3), size=30))
    old, a, b = (rng.dirichlet(np.ones(3)) for _ in range(3))
    via_a = shift_log_proba(shift_log_proba(log_proba, a, old), b, a)
    np.testing.assert_allclose(via_a, shift_log_proba(log_proba, b, old), atol=1e-12)


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ([0.5, 0.5], r"shape \(2,\), expected \(3,\)"),
        ([0.5, 0.6, -0.1], "positive numbers"),
        ([0.5, 0.5, 0.0], "positive numbers"),
        ([0.2, 0.2, np.nan], "positive numbers"),
        ([0.2, 0.2, 0.2], "must sum to one"),
        ([1 / 3, 1 / 3, 1 / 3 + 1e-7], "must sum to one"),
        ({"a": 0.2, "b": 0.3, "z": 0.5}, r"not classes of the model: \['z'\]"),
        ({"a": 0.5, "b": 0.5}, r"no prior for the classes \['c'\]"),
        (["x", "y", "z"], "must hold numbers"),
    ],
)
def test_bad_priors_are_clear_errors(prior, message):
    with pytest.raises(ValueError, match=message):
        check_prior(prior, np.array(["a", "b", "c"]))


def test_priors_are_taken_as_given():
    classes = np.array([0, 1, 2])
    np.testing.assert_array_equal(check_prior([0.2, 0.3, 0.5], classes), [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(check_prior({2: 0.5, 0: 0.2, 1: 0.3}, classes), [0.2, 0.3, 0.5])
    within = check_prior([1 / 3, 1 / 3, 1 / 3 + 1e-9], classes)  # within 1e-8: not renormalised
    assert within[2] == 1 / 3 + 1e-9


def _screen(n, prevalence, rng):
    """Scores of a calibrated model trained at prevalence 0.5 on candidates at ``prevalence``.

    x | interacting ~ N(1, 1) and x | not ~ N(-1, 1), so the model's
    p(1 | x) at prevalence 0.5 is expit(2 x), exactly.
    """
    labels = rng.random(n) < prevalence
    x = rng.normal(np.where(labels, 1.0, -1.0), 1.0)
    return expit(2 * x), labels, x


def test_em_recovers_a_known_prevalence():
    rng = np.random.default_rng(2)
    proba, _, x = _screen(20_000, 0.1, rng)
    prior, n_iter, converged = em_prior(binary_log_proba(proba), [0.5, 0.5])
    assert converged and n_iter < 1000
    assert prior[1] == pytest.approx(0.1, abs=0.01)
    np.testing.assert_allclose(prior.sum(), 1.0)
    # The EM's fixed point: the mean of the posteriors corrected to it is itself.
    corrected = np.exp(shift_log_proba(binary_log_proba(proba), prior, [0.5, 0.5]))
    np.testing.assert_allclose(corrected.mean(axis=0), prior, atol=1e-7)
    # Corrected to the truth, the probabilities are the posteriors at prevalence 0.1.
    truth = np.exp(shift_log_proba(binary_log_proba(proba), [0.9, 0.1], [0.5, 0.5]))[:, 1]
    np.testing.assert_allclose(truth, expit(2 * x + logit(0.1)), rtol=1e-9)


def test_bootstrap_interval_covers_the_truth_and_is_seeded():
    rng = np.random.default_rng(3)
    log_proba = binary_log_proba(_screen(3000, 0.1, rng)[0])
    estimate = bootstrap_prior(log_proba, [0.5, 0.5], n_boot=200, random_state=7)
    assert estimate.low[1] < 0.1 < estimate.high[1]
    assert estimate.low[1] < estimate.prior[1] < estimate.high[1]
    assert estimate.high[1] - estimate.low[1] < 0.06 and estimate.n_boot == 200
    again = bootstrap_prior(log_proba, [0.5, 0.5], n_boot=200, random_state=7)
    np.testing.assert_array_equal(again.low, estimate.low)
    alone = bootstrap_prior(log_proba, [0.5, 0.5], n_boot=0)
    np.testing.assert_array_equal(alone.prior, estimate.prior)
    assert np.all(np.isnan(alone.low))


def test_bootstrap_replicates_run_side_by_side_as_each_would_alone(monkeypatch):
    from moelogit import prior

    rng = np.random.default_rng(5)
    # Weak scores: the EM of most resamples is still moving at max_iter, some converge.
    log_proba = binary_log_proba(rng.uniform(0.42, 0.56, 40))
    seeds = np.random.default_rng(1)  # bootstrap_prior's resamples with random_state=1
    resamples = np.array([seeds.integers(0, 40, 40) for _ in range(30)])
    alone = [em_prior(log_proba[rows], [0.5, 0.5], max_iter=300) for rows in resamples]
    assert {converged for _, _, converged in alone} == {True, False}
    monkeypatch.setattr(prior, "BOOTSTRAP_BATCH_ENTRIES", 7 * log_proba.size)  # 5 batches
    side_by_side = prior._em_priors(log_proba[resamples], np.array([0.5, 0.5]), 1e-8, 300)
    np.testing.assert_allclose(side_by_side, [p for p, _, _ in alone], rtol=1e-10, atol=1e-14)
    estimate = bootstrap_prior(log_proba, [0.5, 0.5], n_boot=30, random_state=1, max_iter=300)
    low, high = np.quantile([p for p, _, _ in alone], [0.025, 0.975], axis=0)
    np.testing.assert_allclose([estimate.low, estimate.high], [low, high], rtol=1e-10)


def test_the_estimate_needs_two_rows():
    with pytest.raises(ValueError, match="at least 2 rows, got 1"):
        bootstrap_prior(binary_log_proba([0.3]), [0.5, 0.5])


# -- the estimator --------------------------------------------------------------------------


def test_the_training_prior_is_recorded(data, fitted):
    X, y = data
    np.testing.assert_allclose(
        fitted.class_prior_, [np.mean(y == c) for c in fitted.classes_], rtol=1e-12
    )
    weights = np.where(y == "a", 3.0, 1.0)
    weighted = MoEClassifier(1, random_state=0).fit(X, y, sample_weight=weights)
    expected = np.array([np.sum(weights[y == c]) for c in "abc"]) / weights.sum()
    np.testing.assert_allclose(weighted.class_prior_, expected, rtol=1e-12)


def test_selection_levels_carry_the_prior(data):
    selected = MoEClassifier("dsc", max_experts=3, n_init=2, random_state=0).fit(*data)
    for level in selected.selection_.models_:
        np.testing.assert_array_equal(level.class_prior_, selected.class_prior_)


def test_the_estimator_corrects_to_a_class_prior(data, fitted):
    X = data[0]
    proba = fitted.predict_proba(X)
    new = np.array([0.1, 0.2, 0.7])
    corrected = fitted.predict_proba(X, class_prior=new)
    np.testing.assert_allclose(corrected, _bayes(proba, new, fitted.class_prior_), rtol=1e-12)
    as_dict = fitted.predict_proba(X, class_prior={"c": 0.7, "a": 0.1, "b": 0.2})
    np.testing.assert_array_equal(as_dict, corrected)
    np.testing.assert_allclose(
        fitted.predict_log_proba(X, class_prior=new), np.log(corrected), atol=1e-12
    )
    np.testing.assert_array_equal(
        fitted.predict(X, class_prior=new), fitted.classes_[corrected.argmax(axis=1)]
    )
    # The training prior itself changes nothing.
    unchanged = fitted.predict_proba(X, class_prior=fitted.class_prior_)
    np.testing.assert_allclose(unchanged, proba, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="must sum to one"):
        fitted.predict_proba(X, class_prior=[0.1, 0.2, 0.6])


def rewrite_metadata(source, target, change):
    """A copy of the model file ``source`` at ``target``, ``change`` applied to its metadata."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    change(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _without_prior(source, target):
    """A copy of a model file as moelogit wrote it before it recorded the class prior."""
    rewrite_metadata(source, target, lambda metadata: metadata["fitted"].pop("class_prior_"))


def test_older_model_files_load_without_a_prior(data, fitted, tmp_path):
    X = data[0]
    save_model(fitted, tmp_path / "model.zip")
    loaded = load_model(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.class_prior_, fitted.class_prior_)
    _without_prior(tmp_path / "model.zip", tmp_path / "old.zip")
    old = load_model(tmp_path / "old.zip")
    assert old.class_prior_ is None and old.training_facts_.class_prior is None
    np.testing.assert_array_equal(old.predict_proba(X), fitted.predict_proba(X))
    with pytest.raises(ValueError, match="written before moelogit recorded it.*refit"):
        old.predict_proba(X, class_prior=[0.1, 0.2, 0.7])
    old.class_prior_ = fitted.class_prior_  # the way out the message names
    np.testing.assert_array_equal(
        old.predict_proba(X, class_prior=[0.1, 0.2, 0.7]),
        fitted.predict_proba(X, class_prior=[0.1, 0.2, 0.7]),
    )


@pytest.mark.parametrize("stored", [[0.5, 0.5], [0.5, 0.6, -0.1], "half", [0.2, 0.2, 0.2]])
def test_a_damaged_recorded_prior_is_corruption(fitted, tmp_path, stored):
    save_model(fitted, tmp_path / "model.zip")
    rewrite_metadata(
        tmp_path / "model.zip",
        tmp_path / "bad.zip",
        lambda metadata: metadata["fitted"].update(class_prior_=stored),
    )
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(tmp_path / "bad.zip")


def test_a_class_without_training_weight_cannot_be_corrected(data):
    X, y = data
    weights = np.where(y == "c", 0.0, 1.0)
    model = MoEClassifier(1, random_state=0).fit(X, y, sample_weight=weights)
    assert model.class_prior_[2] == 0.0
    with pytest.raises(ValueError, match=r"\['c'\] carried no weight"):
        model.predict_proba(X, class_prior=[0.2, 0.3, 0.5])
