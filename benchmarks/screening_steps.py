"""What taking several starts' MM steps together, in single precision, saves on a screening sample.

Run ``python -m benchmarks.screening_steps [--problem b] [--points 5,10,20]
[--repeats 9] [--precisions single,double]`` from the repository root. On
``screen_rows`` (10,000) rows drawn from the problem's data (see
:mod:`benchmarks.fit_speed`), as the default fit screens its starts, it
times the per-expert MM step at random starts three SQUAREM cycles in, one
start after another (``[mm(theta) for theta in thetas]``) and all of them
at once (``mm.steps(thetas)``, the engine's batches), with the rows in each
precision (the engine screens in single), on one BLAS thread, and prints
the milliseconds per start of each, medians over ``--repeats`` rounds in
which all of them alternate.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks import choices
from benchmarks.fit_speed import PROBLEMS, common_data
from moelogit.engine import PRECISIONS, Strategy, sample_rows
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.solver import maximize


def _screening_map(sample: tuple, dims, precision: str) -> BohningMM:
    """The screening's MM map of ``sample`` (design, labels, weights), its rows in ``precision``."""
    Z, y, w = sample
    dtype = PRECISIONS[precision]
    return BohningMM(Z.astype(dtype), y, w.astype(dtype), dims, alpha=1e-6, curvature="expert")


def _one_by_one(mm: BohningMM, thetas: list) -> list:
    return [mm(theta) for theta in thetas]


def _milliseconds_per_point(take, points: list, rounds: list) -> None:
    began = time.perf_counter()
    take(points)
    rounds.append((time.perf_counter() - began) / len(points) * 1e3)


def screening_steps(
    problem: str = "b", points=(5, 10, 20), repeats: int = 9, precisions=("single", "double")
) -> pd.DataFrame:
    """Milliseconds per start of a step, one by one and together, per precision and number of starts."""
    _, _, (Z, y, w, dims) = common_data(PROBLEMS[problem])
    samples = sample_rows(w, Strategy().screen_rows, np.random.RandomState(0))
    rows = samples[0] if samples else np.arange(len(y))  # the first sample screens
    sample = Z[rows], y[rows], w[rows] / w[rows].sum()
    maps = {precision: _screening_map(sample, dims, precision) for precision in precisions}
    table = []
    with threadpool_limits(1, user_api="blas"):
        double = BohningMM(*sample, dims, alpha=1e-6, curvature="expert")
        starts = [
            maximize(double, initial_theta(*sample, dims, "random", seed), max_iter=3).theta
            for seed in range(max(points))
        ]
        for count in points:
            thetas = starts[:count]
            times = {(precision, way): [] for precision in maps for way in ("alone", "together")}
            for mm in maps.values():
                mm.steps(thetas)  # scratch arrays and the rows' outer products made
            for _ in range(repeats):
                for precision, mm in maps.items():
                    one_by_one = functools.partial(_one_by_one, mm)
                    _milliseconds_per_point(one_by_one, thetas, times[precision, "alone"])
                    _milliseconds_per_point(mm.steps, thetas, times[precision, "together"])
            table += [
                {
                    "precision": precision,
                    "starts": count,
                    "one by one, ms per start": float(np.median(times[precision, "alone"])),
                    "together, ms per start": float(np.median(times[precision, "together"])),
                }
                for precision in maps
            ]
    table = pd.DataFrame(table)
    table["speed-up"] = table["one by one, ms per start"] / table["together, ms per start"]
    table.attrs["steps together"] = double.steps_together
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="b", choices=sorted(PROBLEMS))
    parser.add_argument("--points", default="5,10,20")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--precisions", default="single,double", help="comma-separated, of single, double"
    )
    args = parser.parse_args(argv)
    points = tuple(int(value) for value in args.points.split(","))
    precisions = choices(parser, args.precisions, PRECISIONS, "precisions")
    spec = PROBLEMS[args.problem]
    print(f"Problem ({args.problem}): " + ", ".join(f"{k}={v:,}" for k, v in spec.items()))
    table = screening_steps(args.problem, points, args.repeats, precisions)
    if not table.attrs["steps together"]:
        print("(this problem's map takes its steps one by one: `steps` is the same loop)")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
