"""What taking several starts' MM steps together saves on a screening sample.

Run ``python -m benchmarks.screening_steps [--problem b] [--points 5,10,20]
[--repeats 9]`` from the repository root. On ``screen_rows`` (10,000) rows
drawn from the problem's data (see :mod:`benchmarks.fit_speed`), as the
default fit screens its starts, it times the per-expert MM step at random
starts three SQUAREM cycles in, one start after another
(``[mm(theta) for theta in thetas]``) and all of them at once
(``mm.steps(thetas)``, the engine's batches), on one BLAS thread, and
prints the milliseconds per start of each, medians over ``--repeats``
rounds in which the two alternate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.fit_speed import PROBLEMS, common_data
from moelogit.engine import Strategy, sample_rows
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.solver import maximize


def _milliseconds_per_point(take, points: list, rounds: list) -> None:
    began = time.perf_counter()
    take(points)
    rounds.append((time.perf_counter() - began) / len(points) * 1e3)


def screening_steps(problem: str = "b", points=(5, 10, 20), repeats: int = 9) -> pd.DataFrame:
    """Milliseconds per start of a step, one by one and together, per number of starts."""
    _, _, (Z, y, w, dims) = common_data(PROBLEMS[problem])
    samples = sample_rows(w, Strategy().screen_rows, np.random.RandomState(0))
    rows = samples[0] if samples else np.arange(len(y))  # the first sample screens
    sample = Z[rows], y[rows], w[rows] / w[rows].sum()
    mm = BohningMM(*sample, dims, alpha=1e-6, curvature="expert")
    table = []
    with threadpool_limits(1, user_api="blas"):
        starts = [
            maximize(mm, initial_theta(*sample, dims, "random", seed), max_iter=3).theta
            for seed in range(max(points))
        ]
        for count in points:
            thetas = starts[:count]
            alone, together = [], []
            mm.steps(thetas)  # scratch arrays and the rows' outer products made
            for _ in range(repeats):
                _milliseconds_per_point(lambda ts: [mm(theta) for theta in ts], thetas, alone)
                _milliseconds_per_point(mm.steps, thetas, together)
            table.append(
                {
                    "starts": count,
                    "one by one, ms per start": float(np.median(alone)),
                    "together, ms per start": float(np.median(together)),
                }
            )
    table = pd.DataFrame(table)
    table["speed-up"] = table["one by one, ms per start"] / table["together, ms per start"]
    table.attrs["steps together"] = mm.steps_together
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="b", choices=sorted(PROBLEMS))
    parser.add_argument("--points", default="5,10,20")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    points = tuple(int(value) for value in args.points.split(","))
    spec = PROBLEMS[args.problem]
    print(f"Problem ({args.problem}): " + ", ".join(f"{k}={v:,}" for k, v in spec.items()))
    table = screening_steps(args.problem, points, args.repeats)
    if not table.attrs["steps together"]:
        print("(this problem's map takes its steps one by one: `steps` is the same loop)")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
