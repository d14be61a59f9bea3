"""How often each fit strategy reaches the best known optimum, and at what cost.

Run ``python -m benchmarks.screening_study [--truths 12] [--seeds 10] [--n 5000]
[--shape a] [--rules all,lbfgs-screen,...] [--n-jobs 1] [--runs-csv FILE]`` from the repository
root. For each of ``--truths`` random truths of a benchmark problem's shape
(``--shape a``: d = 4, K = 3, M = 3; ``b``: d = 20, K = 5, M = 3; ``c``:
d = 50, K = 8, M = 2;
coefficients N(0, 2^2); ``make_moe_classification`` with ``random_state``
0, 1, ...), the fit engine runs on ``--n-jobs`` cores from ``--seeds`` start
seeds with each rule (a :class:`moelogit.engine.Strategy`: "all" is the
estimator's default, "halving" screens by successive halving, "mm" runs the
retained start to convergence by the MM map instead of L-BFGS,
"fixed-screen" screens with the fixed curvature, "double-screen" draws and
screens the starts in double precision (the default: single), "lbfgs-screen" screens by
30 L-BFGS iterations instead of 15 SQUAREM cycles, "lbfgs-screen-N" by N,
"sample-N" on a sample of N rows, "kmeans-starts" draws every start's
gate from k-means centres, each with its own seed, "kmeans-every-N" starts
1, 1 + N, 1 + 2N, ... and "lbfgs-screen-kmeans-4" screens by 30 L-BFGS
iterations with starts 1, 5, 9, ... from k-means)
on the
estimator's standardised design. A run "reaches" the best known
optimum when its final objective is within 1e-6 (and, looser, 1e-4) of the
best any run of that truth found. Prints one row per truth and rule and a
total per rule.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks import choices
from moelogit.datasets import make_moe_classification
from moelogit.engine import Strategy, fit_multistart
from moelogit.estimator import design_matrix, standardization
from moelogit.model import Dims

RULES = {
    "all": Strategy(),
    "halving": Strategy(screening="halving"),
    "mm": Strategy(solver="mm"),
    "fixed-screen": Strategy(screen_curvature="fixed"),
    "double-screen": Strategy(screen_precision="double"),
    "lbfgs-screen": Strategy(screen_solver="lbfgs", init_iter=30),
    "lbfgs-screen-20": Strategy(screen_solver="lbfgs", init_iter=20),
    "lbfgs-screen-40": Strategy(screen_solver="lbfgs", init_iter=40),
    "sample-2500": Strategy(screen_rows=2500),
    "sample-1000": Strategy(screen_rows=1000),
    "kmeans-starts": Strategy(init="kmeans"),
    "kmeans-every-2": Strategy(kmeans_every=2),
    "kmeans-every-4": Strategy(kmeans_every=4),
    "lbfgs-screen-kmeans-4": Strategy(screen_solver="lbfgs", init_iter=30, kmeans_every=4),
}
ALPHA = 1e-6  # the estimator's default ridge
# Features, experts and classes of the benchmark problems' shapes.
SHAPES = {"a": (4, 3, 3), "b": (20, 5, 3), "c": (50, 8, 2)}


def run(
    truths: int, seeds: int, n: int, rules=tuple(RULES), shape: str = "a", n_jobs: int = 1
) -> pd.DataFrame:
    d, K, M = SHAPES[shape]
    rows = []
    for truth in range(truths):
        X, y, _ = make_moe_classification(n, d, K, M, random_state=truth)
        weights = np.full(n, 1.0 / n)
        Z = design_matrix(X, *standardization(X, weights))
        for rule in rules:
            for seed in range(seeds):
                began = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    found = fit_multistart(
                        Z, y, weights, Dims(d + 1, K, M), alpha=ALPHA, n_jobs=n_jobs,
                        strategy=RULES[rule], rng=np.random.RandomState(seed),
                    )  # fmt: skip
                rows.append(
                    {
                        "truth": truth,
                        "rule": rule,
                        "seed": seed,
                        "objective": found.best.objective,
                        "seconds": time.perf_counter() - began,
                    }
                )
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    best = runs.groupby("truth")["objective"].transform("max")
    runs = runs.assign(
        **{
            "within 1e-6": runs["objective"] >= best - 1e-6,
            "within 1e-4": runs["objective"] >= best - 1e-4,
            "gap": best - runs["objective"],
        }
    )
    per_truth = runs.groupby(["truth", "rule"]).agg(
        **{
            "within 1e-6": ("within 1e-6", "sum"),
            "within 1e-4": ("within 1e-4", "sum"),
            "median gap": ("gap", "median"),
            "worst gap": ("gap", "max"),
            "median s": ("seconds", "median"),
        }
    )
    total = runs.groupby("rule").agg(
        **{
            "within 1e-6": ("within 1e-6", "sum"),
            "within 1e-4": ("within 1e-4", "sum"),
            "median gap": ("gap", "median"),
            "worst gap": ("gap", "max"),
            "median s": ("seconds", "median"),
        }
    )
    total.index = pd.MultiIndex.from_product([["all truths"], total.index], names=["truth", "rule"])
    return pd.concat([per_truth, total])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--shape", default="a", choices=sorted(SHAPES))
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--rules", default=",".join(RULES), help="comma-separated, of " + ", ".join(RULES)
    )
    parser.add_argument("--runs-csv", help="also write every run's objective and time here")
    args = parser.parse_args(argv)
    rules = choices(parser, args.rules, RULES, "rules")
    runs = run(args.truths, args.seeds, args.n, rules, args.shape, args.n_jobs)
    if args.runs_csv:
        runs.to_csv(args.runs_csv, index=False)
    table = summarize(runs)
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
