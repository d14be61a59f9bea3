"""Where a default fit spends its time: screening, run-in and final run, per solver.

Run ``python -m benchmarks.fit_stages [--problem c] [--solvers lbfgs,mm]
[--seed 0] [--n-jobs -1]`` from the repository root. Fits ``MoEClassifier(K,
random_state=seed, solver=..., n_jobs=...)`` to the benchmark problem's
data (see :mod:`benchmarks.fit_speed`) and prints, per solver, each stage's
rows, seconds, iterations and final objective (the penalised mean
log-likelihood of that stage's rows), and the whole fit's time. The
screening's seconds are the wall time from the fit's start to the last
screening run's end (validation and drawing the starts included): starts
screened side by side overlap, and their events are told as they return.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from benchmarks import choices
from benchmarks.fit_speed import PROBLEMS
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.engine import SOLVERS, FitListener


class StageClock(FitListener):
    """Seconds, iterations and objective of every stage; screening summed over the starts."""

    def __init__(self):
        self.rows: list[dict] = []
        self.began = 0.0

    def stage_started(self, stage, n_rows, number=None):
        if stage != "screen":  # the screening is timed from the fit's start
            self.began = time.perf_counter()

    def stage_finished(self, stage, n_rows, result, number=None):
        seconds = time.perf_counter() - self.began
        if stage == "screen" and self.rows and self.rows[-1]["stage"] == "screen":
            last = self.rows[-1]
            last["seconds"] = seconds  # since the fit began
            last["iterations"] += result.n_iter
            last["objective"] = max(last["objective"], result.objective)
            last["starts"] += 1
            return
        self.rows.append(
            {
                "stage": stage,
                "rows": n_rows,
                "starts": 1,
                "seconds": seconds,
                "iterations": result.n_iter,
                "objective": result.objective,
            }
        )


def stages(problem: str, solver: str, seed: int = 0, n_jobs: int = -1) -> pd.DataFrame:
    spec = PROBLEMS[problem]
    X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=seed)
    clock = StageClock()
    began = clock.began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEClassifier(spec["K"], random_state=seed, solver=solver, n_jobs=n_jobs)
        model.fit(X, y, listener=clock)
    total = time.perf_counter() - began
    table = pd.DataFrame(clock.rows)
    table.loc[len(table)] = {"stage": "whole fit", "seconds": total}
    return table.assign(solver=solver)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="c", choices=sorted(PROBLEMS))
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args(argv)
    solvers = choices(parser, args.solvers, SOLVERS, "solvers")
    spec = PROBLEMS[args.problem]
    print(f"Problem ({args.problem}): " + ", ".join(f"{k}={v:,}" for k, v in spec.items()))
    for solver in solvers:
        table = stages(args.problem, solver, args.seed, args.n_jobs)
        print()
        print(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.10g}"))


if __name__ == "__main__":
    main()
