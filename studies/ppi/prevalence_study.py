"""Probabilities at a screen's prevalence: the experiment's models on 1:10 test subsamples.

Run from the repository root, pinned to one core:

    taskset -c 1 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python -m studies.ppi.prevalence_study ../shared/data/ppi/martin2005-hpylori

Reruns the experiment (:func:`studies.ppi.run_ppi_experiment`: its settings,
data, folds of both protocols and models) one model at a time (the two
mixtures together: they share their tuning search), cheapest first, and keeps
what :mod:`studies.ppi.prevalence` makes of each model's test predictions:
every test fold subsampled to 1:10 and scored without correction, corrected
to the true prevalence, and corrected to the prevalence EM estimates from
the unlabelled probabilities. Rows go to ``prevalence_study_<set>.csv``
beside this script, with the commit; a rerun keeps the models already there
and fits only the others (a run cut short keeps what it finished).
``--models`` restricts a run; ``--quick`` runs the experiment's smoke-test
settings (``PPIConfig.quick``), to ``--out``. Future runs of ``python -m
studies ppi`` write the same rows to ``prevalence.csv``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from moelogit.datasets.ppi import load_ppi

from studies.ppi import MODELS, PPIConfig, run_ppi_experiment
from studies.ppi.prevalence import screen_markdown
from studies.version import code_version

HERE = Path(__file__).parent
#: The experiment's models in the order this study fits them: cheapest first
#: (fold seconds of the experiment's runs), the two mixtures in one run.
ORDER = [("logreg",), ("mlp",), ("svm",), ("forest",), ("moe-dsc", "moe-bic"), ("boosting",)]


def study(folder, config, models, out) -> pd.DataFrame:
    """Rows of ``models`` (those missing from ``out``) added to ``out``; all of its rows returned."""
    data = load_ppi(folder)
    rows = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["model"])
    for group in ORDER:
        names = tuple(name for name in group if name in models and name not in set(rows["model"]))
        if not names:
            continue
        started = time.perf_counter()
        results = run_ppi_experiment(data, replace(config, models=names), n_jobs=1, progress=False)
        seconds = time.perf_counter() - started
        new = results["prevalence"].assign(
            commit=code_version(":/src", ":/studies/*.py"), run_seconds=seconds
        )
        rows = pd.concat([rows, new], ignore_index=True) if len(rows) else new
        rows.to_csv(out, index=False)
        print(f"{', '.join(names)}: {seconds:.0f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--quick", action="store_true", help="the smoke-test settings")
    parser.add_argument("--out", type=Path, help="the CSV (default: beside this script)")
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",")]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.quick and args.out is None:
        parser.error("--quick needs --out: its rows are no results to keep beside the script")
    out = args.out or HERE / f"prevalence_study_{Path(args.folder).name}.csv"
    config = PPIConfig.quick() if args.quick else PPIConfig()
    rows = study(args.folder, config, models, out)
    print(screen_markdown(rows))


if __name__ == "__main__":
    main()
