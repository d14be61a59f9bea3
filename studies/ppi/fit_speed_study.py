"""Does the faster default fit of ``moelogit ppi fit`` predict as well as the old one?

Run from the repository root, pinned to one core (about 8 minutes for the old
settings' five folds and 6 for the new ones):

    taskset -c 1 env OMP_NUM_THREADS=1 python -m studies.ppi.fit_speed_study ../shared/data/ppi/guo2008-yeast

Fits :class:`moelogit.ppi.PPIPredictor` with the old defaults (``OLD``, those
of commit 9088ad3) and with today's defaults on the
training pairs of each of the experiment's five pair-level outer folds
(:func:`studies.ppi.make_folds`, the experiment's seed) and scores the
fold's test pairs. Rows go to ``fit_speed_study_<set>.csv`` beside this
script; a rerun keeps the rows already there and fits only the missing
(settings, fold) pairs. ``--settings old`` or ``new`` and ``--folds 0,2``
restrict a run, and the names in ``CANDIDATES`` run the settings measured
on the way (the CSV's ``one-order`` row, one fold trained on one order of
each pair, was run with an option of commit d399897 that was then
removed; the ``old`` and ``tol1e-6-it100`` rows say 9088ad3 but ran with
the then uncommitted ``tol`` parameter, before the script marked such
changes). Fit seconds are wall time on whatever the machine was doing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from moelogit.datasets.ppi import load_ppi
from moelogit.metrics import binary_metrics
from moelogit.ppi import PPIPredictor

from studies.ppi import PPIConfig, make_folds
from studies.version import code_version

HERE = Path(__file__).parent
#: PPIPredictor's defaults before issue 25's step 3.
OLD = {"n_init": 3, "max_iter": 300, "tol": 1e-8}
#: Candidates measured on the way to the new defaults (see docs/ppi.md, "Fit time").
CANDIDATES = {
    "tol1e-6": {"n_init": 3, "max_iter": 300, "tol": 1e-6},
    "tol1e-6-it200": {"n_init": 3, "max_iter": 200, "tol": 1e-6},
    "tol1e-6-it100": {"n_init": 3, "max_iter": 100, "tol": 1e-6},
    "tol1e-6-it100-init1": {"n_init": 1, "max_iter": 100, "tol": 1e-6},
}
SETTINGS = {"old": OLD, "new": {}, **CANDIDATES}
METRICS = ["accuracy", "roc_auc", "log_loss", "brier", "ece"]


def fit_fold(data, train, test, settings) -> dict:
    """Fit on the training pairs of one fold and score its test pairs."""
    model = PPIPredictor(**settings)
    started = time.perf_counter()
    model.fit(data.pairs[train], data.labels[train], data.sequences)
    seconds = time.perf_counter() - started
    proba = model.predict_proba(data.pairs[test], data.sequences)
    symmetric = np.array_equal(proba, model.predict_proba(data.pairs[test, ::-1], data.sequences))
    metrics = binary_metrics(data.labels[test], proba)
    return {
        **{metric: metrics[metric] for metric in METRICS},
        "n_experts": model.n_experts_,
        "seconds": seconds,
        "symmetric": symmetric,
    }


def study(folder, settings_names, fold_numbers, out) -> pd.DataFrame:
    data = load_ppi(folder)
    config = PPIConfig()
    folds, _ = make_folds("pairs", data.pairs, data.labels, config.n_splits, config.seed)
    rows = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["settings", "fold"])
    done = set(zip(rows["settings"], rows["fold"]))
    for name in settings_names:
        for fold in fold_numbers:
            if (name, fold) in done:
                continue
            train, test = folds[fold]
            row = {"settings": name, "fold": fold, "n_train": len(train), "n_test": len(test)}
            row |= fit_fold(data, train, test, SETTINGS[name])
            row |= {"params": repr(SETTINGS[name]), "commit": code_version(":/src")}
            rows = pd.concat([rows, pd.DataFrame([row])], ignore_index=True)
            rows.to_csv(out, index=False)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    return rows


def table(rows) -> pd.DataFrame:
    """Per-fold accuracy and ROC-AUC of both settings side by side, and their means."""
    wide = rows.pivot(index="fold", columns="settings", values=["accuracy", "roc_auc", "seconds"])
    wide.columns = [f"{metric} {name}" for metric, name in wide.columns]
    wide.loc["mean"] = wide.mean()
    return wide


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--settings", default="old,new")
    parser.add_argument("--folds", default="0,1,2,3,4")
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {sorted(SETTINGS)}")
    out = HERE / f"fit_speed_study_{Path(args.folder).name}.csv"
    rows = study(args.folder, names, [int(fold) for fold in args.folds.split(",")], out)
    print(table(rows).to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
