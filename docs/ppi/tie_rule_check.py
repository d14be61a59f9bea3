"""Which documented multi-expert DSC picks does the DSC's tie rule change, and what does it do to them?

Run from the repository root (about a minute on 2 cores):

    python docs/ppi/tie_rule_check.py ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

The experiment's and the grid study's runs were made before
``select_n_experts`` took the fewest experts among DSC levels tied within
the path's resolution. Their protein-disjoint ``moe-dsc`` folds with more
than one expert are refitted here with the current code and the ridge they
were fitted with (the ridge search uses a 2-expert proxy, which the rule
does not touch), and scored on the same test pairs: the number of experts
before and now, and the largest change of any test metric.
"""

import ast
import sys
import warnings
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from moelogit.datasets.ppi import load_ppi
from moelogit.experiments.ppi import PPIConfig, _pipeline, _prefixed, build_model, prepare_data
from moelogit.metrics import METRICS, binary_metrics

HERE = Path(__file__).parent


def documented_picks(name):
    """Protein-disjoint moe-dsc rows with more than one expert, one per (fold, ridge)."""
    runs = [HERE / name / "folds.csv", HERE / f"grid_study_{name}.csv"]
    rows = pd.concat([pd.read_csv(run).assign(run=run.name) for run in runs])
    rows = rows.query("protocol == 'proteins' and model == 'moe-dsc' and n_experts > 1")
    return rows.drop_duplicates(["fold", "params"])


def refit(prepared, config, row):
    train, test = prepared.folds["proteins"][row.fold]
    model, _ = build_model("moe-dsc", config)
    model.set_params(**_prefixed(ast.literal_eval(row.params), model))
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(prepared.X[train], prepared.y[train])
    scores = binary_metrics(prepared.y[test], model.predict_proba(prepared.X[test])[:, 1])
    return {
        "run": row.run,
        "fold": row.fold,
        "params": row.params,
        "experts before": int(row.n_experts),
        "experts now": _pipeline(model).named_steps["clf"].n_experts_,
        "largest metric change": max(abs(scores[m] - getattr(row, m)) for m in METRICS),
    }


def main(folders):
    config = PPIConfig()
    for folder in folders:
        prepared = prepare_data(load_ppi(folder), config)
        picks = documented_picks(Path(folder).name)
        rows = Parallel(n_jobs=2)(
            delayed(refit)(prepared, config, row) for row in picks.itertuples()
        )
        print(Path(folder).name)
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
