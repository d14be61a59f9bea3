"""What two cores can give one evaluation of the log-likelihood and gradient on this machine.

Run ``python -m benchmarks.evaluation_cores [--problem b] [--repeats 30]``
from the repository root. Two tables.

*The evaluation*, milliseconds per evaluation on the problem's rows (see
:mod:`benchmarks.fit_speed`) at a random start, each way with scratch
arrays kept between evaluations, as in a fit:

- all rows as ``n_jobs=1`` evaluates them (BLAS's own threads as they
  are): the baseline of the cores' target;
- all rows on one thread (BLAS too), and one half of them alone;
- both halves by ``n_jobs=2``'s row-block reduction
  (:class:`moelogit.reduction.ThreadReduction`: every evaluation waits for
  both threads);
- a half in each of two threads, and in each of two processes, evaluated
  over and over at once without waiting for each other (each times its
  own half; the slower counts): the floor of any executor that shares an
  evaluation between two threads, or two processes, of this machine.

*The machine*: what one process and two at once get from the memory
system and the cores, on one thread each: GB/s of ``np.add`` on arrays that
fit a core's L2 cache (0.5 MiB) and on arrays that only main memory holds
(32 MiB), and GFLOP/s of a 1,500 x 1,500 matrix product. Work that streams
rows from main memory gains from a second core only what the second
column's ratio says.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.fit_speed import PROBLEMS, common_data
from moelogit.init import initial_theta
from moelogit.model import Workspace, objective_and_gradient, unpack
from moelogit.reduction import ThreadReduction


def _problem(name: str):
    """The problem's design rows, labels, weights and a random start's coefficients."""
    _, _, (Z, y, weights, dims) = common_data(PROBLEMS[name])
    return Z, y, weights, unpack(initial_theta(Z, y, weights, dims, "random", 1), dims)


def _milliseconds(evaluate, repeats: int, ready=None, warm: bool = True) -> float:
    if warm:
        evaluate()  # scratch allocated, caches warm
    if ready is not None:
        ready.wait()
    began = time.perf_counter()
    for _ in range(repeats):
        evaluate()
    return (time.perf_counter() - began) / repeats * 1e3


def _halves(n_rows: int) -> list[slice]:
    return [slice(0, n_rows // 2), slice(n_rows // 2, n_rows)]


def _half_evaluation(data, which: int):
    """A function evaluating half ``which`` of ``data``'s rows on its own scratch."""
    Z, y, weights, (gate, experts) = data
    rows, workspace = _halves(len(y))[which], Workspace()
    return lambda: objective_and_gradient(
        Z[rows], y[rows], weights[rows], gate, experts, workspace=workspace
    )


def _half_in_process(name: str, which: int, repeats: int, rounds: int, ready, out) -> None:
    """Times half ``which`` once a round, when the parent and the other process are ready."""
    with threadpool_limits(1, "blas"):
        evaluate = _half_evaluation(_problem(name), which)
        evaluate()
        ready.wait()  # set up: the parent's rounds begin
        for _ in range(rounds):
            out.put(_milliseconds(evaluate, repeats, ready, warm=False))


def _started(target, args_of, n_processes: int, parties: int):
    """``n_processes`` processes of ``target(*args_of(i, ready, out))``, with a barrier of ``parties``."""
    context = multiprocessing.get_context("spawn")
    ready, out = context.Barrier(parties), context.Queue()
    workers = [
        context.Process(target=target, args=args_of(i, ready, out)) for i in range(n_processes)
    ]
    for worker in workers:
        worker.start()
    return workers, ready, out


def _in_processes(target, args_of, n_processes: int) -> list:
    """What ``target(*args_of(i, ready, out))`` put, from ``n_processes`` processes started at once."""
    workers, _, out = _started(target, args_of, n_processes, n_processes)
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    return results


def evaluation_cores(name: str = "b", repeats: int = 30, rounds: int = 5) -> pd.DataFrame:
    """Milliseconds per evaluation, one row per way of computing it: medians of ``rounds``.

    Every round times each way once, in turn, so that the machine's drift
    (tens of percent within minutes here) falls on all of them alike.
    """
    data = _problem(name)
    Z, y, weights, (gate, experts) = data
    workspace = Workspace()

    def evaluate(rows=slice(None), reduction=None):
        objective_and_gradient(
            Z[rows], y[rows], weights[rows], gate, experts, workspace=workspace,
            reduction=reduction,
        )  # fmt: skip

    # The two processes time their halves at the parent's signal (a barrier
    # of three), each round while this process waits.
    workers, signal, out = _started(
        _half_in_process, lambda i, ready, out: (name, i, repeats, rounds, ready, out), 2, 3
    )
    signal.wait()  # the processes are set up
    times: dict[str, list] = {}
    with ThreadPoolExecutor(2) as pool:
        reduction = ThreadReduction(pool, 2)
        ready = threading.Barrier(2)
        halves = [_half_evaluation(data, which) for which in (0, 1)]
        ways = {
            "all rows, as n_jobs=1 evaluates them": lambda: _milliseconds(evaluate, repeats),
            "all rows, one thread": lambda: _milliseconds(evaluate, repeats),
            "one half alone": lambda: _milliseconds(lambda: evaluate(_halves(len(y))[0]), repeats),
            "both halves, n_jobs=2's reduction": lambda: _milliseconds(
                lambda: evaluate(reduction=reduction), repeats
            ),
            "a half in each of two threads at once": lambda: max(
                pool.map(lambda half: _milliseconds(half, repeats, ready), halves)
            ),
        }
        for _ in range(rounds):
            for way, timed in ways.items():
                limit = 1 if way != "all rows, as n_jobs=1 evaluates them" else None
                with threadpool_limits(limit, "blas"):
                    times.setdefault(way, []).append(timed())
            signal.wait()
            times.setdefault("a half in each of two processes at once", []).append(
                max(out.get(), out.get())
            )
    for worker in workers:
        worker.join()
    medians = {way: float(np.median(values)) for way, values in times.items()}
    table = pd.DataFrame({"evaluation": list(medians), "ms": list(medians.values())})
    table["speed-up over one thread"] = medians["all rows, one thread"] / table["ms"]
    table["speed-up over n_jobs=1"] = medians["all rows, as n_jobs=1 evaluates them"] / table["ms"]
    return table


# (what, the arrays' or matrices' size, the rate's unit, calls per repeat:
# about 10 ms each)
KERNELS = (
    ("np.add on arrays in L2 (0.5 MiB)", 2**16, "GB/s", 500),
    ("np.add on arrays in main memory (32 MiB)", 2**22, "GB/s", 4),
    ("1,500 x 1,500 matrix product", 1500, "GFLOP/s", 1),
)


def _kernel_rate(kernel: tuple, repeats: int, ready=None) -> float:
    """The rate of ``kernel`` (a row of :data:`KERNELS`) on one BLAS thread, after ``ready``."""
    _, size, unit, calls = kernel
    with threadpool_limits(1, "blas"):
        if unit == "GFLOP/s":
            a = np.random.default_rng(0).random((size, size))
            seconds = _milliseconds(lambda: a @ a, repeats * calls, ready) / 1e3
            return 2 * size**3 / seconds / 1e9
        a, b, c = np.ones(size), np.ones(size), np.empty(size)
        seconds = _milliseconds(lambda: np.add(a, b, out=c), repeats * calls, ready) / 1e3
        return 3 * 8 * size / seconds / 1e9  # two arrays read, one written


def _kernel_in_process(kernel: tuple, repeats: int, ready, out) -> None:
    out.put(_kernel_rate(kernel, repeats, ready))


def machine_scaling(repeats: int = 20) -> pd.DataFrame:
    """Each kernel's rate in one process, in two at once (their sum) and the ratio."""
    rows = []
    for kernel in KERNELS:
        args_of = functools.partial(_kernel_args, kernel, repeats)
        alone = _in_processes(_kernel_in_process, args_of, 1)[0]
        both = sum(_in_processes(_kernel_in_process, args_of, 2))
        rows.append({"kernel": kernel[0], "unit": kernel[2], "one process": alone,
                     "two processes at once": both, "ratio": both / alone})  # fmt: skip
    return pd.DataFrame(rows)


def _kernel_args(kernel: tuple, repeats: int, index: int, ready, out) -> tuple:
    return kernel, repeats, ready, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="b", choices=sorted(PROBLEMS))
    parser.add_argument("--repeats", type=int, default=30, help="evaluations a timing")
    parser.add_argument("--rounds", type=int, default=5, help="timings a way (medians)")
    args = parser.parse_args(argv)
    print(
        f"Problem ({args.problem}): "
        + ", ".join(f"{k}={v:,}" for k, v in PROBLEMS[args.problem].items())
    )
    print(evaluation_cores(args.problem, args.repeats, args.rounds).round(2).to_string(index=False))
    print("\nThe machine, one thread a process:")
    print(machine_scaling().round(2).to_string(index=False))


if __name__ == "__main__":
    main()
