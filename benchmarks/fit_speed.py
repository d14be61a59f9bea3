"""Fit speed of moelogit's MM against its peers, on the same data from the same start.

Run ``python -m benchmarks.fit_speed [--problems a,b] [--repeats 3]`` from the
repository root. For each problem it prints one row per fitter: final mean
log-likelihood, median wall time to convergence (tolerance 1e-8 on the
relative change of the objective for every fitter), iterations, time per
iteration, time to reach the best log-likelihood the slowest fitter reached
(from the trace, assuming a constant time per iteration), peak traced memory,
and every time as a ratio to moelogit's default fit, all measured in the same
run. Medians over ``--repeats`` runs.

Peers: moelogit's variants (curvature fixed or per expert, SQUAREM on or
off) from one common start; EM with damped Newton M-steps; L-BFGS on the
log-likelihood. "moelogit default" is ``MoEClassifier()`` as shipped, its
restarts included.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from benchmarks.peers import fit_em_newton, fit_lbfgs
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.model import Dims
from moelogit.solver import maximize

PROBLEMS = {
    "a": {"n": 5_000, "d": 4, "K": 3, "M": 3},
    "b": {"n": 100_000, "d": 20, "K": 5, "M": 3},
    "c": {"n": 1_000_000, "d": 50, "K": 8, "M": 2},
}
TOL = 1e-8


def _design(X):
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.column_stack([np.ones(len(X)), Xs])


def _fitters(problem_name):
    def mm(curvature, acceleration):
        def run(Z, y, w, dims, start):
            step = BohningMM(Z, y, w, dims, alpha=1e-6, curvature=curvature)
            return maximize(step, start, max_iter=10_000, tol=TOL, acceleration=acceleration)

        return run

    fitters = {
        "MM expert + SQUAREM": mm("expert", True),
        "MM fixed + SQUAREM": mm("fixed", True),
        "MM expert": mm("expert", False),
        "MM fixed": mm("fixed", False),
        "EM + Newton M-steps": lambda Z, y, w, dims, start: fit_em_newton(
            Z, y, w, dims, start, max_iter=10_000, tol=TOL
        ),
        "L-BFGS": lambda Z, y, w, dims, start: fit_lbfgs(
            Z, y, w, dims, start, max_iter=10_000, tol=TOL
        ),
    }
    if problem_name == "c":  # only moelogit and the fastest in-project peer
        fitters = {k: v for k, v in fitters.items() if k in ("MM expert + SQUAREM", "L-BFGS")}
    return fitters


def _measure(func, repeats):
    """Results and wall times of ``repeats`` untraced runs, and the peak traced memory of one more.

    Tracing every allocation slows NumPy down, so memory is measured apart.
    """
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        runs.append((result, time.perf_counter() - started))
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return runs, peak


def run_problem(name, repeats, seed=0):
    spec = PROBLEMS[name]
    X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=seed)
    Z, w = _design(X), np.full(len(y), 1.0 / len(y))
    dims = Dims(spec["d"] + 1, spec["K"], spec["M"])
    start = initial_theta(Z, y, w, dims, "kmeans", seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs, peak = _measure(
            lambda: MoEClassifier(spec["K"], random_state=seed).fit(X, y), repeats
        )
    rows.append(_row("moelogit default", runs[0][0].loglik_trace_, runs, peak))
    for label, fitter in _fitters(name).items():
        runs, peak = _measure(lambda fitter=fitter: fitter(Z, y, w, dims, start), repeats)
        rows.append(_row(label, runs[0][0].trace, runs, peak))
    table = pd.DataFrame(rows)
    # Time to reach the best log-likelihood that the slowest fitter reached.
    target = table.loc[table["seconds"].idxmax(), "loglik"]
    table["seconds to slowest's best"] = [
        row.seconds * (np.argmax(row.trace >= target - 1e-9) + 1) / len(row.trace)
        if np.any(row.trace >= target - 1e-9)
        else np.nan
        for row in table.itertuples()
    ]
    base = table.loc[0, "seconds"]
    table["time ratio"] = table["seconds"] / base
    return table.drop(columns="trace")


def _row(label, trace, runs, peak):
    seconds = float(np.median([s for _, s in runs]))
    return {
        "fitter": label,
        "loglik": float(trace[-1]),
        "seconds": seconds,
        "iterations": len(trace),
        "ms / iteration": 1e3 * seconds / len(trace),
        "peak MB": peak / 2**20,
        "trace": np.asarray(trace),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="a,b", help="comma-separated subset of a,b,c")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for name in args.problems.split(","):
        spec = PROBLEMS[name]
        print(f"\nProblem ({name}): n={spec['n']}, d={spec['d']}, K={spec['K']}, M={spec['M']}")
        table = run_problem(name, args.repeats)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
