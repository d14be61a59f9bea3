"""End-to-end tests of the installed ``moelogit`` command."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The command installed beside this interpreter, else the one on PATH.
_BESIDE = Path(sys.executable).parent / "moelogit"
COMMAND = str(_BESIDE) if _BESIDE.exists() else shutil.which("moelogit")


def run(*args, cwd=None):
    cmd = [COMMAND, *args] if COMMAND else [sys.executable, "-m", "moelogit.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=cwd)


def test_demo_prints_a_summary(tmp_path):
    result = run("demo", "--n-samples", "800", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo-report.html").stat().st_size > 10_000
    for field in (
        "fit time",
        "objective trace length",
        "train mean log-likelihood",
        "test accuracy",
        "iterations",
    ):
        assert field in result.stdout
    accuracy = float(result.stdout.split("test accuracy")[1].split()[0])
    assert 0.0 < accuracy <= 1.0


def test_help_and_version():
    result = run("--help")
    assert result.returncode == 0 and "demo" in result.stdout
    assert run("demo", "--help").stdout.count("--n-samples") == 1
    assert "moelogit" in run("--version").stdout


@pytest.mark.parametrize(
    "args", [["demo", "--n-samples", "10"], ["demo", "--n-classes", "1"], ["nope"]]
)
def test_bad_arguments_exit_with_status_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "Error" in result.stderr


def test_selection_experiment_quick(tmp_path):
    result = run("experiment", "selection", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    import pandas as pd

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
    combined = run(
        "experiment", "selection", "--out", str(half),
        "--summarize", str(half / "a.csv"), "--summarize", str(half / "b.csv"),
    )  # fmt: skip
    assert combined.returncode == 0, combined.stderr
    pd.testing.assert_frame_equal(pd.read_csv(half / "summary.csv"), summary)


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
def test_selection_experiment_rejects_bad_options(args):
    result = run("experiment", "selection", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and args[0] in result.stderr


def test_selection_summary_rejects_bad_runs(tmp_path):
    import pandas as pd

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
        result = run("experiment", "selection", "--out", str(tmp_path), "--summarize",
                     str(tmp_path / name))  # fmt: skip
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr


def test_selection_experiment_will_not_continue_runs_of_another_version(tmp_path):
    old = "scenario,K0,n,replicate,method,selected,seconds,loglik,criterion,heights\n"
    (tmp_path / "runs.csv").write_text(old)
    result = run("experiment", "selection", "--out", str(tmp_path), "--first-replicate", "4",
                 "--replicates", "2", "--k0", "2", "--sizes", "1000")  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "fresh --out" in result.stderr, result.stderr
    assert (tmp_path / "runs.csv").read_text() == old


def test_rates_experiment_quick(tmp_path):
    result = run("experiment", "rates", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    import pandas as pd

    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 3 * 3 * 3  # sizes x replicates x fit types
    assert set(runs["fit"]) == {"exact", "over", "merged"}
    sizes = runs.groupby("fit")["n_experts"].unique().map(list).to_dict()
    assert sizes == {"exact": [3], "merged": [3], "over": [5]}
    losses = runs[["density", "D1", "D2"]]
    assert losses.notna().all().all() and (losses > 0).all().all()
    assert runs["density"].lt(1).all()
    # The tolerance check ran on the first replicate of every size.
    assert runs["D1_tight"].notna().sum() == 3 * 3
    slopes = pd.read_csv(tmp_path / "slopes.csv")
    assert len(slopes) == 9 and (slopes["ci_low"] <= slopes["ci_high"]).all()
    assert (tmp_path / "rates.png").stat().st_size > 10_000
    assert "theory" in result.stdout and "tightened tenfold" in result.stdout


def test_rates_experiment_refuses_an_empty_range(tmp_path):
    result = run(
        "experiment", "rates", "--n-min", "5000", "--n-max", "1000", "--out", str(tmp_path)
    )
    assert result.returncode == 2 and "--n-min" in result.stderr
