"""Do the grids' edges decide the results of the models that chose them?

Run from the repository root, one study at a time:

    python -m studies.ppi.grid_study linear ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast
    python -m studies.ppi.grid_study nonlinear ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

(11 and 61 minutes on 2 cores for both sets; the second measured on 2026-11-28,
part of it beside a test run). With ``--summarize``
after the study's name, only the stored rows are compared with the
experiment's (the rows of the same models on the same folds, in
``studies/ppi/<set>/folds.csv``) and the comparison of ``moe-dsc`` with the
best other model is redone with the widened models' rows in place.

``linear``: under the protein-disjoint protocol the inner folds of
``moe-dsc`` and of the logistic regression chose their most regularised grid
point in most folds (MoE ridge 10, ``C`` 1e-4), so which of the two was
ahead depended on where their grids stop. Their grids here reach two decades
further (ridge up to 1,000, ``C`` down to 1e-6).

``nonlinear``: boosting chose its smallest learning rate (0.02) in most
protein-disjoint folds, and the MLP its largest ``alpha`` (1) in most folds of
both protocols. Boosting's rate here goes a decade lower (to 0.002; with at
most 200 trees, a smaller rate is a stronger shrinkage), the MLP's ``alpha``
two decades higher (to 100).

Each study reruns the experiment's folds (the same folds, features, tuning
subsample and code) for its models and protocols and writes the per-fold rows
of each set to ``studies/ppi/grid_study_<study>_<set>.csv``.
Nothing is tuned on test folds.
"""

import sys
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from moelogit.datasets.ppi import load_ppi
from moelogit.metrics import METRICS

from studies import ppi

HERE = Path(__file__).parent

#: study -> model -> (widened grid, protocols rerun)
STUDIES = {
    "linear": {
        "moe-dsc": ({"alpha": [1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]}, ("proteins",)),
        "logreg": ({"C": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]}, ("proteins",)),
    },
    "nonlinear": {
        "boosting": ({"learning_rate": [0.002, 0.005, 0.02, 0.05, 0.15]}, ("proteins",)),
        "mlp": ({"alpha": [1e-3, 1e-1, 1.0, 10.0, 100.0]}, ("pairs", "proteins")),
    },
}


def _widened_fold(protocol, fold, name, grid, config, X, y, train, test, pairs):
    # Each worker imports the experiment afresh: widen the grid where the job runs.
    ppi.MODELS[name] = ppi.MODELS[name]._replace(grid=grid)
    return ppi.evaluate_fold(protocol, fold, (name,), config, X, y, train, test, pairs)


def study(models, folder):
    config = ppi.PPIConfig()
    prepared = ppi.prepare_data(load_ppi(folder), config)
    X, y, pairs = prepared.X, prepared.y, prepared.pairs
    results = Parallel(n_jobs=2, verbose=10)(
        delayed(_widened_fold)(protocol, fold, name, grid, config, X, y, train, test, pairs)
        for name, (grid, protocols) in models.items()
        for protocol in protocols
        for fold, (train, test) in enumerate(prepared.folds[protocol])
    )
    return pd.DataFrame([row for result in results for row, _ in result])


def summarize(name, folder):
    """Print a study's results on one set against the experiment's rows on the same folds."""
    set_name = Path(folder).name
    rows = pd.read_csv(HERE / f"grid_study_{name}_{set_name}.csv")
    experiment = pd.read_csv(HERE / set_name / "folds.csv")
    columns = list(METRICS) + ["n_experts"]
    groups = rows.groupby(["protocol", "model"])
    print(f"{set_name}, widened grids: means over folds")
    print(groups[columns].mean().to_string(float_format=lambda v: f"{v:.3f}"))
    print(groups["searched"].value_counts().to_string())
    print("widened minus the experiment's grids (corrected paired t-test over folds)")
    for (protocol, model), widened in groups:
        before = experiment[(experiment["protocol"] == protocol) & (experiment["model"] == model)]
        tests = {metric: ppi.paired_folds(widened, before, metric) for metric in METRICS}
        print(
            f"  {protocol} {model}: "
            + ", ".join(f"{m} {t['mean']:+.4f} (p={t['p_value']:.2f})" for m, t in tests.items())
        )
    # The experiment's comparison, with the widened models' rows in place of theirs.
    replaced = experiment.set_index(["protocol", "model"]).index.isin(groups.groups)
    comparison = ppi.compare(pd.concat([experiment[~replaced], rows]))
    print("moe-dsc minus the best other model, widened rows in place")
    print(comparison.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def main(name, folders, rerun=True):
    if name not in STUDIES:
        sys.exit(f"unknown study {name!r}; choose from {list(STUDIES)}")
    for folder in folders:
        if rerun:
            rows = study(STUDIES[name], folder)
            rows.to_csv(HERE / f"grid_study_{name}_{Path(folder).name}.csv", index=False)
        summarize(name, folder)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--summarize"]
    if len(arguments) < 2:
        sys.exit(__doc__)
    main(arguments[0], arguments[1:], rerun="--summarize" not in sys.argv)
