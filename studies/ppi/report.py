"""The PPI experiment's results: tables, paired tests, figures, the final model, the report."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from moelogit import SeparationWarning
from moelogit.metrics import METRICS, paired_comparison, reliability_curve

from ..tables import markdown_table
from .evaluation import tuned_fit
from .models import MODELS, classifier_step, fitted_pipeline, step_params
from .prevalence import screen_markdown

__all__ = [
    "compare",
    "explain_final_model",
    "paired_folds",
    "plot_reliability",
    "summarize",
    "write_report",
]


def summarize(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds of every metric, per protocol and model."""
    columns = [*METRICS, "seconds", "n_experts"]
    table = folds.groupby(["protocol", "model"], sort=False)[columns].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()


def compare(folds: pd.DataFrame, moe="moe-dsc") -> pd.DataFrame:
    """The MoE against the best other model on every metric, fold by fold.

    The best other model is the one with the best mean on that metric (the
    other MoE excluded). Differences are ``moe - best``; the
    interval and p-value use the Nadeau-Bengio corrected paired t-test
    (:func:`moelogit.metrics.paired_comparison`).
    """
    rows = []
    for protocol, part in folds.groupby("protocol", sort=False):
        others = part[~part["model"].str.startswith("moe")]
        if others.empty or moe not in set(part["model"]):
            continue
        test_fraction = float((part["n_test"] / part["n_train"]).mean())
        mine = part[part["model"] == moe].sort_values("fold")
        for metric, higher_better in METRICS.items():
            means = others.groupby("model")[metric].mean()
            best = means.idxmax() if higher_better else means.idxmin()
            theirs = others[others["model"] == best].sort_values("fold")
            result = paired_comparison(mine[metric], theirs[metric], test_fraction)
            rows.append({"protocol": protocol, "metric": metric, "best_other": best, **result})
    # The columns even without rows (no MoE, or no other model, in the run).
    columns = ["protocol", "metric", "best_other", "mean", "low", "high", "p_value", "n"]
    return pd.DataFrame(rows, columns=columns)


def paired_folds(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> dict:
    """``a - b`` on ``metric``, fold by fold, for two runs on the same folds.

    ``a`` and ``b`` hold one row per fold (columns ``fold``, ``n_train``,
    ``n_test`` and ``metric``), as the experiment's fold rows of one
    protocol and model do. The test is
    :func:`moelogit.metrics.paired_comparison` with the folds' mean test
    fraction, as in :func:`compare`.

    Raises
    ------
    ValueError
        If the two runs' folds differ (numbers or sizes).

    Examples
    --------
    >>> a = pd.DataFrame({"fold": [0, 1, 2], "n_train": 80, "n_test": 20, "acc": [0.8, 0.7, 0.9]})
    >>> b = a.assign(acc=[0.7, 0.7, 0.8])
    >>> round(paired_folds(a, b, "acc")["mean"], 4)
    0.0667
    """
    a, b = a.set_index("fold").sort_index(), b.set_index("fold").sort_index()
    sizes = ["n_train", "n_test"]
    if not (a.index.equals(b.index) and (a[sizes] == b[sizes]).all(axis=None)):
        raise ValueError("the two runs were not made on the same folds")
    test_fraction = float((a["n_test"] / a["n_train"]).mean())
    return paired_comparison(a[metric], b[metric], test_fraction)


def _curve_styles(models):
    """Line style per model: ``moe-dsc`` bold in C3, the others thin, each in a colour of its own.

    Colours and legend order follow :data:`MODELS` (unknown names last), not
    the order in which fold jobs finished, so every figure of every run
    draws a model alike.

    >>> styles = _curve_styles(["forest", "moe-dsc", "logreg"])
    >>> list(styles), styles["moe-dsc"]["color"], styles["logreg"]["color"]
    (['moe-dsc', 'logreg', 'forest'], 'C3', 'C1')
    """
    wanted = set(models)
    known = list(MODELS) + sorted(wanted - set(MODELS))
    others = (f"C{i}" for i in itertools.count() if i != 3)
    styles = {}
    for name in known:
        if name == "moe-dsc":
            styles[name] = {"color": "C3", "lw": 2.2}
        else:
            styles[name] = {"color": next(others), "lw": 1, "alpha": 0.8}
    return {name: style for name, style in styles.items() if name in wanted}


def plot_reliability(predictions: pd.DataFrame, path, n_bins=15):
    """Reliability diagrams, one panel per protocol: test predictions pooled over folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = list(dict.fromkeys(predictions["protocol"]))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 4.6), squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        part = predictions[predictions["protocol"] == protocol]
        for model, style in _curve_styles(part["model"].unique()).items():
            rows = part[part["model"] == model]
            mean, frequency, counts = reliability_curve(rows["y"], rows["proba"], n_bins)
            used = counts > 0
            ax.plot(mean[used], frequency[used], marker="o", ms=3, label=model, **style)
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability")
        ax.set(ylabel="observed frequency of interaction", title=f"protocol: {protocol}")
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def explain_final_model(results, path_dendrogram, top=5):
    """Fit ``moe-dsc`` on all pairs (tuned as in the folds); draw its dendrogram, describe its experts.

    The gate is linear in the standardised pair features: the features with
    the largest gate weights are those that move a pair towards an expert
    (relative to the last, reference expert).

    Returns
    -------
    model : Pipeline
    params : dict
        The parameters fitted: the grid point chosen by the inner folds,
        rescaled as in the folds (``ModelSpec.mean_scaled``).
    experts : DataFrame
        Per expert: mean gate weight, share of pairs it dominates, the rate
        of interacting pairs among them, the expert's accuracy on them, and
        the features that drive the gate most.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from moelogit.plotting import plot_dendrogram

    config, X, y = results["config"], results["X"], results["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SeparationWarning)  # proxies on small tuning folds
        model, _, params, _ = tuned_fit("moe-dsc", config, X, y)
    pipeline = fitted_pipeline(model)
    moe = pipeline.named_steps["clf"]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_dendrogram(moe.selection_, ax=ax)
    fig.tight_layout()
    fig.savefig(path_dendrogram, dpi=120)
    plt.close(fig)

    Z = pipeline[:-1].transform(X)
    gate = moe.gate_proba(Z)
    dominant = gate.argmax(axis=1)
    names = results["features"].get_feature_names_out()
    loadings = moe.gate_coef_  # (K, n_features), on the standardised pair features
    positive = moe.params_.expert_proba(Z)[:, :, list(moe.classes_).index(1)]  # (n, K)
    rows = []
    for k in range(moe.n_experts_):
        mine = dominant == k
        drivers = "reference expert"
        if k < moe.n_experts_ - 1:
            order = np.argsort(-np.abs(loadings[k]))[:top]
            drivers = ", ".join(f"{names[j]} ({loadings[k, j]:+.2f})" for j in order)
        rows.append(
            {
                "expert": k + 1,
                "mean_gate_weight": gate[:, k].mean(),
                "share_dominated": mine.mean(),
                "interacting_rate": y[mine].mean() if mine.any() else np.nan,
                "expert_accuracy": (
                    np.mean((positive[mine, k] >= 0.5) == y[mine]) if mine.any() else np.nan
                ),
                "gate_drivers": drivers,
            }
        )
    return model, params, pd.DataFrame(rows)


def _results_markdown(summary: pd.DataFrame, comparison: pd.DataFrame) -> str:
    """Results as Markdown: mean ± sd per protocol and model, then the paired comparisons."""
    lines = []
    for protocol, part in summary.groupby("protocol", sort=False):
        table = pd.DataFrame({"model": part["model"]})
        for m in METRICS:
            table[m] = [
                f"{mean:.3f} ± {sd:.3f}" for mean, sd in zip(part[f"{m}_mean"], part[f"{m}_std"])
            ]
        table["seconds/fit"] = [f"{v:.1f}" for v in part["seconds_mean"]]
        table["experts"] = ["" if np.isnan(v) else f"{v:.1f}" for v in part["n_experts_mean"]]
        lines += [f"### Protocol: {protocol}", "", markdown_table(table), ""]
        rows = comparison[comparison["protocol"] == protocol]
        if len(rows):
            paired = pd.DataFrame({
                "metric": rows["metric"],
                "best other": rows["best_other"],
                "difference": [f"{v:+.3f}" for v in rows["mean"]],
                "95% interval": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(rows["low"], rows["high"])],
                "p": [f"{v:.3f}" for v in rows["p_value"]],
            })  # fmt: skip
            lines += [
                (
                    "moe-dsc minus the best other model on each metric (95% interval and p-value of "
                    "the corrected paired t-test over folds):"
                ),
                "",
                markdown_table(paired),
                "",
            ]
    return "\n".join(lines)


def write_report(results, out_dir, *, data_report=None, explain=True):
    """Write the tables, the predictions and the figures of a run to ``out_dir``.

    Files: ``results.md``, ``summary.csv``, ``folds.csv``,
    ``comparison.csv``, ``predictions.csv``, ``prevalence.csv`` (the test
    folds' 1:10 screen subsamples, :mod:`studies.ppi.prevalence`),
    ``reliability.png``, and with
    ``explain`` ``dendrogram.png`` and ``experts.csv`` (the final
    ``moe-dsc`` model fitted on all pairs).

    Returns
    -------
    str
        The Markdown text of ``results.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folds = results["folds"]
    summary = summarize(folds)
    comparison = compare(folds)
    folds.to_csv(out / "folds.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    comparison.to_csv(out / "comparison.csv", index=False)
    results["predictions"].to_csv(out / "predictions.csv", index=False)
    results["prevalence"].to_csv(out / "prevalence.csv", index=False)
    plot_reliability(results["predictions"], out / "reliability.png")
    config = results["config"]
    text = [
        "# PPI experiment",
        "",
        f"Configuration: `{config}`",
        "",
        (
            f"Pairs: {len(results['y'])} ({int(results['y'].sum())} interacting); "
            f"{results['X'].shape[1]} pair features computed in {results['feature_seconds']:.1f} s."
        ),
    ]
    if data_report:
        text.append(f"Data: {data_report}")
    if results.get("reused_jobs"):
        text.append(
            f"Resumed: {results['reused_jobs']} of {results['jobs']} fold jobs were finished by an "
            "earlier run with the same data, settings and code (their seconds are that run's)."
        )
    text.append("")
    for report in results["protocols"]:
        text.append(
            f"- protocol {report['protocol']}: {report['folds']} folds, test folds of "
            f"{report['test_sizes']} pairs, training folds of {report['train_sizes']}; "
            f"{report['coverage']:.0%} of the pairs tested ({report['never_tested']} pairs never "
            f"tested), {report['mean_unused_per_fold']:.0f} pairs per fold used by neither side."
        )
    text += ["", _results_markdown(summary, comparison), "![reliability](reliability.png)", ""]
    text += ["### At a screen's prevalence", "", screen_markdown(results["prevalence"])]
    if explain and "moe-dsc" in config.models:
        model, params, experts = explain_final_model(results, out / "dendrogram.png")
        experts.to_csv(out / "experts.csv", index=False)
        moe = classifier_step(model)
        fitted = step_params(params)
        text += [
            (
                f"## Final moe-dsc model (all pairs, {fitted}): {moe.n_experts_} "
                f"expert{'' if moe.n_experts_ == 1 else 's'}"
            ),
            "",
            markdown_table(experts),
            "",
            "![dendrogram](dendrogram.png)",
            "",
        ]
    markdown = "\n".join(text)
    (out / "results.md").write_text(markdown)
    return markdown
