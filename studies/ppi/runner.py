"""The PPI experiment's runner: shared data and folds, fold jobs in parallel, resumable.

Pair features are computed once for all pairs
(:class:`moelogit.features.PairFeatures` learns nothing from the pairs, so
this leaks nothing); every model is tuned by inner cross-validation on the
training fold only (:mod:`studies.ppi.evaluation`), under both protocols of
:mod:`studies.ppi.folds` with the same folds.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

import moelogit
from moelogit.features import PairFeatures

from .config import PPIConfig
from .evaluation import evaluate_fold
from .folds import PROTOCOLS, make_folds
from .models import MODELS
from .prevalence import score_screens

__all__ = ["PreparedData", "prepare_data", "run_ppi_experiment"]


def _code_digest(*folders):
    """Digest of the ``*.py`` files under ``folders`` and of the versions of what they run on."""
    from importlib.metadata import version

    sources = [
        (folder.name, str(path.relative_to(folder)), path.read_bytes())
        for folder in map(Path, folders)
        for path in sorted(folder.rglob("*.py"))
    ]
    libraries = ["numpy", "scipy", "scikit-learn", "pandas", "joblib", "threadpoolctl"]
    return joblib.hash((sources, sys.version, [version(name) for name in libraries]))


#: The code this process imported (read at import, not when a run starts):
#: part of every cached fold job's key. The library and this folder, the
#: experiment's modules with the study scripts beside them (an edited script
#: only makes the cached jobs look older than they are).
_CODE = _code_digest(Path(moelogit.__file__).resolve().parent, Path(__file__).resolve().parent)


def _fold_job(job_key, protocol, fold, names, config, X, y, train, test, pairs):
    """:func:`evaluate_fold` as cached: only ``job_key`` (:func:`_job_key`) identifies the job."""
    if job_key[1] != _CODE:
        raise RuntimeError(
            "moelogit's or this experiment's code changed while the experiment ran; rerun it "
            "to use the new code"
        )
    return evaluate_fold(protocol, fold, names, config, X, y, train, test, pairs)


def _job_key(data_key, protocol, fold, names, config, train, test):
    """What decides a fold job's result: data, fold, models, the settings that reach them, code.

    ``config.models`` and ``config.subsample`` are left out: the job's own
    models are ``names`` and the subsample is part of the data, so adding a
    model to a run reuses the jobs of the others. So is
    ``config.screen_boot``, used on the jobs' predictions afterwards.
    """
    settings = replace(config, models=(), subsample=None, screen_boot=0)
    return (joblib.hash((data_key, protocol, fold, names, settings, train, test)), _CODE)


def _job_groups(models):
    """Models fitted in one job: those tuned by a proxy together (they share its search)."""
    proxied = tuple(name for name in models if MODELS[name].tune_as)
    return ([proxied] if proxied else []) + [(n,) for n in models if not MODELS[n].tune_as]


def _subsample(data, config):
    if config.subsample is None or config.subsample >= len(data.labels):
        return data.pairs, data.labels
    rows, _ = train_test_split(
        np.arange(len(data.labels)),
        train_size=config.subsample,
        stratify=data.labels,
        random_state=config.seed,
    )
    rows = np.sort(rows)
    return data.pairs[rows], data.labels[rows]


class PreparedData(NamedTuple):
    """What every fold of an experiment shares (:func:`prepare_data`).

    Attributes
    ----------
    pairs : ndarray of str, shape (n, 2)
        Protein names of the pairs used (after ``config.subsample``).
    y : ndarray of shape (n,)
        Their labels.
    X : ndarray of shape (n, n_features)
        Their features.
    features : PairFeatures
        The fitted transformer that made ``X``.
    feature_seconds : float
        Time taken to compute ``X``.
    folds : dict
        Protocol name -> list of (train, test) index arrays (:func:`make_folds`).
    reports : list of dict
        :func:`make_folds`' report of every protocol, in :data:`PROTOCOLS` order.
    """

    pairs: np.ndarray
    y: np.ndarray
    X: np.ndarray
    features: PairFeatures
    feature_seconds: float
    folds: dict
    reports: list


def prepare_data(data, config=None):
    """Pairs, labels, features and the folds of both protocols, as the experiment uses them.

    Studies that rerun parts of the experiment start from here, so that they
    see the same pairs, features and folds as :func:`run_ppi_experiment`.

    Parameters
    ----------
    data : moelogit.datasets.ppi.PPIDataset
    config : PPIConfig, optional

    Returns
    -------
    PreparedData

    Examples
    --------
    >>> from moelogit.datasets.ppi import PPIDataset
    >>> rng = np.random.default_rng(0)
    >>> names = [f"p{i}" for i in range(30)]
    >>> sequences = {name: "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 40)) for name in names}
    >>> data = PPIDataset(rng.choice(names, size=(120, 2)), rng.integers(0, 2, 120), sequences)
    >>> prepared = prepare_data(data, PPIConfig.quick(subsample=None, descriptors=("aac",)))
    >>> prepared.X.shape, {protocol: len(folds) for protocol, folds in prepared.folds.items()}
    ((120, 40), {'pairs': 3, 'proteins': 6})
    """
    config = config or PPIConfig()
    pairs, y = _subsample(data, config)
    features = PairFeatures(data.sequences, config.descriptors, config.encoding, config.max_lag)
    started = time.perf_counter()
    X = features.fit_transform(pairs)
    feature_seconds = time.perf_counter() - started
    folds, reports = {}, []
    for protocol in PROTOCOLS:
        folds[protocol], report = make_folds(protocol, pairs, y, config.n_splits, config.seed)
        reports.append(report)
    return PreparedData(pairs, y, X, features, feature_seconds, folds, reports)


def run_ppi_experiment(data, config=None, *, n_jobs=2, progress=True, cache_dir=None):
    """Evaluate every model under both protocols with the same folds.

    Parameters
    ----------
    data : moelogit.datasets.ppi.PPIDataset
    config : PPIConfig, optional
    n_jobs : int, default=2
        Parallel (protocol, fold, model) jobs (joblib).
    progress : bool, default=True
        A tqdm progress bar over the jobs.
    cache_dir : path, optional
        Keep every finished fold job here (``joblib.Memory``) and reuse
        those a run with the same data, settings and code finished before:
        an interrupted run resumes where it stopped. Any change to the
        package's code or to the libraries' versions starts afresh
        (:func:`_job_key`).

    Returns
    -------
    dict
        ``folds`` (DataFrame: one row per protocol, fold and model, with the
        metrics), ``predictions`` (DataFrame: test predictions),
        ``prevalence`` (DataFrame: every fold's 1:10 screen subsample scored
        with and without the prior-shift correction,
        :func:`~studies.ppi.prevalence.score_screens`),
        ``protocols`` (the reports of :func:`make_folds`), ``X``, ``y``,
        ``pairs`` and ``features`` (the fitted PairFeatures), ``config``,
        ``feature_seconds``, ``reused_jobs`` (fold jobs taken from
        ``cache_dir``) and ``jobs``.
    """
    config = config or PPIConfig()
    prepared = prepare_data(data, config)
    X, y, pairs = prepared.X, prepared.y, prepared.pairs
    jobs = [
        (protocol, fold, names, train, test)
        for protocol, folds in prepared.folds.items()
        for fold, (train, test) in enumerate(folds)
        for names in _job_groups(config.models)
    ]
    # The slowest models first, so that the workers finish together.
    jobs.sort(key=lambda job: not {"svm", "moe-bic", "moe-dsc"} & set(job[2]))
    ignore = ["protocol", "fold", "names", "config", "X", "y", "train", "test", "pairs"]
    # One folder per code version: joblib clears a function's cache when its
    # code changes, which would wipe the jobs of a run of other code.
    location = None if cache_dir is None else Path(cache_dir) / _CODE[:12]
    fold_job = joblib.Memory(location, verbose=0).cache(_fold_job, ignore=ignore)
    data_key = joblib.hash((X, y, pairs)) if cache_dir is not None else None
    arguments = [
        (_job_key(data_key, *job[:3], config, *job[3:]), *job[:3], config, X, y, *job[3:], pairs)
        for job in jobs
    ]
    reused = sum(fold_job.check_call_in_cache(*args) for args in arguments)
    if reused and progress:
        tqdm.write(f"Reusing {reused} of {len(jobs)} finished fold jobs from {cache_dir}.")
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    results = runner(delayed(fold_job)(*args) for args in arguments)
    rows, predictions = [], []
    for fitted in tqdm(results, total=len(jobs), disable=not progress, desc="fold jobs"):
        for row, prediction in fitted:
            rows.append(row)
            predictions.append(prediction)
    order = ["protocol", "model", "fold"]
    predictions = pd.concat(predictions, ignore_index=True).sort_values(order, kind="stable")
    return {
        "folds": pd.DataFrame(rows).sort_values(order, ignore_index=True),
        "predictions": predictions.reset_index(drop=True),
        "prevalence": score_screens(
            predictions, y, prepared.folds, config.seed, config.screen_boot
        ),
        "protocols": prepared.reports,
        "X": X,
        "y": y,
        "pairs": pairs,
        "features": prepared.features,
        "config": config,
        "feature_seconds": prepared.feature_seconds,
        "reused_jobs": reused,
        "jobs": len(jobs),
    }
