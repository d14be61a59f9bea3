"""MoEClassifier: the scikit-learn estimator around the MM solver."""

from __future__ import annotations

import functools
import numbers
import time
import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, check_scalar, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._entry_points import call
from ._progress import Counter, progress, say
from .chunked import is_dask_collection
from .design import design_blocks, design_matrix, standardization
from .engine import PRECISIONS, SOLVERS, FitListener, Strategy, fit_multistart
from .inference import (
    CoefficientSummary,
    class_proba_gradients,
    parameter_covariance,
    proba_intervals,
    standardisation_map,
)
from .init import INITS
from .mm import CURVATURES
from .model import Dims, Support, pack, row_slices, rows_per_block, unpack
from .newton import MAX_PARAMETERS
from .params import MoEParams
from .prior import check_prior, shift_log_proba

__all__ = [
    "SELECTION_METHODS",
    "FitRecord",
    "MoEClassifier",
    "SeparationWarning",
    "TrainingFacts",
    "classifier_with",
    "design_matrix",
    "fitted_classifier",
    "normalised_weights",
    "num_rows",
    "standardization",
]

SELECTION_METHODS = ("dsc", "aic", "bic", "icl")


class SeparationWarning(UserWarning):
    """The training data appear perfectly separated by the fitted model."""


@dataclass(frozen=True)
class TrainingFacts:
    """What a fit learned about its training data besides the parameters.

    Each field ``f`` is the fitted attribute ``f_`` of :class:`MoEClassifier`.
    """

    classes: np.ndarray
    n_features_in: int
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    n_design_columns: int
    feature_names_in: np.ndarray | None = None
    #: Weighted class frequencies of the training data, in ``classes`` order;
    #: None for a model loaded from a file written before it was recorded.
    class_prior: np.ndarray | None = None
    #: The features whose slopes the gate and the experts estimated
    #: (``gate_features`` and ``expert_features`` among those that vary);
    #: None for a model loaded from a file written before they could differ.
    gate_support: np.ndarray | None = None
    expert_support: np.ndarray | None = None


@dataclass(frozen=True)
class FitRecord:
    """How the parameters were found; the defaults describe parameters given, not fitted.

    Each field ``f`` is the fitted attribute ``f_`` of :class:`MoEClassifier`.
    """

    n_iter: int = 0
    n_newton_iter: int = 0
    converged: bool = False
    loglik_trace: np.ndarray = field(default_factory=lambda: np.empty(0))
    objective: float = np.nan
    perfectly_separated: bool = False
    fit_time: float = 0.0


def fitted_classifier(
    settings: MoEClassifier,
    params: MoEParams,
    facts: TrainingFacts,
    record: FitRecord | None = None,
) -> MoEClassifier:
    """``settings`` (an unfitted :class:`MoEClassifier`, changed in place) made to hold ``params``.

    How selection builds the levels of its path and how model files are
    loaded (``record`` None: parameters given, not fitted); ``fit`` sets its
    state the same way.
    """
    return settings._set_fitted(params, facts, FitRecord() if record is None else record)


def classifier_with(fitted: MoEClassifier, params: MoEParams) -> MoEClassifier:
    """``fitted``'s settings and training facts holding ``params``, given rather than fitted.

    For example a level of a dendrogram: ``params`` may have another number
    of experts (``init`` reverts to its default, since a warm start in it
    would not match).
    """
    settings = clone(fitted).set_params(n_experts=params.n_experts, init="mixed")
    return fitted_classifier(settings, params, fitted.training_facts_)


class _Talk(FitListener):
    """What ``verbose`` asks to be shown of a fit: progress bars (1), starts (2), iterations (3)."""

    def __init__(self, verbose: int):
        self.verbose, self.n_starts, self.counter = verbose, 0, None

    def loop(self, iterable, total, desc):
        self.n_starts = total
        return progress(iterable, total=total, desc=desc, enabled=self.verbose >= 1)

    def stage_started(self, stage, n_rows, number=None):
        # The run-in and the final run on all rows can take minutes on large data.
        if self.verbose >= 1 and stage in ("finalist", "run-in", "final"):
            self.counter = Counter(f"{stage} on {n_rows:,} rows")

    def iteration(self, stage, iteration, value):
        if self.counter is not None:
            self.counter.update(f", objective {value:.8f}")
        if self.verbose >= 3 and iteration % 10 == 0:
            say(f"  iteration {iteration}: objective {value:.10f}")

    def stage_finished(self, stage, n_rows, result, number=None):
        if self.counter is not None:
            self.counter.close()
            self.counter = None
        if self.verbose < 2:
            return
        done = f"objective {result.objective:.8f} after {result.n_iter} iterations"
        if stage == "screen":
            say(f"start {number}/{self.n_starts}: {done}")
        elif stage == "finalist":
            say(f"finalist (start {number}) on {n_rows} rows: {done}")
        elif stage == "run-in":
            say(f"run in on {n_rows} rows: {done}")
        else:
            say(f"best start: {done} ({'converged' if result.converged else 'not converged'})")


def _numeric_array(X):
    """Reject non-numeric features with a clear error before scikit-learn converts."""
    if hasattr(X, "select_dtypes"):  # a pandas DataFrame
        bad = list(X.select_dtypes(exclude=["number", "bool"]).columns)
        if bad:
            raise TypeError(
                f"X has non-numeric feature columns {bad}; encode them as numbers first "
                "(for example with sklearn.preprocessing.OneHotEncoder)"
            )
        return X
    if sp.issparse(X):
        return X  # scikit-learn's validation explains that sparse input is not supported
    try:
        array = np.asarray(X)
        if array.dtype.kind in "OUSV":
            array = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"X must be a 2-D array of numbers: {exc}") from exc
    return array


def normalised_weights(sample_weight, n_samples: int) -> np.ndarray:
    """Row weights summing to one, with clear errors for bad ``sample_weight``."""
    if sample_weight is None:
        return np.full(n_samples, 1.0 / n_samples)
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sample_weight must be numeric: {exc}") from exc
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {weights.shape}, expected ({n_samples},): "
            "one weight per row of X"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinite values")
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative")
    total = weights.sum()
    if total <= 0:
        raise ValueError("sample_weight sums to zero: no row carries weight")
    return weights / total


@dataclass(frozen=True)
class _RowsInMemory:
    """Validated training rows in memory; :class:`moelogit.dask_data.ChunkedData` is the chunked twin."""

    X: np.ndarray
    codes: np.ndarray
    weights: np.ndarray  # summing to one
    classes: np.ndarray
    names: np.ndarray | None

    @property
    def n_positive(self) -> int:
        return int(np.count_nonzero(self.weights))

    @property
    def class_weights(self) -> np.ndarray:
        return np.bincount(self.codes, weights=self.weights, minlength=self.classes.size)

    def standardization(self, standardize: bool):
        return standardization(self.X, self.weights, standardize=standardize, names=self.names)

    def design(self, mean, scale, used) -> tuple[np.ndarray, None]:
        return design_matrix(self.X, mean, scale, used), None

    def gate_weight(self, params: MoEParams) -> np.ndarray:
        return params.gate_weight(self.X, self.weights)

    def separated(self, params: MoEParams) -> bool:
        """Whether ``params`` classify every row of positive weight correctly."""
        for rows in design_blocks(*self.X.shape):  # by blocks: no n x K x M temporaries
            predicted = np.argmax(params.log_class_proba(self.X[rows]), axis=1)
            kept = self.weights[rows] > 0
            if np.any(predicted[kept] != self.codes[rows][kept]):
                return False
        return True


class MoEClassifier(ClassifierMixin, BaseEstimator):
    """Softmax-gated multinomial-logistic mixture of experts.

    ``p(y | x) = sum_k pi_k(x) eta_k(y | x)``, where the gate ``pi(x)`` and
    every expert ``eta_k(. | x)`` are multinomial logistic models. Fitted by
    maximum likelihood with the batch MM algorithm of Böhning's quadratic
    bound: closed-form updates, monotone ascent of the objective at every
    iteration, one Cholesky factorisation per fit.

    Parameters
    ----------
    n_experts : int or {"dsc", "aic", "bic", "icl"}, default=2
        Number of experts ``K``; ``n_experts=1`` is multinomial logistic
        regression. A method name chooses ``K`` in ``fit`` with
        :func:`moelogit.select_n_experts` (``"dsc"``: one over-fitted fit with
        ``max_experts`` experts and its dendrogram; the others: a sweep over
        ``1 .. max_experts``); the evidence is kept in ``selection_``.
    gate_features, expert_features : list of int or str, or None, default=None
        The features the gate and the experts use: column indices, or names
        of a DataFrame's columns; None for all, an empty list for an
        intercept only. An intercept-only gate is a finite mixture of
        multinomial logistic regressions with constant weights (flexmix
        without a concomitant model); intercept-only experts leave the
        features to the gate. See :doc:`/guide/estimator`.
    max_experts : int, default=6
        Largest number of experts considered when ``n_experts`` names a
        selection method; ignored otherwise.
    max_iter : int, default=1000
        Largest number of iterations of a run: of each start's screening
        (``init_iter`` if fewer), and of the best start's runs in double
        precision after it, on each run-in sample (see ``screen_rows``) and
        on all rows. L-BFGS steps with ``solver="lbfgs"``, SQUAREM cycles of
        three MM steps with ``acceleration``, else MM steps.
    tol : float, default=1e-8
        Stop when the relative change of the objective between iterations
        falls below ``tol``.
    n_init : int, default=20
        Number of starts. Each runs ``init_iter`` iterations; the one with the
        highest objective then runs to convergence. With ``n_experts=1`` (a
        concave problem) one start is used.
    init_iter : int, default=15
        Screening iterations per start: MoE likelihoods have many local
        optima, so many starts are screened briefly and the best one is
        continued. The starts are drawn and screened on a single-precision
        copy of the rows, the best one continued in double precision. See
        :doc:`/guide/fitting`.
    n_finalists : int, default=1
        The starts screened best that run to convergence on the screening
        rows (all rows up to ``screen_rows``); the best of them is
        continued. The ranking after ``init_iter`` iterations is not the
        ranking at convergence, so a few finalists reach the best optimum
        more often, for the price of as many runs on the screening rows
        (:doc:`/guide/fitting` has the measurements).
    screen_rows : int or None, default=10000
        With more rows of positive weight than this, the starts are drawn and
        screened on a random sample of ``screen_rows`` of them. Screening is
        exploration, for which a sample ranks the starts about as well as all
        rows do. The best start then runs to convergence on nested random
        samples ten, a hundred, ... times larger while they hold at most a
        tenth of the data, and finally on all rows. ``None`` fits on all rows
        throughout. :doc:`/performance` has the measurements behind the
        default.
    init : {"mixed", "kmeans", "random"}, MoEParams or list of MoEParams, default="mixed"
        Starting gates: from k-means centres, from random hyperplanes of
        random sharpness (see :mod:`moelogit.init`), or "mixed": the first
        start from k-means, the others random. Each start draws its own seed.
        :class:`moelogit.MoEParams` with ``n_experts`` experts and
        ``n_features_in_`` features (on the user's scale) are warm starts,
        screened like the others when there are several; ``n_init`` is then
        ignored.
    curvature : {"expert", "fixed"}, default="expert"
        Curvature of the quadratic minorizer: the tighter per-expert
        ``S_k = Z^T diag(w tau_k) Z``, refactorised every step, or the fixed
        ``S = Z^T diag(w) Z``, factorised once per fit. The fixed bound
        overstates the curvature of an expert with gate weight ``p_k`` by
        about ``1 / p_k``, so small experts take short steps; a per-expert
        step costs about twice a fixed one. The gate always uses ``S``.
        :doc:`/performance` has the measurements behind the default.
    polish : bool, default=False
        After the MM fit, refine the retained start by safeguarded Newton
        steps (:func:`moelogit.newton.newton_refine`: the exact Hessian,
        damped to stay concave, steps taken only uphill, so ascent stays
        monotone; at most 100 steps) until a full Newton step is shorter
        than ``sqrt(tol)`` relative to the coefficients. MM converges
        linearly and crawls along the flat directions of over-fitted
        likelihoods; use this where the maximiser itself matters
        (simulation studies of estimation error; see :doc:`/rates`). Each
        step costs a Hessian,
        ``O(n q^2 L^2)`` with ``q`` design columns and
        ``L = (K - 1) + K (M - 1)``, and an eigendecomposition of the
        ``P x P`` matrix of all ``P`` parameters (at most
        :data:`moelogit.newton.MAX_PARAMETERS`): meant for small models.
        With ``n_experts`` naming a selection method, every fitted size is
        refined; levels merged without a refit (``path="tree"``) are not.
    solver : {"lbfgs", "mm"}, default="lbfgs"
        How the retained start runs to convergence (the starts are screened
        by ``screen_solver``). ``"lbfgs"``: L-BFGS in the metric of the
        MM map's curvature at the run's start
        (:func:`moelogit.quasi_newton.lbfgs_ascent`), about one evaluation
        of the log-likelihood and gradient per iteration, every iterate
        uphill (Armijo line search), the MM map finishing if the line search
        stalls. ``"mm"``: the MM map, with ``acceleration``. :doc:`/performance`
        compares the two.
    screen_solver : {"mm", "lbfgs"}, default="mm"
        How each start is screened for ``init_iter`` iterations: ``"mm"``,
        SQUAREM cycles of the MM map (three MM steps each); ``"lbfgs"``,
        L-BFGS iterations as for ``solver`` (about one evaluation each, so
        give about twice the ``init_iter``). With ``init_iter=30`` L-BFGS
        screening made fits 0.7-0.8 times as long (benchmark problems b and
        c, problem a's truths) and reached the best optimum more often on simulated truths of
        three experts, but less often on eight experts and 50 features, and
        the DSC picked the true size less often in a cell of the selection
        study, so :func:`moelogit.select_n_experts` screens its path by the
        MM map (``path_screen_solver``); :doc:`/performance` has the
        measurements.
    screen_precision : {"single", "double"}, default="single"
        Precision of the rows the starts are drawn and screened on:
        ``"single"``, a 32-bit copy of them (each row's terms single; the
        sums over rows, the solves and the parameters double), about 0.6
        times the screening's time and as good at ranking the starts on the
        benchmark problems' shapes; ``"double"``, the rows as they are.
        Either way the best start runs on in double precision. Single
        precision is for short screening: over hundreds of iterations it
        ascends more slowly near an optimum, so with a large ``init_iter``
        choose ``"double"``. :doc:`/performance` has the measurements.
    acceleration : bool, default=True
        SQUAREM extrapolation of the MM map (screening, and the runs to
        convergence with ``solver="mm"``), accepted only when it does not
        lower the objective, so ascent stays monotone (measured in
        :doc:`/performance`).
    alpha : float, default=1e-6
        Ridge on slopes (intercepts unpenalised), on the scale of the mean
        log-likelihood and of the standardised features. The penalty is
        symmetric, ``alpha / 2`` times the sum of squared slopes centred
        across experts (gate) and across classes (experts), so it does not
        depend on which expert or class is the reference. The small default
        keeps coefficients finite on separable data.
    standardize : bool, default=True
        Centre and scale the features (weighted by ``sample_weight``) before
        fitting. Coefficients are always reported on the user's scale.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds the starts; an int makes the fit reproducible bit for bit.
    n_jobs : int or None, default=-1
        Cores for the fit, with joblib's meaning (-1: every core; None: one,
        unless a ``joblib.parallel_config`` says otherwise). The starts are
        screened here and in ``n_jobs - 1`` worker processes, which stay up
        between fits (300 s without a job), or threads where several starts
        step together on long enough rows (20 to 28 design columns on 10,000
        screening rows), and runs on more than one row block (tens of
        thousands of rows) share their blocks among ``n_jobs`` threads. The
        fit is the same whatever ``n_jobs`` but for BLAS's rounding. Every
        core by default: screening begins here while the workers start, so
        a first fit costs about a tenth of a second more than on one core
        and later ones much less. Inside a worker of an outer joblib loop or
        a Dask worker a fit takes one core; in other process pools pass 1
        (see :doc:`/performance`).
    verbose : int, default=0
        0 is silent; 1 shows progress bars (on stderr) over the starts and,
        when ``n_experts`` names a method, over the sizes; 2 also prints one
        line per start; 3 also prints the objective every 10 iterations.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; the last is the reference class.
    class_prior_ : ndarray of shape (n_classes,) or None
        Class frequencies of the training data (weighted by
        ``sample_weight``), in ``classes_`` order: the prior that
        ``class_prior`` in :meth:`predict_proba` corrects from. None for a
        model loaded from a file written before moelogit recorded it.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` had string column names.
    gate_support_, expert_support_ : ndarray of shape (`n_features_in_`,)
        Booleans: the features whose gate (expert) slopes were estimated,
        those of ``gate_features`` (``expert_features``) that vary in the
        training data; the other slopes are zero.
    gate_coef_ : ndarray of shape (n_experts, `n_features_in_`)
        Gate slopes; gate logits are ``X @ gate_coef_.T + gate_intercept_``.
        Experts are ordered by decreasing mean gate weight on the training
        data; the last is the reference (zero row).
    gate_intercept_ : ndarray of shape (n_experts,)
    expert_coef_ : ndarray of shape (n_experts, n_classes, `n_features_in_`)
        Expert slopes; expert ``k``'s class logits are
        ``X @ expert_coef_[k].T + expert_intercept_[k]`` (last class zero).
    expert_intercept_ : ndarray of shape (n_experts, n_classes)
    n_experts_ : int
        Number of experts of the fitted model (the selected one when
        ``n_experts`` names a method).
    selection_ : SelectionResult
        Only when ``n_experts`` names a method: the criterion at every size,
        the dendrogram's heights and linkage (DSC), and the models compared.
    n_iter_ : int
        Iterations of the retained start on all rows, in double precision
        after its screening (in single precision, on a sample when
        ``screen_rows`` drew one), Newton steps of ``polish`` included.
    n_newton_iter_ : int
        Newton steps taken by ``polish`` (0 without it).
    converged_ : bool
        Whether the retained start met ``tol`` before ``max_iter`` (with
        ``polish``: whether the Newton refinement converged).
    loglik_trace_ : ndarray of shape (`n_iter_`,)
        Objective (mean log-likelihood minus the ridge penalty) on all rows at
        every iteration of the retained start (its run in double precision
        after screening), then after every Newton step; it never decreases.
    objective_ : float
        Final objective of the retained start, ``loglik_trace_[-1]``.
    perfectly_separated_ : bool
        True when the fitted model classifies every training row (of positive
        weight) correctly. The data are then separated by the model, the
        unpenalised maximum-likelihood estimate may not exist, and the size of
        the coefficients is set by ``alpha`` and ``max_iter``; a
        :class:`SeparationWarning` says so.
    feature_mean_ : ndarray of shape (`n_features_in_`,)
        Centre of each feature in the internal standardisation (zeros when
        ``standardize=False``).
    feature_scale_ : ndarray of shape (`n_features_in_`,)
        Scale of each feature in the internal standardisation (ones when
        ``standardize=False`` and for constant features).
    n_design_columns_ : int
        Columns of the internal design: the intercept and the features that
        vary (constant features get zero slopes).
    fit_time_ : float
        Wall time of ``fit`` in seconds.

    Examples
    --------
    >>> from moelogit import MoEClassifier
    >>> from moelogit.datasets import make_moe_classification
    >>> X, y, truth = make_moe_classification(2000, n_features=3, n_experts=2, random_state=0)
    >>> clf = MoEClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    >>> bool(clf.converged_)
    True
    """

    def __init__(
        self,
        n_experts=2,
        *,
        gate_features=None,
        expert_features=None,
        max_experts=6,
        max_iter=1000,
        tol=1e-8,
        n_init=20,
        init_iter=15,
        n_finalists=1,
        screen_rows=10_000,
        init="mixed",
        curvature="expert",
        polish=False,
        solver="lbfgs",
        screen_solver="mm",
        screen_precision="single",
        acceleration=True,
        alpha=1e-6,
        standardize=True,
        random_state=None,
        n_jobs=-1,
        verbose=0,
    ):
        self.n_experts = n_experts
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.max_experts = max_experts
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_iter = init_iter
        self.n_finalists = n_finalists
        self.screen_rows = screen_rows
        self.init = init
        self.curvature = curvature
        self.polish = polish
        self.solver = solver
        self.screen_solver = screen_solver
        self.screen_precision = screen_precision
        self.acceleration = acceleration
        self.alpha = alpha
        self.standardize = standardize
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- validation -----------------------------------------------------------

    def _check_params(self):
        if isinstance(self.n_experts, str):
            if self.n_experts not in SELECTION_METHODS:
                raise ValueError(
                    f"n_experts must be an integer >= 1 or one of {SELECTION_METHODS}, "
                    f"got {self.n_experts!r}"
                )
            check_scalar(self.max_experts, "max_experts", numbers.Integral, min_val=1)
        else:
            check_scalar(self.n_experts, "n_experts", numbers.Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=1)
        check_scalar(self.n_init, "n_init", numbers.Integral, min_val=1)
        check_scalar(self.init_iter, "init_iter", numbers.Integral, min_val=1)
        check_scalar(self.n_finalists, "n_finalists", numbers.Integral, min_val=1)
        check_scalar(self.tol, "tol", numbers.Real, min_val=0.0)
        if self.screen_rows is not None:
            check_scalar(self.screen_rows, "screen_rows", numbers.Integral, min_val=2)
        check_scalar(self.alpha, "alpha", numbers.Real, min_val=0.0)
        check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        if self.n_jobs is not None:
            check_scalar(self.n_jobs, "n_jobs", numbers.Integral)
            if self.n_jobs == 0:
                raise ValueError("n_jobs == 0 asks for no thread: use None, a count or -1")
        if not np.isfinite(self.alpha) or not np.isfinite(self.tol):
            raise ValueError("alpha and tol must be finite")
        warm_starts = self._warm_starts()
        if warm_starts:
            if isinstance(self.n_experts, str):
                raise TypeError("warm starts in init need an integer n_experts")
            for start in warm_starts:
                if start.n_experts != self.n_experts:
                    raise ValueError(
                        f"a warm start in init has {start.n_experts} experts, "
                        f"n_experts={self.n_experts}"
                    )
        elif isinstance(self.init, (list, tuple)) or self.init not in ("mixed", *INITS):
            raise ValueError(
                f"init must be one of {('mixed', *INITS)}, a MoEParams or a non-empty list "
                f"of them, got {self.init!r}"
            )
        for name in ("solver", "screen_solver"):
            if getattr(self, name) not in SOLVERS:
                raise ValueError(f"{name} must be one of {SOLVERS}, got {getattr(self, name)!r}")
        if self.curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {self.curvature!r}")
        if self.screen_precision not in PRECISIONS:
            raise ValueError(
                f"screen_precision must be one of {tuple(PRECISIONS)}, "
                f"got {self.screen_precision!r}"
            )
        for name in ("polish", "acceleration", "standardize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _encode_labels(self, y) -> np.ndarray:
        """Class codes of ``y`` in ``classes_``; unseen labels are an error."""
        y = column_or_1d(y, warn=True)
        try:
            known = np.isin(y, self.classes_)
        except TypeError as exc:
            raise TypeError(f"labels in y cannot be compared with classes_: {exc}") from exc
        if not np.all(known):
            unseen = np.unique(y[~known])[:10]
            raise ValueError(
                f"y contains labels not seen in fit: {unseen.tolist()}; "
                f"known classes are {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, y)

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, *, listener=None):
        """Fit the mixture by the monotone MM algorithm, keeping the best start.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; a pandas DataFrame keeps its column names. A
            Dask array or DataFrame is fitted chunk by chunk on the active
            Dask scheduler, never gathered (see :doc:`/guide/dask`).
        y : array-like of shape (n_samples,) or str
            Class labels of any sortable type; at least two classes. With a
            Dask DataFrame ``X``, the name of its label column.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights multiplying each row's log-likelihood.
        listener : moelogit.engine.FitListener, optional
            Told about every stage and iteration of the fit (for progress
            displays or timing), in place of what ``verbose`` shows. Only
            for an integer ``n_experts``.

        Returns
        -------
        self : MoEClassifier
        """
        started = time.perf_counter()
        self._check_params()
        if isinstance(self.n_experts, str):
            if listener is not None:
                raise TypeError("a listener follows one fit: give an integer n_experts")
            return self._fit_selected(X, y, sample_weight, started)
        if is_dask_collection(X) or is_dask_collection(y) or is_dask_collection(sample_weight):
            data = self._chunked_data(X, y, sample_weight)
        else:
            data = self._data_in_memory(X, y, sample_weight)
        classes, n_classes = data.classes, data.classes.size
        if data.n_positive < self.n_experts:
            raise ValueError(
                f"n_experts={self.n_experts} needs at least as many rows of positive "
                f"weight, got {data.n_positive}"
            )
        gate_support = self._feature_mask(self.gate_features, "gate_features")
        expert_support = self._feature_mask(self.expert_features, "expert_features")
        mean, scale, used = data.standardization(self.standardize)
        gate_support, expert_support = gate_support & used, expert_support & used
        support = _design_support(gate_support, expert_support, used)
        Z, design = data.design(mean, scale, used)
        q = Z.shape[1] if design is None else design.n_columns
        dims = Dims(q, self.n_experts, n_classes)
        if self.polish and support.n_params(dims) > MAX_PARAMETERS:
            raise ValueError(
                f"polish=True refines with a Hessian of all {support.n_params(dims)} parameters; "
                f"it is meant for at most {MAX_PARAMETERS}: fit without polish"
            )
        warm = self._warm_start_points(self.n_features_in_, n_classes, mean, scale, used, support)
        found = fit_multistart(
            Z,
            data.codes,
            data.weights,
            dims,
            alpha=self.alpha,
            curvature=self.curvature,
            strategy=Strategy(
                n_init=self.n_init,
                init=self.init if isinstance(self.init, str) else "mixed",
                init_iter=self.init_iter,
                n_finalists=self.n_finalists,
                screen_rows=self.screen_rows,
                max_iter=self.max_iter,
                tol=self.tol,
                acceleration=self.acceleration,
                polish=self.polish,
                solver=self.solver,
                screen_solver=self.screen_solver,
                screen_precision=self.screen_precision,
            ),
            rng=check_random_state(self.random_state),
            starts=warm or None,
            n_jobs=self.n_jobs,
            listener=_Talk(self.verbose) if listener is None else listener,
            design=design,
            support=support,
        )
        best, n_newton_iter = found.best, found.n_newton_iter
        del Z  # as large as X: freed before predicting on X

        params = MoEParams.from_design(*unpack(best.theta, dims), mean, scale, used)
        params = params.in_gate_order(data.gate_weight(params))
        facts = TrainingFacts(
            classes=classes,
            n_features_in=self.n_features_in_,
            feature_mean=mean,
            feature_scale=scale,
            n_design_columns=dims.q,
            feature_names_in=getattr(self, "feature_names_in_", None),
            class_prior=data.class_weights,
            gate_support=gate_support,
            expert_support=expert_support,
        )
        record = FitRecord(
            n_iter=best.n_iter,
            n_newton_iter=n_newton_iter,
            converged=best.converged,
            loglik_trace=best.trace,
            objective=best.objective,
            perfectly_separated=data.separated(params),
            fit_time=time.perf_counter() - started,
        )
        self._set_fitted(params, facts, record)
        if not self.converged_:
            warnings.warn(
                f"the Newton refinement (polish) did not converge in {n_newton_iter} steps "
                f"(tol={self.tol}): the Hessian may be singular (a vanishing expert) or "
                "the start far from a maximum"
                if self.polish
                else f"the best start did not converge in max_iter={self.max_iter} "
                f"iterations (tol={self.tol}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        if self.perfectly_separated_:
            warnings.warn(
                "the fitted model classifies every training row correctly: the data appear "
                "perfectly separated, so the unpenalised likelihood may have no maximiser and "
                f"the coefficients are held finite only by alpha={self.alpha}. Increase alpha "
                "for a better-defined and faster fit.",
                SeparationWarning,
                stacklevel=2,
            )
        return self

    def _data_in_memory(self, X, y, sample_weight) -> _RowsInMemory:
        """Training data checked as scikit-learn checks them, labels coded."""
        X, y = validate_data(self, _numeric_array(X), y, dtype=np.float64)
        try:
            check_classification_targets(y)
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError as exc:
            raise TypeError(f"labels in y must be mutually comparable: {exc}") from exc
        _check_two_classes(classes)
        weights = normalised_weights(sample_weight, X.shape[0])
        return _RowsInMemory(X, codes, weights, classes, getattr(self, "feature_names_in_", None))

    def _chunked_data(self, X, y, sample_weight):
        """Dask training data: checked and summarised in one pass (:mod:`moelogit.dask_data`)."""
        from . import dask_data

        X, y, sample_weight, names = dask_data.as_dask_arrays(X, y, sample_weight)
        if y is None:
            raise ValueError("y is required: the labels, or the name of X's label column")
        data = dask_data.summarise(X, y, sample_weight, names)
        check_classification_targets(data.classes)  # continuous labels, as in memory
        _check_two_classes(data.classes)
        self.n_features_in_ = X.shape[1]
        if names is None:
            vars(self).pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names
        return data

    def _set_fitted(self, params: MoEParams, facts: TrainingFacts, record: FitRecord):
        """The one writer of the fitted state (see :func:`fitted_classifier`)."""
        self.gate_coef_, self.gate_intercept_ = params.gate_coef, params.gate_intercept
        self.expert_coef_, self.expert_intercept_ = params.expert_coef, params.expert_intercept
        self.n_experts_ = params.n_experts
        for source in (facts, record):
            for item in fields(source):
                setattr(self, f"{item.name}_", getattr(source, item.name))
        if facts.feature_names_in is None:  # scikit-learn's convention: absent, not None
            vars(self).pop("feature_names_in_")
        return self

    @property
    def training_facts_(self) -> TrainingFacts:
        """The fitted :class:`TrainingFacts`."""
        check_is_fitted(self)
        names = {item.name: getattr(self, f"{item.name}_", None) for item in fields(TrainingFacts)}
        return TrainingFacts(**names)

    @property
    def fit_record_(self) -> FitRecord:
        """The fitted :class:`FitRecord`."""
        check_is_fitted(self)
        return FitRecord(**{item.name: getattr(self, f"{item.name}_") for item in fields(FitRecord)})

    def _warm_start_points(self, n_features, n_classes, mean, scale, used, support):
        """The warm starts of ``init`` as parameter vectors of the design."""
        points = []
        for start in self._warm_starts():
            if (start.n_features, start.n_classes) != (n_features, n_classes):
                raise ValueError(
                    f"a warm start in init has {start.n_features} features and "
                    f"{start.n_classes} classes; the data have {n_features} and {n_classes}"
                )
            coefficients = _design_coefficients(start, used, mean, scale)
            if not support.holds(*coefficients):
                raise ValueError(
                    "a warm start in init has slopes on features outside gate_features or "
                    "expert_features: set them to zero"
                )
            points.append(pack(*coefficients))
        return points

    def _feature_mask(self, features, name: str) -> np.ndarray:
        """``gate_features`` or ``expert_features`` as booleans over the features of ``fit``."""
        n_features = self.n_features_in_
        if features is None:
            return np.ones(n_features, dtype=bool)
        if isinstance(features, str) or not np.iterable(features):
            raise TypeError(
                f"{name} must be a list of column indices or names, or None for all "
                f"features; got {features!r}"
            )
        names = getattr(self, "feature_names_in_", None)
        mask = np.zeros(n_features, dtype=bool)
        for feature in features:
            if isinstance(feature, str):
                if names is None:
                    raise ValueError(
                        f"{name} names the column {feature!r}, but X has no column names: "
                        "fit on a DataFrame or give column indices"
                    )
                found = np.flatnonzero(names == feature)
                if found.size == 0:
                    raise ValueError(
                        f"{name}: {feature!r} is not a column of X; its columns are "
                        f"{list(names)[:20]}"
                    )
                index = int(found[0])
            elif isinstance(feature, numbers.Integral) and not isinstance(feature, bool):
                if not -n_features <= feature < n_features:
                    raise ValueError(
                        f"{name}: column {feature} is out of range for {n_features} features"
                    )
                index = int(feature) % n_features
            else:
                raise TypeError(f"{name} holds {feature!r}: give column indices or names")
            if mask[index]:
                raise ValueError(f"{name} names the column {feature!r} twice")
            mask[index] = True
        return mask

    def _fit_selected(self, X, y, sample_weight, started):
        """Choose the number of experts, then take on the selected model's state."""
        template = clone(self).set_params(n_experts=1)  # overridden for every fit
        # moelogit.selection builds on this module: its function is provided, not imported.
        result = call(
            "select_n_experts", X, y, self.max_experts, self.n_experts,
            estimator=template, sample_weight=sample_weight,
        )  # fmt: skip
        chosen = result.model_
        record = replace(chosen.fit_record_, fit_time=time.perf_counter() - started)
        self._set_fitted(chosen.params_, chosen.training_facts_, record)
        self.selection_ = result
        return self

    def _warm_starts(self) -> list:
        """The MoEParams given in ``init`` (one or a list), or an empty list."""
        if isinstance(self.init, MoEParams):
            return [self.init]
        is_list = isinstance(self.init, (list, tuple)) and len(self.init) > 0
        if is_list and all(isinstance(start, MoEParams) for start in self.init):
            return list(self.init)
        return []

    # -- prediction -------------------------------------------------------------

    @property
    def params_(self) -> MoEParams:
        """The fitted parameters as a :class:`moelogit.params.MoEParams`."""
        check_is_fitted(self)
        return MoEParams(
            self.gate_coef_, self.gate_intercept_, self.expert_coef_, self.expert_intercept_
        )

    @property
    def standardized_params_(self) -> MoEParams:
        """The fitted parameters on the scale of the internally standardised features.

        Slopes are per standard deviation of each feature and intercepts are at
        the features' means: the scale on which the dendrogram of
        :func:`moelogit.select_n_experts` measures distances.
        """
        check_is_fitted(self)
        return MoEParams.from_design(
            *self.params_.to_design(self.feature_mean_, self.feature_scale_)
        )

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, _numeric_array(X), reset=False, dtype=np.float64)

    def predict_log_proba(self, X, class_prior=None) -> np.ndarray:
        """Log class probabilities ``log p(y | x)``, columns in ``classes_`` order.

        ``class_prior`` (array-like of shape ``(n_classes,)`` in ``classes_``
        order, or a dict from every class label to its prior; positive,
        summing to one) corrects the probabilities from the training prior
        ``class_prior_`` to it: ``p'(m | x)`` is proportional to
        ``p(m | x) class_prior[m] / class_prior_[m]`` (Bayes' rule for data
        whose classes occur with other frequencies than in training; see
        :mod:`moelogit.prior`).
        """
        if is_dask_collection(X):
            X, dask_data = self._chunks(X)
            log_proba = functools.partial(self._log_proba, priors=self._priors(class_prior))
            return dask_data.map_rows(log_proba, X, n_columns=self.classes_.size)
        return self._log_proba(self._validated(X), self._priors(class_prior))

    def _log_proba(self, X: np.ndarray, priors) -> np.ndarray:
        """:meth:`predict_log_proba` of checked rows; ``priors`` from :meth:`_priors`."""
        log_proba = self.params_.log_class_proba(X)
        return log_proba if priors is None else shift_log_proba(log_proba, *priors)

    def predict_proba(self, X, class_prior=None) -> np.ndarray:
        """Class probabilities ``p(y | x)``, columns in ``classes_`` order.

        ``class_prior``: as in :meth:`predict_log_proba`.
        """
        return np.exp(self.predict_log_proba(X, class_prior))

    def predict(self, X, class_prior=None) -> np.ndarray:
        """Most probable class of every row; ``class_prior`` as in :meth:`predict_log_proba`."""
        log_proba = self.predict_log_proba(X, class_prior)
        if is_dask_collection(log_proba):
            return log_proba.map_blocks(
                _most_probable, self.classes_, drop_axis=1, dtype=self.classes_.dtype
            )
        return _most_probable(log_proba, self.classes_)

    def _priors(self, class_prior) -> tuple[np.ndarray, np.ndarray] | None:
        """``class_prior`` checked, and the training prior it replaces (None without one)."""
        check_is_fitted(self)
        if class_prior is None:
            return None
        new = check_prior(class_prior, self.classes_)
        old = getattr(self, "class_prior_", None)
        if old is None:
            raise ValueError(
                "this model does not record its training class prior (a model file written "
                "before moelogit recorded it), so its probabilities cannot be corrected to "
                "class_prior: refit the model, or set its class_prior_ to the training "
                "data's class frequencies (in classes_ order)"
            )
        empty = [label for label, share in zip(self.classes_.tolist(), old) if not share > 0]
        if empty:
            raise ValueError(
                f"the classes {empty} carried no weight in training: their probabilities "
                "cannot be corrected to class_prior"
            )
        return new, np.asarray(old, dtype=np.float64)

    def _feature_names(self) -> list[str]:
        """The features' names as the coefficient tables label them (``x0``, ... without names)."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{j}" for j in range(self.n_features_in_)]
        return [str(name) for name in names]

    def gate_proba(self, X) -> np.ndarray:
        """Gate weights ``pi_k(x)`` of every row, shape ``(n_samples, n_experts)``."""
        if is_dask_collection(X):
            X, dask_data = self._chunks(X)
            return dask_data.map_rows(self.params_.gate_proba, X, n_columns=self.n_experts_)
        return self.params_.gate_proba(self._validated(X))

    def responsibilities(self, X, y) -> np.ndarray:
        """Posterior expert probabilities ``p(expert k | x_i, y_i)``, ``(n_samples, n_experts)``."""
        if is_dask_collection(X) or is_dask_collection(y):
            X, dask_data, y, _ = self._chunks(X, y)

            def responsibilities(X_chunk, y_chunk):
                return self.params_.responsibilities(X_chunk, self._encode_labels(y_chunk))

            return dask_data.map_rows(responsibilities, X, y, n_columns=self.n_experts_)
        X = self._validated(X)
        codes = self._encode_labels(y)
        if codes.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]}")
        return self.params_.responsibilities(X, codes)

    # -- likelihood and information criteria ----------------------------------

    def loglik(self, X, y, sample_weight=None) -> float:
        """Mean log-likelihood ``(1/n) sum_i log p(y_i | x_i)`` (weighted if given)."""
        if any(map(is_dask_collection, (X, y, sample_weight))):
            X, dask_data, y, weights = self._chunks(X, y, sample_weight)
            return dask_data.chunk_sum(_chunk_loglik, (X, y, weights), self)[0]
        log_proba = self.predict_log_proba(X)
        codes = self._encode_labels(y)
        if codes.shape[0] != log_proba.shape[0]:
            raise ValueError(f"X has {log_proba.shape[0]} rows but y has {codes.shape[0]}")
        weights = normalised_weights(sample_weight, codes.shape[0])
        return float(weights @ log_proba[np.arange(codes.shape[0]), codes])

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``(X, y)`` (weighted if given)."""
        if any(map(is_dask_collection, (X, y, sample_weight))):
            X, dask_data, y, weights = self._chunks(X, y, sample_weight)
            return dask_data.chunk_sum(_chunk_accuracy, (X, y, weights), self)[0]
        return super().score(X, y, sample_weight)

    def _chunks(self, X, y=None, sample_weight=None):
        """Dask ``X`` checked against the fit (and ``y``, weights summing to one, aligned).

        Returns ``(X, dask_data)``, or with ``y`` ``(X, dask_data, y, weights)``.
        """
        check_is_fitted(self)
        from . import dask_data

        X, y_chunks, weights, names = dask_data.as_dask_arrays(
            X, y, sample_weight, self.n_features_in_
        )
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and list(names) != list(fitted):
            raise ValueError(
                f"X's columns {list(names)} are not the features the model was fitted on, "
                f"{list(fitted)}, in that order"
            )
        if y is None:
            return X, dask_data
        return X, dask_data, y_chunks, dask_data.normalised_weights(weights, X)

    def n_parameters(self) -> int:
        """Number of free parameters, ``q_g (K - 1) + K q_e (M - 1)``.

        ``q_g`` (``q_e``) is one plus the number of features of
        ``gate_support_`` (``expert_support_``): those of ``gate_features``
        (``expert_features``) that vary in the training data.
        """
        check_is_fitted(self)
        dims = Dims(self.n_design_columns_, self.n_experts_, self.classes_.size)
        if self.gate_support_ is None:  # a file from before the supports: all in both
            return dims.n_params
        return _design_support(self.gate_support_, self.expert_support_).n_params(dims)

    # -- inference --------------------------------------------------------------

    def _supports(self) -> tuple[np.ndarray, np.ndarray]:
        """``gate_support_`` and ``expert_support_``; every feature for a file without them."""
        everything = np.ones(self.n_features_in_, dtype=bool)
        return tuple(
            everything if support is None else support
            for support in (self.gate_support_, self.expert_support_)
        )

    def coefficients(self) -> pd.Series:
        """The estimated parameters on the user's scale, labelled ``(block, level, term)``.

        As in :meth:`summary`: differences from the reference expert (the
        last) and class (the last), for the features of ``gate_support_``
        and ``expert_support_`` (every feature for a model file written
        before these were recorded).
        """
        check_is_fitted(self)
        support = _design_support(*self._supports(), np.ones(self.n_features_in_, dtype=bool))
        dims = Dims(support.gate.size, self.n_experts_, self.classes_.size)
        values = pack(*self.params_.to_design())[support.free(dims)]
        terms = ["intercept", *self._feature_names()]
        index, order = _parameter_index(support, terms, self.n_experts_, self.classes_)
        return pd.Series(values[order], index=index)

    def covariance(self, X, y, sample_weight=None, *, robust=False) -> pd.DataFrame:
        """Covariance of the free parameters, estimated on the training data ``(X, y)``.

        The inverse observed information (penalty included when ``alpha >
        0``), or with ``robust=True`` the sandwich estimate for a model that
        may be misspecified (see :mod:`moelogit.inference`). Parameters are on
        the user's feature scale, differences from the reference expert (the
        last in canonical order) and class (the last of ``classes_``),
        labelled ``(block, level, term)`` as in :meth:`summary`. After
        ``n_experts="dsc"`` (or another selection) they are those of the
        selected model, refitted. ``sample_weight`` counts as frequencies.
        """
        estimates, covariance = self._estimates_and_covariance(X, y, sample_weight, robust)
        index = estimates.index
        return pd.DataFrame(covariance, index=index, columns=index)

    def summary(self, X, y, sample_weight=None, *, level=0.95, robust=False) -> CoefficientSummary:
        """Coefficient table with standard errors, z, p-values and intervals at ``level``.

        ``X``, ``y`` and ``sample_weight`` must be the training data (see
        :meth:`covariance`, which also says which parameters are reported).
        ``print(model.summary(X, y))`` shows it as text; ``.table`` is a
        DataFrame. Warns when the fit did not converge.
        """
        estimates, covariance = self._estimates_and_covariance(X, y, sample_weight, robust)
        n = num_rows(X) if sample_weight is None else float(np.sum(sample_weight))
        if self.n_experts != self.n_experts_:  # chosen by selection: say which model this is
            n_experts = f"{self.n_experts_} (chosen by {self.n_experts}, refitted)"
        else:
            n_experts = self.n_experts_
        loglik = n * self.loglik(X, y, sample_weight)
        n_params = self.n_parameters()
        info = {
            "Rows": n,
            "Experts": n_experts,
            "Log-likelihood": loglik,
            "Parameters": n_params,
            "AIC": -2.0 * loglik + 2.0 * n_params,
            "BIC": -2.0 * loglik + np.log(n) * n_params,
            "Converged": bool(self.converged_),
            "Ridge alpha": float(self.alpha),
            "Covariance": "sandwich (robust)" if robust else "observed information",
            "References": f"expert {self.n_experts_}, class {self.classes_[-1]}",
        }
        return CoefficientSummary.from_estimates(
            estimates.to_numpy(), covariance, estimates.index, info, level
        )

    def predict_proba_interval(self, X, covariance: pd.DataFrame, *, level=0.95):
        """Delta-method intervals for the class probabilities of every row of ``X``.

        ``covariance`` is :meth:`covariance`'s result (observed or robust).
        The intervals are built on the logit scale and mapped back, so they
        stay inside (0, 1). Returns ``(low, high)``, each of shape
        ``(n_samples, n_classes)``, columns in ``classes_`` order.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        X = self._validated(X)
        names = self._feature_names()
        blocks, terms = (covariance.index.get_level_values(level) for level in ("block", "term"))
        gate_terms = list(dict.fromkeys(terms[blocks == "gate"]))
        expert_terms = list(dict.fromkeys(terms[blocks == "expert 1"]))
        used = np.isin(names, gate_terms + expert_terms)
        support = _design_support(np.isin(names, gate_terms), np.isin(names, expert_terms), used)
        index, order = _parameter_index(support, ["intercept", *np.asarray(names)[used]],
                                        self.n_experts_, self.classes_)  # fmt: skip
        if not covariance.index.equals(index):
            raise ValueError("covariance is not this model's: pass model.covariance(X_train, y_train)")
        packed = np.empty_like(covariance.to_numpy())
        packed[np.ix_(order, order)] = covariance.to_numpy()
        gate_coef, expert_coef = _design_coefficients(self.params_, used)
        free = support.free(Dims(1 + np.count_nonzero(used), self.n_experts_, self.classes_.size))
        low, high = np.empty((2, X.shape[0], self.classes_.size))
        for rows in row_slices(X.shape[0], rows_per_block(free.size)):
            Z = np.column_stack([np.ones(len(X[rows])), X[rows][:, used]])
            proba = np.exp(self.params_.log_class_proba(X[rows]))
            gradients = class_proba_gradients(Z, gate_coef, expert_coef)[:, :, free]
            low[rows], high[rows] = proba_intervals(proba, gradients, packed, level)
        return low, high

    def _estimates_and_covariance(self, X, y, sample_weight, robust):
        """The free parameters (a labelled Series) and their covariance, on the user's scale."""
        X = self._validated(X)
        codes = self._encode_labels(y)
        if codes.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]}")
        weights = normalised_weights(sample_weight, X.shape[0])
        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        used = standardization(X, weights, standardize=False)[2]
        if 1 + np.count_nonzero(used) != self.n_design_columns_:
            raise ValueError(
                f"X has {np.count_nonzero(used)} non-constant features, the training data "
                f"had {self.n_design_columns_ - 1}: the covariance is estimated on the data "
                "the model was fitted on"
            )
        if not self.converged_:
            warnings.warn(
                "the fit did not converge: standard errors assume a maximum of the "
                "likelihood and may be wrong; refit with more iterations or polish=True",
                ConvergenceWarning,
                stacklevel=3,
            )
        mean, scale = self.feature_mean_[used], self.feature_scale_[used]
        gate_coef, expert_coef = _design_coefficients(
            self.params_, used, self.feature_mean_, self.feature_scale_
        )
        Z = design_matrix(X, self.feature_mean_, self.feature_scale_, used)
        dims = Dims(Z.shape[1], self.n_experts_, self.classes_.size)
        support = _design_support(*self._supports(), used)
        free = support.free(dims)
        covariance = parameter_covariance(
            Z, codes, weights * total, gate_coef, expert_coef, self.alpha, robust=robust, free=free
        )
        to_user = standardisation_map(mean, scale, dims)[np.ix_(free, free)]
        estimates = to_user @ pack(gate_coef, expert_coef)[free]
        terms = ["intercept", *np.asarray(self._feature_names())[used]]
        index, order = _parameter_index(support, terms, self.n_experts_, self.classes_)
        covariance = (to_user @ covariance @ to_user.T)[np.ix_(order, order)]
        return pd.Series(estimates[order], index=index), covariance

    def aic(self, X, y) -> float:
        """Akaike information criterion on ``(X, y)``; lower is better."""
        n = num_rows(X)
        return -2.0 * n * self.loglik(X, y) + 2.0 * self.n_parameters()

    def bic(self, X, y) -> float:
        """Bayesian information criterion on ``(X, y)``; lower is better."""
        n = num_rows(X)
        return -2.0 * n * self.loglik(X, y) + np.log(n) * self.n_parameters()


def _most_probable(log_proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return classes[np.argmax(log_proba, axis=1)]


def _checked_chunk(X: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X contains NaN or infinite values in a chunk of {X.shape[0]} rows")
    return X


def _chunk_loglik(model: MoEClassifier, X, y, weights) -> tuple:
    log_proba = model.params_.log_class_proba(_checked_chunk(X))
    return (float(weights @ log_proba[np.arange(X.shape[0]), model._encode_labels(y)]),)


def _chunk_accuracy(model: MoEClassifier, X, y, weights) -> tuple:
    predicted = _most_probable(model.params_.log_class_proba(_checked_chunk(X)), model.classes_)
    return (float(weights @ (predicted == np.asarray(y)).astype(np.float64)),)


def _check_two_classes(classes: np.ndarray) -> None:
    if classes.size < 2:
        raise ValueError(
            f"MoEClassifier needs samples of at least 2 classes, got {classes.size} class "
            f"({classes[0]!r})" if classes.size else "MoEClassifier got no labels"
        )


def _design_coefficients(params: MoEParams, used, mean=None, scale=None):
    """``params`` as free columns of the design ``[1, (X - mean) / scale]`` of the ``used`` features."""
    design_rows = np.r_[0, 1 + np.flatnonzero(used)]  # intercept, used features
    gate_coef, expert_coef = params.to_design(mean, scale)
    return gate_coef[design_rows], expert_coef[:, design_rows]


def _design_support(gate_support, expert_support, used=None) -> Support:
    """The :class:`Support` of the design ``[1, X[:, used]]`` (default: the features of either)."""
    used = gate_support | expert_support if used is None else used
    return Support(np.r_[True, gate_support[used]], np.r_[True, expert_support[used]])


def _parameter_index(
    support: Support, terms: list[str], K: int, classes
) -> tuple[pd.MultiIndex, np.ndarray]:
    """Labels ``(block, level, term)`` of the free packed parameters, and the order that groups them.

    ``terms`` name the design's columns. Packed, a block's parameters run
    term by term; the table runs level by level (expert by expert in the
    gate, class by class in an expert).
    """
    gate_terms = [term for term, kept in zip(terms, support.gate) if kept]
    expert_terms = [term for term, kept in zip(terms, support.experts) if kept]
    labels = [("gate", f"expert {k + 1}", term) for term in gate_terms for k in range(K - 1)]
    for k in range(K):
        labels += [(f"expert {k + 1}", str(c), term) for term in expert_terms for c in classes[:-1]]
    position = {label: i for i, label in enumerate(labels)}
    grouped = [("gate", f"expert {k + 1}", term) for k in range(K - 1) for term in gate_terms]
    for k in range(K):
        grouped += [
            (f"expert {k + 1}", str(c), term) for c in classes[:-1] for term in expert_terms
        ]
    order = np.array([position[label] for label in grouped], dtype=int)
    return pd.MultiIndex.from_tuples(grouped, names=["block", "level", "term"]), order


def num_rows(X) -> int:
    """Rows of ``X``: an array, a DataFrame, or a Dask collection."""
    if is_dask_collection(X) and not hasattr(X, "chunks"):  # a Dask DataFrame: one pass
        return len(X)
    return np.shape(X)[0]
