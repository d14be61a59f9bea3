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
