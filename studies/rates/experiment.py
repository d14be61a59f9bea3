"""Finite-sample rates of the maximum-likelihood fit (math.md, section 4).

For every sample size ``n`` and replicate, data from a known truth ``G0`` with
``K0`` experts is fitted three ways:

* ``exact``: ``K0`` experts;
* ``over``: ``K0 + extra_experts`` experts (the over-fitted MLE);
* ``merged``: the over-fitted fit's dendrogram (:func:`moelogit.selection.dendrogram`,
  on the user's scale, where the truth lives) read at level ``K0``, not refitted.

Each fit is scored by the Voronoi losses ``D1``, ``D2`` and the conditional
density error (x-averaged Hellinger distance, on a fixed Monte Carlo sample)
of :mod:`studies.rates.losses`. The slope of ``log loss`` against ``log n``,
fitted by least squares over every run with a bootstrap interval, is set
beside the slope the theory predicts.

The rates concern the maximum-likelihood estimate, the *global* maximiser. The
exact fit keeps the better of the estimator's own restarts and one start at the
truth (on 6 trial data sets, n = 1,000 to 10,000, the truth's start won 5
times: the restarts alone often stop at a worse local optimum for small n).
The over-fitted fit uses the restarts alone: a start at the truth with atoms
split in two lost to them in 4 of the same 6 data sets,
and over-fitted fits are the expensive ones. Which start won is recorded.
"""

from __future__ import annotations

import time
import warnings
from itertools import product

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from moelogit import MoEClassifier, MoEParams, SeparationWarning
from moelogit.selection import dendrogram

from .losses import hellinger_error, voronoi_losses

__all__ = [
    "THEORY_SLOPES",
    "default_truth",
    "fit_slopes",
    "plot_rates",
    "run_rates_experiment",
    "tolerance_check",
]

LOSSES = ("density", "D1", "D2")
FITS = ("exact", "over", "merged")
# Our reading of math.md section 4; (log n / n)^(1/2) counts as -1/2.
THEORY_SLOPES = {
    ("density", "exact"): -0.5,
    ("D1", "exact"): -0.5,
    ("D2", "exact"): -0.5,
    ("density", "over"): -0.5,
    ("D1", "over"): -0.25,
    ("D2", "over"): -0.5,
    ("density", "merged"): -0.5,
    ("D1", "merged"): -0.5,
    ("D2", "merged"): -0.5,
}


def default_truth() -> MoEParams:
    """The default truth: ``K0 = 3`` experts, ``d = 2`` features, ``M = 3`` classes.

    Gate slopes of length 2 pointing at 90, 210 and 330 degrees with zero
    intercepts, so that each expert owns a third of the plane and has mean
    weight 1/3 under ``x ~ N(0, I)``; expert ``k`` favours class ``k`` (class
    intercept 2) and tilts towards class ``k + 1`` along its gate direction
    (slope 1.5). Atoms are at least 3.9 apart: well separated.

    Examples
    --------
    >>> truth = default_truth()
    >>> truth.n_experts, truth.n_features, truth.n_classes
    (3, 2, 3)
    """
    angles = np.deg2rad([90.0, 210.0, 330.0])
    directions = np.column_stack([np.cos(angles), np.sin(angles)])
    expert_coef = np.zeros((3, 3, 2))
    for k in range(3):
        expert_coef[k, (k + 1) % 3] = 1.5 * directions[k]
    return MoEParams(
        gate_coef=2.0 * directions,
        gate_intercept=np.zeros(3),
        expert_coef=expert_coef,
        expert_intercept=2.0 * np.eye(3),
    )


def _best_fit(estimator, X, y, n_experts, warm_start=None):
    """The best (by objective) of the estimator's restarts and an optional warm start."""
    fits = {"restarts": clone(estimator).set_params(n_experts=n_experts).fit(X, y)}
    if warm_start is not None:
        fits["truth"] = clone(estimator).set_params(n_experts=n_experts, init=warm_start)
        fits["truth"].fit(X, y)
    start = max(fits, key=lambda name: fits[name].loglik_trace_[-1])
    return fits[start], start


def _losses(params: MoEParams, truth: MoEParams, X_eval) -> dict:
    return {"density": hellinger_error(params, truth, X_eval), **voronoi_losses(params, truth)}


def _replicate(truth, n, replicate, extra_experts, estimator, X_eval, seed, check_tolerance):
    # Over-fitted fits may stop at max_iter and small samples may be separable:
    # both are recorded in the rows (converged, n_iter), so workers stay quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SeparationWarning)
        rng = np.random.default_rng([seed, n, replicate])
        X = rng.normal(size=(n, truth.n_features))
        y = truth.sample_labels(X, rng)
        K0, rows = truth.n_experts, []
        sizes = {"exact": K0, "over": K0 + extra_experts}
        for fit, n_experts in sizes.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            warm_start = truth if fit == "exact" else None
            model, start = _best_fit(estimator, X, y, n_experts, warm_start)
            fitted = {fit: model.params_}
            if fit == "over":
                fitted["merged"] = dendrogram(model.params_).levels[K0 - 1]
            tightened = {}
            if check_tolerance:
                # Resume the retained fit with a tenfold tighter tolerance.
                tight = clone(estimator).set_params(
                    n_experts=n_experts, init=model.params_, tol=estimator.tol / 10
                )
                tight.fit(X, y)
                tightened = {fit: tight.params_}
                if fit == "over":
                    tightened["merged"] = dendrogram(tight.params_).levels[K0 - 1]
            seconds = time.perf_counter() - started
            # CPU time of this worker: the cost of the fit whatever else runs on the machine.
            cpu_seconds = time.process_time() - cpu_started
            for name, params in fitted.items():
                row = {
                    "n": n,
                    "replicate": replicate,
                    "fit": name,
                    "n_experts": params.n_experts,
                    "start": start,
                    "converged": model.converged_,
                    "n_iter": model.n_iter_,
                    "n_newton_iter": model.n_newton_iter_,
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    "objective": model.loglik_trace_[-1],
                    **_losses(params, truth, X_eval),
                }
                if name in tightened:
                    losses = _losses(tightened[name], truth, X_eval)
                    row.update({f"{loss}_tight": value for loss, value in losses.items()})
                rows.append(row)
        return rows


def run_rates_experiment(
    truth=None,
    ns=None,
    replicates=20,
    *,
    extra_experts=2,
    estimator=None,
    n_eval=20_000,
    tolerance_replicates=3,
    random_state=0,
    n_jobs=2,
    progress=True,
):
    """Fit exact, over-fitted and merged models on data from ``truth``; score each.

    Parameters
    ----------
    truth : MoEParams, optional
        The truth ``G0``; :func:`default_truth` when None. Features are drawn
        ``x ~ N(0, I)``.
    ns : sequence of int, optional
        Sample sizes; 10 points log-spaced from 1,000 to 100,000 when None.
    replicates : int, default=20
        Data sets per sample size.
    extra_experts : int, default=2
        The over-fitted model has ``K0 + extra_experts`` experts.
    estimator : MoEClassifier, optional
        Fit settings (``n_experts`` and ``init`` are set per fit); when None,
        ``MoEClassifier(n_init=10, max_iter=200, polish=True)``. The rates
        concern the maximiser itself, and over-fitted likelihoods are flat:
        on one data set with n = 30,000 the over-fitted MM fit needed 9,861
        SQUAREM cycles to meet ``tol=1e-8`` and 12,300 to settle (its ``D1``
        moved from 4.05 to 5.36 in between). Newton steps on the exact
        Hessian (``polish``) reach the maximiser in tens of steps (a median of
        21 for over-fitted fits in the default run, 6 to 100), so MM only
        has to bring the best start into its basin: with 200 MM cycles
        instead of 1,000 the over-fitted fit took 0.7-21.7 s instead of
        1.8-43.5 s on 5 data sets (n = 1,000 to 100,000) and ended at the
        same maximum in 3 of them, at a higher one in 1 and a lower one in
        1 (local maxima, which both budgets meet).
    n_eval : int, default=20000
        Monte Carlo rows (one fixed sample) for the density error.
    tolerance_replicates : int, default=3
        For the first replicates at every ``n``, each fit is resumed with a
        tenfold tighter ``tol`` and scored again (columns ``*_tight``): the
        optimiser must not drive the losses (see :func:`tolerance_check`).
    random_state : int, default=0
        Seeds the data (per ``n`` and replicate), the evaluation sample and
        the estimator's restarts.
    n_jobs : int, default=2
        Parallel workers over data sets (joblib).
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per data set and fit type (``exact``, ``over``, ``merged``):
        losses ``density``, ``D1``, ``D2``, the start that won, convergence,
        iterations, seconds (per fit, ``merged`` sharing ``over``'s).
    """
    truth = default_truth() if truth is None else truth
    ns = np.unique(np.geomspace(1000, 100_000, 10).round().astype(int)) if ns is None else ns
    if estimator is None:
        estimator = MoEClassifier(n_init=10, max_iter=200, polish=True)
    estimator = clone(estimator).set_params(random_state=random_state)
    X_eval = np.random.default_rng([random_state, 0]).normal(size=(n_eval, truth.n_features))
    # Largest n first: the slowest jobs start early and the workers finish together.
    jobs = [(int(n), r) for n, r in product(sorted(ns, reverse=True), range(replicates))]
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    results = runner(
        delayed(_replicate)(
            truth, n, r, extra_experts, estimator, X_eval, random_state, r < tolerance_replicates
        )
        for n, r in jobs
    )
    rows = []
    for chunk in tqdm(results, total=len(jobs), disable=not progress, desc="data sets"):
        rows.extend(chunk)
    return pd.DataFrame(rows).sort_values(["n", "replicate", "fit"], ignore_index=True)


def _slope(log_n: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """Least-squares slopes, one per column of ``log_loss`` (rows match ``log_n``)."""
    centred = log_n - log_n.mean(axis=0)
    return np.sum(centred * (log_loss - log_loss.mean(axis=0)), axis=0) / np.sum(centred**2, axis=0)


def fit_slopes(runs: pd.DataFrame, n_boot=2000, random_state=0) -> pd.DataFrame:
    """Slope of ``log(loss)`` on ``log(n)`` per loss and fit, with a 95% bootstrap interval.

    The bootstrap resamples replicates within every ``n`` (the design of the
    experiment) and refits the slope; the interval is the 2.5 and 97.5
    percentiles.

    Returns
    -------
    pandas.DataFrame
        Columns ``loss, fit, slope, ci_low, ci_high, theory``.
    """
    rng = np.random.default_rng(random_state)
    rows = []
    for fit, loss in product(FITS, LOSSES):
        runs_fit = runs[runs["fit"] == fit]
        if runs_fit.empty:
            continue
        groups = [g[loss].to_numpy() for _, g in runs_fit.groupby("n")]
        sizes = sorted(runs_fit["n"].unique())
        log_n = np.concatenate([np.full(len(g), np.log(n)) for n, g in zip(sizes, groups)])
        log_loss = np.log(np.concatenate(groups))
        # Resample indices within each n: one column per bootstrap draw.
        offsets = np.cumsum([0] + [len(g) for g in groups[:-1]])
        draws = np.concatenate(
            [o + rng.integers(0, len(g), size=(len(g), n_boot)) for o, g in zip(offsets, groups)]
        )
        boot = _slope(log_n[draws], log_loss[draws])
        low, high = np.percentile(boot, [2.5, 97.5])
        rows.append(
            {
                "loss": loss,
                "fit": fit,
                "slope": float(_slope(log_n[:, None], log_loss[:, None])[0]),
                "ci_low": low,
                "ci_high": high,
                "theory": THEORY_SLOPES[(loss, fit)],
            }
        )
    return pd.DataFrame(rows)


def tolerance_check(runs: pd.DataFrame) -> pd.DataFrame:
    """Largest relative change of every loss when ``tol`` is tightened tenfold.

    Returns
    -------
    pandas.DataFrame
        Columns ``fit``, then one per loss: ``max |tight - loose| / loose``
        over the runs that were checked.
    """
    checked = runs.dropna(subset=[f"{loss}_tight" for loss in LOSSES])
    table = {
        loss: (checked[f"{loss}_tight"] - checked[loss]).abs() / checked[loss] for loss in LOSSES
    }
    return pd.DataFrame({"fit": checked["fit"], **table}).groupby("fit", sort=False).max()


def plot_rates(runs: pd.DataFrame, slopes: pd.DataFrame, path) -> None:
    """One log-log panel per loss: every run, the median per ``n``, the fitted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(LOSSES), figsize=(4.2 * len(LOSSES), 3.8))
    titles = {"density": "density error (Hellinger)", "D1": "D1", "D2": "D2"}
    for ax, loss in zip(axes, LOSSES):
        for color, fit in zip(("C0", "C1", "C2"), FITS):
            runs_fit = runs[runs["fit"] == fit]
            line = slopes[(slopes["loss"] == loss) & (slopes["fit"] == fit)]
            if runs_fit.empty or line.empty:
                continue
            line = line.iloc[0]
            ax.scatter(runs_fit["n"], runs_fit[loss], s=6, alpha=0.25, color=color)
            medians = runs_fit.groupby("n")[loss].median()
            ax.plot(medians.index, medians.to_numpy(), "o", color=color, ms=4)
            # The least-squares line passes through the means of log n and log loss.
            log_n, log_loss = np.log(runs_fit["n"]), np.log(runs_fit[loss])
            grid = np.array([runs_fit["n"].min(), runs_fit["n"].max()])
            fitted = np.exp(log_loss.mean() + line["slope"] * (np.log(grid) - log_n.mean()))
            label = (
                f"{fit}: {line['slope']:.2f} [{line['ci_low']:.2f}, {line['ci_high']:.2f}]"
                f" (theory {line['theory']:g})"
            )
            ax.plot(grid, fitted, "-", color=color, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_title(titles[loss])
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
