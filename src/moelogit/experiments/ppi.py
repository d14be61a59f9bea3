"""PPI prediction end to end: evaluation protocols, models, and the experiment runner.

Pair features are computed once for all pairs
(:class:`moelogit.features.PairFeatures` learns nothing from the pairs, so
this leaks nothing); every model is a ``Pipeline`` that starts with
``StandardScaler`` and is tuned by inner cross-validation on the training
fold only (:data:`MODELS`). By default the features are the concatenation
``[a, b]`` and every pipeline is wrapped in
:class:`moelogit.features.SymmetricPairClassifier`: trained on both orders of
every pair, predicting the mean of both orders, so order-invariant without
the information that ``[a + b, |a - b|]`` loses.

Two protocols, the same folds for every model:

* ``"pairs"``: stratified k-fold over pairs. A protein usually appears in
  training and test pairs, which inflates accuracy (Park & Marcotte 2012).
* ``"proteins"``: protein-disjoint group pairs. Proteins are split at random
  into G groups; there is one fold for every pair of groups g <= h (G(G+1)/2
  folds: 15 for G = 5). Fold (g, h) tests the pairs with one protein in g and
  the other in h (both in g when g = h) and trains on the pairs with neither
  protein in g or h. Every pair is tested exactly once, and no test protein
  appears in its fold's training pairs; pairs touching g or h but not tested
  in that fold are used by neither side of it. Training folds hold about
  (1 - 2/G)^2 of the pairs (36% for G = 5) when g != h and (1 - 1/G)^2 (64%)
  when g = h. Models are tuned by protein-disjoint inner folds
  (:func:`inner_protein_folds`).
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._tabular import markdown_table
from ..estimator import MoEClassifier, SeparationWarning
from ..features import PairFeatures, SymmetricPairClassifier
from ..metrics import METRICS, binary_metrics, paired_comparison, reliability_curve

__all__ = [
    "MODELS",
    "PROTOCOLS",
    "SVM_CACHE_MB",
    "ModelSpec",
    "PPIConfig",
    "PreparedData",
    "build_model",
    "classifier_step",
    "compare",
    "evaluate_fold",
    "inner_protein_folds",
    "make_folds",
    "paired_folds",
    "prepare_data",
    "run_ppi_experiment",
    "summarize",
    "write_report",
]

PROTOCOLS = ("pairs", "proteins")


def _pair_folds(labels, n_splits, seed):
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _protein_groups(pairs, n_groups, seed):
    """Group (0 .. n_groups - 1) of both proteins of every pair, proteins assigned at random."""
    proteins, index = np.unique(pairs, return_inverse=True)
    group = np.random.default_rng(seed).permutation(len(proteins)) % n_groups
    return group[index.reshape(pairs.shape)]


def _protein_folds(pairs, n_groups, seed):
    if n_groups < 3:
        raise ValueError(f"the proteins protocol needs at least 3 protein groups, got {n_groups}")
    pair_groups = np.sort(_protein_groups(pairs, n_groups, seed), axis=1)
    folds = []
    for g in range(n_groups):
        for h in range(g, n_groups):
            test = np.flatnonzero((pair_groups[:, 0] == g) & (pair_groups[:, 1] == h))
            train = np.flatnonzero(~np.isin(pair_groups, [g, h]).any(axis=1))
            if len(test):
                folds.append((train, test))
    return folds


def inner_protein_folds(pairs, labels, n_splits=3, seed=0):
    """Protein-disjoint folds for tuning inside a protein-disjoint training fold.

    Proteins are split at random into ``n_splits`` groups; fold g validates
    on the pairs with both proteins in group g and trains on the pairs with
    neither protein in it, so validation proteins are never seen in training,
    as in the outer protocol. (Only about 1/n_splits^2 of the pairs are
    validated per fold: enough to rank grid points, cheaper than the outer
    group-pair scheme.) Folds whose training or validation pairs hold one
    class only are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice([f"p{i}" for i in range(40)], size=(300, 2))
    >>> folds = inner_protein_folds(pairs, rng.integers(0, 2, 300), 3)
    >>> len(folds), all(set(pairs[v].ravel()).isdisjoint(pairs[t].ravel()) for t, v in folds)
    (3, True)
    """
    pairs, labels = np.asarray(pairs), np.asarray(labels)
    inside_groups = _protein_groups(pairs, n_splits, seed)
    folds = []
    for g in range(n_splits):
        inside = inside_groups == g
        validate = np.flatnonzero(inside.all(axis=1))
        train = np.flatnonzero(~inside.any(axis=1))
        if len(np.unique(labels[validate])) == 2 and len(np.unique(labels[train])) == 2:
            folds.append((train, validate))
    if not folds:
        raise ValueError("no protein-disjoint inner fold holds both classes: too few pairs")
    return folds


def make_folds(protocol, pairs, labels, n_splits=5, seed=0):
    """Training and test indices of every fold, and what the protocol leaves out.

    Parameters
    ----------
    protocol : {"pairs", "proteins"}
    pairs : ndarray of str, shape (n, 2)
    labels : ndarray of shape (n,)
    n_splits : int, default=5
        Folds of ``"pairs"``; protein groups G of ``"proteins"`` (at least 3),
        which gives G(G+1)/2 folds (fewer if a pair of groups has no pairs).
    seed : int, default=0

    Returns
    -------
    folds : list of (train, test) index arrays
    report : dict
        ``folds``; ``never_tested``: pairs in no test fold; ``coverage``: the
        share of pairs tested; ``mean_unused_per_fold``: pairs neither in
        training nor test of a fold, on average; ``test_sizes`` and
        ``train_sizes`` per fold.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice([f"p{i}" for i in range(30)], size=(200, 2))
    >>> folds, report = make_folds("proteins", pairs, rng.integers(0, 2, 200), 4)
    >>> report["folds"], report["coverage"]
    (10, 1.0)
    >>> all(set(pairs[te].ravel()).isdisjoint(pairs[tr].ravel()) for tr, te in folds)
    True
    """
    pairs = np.asarray(pairs)
    labels = np.asarray(labels)
    if protocol == "pairs":
        folds = _pair_folds(labels, n_splits, seed)
    elif protocol == "proteins":
        folds = _protein_folds(pairs, n_splits, seed)
    else:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    tested = np.zeros(len(labels), dtype=bool)
    for _, test in folds:
        tested[test] = True
    n = len(labels)
    report = {
        "protocol": protocol,
        "pairs": n,
        "folds": len(folds),
        "never_tested": int(n - tested.sum()),
        "coverage": float(tested.mean()),
        "mean_unused_per_fold": float(np.mean([n - len(tr) - len(te) for tr, te in folds])),
        "test_sizes": [len(te) for _, te in folds],
        "train_sizes": [len(tr) for tr, _ in folds],
    }
    return folds, report


@dataclass(frozen=True)
class PPIConfig:
    """Settings of a PPI experiment; :meth:`quick` gives the smoke-test ones.

    Attributes
    ----------
    descriptors, encoding, max_lag
        Passed to :class:`moelogit.features.PairFeatures`.
    symmetric : bool
        With ``encoding="concat"``, wrap every pipeline in
        :class:`moelogit.features.SymmetricPairClassifier` (trained on both
        orders of every pair, predicting their mean). Ignored by the
        order-invariant encodings.
    n_splits : int
        Outer folds of the pair-level protocol, and protein groups G of the
        protein-disjoint one (G(G+1)/2 folds: 15 for G = 5, 6 for G = 3).
    inner_splits : int
        Folds of the inner grid search.
    tune_rows : int
        The inner grid search runs on at most this many training pairs (a
        stratified subsample); the chosen settings are then refitted on the
        whole training fold. The same budget for every model keeps the run
        within time (an SVM with Platt scaling on 9,000 pairs takes minutes).
    max_experts : int
        Largest number of experts considered by DSC and BIC.
    moe_starts, moe_max_iter : int
        Starts (``n_init``) and iteration cap of every MoE fit.
    models : tuple of str
        Names in :data:`MODELS`.
    subsample : int or None
        Use a stratified random subsample of this many pairs.
    seed : int
    """

    descriptors: tuple = ("aac", "ctriad", "ac")
    encoding: str = "concat"
    max_lag: int = 30
    symmetric: bool = True
    n_splits: int = 5
    inner_splits: int = 3
    tune_rows: int = 2000
    max_experts: int = 4
    moe_starts: int = 2
    moe_max_iter: int = 200
    models: tuple = (
        "moe-dsc",
        "moe-bic",
        "logreg",
        "svm",
        "forest",
        "boosting",
        "mlp",
    )
    subsample: int | None = None
    seed: int = 0

    @classmethod
    def quick(cls, **changes):
        """A smoke test: 1,000 pairs, two descriptors, 3 folds (6 protein-disjoint), three models."""
        settings = {
            "descriptors": ("aac", "ac"),
            "n_splits": 3,
            "tune_rows": 300,
            "max_experts": 3,
            "moe_starts": 1,
            "moe_max_iter": 60,
            "models": ("moe-dsc", "logreg", "boosting"),
            "subsample": 1000,
        }
        return cls(**{**settings, **changes})


def _moe(n_experts, config):
    # On all pair features (1,146 by default): the gate needs directions that
    # neither PCA nor PLS keeps (docs/ppi.md, "What the mixture needs to see"). Fixed curvature: one
    # factorisation of the d x d bound per fit instead of K per iteration.
    # Fewer starts and iterations than the defaults: the folds, the grid and
    # the DSC path or BIC sweep multiply the fits.
    return MoEClassifier(
        n_experts=n_experts,
        max_experts=config.max_experts,
        n_init=config.moe_starts,
        curvature="fixed",
        alpha=1e-2,
        max_iter=config.moe_max_iter,
        random_state=config.seed,
    )


class ModelSpec(NamedTuple):
    """How the experiment builds and tunes one model.

    Attributes
    ----------
    factory : callable
        PPIConfig -> unfitted classifier.
    grid : dict
        Grid on the classifier's parameters (three or four points each),
        searched by the inner folds on at most ``tune_rows`` pairs.
    reduction : None or int
        Principal components in front of the classifier, if any.
    tune_as : dict
        Parameters set on the classifier while its grid is searched: a
        cheaper proxy (the MoE's ridge is tuned with 2 experts, not with the
        whole DSC path or BIC sweep per grid point and inner fold).
    mean_scaled : tuple of str
        Grid parameters that weigh a penalty against the *mean* loss: the
        MoE's ``alpha``, and the MLP's (its adam steps divide the penalty by
        the size of a mini-batch of 200, not by the number of rows). The
        point chosen on the inner training folds is multiplied by (inner
        training pairs) / (training pairs) before the refit, so that the
        penalty keeps its weight against the *summed* loss, as ``C`` of the
        logistic regression and of the SVM does by its definition. Without
        it, a ridge tuned on the inner folds (at most 2/3 of the 2,000-pair
        tuning subsample at pair level, 4/9 protein-disjoint) would be
        applied unchanged to training folds 1.7 to 6.7 times larger.
    """

    factory: Callable
    grid: dict
    reduction: int | None = None
    tune_as: dict | None = None
    mean_scaled: tuple = ()


#: The MoE's ridge, at the size of the inner training folds (rescaled for the
#: refit, see ``ModelSpec.mean_scaled``). Widened twice on Martin's set: 0.1,
#: the largest point of a first grid {1e-2, 1e-1}, was chosen in every fold,
#: then 1 in most folds (below).
_MOE_GRID = {"alpha": [1e-2, 1e-1, 1.0, 10.0]}

#: Kernel cache of the SVM, in MB (scikit-learn's default: 200).
SVM_CACHE_MB = 2000

#: name -> ModelSpec. The SVM gets 100 principal components: its kernel cost grows
#: with the dimension and Platt scaling refits it five times. Every grid was
#: widened by one point on the side where the search chose its edge in most
#: folds of a run on Martin's set (commit b882ece; docs/ppi.md): MoE ridge 10,
#: logreg C 1e-4, SVM C 100, forest leaves of 20, boosting rate 0.02, MLP alpha 1.
MODELS = {
    "moe-dsc": ModelSpec(lambda c: _moe("dsc", c), _MOE_GRID, None, {"n_experts": 2}, ("alpha",)),
    "moe-bic": ModelSpec(lambda c: _moe("bic", c), _MOE_GRID, None, {"n_experts": 2}, ("alpha",)),
    "logreg": ModelSpec(
        lambda c: LogisticRegression(max_iter=2000), {"C": [1e-4, 1e-3, 1e-2, 1e-1]}
    ),
    "svm": ModelSpec(
        # Platt scaling: a sigmoid on 5-fold cross-validated decision values,
        # as SVC(probability=True) did before scikit-learn 1.9 deprecated it.
        # A kernel cache of up to 2 GB (libsvm allocates it as it fills) holds
        # the whole kernel of a Guo training fold (17,862 rows, both orders):
        # a fit took 34 s instead of 114 s with the default 200 MB, with the
        # same decision values to the bit.
        lambda c: CalibratedClassifierCV(
            SVC(cache_size=SVM_CACHE_MB), method="sigmoid", cv=5, ensemble=False
        ),
        {"estimator__C": [1.0, 10.0, 100.0]},
        100,
    ),
    "forest": ModelSpec(
        lambda c: RandomForestClassifier(n_estimators=200, random_state=c.seed),
        {"min_samples_leaf": [1, 5, 20]},
    ),
    "boosting": ModelSpec(
        lambda c: HistGradientBoostingClassifier(
            max_iter=200, early_stopping=True, random_state=c.seed
        ),
        {"learning_rate": [0.02, 0.05, 0.15]},
    ),
    "mlp": ModelSpec(
        lambda c: MLPClassifier(
            hidden_layer_sizes=(128,), early_stopping=True, max_iter=300, random_state=c.seed
        ),
        {"alpha": [1e-3, 1e-1, 1.0]},
        mean_scaled=("alpha",),
    ),
}


def _step_params(params):
    """Grid parameters without the pipeline prefixes (``estimator__clf__alpha`` -> ``alpha``)."""
    return {key.split("clf__")[-1]: value for key, value in params.items()}


def _prefixed(params, model):
    """``params`` of the ``clf`` step as parameter names of ``model`` (wrapped or not)."""
    prefix = "estimator__clf__" if isinstance(model, SymmetricPairClassifier) else "clf__"
    return {f"{prefix}{key}": value for key, value in params.items()}


def build_model(name, config, params=None):
    """The model (a pipeline, wrapped if symmetric) and its grid on the ``clf`` step.

    ``params`` (a dict on the ``clf`` step, names without prefixes, as in
    the ``params`` column of the experiment's fold rows) are set on the model.

    Examples
    --------
    >>> model, grid = build_model("logreg", PPIConfig())
    >>> type(model).__name__, [step for step, _ in model.estimator.steps], list(grid)
    ('SymmetricPairClassifier', ['scale', 'clf'], ['estimator__clf__C'])
    >>> model, grid = build_model("svm", PPIConfig(encoding="sum-absdiff"))
    >>> [step for step, _ in model.steps], grid
    (['scale', 'pca', 'clf'], {'clf__estimator__C': [1.0, 10.0, 100.0]})
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(MODELS)}")
    spec = MODELS[name]
    steps = [("scale", StandardScaler())]
    if spec.reduction is not None:
        steps.append(("pca", PCA(spec.reduction, random_state=config.seed)))
    steps.append(("clf", spec.factory(config)))
    model = Pipeline(steps)
    if config.symmetric and config.encoding == "concat":
        model = SymmetricPairClassifier(model)
    if params:
        model.set_params(**_prefixed(params, model))
    return model, _prefixed(spec.grid, model)


def _pipeline(model):
    """The fitted pipeline of a model from :func:`build_model` (unwrapped)."""
    return model.estimator_ if isinstance(model, SymmetricPairClassifier) else model


def classifier_step(model):
    """The fitted classifier (the ``clf`` step) of a model from :func:`build_model`."""
    return _pipeline(model).named_steps["clf"]


def _tuned_fit(name, config, X, y, pairs=None, searched=None):
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
        proxy = clone(model).set_params(**_prefixed(spec.tune_as or {}, model))
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
            model, chosen, fitted, seconds = _tuned_fit(
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
            "params": str(_step_params(fitted)),
            "searched": str(_step_params(chosen)),
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


def _code_digest(package):
    """Digest of the ``*.py`` files under ``package`` and of the versions of what they run on."""
    from importlib.metadata import version

    files = sorted(Path(package).rglob("*.py"))
    sources = [(str(path.relative_to(package)), path.read_bytes()) for path in files]
    libraries = ["numpy", "scipy", "scikit-learn", "pandas", "joblib", "threadpoolctl"]
    return joblib.hash((sources, sys.version, [version(name) for name in libraries]))


#: The code this process imported (read at import, not when a run starts):
#: part of every cached fold job's key.
_CODE = _code_digest(Path(__file__).resolve().parents[1])


def _fold_job(job_key, protocol, fold, names, config, X, y, train, test, pairs):
    """:func:`evaluate_fold` as cached: only ``job_key`` (:func:`_job_key`) identifies the job."""
    if job_key[1] != _CODE:
        raise RuntimeError(
            "moelogit's code changed while the experiment ran; rerun it to use the new code"
        )
    return evaluate_fold(protocol, fold, names, config, X, y, train, test, pairs)


def _job_key(data_key, protocol, fold, names, config, train, test):
    """What decides a fold job's result: data, fold, models, the settings that reach them, code.

    ``config.models`` and ``config.subsample`` are left out: the job's own
    models are ``names`` and the subsample is part of the data, so adding a
    model to a run reuses the jobs of the others.
    """
    settings = replace(config, models=(), subsample=None)
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
    return {
        "folds": pd.DataFrame(rows).sort_values(order, ignore_index=True),
        "predictions": pd.concat(predictions, ignore_index=True),
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


def summarize(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds of every metric, per protocol and model."""
    columns = [*METRICS, "seconds", "n_experts"]
    table = folds.groupby(["protocol", "model"], sort=False)[columns].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()


def compare(folds: pd.DataFrame, moe="moe-dsc") -> pd.DataFrame:
    """The MoE against the best other model on every metric, fold by fold.

    The best other model is the one with the best mean on that metric (the
    other MoE excluded). Differences are ``moe - best``; the
    interval and p-value use the Nadeau-Bengio corrected paired t-test
    (:func:`moelogit.metrics.paired_comparison`).
    """
    rows = []
    for protocol, part in folds.groupby("protocol", sort=False):
        others = part[~part["model"].str.startswith("moe")]
        if others.empty or moe not in set(part["model"]):
            continue
        test_fraction = float((part["n_test"] / part["n_train"]).mean())
        mine = part[part["model"] == moe].sort_values("fold")
        for metric, higher_better in METRICS.items():
            means = others.groupby("model")[metric].mean()
            best = means.idxmax() if higher_better else means.idxmin()
            theirs = others[others["model"] == best].sort_values("fold")
            result = paired_comparison(mine[metric], theirs[metric], test_fraction)
            rows.append({"protocol": protocol, "metric": metric, "best_other": best, **result})
    # The columns even without rows (no MoE, or no other model, in the run).
    columns = ["protocol", "metric", "best_other", "mean", "low", "high", "p_value", "n"]
    return pd.DataFrame(rows, columns=columns)


def paired_folds(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> dict:
    """``a - b`` on ``metric``, fold by fold, for two runs on the same folds.

    ``a`` and ``b`` hold one row per fold (columns ``fold``, ``n_train``,
    ``n_test`` and ``metric``), as the experiment's fold rows of one
    protocol and model do. The test is
    :func:`moelogit.metrics.paired_comparison` with the folds' mean test
    fraction, as in :func:`compare`.

    Raises
    ------
    ValueError
        If the two runs' folds differ (numbers or sizes).

    Examples
    --------
    >>> a = pd.DataFrame({"fold": [0, 1, 2], "n_train": 80, "n_test": 20, "acc": [0.8, 0.7, 0.9]})
    >>> b = a.assign(acc=[0.7, 0.7, 0.8])
    >>> round(paired_folds(a, b, "acc")["mean"], 4)
    0.0667
    """
    a, b = a.set_index("fold").sort_index(), b.set_index("fold").sort_index()
    sizes = ["n_train", "n_test"]
    if not (a.index.equals(b.index) and (a[sizes] == b[sizes]).all(axis=None)):
        raise ValueError("the two runs were not made on the same folds")
    test_fraction = float((a["n_test"] / a["n_train"]).mean())
    return paired_comparison(a[metric], b[metric], test_fraction)


def _curve_styles(models):
    """Line style per model: ``moe-dsc`` bold in C3, the others thin, each in a colour of its own.

    Colours and legend order follow :data:`MODELS` (unknown names last), not
    the order in which fold jobs finished, so every figure of every run
    draws a model alike.

    >>> styles = _curve_styles(["forest", "moe-dsc", "logreg"])
    >>> list(styles), styles["moe-dsc"]["color"], styles["logreg"]["color"]
    (['moe-dsc', 'logreg', 'forest'], 'C3', 'C1')
    """
    wanted = set(models)
    known = list(MODELS) + sorted(wanted - set(MODELS))
    others = (f"C{i}" for i in itertools.count() if i != 3)
    styles = {}
    for name in known:
        if name == "moe-dsc":
            styles[name] = {"color": "C3", "lw": 2.2}
        else:
            styles[name] = {"color": next(others), "lw": 1, "alpha": 0.8}
    return {name: style for name, style in styles.items() if name in wanted}


def plot_reliability(predictions: pd.DataFrame, path, n_bins=15):
    """Reliability diagrams, one panel per protocol: test predictions pooled over folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = list(dict.fromkeys(predictions["protocol"]))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 4.6), squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        part = predictions[predictions["protocol"] == protocol]
        for model, style in _curve_styles(part["model"].unique()).items():
            rows = part[part["model"] == model]
            mean, frequency, counts = reliability_curve(rows["y"], rows["proba"], n_bins)
            used = counts > 0
            ax.plot(mean[used], frequency[used], marker="o", ms=3, label=model, **style)
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability")
        ax.set(ylabel="observed frequency of interaction", title=f"protocol: {protocol}")
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def explain_final_model(results, path_dendrogram, top=5):
    """Fit ``moe-dsc`` on all pairs (tuned as in the folds); draw its dendrogram, describe its experts.

    The gate is linear in the standardised pair features: the features with
    the largest gate weights are those that move a pair towards an expert
    (relative to the last, reference expert).

    Returns
    -------
    model : Pipeline
    params : dict
        The parameters fitted: the grid point chosen by the inner folds,
        rescaled as in the folds (``ModelSpec.mean_scaled``).
    experts : DataFrame
        Per expert: mean gate weight, share of pairs it dominates, the rate
        of interacting pairs among them, the expert's accuracy on them, and
        the features that drive the gate most.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import plot_dendrogram

    config, X, y = results["config"], results["X"], results["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SeparationWarning)  # proxies on small tuning folds
        model, _, params, _ = _tuned_fit("moe-dsc", config, X, y)
    pipeline = _pipeline(model)
    moe = pipeline.named_steps["clf"]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_dendrogram(moe.selection_, ax=ax)
    fig.tight_layout()
    fig.savefig(path_dendrogram, dpi=120)
    plt.close(fig)

    Z = pipeline[:-1].transform(X)
    gate = moe.gate_proba(Z)
    dominant = gate.argmax(axis=1)
    names = results["features"].get_feature_names_out()
    loadings = moe.gate_coef_  # (K, n_features), on the standardised pair features
    positive = moe.params_.expert_proba(Z)[:, :, list(moe.classes_).index(1)]  # (n, K)
    rows = []
    for k in range(moe.n_experts_):
        mine = dominant == k
        drivers = "reference expert"
        if k < moe.n_experts_ - 1:
            order = np.argsort(-np.abs(loadings[k]))[:top]
            drivers = ", ".join(f"{names[j]} ({loadings[k, j]:+.2f})" for j in order)
        rows.append(
            {
                "expert": k + 1,
                "mean_gate_weight": gate[:, k].mean(),
                "share_dominated": mine.mean(),
                "interacting_rate": y[mine].mean() if mine.any() else np.nan,
                "expert_accuracy": (
                    np.mean((positive[mine, k] >= 0.5) == y[mine]) if mine.any() else np.nan
                ),
                "gate_drivers": drivers,
            }
        )
    return model, params, pd.DataFrame(rows)


def _markdown_table(summary: pd.DataFrame, comparison: pd.DataFrame) -> str:
    """Results as Markdown: mean ± sd per protocol and model, then the paired comparisons."""
    lines = []
    for protocol, part in summary.groupby("protocol", sort=False):
        lines += [f"### Protocol: {protocol}", ""]
        header = ["model", *METRICS, "seconds/fit", "experts"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, row in part.iterrows():
            cells = [row["model"]]
            cells += [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}" for m in METRICS]
            cells.append(f"{row['seconds_mean']:.1f}")
            experts = row["n_experts_mean"]
            cells.append("" if np.isnan(experts) else f"{experts:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        rows = comparison[comparison["protocol"] == protocol]
        if len(rows):
            lines += [
                (
                    "moe-dsc minus the best other model on each metric (95% interval and p-value of "
                    "the corrected paired t-test over folds):"
                ),
                "",
                "| metric | best other | difference | 95% interval | p |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {r.metric} | {r.best_other} | {r.mean:+.3f} | [{r.low:+.3f}, {r.high:+.3f}] "
                f"| {r.p_value:.3f} |"
                for r in rows.itertuples()
            ]
            lines.append("")
    return "\n".join(lines)


def write_report(results, out_dir, *, data_report=None, explain=True):
    """Write the tables, the predictions and the figures of a run to ``out_dir``.

    Files: ``results.md``, ``summary.csv``, ``folds.csv``,
    ``comparison.csv``, ``predictions.csv``, ``reliability.png``, and with
    ``explain`` ``dendrogram.png`` and ``experts.csv`` (the final
    ``moe-dsc`` model fitted on all pairs).

    Returns
    -------
    str
        The Markdown text of ``results.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folds = results["folds"]
    summary = summarize(folds)
    comparison = compare(folds)
    folds.to_csv(out / "folds.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    comparison.to_csv(out / "comparison.csv", index=False)
    results["predictions"].to_csv(out / "predictions.csv", index=False)
    plot_reliability(results["predictions"], out / "reliability.png")
    config = results["config"]
    text = [
        "# PPI experiment",
        "",
        f"Configuration: `{config}`",
        "",
        (
            f"Pairs: {len(results['y'])} ({int(results['y'].sum())} interacting); "
            f"{results['X'].shape[1]} pair features computed in {results['feature_seconds']:.1f} s."
        ),
    ]
    if data_report:
        text.append(f"Data: {data_report}")
    if results.get("reused_jobs"):
        text.append(
            f"Resumed: {results['reused_jobs']} of {results['jobs']} fold jobs were finished by an "
            "earlier run with the same data, settings and code (their seconds are that run's)."
        )
    text.append("")
    for report in results["protocols"]:
        text.append(
            f"- protocol {report['protocol']}: {report['folds']} folds, test folds of "
            f"{report['test_sizes']} pairs, training folds of {report['train_sizes']}; "
            f"{report['coverage']:.0%} of the pairs tested ({report['never_tested']} pairs never "
            f"tested), {report['mean_unused_per_fold']:.0f} pairs per fold used by neither side."
        )
    text += ["", _markdown_table(summary, comparison), "![reliability](reliability.png)", ""]
    if explain and "moe-dsc" in config.models:
        model, params, experts = explain_final_model(results, out / "dendrogram.png")
        experts.to_csv(out / "experts.csv", index=False)
        moe = classifier_step(model)
        fitted = _step_params(params)
        text += [
            (
                f"## Final moe-dsc model (all pairs, {fitted}): {moe.n_experts_} "
                f"expert{'' if moe.n_experts_ == 1 else 's'}"
            ),
            "",
            markdown_table(experts),
            "",
            "![dendrogram](dendrogram.png)",
            "",
        ]
    markdown = "\n".join(text)
    (out / "results.md").write_text(markdown)
    return markdown
