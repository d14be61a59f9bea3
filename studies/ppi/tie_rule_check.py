"""Which documented multi-expert DSC picks does the DSC's tie rule change, and what does it do to them?

Run from the repository root (about 15 minutes on 2 cores for both sets);
the rows go to ``studies/ppi/tie_rule_check.csv``:

    python -m studies.ppi.tie_rule_check ../shared/data/ppi/martin2005-hpylori ../shared/data/ppi/guo2008-yeast

The experiment's runs (commit e5b4ac5) and the grid study's were made before
``select_n_experts`` took the fewest experts among DSC levels tied within
the path's resolution (``omega * tol_path * max |Lbar|``). Every ``moe-dsc``
pick of more than one expert in them (folds of both protocols, and the
final model on all pairs) is refitted here with the current code and the
ridge it was fitted with (the ridge search uses a 2-expert proxy, which the
rule does not touch), and the folds are scored on the same test pairs. Per
pick: the experts before and now, plain argmin's pick on today's path, the
resolution, how far above the criterion's minimum the level picked now
lies (in resolutions), the spread of the levels' mean log-likelihoods, and
the largest change of any test metric. (Both experiments' files were
since replaced by reruns on the current code, d6c8cc4 for Martin and
153b3c1 for Guo, in which these folds already have one expert; the linear
grid study's rows still hold its picks, and the CSV written by this script
is the check as it was run on the e5b4ac5 files.)
"""

import ast
import inspect
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from moelogit.datasets.ppi import load_ppi
from moelogit.metrics import METRICS, binary_metrics
from moelogit.selection import select_n_experts

from studies.ppi import PPIConfig, build_model, classifier_step, prepare_data

HERE = Path(__file__).parent
# The estimator selects with select_n_experts' default path tolerance.
PATH_TOL = inspect.signature(select_n_experts).parameters["path_tol"].default
FINAL = re.compile(r"## Final moe-dsc model \(all pairs, (\{.*?\})\): (\d+) expert")


def documented_picks(name):
    """Multi-expert moe-dsc picks of the runs on one set: fold rows and the final model."""
    runs = [HERE / name / "folds.csv", HERE / f"grid_study_linear_{name}.csv"]
    rows = pd.concat([pd.read_csv(run).assign(run=run.name) for run in runs])
    rows = rows.query("model == 'moe-dsc' and n_experts > 1")
    rows = rows.drop_duplicates(["protocol", "fold", "params"])
    params, experts = FINAL.search((HERE / name / "results.md").read_text()).groups()
    final = {"run": "results.md", "protocol": "all pairs", "fold": -1, "params": params}
    return pd.concat([rows, pd.DataFrame([{**final, "n_experts": int(experts)}])])


def refit(prepared, config, row):
    if row.protocol == "all pairs":
        train, test = np.arange(len(prepared.y)), None
    else:
        train, test = prepared.folds[row.protocol][row.fold]
    model, _ = build_model("moe-dsc", config, ast.literal_eval(row.params))
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(prepared.X[train], prepared.y[train])
    selection = classifier_step(model).selection_
    tol_path = max(classifier_step(model).tol, PATH_TOL)
    resolution = selection.omega_ * tol_path * np.abs(selection.loglik_).max()
    criterion = selection.criterion_
    change = np.nan
    if test is not None:
        scores = binary_metrics(prepared.y[test], model.predict_proba(prepared.X[test])[:, 1])
        change = max(abs(scores[metric] - getattr(row, metric)) for metric in METRICS)
    return {
        "run": row.run,
        "protocol": row.protocol,
        "fold": row.fold,
        "params": row.params,
        "experts before": int(row.n_experts),
        "experts now": selection.n_experts_,
        "plain argmin now": int(np.argmin(criterion)) + 1,
        "resolution": resolution,
        "pick above minimum (resolutions)": (criterion[selection.n_experts_ - 1] - criterion.min())
        / resolution,
        "loglik spread": np.ptp(selection.loglik_),
        "largest metric change": change,
    }


def main(folders):
    config = PPIConfig()
    tables = []
    for folder in folders:
        prepared = prepare_data(load_ppi(folder), config)
        picks = documented_picks(Path(folder).name)
        rows = Parallel(n_jobs=2)(
            delayed(refit)(prepared, config, row) for row in picks.itertuples()
        )
        tables.append(pd.DataFrame(rows).assign(set=Path(folder).name))
        print(tables[-1].to_string(index=False), flush=True)
    pd.concat(tables).to_csv(HERE / "tie_rule_check.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
