"""Validation of the number-of-experts selectors on random truths.

For every cell ``(K0, n)`` and replicate: a random truth with ``K0`` experts
(d = 4 features, M = 3 classes, coefficients N(0, 2^2); every expert's mean
gate weight at least 0.1 and every pair of experts at least 0.2 apart in mean
total variation, so that every expert matters), ``n`` training rows, and then

* the DSC path: one fit with ``K0 + 3`` experts, its dendrogram and the
  selected level (:func:`moelogit.select_n_experts`, default settings), and
  the plain DSC of math.md, from its own over-fitted fit (no path ridge,
  the estimator's tolerance and iteration cap);
* the sweep: one fit per size ``1 .. K0 + 3`` with the same estimator
  settings, scored by AIC, BIC and ICL.

In the misspecified scenario a fraction of the labels (10% by default) is
drawn from a second, independent random truth.
"""

from __future__ import annotations

import inspect
import json
import os
import time
import warnings
from itertools import product

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from moelogit import MoEClassifier, SeparationWarning
from moelogit.datasets import make_moe_classification
from moelogit.selection import information_criterion, select_n_experts

__all__ = [
    "SCENARIOS",
    "TRUTH_CONSTRAINTS",
    "RunsFileError",
    "check_runs_file",
    "plot_summary",
    "replicate_data",
    "run_selection_experiment",
    "run_settings",
    "selection_table",
    "summarize",
]

TRUTH_CONSTRAINTS = {"min_gate_weight": 0.1, "min_expert_distance": 0.2}
N_FEATURES, N_CLASSES, EXTRA_EXPERTS = 4, 3, 3
METHOD_ORDER = ("DSC", "DSC (plain)", "BIC", "AIC", "ICL")
SCENARIOS = ("well-specified", "misspecified")
MAX_REPLICATES = 10_000  # data seeds are MAX_REPLICATES * K0 + replicate
_KEYS = ["scenario", "K0", "n", "replicate", "method"]
_COLUMNS = _KEYS + ["selected", "seconds", "loglik", "criterion", "heights", "settings"]


def _plain(value):
    """JSON for a setting: numpy scalars as Python numbers, anything else by repr."""
    return value.item() if isinstance(value, np.generic) else repr(value)


def run_settings(estimator) -> str:
    """The settings a run of this experiment uses, as sorted JSON.

    ``select_n_experts``' keyword defaults (the default DSC row uses them)
    and the estimator's parameters, without ``random_state`` (set per
    replicate) and ``verbose``. Recorded in every row of ``runs.csv``, so
    that :func:`summarize` refuses to combine runs made with different
    defaults.
    """
    parameters = inspect.signature(select_n_experts).parameters.values()
    dsc = {
        p.name: p.default
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and p.name not in ("estimator", "sample_weight")
    }
    params = estimator.get_params()
    for name in ("random_state", "verbose"):
        params.pop(name, None)
    settings = {"select_n_experts": dsc, "estimator": params}
    return json.dumps(settings, sort_keys=True, default=_plain)


class RunsFileError(ValueError):
    """A runs.csv that new replicates must not be appended to (see :func:`check_runs_file`)."""


def check_runs_file(runs_path, estimator=None) -> None:
    """Refuse to add replicates to ``runs_path`` unless they would match it.

    A missing or empty file is fine. Otherwise its columns must be those
    this version writes and its settings those of ``estimator`` (default
    ``MoEClassifier()``) with the current defaults, else a
    :class:`RunsFileError` says why, before anything is fitted.
    """
    if not os.path.exists(runs_path) or os.path.getsize(runs_path) == 0:
        return
    header = pd.read_csv(runs_path, nrows=0).columns.tolist()
    if header != _COLUMNS:
        raise RunsFileError(
            f"{runs_path} was written by an earlier version (its columns are {header}, "
            f"this version writes {_COLUMNS}): start a fresh --out (runs with and without "
            "recorded settings are not summarised together, so rerun its replicates there)"
        )
    recorded = pd.read_csv(runs_path, usecols=["settings"])["settings"].unique().tolist()
    expected = run_settings(MoEClassifier() if estimator is None else estimator)
    if recorded != [expected]:
        raise RunsFileError(
            f"{runs_path} was made with other settings (select_n_experts' defaults or the "
            "estimator's parameters differ): write the new replicates to another --out"
        )


def replicate_data(K0, n, replicate, contamination=0.0):
    """Features and labels of one replicate of cell ``(K0, n)``, as the experiment draws them.

    The truth and the rows are seeded by ``MAX_REPLICATES * K0 + replicate``;
    with ``contamination > 0`` (the misspecified scenario) that share of the
    labels, picked at random, comes from a second, independent truth.
    """
    seed = MAX_REPLICATES * K0 + replicate
    X, y, _ = make_moe_classification(
        n, N_FEATURES, K0, N_CLASSES, random_state=seed, **TRUTH_CONSTRAINTS
    )
    if contamination > 0:
        _, _, other = make_moe_classification(1, N_FEATURES, 2, N_CLASSES, random_state=seed + 1)
        rng = np.random.default_rng(seed + 2)
        y = np.where(rng.random(n) < contamination, other.sample_labels(X, rng), y)
    return X, y


def _replicate(K0, n, replicate, scenario, contamination, estimator):
    # Over-fitted fits routinely stop at max_iter and small data sets may be
    # separable; the experiment measures selection, so workers stay quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SeparationWarning)
        return _replicate_quietly(K0, n, replicate, scenario, contamination, estimator)


def _replicate_quietly(K0, n, replicate, scenario, contamination, estimator):
    X, y = replicate_data(K0, n, replicate, contamination)
    settings = run_settings(estimator)
    estimator = clone(estimator).set_params(random_state=replicate)
    max_experts = K0 + EXTRA_EXPERTS
    rows = []

    def row(method, selected, seconds, loglik, criterion, heights=None):
        # Per-size evidence kept as JSON lists, so that other criteria can be
        # evaluated later without refitting.
        rows.append(
            {
                "scenario": scenario,
                "K0": K0,
                "n": n,
                "replicate": replicate,
                "method": method,
                "selected": selected,
                "seconds": seconds,
                "loglik": json.dumps(np.round(loglik, 7).tolist()),
                "criterion": json.dumps(np.round(criterion, 7).tolist()),
                "heights": json.dumps(None if heights is None else np.round(heights, 7).tolist()),
                "settings": settings,
            }
        )

    started = time.perf_counter()
    dsc = select_n_experts(X, y, max_experts, "dsc", estimator=estimator)
    row(
        "DSC",
        dsc.n_experts_,
        time.perf_counter() - started,
        dsc.loglik_,
        dsc.criterion_,
        dsc.heights_,
    )
    plain = select_n_experts(
        X,
        y,
        max_experts,
        "dsc",
        estimator=estimator,
        path="tree",
        path_alpha=0.0,
        path_tol=None,
        path_max_iter=None,
        dissimilarity="parameter",
        height_scale="raw",
        omega=np.log(n),
    )
    row(
        "DSC (plain)",
        plain.n_experts_,
        plain.wall_time_,
        plain.loglik_,
        plain.criterion_,
        plain.heights_,
    )
    started = time.perf_counter()
    sweep = select_n_experts(X, y, max_experts, "bic", estimator=estimator)
    sweep_time = time.perf_counter() - started
    for method in ("aic", "bic", "icl"):
        # One sweep serves all three criteria; each is charged the sweep's time.
        scores = information_criterion(sweep.models_, sweep.loglik_, X, y, method)
        row(method.upper(), int(np.argmin(scores)) + 1, sweep_time, sweep.loglik_, scores)
    return rows


def run_selection_experiment(
    K0s=(2, 3, 4),
    ns=(1000, 3000, 10_000, 30_000),
    replicates=20,
    *,
    scenarios=SCENARIOS,
    contamination=0.1,
    estimator=None,
    n_jobs=2,
    progress=True,
    runs_path=None,
    first_replicate=0,
):
    """Run every cell and replicate; one row per (replicate, method) in a DataFrame.

    Replicates run in the order of their index (every cell's replicate 0
    first), so a run stopped early holds about as many replicates of every
    cell. With ``runs_path``, each replicate's rows are appended to that CSV
    file as soon as they are done (a header is written if the file is new):
    nothing finished is lost, and runs on several machines can be combined
    with :func:`summarize` on their concatenation; ``first_replicate``
    continues an earlier run with fresh replicates (data and fits are seeded
    by the replicate's index), into a file written with the same settings
    (:func:`check_runs_file`, before anything is fitted). ``scenarios``
    names the scenarios to run, a subset of :data:`SCENARIOS`, so that they
    can also run on different machines.
    """
    if first_replicate < 0 or first_replicate + replicates > MAX_REPLICATES:
        raise ValueError(
            f"replicate indices must lie in 0 .. {MAX_REPLICATES - 1} (the data seed is "
            f"{MAX_REPLICATES} K0 + replicate), got {first_replicate} .. "
            f"{first_replicate + replicates - 1}"
        )
    if isinstance(scenarios, str) or not scenarios or not set(scenarios) <= set(SCENARIOS):
        raise ValueError(
            f"scenarios must be a non-empty sequence of names from {SCENARIOS}, got {scenarios!r}"
        )
    if runs_path is not None:
        check_runs_file(runs_path, estimator)
    estimator = MoEClassifier() if estimator is None else estimator
    fractions = {"well-specified": 0.0, "misspecified": contamination}
    scenarios = [(name, fractions[name]) for name in SCENARIOS if name in scenarios]
    jobs = [
        (K0, n, r, name, frac)
        for r in range(first_replicate, first_replicate + replicates)
        for name, frac in scenarios
        for K0 in K0s
        for n in ns
    ]
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    results = runner(delayed(_replicate)(*job, estimator) for job in jobs)
    rows = []
    for chunk in tqdm(results, total=len(jobs), disable=not progress, desc="replicates"):
        rows.extend(chunk)
        if runs_path is not None:
            new_file = not os.path.exists(runs_path) or os.path.getsize(runs_path) == 0
            pd.DataFrame(chunk).to_csv(runs_path, mode="a", header=new_file, index=False)
    return pd.DataFrame(rows)


def _checked(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` if it holds runs as this module writes them, else a clear ValueError."""
    missing = [c for c in _KEYS + ["selected", "seconds"] if c not in results.columns]
    if missing:
        raise ValueError(f"not runs of the selection experiment: no column {missing}")
    if "settings" in results.columns:
        # Runs written before the column existed read as missing values.
        kinds = results["settings"].fillna("not recorded").unique()
        if len(kinds) > 1:
            raise ValueError(
                f"these runs were made with {len(kinds)} different settings (the "
                "'settings' column: select_n_experts' defaults and the estimator's "
                "parameters, or not recorded); summarise each set separately"
            )
    repeated = results.duplicated(_KEYS)
    if repeated.any():
        first = results.loc[repeated, _KEYS].iloc[0].tolist()
        raise ValueError(
            f"{int(repeated.sum())} runs appear twice (first: {first}); combined runs "
            "need distinct replicates (--first-replicate)"
        )
    return results


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Percentage of replicates selecting ``K0`` and median seconds, per cell and method."""
    results = _checked(results).assign(correct=results["selected"] == results["K0"])
    table = results.groupby(["scenario", "K0", "n", "method"]).agg(
        correct_pct=("correct", lambda c: 100.0 * c.mean()),
        median_seconds=("seconds", "median"),
        replicates=("correct", "size"),
    )
    return table.reset_index()


def selection_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: replicates, percent picking ``K0`` by method, and the cost.

    ``DSC s`` and ``sweep s`` are median seconds per replicate (the BIC
    sweep, which also serves AIC and ICL); ``sweep/DSC`` is the median over
    replicates of the ratio of the two, measured on the same data.
    """
    keys = ["scenario", "K0", "n"]
    results = _checked(results)
    if not {"DSC", "BIC"} <= set(results["method"]):
        raise ValueError("the table compares DSC with the BIC sweep: runs of both are needed")
    percent = summarize(results).pivot_table(index=keys, columns="method", values="correct_pct")
    seconds = results.pivot_table(
        index=keys + ["replicate"], columns="method", values="seconds", aggfunc="first"
    )
    by_cell = seconds.groupby(level=keys)
    table = percent[[m for m in METHOD_ORDER if m in percent.columns]].copy()
    table.insert(0, "replicates", by_cell.size())
    table["DSC s"] = by_cell["DSC"].median()
    table["sweep s"] = by_cell["BIC"].median()
    table["sweep/DSC"] = (seconds["BIC"] / seconds["DSC"]).groupby(level=keys).median()
    # Well-specified first.
    return table.reset_index().sort_values(
        ["scenario", "K0", "n"], ascending=[False, True, True], ignore_index=True
    )


def plot_summary(summary: pd.DataFrame, path):
    """Accuracy against n, one panel per (scenario, K0), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = sorted(summary["scenario"].unique(), reverse=True)  # well-specified first
    K0s = sorted(summary["K0"].unique())
    fig, axes = plt.subplots(
        len(scenarios),
        len(K0s),
        figsize=(3.6 * len(K0s), 3.0 * len(scenarios)),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for (i, scenario), (j, K0) in product(enumerate(scenarios), enumerate(K0s)):
        ax = axes[i][j]
        cell = summary[(summary["scenario"] == scenario) & (summary["K0"] == K0)]
        for method, lines in cell.groupby("method"):
            ax.plot(lines["n"], lines["correct_pct"], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_ylim(-5, 105)
        ax.set_title(f"{scenario}, K0 = {K0}", fontsize=10)
        if i == len(scenarios) - 1:
            ax.set_xlabel("n")
        if j == 0:
            ax.set_ylabel("% selecting K0")
    axes[0][-1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
