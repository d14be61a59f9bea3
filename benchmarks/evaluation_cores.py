"""What two cores can give one evaluation of the log-likelihood and gradient on this machine.

Run ``python -m benchmarks.evaluation_cores [--problem b] [--repeats 30]
[--rounds 5]`` from the repository root. Two tables.

*The evaluation*, milliseconds per evaluation on the problem's rows (see
:mod:`benchmarks.fit_speed`) at a random start, medians of ``--rounds``
rounds that each time every way in turn, with scratch arrays kept between
evaluations as in a fit:

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
fit a core's L2 cache and on arrays that only main memory holds, and
GFLOP/s of a 1,500 x 1,500 matrix product (:data:`KERNELS`). Work that
streams rows from main memory gains from a second core only what the
ratio column says.
"""

from __future__ import annotations

import argparse
import contextlib
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


def _milliseconds(evaluate, repeats: int, ready=None) -> float:
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
        ready.wait()  # set up: the parent's rounds begin
        for _ in range(rounds):
            ready.wait()  # both warm up, then time, while the parent waits
            out.put(_milliseconds(evaluate, repeats))


# Seconds a process or the parent waits for the other side before giving up.
TIMEOUT = 600


@contextlib.contextmanager
def _processes(target, args_of, n_processes: int, parties: int):
    """``n_processes`` processes of ``target(*args_of(i, ready, out))``: ``(ready, out)``.

    ``ready`` is a barrier of ``parties``; the processes are ended on the
    way out, after an error too, so a failure leaves nothing waiting.
    """
    context = multiprocessing.get_context("spawn")
    ready, out = context.Barrier(parties, timeout=TIMEOUT), context.Queue()
    workers = [
        context.Process(target=target, args=args_of(i, ready, out), daemon=True)
        for i in range(n_processes)
    ]
    for worker in workers:
        worker.start()
    try:
        yield ready, out
        for worker in workers:
            worker.join(TIMEOUT)
    finally:
        ready.abort()
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()


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

    # The two processes time their halves at this process's signal (a
    # barrier of three), each round while it waits.
    processes = _processes(
        _half_in_process, lambda i, ready, out: (name, i, repeats, rounds, ready, out), 2, 3
    )
    times: dict[str, list] = {}
    with processes as (signal, out), ThreadPoolExecutor(2) as pool:
        signal.wait()  # the processes are set up
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
                max(out.get(timeout=TIMEOUT), out.get(timeout=TIMEOUT))
            )
    medians = {way: float(np.median(values)) for way, values in times.items()}
    table = pd.DataFrame({"evaluation": list(medians), "ms": list(medians.values())})
    table["speed-up over one thread"] = medians["all rows, one thread"] / table["ms"]
    table["speed-up over n_jobs=1"] = medians["all rows, as n_jobs=1 evaluates them"] / table["ms"]
    return table


# (what, the arrays' or matrices' size, the rate's unit, calls per repeat:
# about 10 ms each). A core's L2 cache holds 1 MiB on this machine; np.add's
# three arrays of 2^14 doubles take 384 KiB, of 2^22 doubles 96 MiB.
KERNELS = (
    ("np.add on arrays in L2 (3 x 128 KiB)", 2**14, "GB/s", 2000),
    ("np.add on arrays in main memory (3 x 32 MiB)", 2**22, "GB/s", 4),
    ("1,500 x 1,500 matrix product", 1500, "GFLOP/s", 1),
)


def _kernel_seconds(kernel: tuple, repeats: int, ready, out) -> None:
    """Puts the seconds a call of ``kernel`` (a row of :data:`KERNELS`) takes on one BLAS thread."""
    _, size, unit, calls = kernel
    with threadpool_limits(1, "blas"):
        if unit == "GFLOP/s":
            a = np.random.default_rng(0).random((size, size))
            call = lambda: a @ a
        else:
            a, b, c = np.ones(size), np.ones(size), np.empty(size)
            call = lambda: np.add(a, b, out=c)
        out.put(_milliseconds(call, repeats * calls, ready) / 1e3)


def _work(kernel: tuple) -> float:
    """A call's bytes (two arrays read, one written; write-allocate not counted) or flops, in G."""
    _, size, unit, _ = kernel
    return (2 * size**3 if unit == "GFLOP/s" else 3 * 8 * size) / 1e9


def _seconds_at_once(kernel: tuple, repeats: int, n_processes: int) -> list[float]:
    args_of = functools.partial(_kernel_args, kernel, repeats)
    with _processes(_kernel_seconds, args_of, n_processes, n_processes) as (_, out):
        return [out.get(timeout=TIMEOUT) for _ in range(n_processes)]


def _kernel_args(kernel: tuple, repeats: int, index: int, ready, out) -> tuple:
    return kernel, repeats, ready, out


def machine_scaling(repeats: int = 20) -> pd.DataFrame:
    """Each kernel's rate in one process, in two at once and the ratio.

    Two processes' rate is twice a call's work over the slower one's time,
    so that neither's time alone counts as shared.
    """
    rows = []
    for kernel in KERNELS:
        (alone,) = _seconds_at_once(kernel, repeats, 1)
        both = max(_seconds_at_once(kernel, repeats, 2))
        rows.append({"kernel": kernel[0], "unit": kernel[2], "one process": _work(kernel) / alone,
                     "two processes at once": 2 * _work(kernel) / both,
                     "ratio": 2 * alone / both})  # fmt: skip
    return pd.DataFrame(rows)


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
