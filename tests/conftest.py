import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moelogit.model import Dims


def random_problem(seed, n=200, d=3, K=3, M=3, scale=1.0):
    """A random design, labels, normalised weights and parameter vector."""
    rng = np.random.default_rng(seed)
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.integers(0, M, size=n)
    weights = rng.random(n) + 0.1
    weights /= weights.sum()
    dims = Dims(d + 1, K, M)
    theta = scale * rng.normal(size=dims.n_params)
    return Z, y, weights, dims, theta


@pytest.fixture
def problem():
    return random_problem(0)


def simulated_problem(seed, n=2000, d=2, K=2, M=3):
    """Design, labels, weights and dims for data drawn from the model itself,
    so that the maximum-likelihood estimate exists."""
    from moelogit.datasets import make_moe_classification

    X, y, _ = make_moe_classification(n, d, K, M, coef_scale=1.5, random_state=seed)
    Z = np.column_stack([np.ones(n), X])
    start = 0.1 * np.random.default_rng(seed).normal(size=Dims(d + 1, K, M).n_params)
    return Z, y, np.full(n, 1.0 / n), Dims(d + 1, K, M), start


@pytest.fixture(scope="session")
def ppi_data():
    """The shared PPI benchmarks folder: $MOELOGIT_PPI_DATA, <repo>/../shared/data/ppi,
    or /work/shared/data/ppi; the test is skipped when none exists."""
    import os

    repo = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("MOELOGIT_PPI_DATA"), repo.parent / "shared" / "data" / "ppi"]
    candidates.append("/work/shared/data/ppi")
    for candidate in candidates:
        if candidate and (Path(candidate) / "guo2008-yeast" / "pairs.tsv").exists():
            return Path(candidate)
    pytest.skip("PPI benchmarks not found: set MOELOGIT_PPI_DATA or place them in ../shared")


@pytest.fixture
def run_studies():
    """Run ``python -m studies ARGS`` from the repository root, where the studies live."""
    repo = Path(__file__).resolve().parents[1]

    def run(*args):
        command = [sys.executable, "-m", "studies", *args]
        return subprocess.run(
            command, cwd=repo, capture_output=True, text=True, timeout=300, check=False
        )

    return run
