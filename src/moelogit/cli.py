"""The ``moelogit`` command line."""

from __future__ import annotations

import time

import click
import numpy as np

from . import __version__
from .datasets import make_moe_classification
from .estimator import MoEClassifier


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="moelogit")
def main():
    """Softmax-gated multinomial-logistic mixtures of experts, fitted by monotone MM."""


@main.command()
@click.option(
    "--n-samples",
    default=5000,
    show_default=True,
    type=click.IntRange(min=50),
    help="Rows of the simulated training set (a fresh test set of the same size is drawn too).",
)
@click.option(
    "--n-features",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of features d.",
)
@click.option(
    "--n-experts",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Experts in the simulated truth and in the fitted model.",
)
@click.option(
    "--n-classes",
    default=3,
    show_default=True,
    type=click.IntRange(min=2),
    help="Number of classes M.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the simulation and of the fit."
)
def demo(n_samples, n_features, n_experts, n_classes, seed):
    """Simulate a mixture-of-experts data set, fit it, and summarise the fit.

    The truth has coefficients drawn N(0, 2^2) and features x ~ N(0, I). The
    summary compares the fitted model with the truth on fresh data.
    """
    X, y, truth = make_moe_classification(
        2 * n_samples, n_features, n_experts, n_classes, random_state=seed
    )
    X_train, y_train, X_test, y_test = X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]
    click.echo(
        f"Simulated {n_samples} training and {n_samples} test rows: d={n_features}, "
        f"K={n_experts} experts, M={n_classes} classes (seed {seed})."
    )
    model = MoEClassifier(n_experts=n_experts, random_state=seed)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - started

    true_log_proba = truth.log_class_proba(X_test)
    rows = np.arange(y_test.size)
    abs_err = np.abs(model.predict_proba(X_test) - np.exp(true_log_proba)).mean()
    true_loglik = true_log_proba[rows, y_test].mean()
    true_accuracy = np.mean(true_log_proba.argmax(axis=1) == y_test)
    state = "converged" if model.converged_ else "NOT converged"
    lines = [
        ("fit time", f"{fit_time:.2f} s ({model.n_init} starts)"),
        ("iterations (best start)", f"{model.n_iter_} ({state})"),
        ("objective trace length", f"{model.loglik_trace_.size}"),
        ("train mean log-likelihood", f"{model.loglik(X_train, y_train):.5f}"),
        (
            "test mean log-likelihood",
            f"{model.loglik(X_test, y_test):.5f} (truth: {true_loglik:.5f})",
        ),
        ("test accuracy", f"{model.score(X_test, y_test):.4f} (truth: {true_accuracy:.4f})"),
        ("mean |p_fit - p_true| on test", f"{abs_err:.4f}"),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        click.echo(f"  {name:<{width}}  {value}")


def _replicates_option(unit):
    return click.option(
        "--replicates",
        default=20,
        show_default=True,
        type=click.IntRange(min=2),
        help=f"Replicates per {unit} (ignored with --quick).",
    )


_n_jobs_option = click.option(
    "--n-jobs",
    default=2,
    show_default=True,
    type=int,
    help="Parallel workers over replicates (joblib).",
)


def _out_option(default):
    return click.option(
        "--out",
        "out_dir",
        default=default,
        show_default=True,
        type=click.Path(file_okay=False),
        help="Folder for the CSV files and the figure.",
    )


@main.group()
def experiment():
    """Simulation experiments that check the method's claims."""


@experiment.command("selection")
@click.option(
    "--quick",
    is_flag=True,
    help="A small configuration (K0 = 2, n in {1000, 2000}, 2 replicates) for a smoke test.",
)
@_replicates_option("cell")
@_n_jobs_option
@_out_option("selection-results")
def experiment_selection(quick, replicates, n_jobs, out_dir):
    """How often DSC, AIC, BIC and ICL pick the true number of experts, and at what cost.

    Writes runs.csv (one row per replicate and method), summary.csv and
    accuracy.png to --out, and prints the summary table.
    """
    from pathlib import Path

    from .experiments.selection import plot_summary, run_selection_experiment, summarize

    config = (
        {"K0s": (2,), "ns": (1000, 2000), "replicates": 2, "misspecified": True}
        if quick
        else {"replicates": replicates}
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = run_selection_experiment(n_jobs=n_jobs, **config)
    summary = summarize(results)
    results.to_csv(out / "runs.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    plot_summary(summary, out / "accuracy.png")
    click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    click.echo(f"\nWrote {out / 'runs.csv'}, {out / 'summary.csv'} and {out / 'accuracy.png'}.")


@experiment.command("rates")
@click.option(
    "--quick",
    is_flag=True,
    help="A small configuration (n in {400, 800, 1600}, 3 replicates, 5 restarts, "
    "max_iter 500) for a smoke test; its slopes mean little.",
)
@_replicates_option("sample size")
@click.option(
    "--n-points",
    default=10,
    show_default=True,
    type=click.IntRange(min=2),
    help="Sample sizes, log-spaced from --n-min to --n-max (ignored with --quick).",
)
@click.option(
    "--n-min", default=1000, show_default=True, type=click.IntRange(min=50), help="Smallest n."
)
@click.option(
    "--n-max", default=100_000, show_default=True, type=click.IntRange(min=50), help="Largest n."
)
@click.option(
    "--extra-experts",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="The over-fitted model has K0 + this many experts.",
)
@_n_jobs_option
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of data and fits.")
@_out_option("rates-results")
def experiment_rates(
    quick, replicates, n_points, n_min, n_max, extra_experts, n_jobs, seed, out_dir
):
    """Convergence rates: Voronoi losses and density error against n, with fitted slopes.

    Data from a known truth (K0 = 3, d = 2, M = 3; see
    moelogit.experiments.rates.default_truth) is fitted with K0 experts
    (exact), K0 + extra experts (over) and the over-fitted dendrogram merged to
    K0 atoms (merged). Writes runs.csv (every fit), slopes.csv, tolerance.csv
    and rates.png to --out, and prints the slopes beside the theory's.
    """
    from pathlib import Path

    from .experiments.rates import fit_slopes, plot_rates, run_rates_experiment, tolerance_check

    if n_min >= n_max:
        raise click.BadParameter("--n-min must be below --n-max", param_hint="--n-min")
    if quick:
        config = {
            "ns": (400, 800, 1600),
            "replicates": 3,
            "estimator": MoEClassifier(n_init=5, max_iter=500),
            "tolerance_replicates": 1,
        }
    else:
        ns = np.unique(np.geomspace(n_min, n_max, n_points).round().astype(int))
        config = {"ns": ns, "replicates": replicates}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = run_rates_experiment(
        extra_experts=extra_experts, n_jobs=n_jobs, random_state=seed, **config
    )
    slopes = fit_slopes(runs)
    tolerance = tolerance_check(runs)
    runs.to_csv(out / "runs.csv", index=False)
    slopes.to_csv(out / "slopes.csv", index=False)
    tolerance.to_csv(out / "tolerance.csv")
    plot_rates(runs, slopes, out / "rates.png")
    converged = runs[runs["fit"] != "merged"].groupby("fit")["converged"].mean()
    click.echo(slopes.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo("\nLargest relative change of each loss when tol is tightened tenfold:")
    click.echo(tolerance.to_string(float_format=lambda v: f"{v:.2%}"))
    click.echo(
        "\nFits that met tol before max_iter: "
        + ", ".join(f"{fit} {share:.0%}" for fit, share in converged.items())
    )
    click.echo(f"\nWrote runs.csv, slopes.csv, tolerance.csv and rates.png to {out}.")


if __name__ == "__main__":  # pragma: no cover
    main()
