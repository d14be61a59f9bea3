"""The first fit of a session against later ones, on one core and on every core.

Run ``python -m benchmarks.first_fit [--problems tiny,a,b] [--fits 6]`` from
the repository root. Each problem and ``n_jobs`` runs in a fresh Python
process, which draws the problem's data, then fits ``MoEClassifier`` (the
default but for ``n_jobs``) ``--fits`` times with ``random_state`` 0, 1,
...: on several cores the first fit of the process starts the screening
workers, and the later ones find them running. The table gives the first
fit's seconds, the median of the later fits' and their ratios to one core.
Problems: ``tiny`` (n = 300, d = 2, K = 2, M = 2) and the fit-speed
benchmark's ``a``, ``b`` and ``c``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pandas as pd

from benchmarks.fit_speed import PROBLEMS

SIZES = {"tiny": {"n": 300, "d": 2, "K": 2, "M": 2}, **PROBLEMS}

_SESSION = """
import json, sys, time
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
spec, n_jobs, fits = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
X, y, _ = make_moe_classification(spec["n"], spec["d"], spec["K"], spec["M"], random_state=0)
seconds = []
for state in range(fits):
    began = time.perf_counter()
    MoEClassifier(spec["K"], random_state=state, n_jobs=n_jobs).fit(X, y)
    seconds.append(time.perf_counter() - began)
print(json.dumps(seconds))
"""


def session(spec: dict, n_jobs: int, fits: int) -> list[float]:
    """Seconds of each of ``fits`` default fits in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _SESSION, json.dumps(spec), str(n_jobs), str(fits)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def first_fits(problems: list[str], fits: int, n_jobs=(1, -1)) -> pd.DataFrame:
    """One row per problem and ``n_jobs``: the first fit and the median of the later ones."""
    rows = []
    for name in problems:
        for jobs in n_jobs:
            seconds = session(SIZES[name], jobs, fits)
            later = pd.Series(seconds[1:], dtype=float).median()
            rows.append({"problem": name, "n_jobs": jobs, "first fit s": seconds[0],
                         "later fits s (median)": later})  # fmt: skip
    table = pd.DataFrame(rows)
    one = table[table["n_jobs"] == n_jobs[0]].set_index("problem")
    for column in ("first fit s", "later fits s (median)"):
        table[f"{column} / n_jobs={n_jobs[0]}"] = (
            table[column].to_numpy() / one.loc[table["problem"], column].to_numpy()
        )
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="tiny,a,b", help="comma-separated: tiny,a,b,c")
    parser.add_argument("--fits", type=int, default=6, help="fits per process (at least 2)")
    args = parser.parse_args(argv)
    if args.fits < 2:
        parser.error("--fits must be at least 2: the first fit and later ones")
    problems = args.problems.split(",")
    unknown = sorted(set(problems) - set(SIZES))
    if unknown:
        parser.error(f"unknown problems {unknown}; choose from {sorted(SIZES)}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(first_fits(problems, args.fits).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
