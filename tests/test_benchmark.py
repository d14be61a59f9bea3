"""The speed benchmark runs end to end and compares fitters on one footing."""

import numpy as np
import pytest
from benchmarks.fit_speed import run_problem


def test_benchmark_tables_on_a_small_problem():
    spec = {"n": 600, "d": 2, "K": 2, "M": 3}
    fitters = [
        "moelogit default",
        "moelogit L-BFGS screening",
        "MM expert + SQUAREM",
        "EM + Newton M-steps",
        "L-BFGS",
    ]
    table, steps = run_problem(spec, 1, max_iter=3000, fitters=fitters)
    assert table["fitter"].tolist() == fitters
    assert table.loc[0, "time ratio"] == 1.0
    # (tests/test_peers.py checks that the peers reach the same optimum; from
    # this start they may end in different local optima.)
    assert table["converged"].all()
    assert np.all(table["loglik"] < 0)
    # Whoever came within the margin of the best did so at a finite time,
    # within its run; the others never did.
    reached = table["loglik"] >= table["loglik"].max() - 1e-6
    assert np.all(np.isfinite(table.loc[reached, "s to best"]))
    assert np.all(table.loc[reached, "s to best"] <= table.loc[reached, "seconds"] + 1e-3)
    assert np.all(np.isnan(table.loc[~reached, "s to best"]))
    # The stopwatch's premise: every moelogit fit has a final run, which the
    # best start, screened in single precision, begins in double (here even
    # when its screening converged).
    from benchmarks import fit_speed

    from moelogit.engine import FitListener

    class Stages(FitListener):
        def __init__(self):
            self.stages = set()

        def stage_started(self, stage, n_rows, number=None):
            self.stages.add(stage)

    X, y, _ = fit_speed.common_data(spec)
    listener = Stages()
    settings = fit_speed._settings("moelogit L-BFGS screening")
    fit_speed.MoEClassifier(2, random_state=0, **settings).fit(X, y, listener=listener)
    assert listener.stages == {"screen", "final"}
    # Every row's cost is a ratio to the first row's, one evaluation. (Not a
    # timing assertion: at n = 600 a timing is tens of microseconds, and one
    # with the other core busy failed a bound of half an evaluation in CI.)
    assert steps["evaluation"].tolist()[0] == "log-likelihood + gradient"
    assert np.all(np.isfinite(steps["ms"])) and np.all(steps["ms"] > 0)
    np.testing.assert_allclose(
        steps["ratio to log-likelihood + gradient"], steps["ms"] / steps.loc[0, "ms"]
    )


def test_flexmix_target_counts_runs_at_flexmixs_best(monkeypatch):
    # flexmix stubbed (R is not needed), its best run far below any real fit.
    from benchmarks import fit_speed

    monkeypatch.setitem(fit_speed.PROBLEMS, "a", {"n": 300, "d": 2, "K": 2, "M": 2})
    monkeypatch.setattr(fit_speed, "flexmix_available", lambda: (True, ""))
    fits = iter([{"loglik": value, "seconds": 2.0} for value in (-9.0, -5.0, -9.0)])
    monkeypatch.setattr(fit_speed, "fit_flexmix", lambda *args, **kwargs: next(fits))
    result = fit_speed.flexmix_target(n_inits=(1, 20), n_jobs=(2,))
    table = result.set_index("fitter")
    assert list(table.index) == [
        "moelogit default (10 seeds)",
        "moelogit n_init=1 (10 seeds)",
        "moelogit n_jobs=2 (10 seeds)",
        "flexmix (3 random starts)",
    ]
    assert table["at flexmix's best"].tolist() == ["10/10", "10/10", "10/10", "1/3"]
    assert table.loc["flexmix (3 random starts)", "best loglik"] == -5.0
    assert table.loc["moelogit default (10 seeds)", "time ratio"] == 1.0
    # The same fits on 2 cores: the same log-likelihoods but for BLAS's rounding.
    np.testing.assert_allclose(
        table.loc["moelogit n_jobs=2 (10 seeds)", "median loglik"],
        table.loc["moelogit default (10 seeds)", "median loglik"], rtol=1e-10,
    )  # fmt: skip
    rows = fit_speed.targets({}, result).set_index("target")["measured"]
    jobs_row = "(a) as above with n_jobs=2: time ratio >= 50, seeds at flexmix's best >= 9"
    assert rows[jobs_row].endswith(", 10/10")


def test_moelogit_rows_with_fewer_starts_are_not_peers():
    from benchmarks import fit_speed

    spec = {"n": 400, "d": 2, "K": 2, "M": 2}
    fitters = ["moelogit default", "moelogit n_init=2", "L-BFGS"]
    table, _ = run_problem(spec, 1, max_iter=2000, fitters=fitters)
    assert table["fitter"].tolist() == fitters
    # Here moelogit's rows end above L-BFGS; were they peers, L-BFGS would
    # never reach "peers' best". It is L-BFGS's own value, reached by its end.
    rows = table.set_index("fitter")
    assert rows.loc["moelogit n_init=2", "loglik"] > rows.loc["L-BFGS", "loglik"]
    assert rows.loc["L-BFGS", "s to peers' best"] <= rows.loc["L-BFGS", "seconds"] + 1e-3
    assert fit_speed._settings("moelogit n_jobs=-1") == {"n_jobs": -1}
    assert fit_speed._settings("moelogit L-BFGS screening") == {
        "screen_solver": "lbfgs",
        "init_iter": 30,
    }
    with pytest.raises(ValueError, match="unknown fitter 'moelogit n_init=two'"):
        fit_speed._settings("moelogit n_init=two")


@pytest.mark.parametrize("shape", ["b", "c"])
def test_screening_study_fits_the_shapes_of_problems_b_and_c(shape):
    from benchmarks.screening_study import run

    runs = run(1, 1, 600, ("all", "lbfgs-screen"), shape=shape, n_jobs=1)
    assert runs["rule"].tolist() == ["all", "lbfgs-screen"]
    assert np.all(np.isfinite(runs["objective"])) and np.all(runs["objective"] < 0)


def test_screening_study_counts_runs_at_each_truths_best():
    import pandas as pd
    from benchmarks.screening_study import summarize

    runs = pd.DataFrame(
        {
            "truth": [0, 0, 0, 0, 1, 1],
            "rule": ["all", "all", "halving", "halving", "all", "halving"],
            "seed": [0, 1, 0, 1, 0, 0],
            "objective": [-1.0, -1.00005, -1.0000005, -1.1, -2.0, -2.5],
            "seconds": [1.0, 3.0, 0.5, 0.5, 1.0, 1.0],
        }
    )
    table = summarize(runs)
    assert table.loc[(0, "all"), "within 1e-6"] == 1 and table.loc[(0, "all"), "within 1e-4"] == 2
    assert table.loc[(0, "halving"), "within 1e-6"] == 1
    assert table.loc[("all truths", "halving"), "within 1e-4"] == 1
    assert table.loc[("all truths", "all"), "within 1e-6"] == 2
    assert table.loc[(1, "halving"), "worst gap"] == 0.5


def test_targets_table_says_met_or_not_from_the_measurements():
    import pandas as pd
    from benchmarks import fit_speed

    fitters = pd.DataFrame(
        {
            "fitter": ["moelogit default", "moelogit n_jobs=1", "L-BFGS", "EM + Newton M-steps"],
            "loglik": [-0.30, -0.30, -0.34, -0.35],
            "seconds": [10.0, 20.0, 30.0, 90.0],  # the default is n_jobs=-1
            "peak MB": [100.0, 100.0, 50.0, 50.0],
            "s to peers' best": [5.0, 2.5, 10.0, np.nan],
        }
    )
    steps = pd.DataFrame(
        {
            "evaluation": [
                "log-likelihood + gradient",
                "MM step, per-expert curvature",
                fit_speed.LBFGS_ROW,
            ],
            "ratio to log-likelihood + gradient": [1.0, 2.5, 1.1],
        }
    )
    flexmix = pd.DataFrame(
        {
            "fitter": ["moelogit default (10 seeds)", "flexmix (3 random starts)"],
            "median loglik": [-0.676, -0.69],
            "best loglik": [-0.675, -0.6855],
            "at flexmix's best": ["9/10", "2/3"],
            "median seconds": [1.0, 20.0],
        }
    )
    table = fit_speed.targets({"b": (fitters, steps)}, flexmix).set_index("target")["met"]
    assert table["(a) flexmix's median time / the default's >= 50"] == "not met"  # 20 times
    assert table["(a) the default's median log-likelihood >= flexmix's best"] == "met"
    assert table["(a) seeds at flexmix's best >= 9 of 10"] == "met"
    assert table["(b) L-BFGS's time to the peers' best / the default's >= 3"] == "not met"
    assert table["(b) EM + Newton M-steps's time to the peers' best / the default's >= 3"] == "met"
    assert table["(b) the default ends above every peer"] == "met"
    assert table["(b) the default's step <= 2 evaluations"] == "met"  # L-BFGS's 1.1
    assert table["(b) n_jobs=-1 against n_jobs=1 >= 1.7 times"] == "met"  # 2 times


def test_fit_stages_times_every_stage_of_a_default_fit():
    from benchmarks.fit_stages import stages

    table = stages("a", "lbfgs").set_index("stage")
    # Problem a fits on all rows: 20 screened starts, then the final run.
    assert table.index.tolist() == ["screen", "final", "whole fit"]
    assert table.loc["screen", "starts"] == 20
    assert table.loc["final", "objective"] >= table.loc["screen", "objective"]
    parts = table.loc[["screen", "final"], "seconds"].sum()
    assert 0 < parts <= table.loc["whole fit", "seconds"]


def test_finalists_study_counts_every_fit():
    from benchmarks.finalists_study import misses

    table = misses(400, 1, [1, 2])
    assert table.index.tolist() == [1, 2]
    assert (table["below the truth-started fit"] + table["above it"] <= 1).all()
    assert (table["median seconds"] > 0).all()


def test_selection_cell_compares_screenings(capsys):
    from benchmarks import selection_cell

    selection_cell.main(
        ["--k0", "2", "--n", "400", "--replicates", "1", "--solvers", "lbfgs",
         "--screen-solvers", "mm,lbfgs", "--n-jobs", "1"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "solver=lbfgs, screen_solver=mm" in out and "solver=lbfgs, screen_solver=lbfgs" in out
    assert "picked K0=2" in out


def test_first_fit_times_fresh_sessions_on_one_core_and_on_every_core():
    from benchmarks import first_fit

    table = first_fit.first_fits(["tiny"], fits=2)
    assert table["n_jobs"].tolist() == [1, -1]
    assert (table[["first fit s", "later fits s (median)"]] > 0).all(axis=None)
    assert table["first fit s / n_jobs=1"].iloc[0] == 1.0


def test_evaluation_cores_times_one_thread_two_threads_and_two_processes():
    from benchmarks.evaluation_cores import evaluation_cores

    table = evaluation_cores("a", repeats=2, rounds=2)
    assert table["evaluation"].tolist() == [
        "all rows, as n_jobs=1 evaluates them",
        "all rows, one thread",
        "one half alone",
        "both halves, n_jobs=2's reduction",
        "a half in each of two threads at once",
        "a half in each of two processes at once",
    ]
    assert (table["ms"] > 0).all()
    assert table["speed-up over one thread"].iloc[1] == 1.0
    assert table["speed-up over n_jobs=1"].iloc[0] == 1.0


def test_machine_scaling_rates_kernels_in_one_process_and_two(monkeypatch):
    from benchmarks import evaluation_cores

    small = tuple((what, size // 8, unit, 1) for what, size, unit, _ in evaluation_cores.KERNELS)
    monkeypatch.setattr(evaluation_cores, "KERNELS", small)
    table = evaluation_cores.machine_scaling(repeats=2)
    assert table["kernel"].tolist() == [kernel[0] for kernel in small]
    assert table["unit"].tolist() == ["GB/s", "GB/s", "GFLOP/s"]
    rates = table[["one process", "two processes at once", "ratio"]].to_numpy()
    assert np.isfinite(rates).all() and (rates > 0).all()


def test_screening_steps_times_starts_one_by_one_and_together(monkeypatch):
    from benchmarks import fit_speed
    from benchmarks.screening_steps import screening_steps

    monkeypatch.setitem(fit_speed.PROBLEMS, "b", {"n": 800, "d": 10, "K": 3, "M": 3})
    table = screening_steps("b", points=(2, 3), repeats=2)
    assert table["starts"].tolist() == [2, 2, 3, 3]
    assert table["precision"].tolist() == ["single", "double"] * 2
    assert table.attrs["steps together"]
    assert (table[["one by one, ms per start", "together, ms per start"]] > 0).all().all()
