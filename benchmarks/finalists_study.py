"""How often the default fit misses the best optimum on three-expert truths, by ``n_finalists``.

Run ``python -m benchmarks.finalists_study [--replicates 24] [--finalists 1,3,5]``
from the repository root. On the coverage study's three-expert truth
(d = 2 features, M = 2 classes), every data set is fitted with each
``n_finalists`` and from the truth itself (``init=truth``); a fit "misses"
when it ends more than 1e-6 nats per row below the truth-started one.
``--problem-a`` also times benchmark problem (a) (n = 5,000, d = 4,
K = 3, M = 3) over 10 seeds per setting. Results: docs/guide/fitting.md.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from studies.coverage.coverage import Config, draw, truth

GAP = 1e-6


def misses(n_samples: int, replicates: int, finalists: list[int], n_experts: int = 3):
    """Per setting: fits below the truth-started one, above it, and the median seconds."""
    generator, rows = truth(n_experts), []
    for replicate in range(replicates):
        rng = np.random.default_rng([replicate, n_experts, n_samples, 0])
        X, y = draw(Config(n_experts, n_samples, False), generator, n_samples, rng)
        reference = MoEClassifier(n_experts, init=generator, random_state=replicate).fit(X, y)
        for count in finalists:
            started = time.perf_counter()
            model = MoEClassifier(n_experts, n_finalists=count, random_state=replicate).fit(X, y)
            rows.append({
                "n_finalists": count, "gap": reference.objective_ - model.objective_,
                "seconds": time.perf_counter() - started,
            })  # fmt: skip
    table = pd.DataFrame(rows).groupby("n_finalists")
    return pd.DataFrame({
        "below the truth-started fit": table["gap"].apply(lambda gap: int((gap > GAP).sum())),
        "above it": table["gap"].apply(lambda gap: int((gap < -GAP).sum())),
        "median seconds": table["seconds"].median(),
    })  # fmt: skip


def problem_a(finalists: list[int], seeds: int = 10) -> pd.DataFrame:
    """Median seconds and the distinct log-likelihoods reached on problem (a)."""
    X, y, _ = make_moe_classification(5000, 4, 3, 3, random_state=0)
    rows = []
    for count in finalists:
        seconds, logliks = [], []
        for seed in range(seeds):
            started = time.perf_counter()
            model = MoEClassifier(3, n_finalists=count, random_state=seed).fit(X, y)
            seconds.append(time.perf_counter() - started)
            logliks.append(round(model.loglik(X, y), 5))
        rows.append({"n_finalists": count, "median seconds": np.median(seconds),
                     "log-likelihoods reached": sorted(set(logliks))})  # fmt: skip
    return pd.DataFrame(rows).set_index("n_finalists")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=24)
    parser.add_argument("--large-replicates", type=int, default=10)
    parser.add_argument("--finalists", default="1,3,5")
    parser.add_argument("--problem-a", action="store_true")
    args = parser.parse_args(argv)
    finalists = [int(value) for value in args.finalists.split(",")]
    warnings.simplefilter("ignore")  # capped or separated fits: the objectives are compared
    for n_samples, replicates in ((2_000, args.replicates), (20_000, args.large_replicates)):
        if replicates:
            print(f"\nK = 3, n = {n_samples}, {replicates} data sets")
            print(misses(n_samples, replicates, finalists).to_string())
    if args.problem_a:
        print("\nproblem (a): n = 5,000, d = 4, K = 3, M = 3, 10 seeds")
        print(problem_a(finalists).to_string())


if __name__ == "__main__":
    main()
