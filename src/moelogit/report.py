"""A self-contained HTML report on a fitted model.

One file, figures embedded as base64 PNG, no scripts and no external
resources, so it opens anywhere and can be mailed or archived as is. It
holds the data summary, the objective trace, the selection evidence (DSC
dendrogram and criterion curve) when the number of experts was chosen, the
gate and expert coefficients with feature names and, given held-out data,
accuracy, log loss, Brier score and a reliability diagram.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve

from . import __version__
from ._tabular import atomic_path
from .metrics import brier_score, classification_scores
from .plotting import plot_criterion, plot_dendrogram

__all__ = [
    "brier_score",  # moelogit.metrics.brier_score, kept here for older code
    "build_report",
    "evaluate",
    "selection_notes",
    "selection_table",
    "write_report",
    "write_selection_figures",
]

_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
"""


def evaluate(model, X, y) -> dict:
    """Accuracy, log loss (natural log, per row) and Brier score of ``model`` on ``(X, y)``.

    Every label of ``y`` must be one of ``model.classes_``. The scores are
    :func:`moelogit.metrics.classification_scores` of ``model``'s predicted
    probabilities.
    """
    return classification_scores(y, model.predict_proba(X), model.classes_)


def _render(draw, target) -> None:
    """Save as PNG to ``target`` (a path or a file object) the figure ``draw(ax)`` draws."""
    # Figure, not pyplot: no global state and no display backend needed.
    fig = Figure(figsize=(6, 3.8))
    draw(fig.subplots())
    fig.savefig(target, format="png", dpi=100, bbox_inches="tight")


def _figure(draw, alt: str) -> str:
    """An ``<img>`` embedding the figure that ``draw(ax)`` draws on a fresh axes."""
    buffer = io.BytesIO()
    _render(draw, buffer)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame, index=True) -> str:
    if index and frame.index.name is not None:
        # A named index would get a header row of its own, empty but for the name.
        frame, index = frame.reset_index(), False
    return frame.to_html(index=index, float_format=lambda v: f"{v:.4g}", border=0)


def _facts(facts: dict) -> str:
    """A two-column table of names and values."""
    return pd.Series(facts).to_frame().to_html(header=False, border=0)


def _draw_trace(trace):
    def draw(ax):
        ax.plot(np.arange(1, trace.size + 1), trace, color="C0")
        ax.set_xlabel("iteration")
        ax.set_ylabel("objective (mean log-likelihood - penalty)")
        ax.set_title("Objective of the retained start")

    return draw


def _draw_reliability(model, X, y):
    proba = model.predict_proba(X)

    def draw(ax):
        ax.plot([0, 1], [0, 1], color="grey", ls=":", label="perfectly calibrated")
        for m, label in enumerate(model.classes_):
            observed, predicted = calibration_curve(
                (np.asarray(y) == label).astype(int), proba[:, m], n_bins=10
            )
            ax.plot(predicted, observed, marker="o", label=f"class {label}")
        ax.set_xlabel("predicted probability (10 equal-width bins)")
        ax.set_ylabel("observed frequency")
        ax.set_title("Reliability diagram (one class against the rest)")
        ax.legend(frameon=False, fontsize="small")

    return draw


def _section(title: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n" + "\n".join(parts)


def _p(text: str, cls: str | None = None) -> str:
    attribute = f' class="{cls}"' if cls else ""
    return f"<p{attribute}>{html.escape(text)}</p>"


def _model_section(model, metadata) -> str:
    facts = {
        "experts": model.n_experts_,
        "classes": ", ".join(map(str, model.classes_)),
        "features": model.n_features_in_,
        "iterations (retained start)": model.n_iter_,
        "converged": bool(model.converged_),
        "final objective": f"{model.objective_:.6f}" if hasattr(model, "objective_") else "",
        "fit time (s)": f"{model.fit_time_:.2f}" if hasattr(model, "fit_time_") else "",
        "settings": ", ".join(  # verbose is how a fit talked, not what it fitted
            f"{k}={v!r}" for k, v in model.get_params(deep=False).items() if k != "verbose"
        ),
    }
    if metadata.get("label"):
        facts["label column"] = metadata["label"]
    return _section("Model", _facts(facts))


def _data_section(title: str, summary: dict | None) -> str:
    if summary is None:
        return _section(title, _p("No summary of these data was recorded with the model."))
    dropped = summary.get("n_dropped", 0)
    text = f"{summary['n_rows']} rows from {summary.get('source', '?')}"
    text += f" ({dropped} rows with missing values dropped)." if dropped else "."
    parts = [_p(text)]
    if "class_counts" in summary:
        counts = pd.Series(summary["class_counts"], name="rows")
        parts.append(_table(counts.rename_axis("class").to_frame()))
    features = pd.DataFrame(summary["features"]).set_index("name")
    parts.append(_table(features.rename_axis("feature")))
    return _section(title, *parts)


def selection_table(selection) -> pd.DataFrame:
    """The evidence of a :class:`~moelogit.SelectionResult`, one row per number of experts.

    :func:`selection_notes` says what its columns are where that is not plain.
    """
    columns = {"experts": selection.sizes_, "mean log-likelihood": selection.loglik_}
    if selection.heights_ is not None:
        columns["height h(k)"] = selection.heights_
    columns[f"{selection.method.upper()} criterion"] = selection.criterion_
    frame = pd.DataFrame(columns)
    frame["selected"] = np.where(frame["experts"] == selection.n_experts_, "<--", "")
    return frame


def selection_notes(selection) -> list[str]:
    """What a reader of :func:`selection_table` and the dendrogram needs to know, in sentences."""
    notes = []
    if selection.heights_ is not None:
        if selection.path_ == "tree":
            notes.append(
                "h(k): the height of the dendrogram's merge that leaves k experts (the figure "
                "draws the running maximum where merges are not in increasing order)."
            )
        else:
            notes.append(
                "h(k): the dissimilarity of the two closest experts of the k-expert fit on the "
                "DSC path, each size refitted from merges of the next. The dendrogram draws "
                "the merges of the over-fitted fit alone, so below its top level its heights "
                "are not the h(k)."
            )
    best = selection.models_[selection.n_experts_ - 1]
    if not all(
        np.array_equal(getattr(best.params_, name), getattr(selection.model_.params_, name))
        for name in ("gate_coef", "gate_intercept", "expert_coef", "expert_intercept")
    ):
        notes.append(
            "The log-likelihoods are those of the path's fits (a light ridge and a looser "
            "tolerance); the selected size was then refitted from its path fit with the "
            "model's own settings, so the final model's log-likelihood differs from the table's."
        )
    return notes


def _selection_figures(selection) -> dict:
    """Name and drawing function of every figure of the selection evidence."""
    figures = {"criterion": lambda ax: plot_criterion(selection, ax=ax)}
    if selection.linkage_ is not None:
        figures["dendrogram"] = lambda ax: plot_dendrogram(selection, ax=ax)
    return figures


def write_selection_figures(selection, folder) -> list[Path]:
    """Write ``criterion.png`` and, for DSC, ``dendrogram.png`` to ``folder``, atomically.

    Returns
    -------
    list of Path
        The files written.
    """
    written = []
    for name, draw in _selection_figures(selection).items():
        path = Path(folder) / f"{name}.png"
        with atomic_path(path) as temporary:
            _render(draw, temporary)
        written.append(path)
    return written


def _selection_section(selection) -> str:
    parts = [
        _p(
            f"{selection.method.upper()} chose {selection.n_experts_} experts (lowest criterion; ties go to fewer experts)."
        ),
        _table(selection_table(selection), index=False),
        *(_p(note, "note") for note in selection_notes(selection)),
    ]
    parts += [_figure(draw, name) for name, draw in _selection_figures(selection).items()]
    return _section("Number of experts", *parts)


def _coefficient_section(model, feature_names) -> str:
    params = model.params_
    # Only the features each part uses (those of gate_features / expert_features that vary).
    everything = np.ones(params.n_features, dtype=bool)
    gate_used, experts_used = (
        everything if support is None else support
        for support in (model.gate_support_, model.expert_support_)
    )
    names = np.asarray(feature_names, dtype=object)
    gate = pd.DataFrame(params.gate_coef[:, gate_used], columns=names[gate_used])
    gate.insert(0, "intercept", params.gate_intercept)
    gate.index = [f"expert {k + 1}" for k in range(params.n_experts)]
    parts = [
        _p(
            "Gate: logits are intercept + sum of coefficient x feature, on the features' own "
            "scale; experts are ordered by decreasing mean gate weight on the training data, and "
            "the last expert is the reference (zero row).",
            "note",
        ),
        _table(gate.rename_axis("gate")),
    ]
    if not (gate_used.all() and experts_used.all()):
        parts.insert(0, _p(
            f"The gate uses {gate_used.sum()} of the {params.n_features} features and the "
            f"experts {experts_used.sum()}; the slopes of the others are zero by design and "
            "not shown.",
            "note",
        ))  # fmt: skip
    for k in range(params.n_experts):
        expert = pd.DataFrame(params.expert_coef[k][:, experts_used], columns=names[experts_used])
        expert.insert(0, "intercept", params.expert_intercept[k])
        expert.index = [f"class {c}" for c in model.classes_]
        parts.append(f"<h3>Expert {k + 1}</h3>")
        parts.append(_table(expert.rename_axis("class logit")))
    parts.append(_p("In every expert the last class is the reference (zero row).", "note"))
    return _section("Coefficients", *parts)


def _inference_section(model, X_train, y_train) -> str:
    """Standard errors, z, p-values and 95% intervals on the training data, or why not."""
    try:
        summary = model.summary(X_train, y_train)
    except ValueError as exc:  # the information is not definite, or other data
        return _section("Standard errors", _p(f"Not available: {exc}.", "note"))
    return _section(
        "Standard errors",
        _p(
            "From the observed information on the training data (the inverse of minus the "
            "log-likelihood's Hessian). Rows are the identifiable parameters: gate logits "
            "against the reference expert, class logits against the reference class; "
            "moelogit summary --robust gives sandwich errors.",
            "note",
        ),
        _table(summary.table.reset_index()),
    )


def _evaluation_section(model, X, y, summary) -> str:
    scores = evaluate(model, X, y)
    facts = {
        "rows": scores["n_rows"],
        "accuracy": f"{scores['accuracy']:.4f}",
        "log loss (nats per row)": f"{scores['log_loss']:.4f}",
        "Brier score": f"{scores['brier']:.4f}",
    }
    parts = [
        _facts(facts),
        _p(
            "Brier score: mean over rows of the sum over classes of (p(class) - 1[label = "
            "class])^2; 0 is perfect, 2 the worst. Log loss: minus the mean log-probability "
            "of the observed label.",
            "note",
        ),
        _figure(_draw_reliability(model, X, y), "reliability diagram"),
    ]
    if summary is not None:
        parts.insert(0, _p(f"{scores['n_rows']} rows from {summary.get('source', '?')}."))
    return _section("Held-out evaluation", *parts)


def build_report(
    model,
    *,
    metadata: dict | None = None,
    X_test=None,
    y_test=None,
    test_summary: dict | None = None,
    X_train=None,
    y_train=None,
    title: str = "moelogit model report",
) -> str:
    """The HTML of the report on a fitted :class:`~moelogit.MoEClassifier`.

    Parameters
    ----------
    model : MoEClassifier
        A fitted model, for example from :func:`moelogit.io.load_model`.
    metadata : dict, optional
        The model file's metadata (``load_model(path, return_metadata=True)``):
        its ``data_summary`` (training data) and ``label`` are shown.
    X_test, y_test : array-like, optional
        Held-out data, with labels among ``model.classes_``; both or neither.
    test_summary : dict, optional
        A summary of the held-out data (its source is named in the report).
    X_train, y_train : array-like, optional
        The training data, both or neither: adds the coefficients' standard
        errors (:meth:`~moelogit.MoEClassifier.summary`).
    title : str

    Returns
    -------
    str

    Examples
    --------
    >>> from moelogit import MoEClassifier
    >>> from moelogit.datasets import make_moe_classification
    >>> X, y, _ = make_moe_classification(400, n_features=2, n_experts=2, random_state=0)
    >>> model = MoEClassifier(2, n_init=2, random_state=0).fit(X[:300], y[:300])
    >>> page = build_report(model, X_test=X[300:], y_test=y[300:])
    >>> page.startswith("<!DOCTYPE html>"), "Brier score" in page
    (True, True)
    """
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    if (X_train is None) != (y_train is None):
        raise ValueError("give both X_train and y_train, or neither")
    metadata = metadata or {}
    names = getattr(model, "feature_names_in_", None)
    feature_names = (
        [str(v) for v in names]
        if names is not None
        else [f"x{j + 1}" for j in range(model.n_features_in_)]
    )
    sections = [
        _model_section(model, metadata),
        _data_section("Training data", metadata.get("data_summary")),
    ]
    if model.loglik_trace_.size:
        sections.append(
            _section(
                "Objective trace",
                _p("The MM algorithm never lowers the objective: the curve only rises."),
                _figure(_draw_trace(model.loglik_trace_), "objective trace"),
            )
        )
    selection = getattr(model, "selection_", None)
    if selection is not None:
        sections.append(_selection_section(selection))
    sections.append(_coefficient_section(model, feature_names))
    if X_train is not None:
        sections.append(_inference_section(model, X_train, y_train))
    if X_test is not None:
        sections.append(_evaluation_section(model, X_test, y_test, test_summary))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f"{_p(f'Written by moelogit {__version__} on {stamp}.', 'note')}\n{body}\n</body>\n</html>\n"
    )


def write_report(path, model, **options) -> None:
    """Write :func:`build_report`'s HTML to ``path``, atomically (no partial file on failure).

    ``options`` are those of :func:`build_report`.
    """
    page = build_report(model, **options)
    with atomic_path(path) as temporary:
        temporary.write_text(page, encoding="utf-8")
