"""The rates study: the truth, slopes with intervals, the tolerance check, its command."""

import numpy as np
import pandas as pd
import pytest

from moelogit.selection import atoms
from studies.rates.experiment import (
    default_truth,
    fit_slopes,
    tolerance_check,
)


def test_default_truth_is_well_separated():
    weights, theta = atoms(default_truth())
    np.testing.assert_allclose(weights, 1 / 3)
    gaps = np.linalg.norm(theta[:, None] - theta[None], axis=-1)[np.triu_indices(3, 1)]
    assert gaps.min() > 3.9


def synthetic_runs(slope, ns=(1000, 3000, 10_000, 30_000), replicates=20, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    rows = [
        {
            "n": n,
            "replicate": r,
            "fit": fit,
            **{
                loss: 5.0 * n**slope * np.exp(noise * rng.normal())
                for loss in ("density", "D1", "D2")
            },
        }
        for n in ns
        for r in range(replicates)
        for fit in ("exact", "over", "merged")
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slope", [-0.5, -0.25])
def test_fitted_slopes_cover_a_known_slope(slope):
    slopes = fit_slopes(synthetic_runs(slope), n_boot=500)
    assert len(slopes) == 9
    assert (slopes["ci_low"] < slopes["slope"]).all() and (
        slopes["slope"] < slopes["ci_high"]
    ).all()
    # With lognormal noise sd 0.2 and 80 runs per line the slope is tight.
    np.testing.assert_allclose(slopes["slope"], slope, atol=0.05)
    assert ((slopes["ci_high"] - slopes["ci_low"]) < 0.15).all()
    # The interval is honest: it excludes a slope 0.1 away.
    assert ((slopes["ci_low"] > slope - 0.1) & (slopes["ci_high"] < slope + 0.1)).all()


def test_tolerance_check_reports_the_largest_relative_change():
    runs = synthetic_runs(-0.5, replicates=2)
    for loss in ("density", "D1", "D2"):
        runs[f"{loss}_tight"] = runs[loss]
    runs.loc[runs.index[4], "D1_tight"] = runs.loc[runs.index[4], "D1"] * 1.03
    runs.loc[runs.index[5:], [f"{loss}_tight" for loss in ("density", "D1", "D2")]] = np.nan
    table = tolerance_check(runs)
    fit = runs.loc[runs.index[4], "fit"]
    assert table.loc[fit, "D1"] == pytest.approx(0.03)
    assert table.to_numpy().sum() == pytest.approx(0.03)


def test_rates_command_quick(run_studies, tmp_path):
    result = run_studies("rates", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
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


def test_rates_command_refuses_an_empty_range(run_studies, tmp_path):
    result = run_studies("rates", "--n-min", "5000", "--n-max", "1000", "--out", str(tmp_path))
    assert result.returncode == 2 and "--n-min" in result.stderr
