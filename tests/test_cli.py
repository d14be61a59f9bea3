"""End-to-end tests of the installed ``moelogit`` command."""

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
