"""The DSC on cells of the selection experiment, per solver and screening: picks and cost.

Run ``python -m benchmarks.selection_cell [--k0 3] [--n 10000]
[--replicates 20] [--solvers lbfgs,mm] [--screen-solvers mm,lbfgs]
[--lbfgs-screen-iter 30] [--n-jobs 2]`` from the repository root; ``--n`` may list several sizes
(``1000,3000,10000,30000``: the ``K0`` row of the grid). Draws the
experiment's well-specified data for each replicate (as ``python -m studies
selection`` does, same seeds) and chooses the number of experts by
``select_n_experts(..., "dsc")`` with the default estimator, each
``solver`` and each ``screen_solver`` (L-BFGS screening with
``--lbfgs-screen-iter`` iterations, :data:`LBFGS_SCREEN_ITER` by default); prints, per cell and setting, how
often the DSC picked ``K0`` and the median and total seconds per replicate
(replicates run ``--n-jobs`` at a time, one BLAS thread each).
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

# Screening iterations with screen_solver="lbfgs": benchmarks.screening_study's
# "lbfgs-screen" rule (30 L-BFGS iterations cost about as much as 10 SQUAREM cycles).
LBFGS_SCREEN_ITER = 30


def replicate(
    K0: int, n: int, index: int, solver: str, screen_solver: str, lbfgs_iter=LBFGS_SCREEN_ITER
) -> dict:
    X, y = replicate_data(K0, n, index)
    screening = {"screen_solver": "lbfgs", "init_iter": lbfgs_iter}
    estimator = MoEClassifier(
        random_state=index, solver=solver, **(screening if screen_solver == "lbfgs" else {})
    )
    began = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")
        # The path screens as the estimator does (select_n_experts's default
        # would screen it by the MM map whatever the estimator's screening).
        selected = select_n_experts(
            X, y, K0 + EXTRA_EXPERTS, "dsc", estimator=estimator, path_screen_solver=None
        )
    return {
        "n": n,
        "setting": f"solver={solver}, screen_solver={screen_solver}"
        + (f" ({lbfgs_iter} iterations)" if screen_solver == "lbfgs" else ""),
        "replicate": index,
        "selected": selected.n_experts_,
        "seconds": time.perf_counter() - began,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k0", type=int, default=3)
    parser.add_argument("--n", default="10000", help="comma-separated sizes")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--screen-solvers", default="mm")
    parser.add_argument("--lbfgs-screen-iter", type=int, default=LBFGS_SCREEN_ITER)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    solvers = choices(parser, args.solvers, SOLVERS, "solvers")
    screen_solvers = choices(parser, args.screen_solvers, SOLVERS, "screen-solvers")
    sizes = [int(part) for part in args.n.split(",") if part.strip()]
    jobs = [
        delayed(replicate)(args.k0, n, index, solver, screen_solver, args.lbfgs_screen_iter)
        for n in sizes
        for solver in solvers
        for screen_solver in screen_solvers
        for index in range(args.replicates)
    ]
    runs = pd.DataFrame(Parallel(n_jobs=args.n_jobs)(jobs))
    table = runs.groupby(["n", "setting"], sort=False).agg(
        **{
            f"picked K0={args.k0}": ("selected", lambda s: f"{(s == args.k0).sum()}/{s.size}"),
            "median s": ("seconds", "median"),
            "total s": ("seconds", "sum"),
        }
    )
    print(f"DSC, K0 = {args.k0}, well-specified, {args.replicates} replicates")
    print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    print("\nPicks per replicate:")
    print(runs.pivot(index="replicate", columns=["n", "setting"], values="selected").T.to_string())


if __name__ == "__main__":
    main()
