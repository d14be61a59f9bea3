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
log-likelihood; R's flexmix (EM with ``nnet::multinom`` M-steps) from the
responsibilities at the same start, where ``Rscript`` and flexmix are
installed (problems a and b; its time is the ``flexmix()`` call alone, timed
in R, and its memory is not traced). "moelogit default" is ``MoEClassifier()``
as shipped, its restarts included.

``--flexmix-target`` adds the comparison of the performance issue's target
(a): moelogit's default fit over 10 ``random_state`` values against flexmix's
best of 3 runs from its own random starts.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from benchmarks.peers import fit_em_newton, fit_lbfgs
from benchmarks.peers.flexmix import fit_flexmix, flexmix_available
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.model import Dims, responsibilities, unpack
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
    available, why = flexmix_available()
    if name != "c" and available:
        start_resp = responsibilities(Z, y, *unpack(start, dims))
        fits = [
            fit_flexmix(Z[:, 1:], y, spec["K"], start_resp=start_resp, tol=TOL)
            for _ in range(repeats)
        ]
        runs = [(None, fit["seconds"]) for fit in fits]
        # No per-iteration trace from R: the final value stands for the whole run.
        rows.append(_row("flexmix (R)", [fits[0]["loglik"]], runs, np.nan, fits[0]["n_iter"]))
    elif name != "c":
        print(f"flexmix skipped: {why}")
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


def _row(label, trace, runs, peak, iterations=None):
    seconds = float(np.median([s for _, s in runs]))
    iterations = len(trace) if iterations is None else iterations
    return {
        "fitter": label,
        "loglik": float(trace[-1]),
        "seconds": seconds,
        "iterations": iterations,
        "ms / iteration": 1e3 * seconds / iterations,
        "peak MB": peak / 2**20,
        "trace": np.asarray(trace),
    }


def flexmix_target(seed=0):
    """Target (a): moelogit's default over 10 seeds against flexmix's best of 3 random starts."""
    available, why = flexmix_available()
    if not available:
        print(f"flexmix target skipped: {why}")
        return None
    spec = PROBLEMS["a"]
    X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=seed)
    ours = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for state in range(10):
            started = time.perf_counter()
            model = MoEClassifier(spec["K"], random_state=state).fit(X, y)
            ours.append((model.loglik(X, y), time.perf_counter() - started))
    theirs = [fit_flexmix(X, y, spec["K"], tol=TOL) for _ in range(3)]
    table = pd.DataFrame(
        [
            {
                "fitter": "moelogit default (10 seeds)",
                "median loglik": np.median([v for v, _ in ours]),
                "worst loglik": min(v for v, _ in ours),
                "best loglik": max(v for v, _ in ours),
                "median seconds": np.median([t for _, t in ours]),
            },
            {
                "fitter": "flexmix (3 random starts)",
                "median loglik": np.median([f["loglik"] for f in theirs]),
                "worst loglik": min(f["loglik"] for f in theirs),
                "best loglik": max(f["loglik"] for f in theirs),
                "median seconds": np.median([f["seconds"] for f in theirs]),
            },
        ]
    )
    table["time ratio"] = table["median seconds"] / table.loc[0, "median seconds"]
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="a,b", help="comma-separated subset of a,b,c")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--flexmix-target",
        action="store_true",
        help="also run target (a): moelogit over 10 seeds against flexmix's best of 3",
    )
    args = parser.parse_args(argv)
    for name in args.problems.split(","):
        spec = PROBLEMS[name]
        print(f"\nProblem ({name}): n={spec['n']}, d={spec['d']}, K={spec['K']}, M={spec['M']}")
        table = run_problem(name, args.repeats)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.flexmix_target:
        table = flexmix_target()
        if table is not None:
            print("\nTarget (a): problem a, moelogit default against flexmix")
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


if __name__ == "__main__":
    main()
