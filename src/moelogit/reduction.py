"""Row-block reductions on threads: a fit's full-data sums on every core.

:class:`moelogit.model.SerialReduction` defines the seam: a fit visits its
rows only through ``reduction(terms, arrays, blocks)``, the sum in block
order of ``terms(parts, rows, workspace)`` over the blocks of rows. :class:`ThreadReduction` computes the blocks'
terms on a thread pool (NumPy releases the GIL in its ufunc loops and BLAS
calls) and sums them in the same order, so the number of threads changes
no sum (BLAS's own threading aside).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, wait
from pathlib import Path

import numpy as np
from threadpoolctl import OpenBLASController, ThreadpoolController

from .model import Blocks, Workspace, accumulate, copied_terms

__all__ = ["ThreadReduction", "blas_single_threaded", "other_blas_single_threaded"]


@functools.cache
def _controller() -> ThreadpoolController:
    """The loaded thread pools, looked up once (0.3 ms, 40 times a limit itself)."""
    return ThreadpoolController()


def _numpy_owns(filepath: str) -> bool:
    """Whether a loaded library ships with NumPy (wheels keep it in ``numpy.libs`` or ``numpy/``)."""
    root = Path(np.__file__).resolve().parent
    path = Path(filepath).resolve()
    return any(place in path.parents for place in (root, root.with_name("numpy.libs")))


def _release_openblas() -> None:
    """Lets the next thread that sets OpenBLAS's threads do so.

    Since version 3.7 threadpoolctl lets one thread at a time set the
    threads of an OpenBLAS on its own pthreads, and ignores the others; a
    limit set outside a ``with`` block keeps that thread in control.
    """
    release = getattr(OpenBLASController, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)


class _SharedBlasLimits:
    """The process-wide BLAS limits that the contexts open at once need, in any threads.

    threadpoolctl restores, at each exit, what that context found, so
    contexts that overlap in several threads could leave a library on one
    thread for good. Here the limits in force follow the contexts open:
    every library on one thread while one of :func:`blas_single_threaded`'s
    is, else the libraries beside NumPy's while one of
    :func:`other_blas_single_threaded`'s is, else as they were before the
    first opened. Whichever thread changes them, under the lock, takes
    OpenBLAS's control for the change and gives it back. A forked child
    gets a fresh lock, since the parent's may have been held by a thread
    the child does not have; the limits stay as the child found them.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.users = {"all": 0, "others": 0}
        self.limited = None  # which libraries are held to one thread: "all", "others" or None
        self.limiter = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.lock = threading.Lock()

    def _needed(self) -> str | None:
        if self.users["all"]:
            return "all"
        return "others" if self.users["others"] else None

    def _follow(self) -> None:
        """Sets the limits the open contexts need (with the lock held)."""
        needed = self._needed()
        if needed == self.limited:
            return
        _release_openblas()
        try:
            if self.limiter is not None:
                self.limiter.restore_original_limits()
                self.limiter, self.limited = None, None
            if needed == "all":
                self.limiter = _controller().limit(limits=1, user_api="blas")
            elif needed == "others":
                others = _controller().select(filepath=list(_other_blas_paths()))
                self.limiter = others.limit(limits=1)
            self.limited = needed
        finally:
            _release_openblas()

    @contextlib.contextmanager
    def __call__(self, kind: str):
        with self.lock:
            self.users[kind] += 1
            try:
                self._follow()
            except BaseException:
                self.users[kind] -= 1
                raise
        try:
            yield
        finally:
            with self.lock:
                self.users[kind] -= 1
                self._follow()


_blas_limits = _SharedBlasLimits()


def blas_single_threaded() -> contextlib.AbstractContextManager:
    """While open, every loaded BLAS library runs one thread.

    The limit is process-wide, shared with the contexts open at once in
    other threads and lifted when the last of them closes (see
    :class:`_SharedBlasLimits`).
    """
    return _blas_limits("all")


def other_blas_single_threaded() -> contextlib.AbstractContextManager:
    """While open, the BLAS libraries loaded beside NumPy's own run one thread each.

    NumPy's and SciPy's wheels each bring an OpenBLAS with its own thread
    pool, whose threads keep spinning for a while after every call. Code
    that alternates between the two, such as SciPy's L-BFGS-B calling a
    NumPy objective, then has four threads fight for two cores: on
    benchmark problem b an evaluation took 31-112 ms inside L-BFGS against
    21 ms alone (docs/performance.md). SciPy's calls there are small, so
    one thread loses nothing. Does nothing unless NumPy's library is told
    apart from the others (one shared library, as in conda, needs nothing).
    Shared like :func:`blas_single_threaded`'s limit: L-BFGS runs side by
    side in threads (screening under joblib's threading backend) leave the
    libraries as they found them.
    """
    if not _other_blas_paths():
        return contextlib.nullcontext()
    return _blas_limits("others")


@functools.cache
def _other_blas_paths() -> tuple[str, ...]:
    """The BLAS libraries of :func:`_controller`'s snapshot that are not NumPy's.

    Empty where none of them is told apart as NumPy's (see
    :func:`other_blas_single_threaded`); looked up once, as the snapshot is.
    """
    paths = [info["filepath"] for info in _controller().select(user_api="blas").info()]
    others = tuple(path for path in paths if not _numpy_owns(path))
    return () if len(others) == len(paths) else others


# Bytes of block terms the threads of a ThreadReduction may hold, together,
# before they wait for them to be added: a gradient's terms are a few
# kilobytes a block, a Hessian's P x P (4.7 MB at benchmark problem c's 765
# parameters).
HELD_BYTES = 2**26


def _nbytes(part: tuple) -> int:
    return sum(term.nbytes if isinstance(term, np.ndarray) else 8 for term in part)


class _Run:
    """A helper thread's run of consecutive blocks: their terms, held until they are added."""

    def __init__(self, blocks: list):
        self.blocks = blocks
        self.held: deque = deque()
        self.held_bytes = 0


class ThreadReduction:
    """Block terms computed by ``n_threads`` threads, summed in block order to the serial bit.

    The blocks are cut into runs of consecutive blocks, one a thread (at
    most one a block), as even as can be. This thread computes the first
    run, adding each block's terms as it goes; threads of ``executor``
    compute the others, each keeping its blocks' terms (copied) until this
    thread adds them, in order. The sum is thus the serial one
    (:class:`~moelogit.model.SerialReduction`) to the bit, and no thread
    waits for another while this one computes its run: on benchmark
    problem b an evaluation on two threads took 10.7 ms, against 14.1 ms
    when they took one block at a time from a queue that a third thread
    refilled and summed, as long as ``n_jobs=1``'s (docs/performance.md).
    The helpers hold at most :data:`HELD_BYTES` of terms between them (and
    a block's each more), else wait for them to be added; a run that no
    thread of ``executor`` has begun when its turn comes is computed here.
    BLAS runs one thread per worker meanwhile; work outside the reduction (a
    screening sample of one block, the solves) keeps all of BLAS's. Every
    thread keeps its own scratch :class:`~moelogit.model.Workspace`.
    """

    def __init__(self, executor: Executor, n_threads: int):
        self.executor, self.n_threads = executor, n_threads
        self._local = threading.local()

    def _workspace(self) -> Workspace:
        workspace = getattr(self._local, "workspace", None)
        if workspace is None:
            workspace = self._local.workspace = Workspace()
        return workspace

    def __call__(self, terms: Callable, arrays: tuple, blocks: Blocks) -> tuple:
        def part(rows: slice) -> tuple:
            return terms(tuple(array[rows] for array in arrays), rows, self._workspace())

        blocks = blocks(arrays[0].shape[0])
        n_runs = min(self.n_threads, len(blocks))
        total = None
        if n_runs <= 1:  # nothing to share: no hand-over
            for rows in blocks:
                total = accumulate(total, part(rows))
            return tuple(total)
        ends = [len(blocks) * run // n_runs for run in range(n_runs + 1)]
        first, *others = (_Run(blocks[a:b]) for a, b in itertools.pairwise(ends))
        cap = HELD_BYTES // len(others)  # each helper's share of the bytes held
        changed, stop, failed = threading.Condition(), threading.Event(), threading.Event()

        def compute(run: _Run) -> None:
            try:
                for rows in run.blocks:
                    with changed:  # at the cap: wait until this thread's terms are added
                        changed.wait_for(lambda: stop.is_set() or run.held_bytes < cap)
                    if stop.is_set():
                        return
                    # Copied: this thread's next block reuses its workspace.
                    kept = tuple(copied_terms(part(rows)))
                    with changed:
                        run.held.append(kept)
                        run.held_bytes += _nbytes(kept)
                        changed.notify_all()
            except BaseException:
                failed.set()  # this thread stops its own run early
                raise

        def taken(run: _Run, future) -> tuple:
            """The next of ``run``'s terms, once computed; the thread's error if it failed."""
            with changed:
                changed.wait_for(lambda: run.held or future.done())
                if not run.held:
                    future.result()  # raises the thread's error
                    raise RuntimeError("a reduction thread ended before its blocks")
                kept = run.held.popleft()
                run.held_bytes -= _nbytes(kept)
                changed.notify_all()
                return kept

        futures: list = []
        with blas_single_threaded():
            try:
                for run in others:
                    futures.append(self.executor.submit(compute, run))
                    # Wakes a wait for a thread that ended, with an error or not.
                    futures[-1].add_done_callback(lambda _: _notified(changed))
                for rows in first.blocks:
                    if failed.is_set():  # a helper's error: raised where its run is taken
                        break
                    total = accumulate(total, part(rows))
                for run, future in zip(others, futures):
                    if future.cancel():  # not begun (a busy or unordered executor): run here
                        for rows in run.blocks:
                            total = accumulate(total, part(rows))
                        continue
                    for _ in run.blocks:
                        total = accumulate(total, taken(run, future))
            finally:  # after an error: nothing left running on these arrays
                stop.set()
                _notified(changed)
                for future in futures:
                    future.cancel()
                # A cancelled future never runs, but is done for wait() only
                # once a thread of the executor has come to it.
                wait([future for future in futures if not future.cancelled()])
        return tuple(total)


def _notified(condition: threading.Condition) -> None:
    with condition:
        condition.notify_all()
