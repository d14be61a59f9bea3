"""Probabilities at a screen's prevalence: the models scored on 1:10 subsamples of the test folds.

The benchmarks are balanced, so every model is trained where half the pairs
interact; a screen holds one interacting pair in 10 or fewer. Each outer
test fold's screen subsample (:func:`~studies.ppi.folds.screen_subsample`:
every negative and a tenth as many positives, drawn with the experiment's
seed, the protocol and the fold, so the same rows for every model) is scored
three ways:

* ``"none"``: the model's probabilities as they are;
* ``"true"``: corrected by the prior shift (Bayes' rule on the odds,
  :func:`moelogit.prior.shift_log_proba`) from the training fold's
  prevalence to the subsample's true one, as ``moelogit ppi predict
  --prevalence P`` does for a user who knows the screen's prevalence;
* ``"auto"``: corrected to the prevalence estimated from the subsample's
  unlabelled probabilities by the EM of Saerens et al. (2002), with a
  percentile bootstrap interval (:func:`moelogit.prior.bootstrap_prior`), as
  ``--prevalence auto`` does.

The correction sees only the training labels and the target prevalence
(known or estimated from the unlabelled scores): nothing is tuned on the
test folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moelogit.metrics import binary_metrics
from moelogit.prior import binary_log_proba, bootstrap_prior, shift_log_proba

from ..tables import markdown_table
from .folds import PROTOCOLS, SCREEN_RATIO, screen_subsample

__all__ = ["CORRECTIONS", "SCREEN_METRICS", "score_screens", "screen_markdown", "screen_table"]

CORRECTIONS = ("none", "true", "auto")
#: The metrics the screen table shows (the rows hold all of ``binary_metrics``).
SCREEN_METRICS = {"log_loss": "log loss", "brier": "Brier", "ece": "ECE"}


def _shifted(log_proba, new, old):
    """Probability of the positive class corrected from prevalence ``old`` to ``new``."""
    return np.exp(shift_log_proba(log_proba, [1 - new, new], [1 - old, old]))[:, 1]


def score_screens(predictions, y, folds, seed=0, n_boot=100):
    """Score every model's test predictions on its fold's screen subsample, corrected or not.

    Parameters
    ----------
    predictions : DataFrame
        The experiment's test predictions (``protocol``, ``fold``, ``model``,
        ``pair``: the row of ``y``, ``proba``).
    y : ndarray
        Labels of all pairs.
    folds : dict
        Protocol -> list of (train, test) rows, as :func:`prepare_data` gives.
    seed : int
        The experiment's seed; the subsample of a fold is drawn with
        ``(seed, protocol number, fold)``.
    n_boot : int
        Bootstrap replicates of the ``"auto"`` estimate's 95% interval.

    Returns
    -------
    DataFrame
        One row per protocol, fold, model and correction (:data:`CORRECTIONS`):
        ``n_screen`` and ``n_positive`` (the subsample's pairs and positives),
        ``train_prevalence``, ``true_prevalence``, ``prevalence`` (the one
        corrected to: the training one for ``"none"``), ``prevalence_low``
        and ``prevalence_high`` (the interval, ``"auto"`` only),
        ``mean_proba`` (the mean probability) and
        :func:`moelogit.metrics.binary_metrics`.
    """
    rows = []
    for (protocol, fold, model), part in predictions.groupby(
        ["protocol", "fold", "model"], sort=False
    ):
        train, test = folds[protocol][fold]
        screen = screen_subsample(test, y, (seed, PROTOCOLS.index(protocol), fold))
        proba = part.set_index("pair")["proba"].loc[screen].to_numpy()
        old, true = float(y[train].mean()), float(y[screen].mean())
        log_proba = binary_log_proba(proba)
        estimate = bootstrap_prior(log_proba, [1 - old, old], n_boot=n_boot, random_state=seed)
        targets = {
            "none": (old, proba, np.nan, np.nan),
            "true": (true, _shifted(log_proba, true, old), np.nan, np.nan),
            "auto": (
                estimate.prior[1],
                _shifted(log_proba, estimate.prior[1], old),
                estimate.low[1],
                estimate.high[1],
            ),
        }
        for correction, (prevalence, corrected, low, high) in targets.items():
            rows.append({
                "protocol": protocol, "fold": fold, "model": model, "correction": correction,
                "n_screen": len(screen), "n_positive": int(y[screen].sum()),
                "train_prevalence": old, "true_prevalence": true, "prevalence": prevalence,
                "prevalence_low": low, "prevalence_high": high, "mean_proba": corrected.mean(),
                **binary_metrics(y[screen], corrected),
            })  # fmt: skip
    return pd.DataFrame(rows)


def screen_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per protocol and model: the mean over folds of each metric per correction, and ``auto``'s prevalence.

    Columns ``<metric> <correction>`` for :data:`SCREEN_METRICS` and
    :data:`CORRECTIONS`; ``mean p none``: the mean uncorrected probability
    (where EM starts from); ``true prevalence`` and ``auto estimate`` (means
    over folds, the estimate with the means of its interval's bounds);
    ``interval holds it``: the folds whose interval holds the true
    prevalence.
    """
    table = []
    for (protocol, model), part in rows.groupby(["protocol", "model"], sort=False):
        entry = {"protocol": protocol, "model": model}
        for metric, label in SCREEN_METRICS.items():
            for correction in CORRECTIONS:
                entry[f"{label} {correction}"] = part.loc[
                    part["correction"] == correction, metric
                ].mean()
        entry["mean p none"] = part.loc[part["correction"] == "none", "mean_proba"].mean()
        auto = part[part["correction"] == "auto"]
        holds = auto["prevalence_low"].le(auto["true_prevalence"]) & auto["prevalence_high"].ge(
            auto["true_prevalence"]
        )
        entry["true prevalence"] = auto["true_prevalence"].mean()
        entry["auto estimate"] = (
            f"{auto['prevalence'].mean():.3f} "
            f"[{auto['prevalence_low'].mean():.3f}, {auto['prevalence_high'].mean():.3f}]"
        )
        entry["interval holds it"] = f"{int(holds.sum())}/{len(auto)}"
        table.append(entry)
    return pd.DataFrame(table)


def screen_markdown(rows: pd.DataFrame) -> str:
    """:func:`screen_table` as Markdown, one table per protocol."""
    lines = [
        (
            f"Test folds subsampled to 1:{SCREEN_RATIO} (every negative, a seeded draw of positives, "
            "the same rows for every model); means over folds. none: the probabilities as they "
            "are; true: corrected from the training prevalence to the subsample's; auto: to the "
            "prevalence estimated from the unlabelled probabilities (EM, mean 95% bootstrap "
            "interval)."
        ),
        "",
    ]
    table = screen_table(rows)
    for protocol, part in table.groupby("protocol", sort=False):
        lines += [
            f"#### Protocol: {protocol}",
            "",
            markdown_table(part.drop(columns="protocol")),
            "",
        ]
    return "\n".join(lines)
