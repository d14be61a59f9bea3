"""Does the mixture's initialisation hold it back at pair level?

Run from the repository root (about 25 minutes on 2 cores for both sets):

    python -m studies.ppi.starts_study ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

Every MoE fit of the experiment keeps the best of ``moe_starts = 2`` starts
(``n_init``), to keep the folds, the inner grid and the DSC path affordable;
the estimator's own default is 20. This study reruns the experiment's
pair-level folds for ``moe-dsc`` (the same folds, features, grid, tuning
subsample and code) with 10 starts in every fit, the inner search's
included, writes the per-fold rows of each set to
``studies/ppi/starts_study_<set>.csv`` and compares them, fold by fold, with
the experiment's rows in ``studies/ppi/<set>/folds.csv``. Nothing is tuned on
test folds.
"""

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from moelogit.datasets.ppi import load_ppi

from studies.ppi import PPIConfig, evaluate_fold, paired_folds, prepare_data

STARTS = 10
METRICS = ["accuracy", "roc_auc", "log_loss", "brier", "ece"]


def study(folder):
    config = replace(PPIConfig(), moe_starts=STARTS)
    prepared = prepare_data(load_ppi(folder), config)
    folds = prepared.folds["pairs"]
    results = Parallel(n_jobs=2, verbose=10)(
        delayed(evaluate_fold)("pairs", fold, ("moe-dsc",), config, prepared.X, prepared.y, *split)
        for fold, split in enumerate(folds)
    )
    return pd.DataFrame([row for result in results for row, _ in result])


def against_experiment(rows, folder):
    """Mean of both runs and the paired test of (10 starts - 2 starts) on every metric."""
    experiment = pd.read_csv(Path(__file__).parent / Path(folder).name / "folds.csv")
    before = experiment.query("protocol == 'pairs' and model == 'moe-dsc'")
    table = []
    for metric in [*METRICS, "n_experts", "seconds"]:
        test = paired_folds(rows, before, metric)
        table.append(
            {
                "metric": metric,
                "2 starts": before[metric].mean(),
                f"{STARTS} starts": rows[metric].mean(),
                "difference": test["mean"],
                "p": test["p_value"],
            }
        )
    return pd.DataFrame(table)


def main(folders):
    for folder in folders:
        rows = study(folder)
        rows.to_csv(Path(__file__).parent / f"starts_study_{Path(folder).name}.csv", index=False)
        print(Path(folder).name)
        print(rows[["fold", *METRICS, "n_experts", "searched", "seconds"]].to_string(index=False))
        comparison = against_experiment(rows, folder)
        print(comparison.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main(sys.argv[1:])
