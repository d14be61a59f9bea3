"""The fit engine: its seam with the estimator, the row-block reduction, n_jobs."""

import os
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moelogit import MoEClassifier, select_n_experts
from moelogit import engine as engine_module
from moelogit import reduction as reduction_module
from moelogit.datasets import make_moe_classification
from moelogit.engine import (
    FitListener,
    Strategy,
    _batches,
    _cores,
    _Engine,
    _in_loky,
    _parts,
    _recorded_run,
    _Rows,
    _screened_in_worker,
    _screening_workers,
    _SharedScreening,
    fit_multistart,
)
from moelogit.estimator import design_matrix, standardization
from moelogit.mm import DENSE_GRAM_MAX_COLUMNS, BohningMM
from moelogit.model import Dims, SerialReduction, row_blocks
from moelogit.reduction import (
    ThreadReduction,
    _other_blas_paths,
    blas_single_threaded,
    other_blas_single_threaded,
)
from moelogit.solver import FitResult


@pytest.fixture(scope="module")
def large():
    """Enough rows for several row blocks (four of 17,500 at K = M = 3)."""
    X, y, _ = make_moe_classification(70_000, 3, 3, 3, random_state=5)
    assert len(row_blocks(len(y), Dims(4, 3, 3))) == 4
    return X, y


class Recorder(FitListener):
    def __init__(self):
        self.events, self.final_values = [], []

    def stage_finished(self, stage, n_rows, result, number=None):
        self.events.append((stage, n_rows, number, result.n_iter))

    def iteration(self, stage, iteration, value):
        if stage == "final":
            self.final_values.append(value)


def test_the_estimator_is_the_engine_on_its_design(large):
    """The seam: MoEClassifier.fit is validation and standardisation around fit_multistart."""
    X, y = large
    model = MoEClassifier(3, n_init=3, max_iter=40, random_state=2).fit(X, y)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    recorder = Recorder()
    found = fit_multistart(
        Z, y, weights, Dims(4, 3, 3), alpha=model.alpha, rng=np.random.RandomState(2),
        strategy=Strategy(n_init=3, max_iter=40), listener=recorder, n_jobs=model.n_jobs,
    )  # fmt: skip
    assert found.best.objective == model.objective_
    np.testing.assert_array_equal(found.best.trace, model.loglik_trace_)
    # 70,000 rows: 3 starts screened on 10,000, no run-in (a sample would need 1,000,000).
    stages = [event[0] for event in recorder.events]
    assert stages == ["screen"] * 3 + ["final"]
    assert [event[1] for event in recorder.events] == [10_000] * 3 + [70_000]
    assert found.start_objectives.shape == (3,)
    assert found.best_start == int(np.argmax(found.start_objectives))
    assert recorder.final_values == found.best.trace.tolist()


@pytest.mark.parametrize("curvature", ["expert", "fixed"])
def test_n_jobs_changes_nothing_but_rounding(large, curvature):
    X, y = large
    fits = [
        MoEClassifier(
            3, n_init=3, max_iter=30, curvature=curvature, random_state=0, n_jobs=jobs
        ).fit(X, y)
        for jobs in (1, 2)
    ]
    one, two = fits
    np.testing.assert_allclose(two.objective_, one.objective_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(two.loglik_trace_, one.loglik_trace_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(two.expert_coef_, one.expert_coef_, rtol=1e-9, atol=1e-9)
    assert two.n_iter_ == one.n_iter_


def test_n_jobs_keeps_the_same_start(large):
    X, y = large
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    found = [
        fit_multistart(
            Z,
            y,
            weights,
            Dims(4, 3, 3),
            rng=np.random.RandomState(7),
            n_jobs=jobs,
            strategy=Strategy(n_init=4, max_iter=5),
        )  # fmt: skip
        for jobs in (1, -1)
    ]
    assert found[0].best_start == found[1].best_start
    np.testing.assert_allclose(found[1].start_objectives, found[0].start_objectives, rtol=1e-12)


class EveryEvent(FitListener):
    """Every hook's call, in order."""

    def __init__(self):
        self.events = []

    def stage_started(self, *args):
        self.events.append(("started", *args))

    def iteration(self, *args):
        self.events.append(("iteration", *args))

    def stage_finished(self, stage, n_rows, result, number=None):
        self.events.append(("finished", stage, n_rows, result.objective, number))


@pytest.mark.parametrize(
    ("screen_solver", "d"),
    [("lbfgs", 2), ("mm", 2), ("mm", DENSE_GRAM_MAX_COLUMNS + 1)],
    ids=["lbfgs", "mm one by one", "mm together"],
)
@pytest.mark.parametrize("screening", ["all", "halving"])
def test_worker_processes_screen_as_the_loop_does(screening, screen_solver, d):
    """Starts screened in 2 worker processes: the same runs, told to the listener in the same order.

    With more columns the MM map's starts go in batches whose steps are taken together.
    """
    X, y, _ = make_moe_classification(3000, d, 3, 3, random_state=8)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))

    def fit(n_jobs):
        listener = EveryEvent()
        found = fit_multistart(
            Z, y, weights, Dims(d + 1, 3, 3), rng=np.random.RandomState(5), listener=listener,
            n_jobs=n_jobs,
            strategy=Strategy(
                n_init=6, init_iter=9, screening=screening, screen_solver=screen_solver
            ),
        )  # fmt: skip
        return found, listener.events

    (one, one_events), (two, two_events) = fit(1), fit(2)
    assert two.best_start == one.best_start
    np.testing.assert_allclose(two.start_objectives, one.start_objectives, rtol=1e-12, atol=0)
    assert [event[:3] for event in two_events] == [event[:3] for event in one_events]

    def values(events):  # the objectives the events carry, in order
        return [value for event in events for value in event[3:] if isinstance(value, float)]

    np.testing.assert_allclose(values(two_events), values(one_events), rtol=1e-12, atol=0)
    assert sum(event[:2] == ("finished", "screen") for event in two_events) == (
        6 if screening == "all" else 6 + 3 + 2
    )


@pytest.mark.parametrize("long_steps", [True, False], ids=["threads", "processes"])
def test_batches_that_step_together_are_screened_in_threads_where_their_steps_are_long(
    monkeypatch, long_steps
):
    """Threads of this process, or worker processes below the threshold: the runs of n_jobs=1."""
    X, y, _ = make_moe_classification(3000, DENSE_GRAM_MAX_COLUMNS + 1, 3, 3, random_state=8)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    values = len(y) * Z.shape[1] * (Z.shape[1] + 1) // 2  # of the rows' outer products
    assert values < engine_module.THREADED_SCREENING_MIN_VALUES
    if long_steps:
        monkeypatch.setattr(engine_module, "THREADED_SCREENING_MIN_VALUES", values)
    threads, asked = [], []
    in_worker, workers = engine_module._screened_in_worker, engine_module._screening_workers

    def recorded(*args):
        threads.append(threading.current_thread().name)
        return in_worker(*args)

    def counted_workers(n_workers):
        asked.append(n_workers)
        return workers(n_workers)

    def fit(n_jobs):
        return fit_multistart(
            Z, y, weights, Dims(Z.shape[1], 3, 3), rng=np.random.RandomState(5), n_jobs=n_jobs,
            strategy=Strategy(n_init=20, init_iter=4),
        )  # fmt: skip

    one = fit(1)
    monkeypatch.setattr(engine_module, "_screening_workers", counted_workers)
    monkeypatch.setattr(engine_module, "_screened_in_worker", recorded)
    two = fit(2)
    in_threads = [name for name in threads if name.startswith("moelogit-screen")]
    if long_steps:
        assert in_threads and not asked
    else:
        assert not in_threads and asked == [1]
    assert two.best_start == one.best_start
    np.testing.assert_array_equal(two.start_objectives, one.start_objectives)
    assert two.best.objective == one.best.objective


class Runs(FitListener):
    """Every run's stage, number, iterations and final objective, as told."""

    def __init__(self):
        self.runs = []

    def stage_finished(self, stage, n_rows, result, number=None):
        self.runs.append((stage, number, result.n_iter, result.trace.size, result.objective))


@pytest.mark.parametrize(("screening", "precision", "rtol"), [
    ("all", "double", 1e-9), ("halving", "double", 1e-9),
    ("all", "single", 1e-4), ("halving", "single", 1e-4),
])  # fmt: skip
def test_starts_screened_together_are_the_starts_screened_one_by_one(
    screening, precision, rtol, monkeypatch
):
    """Batches change a screening run only by rounding: the same runs, the same start kept."""
    X, y, _ = make_moe_classification(3000, DENSE_GRAM_MAX_COLUMNS + 4, 3, 3, random_state=2)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    points_stepped = []
    steps = BohningMM.steps

    def counted_steps(self, thetas):
        points_stepped.append(len(thetas))
        return steps(self, thetas)

    monkeypatch.setattr(BohningMM, "steps", counted_steps)

    def fit():
        listener = Runs()
        found = fit_multistart(
            Z, y, weights, Dims(Z.shape[1], 3, 3), rng=np.random.RandomState(3), n_jobs=1,
            strategy=Strategy(
                n_init=7, init_iter=9, screening=screening, screen_solver="mm",
                screen_precision=precision,
            ),
            listener=listener,
        )  # fmt: skip
        return found, listener.runs

    together, together_runs = fit()
    assert max(points_stepped) == 5  # batches of five took their steps together
    monkeypatch.setattr(engine_module, "SCREENING_BATCH", 1)
    points_stepped.clear()
    alone, alone_runs = fit()
    assert points_stepped == []  # a batch of one takes its steps one by one
    assert together.best_start == alone.best_start
    np.testing.assert_allclose(together.start_objectives, alone.start_objectives, rtol=rtol)

    def told(runs):  # stage, number, iterations; after a screening in single, stage and number
        return [run[:4] if precision == "double" or run[0] == "screen" else run[:2] for run in runs]

    assert told(together_runs) == told(alone_runs)
    np.testing.assert_allclose(
        [run[4] for run in together_runs], [run[4] for run in alone_runs], rtol=rtol
    )


def test_screening_batches_hold_consecutive_jobs_of_one_budget():
    jobs = [(1, 0, 3), (2, 0, 3), (3, 0, 3), (4, 0, 5), (5, 0, 5)]
    assert _batches(jobs, 2) == [[jobs[0], jobs[1]], [jobs[2]], [jobs[3], jobs[4]]]
    assert _batches(jobs, 1) == [[job] for job in jobs]


@pytest.fixture(scope="module")
def screening_jobs():
    """A screening map and six jobs ``(number, seed, budget)``, the first a k-means start, in batches of 1-3."""
    X, y, _ = make_moe_classification(2000, 2, 3, 3, random_state=4)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    screen = BohningMM(Z, y, weights, Dims(3, 3, 3), alpha=1e-6, curvature="expert")
    jobs = [(number, 100 + number, 9) for number in range(1, 7)]
    return screen, [jobs[:1], jobs[1:3], jobs[3:]]


def _comparable(events):
    """Listener events with each FitResult given as its objective."""
    return [
        (name, tuple(arg.objective if isinstance(arg, FitResult) else arg for arg in args))
        for name, args in events
    ]


def _same_runs(runs, expected):
    """Runs, their listener events and warnings equal to the bit."""
    for (run, events, told), (other, other_events, other_told) in zip(runs, expected, strict=True):
        np.testing.assert_array_equal(run.theta, other.theta)
        np.testing.assert_array_equal(run.trace, other.trace)
        assert _comparable(events) == _comparable(other_events)
        assert told == other_told


def _here(screen, strategy, batches):
    return [
        run
        for batch in batches
        for run in _recorded_run(screen, strategy, batch, True, np.geterr())
    ]


@pytest.mark.parametrize("screen_solver", ["lbfgs", "mm"])
def test_a_worker_screens_a_start_as_this_process_does_to_the_bit(
    screening_jobs, screen_solver, tmp_path
):
    """From the rows' file, the map built once for all jobs: the runs of this process's map."""
    screen, jobs = screening_jobs
    strategy = Strategy(screen_solver=screen_solver)
    arrays, settings = _parts(screen)
    file = str(tmp_path / "rows.joblib")
    joblib.dump(arrays, file)
    rows = _Rows(tmp_path.name, file=file)
    futures = [
        _screening_workers(1).submit(
            _screened_in_worker, rows, settings, strategy, index, job, True, np.geterr()
        )
        for index, job in enumerate(jobs)
    ]
    returned = [future.result() for future in futures]
    assert [index for index, _ in returned] == list(range(len(jobs)))
    _same_runs([run for _, runs in returned for run in runs], _here(screen, strategy, jobs))


class _Silent:
    """An executor whose workers never return."""

    def submit(self, *args):
        return Future()


class _Broken:
    """An executor that takes no job."""

    def submit(self, *args):
        raise RuntimeError("the executor is broken")

    def shutdown(self, wait=True):
        pass


class _Lost:
    """An executor whose workers die."""

    def submit(self, *args):
        future = Future()
        future.set_exception(OSError("a worker was lost"))
        return future


@pytest.mark.parametrize(
    ("executor", "pickled_bytes"),
    [
        (None, 10**6), (None, 0), ("threads", 10**6), (_Silent(), 10**6), (_Broken(), 10**6),
        (_Lost(), 10**6),
    ],
    ids=["loky", "loky, rows in a file", "threads", "silent", "broken", "lost"],
)  # fmt: skip
def test_shared_screening_is_every_run_here_whoever_runs_it(
    screening_jobs, executor, pickled_bytes, monkeypatch
):
    """Shared with loky's workers, threads, or workers that never return: the same runs, in order."""
    monkeypatch.setattr(engine_module, "_PICKLED_BYTES", pickled_bytes)
    screen, jobs = screening_jobs
    engine = _Engine(Strategy(), FitListener(), n_jobs=2)
    engine.n_workers = 1
    rows = engine._rows_of(screen)
    assert (rows.file is None) == (pickled_bytes > 0)
    in_threads = executor == "threads"
    try:
        with ThreadPoolExecutor(1) as threads:
            if in_threads:
                executor = threads
            shared = _SharedScreening(
                engine, screen, rows, jobs, executor or _screening_workers(1), in_threads
            )
            runs = list(shared.runs())
    finally:
        engine.close()
    _same_runs(runs, _here(screen, engine.strategy, jobs))
    assert rows.file is None or not os.path.exists(rows.file)


def test_warnings_of_a_screening_run_are_raised_where_it_is_told(screening_jobs):
    screen, jobs = screening_jobs

    class Warns(BohningMM):
        def __call__(self, theta):
            warnings.warn("from the map", UserWarning, stacklevel=2)
            return super().__call__(theta)

    warns = Warns(screen.Z, screen.y, screen.weights, screen.dims, screen.alpha, "expert")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is raised while the run is recorded
        first, last = _recorded_run(
            warns, Strategy(init_iter=2, screen_solver="mm"), jobs[1], True, np.geterr()
        )
    assert not first[2] and last[2]  # a batch's warnings go with its last run
    with pytest.warns(UserWarning, match="from the map"):
        _Engine(Strategy(), FitListener())._replayed(*last)


def _threads_by_library() -> dict:
    from threadpoolctl import threadpool_info

    return {
        pool["filepath"]: pool["num_threads"]
        for pool in threadpool_info()
        if pool["user_api"] == "blas"
    }


def _blas_threads():
    return list(_threads_by_library().values())


def test_blas_threads_are_restored_when_single_threaded_contexts_overlap():
    """Two threads' contexts closing in the order they opened: the first must not lift the second's."""
    before = _blas_threads()
    first, second = blas_single_threaded(), blas_single_threaded()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(_blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert _blas_threads() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_another_thread_holds_the_blas_lock_can_open_contexts():
    from moelogit import reduction

    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with reduction._blas_limits.lock:
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert holding.wait(timeout=30)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            child = os.fork()
        if child == 0:  # the child: one context, then out, never back into pytest
            code = 1
            try:
                with blas_single_threaded():
                    code = 0
            finally:
                os._exit(code)
        for _ in range(300):  # up to 30 s
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                break
            threading.Event().wait(0.1)
        else:
            os.kill(child, 9)
            os.waitpid(child, 0)
            pytest.fail("the forked child hung on the BLAS limits' lock")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize(
    ("first_kind", "second_kind"),
    [("others", "others"), ("all", "others"), ("others", "all")],
)
def test_blas_limits_of_both_kinds_overlapping_in_threads_are_lifted(first_kind, second_kind):
    """L-BFGS runs side by side in threads (SciPy's library on one thread) among reductions (all on one).

    Each context opens and closes in its own thread, the first to open
    closing first, after this thread has set limits of its own.
    """
    kinds = {"all": blas_single_threaded, "others": other_blas_single_threaded}
    before = _threads_by_library()
    others = set(_other_blas_paths())
    if not others or set(before.values()) == {1}:
        pytest.skip("needs a BLAS library beside NumPy's, on several threads")
    with blas_single_threaded():  # this thread sets limits first
        pass
    steps = [threading.Event() for _ in range(4)]  # opened 1, opened 2, close 1, close 2

    def hold(kind, opened, close):
        with kinds[kind]():
            opened.set()
            close.wait(timeout=30)

    threads = [
        threading.Thread(target=hold, args=(first_kind, steps[0], steps[2])),
        threading.Thread(target=hold, args=(second_kind, steps[1], steps[3])),
    ]
    try:
        threads[0].start()
        assert steps[0].wait(timeout=30)
        threads[1].start()
        assert steps[1].wait(timeout=30)
        held = {first_kind, second_kind}
        limited = set(before) if "all" in held else others
        assert all(_threads_by_library()[path] == 1 for path in limited)
        steps[2].set()
        threads[0].join(timeout=30)
        limited = set(before) if second_kind == "all" else others
        assert all(_threads_by_library()[path] == 1 for path in limited)
        if second_kind == "others":
            assert all(_threads_by_library()[path] == before[path] for path in set(before) - others)
    finally:
        for step in steps:
            step.set()
        for thread in threads:
            thread.join(timeout=30)
    assert _threads_by_library() == before


def test_a_sample_of_several_row_blocks_is_screened_here_without_its_threads():
    """This process screens beside its workers on one thread, to the bit of the threaded map."""
    X, y, _ = make_moe_classification(10_000, 2, 9, 3, random_state=1)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    dims = Dims(3, 9, 3)
    assert len(row_blocks(len(y), dims)) > 1
    strategy, jobs = Strategy(init="random"), [[(number, number, 3)] for number in (2, 3, 4)]
    with ThreadPoolExecutor(2) as pool:
        screen = BohningMM(Z, y, weights, dims, 1e-6, "expert", ThreadReduction(pool, 2))
        engine = _Engine(strategy, FitListener(), n_jobs=2)
        engine.n_workers = 1
        shared = _SharedScreening(engine, screen, engine._rows_of(screen), jobs, _Lost())
        assert not isinstance(shared.screen.reduction, ThreadReduction)
        _same_runs(list(shared.runs()), _here(screen, strategy, jobs))


def test_a_screening_stopped_early_sends_nothing_more_to_its_workers(screening_jobs):
    screen, jobs = screening_jobs
    engine = _Engine(Strategy(), FitListener(), n_jobs=3)
    engine.n_workers = 2
    shared = _SharedScreening(engine, screen, engine._rows_of(screen), jobs, _Silent())
    runs = shared.runs()
    next(runs)
    runs.close()
    assert not shared.unclaimed
    assert len(shared.futures) == 2 and all(future.cancelled() for future in shared.futures)


def test_joblib_runs_after_a_shared_screening(large):
    """Our workers are not loky's shared executor, which joblib's Parallel takes for its own kind."""
    from joblib import Parallel, delayed

    X, y = large
    MoEClassifier(3, n_init=3, max_iter=5, n_jobs=2).fit(X[:3000], y[:3000])
    assert Parallel(n_jobs=2)(delayed(abs)(-number) for number in range(3)) == [0, 1, 2]


def test_a_fit_takes_one_core_inside_an_outer_parallel_loop():
    from joblib import Parallel, delayed, parallel_config

    assert _cores(None) == 1
    assert _cores(2) == 2 and _in_loky()
    with parallel_config(backend="threading"):
        assert _cores(2) == 2 and not _in_loky()
    assert Parallel(n_jobs=2)(delayed(_cores)(2) for _ in range(2)) == [1, 1]


def test_screening_workers_need_no_scikit_learn():
    """The engine imports without scikit-learn, SciPy's optimize or special, or the version (a worker's start-up).

    k-means imports scikit-learn when used, and L-BFGS SciPy's optimize.
    """
    import subprocess
    import sys

    code = (
        "import sys, moelogit.engine; assert 'sklearn' not in sys.modules, 'engine'\n"
        "assert 'scipy.optimize' not in sys.modules, 'optimize'\n"
        "assert 'scipy.special' not in sys.modules, 'special'\n"
        "assert '__version__' not in vars(sys.modules['moelogit']), 'version'\n"
        "import numpy as np; from moelogit.init import initial_theta; from moelogit.model import Dims\n"
        "Z = np.column_stack([np.ones(50), np.random.default_rng(0).normal(size=(50, 2))])\n"
        "y = np.arange(50) % 2; w = np.full(50, 1 / 50)\n"
        "initial_theta(Z, y, w, Dims(3, 2, 2), 'random', 0); assert 'sklearn' not in sys.modules\n"
        "initial_theta(Z, y, w, Dims(3, 2, 2), 'kmeans', 0); assert 'sklearn' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("screen_solver", "d"),
    [("lbfgs", 2), ("mm", 2), ("mm", DENSE_GRAM_MAX_COLUMNS + 1)],
    ids=["lbfgs", "mm one by one", "mm together"],
)
def test_screening_runs_on_the_callers_joblib_backend(screen_solver, d):
    """Under joblib's threading backend (one in-process worker each) the screening is the loop's."""
    from joblib import parallel_config

    X, y, _ = make_moe_classification(2000, d, 2, 2, random_state=9)
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    found, blas_before = [], _blas_threads()
    filters, showwarning = list(warnings.filters), warnings.showwarning
    for backend, n_jobs in (("loky", 1), ("threading", 2)):
        with parallel_config(backend=backend):
            found.append(fit_multistart(
                Z, y, weights, Dims(d + 1, 2, 2), rng=np.random.RandomState(3), n_jobs=n_jobs,
                strategy=Strategy(n_init=12, init="random", screen_solver=screen_solver),
            ))  # fmt: skip
    # To the bit for runs one by one; batches that step together are on
    # BLAS's threads there, whose products round differently (in single
    # precision, so the screened objectives differ in their fifth digit).
    rtol = 0 if d == 2 else 1e-3
    np.testing.assert_allclose(found[1].start_objectives, found[0].start_objectives, rtol=rtol)
    assert found[1].best_start == found[0].best_start
    # The same optimum, where the stopping rule (tol=1e-8) left each run.
    assert found[1].best.objective == pytest.approx(found[0].best.objective, rel=1e-8, abs=0)
    # Runs side by side in one process leave BLAS's threads and the warnings as they were.
    assert _blas_threads() == blas_before
    assert warnings.filters == filters and warnings.showwarning is showwarning


def test_ascent_stays_monotone_on_threads(large):
    X, y = large
    model = MoEClassifier(3, n_init=2, max_iter=60, random_state=1, n_jobs=2).fit(X, y)
    assert np.all(np.diff(model.loglik_trace_) >= -1e-12 * np.abs(model.loglik_trace_[:-1]))


def test_selection_takes_n_jobs(large):
    X, y = large
    template = MoEClassifier(n_init=1, max_iter=20, random_state=0)
    results = [
        select_n_experts(X[:40_000], y[:40_000], 2, "bic", estimator=template, n_jobs=jobs)
        for jobs in (None, 2)
    ]
    assert results[0].n_experts_ == results[1].n_experts_
    np.testing.assert_allclose(results[1].criterion_, results[0].criterion_, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(1, 50),
    block=st.integers(1, 12),
    threads=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_thread_reduction_sums_like_the_serial_one_to_the_bit(n_rows, block, threads, seed):
    values = np.random.default_rng(seed).normal(size=(n_rows, 3)) * 10.0 ** np.arange(-4, 5, 4)
    blocks = [slice(i, min(i + block, n_rows)) for i in range(0, n_rows, block)]

    def terms(parts, rows, workspace):
        (block,) = parts
        scratch = workspace("scratch", (3,))
        np.sum(block, axis=0, out=scratch)  # a workspace array: must be copied
        return float(block[:, 0].sum()), scratch

    serial = SerialReduction()(terms, (values,), lambda n: blocks)
    with ThreadPoolExecutor(threads) as executor:
        threaded = ThreadReduction(executor, threads)(terms, (values,), lambda n: blocks)
    assert threaded[0] == serial[0]
    np.testing.assert_array_equal(threaded[1], serial[1])


def test_thread_reduction_gives_each_thread_a_run_of_consecutive_blocks():
    threads, lock = {}, threading.Lock()
    # The other runs' first blocks wait for each other, and this thread's
    # for them: every run is computed where it was sent.
    helpers, begun = threading.Barrier(2), threading.Event()

    def terms(parts, rows, workspace):
        with lock:
            threads[rows.start] = threading.get_ident()
        if rows.start in (3, 6):
            helpers.wait(10)
            begun.set()
        elif rows.start < 3:
            assert begun.wait(10)
        return (float(parts[0].sum()),)

    blocks = [slice(i, i + 1) for i in range(10)]
    with ThreadPoolExecutor(3) as executor:
        summed = ThreadReduction(executor, 3)(terms, (np.arange(10.0),), lambda n: blocks)
    assert summed == (45.0,)
    runs = [{threads[i] for i in run} for run in (range(3), range(3, 6), range(6, 10))]
    assert [len(run) for run in runs] == [1, 1, 1]  # one thread a run
    assert runs[0] == {threading.get_ident()}  # the first run here, the others in the pool
    assert len(runs[0] | runs[1] | runs[2]) == 3


def test_thread_reduction_computes_here_a_run_no_thread_has_begun():
    # The pool's one thread is busy elsewhere: the second run is computed
    # here once this thread is done with its own, not waited for.
    busy, summed = threading.Event(), []
    blocks = [slice(i, i + 1) for i in range(6)]
    with ThreadPoolExecutor(1) as executor:
        executor.submit(busy.wait, 60)
        reduction = ThreadReduction(executor, 2)
        runner = threading.Thread(
            target=lambda: summed.append(
                reduction(lambda parts, rows, ws: (float(parts[0].sum()),), (np.arange(6.0),),
                          lambda n: blocks)
            )
        )  # fmt: skip
        runner.start()
        runner.join(5)
        finished = not runner.is_alive()
        busy.set()
    assert finished
    assert summed == [(15.0,)]


def test_thread_reduction_holds_at_most_its_bytes_of_terms_a_thread(monkeypatch):
    # While this thread is held on block 0, the other computes blocks of its
    # run (5 to 9) until it holds HELD_BYTES of terms (three of 8 bytes here).
    monkeypatch.setattr(reduction_module, "HELD_BYTES", 24)
    release, started, lock = threading.Event(), [], threading.Lock()

    def terms(parts, rows, workspace):
        with lock:
            started.append(rows.start)
        if rows.start == 0:
            assert release.wait(10)
        return (float(parts[0].sum()),)

    blocks = [slice(i, i + 1) for i in range(10)]
    summed = []
    with ThreadPoolExecutor(2) as executor:
        reduction = ThreadReduction(executor, 2)
        runner = threading.Thread(
            target=lambda: summed.append(reduction(terms, (np.arange(10.0),), lambda n: blocks))
        )
        runner.start()
        for _ in range(1000):  # up to 10 s on a loaded machine
            if len(started) >= 4:
                break
            threading.Event().wait(0.01)
        threading.Event().wait(0.1)  # time for more blocks to start, were they allowed
        with lock:
            held = sorted(started)
        release.set()
        runner.join(10)
    assert held == [0, 5, 6, 7]
    assert summed == [(45.0,)]


def test_thread_reduction_stops_a_thread_waiting_at_its_cap_after_an_error(monkeypatch):
    monkeypatch.setattr(reduction_module, "HELD_BYTES", 24)  # three terms of 8 bytes
    computed, lock = [], threading.Lock()

    def terms(parts, rows, workspace):
        with lock:
            computed.append(rows.start)
        if rows.start == 2:  # once the other thread holds its three terms
            for _ in range(1000):
                with lock:
                    if len([row for row in computed if row >= 5]) == 3:
                        break
                threading.Event().wait(0.01)
            raise ValueError("block 2")
        return (float(parts[0].sum()),)

    blocks = [slice(i, i + 1) for i in range(10)]
    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match="block 2"):
        ThreadReduction(executor, 2)(terms, (np.arange(10.0),), lambda n: blocks)
    assert sorted(computed) == [0, 1, 2, 5, 6, 7]  # the waiting thread computed no more


@pytest.mark.parametrize("failing", [5, 15])  # in this thread's run, in the other's
def test_thread_reduction_stops_at_an_error_with_nothing_left_running(failing):
    running, lock = [0], threading.Lock()

    def terms(parts, rows, workspace):
        with lock:
            running[0] += 1
        try:
            threading.Event().wait(0.01)
            if rows.start == failing:
                raise ValueError(f"block {failing}")
            return (float(parts[0].sum()),)
        finally:
            with lock:
                running[0] -= 1

    blocks = [slice(i, i + 1) for i in range(20)]
    with ThreadPoolExecutor(2) as executor:
        with pytest.raises(ValueError, match=f"block {failing}"):
            ThreadReduction(executor, 2)(terms, (np.arange(20.0),), lambda n: blocks)
        assert running[0] == 0


def test_bad_n_jobs():
    X, y, _ = make_moe_classification(100, 2, 2, 2, random_state=0)
    with pytest.raises(ValueError, match="n_jobs == 0"):
        MoEClassifier(n_jobs=0).fit(X, y)
    with pytest.raises(TypeError, match="n_jobs"):
        MoEClassifier(n_jobs=1.5).fit(X, y)


def test_successive_halving_screens_halves_and_keeps_ascent(large):
    X, y = large
    weights = np.full(len(y), 1 / len(y))
    Z = design_matrix(X, *standardization(X, weights))
    recorder = Recorder()
    found = fit_multistart(
        Z, y, weights, Dims(4, 3, 3), rng=np.random.RandomState(3), listener=recorder,
        strategy=Strategy(n_init=8, init_iter=9, max_iter=30, screening="halving"),
    )  # fmt: skip
    screens = [event for event in recorder.events if event[0] == "screen"]
    # 8 starts for 3 iterations, the better 4 for 3 more, the better 2 for 3 more.
    assert len(screens) == 8 + 4 + 2
    survivors = {event[2] for event in screens[12:]}
    assert survivors <= {event[2] for event in screens[8:12]} and len(survivors) == 2
    assert found.best_start + 1 in survivors
    assert found.best_start == int(np.argmax(found.start_objectives))
    assert np.all(np.diff(found.best.trace) >= -1e-12 * np.abs(found.best.trace[:-1]))


@pytest.mark.parametrize("n", [3000, 15_000])  # all rows screened; a 10,000-row sample
def test_finalists_converge_on_the_screening_rows_and_the_best_goes_on(n):
    X, y, _ = make_moe_classification(n, 2, 3, 2, random_state=3)
    weights = np.full(n, 1 / n)
    Z = design_matrix(X, *standardization(X, weights))

    def fit(n_finalists):
        recorder = Recorder()
        found = fit_multistart(
            Z, y, weights, Dims(3, 3, 2), rng=np.random.RandomState(4), listener=recorder,
            strategy=Strategy(n_init=6, n_finalists=n_finalists, screen_rows=10_000),
        )  # fmt: skip
        return found, recorder.events

    (one, one_events), (three, three_events) = fit(1), fit(3)
    assert one.best_start == int(np.argmax(one.start_objectives))
    np.testing.assert_array_equal(three.start_objectives, one.start_objectives)
    finalists = [event for event in three_events if event[0] == "finalist"]
    top = np.argsort(-three.start_objectives, kind="stable")[:3] + 1
    assert sorted(event[2] for event in finalists) == sorted(top)
    assert all(event[1] == min(n, 10_000) for event in finalists)
    assert three.best_start + 1 in top
    if n <= 10_000:  # the finalists' runs are the final runs: the best of them is kept
        assert [event[0] for event in three_events] == ["screen"] * 6 + ["finalist"] * 3
        assert three.best.objective >= one.best.objective
    else:  # the best finalist goes on to all rows
        assert three_events[-1][:2] == ("final", n)


@pytest.mark.parametrize("n", [3000, 15_000])  # all rows screened; a 10,000-row sample
def test_screen_curvature_sets_the_screening_map_only(n):
    X, y, _ = make_moe_classification(n, 2, 3, 3, random_state=6)
    weights = np.full(n, 1 / n)
    Z = design_matrix(X, *standardization(X, weights))

    def fit(curvature, **strategy):
        return fit_multistart(
            Z, y, weights, Dims(3, 3, 3), curvature=curvature, rng=np.random.RandomState(4),
            strategy=Strategy(n_init=4, max_iter=200, **strategy),
        )  # fmt: skip

    default, fixed = fit("expert"), fit("fixed")
    screened_fixed = fit("expert", screen_curvature="fixed")
    # Screening as the fixed-curvature fit does, to the bit; its own curvature changes nothing.
    np.testing.assert_array_equal(screened_fixed.start_objectives, fixed.start_objectives)
    assert not np.array_equal(default.start_objectives, fixed.start_objectives)
    same = fit("expert", screen_curvature="expert")
    np.testing.assert_array_equal(same.start_objectives, default.start_objectives)
    np.testing.assert_array_equal(same.best.trace, default.best.trace)
    trace = screened_fixed.best.trace
    assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[:-1]))


def _single_and_double(n, **strategy):
    """Fits of a small problem screened in single (the default) and in double precision."""
    X, y, _ = make_moe_classification(n, 2, 3, 3, random_state=6)
    weights = np.full(n, 1 / n)
    Z = design_matrix(X, *standardization(X, weights))
    fits = []
    for precision in ("single", "double"):
        fits.append(fit_multistart(
            Z, y, weights, Dims(3, 3, 3), alpha=1e-6, rng=np.random.RandomState(4),
            strategy=Strategy(n_init=4, screen_precision=precision, **strategy),
        ))  # fmt: skip
    return fits, BohningMM(Z, y, weights, Dims(3, 3, 3), alpha=1e-6, curvature="expert")


@pytest.mark.parametrize("n", [3000, 15_000])  # all rows screened; a 10,000-row sample
def test_starts_screened_in_single_precision_rank_as_in_double(n):
    (single, double), mm = _single_and_double(n, max_iter=500)
    assert not np.array_equal(single.start_objectives, double.start_objectives)
    np.testing.assert_allclose(single.start_objectives, double.start_objectives, rtol=1e-4)
    assert single.best_start == double.best_start
    # The same optimum, where the stopping rule (tol=1e-8 on the change) left
    # each run on this flat likelihood.
    assert single.best.objective == pytest.approx(double.best.objective, rel=1e-6)
    assert _Engine(Strategy(), FitListener()).explored(mm).Z.dtype == np.float32
    assert _Engine(Strategy(screen_precision="double"), FitListener()).explored(mm) is mm
    with pytest.raises(ValueError, match="screen_precision must be one of"):
        Strategy(screen_precision="half")


@pytest.mark.parametrize("n", [3000, 15_000])
def test_a_start_screened_in_single_precision_is_finished_in_double(n):
    """Even one screened for all of max_iter: its fit is a run of its own in double precision."""
    (single, _), mm = _single_and_double(n, init_iter=300, max_iter=300)
    best = single.best
    assert best.objective == pytest.approx(mm.objective(best.theta), rel=1e-14)
    if n <= Strategy().screen_rows:  # the run begins where the screening, on the same rows, ended
        screened = single.start_objectives[single.best_start]
        assert best.trace[0] == pytest.approx(screened, rel=1e-6)
    assert best.converged and best.n_iter == best.trace.size < 300
    assert np.all(np.diff(best.trace) >= -1e-12 * np.abs(best.trace[:-1]))


def test_finalists_screened_in_single_precision_each_run_on_in_double():
    n = 3000
    X, y, _ = make_moe_classification(n, 2, 3, 3, random_state=6)
    weights = np.full(n, 1 / n)
    Z = design_matrix(X, *standardization(X, weights))

    class Firsts(FitListener):
        def __init__(self):
            self.runs = []

        def stage_finished(self, stage, n_rows, result, number=None):
            self.runs.append((stage, number, result.trace[0]))

    listener = Firsts()
    found = fit_multistart(
        Z, y, weights, Dims(3, 3, 3), alpha=1e-6, rng=np.random.RandomState(4),
        strategy=Strategy(n_init=4, n_finalists=2, max_iter=500), listener=listener,
    )  # fmt: skip
    finalists = [(number, first) for stage, number, first in listener.runs if stage == "finalist"]
    assert len(finalists) == 2
    for number, first in finalists:  # each begins where its screening ended, in double
        assert first == pytest.approx(found.start_objectives[number - 1], rel=1e-6)
        assert first != found.start_objectives[number - 1]
    mm = BohningMM(Z, y, weights, Dims(3, 3, 3), alpha=1e-6, curvature="expert")
    assert found.best.objective == pytest.approx(mm.objective(found.best.theta), rel=1e-14)


def test_screen_solver_screens_by_lbfgs_and_the_default_is_the_mm_map():
    n = 3000
    X, y, _ = make_moe_classification(n, 2, 3, 3, random_state=7)
    weights = np.full(n, 1 / n)
    Z = design_matrix(X, *standardization(X, weights))

    def fit(**strategy):
        recorder = Recorder()
        found = fit_multistart(
            Z, y, weights, Dims(3, 3, 3), rng=np.random.RandomState(1), listener=recorder,
            strategy=Strategy(n_init=4, max_iter=300, **strategy),
        )  # fmt: skip
        return found, recorder.events

    (default, _), (mm, _) = fit(), fit(screen_solver="mm")
    np.testing.assert_array_equal(default.start_objectives, mm.start_objectives)
    lbfgs, events = fit(screen_solver="lbfgs", init_iter=6)
    assert not np.array_equal(lbfgs.start_objectives, default.start_objectives)
    # Every start had its 6 iterations (the trace's first value is the start's).
    assert [event[3] for event in events if event[0] == "screen"] == [6] * 4
    trace = lbfgs.best.trace
    assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[:-1]))
    with pytest.raises(ValueError, match="screen_solver must be one of"):
        Strategy(screen_solver="newton")
    with pytest.raises(ValueError, match="screen_curvature must be None or one of"):
        Strategy(screen_curvature="exact")
    for bad in (0, 2.5, True, "4", np.int64(0), np.bool_(True)):
        with pytest.raises(ValueError, match="kmeans_every must be None or an integer"):
            Strategy(kmeans_every=bad)
    every = Strategy(kmeans_every=np.int64(4)).kmeans_every  # as a loop over an array gives it
    assert every == 4 and type(every) is int


@pytest.mark.parametrize(
    ("init", "kmeans_every", "kmeans_numbers"),
    [("mixed", 4, [1, 5, 9]), ("mixed", None, [1]), ("mixed", 2, [1, 3, 5, 7, 9]),
     ("kmeans", 4, list(range(1, 11))), ("random", 4, [])],
)  # fmt: skip
def test_mixed_starts_draw_every_nth_start_from_kmeans(
    monkeypatch, init, kmeans_every, kmeans_numbers
):
    drawn = {}

    def record(Z, y, weights, dims, method, seed, support):
        drawn[seed] = method
        return np.zeros(1)

    monkeypatch.setattr(engine_module, "initial_theta", record)
    engine = _Engine(Strategy(init=init, kmeans_every=kmeans_every), FitListener())
    screen = type("Screen", (), {"Z": None, "y": None, "weights": None, "dims": None})
    screen.support = None
    for number in range(1, 11):
        engine.start(screen, seed=100 + number, number=number)
    assert [seed - 100 for seed, method in drawn.items() if method == "kmeans"] == kmeans_numbers
    assert set(drawn.values()) <= {"kmeans", "random"}
    # Warm starts are taken as given.
    warm = np.ones(3)
    assert engine.start(screen, seed=warm, number=1) is warm
