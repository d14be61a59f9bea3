"""The ``moelogit`` command line."""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
import pandas as pd

from . import __version__
from ._tabular import (
    DataError,
    as_model_classes,
    check_output,
    check_output_folder,
    prepare,
    read_table,
    summarize,
    write_table,
)
from .datasets import make_moe_classification
from .estimator import SELECTION_METHODS, MoEClassifier
from .features.descriptors import DESCRIPTORS, check_installed
from .io import ModelFileError
from .model import Dims, Support
from .ppi import DEFAULTS as PPI_DEFAULTS


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
@click.option(
    "--report",
    "report_path",
    default="demo-report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="HTML report on the fit, evaluated on the test rows.",
)
@click.option(
    "--write-example-csv",
    "example_path",
    type=click.Path(dir_okay=False),
    help="Instead of fitting, write the simulated training rows to this file (columns id, "
    "x1.., label with classes a, b, ...) and the test rows beside it as <name>-new<suffix>, "
    "for trying fit, predict, select and report.",
)
def demo(n_samples, n_features, n_experts, n_classes, seed, report_path, example_path):
    """Simulate a mixture-of-experts data set, fit it, and summarise the fit.

    The truth has coefficients drawn N(0, 2^2) and features x ~ N(0, I). The
    summary compares the fitted model with the truth on fresh data, and the
    report (--report) shows the fit in full.
    """
    with _user_errors():
        if example_path is None:
            check_output(report_path)
        else:
            for path in _example_paths(example_path):
                check_output(path, table=True)
    X, y, truth = make_moe_classification(
        2 * n_samples, n_features, n_experts, n_classes, random_state=seed
    )
    if example_path is not None:
        with _user_errors():
            written = _write_example(X, y, n_samples, example_path)
        click.echo(f"Wrote {written[0]} ({n_samples} rows) and {written[1]} ({n_samples} rows).")
        return
    X_train, y_train, X_test, y_test = X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]
    click.echo(
        f"Simulated {n_samples} training and {n_samples} test rows: d={n_features}, "
        f"K={n_experts} experts, M={n_classes} classes (seed {seed})."
    )
    model = MoEClassifier(n_experts=n_experts, random_state=seed, verbose=1)
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
    with _user_errors():
        _write_demo_report(report_path, model, X_train, y_train, X_test, y_test)
    click.echo(f"Wrote the report to {report_path}.")


def _demo_frame(X, y) -> pd.DataFrame:
    """Simulated rows as a table: features x1.., then the label column."""
    frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
    frame["label"] = y
    return frame


def _write_demo_report(path, model, X_train, y_train, X_test, y_test) -> None:
    from .report import write_report

    def summary(X, y, source):
        return summarize(prepare(_demo_frame(X, y), label="label"), source=source, label="label")

    write_report(
        path,
        model,
        metadata={"data_summary": summary(X_train, y_train, "simulated training rows")},
        X_test=X_test,
        y_test=y_test,
        test_summary=summary(X_test, y_test, "simulated test rows"),
        title="moelogit demo report",
    )


def _example_paths(path) -> tuple[Path, Path]:
    """The training rows' file and, beside it, the new rows' ``<name>-new<suffix>``."""
    path = Path(path)
    suffix = "".join(path.suffixes)
    return path, path.with_name(f"{path.name.removesuffix(suffix)}-new{suffix}")


def _write_example(X, y, n_train, path) -> tuple[Path, Path]:
    """The example files of ``demo --write-example-csv``: training rows, then new rows."""
    frame = _demo_frame(X, np.array([chr(ord("a") + code) for code in y]))
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    path, new_path = _example_paths(path)
    write_table(frame.iloc[:n_train], path)
    write_table(frame.iloc[n_train:], new_path)
    return path, new_path


# -- working with the user's files: fit, predict, select, report -------------------------
#
# Data flow one way: read and validate a file (moelogit._tabular), fit or load
# a model, then save, predict or report. Every problem with the user's files
# or data ends in InputError: one line on stderr, exit status 2, no output file.


class InputError(click.ClickException):
    """A problem with the user's files or data: one line on stderr, exit status 2."""

    exit_code = 2


@contextmanager
def _user_errors():
    """Turn the errors a user's data can cause into one-line :class:`InputError`."""
    try:
        yield
    except (DataError, ModelFileError) as exc:
        raise InputError(str(exc)) from None
    # The estimator's own validation (one class only, too few rows, ...) speaks
    # to the user; its messages need no traceback.
    # So does the system's refusal to write an output (no such folder, no permission).
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(" ".join(str(exc).split())) from None


@contextmanager
def _warnings_as_lines():
    """Show every distinct warning once, as one line on stderr, after the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught):
        click.echo(f"warning: {message}", err=True)


class _ExpertsType(click.ParamType):
    """A number of experts (an integer >= 1) or a selection method's name."""

    name = "K|" + "|".join(SELECTION_METHODS)

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        if value.lower() in SELECTION_METHODS:
            return value.lower()
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            self.fail(f"{value!r} is neither an integer >= 1 nor one of {SELECTION_METHODS}")
        return number


def _split(values) -> list[str] | None:
    """Column names given comma-separated, repeated, or both; None when none given."""
    return _subset(values) or None


def _subset(values) -> list[str] | None:
    """As :func:`_split`, but an option given only as '' is an empty list (none of the columns)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _read(path, *, label, features=None, id_column=None, drop_missing=False, label_required=True):
    """Read and validate DATA, telling the user how many rows were dropped."""
    table = prepare(
        read_table(path, label=label, id_column=id_column),
        label=label,
        features=features,
        id_column=id_column,
        label_required=label_required,
        drop_missing=drop_missing,
        source=str(path),
    )
    if table.n_dropped:
        click.echo(f"Dropped {table.n_dropped} rows with missing values from {path}.", err=True)
    return table


def _data_options(command):
    """DATA and the options that pick its columns (fit and select)."""
    options = [
        click.argument("data", type=click.Path()),
        click.option(
            "--label",
            required=True,
            help="Name of the label column (the classes to predict; any values).",
        ),
        click.option(
            "--features",
            multiple=True,
            metavar="COLS",
            help="Feature columns, comma-separated or repeated (default: every column but the "
            "label and --id). They must be numeric.",
        ),
        click.option(
            "--id", "id_column", metavar="COL", help="An identifier column, not a feature."
        ),
        click.option(
            "--drop-missing",
            is_flag=True,
            help="Drop rows with missing values (and say how many) instead of stopping.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _check_n_jobs(ctx, param, value: int) -> int:
    if value == 0:
        raise click.BadParameter("0 cores: use 1, 2, ..., or -1 for every core")
    return value


_N_JOBS_OPTION = click.option(
    "--n-jobs",
    default=-1,
    show_default=True,
    type=int,
    callback=_check_n_jobs,
    help="Cores for the fit, -1 for every core: the starts are screened here and in the "
    "other cores' worker processes, and large data are shared among that many threads.",
)


def _fit_options(command):
    """The fitting options shared by fit and select."""
    options = [
        click.option(
            "--max-experts",
            default=6,
            show_default=True,
            type=click.IntRange(min=1),
            help="Largest number of experts a selection method considers (DSC: the over-fitted "
            "size).",
        ),
        click.option(
            "--n-init",
            default=20,
            show_default=True,
            type=click.IntRange(min=1),
            help="Random starts per fit (the likelihood has local optima; fewer is faster).",
        ),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the starts."),
        _N_JOBS_OPTION,
        click.option("--quiet", is_flag=True, help="No progress bars."),
        click.option(
            "--gate-features",
            multiple=True,
            help="Feature columns of the gate (comma-separated or repeated; default: every "
            "feature); '' for an intercept only, a mixture with constant weights.",
        ),
        click.option(
            "--expert-features",
            multiple=True,
            help="Feature columns of the experts, as --gate-features; '' for intercept-only "
            "experts.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _scheduler_option(command):
    return click.option(
        "--scheduler",
        metavar="ADDRESS|local:N",
        help="Run on a Dask cluster: the address of a running distributed scheduler, or "
        "local:N for a local cluster of N worker processes started for this command. DATA is "
        "then a folder of Parquet files or a glob of CSV files, read in parts.",
    )(command)


def _refuse_folder(data) -> None:
    if Path(data).is_dir():
        raise DataError(
            f"{data} is a folder: fit and predict read a folder of Parquet files in parts "
            "with --scheduler"
        )


def _output_option(help_text: str, required: bool = True):
    return click.option(
        "-o", "--output", required=required, type=click.Path(dir_okay=False), help=help_text
    )


def _check_identifiable(n_rows, n_features, n_classes, n_experts, model) -> None:
    """Refuse a model with more free parameters than training rows, before fitting it.

    Such a model cannot be identified by the data; its fit also takes long.
    ``n_experts`` is the estimator's or a selection method, ``model`` the
    estimator's settings.
    """
    max_experts = model.max_experts
    largest = max_experts if isinstance(n_experts, str) else n_experts
    q_gate, q_experts = (
        1 + (n_features if subset is None else len(subset))
        for subset in (model.gate_features, model.expert_features)
    )
    dims = Dims(n_features + 1, largest, n_classes)
    n_params = Support(np.arange(dims.q) < q_gate, np.arange(dims.q) < q_experts).n_params(dims)
    if n_params > n_rows:
        # The most experts with K (q_g + q_e (M - 1)) - q_g <= n.
        fits = (n_rows + q_gate) // (q_gate + q_experts * (n_classes - 1))
        option = "--max-experts" if isinstance(n_experts, str) else "--n-experts"
        raise DataError(
            f"{option} {largest} means {n_params:,} parameters ({n_features} features, "
            f"{n_classes} classes) for {n_rows:,} rows, which cannot identify them: "
            + (f"use at most {fits} experts" if fits >= 1 else "use more rows or fewer features")
        )


def _estimator(n_experts, fit_options: dict) -> MoEClassifier:
    """The estimator of ``fit`` and ``select`` from the options of :func:`_fit_options`."""
    return MoEClassifier(
        n_experts,
        gate_features=_subset(fit_options["gate_features"]),
        expert_features=_subset(fit_options["expert_features"]),
        max_experts=fit_options["max_experts"],
        n_init=fit_options["n_init"],
        random_state=fit_options["seed"],
        n_jobs=fit_options["n_jobs"],
        verbose=0 if fit_options["quiet"] else 1,
    )


def _echo_selection(selection) -> None:
    import textwrap

    from .report import selection_notes, selection_table

    table = selection_table(selection)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    for note in selection_notes(selection):
        click.echo(textwrap.fill(note, width=88, break_on_hyphens=False))


@main.command()
@_data_options
@click.option(
    "--n-experts",
    default="2",
    show_default=True,
    type=_ExpertsType(),
    help="Number of experts K, or a method that chooses it among 1..--max-experts: dsc (one "
    "over-fitted fit and its dendrogram), aic, bic or icl (a fit per size).",
)
@_fit_options
@_output_option("Model file to write (a zip of JSON and NumPy arrays; .zip is customary).")
@_scheduler_option
def fit(data, label, features, id_column, drop_missing, n_experts, output, scheduler, **options):
    """Fit a mixture of experts to DATA (CSV, TSV or Parquet) and save it to a model file.

    Every column but --label and --id is a feature unless --features says
    otherwise. The model file records the feature names, the label column and
    a summary of the data, for predict and report. With --scheduler, DATA is
    a folder of Parquet files or a glob of CSV files, fitted chunk by chunk
    on a Dask cluster.
    """
    from .io import save_model

    model = _estimator(n_experts, options)
    if scheduler is not None:
        columns = (label, _split(features), id_column, drop_missing)
        return _fit_on_cluster(data, columns, model, output, scheduler)
    with _user_errors():
        check_output(output)
        _refuse_folder(data)
        table = _read(
            data,
            label=label,
            features=_split(features),
            id_column=id_column,
            drop_missing=drop_missing,
        )
        _check_identifiable(
            table.X.shape[0], table.X.shape[1], pd.unique(table.y).size, n_experts, model
        )
        with _warnings_as_lines():
            model.fit(table.X, table.y)
        summary = summarize(table, source=str(data), label=label)
        save_model(model, output, label=label, data_summary=summary)
    _echo_fit(model, table.X, table.y, table.X.shape[0], output)


def _echo_fit(model, X, y, n_rows, output) -> None:
    if hasattr(model, "selection_"):
        _echo_selection(model.selection_)
    state = "converged" if model.converged_ else "NOT converged"
    click.echo(
        f"Fitted {model.n_experts_} experts to {n_rows} rows, {model.n_features_in_} "
        f"features, {model.classes_.size} classes: {model.n_iter_} iterations ({state}), "
        f"train accuracy {model.score(X, y):.4f}, "
        f"train mean log-likelihood {model.loglik(X, y):.5f}."
    )
    click.echo(f"Saved the model to {output}.")


def _parts(data, label, features, id_column, drop_missing, *, label_required=True):
    """DATA as a Dask DataFrame of the chosen columns; rows with missing values dropped if asked."""
    from .cluster import features_of, read_parts

    frame = read_parts(data, label=label if label_required else None, id_column=id_column)
    if label_required and label not in frame.columns:
        raise DataError(f"{data} has no label column {label!r}")
    columns = features_of(frame, label=label, id_column=id_column, features=features)
    kept = columns + ([label] if label_required else []) + ([id_column] if id_column else [])
    frame = frame[kept]
    if drop_missing:
        before = frame.shape[0].compute()
        frame = frame.dropna(subset=columns + ([label] if label_required else []))
        dropped = before - frame.shape[0].compute()
        if dropped:
            click.echo(f"Dropped {dropped} rows with missing values from {data}.", err=True)
    elif label_required:
        unlabelled = int(frame[label].isna().sum().compute())
        if unlabelled:
            raise DataError(
                f"{unlabelled} rows of {data} have no label in {label!r}; --drop-missing "
                "drops rows with missing values"
            )
    return frame, columns


def _fit_on_cluster(data, options, model, output, spec) -> None:
    """``fit --scheduler``: the same fit, chunk by chunk on a Dask cluster."""
    from .cluster import scheduler, summarize_parts
    from .io import save_model

    label, features, id_column, drop_missing = options
    with _user_errors():
        check_output(output)
        with scheduler(spec) as client:
            frame, columns = _parts(data, label, features, id_column, drop_missing)
            summary = summarize_parts(frame, columns, source=str(data), label=label)
            _check_identifiable(
                summary["n_rows"], len(columns), len(summary["class_counts"]),
                model.n_experts, model,
            )  # fmt: skip
            # Held by the workers: every iteration of the fit reads the rows again.
            X, y = client.persist([frame[columns], frame[label]])
            with _warnings_as_lines():
                model.fit(X, y)
            save_model(model, output, label=label, data_summary=summary)
            _echo_fit(model, X, y, summary["n_rows"], output)


def _model_rows(
    model, metadata, data, *, label, label_required, id_column=None, drop_missing=False
):
    """Read DATA for a saved model: its feature columns by name, labels checked against it."""
    names = getattr(model, "feature_names_in_", None)
    label = label or metadata.get("label")
    if label_required and label is None:
        raise DataError("the model file records no label column: name it with --label")
    table = _read(
        data,
        label=label,
        features=None if names is None else list(names),
        id_column=id_column,
        drop_missing=drop_missing,
        label_required=label_required,
    )
    if names is None and table.X.shape[1] != model.n_features_in_:
        raise DataError(
            f"{data} has {table.X.shape[1]} feature columns, the model expects "
            f"{model.n_features_in_} (it records no feature names)"
        )
    if table.y is not None:
        table.y = as_model_classes(table.y, model.classes_, str(data))
    return table


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="File for the predictions (CSV, TSV or Parquet, by suffix); with --scheduler a "
    "folder of Parquet parts.",
)
@click.option("--id", "id_column", metavar="COL", help="Copy this column of DATA to the output.")
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Drop rows with missing feature values (and say how many) instead of stopping.",
)
@click.option(
    "--class-prior",
    metavar="C=P,...",
    help="Correct the probabilities to these class frequencies (every class of the model, "
    "positive, summing to 1), e.g. a=0.1,b=0.9: for data whose classes occur with other "
    "frequencies than in training.",
)
@_scheduler_option
def predict(model_path, data, output, id_column, drop_missing, class_prior, scheduler):
    """Predict the rows of DATA with a saved MODEL.

    The output has one column proba_<class> per class, with p(class | x), and
    the column predicted, the most probable class (after the --id column if
    given). Features are taken from DATA by the names recorded in the model.
    If DATA has the model's label column, its labels must be classes the model
    knows. With --class-prior the probabilities are corrected from the
    training data's class frequencies to the ones given (Bayes' rule).
    With --scheduler, DATA is a folder of Parquet files or a glob of CSV
    files, predicted part by part on a Dask cluster into the folder OUTPUT.
    """
    from .io import load_model

    with _user_errors():
        if scheduler is None:
            check_output(output, table=True)
            _refuse_folder(data)
        else:
            check_output_folder(output)
        model, metadata = load_model(model_path, return_metadata=True)
        prior = None if class_prior is None else _class_prior(class_prior, model.classes_)
        if scheduler is not None:
            n_rows = _predict_on_cluster(model, data, output, id_column, drop_missing, prior, scheduler)
    if scheduler is not None:
        return _echo_predicted(model, n_rows, output, prior)
    with _user_errors():
        table = _model_rows(
            model,
            metadata,
            data,
            label=None,
            label_required=False,
            id_column=id_column,
            drop_missing=drop_missing,
        )
        proba = model.predict_proba(table.X, class_prior=prior)
        out = pd.DataFrame(proba, columns=[f"proba_{c}" for c in model.classes_])
        out["predicted"] = model.classes_[np.argmax(proba, axis=1)]
        if table.ids is not None:
            out.insert(0, id_column, table.ids)
        write_table(out, output)
    _echo_predicted(model, len(out), output, prior)


def _predict_on_cluster(model, data, output, id_column, drop_missing, prior, spec) -> int:
    """``predict --scheduler``: probabilities part by part, written as a folder of Parquet parts."""
    from .cluster import scheduler, write_parts
    from .dask_data import frame_to_array

    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise DataError("the model records no feature names: --scheduler reads features by name")
    with scheduler(spec):
        frame, columns = _parts(
            data, None, list(names), id_column, drop_missing, label_required=False
        )
        X = frame_to_array(frame[columns])  # one pass for the parts' lengths
        proba = model.predict_proba(X, class_prior=prior)
        classes = model.classes_
        predicted = proba.map_blocks(
            lambda block: classes[np.argmax(block, axis=1)], drop_axis=1, dtype=classes.dtype
        )
        out = proba.to_dask_dataframe(columns=[f"proba_{c}" for c in classes])
        out["predicted"] = predicted.to_dask_dataframe()
        if id_column is not None:
            ids = frame_to_array(frame[id_column], lengths=list(X.chunks[0]))
            out[id_column] = ids.to_dask_dataframe()
            out = out[[id_column, *out.columns[:-1]]]
        return write_parts(out, output)


def _echo_predicted(model, n_rows, output, prior) -> None:
    click.echo(f"Wrote predictions for {n_rows} rows to {output}.")
    if prior is not None:
        shares = ", ".join(f"{c}={v:.4g}" for c, v in zip(model.classes_, model.class_prior_))
        click.echo(f"Probabilities corrected from the training class prior ({shares}).")


def _prevalence(text):
    """``--prevalence``: None, "auto" or a number in (0, 1)."""
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 < value < 1.0:
        raise DataError(
            f"--prevalence must be a number between 0 and 1 (exclusive) or auto, got {text!r}"
        )
    return value


def _class_prior(text: str, classes) -> dict:
    """``--class-prior a=0.1,b=0.9`` as ``{class: prior}``, labels matched by their text."""
    by_text = {str(label): label for label in classes.tolist()}
    prior = {}
    for item in text.split(","):
        name, equals, value = item.strip().rpartition("=")
        if not equals or not name:
            raise DataError(
                f"--class-prior: expected class=prior items separated by commas, got {item!r}"
            )
        if name not in by_text:
            raise DataError(
                f"--class-prior names {name!r}, not a class of the model; its classes are "
                + ", ".join(by_text)
            )
        if by_text[name] in prior:
            raise DataError(f"--class-prior gives class {name!r} twice")
        try:
            prior[by_text[name]] = float(value)
        except ValueError:
            raise DataError(f"--class-prior: {value!r} (class {name!r}) is not a number") from None
    return prior


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--label", help="Name of the label column (default: the one MODEL records).")
@click.option(
    "--robust",
    is_flag=True,
    help="Sandwich (robust) standard errors, for a model that may be misspecified.",
)
@click.option(
    "--level",
    default=0.95,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="Confidence level of the intervals.",
)
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Drop rows with missing values (and say how many) instead of stopping.",
)
@_output_option("Also write the table here (CSV, TSV or Parquet, by suffix).", required=False)
def summary(model_path, data, label, robust, level, drop_missing, output):
    """Coefficients of a saved MODEL with standard errors, z, p-values and intervals.

    DATA must be the data MODEL was fitted on: the standard errors come from
    the likelihood's curvature there. Coefficients are on the features'
    own scale, as differences from the reference expert (the last) and the
    reference class (the last).
    """
    from .io import load_model

    with _user_errors():
        if output is not None:
            check_output(output, table=True)
        model, metadata = load_model(model_path, return_metadata=True)
        table = _model_rows(
            model, metadata, data, label=label, label_required=True, drop_missing=drop_missing
        )
        with _warnings_as_lines():
            result = model.summary(table.X, table.y, level=level, robust=robust)
        if output is not None:
            write_table(result.table.reset_index(), output)
    click.echo(str(result))
    if output is not None:
        click.echo(f"Wrote the coefficient table to {output}.")


@main.command()
@_data_options
@_fit_options
@click.option(
    "--method",
    default="dsc",
    show_default=True,
    type=click.Choice(SELECTION_METHODS),
    help="dsc: one over-fitted fit and its dendrogram; aic, bic, icl: a fit per size.",
)
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for criterion.png and (dsc) dendrogram.png.",
)
def select(data, label, features, id_column, drop_missing, method, out_dir, **options):
    """Choose the number of experts for DATA among 1..--max-experts and show the evidence.

    Prints, for every number of experts, the training mean log-likelihood,
    the height h(k) (dsc) and the criterion (lowest wins), and writes the
    criterion curve and, for dsc, the dendrogram of the over-fitted model.
    """
    from .report import write_selection_figures
    from .selection import select_n_experts

    with _user_errors():
        check_output_folder(out_dir)
        table = _read(
            data,
            label=label,
            features=_split(features),
            id_column=id_column,
            drop_missing=drop_missing,
        )
        template = _estimator(1, options)
        _check_identifiable(
            table.X.shape[0], table.X.shape[1], pd.unique(table.y).size, method, template
        )
        with _warnings_as_lines():
            result = select_n_experts(
                table.X, table.y, template.max_experts, method, estimator=template
            )
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        written = write_selection_figures(result, out_dir)
    _echo_selection(result)
    click.echo(f"{method.upper()} chose {result.n_experts_} experts.")
    click.echo(f"Wrote {' and '.join(map(str, written))}.")


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Held-out data with the label column: adds accuracy, log loss, Brier score and a "
    "reliability diagram.",
)
@click.option(
    "--train",
    type=click.Path(dir_okay=False),
    help="The data the model was fitted on: adds the coefficients' standard errors, z, "
    "p-values and intervals.",
)
@click.option(
    "--label", help="Label column of --data and --train (default: the one the model records)."
)
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Drop rows of --data and --train with missing values (and say how many) instead of "
    "stopping.",
)
@_output_option("HTML file to write (default: MODEL with the suffix .html).", required=False)
def report(model_path, data, train, label, drop_missing, output):
    """Write a self-contained HTML report on a saved MODEL.

    The report shows the training data summary, the objective trace, the
    selection evidence (criterion curve, dendrogram) when the number of
    experts was chosen, and the gate and expert coefficients; with --train,
    their standard errors; with --data, also held-out accuracy, log loss,
    Brier score and a reliability diagram.
    """
    from .io import load_model
    from .report import write_report

    output = output or str(Path(model_path).with_suffix(".html"))
    with _user_errors():
        check_output(output)
        model, metadata = load_model(model_path, return_metadata=True)
        label = label or metadata.get("label")
        options = {}
        if data is not None:
            table = _model_rows(
                model, metadata, data, label=label, label_required=True, drop_missing=drop_missing
            )
            options |= {
                "X_test": table.X,
                "y_test": table.y,
                "test_summary": summarize(table, source=str(data), label=label),
            }
        if train is not None:
            table = _model_rows(
                model, metadata, train, label=label, label_required=True, drop_missing=drop_missing
            )
            options |= {"X_train": table.X, "y_train": table.y}
        with _warnings_as_lines():
            write_report(output, model, metadata=metadata, **options)
    click.echo(f"Wrote the report to {output}.")


@main.group()
def ppi():
    """Protein-protein interactions: train on labelled pairs, score candidate pairs."""


def _ppi_option(flag: str, key: str, kind, help: str):
    """A ``ppi fit`` option whose default, shown in the help, is ``PPI_DEFAULTS[key]``."""
    return click.option(flag, default=PPI_DEFAULTS[key], show_default=True, type=kind, help=help)


@ppi.command("fit")
@click.argument("pairs", type=click.Path(dir_okay=False))
@click.argument("sequences", type=click.Path(dir_okay=False))
@click.option(
    "--n-experts",
    default="dsc",
    show_default=True,
    type=_ExpertsType(),
    help="Number of experts, or the method that chooses it among 1..--max-experts.",
)
@_ppi_option(
    "--max-experts",
    "max_experts",
    click.IntRange(min=1),
    "The DSC's over-fitted size (the largest number of experts considered).",
)
@click.option(
    "--descriptors",
    default=",".join(PPI_DEFAULTS["descriptors"]),
    show_default=True,
    help="Per-protein sequence descriptors, comma-separated, from: "
    + ", ".join(DESCRIPTORS)
    + " (amino-acid and dipeptide composition, conjoint triads, Guo's auto-covariance, "
    "Moran autocorrelation, UniRep's mean hidden state of width 64 or 256). For proteins "
    "absent from the training pairs unirep256 ranked pairs better (docs/ppi.md); the UniRep "
    'sets need pip install "moelogit[unirep]".',
)
@_ppi_option(
    "--alpha",
    "alpha",
    click.FloatRange(min=0),
    "Ridge penalty of the mixture (strong: with the default descriptors it sees 1,146 "
    "pair features).",
)
@_ppi_option("--max-iter", "max_iter", click.IntRange(min=1), "Iteration cap of every fit.")
@_ppi_option(
    "--tol", "tol", click.FloatRange(min=0), "Relative change of the objective that ends a fit."
)
@_ppi_option("--n-init", "n_init", click.IntRange(min=1), "Starts per fit.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the starts.")
@click.option(
    "--keep-self-pairs",
    is_flag=True,
    help="Keep pairs of a protein with itself (removed and counted by default).",
)
@_N_JOBS_OPTION
@click.option("--quiet", is_flag=True, help="No progress bars.")
@_output_option("Model file to write (a zip of JSON and NumPy arrays).")
def ppi_fit(
    pairs,
    sequences,
    n_experts,
    max_experts,
    descriptors,
    alpha,
    max_iter,
    tol,
    n_init,
    seed,
    keep_self_pairs,
    n_jobs,
    quiet,
    output,
):
    """Train an interaction model on labelled PAIRS and the proteins' SEQUENCES.

    PAIRS: a<TAB>b<TAB>label lines (labels 0/1 or 0.0/1.0; the first line
    is a header if its label is not a number and neither id has a sequence).
    SEQUENCES: id<TAB>sequence lines, or FASTA (the id is the first word of the
    header). Repeated pairs (in either order) are removed and counted. The
    model: the --descriptors of both proteins side by side (1,146 features with
    the default amino-acid composition, conjoint triads and auto-covariance),
    standardised, and a mixture of experts on all of them, trained on both
    orders of every pair.
    """
    from .datasets.ppi import load_ppi
    from .io import save_ppi_model
    from .metrics import binary_metrics
    from .ppi import PPIPredictor

    names = list(dict.fromkeys(_split([descriptors]) or []))  # repeats dropped
    unknown = sorted(set(names) - set(DESCRIPTORS))
    if unknown or not names:
        problem = f"unknown descriptors {unknown}" if unknown else "no descriptors given"
        raise click.BadParameter(
            f"{problem}; choose from {list(DESCRIPTORS)}", param_hint="--descriptors"
        )
    try:
        check_installed(names)
    except ImportError as exc:
        raise click.BadParameter(str(exc), param_hint="--descriptors") from None
    with _user_errors():
        check_output(output)
        data = load_ppi(pairs=pairs, sequences=sequences, keep_self_pairs=keep_self_pairs)
        model = PPIPredictor(
            descriptors=tuple(names),
            n_experts=n_experts,
            max_experts=max_experts,
            alpha=alpha,
            max_iter=max_iter,
            tol=tol,
            n_init=n_init,
            random_state=seed,
            n_jobs=n_jobs,
            verbose=0 if quiet else 1,
        )
        with _warnings_as_lines():
            model.fit(data.pairs, data.labels, data.sequences)
        save_ppi_model(model, output, data_report=data.report)
    train = binary_metrics(data.labels, model.predict_proba(data.pairs, data.sequences))
    report = data.report
    if report["header"]:
        click.echo(f"Read line 1 of {pairs} as a header (not a labelled pair).", err=True)
    click.echo(
        f"Read {report['pairs']} pairs ({report['positives']} interacting) of "
        f"{report['proteins']} proteins; removed {report['duplicates_removed']} repeated pairs "
        f"and {report['self_pairs_removed']} self-pairs."
    )
    click.echo(
        f"Fitted {model.n_experts_} experts on {len(model.feature_names_)} pair features: "
        f"train accuracy "
        f"{train['accuracy']:.4f}, log loss {train['log_loss']:.4f}."
    )
    click.echo(f"Saved the model to {output}.")


@ppi.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("pairs", type=click.Path(dir_okay=False))
@click.argument("sequences", type=click.Path(dir_okay=False))
@_output_option("File for the probabilities (CSV, TSV or Parquet, by suffix).")
@click.option(
    "--prevalence",
    metavar="P|auto",
    help="Correct the probabilities from the training share of interacting pairs (0.5 for a "
    "balanced benchmark) to P in (0, 1), the share expected among the candidates (real "
    "screens: 0.01-0.1); auto estimates it from the candidates' scores (EM of Saerens et al. "
    "2002, with a bootstrap 95% interval).",
)
@click.option(
    "--threshold",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Probability from which a pair counts as predicted to interact (column predicted, "
    "and the count in the summary).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ppi_predict(model_path, pairs, sequences, output, prevalence, threshold, quiet):
    """Score candidate PAIRS (a<TAB>b per line) with a MODEL from 'moelogit ppi fit'.

    SEQUENCES (TSV or FASTA) must hold every protein PAIRS names; they need
    not be proteins seen in training. The output has the columns protein_a,
    protein_b, probability (of interaction; the same for a-b and b-a; at the
    --prevalence if given), rank (1 for the most probable pair; tied pairs
    share the best rank), predicted (1 when the probability is at least
    --threshold) and proteins_in_training (0, 1 or 2: how many of the pair's
    proteins the training pairs named, by id; in the PPI experiment mean
    held-out accuracy was 0.65-0.81 in pair-level folds, mostly of seen
    proteins, and 0.56-0.58 on unseen ones, docs/ppi.md). If PAIRS has a
    third column of 0/1 labels, they are kept as the column label and the
    command reports accuracy, log loss and (with both classes) ROC-AUC on
    them.
    """
    from .datasets.ppi import read_candidate_pairs
    from .io import load_ppi_model
    from .metrics import binary_metrics

    estimate = None
    with _user_errors():
        check_output(output, table=True)
        prevalence = _prevalence(prevalence)
        model = load_ppi_model(model_path)
        try:
            check_installed(model.descriptors)
        except ImportError as exc:
            raise click.ClickException(
                f"{model_path} uses {list(model.descriptors)}: {exc}"
            ) from None
        model.set_params(verbose=0 if quiet else 1)
        pair_ids, labels, used, header = read_candidate_pairs(pairs, sequences)
        proba = model.predict_proba(pair_ids, used)
        if prevalence == "auto":
            estimate = model.estimate_prevalence(proba, n_boot=200, random_state=0)
            prevalence = float(estimate.prior[1])
        if prevalence is not None:
            proba = model.adjust_proba(proba, prevalence)
        out = pd.DataFrame(
            {
                "protein_a": pair_ids[:, 0],
                "protein_b": pair_ids[:, 1],
                "probability": proba,
                "rank": pd.Series(proba).rank(ascending=False, method="min").astype(int),
                "predicted": (proba >= threshold).astype(int),
            }
        )
        seen = None
        if hasattr(model, "training_proteins_"):
            seen = out["proteins_in_training"] = model.proteins_in_training(pair_ids)
        if labels is not None:
            out["label"] = labels
        write_table(out, output)
    if header:
        click.echo(f"Read line 1 of {pairs} as a header (not a pair of proteins).", err=True)
    click.echo(f"Wrote interaction probabilities for {len(out)} pairs to {output}.")
    if estimate is not None:
        click.echo(
            f"Estimated prevalence of interacting pairs among the candidates (EM, Saerens et "
            f"al. 2002): {estimate.prior[1]:.4g} (bootstrap 95% interval {estimate.low[1]:.4g}"
            f"-{estimate.high[1]:.4g}, {estimate.n_boot} replicates)"
            + ("" if estimate.converged else ", not converged in 1000 iterations")
            + "."
        )
    if prevalence is not None:
        click.echo(
            f"Probabilities corrected from the training prevalence "
            f"{model.training_prevalence_:.4g} to {prevalence:.4g}."
        )
    click.echo(
        f"{int(out['predicted'].sum())} of {len(out)} candidates have a probability of at "
        f"least {threshold:g}."
    )
    if seen is None:
        click.echo(
            f"{model_path} does not record its training proteins (written by an older "
            "moelogit): refit it for the column proteins_in_training.",
            err=True,
        )
    else:
        counts = np.bincount(seen, minlength=3)
        line = (
            f"Pairs whose proteins the training pairs named: both {counts[2]}, one "
            f"{counts[1]}, neither {counts[0]}."
        )
        if counts[0]:
            line += " (On unseen proteins held-out accuracy was 0.56-0.58 in the PPI experiment.)"
        click.echo(line)
    if labels is not None:
        metrics = binary_metrics(labels, proba)  # ROC-AUC NaN: the labels hold one class
        scores = f"accuracy {metrics['accuracy']:.4f}, log loss {metrics['log_loss']:.4f}"
        if np.isnan(metrics["roc_auc"]):
            scores += " (no ROC-AUC: the labels hold one class)"
        else:
            scores += f", ROC-AUC {metrics['roc_auc']:.4f}"
        click.echo(f"On the labels in {pairs}: {scores}.")


if __name__ == "__main__":  # pragma: no cover
    main()
