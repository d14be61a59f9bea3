"""The selection study: scenarios, runs files and their settings, its command."""

import json

import numpy as np
import pandas as pd
import pytest

from moelogit import MoEClassifier
from studies.cli import selection_study
from studies.selection import experiment
from studies.selection.experiment import run_settings


def test_selection_experiment_runs_the_scenarios_asked_for(monkeypatch):
    def fake_replicate(K0, n, replicate, scenario, contamination, estimator):
        return [{"scenario": scenario, "contamination": contamination, "replicate": replicate}]

    monkeypatch.setattr(experiment, "_replicate", fake_replicate)
    runs = experiment.run_selection_experiment(
        K0s=(2,), ns=(1000,), replicates=2, scenarios=("misspecified",), n_jobs=1, progress=False
    )
    assert set(runs["scenario"]) == {"misspecified"} and set(runs["contamination"]) == {0.1}
    both = experiment.run_selection_experiment(
        K0s=(2,), ns=(1000,), replicates=2, n_jobs=1, progress=False
    )
    assert both.groupby("scenario").size().to_dict() == {"misspecified": 2, "well-specified": 2}
    for bad in ((), ("noisy",), "misspecified"):
        with pytest.raises(ValueError, match="scenarios"):
            experiment.run_selection_experiment(scenarios=bad, progress=False)
    # The command line offers exactly these scenarios.
    (option,) = [p for p in selection_study.params if p.name == "scenarios"]
    assert tuple(option.type.choices) == experiment.SCENARIOS


def test_selection_experiment_refuses_to_append_to_other_runs(tmp_path, monkeypatch):
    def never(*args):
        raise AssertionError("nothing may be fitted")

    monkeypatch.setattr(experiment, "_replicate", never)
    options = {"K0s": (2,), "ns": (1000,), "replicates": 2, "n_jobs": 1, "progress": False}
    runs_path = tmp_path / "runs.csv"
    old = "scenario,K0,n,replicate,method,selected,seconds\n"
    runs_path.write_text(old)
    with pytest.raises(ValueError, match="written by an earlier version"):
        experiment.run_selection_experiment(runs_path=runs_path, first_replicate=2, **options)
    assert runs_path.read_text() == old  # left as it was
    # Same columns, other settings: a looser estimator than the one asked for now.
    row = dict.fromkeys(experiment._COLUMNS, 0)
    row["settings"] = run_settings(MoEClassifier(tol=1e-4))
    pd.DataFrame([row]).to_csv(runs_path, index=False)
    with pytest.raises(ValueError, match="other settings"):
        experiment.run_selection_experiment(runs_path=runs_path, first_replicate=2, **options)
    experiment.check_runs_file(runs_path, MoEClassifier(tol=1e-4))  # the same: accepted


def test_run_settings_record_the_defaults_and_the_estimator():
    loose = json.loads(run_settings(MoEClassifier(tol=1e-4, random_state=3)))
    assert loose["estimator"]["tol"] == 1e-4 and "random_state" not in loose["estimator"]
    assert loose["select_n_experts"]["merge_screen_iter"] == 5
    assert set(loose["select_n_experts"]) >= {"path_tol", "path_max_iter", "omega", "path"}
    default = run_settings(MoEClassifier())
    assert run_settings(MoEClassifier(random_state=1, verbose=2)) == default
    assert run_settings(MoEClassifier(n_init=np.int64(20))) == default  # numpy scalars
    assert run_settings(MoEClassifier(tol=1e-4)) != default


def test_selection_command_quick(run_studies, tmp_path):
    result = run_studies("selection", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["method"]) == {"DSC", "DSC (plain)", "AIC", "BIC", "ICL"}
    assert set(runs["scenario"]) == {"well-specified", "misspecified"}
    assert len(runs) == 2 * 2 * 2 * 5  # scenarios x n x replicates x methods
    assert runs["selected"].between(1, 5).all() and (runs["seconds"] > 0).all()
    # Every row records the settings the run used (the DSC defaults among them).
    (settings,) = runs["settings"].unique()
    assert json.loads(settings)["select_n_experts"]["path_tol"] == 1e-6
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["correct_pct"].between(0, 100).all()
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000
    table = (tmp_path / "summary.md").read_text().splitlines()
    assert table[0].startswith("| scenario | K0 | n | replicates | DSC |")
    assert len(table) == 2 + 2 * 2  # header, rule, scenarios x n
    assert "sweep/DSC" in result.stdout
    # Runs from several machines are combined without refitting.
    half = tmp_path / "half"
    half.mkdir()
    runs[runs["replicate"] == 0].to_csv(half / "a.csv", index=False)
    runs[runs["replicate"] == 1].to_csv(half / "b.csv", index=False)
    combined = run_studies(
        "selection", "--out", str(half),
        "--summarize", str(half / "a.csv"), "--summarize", str(half / "b.csv"),
    )  # fmt: skip
    assert combined.returncode == 0, combined.stderr
    pd.testing.assert_frame_equal(pd.read_csv(half / "summary.csv"), summary)
    # The same replicates on a Dask cluster (joblib's Dask backend): the same runs.
    pytest.importorskip("distributed")
    on_cluster = run_studies(
        "selection", "--quick", "--scheduler", "local:2", "--out", str(tmp_path / "cluster")
    )
    assert on_cluster.returncode == 0, on_cluster.stderr
    cluster_runs = pd.read_csv(tmp_path / "cluster" / "runs.csv")
    key = ["scenario", "K0", "n", "replicate", "method"]
    pd.testing.assert_frame_equal(
        cluster_runs.sort_values(key, ignore_index=True).drop(columns="seconds"),
        runs.sort_values(key, ignore_index=True).drop(columns="seconds"),
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--sizes", "1000,x"],
        ["--sizes", "50,1000"],
        ["--sizes", ""],
        ["--k0", "2,2"],
        ["--first-replicate", "9990", "--replicates", "20"],
        ["--scenario", "noisy"],
    ],
)
def test_selection_command_rejects_bad_options(run_studies, args):
    result = run_studies("selection", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and args[0] in result.stderr


def test_selection_summary_rejects_bad_runs(run_studies, tmp_path):
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    row = {
        "scenario": "well-specified", "K0": 2, "n": 1000, "replicate": 0,
        "method": "DSC", "selected": 2, "seconds": 1.0,
    }  # fmt: skip
    pd.DataFrame([row, row]).to_csv(tmp_path / "twice.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    other = {**row, "replicate": 1, "settings": '{"path_tol": 1e-8}'}
    pd.DataFrame([{**row, "settings": '{"path_tol": 1e-6}'}, other]).to_csv(
        tmp_path / "mixed.csv", index=False
    )
    pd.DataFrame([row, other]).to_csv(tmp_path / "unrecorded.csv", index=False)
    for name, message in [
        ("junk.csv", "not runs of the selection experiment"),
        ("twice.csv", "appear twice"),
        ("mixed.csv", "2 different settings"),
        ("unrecorded.csv", "2 different settings"),
        ("empty.csv", "cannot read the runs"),
    ]:
        result = run_studies("selection", "--out", str(tmp_path), "--summarize",
                     str(tmp_path / name))  # fmt: skip
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr


def test_selection_command_will_not_continue_runs_of_another_version(run_studies, tmp_path):
    old = "scenario,K0,n,replicate,method,selected,seconds,loglik,criterion,heights\n"
    (tmp_path / "runs.csv").write_text(old)
    result = run_studies("selection", "--out", str(tmp_path), "--first-replicate", "4",
                 "--replicates", "2", "--k0", "2", "--sizes", "1000")  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "fresh --out" in result.stderr, result.stderr
    assert (tmp_path / "runs.csv").read_text() == old
