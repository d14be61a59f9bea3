"""Fit speed of moelogit's MM against its peers, on the same data from the same start.

Run ``python -m benchmarks.fit_speed [--problems a,b,c] [--repeats 3]`` from
the repository root. For each problem it prints three tables.

*Fitters*: one row per fitter, medians over ``--repeats`` runs: the final
mean log-likelihood (unpenalised, at the fitter's final parameters), wall
time, iterations, time per iteration, and three times read from
per-iteration time stamps of the first run: to come within 1e-6 of the best
log-likelihood any fitter reached ("s to best") and of the best final
log-likelihood of the fitters other than the default ("s to peers' best"),
and to reach the final log-likelihood of the slowest fitter ("s to slowest's
final"). NaN means never. Times are also
given as ratios to moelogit's default fit. Peak memory is traced
(``tracemalloc``) over a separate run capped at 3 iterations per run, since
tracing slows NumPy down and scratch memory is all allocated in the first
iteration.

*Step cost*: the time of one MM step (fixed and per-expert curvature) against
one evaluation of the log-likelihood and its gradient, the floor of any
first-order method, at the fitted parameters; the per-expert step and the
evaluation also on 2 threads (``n_jobs=2``'s row-block reduction).

Fitters "moelogit n_init=N" and "moelogit n_jobs=N" are the default with N
starts or on N cores (the default is -1, every core), for example
``--fitters "moelogit default,moelogit n_jobs=1"`` for what the cores buy a
whole fit (the first fit on several cores in the run starts the screening
worker processes, so its time includes their start-up). "moelogit L-BFGS
screening" is the default with its starts screened by 30 L-BFGS iterations
instead of 15 SQUAREM cycles of the MM map.

Fitters: ``MoEClassifier()`` as shipped (restarts included: "moelogit
default"); moelogit's MM variants (curvature fixed or per expert, SQUAREM on
or off) from one common start; EM with damped Newton M-steps; L-BFGS on the
log-likelihood; R's flexmix (EM with ``nnet::multinom`` M-steps) from the
responsibilities at the same start, where ``Rscript`` and flexmix are
installed (its time is the ``flexmix()`` call alone, timed in R, its memory
is not traced, and it has no per-iteration trace). Every fitter but the
shipped default maximises the plain log-likelihood (no ridge) under the same
stopping rule: relative change of the objective below 1e-8. The default
keeps its ridge of 1e-6; its trace is shifted by its final penalty, which
changes by far less than 1e-6 over the last iterations. Plain MM needs
thousands of iterations and EM seconds per iteration on the larger problems,
so they are capped (:data:`MAX_ITER`, :data:`EM_MAX_ITER`,
:data:`FLEXMIX_MAX_ITER`); capped runs show ``converged = False`` and still
give the time per iteration. Problem c runs the default and L-BFGS only.
The step costs are taken at the parameters fitted by "MM expert + SQUAREM",
or at the common start where that fitter is not run.

``--flexmix-target`` adds the comparison of the performance issue's target
(a): moelogit's default fit over 10 ``random_state`` values against flexmix's
best of 3 runs from its own random starts (``--target-jobs 1``: also on
one core).

A last table lists the targets whose measurements were run, each with its
measured value and "met" or "not met" (:func:`targets`): run the problems
with ``--flexmix-target`` for all of them, and add "moelogit n_jobs=1" to
the fitters of b and c for the cores' target.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.peers import fit_em_newton, fit_lbfgs
from benchmarks.peers.flexmix import fit_flexmix, flexmix_available
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.engine import FitListener
from moelogit.estimator import design_matrix, standardization
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.reduction import ThreadReduction
from moelogit.model import Dims, Workspace, objective, objective_and_gradient, responsibilities
from moelogit.model import unpack as unpack_theta
from moelogit.quasi_newton import lbfgs_ascent
from moelogit.solver import maximize

PROBLEMS = {
    "a": {"n": 5_000, "d": 4, "K": 3, "M": 3},
    "b": {"n": 100_000, "d": 20, "K": 5, "M": 3},
    "c": {"n": 1_000_000, "d": 50, "K": 8, "M": 2},
}
TOL = 1e-8
# Iteration caps (SQUAREM cycles for accelerated MM), so that a full run of the
# benchmark takes about an hour on 2 cores.
MAX_ITER = {"a": 10_000, "b": 1_000, "c": 300}
# EM's Newton M-steps cost seconds per iteration at n = 100,000: capped there.
EM_MAX_ITER = {"a": 10_000, "b": 30}
# flexmix takes seconds per EM iteration at n = 100,000: capped there.
FLEXMIX_MAX_ITER = {"a": 10_000, "b": 10}
# Problem c is run with moelogit and the fastest in-project peer only.
C_FITTERS = ("moelogit default", "L-BFGS")
REACHED = 1e-6  # "within 1e-6 of the best log-likelihood"
LBFGS_STEPS = 20  # iterations timed for the default's step
LBFGS_ROW = "L-BFGS step in the MM metric (default)"
MEMORY_ITER = 3


class Stopwatch:
    """A ``callback(iteration, value)`` that stamps every iteration with the time since ``start``."""

    def __init__(self):
        self.start = time.perf_counter()
        self.stamps: list[tuple[float, float]] = []

    def __call__(self, iteration, value):
        self.stamps.append((time.perf_counter() - self.start, value))

    def seconds_to(self, target):
        """Time of the first iteration whose value reaches ``target``; NaN if none does."""
        for seconds, value in self.stamps:
            if value >= target:
                return seconds
        return np.nan


def _mm(curvature, acceleration):
    def run(data, start, max_iter, callback):
        Z, y, w, dims = data
        step = BohningMM(Z, y, w, dims, curvature=curvature)
        return maximize(
            step, start, max_iter=max_iter, tol=TOL, acceleration=acceleration, callback=callback
        )

    return run


def _em(data, start, max_iter, callback):
    return fit_em_newton(*data, start, max_iter=max_iter, tol=TOL, callback=callback)


def _lbfgs(data, start, max_iter, callback):
    return fit_lbfgs(*data, start, max_iter=max_iter, tol=TOL, callback=callback)


PEERS = {
    "MM expert + SQUAREM": _mm("expert", True),
    "MM fixed + SQUAREM": _mm("fixed", True),
    "MM expert": _mm("expert", False),
    "MM fixed": _mm("fixed", False),
    "EM + Newton M-steps": _em,
    "L-BFGS": _lbfgs,
}


class _FinalRunStamps(FitListener):
    """Stamps the iterations of the default fit's final run on all rows.

    The stamps start at the final run's beginning, so a value reached only
    during screening or the run-in counts at the start of the final run:
    the time reported is never too short.
    """

    def __init__(self, stopwatch):
        self.stopwatch = stopwatch

    def stage_started(self, stage, n_rows, number=None):
        if stage == "final":
            self.stopwatch.stamps = [(time.perf_counter() - self.stopwatch.start, -np.inf)]

    def iteration(self, stage, iteration, value):
        if stage == "final":
            self.stopwatch(iteration, value)


def _default_fit(X, y, K, seed, max_iter=1000, stopwatch=None, **settings):
    model = MoEClassifier(K, max_iter=max_iter, random_state=seed, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if stopwatch is None:
            return model.fit(X, y)
        model.fit(X, y, listener=_FinalRunStamps(stopwatch))
    # The trace holds the penalised objective; shift it to the log-likelihood by
    # the final penalty (the penalty of earlier iterations differs slightly).
    shift = model.loglik(X, y) - model.objective_
    stopwatch.stamps = [(t, v + shift) for t, v in stopwatch.stamps]
    return model


def _traced_peak(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def common_data(spec, seed=0):
    """A problem's features ``X``, labels ``y`` and the data ``(Z, y, w, dims)`` every fitter fits.

    ``Z`` is the estimator's own design, [1, standardised X], and the row
    weights ``w`` are equal.
    """
    X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=seed)
    w = np.full(len(y), 1.0 / len(y))
    Z = design_matrix(X, *standardization(X, w))
    return X, y, (Z, y, w, Dims(Z.shape[1], spec["K"], spec["M"]))


def run_problem(
    spec,
    repeats,
    *,
    max_iter=10_000,
    em_max_iter=None,
    fitters=None,
    flexmix_max_iter=None,
    seed=0,
):
    """The fitters table and the step-cost table of one problem ``spec`` (n, d, K, M).

    ``max_iter`` caps every fitter from the common start; ``em_max_iter``,
    when given, caps EM instead. Besides the names in :data:`PEERS`,
    ``fitters`` may hold "moelogit default" and "moelogit n_init=N" (the
    default with N starts); rows of moelogit's estimator are not peers.
    """
    X, y, data = common_data(spec, seed)
    Z, _, w, dims = data
    start = initial_theta(Z, y, w, dims, "kmeans", seed)
    names = ["moelogit default", *PEERS] if fitters is None else list(fitters)
    rows, fitted_theta = [], None
    for name in names:
        seconds, stopwatch = [], Stopwatch()
        for repeat in range(repeats):
            clock = stopwatch if repeat == 0 else None
            began = time.perf_counter()
            if name.startswith("moelogit"):
                model = _default_fit(X, y, spec["K"], seed, stopwatch=clock, **_settings(name))
                loglik, n_iter, converged = model.loglik(X, y), model.n_iter_, model.converged_
            else:
                if clock is not None:
                    clock.start = time.perf_counter()
                cap = em_max_iter if name.startswith("EM") and em_max_iter else max_iter
                result = PEERS[name](data, start, cap, clock)
                loglik = objective(Z, y, w, *unpack_theta(result.theta, dims))
                n_iter, converged = result.n_iter, result.converged
                if name == "MM expert + SQUAREM":
                    fitted_theta = result.theta
            seconds.append(time.perf_counter() - began)
        if name.startswith("moelogit"):
            peak = _traced_peak(
                lambda name=name: _default_fit(
                    X, y, spec["K"], seed, MEMORY_ITER, **_settings(name)
                )
            )
        else:
            peak = _traced_peak(lambda name=name: PEERS[name](data, start, MEMORY_ITER, None))
        rows.append(_row(name, loglik, converged, n_iter, seconds, peak, stopwatch))
    available, why = flexmix_available()
    if flexmix_max_iter is not None and available:
        start_resp = responsibilities(Z, y, *unpack_theta(start, dims))
        fits = [
            fit_flexmix(
                Z[:, 1:], y, spec["K"], start_resp=start_resp, tol=TOL, max_iter=flexmix_max_iter
            )
            for _ in range(repeats)
        ]
        final = Stopwatch()  # no per-iteration trace: the final value at the end of the run
        final.stamps = [(fits[0]["seconds"], fits[0]["loglik"])]
        seconds = [fit["seconds"] for fit in fits]
        rows.append(
            _row(
                "flexmix (R)",
                fits[0]["loglik"],
                fits[0]["converged"],
                fits[0]["n_iter"],
                seconds,
                np.nan,
                final,
            )
        )
    elif flexmix_max_iter is not None:
        print(f"flexmix skipped: {why}")
    table = pd.DataFrame(rows)
    best = table["loglik"].max()
    slowest_final = table.loc[table["seconds"].idxmax(), "loglik"]
    peers_best = table.loc[~table["fitter"].str.startswith("moelogit"), "loglik"].max()
    watches = table.pop("stopwatch")
    table["s to best"] = [watch.seconds_to(best - REACHED) for watch in watches]
    table["s to peers' best"] = [watch.seconds_to(peers_best - REACHED) for watch in watches]
    table["s to slowest's final"] = [watch.seconds_to(slowest_final) for watch in watches]
    base = table.loc[0]
    table["time ratio"] = table["seconds"] / base["seconds"]
    table["to-best ratio"] = table["s to best"] / base["s to best"]
    table["to-peers'-best ratio"] = table["s to peers' best"] / base["s to peers' best"]
    steps = step_costs(data, start if fitted_theta is None else fitted_theta)
    return table, steps


def _settings(name):
    """Estimator settings of a moelogit row: "moelogit n_init=5" -> {"n_init": 5}.

    "moelogit n_jobs=N" is the default on N cores (-1: every core);
    "moelogit L-BFGS screening" screens by 30 L-BFGS iterations a start.
    """
    if name == "moelogit default":
        return {}
    if name == "moelogit L-BFGS screening":
        return {"screen_solver": "lbfgs", "init_iter": 30}
    for setting in ("n_init", "n_jobs"):
        prefix = f"moelogit {setting}="
        value = name[len(prefix) :]
        if name.startswith(prefix) and value.lstrip("-").isdigit():
            return {setting: int(value)}
    raise ValueError(
        f'unknown fitter {name!r}: "moelogit default", "moelogit n_init=N", '
        '"moelogit n_jobs=N" or "moelogit L-BFGS screening"'
    )


def _row(name, loglik, converged, n_iter, seconds, peak, stopwatch):
    median = float(np.median(seconds))
    return {
        "fitter": name,
        "loglik": float(loglik),
        "converged": bool(converged),
        "seconds": median,
        "iterations": n_iter,
        "ms / iteration": 1e3 * median / n_iter,
        "peak MB": peak,
        "stopwatch": stopwatch,
    }


def step_costs(data, theta, repeats=5, threads=2):
    """Median seconds of one MM step of each curvature and of one log-likelihood-and-gradient.

    The last two rows run the per-expert step and the evaluation on ``threads``
    threads (``n_jobs``'s row-block reduction, one BLAS thread each); the
    others as shipped with ``n_jobs=1``.
    """
    Z, y, w, dims = data
    workspace = Workspace()
    executor = ThreadPoolExecutor(threads)
    reduction = ThreadReduction(executor, threads)
    timed = {
        "log-likelihood + gradient": lambda: objective_and_gradient(
            Z, y, w, *unpack_theta(theta, dims), workspace=workspace
        ),
        "MM step, fixed curvature": BohningMM(Z, y, w, dims, curvature="fixed"),
        "MM step, per-expert curvature": BohningMM(Z, y, w, dims, curvature="expert"),
        f"log-likelihood + gradient, {threads} threads": lambda: objective_and_gradient(
            Z, y, w, *unpack_theta(theta, dims), reduction=reduction
        ),
        f"MM step, per-expert curvature, {threads} threads": BohningMM(
            Z, y, w, dims, curvature="expert", reduction=reduction
        ),
    }
    rows = []
    for name, func in timed.items():
        call = func if name.startswith("log") else (lambda func=func: func(theta))
        limits = threadpool_limits(1, user_api="blas") if "threads" in name else nullcontext()
        with limits:
            # Scratch arrays allocated, and the second core woken: on this
            # machine the first few calls on two threads after a pause take
            # up to 1.5 times as long, and a fit's runs call back to back.
            for _ in range(3):
                call()
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                call()
                times.append(time.perf_counter() - began)
        rows.append({"evaluation": name, "ms": 1e3 * float(np.median(times))})
    executor.shutdown()
    # The default's run-in and final run: L-BFGS in the MM metric. The second
    # of two runs of LBFGS_STEPS iterations (the first allocates scratch
    # arrays), the metric's set-up (one per-expert curvature) included, so
    # the cost per iteration is if anything overstated.
    mm = BohningMM(Z, y, w, dims, curvature="expert")
    for _ in range(2):
        began = time.perf_counter()
        lbfgs = lbfgs_ascent(mm, theta, max_iter=LBFGS_STEPS + 1, tol=0.0)
        per_step = (time.perf_counter() - began) / max(lbfgs.n_iter - 1, 1)
    rows.append({"evaluation": LBFGS_ROW, "ms": 1e3 * per_step})
    table = pd.DataFrame(rows)
    table["ratio to log-likelihood + gradient"] = table["ms"] / table.loc[0, "ms"]
    return table


def flexmix_target(seed=0, n_inits=(20,), n_jobs=()):
    """Target (a): moelogit's default over 10 seeds against flexmix's best of 3 random starts.

    ``n_inits`` adds rows for the default with fewer (or more) starts, in the
    same run: what the exploration budget buys in likelihood and costs in
    time; ``n_jobs``, rows for the default on that many cores (the first
    fit on several cores starts the screening workers; the median is of the
    ten fits, and the first fit's seconds are printed too). ``at flexmix's best``
    counts the runs that end within 1e-6 of flexmix's best value or above it.
    """
    available, why = flexmix_available()
    if not available:
        print(f"flexmix target skipped: {why}")
        return None
    spec = PROBLEMS["a"]
    X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=seed)
    default_starts = MoEClassifier().n_init
    variants = {"moelogit default": {}}
    variants.update({f"moelogit n_init={n}": {"n_init": n} for n in n_inits if n != default_starts})
    variants.update({f"moelogit n_jobs={jobs}": {"n_jobs": jobs} for jobs in n_jobs})
    summaries = {}
    for name, settings in variants.items():
        values, seconds = [], []
        for state in range(10):
            began = time.perf_counter()
            model = _default_fit(X, y, spec["K"], state, **settings)
            seconds.append(time.perf_counter() - began)
            values.append(model.loglik(X, y))
        summaries[f"{name} (10 seeds)"] = (values, seconds)
    theirs = [fit_flexmix(X, y, spec["K"], tol=TOL) for _ in range(3)]
    summaries["flexmix (3 random starts)"] = (
        [f["loglik"] for f in theirs],
        [f["seconds"] for f in theirs],
    )
    flexmix_best = max(summaries["flexmix (3 random starts)"][0])
    table = pd.DataFrame(
        [
            {
                "fitter": name,
                "median loglik": np.median(values),
                "worst loglik": min(values),
                "best loglik": max(values),
                "at flexmix's best": f"{np.sum(np.array(values) >= flexmix_best - REACHED)}"
                f"/{len(values)}",
                "median seconds": np.median(seconds),
                "first fit's seconds": seconds[0],
            }
            for name, (values, seconds) in summaries.items()
        ]
    )
    table["time ratio"] = table["median seconds"] / table.loc[0, "median seconds"]
    return table


def _seconds_on(fitters: pd.DataFrame, n_jobs: int) -> float:
    """Seconds of the default fit with ``n_jobs``: its own row, or the default's if that is its setting."""
    name = f"moelogit n_jobs={n_jobs}"
    if name in fitters.index:
        return fitters.loc[name, "seconds"]
    if MoEClassifier().n_jobs == n_jobs:
        return fitters.loc["moelogit default", "seconds"]
    return np.nan


def targets(problems: dict, flexmix: pd.DataFrame | None = None) -> pd.DataFrame:
    """The issue's targets, each with its measured value and whether it is met.

    ``problems`` maps a problem's name to its ``(fitters table, step-cost
    table)`` from :func:`run_problem`; ``flexmix`` is :func:`flexmix_target`'s
    table. Only targets whose measurements were run get a row.
    """
    rows = []

    def row(target, measured, met):
        rows.append({"target": target, "measured": measured, "met": "met" if met else "not met"})

    if flexmix is not None:
        ours = flexmix.iloc[0]
        theirs = flexmix.set_index("fitter").loc["flexmix (3 random starts)"]
        speed = theirs["median seconds"] / ours["median seconds"]
        row("(a) flexmix's median time / the default's >= 50", f"{speed:.1f}", speed >= 50)
        row(
            "(a) the default's median log-likelihood >= flexmix's best",
            f"{ours['median loglik']:.5f} vs {theirs['best loglik']:.5f}",
            ours["median loglik"] >= theirs["best loglik"] - REACHED,
        )
        at_best = int(ours["at flexmix's best"].split("/")[0])
        row("(a) seeds at flexmix's best >= 9 of 10", ours["at flexmix's best"], at_best >= 9)
        for _, variant in flexmix[flexmix["fitter"].str.startswith("moelogit n_jobs=")].iterrows():
            jobs = variant["fitter"].split()[1]
            speed = theirs["median seconds"] / variant["median seconds"]
            seeds = variant["at flexmix's best"]
            row(f"(a) as above with {jobs}: time ratio >= 50, seeds at flexmix's best >= 9",
                f"{speed:.1f}, {seeds}", speed >= 50 and int(seeds.split("/")[0]) >= 9)  # fmt: skip
    for name, (table, steps) in problems.items():
        fitters = table.set_index("fitter")
        default = fitters.loc["moelogit default"]
        if name == "b":
            for peer in ("L-BFGS", "EM + Newton M-steps"):
                if peer not in fitters.index:
                    continue
                theirs, ours = fitters.loc[peer, "s to peers' best"], default["s to peers' best"]
                target = f"(b) {peer}'s time to the peers' best / the default's >= 3"
                if np.isnan(ours):
                    row(target, "the default never", False)
                elif np.isnan(theirs):
                    row(target, f"{peer} never", True)
                else:
                    row(target, f"{theirs / ours:.2f}", theirs / ours >= 3)
            peers = fitters.index[~fitters.index.str.startswith("moelogit")]
            if len(peers):
                best_peer = fitters.loc[peers, "loglik"].max()
                row("(b) the default ends above every peer",
                    f"{default['loglik']:.5f} vs {best_peer:.5f}",
                    default["loglik"] > best_peer)  # fmt: skip
        if name == "c":
            row("(c) the default's fit <= 120 s", f"{default['seconds']:.1f} s",
                default["seconds"] <= 120)  # fmt: skip
            spec = PROBLEMS["c"]
            x_mb = spec["n"] * spec["d"] * 8 / 2**20
            row("(c) peak memory <= 3 x X", f"{default['peak MB'] / x_mb:.2f} x X",
                default["peak MB"] <= 3 * x_mb)  # fmt: skip
        if name in ("b", "c"):
            ratios = steps.set_index("evaluation")["ratio to log-likelihood + gradient"]
            row(f"({name}) the default's step <= 2 evaluations",
                f"{ratios[LBFGS_ROW]:.2f} (per-expert MM step "
                f"{ratios['MM step, per-expert curvature']:.2f})",
                ratios[LBFGS_ROW] <= 2)  # fmt: skip
            seconds = {jobs: _seconds_on(fitters, jobs) for jobs in (1, -1)}
            if not np.isnan(seconds[1] / seconds[-1]):
                speedup = seconds[1] / seconds[-1]
                row(f"({name}) n_jobs=-1 against n_jobs=1 >= 1.7 times", f"{speedup:.2f}",
                    speedup >= 1.7)  # fmt: skip
    return pd.DataFrame(rows)


def _print(table, digits=4):
    print(table.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--problems", default="a,b,c", help='comma-separated subset of a,b,c ("": none)'
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--fitters",
        help="comma-separated subset of the fitters (default: all, or those of problem c)",
    )
    parser.add_argument("--skip-flexmix", action="store_true", help="leave R's flexmix out")
    parser.add_argument(
        "--flexmix-target",
        action="store_true",
        help="also run target (a): moelogit over 10 seeds against flexmix's best of 3",
    )
    parser.add_argument(
        "--target-starts",
        default="",
        help="with --flexmix-target: also the default with these numbers of starts "
        "(comma-separated, e.g. 10,5,3,1)",
    )
    parser.add_argument(
        "--target-jobs",
        default="",
        help="with --flexmix-target: also the default with these n_jobs (comma-separated, e.g. 1)",
    )
    args = parser.parse_args(argv)
    problems, flexmix = {}, None
    for name in filter(None, args.problems.split(",")):  # --problems "": the target alone
        spec = PROBLEMS[name]
        print(f"\nProblem ({name}): n={spec['n']:,}, d={spec['d']}, K={spec['K']}, M={spec['M']}")
        table, steps = run_problem(
            spec,
            args.repeats,
            max_iter=MAX_ITER[name],
            em_max_iter=EM_MAX_ITER.get(name),
            fitters=args.fitters.split(",")
            if args.fitters
            else (C_FITTERS if name == "c" else None),
            flexmix_max_iter=None if args.skip_flexmix else FLEXMIX_MAX_ITER.get(name),
        )
        _print(table)
        print()
        _print(steps)
        problems[name] = (table, steps)
    if args.flexmix_target:
        starts = [int(part) for part in args.target_starts.split(",") if part.strip()]
        jobs = [int(part) for part in args.target_jobs.split(",") if part.strip()]
        flexmix = flexmix_target(n_inits=starts, n_jobs=jobs)
        if flexmix is not None:
            print("\nTarget (a): problem a, moelogit default against flexmix")
            _print(flexmix, 6)
    summary = targets(problems, flexmix)
    if len(summary):
        print("\nTargets (of the fit-engine issue)")
        print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
