"""One outer fold of the PPI experiment: every model tuned by inner folds, refitted, scored."""

from __future__ import annotations

import time
import warnings

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from moelogit import SeparationWarning
from moelogit.metrics import binary_metrics

from .folds import inner_protein_folds
from .models import MODELS, build_model, classifier_step, prefixed_params, step_params

__all__ = ["evaluate_fold", "tuned_fit"]


def tuned_fit(name, config, X, y, pairs=None, searched=None):
    """Fit the model on (X, y), its grid searched on a subsample of at most tune_rows.

    With ``pairs`` (the protein-disjoint protocol) the inner folds are
    protein-disjoint too (:func:`inner_protein_folds`); without, stratified
    over pairs. The grid is searched on the model with the spec's
    ``tune_as`` parameters, the chosen point then fitted without them, its
    ``mean_scaled`` parameters rescaled to the training pairs.
    ``searched`` (a dict) keeps the results of searches by proxy and grid,
    so that models with the same proxy (``moe-dsc`` and ``moe-bic``) share
    one search.

    Returns
    -------
    model, chosen, fitted, seconds
        The fitted model; the grid point chosen by the search and the point
        fitted (they differ in the ``mean_scaled`` parameters); the seconds
        of the search (shared searches count for every model that uses
        them) and the fit.
    """
    spec = MODELS[name]
    model, grid = build_model(name, config)
    chosen, fitted, search_seconds = {}, {}, 0.0
    if grid:
        proxy = clone(model).set_params(**prefixed_params(spec.tune_as or {}, model))
        key = (joblib.hash(proxy), repr(grid))
        searched = {} if searched is None else searched
        if key not in searched:
            started = time.perf_counter()
            best, inner_rows = _search(proxy, grid, config, X, y, pairs)
            searched[key] = (best, inner_rows, time.perf_counter() - started)
        chosen, inner_rows, search_seconds = searched[key]
        scale = inner_rows / len(y)
        fitted = {
            param: value * scale if param.split("__")[-1] in spec.mean_scaled else value
            for param, value in chosen.items()
        }
        model = clone(model).set_params(**fitted)
    started = time.perf_counter()
    model.fit(X, y)
    return model, chosen, fitted, search_seconds + time.perf_counter() - started


def _search(proxy, grid, config, X, y, pairs):
    """Search ``grid`` for ``proxy`` by log loss on inner folds of at most tune_rows pairs.

    Returns the best grid point and the mean number of pairs the inner
    folds trained on.
    """
    rows = np.arange(len(y))
    if len(y) > config.tune_rows:
        rows, _ = train_test_split(
            rows, train_size=config.tune_rows, stratify=y, random_state=config.seed
        )
    if pairs is None:
        splitter = StratifiedKFold(config.inner_splits, shuffle=True, random_state=config.seed)
        inner = list(splitter.split(rows, y[rows]))
    else:
        inner = inner_protein_folds(pairs[rows], y[rows], config.inner_splits, config.seed)
    search = GridSearchCV(
        proxy, grid, scoring="neg_log_loss", cv=inner, refit=False, error_score="raise"
    )
    best = search.fit(X[rows], y[rows]).best_params_
    return best, float(np.mean([len(train) for train, _ in inner]))


def evaluate_fold(protocol, fold, names, config, X, y, train, test, pairs=None):
    """Tune, fit and score the models ``names`` on one outer fold.

    Every model is tuned by inner folds of at most ``config.tune_rows`` of
    its training pairs (protein-disjoint folds when ``protocol ==
    "proteins"``, which needs ``pairs``), refitted on all of them and scored
    on the test pairs. Fits run with one BLAS/OpenMP thread: parallelism
    comes from running folds side by side.

    Parameters
    ----------
    protocol : {"pairs", "proteins"}
    fold : int
        The fold's number, copied into the results.
    names : tuple of str
        Names in :data:`MODELS`; models tuned by the same proxy share one search.
    config : PPIConfig
    X, y : ndarray
        Features and labels of all pairs (:func:`prepare_data`).
    train, test : ndarray of int
        The fold's rows (:func:`make_folds`).
    pairs : ndarray of str, shape (n, 2), optional
        Protein names of all pairs; needed by the protein-disjoint protocol.

    Returns
    -------
    list of (dict, DataFrame)
        Per model: its row of metrics (with the fold, sizes, seconds, chosen
        and fitted grid points and, for mixtures, the number of experts) and
        its test predictions.
    """
    if protocol == "proteins" and pairs is None:
        raise ValueError("the proteins protocol needs the pairs' protein names (pairs=...)")
    results, searched = [], {}
    inner_pairs = pairs[train] if protocol == "proteins" else None
    for name in names:
        # One BLAS/OpenMP thread per job: the jobs are the parallelism, and
        # nested threads on a loaded 2-core machine made fits 50 times slower.
        with warnings.catch_warnings(), threadpool_limits(1):
            # Inner fits on small subsamples stop at max_iter or separate now
            # and then; the outer metrics judge the result.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", SeparationWarning)
            model, chosen, fitted, seconds = tuned_fit(
                name, config, X[train], y[train], inner_pairs, searched
            )
        proba = model.predict_proba(X[test])[:, list(model.classes_).index(1)]
        clf = classifier_step(model)
        row = {
            "protocol": protocol,
            "fold": fold,
            "model": name,
            "n_train": len(train),
            "n_test": len(test),
            "seconds": seconds,
            "n_experts": getattr(clf, "n_experts_", np.nan),
            "params": str(step_params(fitted)),
            "searched": str(step_params(chosen)),
            **binary_metrics(y[test], proba),
        }
        predictions = pd.DataFrame(
            {
                "protocol": protocol,
                "fold": fold,
                "model": name,
                "pair": test,
                "y": y[test],
                "proba": proba,
            }
        )
        results.append((row, predictions))
    return results
