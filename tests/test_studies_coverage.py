"""The coverage study: truths expressed in a fit's terms, and its command end to end."""

import numpy as np
import pandas as pd
import pytest

from moelogit import MoEClassifier
from moelogit.params import MoEParams
from studies.coverage.coverage import Config, free_parameters, matched_target, truth


def test_free_parameters_are_labelled_as_the_summary_labels_them():
    params = truth(3)
    X = np.random.default_rng(0).normal(size=(3000, 2))
    y = params.sample_labels(X, 0)
    model = MoEClassifier(3, init=params, n_init=1, random_state=0).fit(X, y)
    table = model.summary(X, y).table
    assert set(free_parameters(model.params_)) == set(table.index)
    np.testing.assert_allclose(
        pd.Series(free_parameters(model.params_)).reindex(table.index), table["coef"], rtol=1e-10
    )


def test_the_truth_is_matched_whatever_the_order_of_its_experts():
    params = truth(3)
    order = [2, 0, 1]
    shuffled = MoEParams(
        params.gate_coef[order], params.gate_intercept[order],
        params.expert_coef[order], params.expert_intercept[order],
    )  # fmt: skip
    estimates = pd.Series(free_parameters(params))
    matched = matched_target(shuffled, estimates)
    np.testing.assert_allclose(matched.to_numpy(), estimates.to_numpy(), atol=1e-12)


def test_config_names():
    assert Config(2, 2000, True).name == "K=2 n=2000 misspecified"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quick_coverage_study_writes_runs_and_summary(run_studies, tmp_path):
    done = run_studies("coverage", "--quick", "--n-jobs", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "summary.csv")
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(summary["kind"]) >= {"observed", "sandwich", "delta", "refused"}
    assert summary["coverage"].between(0, 1).all() and (summary["low"] <= summary["high"]).all()
    assert runs["replicate"].nunique() == 3 and runs["config"].nunique() == 2
    assert "Wrote runs.csv and summary.csv" in done.stdout


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_k3_diagnosis_keeps_every_fit_and_matching_and_summarises(tmp_path):
    from studies.coverage import k3_diagnosis as diagnosis

    frame = diagnosis.run_diagnosis({600: 1}, n_jobs=1, starts=1, out=tmp_path / "rows.csv.gz")
    again = diagnosis.tidy([pd.read_csv(tmp_path / "rows.csv.gz")])  # as --summarise reads it
    assert list(again.columns) == list(frame.columns) and len(again) == len(frame)
    assert again["refused"].dtype == bool
    assert not frame["refused"].any()
    per_fit = frame.groupby(["replicate", "fit"]).size()
    assert (per_fit == 6 + 9 + diagnosis.TEST_POINTS).all()  # gate, experts, points
    # The wider search ends at least as high as the study's fit.
    assert (frame["gain"] > -1e-9).all()
    coverage = diagnosis.coverage_by_matching(frame)
    assert (coverage["most covered"] >= coverage.drop(columns="most covered").max(axis=1)).all()
    rows = frame[(frame["fit"] == "study") & (frame["block"] != diagnosis.PROBABILITY_BLOCK)]
    for _, one in rows.groupby("replicate"):
        index = pd.MultiIndex.from_frame(one[["block", "level", "term"]])
        estimates = pd.Series(one["estimate"].to_numpy(), index=index)
        matched = matched_target(truth(3), estimates)
        np.testing.assert_allclose(matched.to_numpy(), one["target coefficients"], atol=1e-12)
    report = diagnosis.report(again)
    assert "z-scores at n = 600" in report and "Optima" in report and "beyond 10" in report
    # Retargeting to the truth itself reproduces the standardised matching's targets.
    from studies.coverage.k3_pseudo_truth import retarget

    retargeted = retarget(again, truth(3))
    np.testing.assert_allclose(
        retargeted["target standardised"], again["target standardised"], rtol=1e-5
    )


def test_parameters_are_rebuilt_from_their_free_parameters():
    from studies.coverage.k3_pseudo_truth import params_from_free

    values = pd.Series(free_parameters(truth(3)))
    rebuilt = params_from_free(values)
    np.testing.assert_allclose(pd.Series(free_parameters(rebuilt))[values.index], values)
    X = np.random.default_rng(0).normal(size=(20, 2))
    np.testing.assert_allclose(rebuilt.class_proba(X), truth(3).class_proba(X), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_k3_diagnosis_under_foreign_labels_aims_at_the_pseudo_truth(monkeypatch):
    from studies.coverage import coverage
    from studies.coverage import k3_diagnosis as diagnosis

    monkeypatch.setattr(coverage, "PSEUDO_TRUE_ROWS", 5000)
    frame = diagnosis.run_diagnosis({600: 1}, n_jobs=1, starts=0, misspecified=True)
    target = coverage.pseudo_truth(Config(3, 600, True), truth(3))
    points = frame[frame["block"] == diagnosis.PROBABILITY_BLOCK]
    expected = np.tile(target.class_proba(diagnosis.test_points())[:, 0], 3)
    np.testing.assert_allclose(1 / (1 + np.exp(-points["target standardised"])), expected)
