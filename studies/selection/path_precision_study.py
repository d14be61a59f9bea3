"""The path-precision study behind select_n_experts' path_tol, path_max_iter, merge_screen_iter.

Fits the DSC path of the validation experiment's well-specified truths with
several precisions and appends one row per (replicate, variant) to a CSV:
the pick, the seconds, the heights and the level log-likelihoods. A variant
is ``path_tol/path_max_iter/merge_screen_iter``, ``None`` meaning the
estimator's own setting (``1e-08/None/None`` is the full-precision path).

Run from the repository root:

    OMP_NUM_THREADS=1 python -m studies.selection.path_precision_study 0 3 \
        1e-08/None/None,1e-06/None/None,1e-05/None/None \
        1000,3000,10000 studies/selection/path-precision-study/tolerance.csv
    OMP_NUM_THREADS=1 python -m studies.selection.path_precision_study 0 2 \
        1e-06/300/None,1e-06/300/5,1e-06/150/5 \
        3000,10000 studies/selection/path-precision-study/cap-and-screening.csv

(The CSVs in ``path-precision-study/`` were written by a prototype of this
script that set the same three values through hooks before the parameters
existed; the picks of
``1e-06/300/5`` agree with the validation run of the released parameters,
and its level log-likelihoods to 2e-5.)
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed


def _setting(text, kind):
    return None if text == "None" else kind(text)


def one(K0, n, replicate, variant):
    warnings.simplefilter("ignore")
    from moelogit import MoEClassifier
    from moelogit.selection import select_n_experts

    from studies.selection.experiment import replicate_data

    tol, cap, screen = variant.split("/")
    X, y = replicate_data(K0, n, replicate)
    started = time.perf_counter()
    result = select_n_experts(
        X,
        y,
        K0 + 3,
        estimator=MoEClassifier(random_state=replicate),
        path_tol=_setting(tol, float),
        path_max_iter=_setting(cap, int),
        merge_screen_iter=_setting(screen, int),
    )
    return {
        "scenario": "well-specified",
        "K0": K0,
        "n": n,
        "replicate": replicate,
        "variant": variant,
        "pick": result.n_experts_,
        "seconds": time.perf_counter() - started,
        "heights": json.dumps(np.round(result.heights_, 3).tolist()),
        "loglik": json.dumps(np.round(result.loglik_, 5).tolist()),
    }


if __name__ == "__main__":
    first, stop, variants, sizes, out = sys.argv[1:6]
    jobs = [
        (K0, n, r, v)
        for r in range(int(first), int(stop))
        for K0 in (4, 3, 2)
        for n in sorted(map(int, sizes.split(",")), reverse=True)
        for v in variants.split(",")
    ]
    for row in Parallel(n_jobs=2, return_as="generator_unordered")(delayed(one)(*j) for j in jobs):
        pd.DataFrame([row]).to_csv(out, mode="a", header=not os.path.exists(out), index=False)
