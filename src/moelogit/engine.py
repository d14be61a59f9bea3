"""The fit engine: many starts, the best one run to convergence, on every core.

A mixture likelihood has many local optima, so one fit is a strategy around
the MM map (:class:`moelogit.mm.BohningMM`): draw starts, screen them for a
few iterations (on a row sample when the data are large), run the best one
in on nested samples ten, a hundred, ... times larger, finish it on all
rows, optionally refine it by Newton steps. Screening explores, by default
with the MM map itself on a single-precision copy of its rows (about 0.6
times a step's time; sums, solves and parameters in double); the run-in and
the final run converge in double precision, by default by L-BFGS in the MM
map's metric (:func:`moelogit.quasi_newton.lbfgs_ascent`).
:func:`fit_multistart` carries it out on a design matrix, labels and
weights, reporting what it does to a :class:`FitListener`; the estimator
only validates, standardises and presents.

With ``n_jobs`` above one, the starts are screened side by side in
processes, since a screening step on at most ``screen_rows`` rows is too
short for threads: NumPy holds the GIL between its calls, and the 20
starts of a 5,000-row problem took 1.2 times as long on 2 threads. By
default this process screens starts from the front of the list while
``n_jobs - 1`` of loky's worker processes take them from the back
(:class:`_SharedScreening`), so screening begins before the workers have
started (inside a worker of an outer parallel loop a fit takes one
core); under a joblib backend the caller chose (Dask's, for example)
``n_jobs`` of its workers screen them instead. Where the MM map takes
several steps together faster (:meth:`moelogit.mm.BohningMM.steps`), the
starts go in fixed batches of :data:`SCREENING_BATCH` whose runs step
together (:func:`moelogit.solver.maximize_together`); where their steps
are long enough for threads (:data:`THREADED_SCREENING_MIN_VALUES`),
``n_jobs - 1`` threads of this process take the place of the worker
processes and their start-up. A batch is screened
on one BLAS thread wherever it runs (except under a caller's backend), so it
ends the same to the bit; what the workers tell the listener is replayed
here in the starts' order. Runs on
more than one row block (the run-in and the final run) share the blocks
among ``n_jobs`` threads (:class:`moelogit.reduction.ThreadReduction`),
whose sums are added in block order. A fit thus differs between values of
``n_jobs`` only by BLAS's rounding, and draws and keeps the same starts.
``docs/performance.md`` has what processes and threads gain.
Data in the chunks of Dask arrays are reduced chunk by chunk on the active
Dask scheduler instead (:class:`moelogit.chunked.ChunkReduction`).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import numbers
import os
import tempfile
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import joblib
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.process_executor import BrokenProcessPool
from joblib.parallel import BACKENDS, get_active_backend

from .chunked import (
    ChunkReduction,
    gather_samples,
    is_dask_collection,
    positive_counts,
    require_dask,
)
from .init import initial_theta
from .mm import CURVATURES, BohningMM
from .model import Dims, Support, row_blocks
from .newton import newton_refine
from .reduction import ThreadReduction, blas_single_threaded
from .solver import FitResult, join_fits, maximize, maximize_together

__all__ = [
    "PRECISIONS",
    "SOLVERS",
    "FitListener",
    "MultistartResult",
    "Strategy",
    "fit_multistart",
    "sample_rows",
    "sample_sizes",
]

# How the run-in and the final run converge (Strategy.solver).
SOLVERS = ("lbfgs", "mm")
# The precisions the starts can be drawn and screened in (Strategy.screen_precision).
PRECISIONS = {"single": np.float32, "double": np.float64}
# Iterations of a successive-halving round.
HALVING_ROUND = 3
# Starts screened by the MM map go in batches of this many consecutive ones,
# whose steps are taken together where that is faster (BohningMM.steps: 1.5
# times on benchmark problem b's screening sample). The batches do not depend
# on n_jobs, so a start is screened alike wherever it runs; 20 starts make 4
# batches, enough for the processes of small machines.
SCREENING_BATCH = 5
# Batches that step together are screened in threads (no worker start-up)
# where the rows' outer products of their bounds hold at least this many
# values (n q (q + 1) / 2), else in worker processes: two threads screened
# problem b's batches (10,000 rows, q = 21: 2.3 million) 1.7 times as fast
# as one, but batches on 4,000 and 10,000 rows at q = 13 (0.36 and 0.9
# million) 1.0 and 1.3 times, where warm worker processes gave 1.7. (In single
# precision b's batches gain 1.43-1.55 times in threads, 2.0 in processes,
# but threads still end a first fit's screening sooner: at 1.22-1.36 s
# against 1.49-1.51 s with the workers' start-up.)
THREADED_SCREENING_MIN_VALUES = 2_000_000
# Newton steps allowed to ``polish``: in the rates experiment over-fitted fits
# took a median of 21, and 3 of 200 still had not converged after 100.
NEWTON_MAX_ITER = 100


@dataclass(frozen=True)
class Strategy:
    """How :func:`fit_multistart` explores and converges (the estimator's settings).

    See :class:`moelogit.MoEClassifier` for what each setting does.
    ``screening`` is ``"all"`` (every start for ``init_iter`` iterations,
    the estimator's) or ``"halving"`` (successive halving, see
    ``docs/performance.md`` for how it compares). ``screen_solver`` screens
    the starts (the estimator's: ``"mm"``, the MM map with SQUAREM; or
    ``"lbfgs"``); ``solver`` runs the finalists, the run-in and the final
    run: ``"lbfgs"`` (:func:`moelogit.quasi_newton.lbfgs_ascent`) or
    ``"mm"``. ``n_finalists`` starts screened best (with ``"all"``; one
    after halving) run to convergence on the screening rows, and the best
    of them goes on. ``screen_curvature`` is the MM map's curvature while
    screening (None: the fit's own). With ``init="mixed"``, starts 1,
    ``1 + kmeans_every``, ``1 + 2 kmeans_every``, ... draw their gates from
    k-means and the others at random (None, the estimator's: start 1 only).
    ``screen_precision`` is that of the screening rows' copy on which the
    starts are drawn and screened: ``"single"`` (the estimator's; sums in
    double) or ``"double"``. The finalists, the run-in and the final run
    are in double precision (``docs/performance.md`` has the measurements).
    """

    n_init: int = 20
    init: str = "mixed"
    init_iter: int = 15
    screen_rows: int | None = 10_000
    max_iter: int = 1000
    tol: float = 1e-8
    acceleration: bool = True
    polish: bool = False
    screening: str = "all"
    solver: str = "lbfgs"
    n_finalists: int = 1
    screen_curvature: str | None = None
    screen_solver: str = "mm"
    kmeans_every: int | None = None
    screen_precision: str = "single"

    def __post_init__(self):
        for name in ("solver", "screen_solver"):
            if getattr(self, name) not in SOLVERS:
                raise ValueError(f"{name} must be one of {SOLVERS}, got {getattr(self, name)!r}")
        every = self.kmeans_every
        if every is not None:
            if not isinstance(every, numbers.Integral) or isinstance(every, bool) or every < 1:
                raise ValueError(f"kmeans_every must be None or an integer >= 1, got {every!r}")
            object.__setattr__(self, "kmeans_every", int(every))  # NumPy's integers too
        if self.screen_precision not in PRECISIONS:
            raise ValueError(
                f"screen_precision must be one of {tuple(PRECISIONS)}, "
                f"got {self.screen_precision!r}"
            )
        if self.screen_curvature not in (None, *CURVATURES):
            raise ValueError(
                f"screen_curvature must be None or one of {CURVATURES}, "
                f"got {self.screen_curvature!r}"
            )


@dataclass(frozen=True)
class MultistartResult:
    """The retained fit and how it was found.

    Attributes
    ----------
    best : FitResult
        The retained start's run on all rows: its trace, iterations and
        convergence (Newton steps of ``polish`` joined on).
    start_objectives : ndarray
        Every start's objective after screening, in the order drawn (empty
        when a single start was run without screening), on the screening
        rows in the strategy's ``screen_precision`` (single: about five
        digits of the objective in double at the same point).
    best_start : int
        Index of the retained start.
    n_newton_iter : int
        Newton steps of ``polish`` (0 without it).
    """

    best: FitResult
    start_objectives: np.ndarray = field(repr=False)
    best_start: int
    n_newton_iter: int = 0


class FitListener:
    """What :func:`fit_multistart` tells while it fits; every hook does nothing by default.

    Stages are ``"screen"`` (one per start, ``number`` from 1), ``"run-in"``
    (one per nested sample), ``"final"`` (all rows) and ``"polish"``. Starts
    screened in worker processes (``n_jobs`` above one) or in batches that
    step together are told in their order when their run or batch ends,
    so a clock in these hooks times only the stages told as they run.
    """

    def loop(self, iterable: Iterable, total: int, desc: str) -> Iterable:
        """Wrap a loop of the fit (the screened starts), for example in a progress bar."""
        return iterable

    def stage_started(self, stage: str, n_rows: int, number: int | None = None) -> None:
        """A run on ``n_rows`` rows begins."""

    def iteration(self, stage: str, iteration: int, value: float) -> None:
        """Iteration ``iteration`` of a run ended at objective ``value``."""

    def stage_finished(
        self, stage: str, n_rows: int, result: FitResult, number: int | None = None
    ) -> None:
        """A run ended with ``result``."""


def sample_sizes(n_positive: int, screen_rows: int | None) -> list[int]:
    """Sizes of the nested samples: ``screen_rows``, then 10, 100, ... times more.

    The first sample is for screening; the larger ones, for the run-in,
    hold at most a tenth of the ``n_positive`` rows of positive weight.
    Empty when all rows are few enough to screen on.
    """
    if screen_rows is None or n_positive <= screen_rows:
        return []
    sizes = [screen_rows]
    while sizes[-1] * 100 <= n_positive:
        sizes.append(sizes[-1] * 10)
    return sizes


def sample_rows(weights: np.ndarray, screen_rows: int | None, rng) -> list[np.ndarray]:
    """Nested random samples of the rows of positive weight, of :func:`sample_sizes`."""
    rows = np.flatnonzero(weights > 0)
    sizes = sample_sizes(rows.size, screen_rows)
    if not sizes:
        return []
    order = rng.permutation(rows)
    return [np.sort(order[:size]) for size in sizes]


def _sample_map(mm: BohningMM, rows: np.ndarray) -> BohningMM:
    """The MM map of the rows ``rows`` of ``mm``'s data, weights renormalised."""
    weights = mm.weights[rows] / mm.weights[rows].sum()
    return BohningMM(
        mm.Z[rows], mm.y[rows], weights, mm.dims, mm.alpha, mm.curvature, mm.reduction, mm.support
    )


def _parts(mm: BohningMM) -> tuple[tuple, tuple]:
    """``mm``'s rows and settings, from which a worker rebuilds it.

    ``BohningMM(*rows, *settings)`` is ``mm`` with its row blocks summed one
    after another: the same sums, in the same order.
    """
    return (mm.Z, mm.y, mm.weights), (mm.dims, mm.alpha, mm.curvature, None, mm.support)


def _gathered_map(mm: BohningMM, design, reduction, X, y, weights) -> BohningMM:
    """The MM map of rows gathered from ``mm``'s chunks, their design made now (when used)."""
    Z = X if design is None else design(X)
    return BohningMM(Z, y, weights, mm.dims, mm.alpha, mm.curvature, reduction, mm.support)


def fit_multistart(
    Z: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray,
    dims: Dims,
    *,
    alpha: float = 0.0,
    curvature: str = "expert",
    strategy: Strategy = Strategy(),
    rng: np.random.RandomState,
    starts: Sequence[np.ndarray] | None = None,
    n_jobs: int | None = None,
    listener: FitListener | None = None,
    design=None,
    support: Support | None = None,
) -> MultistartResult:
    """Fit the mixture from many starts and keep the best (see the module's notes).

    Parameters
    ----------
    Z : ndarray or Dask array of shape (n, q)
        Design matrix, intercept in column 0, in double precision: the
        precision of the runs after screening (single-precision rows would
        make the whole fit single). With Dask arrays (``codes``
        and ``weights`` too, the same row chunks) the samples are gathered
        from the chunks and every full-data run reduces over the chunks
        (:mod:`moelogit.chunked`); ``strategy.screen_rows`` must then be a
        number, and data with no more rows are gathered and fitted in memory.
    codes : ndarray of shape (n,)
        Class codes in ``0 .. dims.M - 1``.
    weights : ndarray of shape (n,)
        Non-negative row weights summing to one.
    dims : Dims
    alpha, curvature
        The ridge and the curvature of the MM map (:class:`moelogit.mm.BohningMM`).
    strategy : Strategy
        Starts, screening, run-in and stopping rule.
    rng : numpy.random.RandomState
        Draws the row samples, then one seed per start, in that order.
    starts : sequence of ndarray, optional
        Packed starting points (warm starts) instead of ``strategy.n_init``
        drawn ones; several are screened like drawn ones.
    n_jobs : int or None
        Cores, with joblib's meaning (None: 1, -1: every core): this
        process and ``n_jobs - 1`` worker processes screen, and runs on
        several row blocks share them among ``n_jobs`` threads; one inside
        a worker of an outer parallel loop (see the module's notes).
    listener : FitListener, optional
        Told about every stage and iteration.
    design : moelogit.design.Design, optional
        Only with Dask arrays: ``Z`` then holds the features, whose design
        rows ``design`` makes where they lie, block by block.
    support : Support, optional
        The design columns of the gate and of the experts (default all);
        warm starts must be zero outside them.

    Returns
    -------
    MultistartResult
    """
    listener = FitListener() if listener is None else listener
    chunked = is_dask_collection(Z)
    if chunked:
        if strategy.screen_rows is None:
            raise ValueError(
                "screen_rows=None screens every start on all rows; with Dask data give a "
                "number of rows: starts are screened on a sample gathered in memory"
            )
        counts = positive_counts(weights)
        sizes = sample_sizes(int(counts.sum()), strategy.screen_rows)
        if not sizes:  # few enough rows to screen on all of them: a fit in memory
            Z, codes, weights = require_dask().compute(Z, codes, weights)
            Z = Z if design is None else design(Z)
            chunked = False
    # A single block of rows in memory has nothing to share among threads.
    in_memory = sizes[-1] if chunked else Z.shape[0]
    cores = _cores(n_jobs)
    n_threads = cores if len(row_blocks(in_memory, dims)) > 1 else 1
    with ThreadPoolExecutor(n_threads) as executor:
        threads = ThreadReduction(executor, n_threads) if n_threads > 1 else None
        mm = BohningMM(
            Z, codes, weights, dims, alpha, curvature,
            ChunkReduction(design) if chunked else threads, support,
        )  # fmt: skip
        # Each sample's map is made when it is used, and lives only while it is.
        if chunked:
            samples = [
                functools.partial(_gathered_map, mm, design, threads, *rows)
                for rows in gather_samples(Z, codes, weights, counts, sizes, rng)
            ]
        else:
            samples = [
                functools.partial(_sample_map, mm, rows)
                for rows in sample_rows(weights, strategy.screen_rows, rng)
            ]
        if samples and strategy.screen_rows < dims.K:
            raise ValueError(
                f"screen_rows={strategy.screen_rows} is below n_experts={dims.K}: "
                "the screening sample needs a row per expert"
            )
        screen = samples[0]() if samples else mm
        if starts is None:
            # One expert is a concave problem with a deterministic start: one suffices.
            n_starts = 1 if dims.K == 1 else strategy.n_init
            seeds = [rng.randint(np.iinfo(np.int32).max) for _ in range(n_starts)]
        else:
            seeds = list(starts)
        engine = _Engine(strategy, listener, cores)
        try:
            found = engine.search(mm, screen, samples[1:], seeds)
        finally:
            engine.close()
        if not strategy.polish:
            return found
        listener.stage_started("polish", Z.shape[0])
        refined = _polished(mm, found.best.theta, strategy.tol)
        best = join_fits(found.best, refined)
        listener.stage_finished("polish", Z.shape[0], best)
        return MultistartResult(best, found.start_objectives, found.best_start, refined.n_iter)


def _polished(mm: BohningMM, theta: np.ndarray, tol: float) -> FitResult:
    """Newton refinement of ``theta`` in the parameters ``mm``'s support leaves free.

    The others stay exactly zero: a step in all of them would spread
    rounding from the rotation into their zero gradient.
    """
    free = mm.support.free(mm.dims)

    def full(point: np.ndarray) -> np.ndarray:
        out = theta.copy()
        out[free] = point
        return out

    def value_and_gradient(point: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = mm.value_and_gradient(full(point))
        return value, grad[free]

    refined = newton_refine(
        value_and_gradient,
        lambda point: mm.hessian(full(point))[np.ix_(free, free)],
        theta[free],
        tol=tol,
        max_iter=NEWTON_MAX_ITER,
    )
    return replace(refined, theta=full(refined.theta))


class _Recorder(FitListener):
    """What a screening run in a worker process tells, kept for the parent's listener."""

    def __init__(self):
        self.events: list[tuple[str, tuple]] = []

    def stage_started(self, *args) -> None:
        self.events.append(("stage_started", args))

    def iteration(self, *args) -> None:
        self.events.append(("iteration", args))

    def stage_finished(self, *args) -> None:
        self.events.append(("stage_finished", args))


# Worker processes of loky for screening, by their number, kept between fits.
_WORKERS: dict[int, ProcessPoolExecutor] = {}
_WORKERS_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child has the executors but not their threads
    os.register_at_fork(after_in_child=_WORKERS.clear)
# Seconds a worker waits for a job before it exits (joblib's default).
_IDLE_SECONDS = 300
# Screening rows of more bytes are dumped to a file once per fit, which every
# worker maps, instead of being pickled with every job (joblib's threshold
# for its own workers; PPI's 10,000 rows of 1,147 columns are 92 MB).
_PICKLED_BYTES = 10**6


def _screening_workers(n_workers: int) -> ProcessPoolExecutor:
    """``n_workers`` of loky's worker processes of our own, started on first use.

    Not loky's shared reusable executor: joblib's ``Parallel`` expects that
    one to be its own kind, and fails if another kind is there. Workers
    that waited ``_IDLE_SECONDS`` for a job exit, and are started again
    when a job comes.
    """
    with _WORKERS_LOCK:
        if n_workers not in _WORKERS:
            _WORKERS[n_workers] = ProcessPoolExecutor(n_workers, timeout=_IDLE_SECONDS)
        return _WORKERS[n_workers]


def _discard_workers(executor) -> None:
    """Forgets a broken executor, so that the next fit starts new workers."""
    with _WORKERS_LOCK:
        for n_workers, cached in list(_WORKERS.items()):
            if cached is executor:
                del _WORKERS[n_workers]
    executor.shutdown(wait=False)


def _cores(n_jobs: int | None) -> int:
    """The cores a fit takes: ``n_jobs``'s, with joblib's meaning.

    One inside a worker of an outer joblib loop or in a daemon process (a
    Dask worker's, for example), whose cores are taken already.
    """
    backend, _ = get_active_backend()
    if getattr(backend, "nesting_level", 0) > 0 or multiprocessing.current_process().daemon:
        return 1
    return effective_n_jobs(n_jobs)


def _in_loky() -> bool:
    """Whether joblib's active backend is its default, loky's processes.

    Then this process screens with ``n_jobs - 1`` of loky's workers
    (:class:`_SharedScreening`); under a backend the caller chose (Dask's,
    threads, ...) ``n_jobs`` of its workers screen.
    """
    return isinstance(get_active_backend()[0], BACKENDS["loky"])


def _recorded_run(
    screen, strategy, batch: list, alone: bool, errors: dict, catch: bool = True
) -> list:
    """The screening runs of :meth:`_Engine.screened`: ``(result, events, warnings)`` of each job.

    What each run told the listener is kept for the fitting process to
    replay; the batch's warnings go with its last run. ``errors`` are its
    ``np.seterr`` settings. ``alone``: on one BLAS thread, so that a batch
    screened here, in a helper thread and in a worker process ends the
    same to the bit, and (with ``catch``) its warnings are kept to be
    replayed too. Catching them is process-wide, so only one thread of a
    process may: runs side by side in other threads let theirs through.
    """
    recorders, caught = [_Recorder() for _ in batch], []
    with contextlib.ExitStack() as stack:
        if alone and catch:
            caught = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always")
        if alone:
            stack.enter_context(blas_single_threaded())
        stack.enter_context(np.errstate(**errors))
        results = _Engine(strategy, FitListener()).screened(screen, batch, recorders)
    told = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    last = len(batch) - 1
    return [
        (result, recorder.events, told if index == last else [])
        for index, (result, recorder) in enumerate(zip(results, recorders))
    ]


def _batches(jobs: list, size: int) -> list[list]:
    """``jobs`` in consecutive batches of at most ``size``, each of one screening budget."""
    batches: list[list] = []
    for job in jobs:
        if batches and len(batches[-1]) < size and batches[-1][0][2] == job[2]:
            batches[-1].append(job)
        else:
            batches.append([job])
    return batches


# In a worker: the screening map of the fit it last served, and that fit's
# token. Per thread: a map's scratch space serves one run at a time, and
# the workers of joblib's threading backend share a process.
_WORKER_MAP = threading.local()


def _screened_in_worker(
    rows, settings, strategy, index, batch, alone, errors, catch: bool = True
) -> tuple:
    """:func:`_recorded_run` in a worker, on the map of ``rows`` and ``settings``: ``(index, runs)``.

    ``rows`` is a :class:`_Rows`. The map is built once per fit and worker
    (process or thread): its curvature's Gram matrix and factor cost
    ``q^2 n``, as much as a screening run at 1,147 columns.
    """
    if getattr(_WORKER_MAP, "token", None) != rows.token:
        arrays = rows.arrays if rows.file is None else joblib.load(rows.file, mmap_mode="r")
        _WORKER_MAP.screen, _WORKER_MAP.token = BohningMM(*arrays, *settings), rows.token
    return index, _recorded_run(_WORKER_MAP.screen, strategy, batch, alone, errors, catch)


@dataclass(frozen=True)
class _Rows:
    """A screening map's rows as the workers get them: the arrays, or the file they lie in."""

    token: str  # which fit and map
    arrays: tuple = ()
    file: str | None = None


class _SharedScreening:
    """Screening runs shared between this thread and the workers of ``executor``.

    The workers are loky's processes, or this process's threads (``in_threads``).
    This thread takes jobs from the front, the workers from the back, so
    screening starts at once, while the workers start up, and the runs are
    told in order as they finish. When no job is left, a job still out in
    a worker is waited for as long as a typical run takes here, then run
    here too (a first fit need not wait for the workers' start-up); the
    first result is kept, and both are the same to the bit. Jobs not yet
    begun in a worker when screening ends are cancelled. Worker threads
    let their runs' warnings through (only this thread catches them).
    """

    def __init__(
        self, engine: _Engine, screen: BohningMM, rows: _Rows, jobs: list, executor,
        in_threads: bool = False,
    ):  # fmt: skip
        self.engine, self.rows, self.jobs, self.executor = engine, rows, jobs, executor
        self.in_threads = in_threads
        # Runs here on one thread, as in the workers: a sample of several row
        # blocks would otherwise take threads of the cores the workers use.
        arrays, self.settings = _parts(screen)
        if isinstance(screen.reduction, ThreadReduction):
            screen = BohningMM(*arrays, *self.settings)
        self.screen = screen
        self.errors = np.geterr()
        self.unclaimed = deque(range(len(jobs)))
        self.arrived = threading.Condition()
        self.finished: dict[int, tuple] = {}
        self.futures: list = []
        self.failed = False
        self.seconds: list[float] = []  # of the runs here

    def _claim(self, first: bool) -> int | None:
        with self.arrived:
            if not self.unclaimed:
                return None
            return self.unclaimed.popleft() if first else self.unclaimed.pop()

    def _send_next(self) -> None:
        """Sends the last unclaimed job to the workers, if any is left."""
        index = self._claim(first=False)
        if index is None:
            return
        try:
            future = self.executor.submit(
                _screened_in_worker, self.rows, self.settings, self.engine.strategy, index,
                self.jobs[index], True, self.errors, not self.in_threads,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 (a broken executor: the jobs are run here)
            _discard_workers(self.executor)
            self._lost()
            return
        with self.arrived:
            self.futures.append(future)
        future.add_done_callback(self._returned)

    def _lost(self) -> None:
        """No more results will come from the workers: the jobs left are run here."""
        with self.arrived:
            self.failed = True
            self.arrived.notify_all()

    def _returned(self, future) -> None:
        """Keeps a worker's result and sends it the next job (on the executor's thread)."""
        if future.cancelled():
            return
        try:
            index, run = future.result()
        except BaseException as error:  # noqa: BLE001 (run here, a job raises what it raised there)
            if isinstance(error, BrokenProcessPool):
                _discard_workers(self.executor)
            self._lost()
            return
        with self.arrived:
            self.finished.setdefault(index, run)
            self.arrived.notify_all()
        self._send_next()

    def _run_here(self, index: int) -> None:
        began = time.perf_counter()
        run = _recorded_run(self.screen, self.engine.strategy, self.jobs[index], True, self.errors)
        self.seconds.append(time.perf_counter() - began)
        with self.arrived:
            self.finished.setdefault(index, run)

    def _awaited(self, index: int) -> tuple:
        """Job ``index``'s run, from its worker if it comes within a typical run's time here, else run here."""
        # The median: the k-means start's run also imports scikit-learn's k-means.
        patience = float(np.median(self.seconds)) if self.seconds else 0.0
        with self.arrived:
            self.arrived.wait_for(lambda: index in self.finished or self.failed, patience)
        if index not in self.finished:
            self._run_here(index)
        return self.finished[index]

    def runs(self) -> Iterable[tuple]:
        """Every run's ``(result, events, warnings)``, in the order of the jobs (batches) and their runs."""
        try:
            # The first job stays here: the workers' start-up is not waited for.
            for _ in range(min(self.engine.n_workers, len(self.jobs) - 1)):
                self._send_next()
            for index in range(len(self.jobs)):
                if self._claim(first=True) == index:
                    self._run_here(index)
                    yield from self.finished[index]
                else:
                    yield from self._awaited(index)
        finally:  # also when the caller stops early: the workers get nothing more
            with self.arrived:
                self.unclaimed.clear()
                futures = list(self.futures)
            for future in futures:
                future.cancel()


class _Engine:
    """One fit's strategy, listener and worker processes for screening."""

    def __init__(self, strategy: Strategy, listener: FitListener, n_jobs: int = 1):
        self.strategy, self.listener, self.n_jobs = strategy, listener, n_jobs
        self.n_workers = 0  # screening workers beside this process, set by the first round
        self._rows: dict[int, _Rows] = {}  # by the screening map's id
        self._files = contextlib.ExitStack()  # the rows' files, removed by close()

    def close(self) -> None:
        """Removes the files of rows dumped for the workers."""
        self._files.close()

    def _rows_of(self, screen: BohningMM) -> _Rows:
        """``screen``'s rows for the workers, dumped to a file once per fit if large."""
        rows = self._rows.get(id(screen))
        if rows is None:
            arrays, _ = _parts(screen)
            rows = _Rows(uuid.uuid4().hex, arrays)
            if sum(array.nbytes for array in arrays) > _PICKLED_BYTES:
                # Errors of the clean-up ignored: where a worker still maps the
                # file (Windows), it cannot be removed yet.
                folder = self._files.enter_context(
                    tempfile.TemporaryDirectory(prefix="moelogit-", ignore_cleanup_errors=True)
                )
                file = os.path.join(folder, "rows.joblib")
                joblib.dump(arrays, file)
                rows = _Rows(rows.token, file=file)
            self._rows[id(screen)] = rows
        return rows

    def run(
        self, stage, step, theta0, max_iter, number=None, previous=None, listener=None
    ) -> FitResult:
        """One run of ``stage``'s solver, told to ``listener`` (the engine's if None); continues ``previous`` if given."""
        theta0 = theta0 if previous is None else previous.theta
        listener = self.listener if listener is None else listener
        return self.runs(stage, step, [theta0], max_iter, [number], [previous], [listener])[0]

    def runs(self, stage, step, thetas0, max_iter, numbers, previous, listeners) -> list:
        """A run from each of ``thetas0``, each with its number, previous run (or None) and listener.

        Several runs of the MM map take their steps together
        (:func:`moelogit.solver.maximize_together`); their listeners are told
        of all the starts first, then of all the ends.
        """
        for listener, number in zip(listeners, numbers, strict=True):
            listener.stage_started(stage, step.n_rows, number)
        callbacks = [functools.partial(listener.iteration, stage) for listener in listeners]
        solver = self.strategy.screen_solver if stage == "screen" else self.strategy.solver
        settings = {"max_iter": max_iter, "tol": self.strategy.tol}
        if solver == "lbfgs":
            # Imported here: SciPy's optimize takes a screening worker 0.1 s
            # of its start-up, and screening by the MM map never needs it.
            from .quasi_newton import lbfgs_ascent

            results = [
                lbfgs_ascent(step, theta0, callback=callback, **settings)
                for theta0, callback in zip(thetas0, callbacks)
            ]
        elif len(thetas0) > 1:
            results = maximize_together(
                step.steps, thetas0, acceleration=self.strategy.acceleration,
                callbacks=callbacks, **settings,
            )  # fmt: skip
        else:
            result = maximize(
                step, thetas0[0], acceleration=self.strategy.acceleration,
                callback=callbacks[0], **settings,
            )  # fmt: skip
            results = [result]
        results = [
            result if before is None else join_fits(before, result)
            for result, before in zip(results, previous)
        ]
        for listener, number, result in zip(listeners, numbers, results):
            listener.stage_finished(stage, step.n_rows, result, number)
        return results

    def start(self, screen: BohningMM, seed, number: int) -> np.ndarray:
        """The ``number``-th start: a warm start as given, or drawn from its seed."""
        if isinstance(seed, np.ndarray):
            return seed
        init = self.strategy.init
        if init == "mixed":
            every = self.strategy.kmeans_every
            kmeans = number == 1 if every is None else (number - 1) % every == 0
            init = "kmeans" if kmeans else "random"
        return initial_theta(
            screen.Z, screen.y, screen.weights, screen.dims, init, seed, screen.support
        )

    def screened(self, screen, batch: list, listeners: list) -> list[FitResult]:
        """Each job ``(number, seed, budget[, previous])`` of ``batch`` screened, told to its listener.

        A job screens start ``number``, drawn from ``seed``, for ``budget``
        iterations, or continues ``previous``. Runs of the MM map take
        their steps together (:meth:`runs`).
        """
        previous = [job[3] if len(job) > 3 else None for job in batch]
        thetas0 = [
            self.start(screen, seed, number) if before is None else before.theta
            for (number, seed, *_), before in zip(batch, previous)
        ]
        numbers, budget = [job[0] for job in batch], batch[0][2]
        if self.strategy.screen_solver == "mm" and len(batch) > 1:
            return self.runs("screen", screen, thetas0, budget, numbers, previous, listeners)
        return [
            self.run("screen", screen, theta0, budget, number, before, listener)
            for theta0, number, before, listener in zip(thetas0, numbers, previous, listeners)
        ]

    def screen_runs(self, screen, jobs: list) -> Iterable[FitResult]:
        """:meth:`screened` for every job ``(number, seed, budget[, previous])``, lazily, in order.

        The jobs go in batches (:data:`SCREENING_BATCH`) where the MM map
        takes several steps together faster. With several batches and
        ``n_jobs`` above one they are shared with worker processes (see
        :func:`_in_loky`); the runs' listener events are told here, in the
        jobs' order.
        """
        together = self.strategy.screen_solver == "mm" and screen.steps_together
        batches = _batches(jobs, SCREENING_BATCH if together else 1)
        if (self.n_jobs == 1 or len(batches) == 1) and not together:
            return (self.screened(screen, batch, [self.listener])[0] for batch in batches)
        if self.n_jobs == 1 or len(batches) == 1:
            # Recorded, to be told run after run; alone, on one BLAS thread as
            # in the workers: the product of a batch's steps gives other bits
            # on several BLAS threads.
            errors = np.geterr()
            runs = (
                run
                for batch in batches
                for run in _recorded_run(screen, self.strategy, batch, True, errors)
            )
        elif _in_loky():
            # Sized by the first round: later rounds (halving) have fewer jobs.
            self.n_workers = self.n_workers or min(self.n_jobs, len(batches)) - 1
            if together and screen.row_product_values >= THREADED_SCREENING_MIN_VALUES:
                runs = self._threaded(screen, batches)
            else:
                runs = _SharedScreening(
                    self, screen, self._rows_of(screen), batches,
                    _screening_workers(self.n_workers),
                ).runs()  # fmt: skip
        else:
            # Several runs at once in a process: BLAS's threads left as they
            # are (one BLAS limit for the whole process, which every run
            # would set and lift), so batches that step together differ
            # from those of n_jobs=1 by rounding.
            arrays, settings = _parts(screen)
            rows = _Rows(uuid.uuid4().hex, arrays)
            done = Parallel(min(self.n_jobs, len(batches)), return_as="generator")(
                delayed(_screened_in_worker)(
                    rows, settings, self.strategy, index, batch, False, np.geterr()
                )
                for index, batch in enumerate(batches)
            )
            runs = (run for _, batch_runs in done for run in batch_runs)
        return (self._replayed(*run) for run in runs)

    def _threaded(self, screen, batches: list) -> Iterable[tuple]:
        """Batches that step together, shared between this thread and ``n_workers`` threads.

        Their steps are products and elementwise passes over the screening
        rows long enough to run side by side in threads (NumPy releases the
        GIL in them), which start at once where worker processes take about
        0.6 s (docs/performance.md).
        """
        rows = _Rows(uuid.uuid4().hex, _parts(screen)[0])
        with ThreadPoolExecutor(self.n_workers, thread_name_prefix="moelogit-screen") as executor:
            yield from _SharedScreening(
                self, screen, rows, batches, executor, in_threads=True
            ).runs()

    def _replayed(self, result: FitResult, events: list, told: list) -> FitResult:
        for name, args in events:
            getattr(self.listener, name)(*args)
        for message, category, filename, lineno in told:
            warnings.warn_explicit(message, category, filename, lineno)
        return result

    def search(self, mm, screen, run_in, seeds) -> MultistartResult:
        """Screen the starts on ``screen``, converge the finalists there, finish the best on ``mm``."""
        strategy = self.strategy
        if len(seeds) == 1:
            theta0 = self.start(screen, seeds[0], 1)
            best = self.run("final", mm, theta0, strategy.max_iter)
            return MultistartResult(best, np.empty(0), 0)
        screening = self.halving if strategy.screening == "halving" else self.screen_all
        explore = self.explored(screen)
        finalists, objectives = screening(explore, seeds)
        # Screened in single precision, a finalist starts a run of its own in
        # double: its trace and convergence are those of the rows' own objective.
        fresh = explore.Z.dtype != screen.Z.dtype
        # The screening's rows (a copy of all of them, when all are screened)
        # are not kept through the runs that follow.
        del explore
        self._rows.clear()  # by the maps' ids, which a later map may reuse
        if len(finalists) > 1 or screen is mm:
            # One finalist on all rows: its convergence is the final run.
            stage = "final" if len(finalists) == 1 else "finalist"
            finalists = [
                (index, self.converged(stage, screen, result, index + 1, fresh))
                for index, result in finalists
            ]
        # The highest; ties: the first screened.
        best_start, best = max(finalists, key=lambda entry: (entry[1].objective, -entry[0]))
        if screen is not mm:
            for sample in run_in:
                best = self.run("run-in", sample(), best.theta, strategy.max_iter)
            best = self.run("final", mm, best.theta, strategy.max_iter)
        return MultistartResult(best, objectives, best_start)

    def explored(self, screen: BohningMM) -> BohningMM:
        """The map the starts are drawn and screened on: ``screen``'s rows in the strategy's precision and curvature."""
        dtype = PRECISIONS[self.strategy.screen_precision]
        curvature = self.strategy.screen_curvature or screen.curvature
        if screen.Z.dtype == dtype and curvature == screen.curvature:
            return screen
        return BohningMM(
            screen.Z.astype(dtype), screen.y, screen.weights.astype(dtype), screen.dims,
            screen.alpha, curvature, screen.reduction, screen.support,
        )  # fmt: skip

    def converged(
        self, stage, step, result: FitResult, number: int, fresh: bool = False
    ) -> FitResult:
        """``result`` continued on ``step`` until it converges or has had ``max_iter`` iterations.

        With ``fresh``, a run of its own from ``result.theta``, for ``max_iter`` iterations.
        """
        if fresh:
            return self.run(stage, step, result.theta, self.strategy.max_iter, number)
        if result.converged or result.n_iter >= self.strategy.max_iter:
            return result
        more = self.strategy.max_iter - result.n_iter + 1
        return self.run(stage, step, None, more, number, previous=result)

    def screen_all(self, screen, seeds) -> tuple[list, np.ndarray]:
        """Every start for ``init_iter`` iterations: the ``n_finalists`` best, numbered, and every objective."""
        budget = min(self.strategy.init_iter, self.strategy.max_iter)
        jobs = [(number, seed, budget) for number, seed in enumerate(seeds, start=1)]
        results = self.screen_runs(screen, jobs)
        kept, objectives = [], []
        for index, result in enumerate(self.listener.loop(results, len(seeds), "starts")):
            objectives.append(result.objective)
            kept.append((index, result))
            # Only the best few are held (stable sort: ties keep the first screened).
            kept = sorted(kept, key=lambda entry: -entry[1].objective)[: self.strategy.n_finalists]
        return kept, np.array(objectives)

    def halving(self, screen, seeds) -> tuple[list, np.ndarray]:
        """Successive halving: every start for a round, the better half for another, ...

        Rounds of ``HALVING_ROUND`` iterations until one start is left or
        the survivors have had ``init_iter`` iterations, so the winner has
        had as many as :meth:`screen_all` gives every start. Objectives of
        eliminated starts are those they were eliminated with.
        """
        budget = min(self.strategy.init_iter, self.strategy.max_iter)
        step = min(HALVING_ROUND, budget)
        jobs = [(number, seed, step) for number, seed in enumerate(seeds, start=1)]
        first = self.screen_runs(screen, jobs)
        alive = list(enumerate(self.listener.loop(first, len(seeds), "starts")))
        objectives = np.array([result.objective for _, result in alive])
        done = step
        while len(alive) > 1 and done < budget:
            alive.sort(key=lambda entry: -entry[1].objective)  # stable: ties keep their order
            alive = alive[: -(-len(alive) // 2)]
            more = min(step, budget - done) if len(alive) > 1 else budget - done
            going = [(index, result) for index, result in alive if not result.converged]
            jobs = [(index + 1, None, more + 1, result) for index, result in going]
            continued = dict(zip((index for index, _ in going), self.screen_runs(screen, jobs)))
            alive = [(index, continued.get(index, result)) for index, result in alive]
            objectives[[index for index, _ in alive]] = [result.objective for _, result in alive]
            done += more
        return [max(alive, key=lambda entry: (entry[1].objective, -entry[0]))], objectives
