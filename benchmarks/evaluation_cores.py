"""What two cores give one evaluation of the log-likelihood and gradient: threads or processes.

Run ``python -m benchmarks.evaluation_cores [--problem b] [--repeats 30]``
from the repository root. On the problem's rows (see
:mod:`benchmarks.fit_speed`) at a random start, with BLAS on one thread,
it times an evaluation of all rows on one thread; of one half of the rows
alone; of both halves on two threads (the row-block reduction of
``n_jobs=2``); and of one half in each of two processes at once (each
process times its own half, and the slower counts). The last is the floor
of any executor that shares an evaluation between two processes of this
machine: more than half the single thread's time where the halves compete
for memory bandwidth.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.fit_speed import PROBLEMS, common_data
from moelogit.init import initial_theta
from moelogit.model import objective_and_gradient, unpack


def _problem(name: str):
    """The problem's design rows, labels, weights and a random start's coefficients."""
    _, _, (Z, y, weights, dims) = common_data(PROBLEMS[name])
    return Z, y, weights, unpack(initial_theta(Z, y, weights, dims, "random", 1), dims)


def _milliseconds(evaluate, repeats: int) -> float:
    evaluate()  # scratch allocated, caches warm
    began = time.perf_counter()
    for _ in range(repeats):
        evaluate()
    return (time.perf_counter() - began) / repeats * 1e3


def _half_at_once(name: str, which: int, repeats: int, barrier, out) -> None:
    """One process's half of the rows, timed once both processes are ready."""
    Z, y, weights, (gate, experts) = _problem(name)
    rows = np.array_split(np.arange(len(y)), 2)[which]
    with threadpool_limits(1, "blas"):
        objective_and_gradient(Z[rows], y[rows], weights[rows], gate, experts)
        barrier.wait()
        out.put(_milliseconds(
            lambda: objective_and_gradient(Z[rows], y[rows], weights[rows], gate, experts), repeats
        ))  # fmt: skip


def evaluation_cores(name: str = "b", repeats: int = 30) -> pd.DataFrame:
    """Milliseconds per evaluation, one row per way of computing it."""
    Z, y, weights, (gate, experts) = _problem(name)
    halves = [slice(0, len(y) // 2), slice(len(y) // 2, len(y))]

    def evaluate(rows):
        return objective_and_gradient(Z[rows], y[rows], weights[rows], gate, experts)

    times = {}
    with threadpool_limits(1, "blas"):
        times["all rows, one thread"] = _milliseconds(lambda: evaluate(slice(None)), repeats)
        times["one half alone"] = _milliseconds(lambda: evaluate(halves[0]), repeats)
        with ThreadPoolExecutor(2) as pool:
            times["both halves, two threads"] = _milliseconds(
                lambda: list(pool.map(evaluate, halves)), repeats
            )
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_half_at_once, args=(name, which, repeats, barrier, out))
        for which in (0, 1)
    ]
    for worker in workers:
        worker.start()
    slower = max(out.get(), out.get())
    for worker in workers:
        worker.join()
    times["a half in each of two processes at once"] = slower
    table = pd.DataFrame({"evaluation": list(times), "ms": list(times.values())})
    table["speed-up over one thread"] = times["all rows, one thread"] / table["ms"]
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="b", choices=sorted(PROBLEMS))
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    print(
        f"Problem ({args.problem}): "
        + ", ".join(f"{k}={v:,}" for k, v in PROBLEMS[args.problem].items())
    )
    print(evaluation_cores(args.problem, args.repeats).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
