"""Do the grids' edges decide the protein-disjoint ranking of the two linear models?

Run from the repository root (about 11 minutes on 2 cores for both sets):

    python docs/ppi/grid_study.py ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

Under the protein-disjoint protocol the inner folds of ``moe-dsc`` and of the
logistic regression chose their most regularised grid point in most folds
(MoE ridge 10, ``C`` 1e-4), so which of the two was ahead depended on where
their grids stop. This study reruns the experiment's protein-disjoint folds
(the same folds, features, tuning subsample and code) for these two models
with grids that reach two decades further (ridge up to 1,000, ``C`` down to
1e-6) and writes the per-fold rows of each set to
``docs/ppi/grid_study_<set>.csv``.
Nothing is tuned on test folds.
"""

import sys
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from moelogit.datasets.ppi import load_ppi
from moelogit.experiments import ppi

GRIDS = {
    "moe-dsc": {"alpha": [1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]},
    "logreg": {"C": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]},
}


def _widened_fold(fold, name, config, X, y, train, test, pairs):
    # Each worker imports the experiment afresh: widen the grid where the job runs.
    ppi.MODELS[name] = ppi.MODELS[name]._replace(grid=GRIDS[name])
    return ppi.evaluate_fold("proteins", fold, (name,), config, X, y, train, test, pairs)


def study(folder):
    config = ppi.PPIConfig()
    prepared = ppi.prepare_data(load_ppi(folder), config)
    X, y, pairs = prepared.X, prepared.y, prepared.pairs
    results = Parallel(n_jobs=2, verbose=10)(
        delayed(_widened_fold)(fold, name, config, X, y, train, test, pairs)
        for name in GRIDS
        for fold, (train, test) in enumerate(prepared.folds["proteins"])
    )
    return pd.DataFrame([row for result in results for row, _ in result])


def main(folders):
    for folder in folders:
        rows = study(folder)
        rows.to_csv(Path(__file__).parent / f"grid_study_{Path(folder).name}.csv", index=False)
        columns = ["accuracy", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "n_experts"]
        print(Path(folder).name)
        print(rows.groupby("model")[columns].mean().to_string(float_format=lambda v: f"{v:.3f}"))
        print(rows.groupby("model")["searched"].value_counts().to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
