"""Wald standard errors and intervals against the parametric bootstrap, on one data set per truth.

Run ``python -m studies.coverage.bootstrap_comparison [--n-boot 200] [--n-jobs 2]``
from the repository root. For the coverage study's truths with K = 2 and
K = 3 experts (n = 2,000 rows each), it fits ``MoEClassifier(K)``, refits
it on ``--n-boot`` label sets drawn from itself
(:func:`moelogit.bootstrap.parametric_bootstrap`) and prints, per
parameter, the Wald standard error, the refits' standard deviation and
their interquartile range over 1.349 (the standard deviation of a normal
law with that spread), and both 95% intervals.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from moelogit import MoEClassifier
from moelogit.bootstrap import parametric_bootstrap

from studies.coverage.coverage import Config, draw, truth


def comparison(n_experts: int, n_samples: int, n_boot: int, n_jobs: int, seed: int = 0):
    """The per-parameter table for one data set drawn from the study's truth."""
    config = Config(n_experts, n_samples, False)
    X, y = draw(config, truth(n_experts), n_samples, np.random.default_rng(seed))
    model = MoEClassifier(n_experts, random_state=seed).fit(X, y)
    wald = model.summary(X, y).table
    boot = parametric_bootstrap(model, X, n_boot=n_boot, random_state=seed, n_jobs=n_jobs)
    estimates = boot.estimates
    intervals = boot.intervals(0.95)
    return pd.DataFrame({
        "coef": wald["coef"],
        "Wald se": wald["std err"],
        "bootstrap sd": boot.standard_errors(),
        "bootstrap IQR/1.349": (estimates.quantile(0.75) - estimates.quantile(0.25)) / 1.349,
        "Wald 95%": [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(wald["[0.025"], wald["0.975]"])],
        "percentile 95%": [f"{lo:.2f} to {hi:.2f}" for lo, hi in intervals.to_numpy()],
    })  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    for n_experts in (2, 3):
        started = time.perf_counter()
        table = comparison(n_experts, args.n_samples, args.n_boot, args.n_jobs)
        seconds = time.perf_counter() - started
        print(f"\nK = {n_experts}, n = {args.n_samples}, {args.n_boot} refits ({seconds:.0f} s)")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
