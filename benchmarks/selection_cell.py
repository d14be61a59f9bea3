"""The DSC on one cell of the selection experiment, per solver: picks and cost.

Run ``python -m benchmarks.selection_cell [--k0 3] [--n 10000]
[--replicates 20] [--solvers lbfgs,mm] [--n-jobs 2]`` from the repository
root. Draws the experiment's well-specified data for each replicate (as
``python -m studies selection`` does, same seeds) and chooses the number of
experts by ``select_n_experts(..., "dsc")`` with the default estimator and
each ``solver``; prints, per solver, how often the DSC picked ``K0`` and the
median and total seconds per replicate (replicates run ``--n-jobs`` at a
time, one BLAS thread each).
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from benchmarks import choices
from moelogit import MoEClassifier, select_n_experts
from moelogit.engine import SOLVERS
from studies.selection.experiment import EXTRA_EXPERTS, replicate_data


def replicate(K0: int, n: int, index: int, solver: str) -> dict:
    X, y = replicate_data(K0, n, index)
    estimator = MoEClassifier(random_state=index, solver=solver)
    began = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")
        selected = select_n_experts(X, y, K0 + EXTRA_EXPERTS, "dsc", estimator=estimator)
    return {
        "solver": solver,
        "replicate": index,
        "selected": selected.n_experts_,
        "seconds": time.perf_counter() - began,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k0", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    solvers = choices(parser, args.solvers, SOLVERS, "solvers")
    jobs = [
        delayed(replicate)(args.k0, args.n, index, solver)
        for solver in solvers
        for index in range(args.replicates)
    ]
    runs = pd.DataFrame(Parallel(n_jobs=args.n_jobs)(jobs))
    table = runs.groupby("solver", sort=False).agg(
        **{
            f"picked K0={args.k0}": ("selected", lambda s: f"{(s == args.k0).sum()}/{s.size}"),
            "median s": ("seconds", "median"),
            "total s": ("seconds", "sum"),
        }
    )
    print(f"DSC, K0 = {args.k0}, n = {args.n:,}, well-specified, {args.replicates} replicates")
    print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    print("\nPicks per replicate:")
    print(runs.pivot(index="replicate", columns="solver", values="selected").T.to_string())


if __name__ == "__main__":
    main()
