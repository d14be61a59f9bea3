"""How far does the proteins' identity alone go? A measure of what the pair-level protocol rewards.

Run from the repository root (about 15 seconds for both sets):

    python -m studies.ppi.identity_study ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

A logistic regression sees nothing but which two proteins make a pair (a
one-hot column per protein, the pair's row holding a 1 in both proteins'
columns): ``logit P(interact) = b + u_a + u_b``, one propensity ``u`` per
protein, learned from the training pairs; a protein never seen in training
gets ``u = 0``. It knows no sequence, so whatever it scores is what a model
can get from recognising proteins. Its ``C`` is searched in
{0.01, 0.1, 1, 10, 100} by log loss on inner folds of all training pairs
(stratified 3-fold at pair level, protein-disjoint at protein level, as in
the experiment, whose models see at most 2,000 of them: a search that costs
seconds here). It runs on the experiment's folds of both protocols; the
per-fold rows go to ``studies/ppi/identity_study_<set>.csv``, with the share of
test pairs whose two proteins (or one of them) appear in the fold's
training pairs, and the means are printed beside the experiment's models'.
Nothing is tuned on test folds.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from moelogit.datasets.ppi import load_ppi
from moelogit.metrics import binary_metrics

from studies.ppi import PPIConfig, inner_protein_folds, paired_folds, prepare_data

GRID = {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}
SHOWN = ["accuracy", "roc_auc", "pr_auc", "log_loss", "brier", "ece"]


def one_hot_pairs(pairs):
    """Sparse (n, proteins) matrix with a 1 in the columns of both proteins of each pair."""
    _, index = np.unique(pairs, return_inverse=True)
    index = index.reshape(pairs.shape)
    rows = np.repeat(np.arange(len(pairs)), 2)
    return sparse.csr_matrix((np.ones(rows.size), (rows, index.ravel())))


def identity_fold(protocol, X, y, pairs, train, test, config):
    if protocol == "pairs":
        splitter = StratifiedKFold(config.inner_splits, shuffle=True, random_state=config.seed)
        inner = list(splitter.split(train, y[train]))
    else:
        inner = inner_protein_folds(pairs[train], y[train], config.inner_splits, config.seed)
    model = LogisticRegression(max_iter=5000)
    search = GridSearchCV(model, GRID, scoring="neg_log_loss", cv=inner).fit(X[train], y[train])
    proba = search.predict_proba(X[test])[:, 1]
    seen = np.isin(pairs[test], np.unique(pairs[train]))
    return {
        "protocol": protocol,
        "n_train": len(train),
        "n_test": len(test),
        "C": search.best_params_["C"],
        "both_seen": seen.all(axis=1).mean(),
        "one_seen": (seen.sum(axis=1) == 1).mean(),
        **binary_metrics(y[test], proba),
    }


def study(folder):
    config = PPIConfig()
    prepared = prepare_data(load_ppi(folder), config)  # the experiment's pairs and folds
    X = one_hot_pairs(prepared.pairs)
    rows = []
    for protocol, folds in prepared.folds.items():
        for fold, (train, test) in enumerate(folds):
            row = identity_fold(protocol, X, prepared.y, prepared.pairs, train, test, config)
            rows.append({"fold": fold, "model": "identity", **row})
    return pd.DataFrame(rows)


def against_experiment(rows, folder):
    """Means beside the experiment's models, and identity - model paired tests."""
    experiment = pd.read_csv(Path(__file__).parent / Path(folder).name / "folds.csv")
    both = pd.concat([experiment, rows], ignore_index=True)
    means = both.groupby(["protocol", "model"])[SHOWN].mean()
    tests = []
    for model in ("moe-dsc", "logreg", "boosting", "forest"):
        for protocol in ("pairs", "proteins"):
            a = rows.query("protocol == @protocol")
            b = experiment.query("protocol == @protocol and model == @model")
            for metric in ("accuracy", "log_loss"):
                test = paired_folds(a, b, metric)
                tests.append(
                    {
                        "protocol": protocol,
                        "against": model,
                        "metric": metric,
                        "identity - model": test["mean"],
                        "p": test["p_value"],
                    }
                )
    return means, pd.DataFrame(tests)


def main(folders):
    for folder in folders:
        rows = study(folder)
        rows.to_csv(Path(__file__).parent / f"identity_study_{Path(folder).name}.csv", index=False)
        means, tests = against_experiment(rows, folder)
        fmt = {"float_format": lambda v: f"{v:.3f}"}
        print(Path(folder).name)
        print(rows.groupby("protocol")[["both_seen", "one_seen"]].mean().to_string(**fmt))
        print(rows.groupby("protocol")["C"].value_counts().to_string())
        print(means.to_string(**fmt))
        print(tests.to_string(index=False, **fmt))


if __name__ == "__main__":
    main(sys.argv[1:])
