"""The studies' command line: ``python -m studies {selection,rates,ppi}`` from the repository root.

Each command regenerates one study's documented results (see the README.md
in ``studies/selection``, ``studies/rates`` and ``studies/ppi``). The
experiments are imported when their command runs, so that ``--help`` is
quick.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import click
import joblib
import numpy as np
import pandas as pd

from moelogit import MoEClassifier
from moelogit.cli import InputError

from .tables import markdown_table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Studies that check moelogit's claims: selection, rates, PPI, coverage of intervals."""


def _replicates_option(unit):
    return click.option(
        "--replicates",
        default=20,
        show_default=True,
        type=click.IntRange(min=2),
        help=f"Replicates per {unit} (ignored with --quick).",
    )


def _jobs_options(jobs_help: str = "Parallel workers over replicates (joblib)."):
    """``--n-jobs`` and ``--scheduler``: the replicates (or folds) on local processes or a cluster.

    With ``--scheduler`` the jobs go to the Dask cluster's workers through
    joblib's Dask backend, all at once (``n_jobs=-1``).
    """

    def decorate(command):
        @functools.wraps(command)
        def run(*args, scheduler=None, **kwargs):
            if scheduler is None:
                return command(*args, **kwargs)
            from moelogit.cluster import scheduler as cluster

            with cluster(scheduler), joblib.parallel_config(backend="dask"):
                return command(*args, **(kwargs | {"n_jobs": -1}))

        run = click.option(
            "--scheduler",
            metavar="ADDRESS|local:N",
            help="Run the jobs on a Dask cluster: a running distributed scheduler's address, or "
            "local:N worker processes (--n-jobs is then ignored).",
        )(run)
        return click.option("--n-jobs", default=2, show_default=True, type=int, help=jobs_help)(run)

    return decorate


def _out_option(default):
    return click.option(
        "--out",
        "out_dir",
        default=default,
        show_default=True,
        type=click.Path(file_okay=False),
        help="Folder for the CSV files and the figure.",
    )


def _int_list(minimum):
    """A click callback: ``"1000,3000"`` -> ``(1000, 3000)``, distinct and ``>= minimum``."""

    def parse(ctx, param, value):
        try:
            numbers = tuple(int(part) for part in value.split(","))
        except ValueError:
            raise click.BadParameter(f"expected integers separated by commas, got {value!r}")
        if any(number < minimum for number in numbers):
            raise click.BadParameter(f"expected integers >= {minimum}, got {value!r}")
        if len(set(numbers)) < len(numbers):
            raise click.BadParameter(f"a value is repeated in {value!r}")
        return numbers

    return parse


@main.command("selection")
@click.option(
    "--quick",
    is_flag=True,
    help="A small configuration (K0 = 2, n in {1000, 2000}, 2 replicates) for a smoke test.",
)
@_replicates_option("cell")
@click.option(
    "--k0",
    "K0s",
    default="2,3,4",
    show_default=True,
    callback=_int_list(1),
    help="True numbers of experts, separated by commas (ignored with --quick).",
)
@click.option(
    "--sizes",
    "ns",
    default="1000,3000,10000,30000",
    show_default=True,
    callback=_int_list(100),
    help="Training sample sizes, separated by commas (ignored with --quick).",
)
@click.option(
    "--first-replicate",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Index of the first replicate: continue an earlier run with fresh ones (appended "
    "to runs.csv in --out; or run elsewhere and combine with --summarize).",
)
@click.option(
    "--scenario",
    "scenarios",
    type=click.Choice(["well-specified", "misspecified"]),  # SCENARIOS; a test checks
    multiple=True,
    help="Run only this scenario (repeatable; default: both; ignored with --quick). "
    "Give each scenario run its own --out: a fresh run replaces runs.csv there.",
)
@click.option(
    "--summarize",
    "runs_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Fit nothing: summarise these runs.csv files (repeat the option to combine runs "
    "made on several machines).",
)
@_jobs_options()
@_out_option("selection-results")
def selection_study(
    quick, replicates, K0s, ns, first_replicate, scenarios, runs_files, n_jobs, out_dir
):
    """How often DSC, AIC, BIC and ICL pick the true number of experts, and at what cost.

    Writes runs.csv (one row per replicate and method, appended as each
    replicate finishes, so an interrupted run keeps its work; with
    --first-replicate the new replicates are added to it), summary.csv,
    summary.md and accuracy.png to --out, and prints the summary table.
    """
    from .selection.experiment import (
        MAX_REPLICATES,
        SCENARIOS,
        RunsFileError,
        plot_summary,
        run_selection_experiment,
        selection_table,
        summarize,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.csv"
    if runs_files:
        try:
            results = pd.concat([pd.read_csv(path) for path in runs_files], ignore_index=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read the runs: {exc}")
    else:
        config = (
            {"K0s": (2,), "ns": (1000, 2000), "replicates": 2}
            if quick
            else {
                "K0s": K0s,
                "ns": ns,
                "replicates": replicates,
                "first_replicate": first_replicate,
                "scenarios": scenarios or SCENARIOS,
            }
        )
        if first_replicate + replicates > MAX_REPLICATES:
            raise click.BadParameter(
                f"replicate indices go up to {MAX_REPLICATES - 1}", param_hint="--first-replicate"
            )
        if quick or first_replicate == 0:
            runs_path.unlink(missing_ok=True)  # a fresh run; a continuation appends
        try:  # checks runs.csv before fitting; only that check's error is caught
            run_selection_experiment(n_jobs=n_jobs, runs_path=runs_path, **config)
        except RunsFileError as exc:
            raise click.ClickException(str(exc)) from exc
        results = pd.read_csv(runs_path)
    try:
        summary, table = summarize(results), selection_table(results)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown_table(table, "{:.1f}".format) + "\n")
    plot_summary(summary, out / "accuracy.png")
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    click.echo(f"\nWrote {out / 'summary.csv'}, {out / 'summary.md'} and {out / 'accuracy.png'}.")


@main.command("rates")
@click.option(
    "--quick",
    is_flag=True,
    help="A small configuration (n in {400, 800, 1600}, 3 replicates, 5 restarts, "
    "200 MM cycles, Newton refinement) for a smoke test; its slopes mean little.",
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
@_jobs_options()
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of data and fits.")
@_out_option("rates-results")
def rates_study(quick, replicates, n_points, n_min, n_max, extra_experts, n_jobs, seed, out_dir):
    """Convergence rates: Voronoi losses and density error against n, with fitted slopes.

    Data from a known truth (K0 = 3, d = 2, M = 3; see
    studies.rates.experiment.default_truth) is fitted with K0 experts
    (exact), K0 + extra experts (over) and the over-fitted dendrogram merged to
    K0 atoms (merged). Writes runs.csv (every fit), slopes.csv, tolerance.csv
    and rates.png to --out, and prints the slopes beside the theory's.
    """
    from .rates.experiment import fit_slopes, plot_rates, run_rates_experiment, tolerance_check

    if n_min >= n_max:
        raise click.BadParameter("--n-min must be below --n-max", param_hint="--n-min")
    if quick:
        config = {
            "ns": (400, 800, 1600),
            "replicates": 3,
            "estimator": MoEClassifier(n_init=5, max_iter=200, polish=True),
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
        "\nFits that converged (MM, then Newton refinement): "
        + ", ".join(f"{fit} {share:.0%}" for fit, share in converged.items())
    )
    click.echo(f"\nWrote runs.csv, slopes.csv, tolerance.csv and rates.png to {out}.")


@main.command("coverage")
@click.option(
    "--quick",
    is_flag=True,
    help="Two cells, 3 replicates, pseudo-truths on 20,000 rows: a smoke test; its "
    "coverages mean little.",
)
@_replicates_option("cell")
@_jobs_options()
@_out_option("coverage-results")
def coverage_study(quick, replicates, n_jobs, out_dir):
    """Coverage of the 95% intervals: coefficients (observed and sandwich) and p(y | x).

    Cells: K = 2 and 3 experts at n = 2,000 and 20,000 from well-separated
    truths, and K = 2 and 3 at n = 20,000 with 10% foreign labels (see
    studies.coverage.coverage). Writes runs.csv (counts per replicate) and
    summary.csv (coverage with a Clopper-Pearson interval) to --out and
    prints the summary.
    """
    from .coverage import coverage

    configs = coverage.default_configs()
    if quick:
        coverage.PSEUDO_TRUE_ROWS = 20_000
        configs, replicates = [configs[0], configs[-1]], 3
    summary = coverage.run_coverage(configs, replicates, n_jobs, out_dir)
    click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(f"\nWrote runs.csv and summary.csv to {out_dir}.")


@main.command("coverage-k3")
@click.option(
    "--sizes",
    default="2000,5000,20000",
    show_default=True,
    callback=_int_list(100),
    help="Sample sizes of the well-specified K = 3 cells, comma-separated.",
)
@click.option(
    "--replicates", default=200, show_default=True, type=click.IntRange(min=2),
    help="Replicates of the smallest cell.",
)  # fmt: skip
@click.option(
    "--replicates-large", default=50, show_default=True, type=click.IntRange(min=2),
    help="Replicates of each larger cell.",
)  # fmt: skip
@click.option(
    "--starts", default=20, show_default=True, type=click.IntRange(min=0),
    help="Single converged starts of the wider search for higher optima.",
)  # fmt: skip
@click.option(
    "--misspecified",
    is_flag=True,
    help="10% foreign labels, intervals for the pseudo-true parameter (as the coverage study).",
)
@click.option(
    "--summarise",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Print the summaries of an existing k3_diagnosis.csv.gz instead of running.",
)
@_jobs_options()
@_out_option("studies/coverage")
def coverage_k3_study(
    sizes, replicates, replicates_large, starts, misspecified, csv_path, n_jobs, out_dir
):
    """Why K = 3 intervals under-cover: matching, optima, standard errors against spread.

    Replays the coverage study's well-specified K = 3 cells (see
    studies.coverage.k3_diagnosis), writes k3_diagnosis.csv.gz (per replicate,
    fit and parameter: estimate, standard errors, targets under each
    matching, the orders, objectives; rewritten every ten replicates) to
    --out and prints the summaries.
    """
    from .coverage import k3_diagnosis

    if csv_path is not None:
        click.echo(k3_diagnosis.report(k3_diagnosis.tidy([pd.read_csv(csv_path)])))
        return
    cells = {n: replicates if n == min(sizes) else replicates_large for n in sorted(sizes)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = k3_diagnosis.run_diagnosis(
        cells, n_jobs, starts, out / "k3_diagnosis.csv.gz", misspecified
    )
    click.echo(k3_diagnosis.report(frame))
    click.echo(f"\nWrote k3_diagnosis.csv.gz to {out}.")


@main.command("ppi")
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
    help="A smoke test: 1,000 pairs, two descriptors, 3 folds, three models, small grids.",
)
@click.option(
    "--subsample",
    type=click.IntRange(min=100),
    default=None,
    help="Use a stratified random subsample of this many pairs (default: all; --quick: 1000).",
)
@click.option(
    "--models",
    default=None,
    help="Models to run, separated by commas (default: all seven; --quick: three), "
    "from moe-dsc, moe-bic, logreg, svm, forest, boosting, mlp.",
)
@click.option(
    "--tune-rows",
    type=click.IntRange(min=100),
    default=None,
    help="Search every model's grid on a stratified subsample of at most this many training "
    "pairs (default: 2000; --quick: 300). A larger one can tune better and takes longer "
    "(docs/ppi.md).",
)
@_jobs_options("Parallel jobs (joblib), each one outer fold of one model (of both MoE models).")
@click.option(
    "--keep-self-pairs",
    is_flag=True,
    help="Keep pairs of a protein with itself (removed and counted by default).",
)
@click.option(
    "--out",
    "out_dir",
    default="ppi-results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the tables (Markdown, CSV) and the figures.",
)
def ppi_study(data_dir, quick, subsample, models, tune_rows, n_jobs, keep_self_pairs, out_dir):
    """PPI prediction: the MoE against baselines under pair-level and protein-disjoint CV.

    Writes results.md, summary.csv, folds.csv, comparison.csv, predictions.csv,
    prevalence.csv (every test fold subsampled to 1:10, the probabilities with
    and without the prior-shift correction), reliability.png, dendrogram.png
    and experts.csv to --out, and prints the Markdown results.

    Every finished fold job is kept in OUT/fold-jobs: run the same command
    again after an interruption and it resumes, reusing the jobs of the same
    data, settings and code. Delete that folder to start afresh.
    """
    from moelogit.datasets.ppi import PPIFormatError, load_ppi

    from .ppi.config import PPIConfig
    from .ppi.models import MODELS
    from .ppi.report import write_report
    from .ppi.runner import run_ppi_experiment

    changes = {"subsample": subsample, "tune_rows": tune_rows}
    if models is not None:
        requested = {name.strip() for name in models.split(",") if name.strip()}
        unknown = sorted(requested - set(MODELS))
        # In MODELS' order, whatever the user's: fold jobs (the two mixtures'
        # shared one) are keyed by their models in order, so runs that name
        # the same models reuse each other's jobs.
        names = tuple(name for name in MODELS if name in requested)
        if unknown or not names:
            problem = f"unknown model(s) {', '.join(unknown)}" if unknown else "no model given"
            raise click.BadParameter(
                f"{problem}; choose from {', '.join(MODELS)}", param_hint="--models"
            )
        changes["models"] = names
    try:
        data = load_ppi(data_dir, keep_self_pairs=keep_self_pairs)
    except (PPIFormatError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from None
    config = PPIConfig.quick() if quick else PPIConfig()
    given = {key: value for key, value in changes.items() if value is not None}
    config = dataclasses.replace(config, **given)
    results = run_ppi_experiment(data, config, n_jobs=n_jobs, cache_dir=Path(out_dir) / "fold-jobs")
    click.echo(write_report(results, out_dir, data_report=data.report))
    click.echo(f"\nWrote the results to {out_dir}.")
