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


@main.group()
def experiment():
    """Simulation experiments that check the method's claims."""


@experiment.command("selection")
@click.option(
    "--quick",
    is_flag=True,
    help="A small configuration (K0 = 2, n in {1000, 2000}, 2 replicates) for a smoke test.",
)
@click.option(
    "--replicates",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Replicates per cell (ignored with --quick).",
)
@click.option(
    "--n-jobs",
    default=2,
    show_default=True,
    type=int,
    help="Parallel workers over replicates (joblib).",
)
@click.option(
    "--out",
    "out_dir",
    default="selection-results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the CSV files and the figure.",
)
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


@experiment.command("ppi")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder with pairs.tsv and sequences.tsv (or .fasta), e.g. ../shared/data/ppi/guo2008-yeast.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="A smoke test: 1,200 pairs, 3 folds, four models, small grids.",
)
@click.option(
    "--subsample",
    type=click.IntRange(min=100),
    default=None,
    help="Use a stratified random subsample of this many pairs (default: all; --quick: 1200).",
)
@click.option(
    "--n-jobs",
    default=2,
    show_default=True,
    type=int,
    help="Parallel (protocol, fold, model) fits (joblib).",
)
@click.option(
    "--out",
    "out_dir",
    default="ppi-results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the tables (Markdown, CSV) and the figures.",
)
def experiment_ppi(data_dir, quick, subsample, n_jobs, out_dir):
    """PPI prediction: the MoE against baselines under pair-level and protein-disjoint CV.

    Writes results.md, summary.csv, folds.csv, comparison.csv, predictions.csv,
    reliability.png, dendrogram.png and experts.csv to --out, and prints the
    Markdown results.
    """
    from dataclasses import replace

    from .datasets.ppi import PPIFormatError, load_ppi
    from .experiments.ppi import PPIConfig, run_ppi_experiment, write_report

    try:
        data = load_ppi(data_dir)
    except (PPIFormatError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    config = PPIConfig.quick() if quick else PPIConfig()
    if subsample is not None:
        config = replace(config, subsample=subsample)
    results = run_ppi_experiment(data, config, n_jobs=n_jobs)
    click.echo(write_report(results, out_dir, data_report=data.report))
    click.echo(f"\nWrote the results to {out_dir}.")


if __name__ == "__main__":  # pragma: no cover
    main()
