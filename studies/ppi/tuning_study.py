"""Is the 2,000-pair tuning subsample what holds the mixture back on Guo's pairs?

Run from the repository root (about 25 minutes on 2 cores); the per-fold
rows go to studies/ppi/guo2008-yeast/tuning_study.csv unless a second argument
names another file:

    python -m studies.ppi.tuning_study ../shared/data/ppi/guo2008-yeast

The experiment searches every model's grid on inner folds of a stratified
subsample of at most ``tune_rows = 2000`` training pairs. On Guo's full set
(8,931 training pairs per pair-level fold) ``moe-dsc`` then searched its
ridge at 1.0 in every fold (fitted 0.149 after rescaling), where the input
study had reached its best accuracy at 1e-2. This study reruns the
experiment's pair-level folds (the same folds, features, grids and code)
with the inner search on *all* training pairs instead, for the DSC-selected
mixture, the logistic regression and boosting (the best model there), so
that the mixture's gain, if any, is set beside what the same change does
for a linear and for the strongest baseline. Nothing is tuned on test folds.
"""

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from moelogit.datasets.ppi import load_ppi

from studies.ppi import PPIConfig, evaluate_fold, prepare_data

MODELS = ("moe-dsc", "logreg", "boosting")


def main(folder, tune_rows=10**9):
    config = replace(PPIConfig(), tune_rows=tune_rows)
    prepared = prepare_data(load_ppi(folder), config)
    X, y, folds = prepared.X, prepared.y, prepared.folds["pairs"]
    jobs = [(fold, name) for name in MODELS for fold in range(len(folds))]
    results = Parallel(n_jobs=2, verbose=10)(
        delayed(evaluate_fold)("pairs", fold, (name,), config, X, y, *folds[fold])
        for fold, name in jobs
    )
    rows = pd.DataFrame([row for result in results for row, _ in result])
    columns = ["model", "fold", "accuracy", "roc_auc", "log_loss", "brier", "ece"]
    columns += ["n_experts", "searched", "params", "seconds"]
    print(rows[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(rows.groupby("model")[columns[2:-3]].mean().to_string(float_format=lambda v: f"{v:.3f}"))
    return rows


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    default = Path(__file__).parent / folder.name / "tuning_study.csv"
    main(folder).to_csv(sys.argv[2] if len(sys.argv) > 2 else default, index=False)
