"""Interaction probabilities for protein pairs from sequences: the practitioner's model.

:class:`PPIPredictor` is the model that ``moelogit ppi fit`` trains and
``moelogit ppi predict`` applies: sequence descriptors of both proteins
side by side (:class:`moelogit.features.PairFeatures`, ``"concat"``),
standardised, and a :class:`~moelogit.MoEClassifier` on all of them with
its number of experts chosen by the DSC, trained on both orders of every
pair (:class:`moelogit.features.SymmetricPairClassifier`) so that the
probability of (a, b) is exactly that of (b, a).

Why all features and not a few principal components: on Guo's yeast pairs
(one 80/20 split, pair level; docs/ppi.md) a mixture on 10, 30 or 60
principal components reached accuracy 0.553-0.617, on 20 or 100 PLS scores
0.652-0.674, and on all 1,146 features 0.722-0.731 (logistic regression on
all features: 0.649). Fixed curvature
makes that affordable: one factorisation of the 1,147 x 1,147 bound per
fit, not K per iteration.

The descriptors learn nothing from the training pairs, so new pairs can
name proteins never seen in training: only their sequences are needed.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .estimator import MoEClassifier
from .features import PairFeatures, SymmetricPairClassifier
from .prior import PriorEstimate, binary_log_proba, bootstrap_prior, shift_log_proba

__all__ = ["DEFAULTS", "PPIPredictor"]

#: Defaults of :class:`PPIPredictor` that the command line shows too.
DEFAULTS = {
    "descriptors": ("aac", "ctriad", "ac"),
    "max_experts": 4,
    "alpha": 1e-2,
    "n_init": 3,
    "max_iter": 300,
    "tol": 1e-6,
    "blas_threads": None,
    "n_jobs": -1,
}


class PPIPredictor(BaseEstimator):
    """Predict protein-protein interactions from sequences with a DSC-selected mixture of experts.

    Parameters
    ----------
    descriptors : tuple of str, default=("aac", "ctriad", "ac")
        Per-protein sequence descriptors (:mod:`moelogit.features.descriptors`).
        For proteins absent from the training pairs, ``("unirep256",)``
        ranked pairs better (docs/ppi.md, "Ranking proteins it has not
        seen"); it needs ``pip install "moelogit[unirep]"``.
    max_lag : int, default=30
        Largest lag of the auto-covariance descriptors.
    n_experts : int or {"dsc", "bic", "aic", "icl"}, default="dsc"
        Passed to :class:`~moelogit.MoEClassifier`.
    max_experts : int, default=4
    alpha : float, default=1e-2
        Ridge of the mixture (on the mean log-likelihood scale). Strong, as
        for any linear model on a thousand features. In the PPI experiment
        (docs/ppi.md) the inner folds' choice, rescaled to the training
        fold, was 0.06 (Martin) and 0.15 (Guo) at pair level and 0.2-4.5
        for unseen proteins (1.2-4.5 in all but one fold); on one 80/20
        split of Guo's pairs 1e-2 was more accurate than 1e-3 and 1e-1.
        Tune it for your data.
    n_init : int, default=3
        Starts per fit (at 100 iterations, one start instead of three lost
        1.1 points of held-out accuracy on Guo's pairs; docs/ppi.md, "Fit time").
    max_iter : int, default=300
        Iteration cap of every fit (on one 80/20 split of Guo's pairs 1,000
        iterations instead of 300 moved held-out accuracy by 0.004; 100
        instead of 300 lost 0.8 points on the experiment's folds).
    tol : float, default=1e-6
        Relative change of the objective at which a fit stops: the DSC
        path's own tolerance, so the selected size is the path's fit and is
        not fitted again. The old 1e-8 refitted it for another
        ``max_iter`` iterations, a fifth of the fit's time on Guo's pairs,
        for the same held-out accuracy (0.731 both, five pair-level folds;
        docs/ppi.md, "Fit time").
    blas_threads : int or None, default=None
        BLAS threads while the mixture fits; None leaves BLAS's own setting.
        One thread had been the default while SciPy's BLAS threads fought
        NumPy's inside L-BFGS; without that, on 2 cores the fit on Guo's
        pairs took 52.5 s with BLAS's two threads and 66.0 s with one
        (63.6 s and 65.8 s with the other core busy; docs/ppi.md, "Fit time").
    n_jobs : int or None, default=-1
        Cores for the mixture's fits (:class:`~moelogit.MoEClassifier`'s
        ``n_jobs``, every core by default): ``ppi fit`` on all of Guo's
        pairs took 47.7 s on 2 cores against 60.1 s on one, to the same
        size (docs/ppi.md, "Fit time").
    random_state : int or None, default=0
    verbose : int, default=0
        Progress bars on stderr of the mixture's fits and of UniRep's
        vectors (1), or none (0).

    Attributes
    ----------
    classifier_ : SymmetricPairClassifier
        The fitted classifier on the concatenated pair features.
    n_experts_ : int
    feature_names_ : ndarray of str
        Names of the pair features.
    n_pairs_ : int
        Training pairs.
    training_proteins_ : ndarray of str
        The proteins the training pairs name, sorted (see
        :meth:`proteins_in_training`).
    training_prevalence_ : float
        Share of interacting pairs in training: the prevalence that
        ``prevalence`` in :meth:`predict_proba` corrects from. Absent from
        a model loaded from a file written before moelogit recorded it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sequences = {f"P{i}": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 60))
    ...              for i in range(40)}
    >>> pairs = rng.choice(sorted(sequences), size=(150, 2))
    >>> labels = (rng.random(150) < 0.5).astype(int)
    >>> model = PPIPredictor(n_experts=2, max_lag=5, n_init=2, max_iter=50)
    >>> p = model.fit(pairs, labels, sequences).predict_proba(pairs[:3], sequences)
    >>> p.shape, bool(np.allclose(p, model.predict_proba(pairs[:3, ::-1], sequences)))
    ((3,), True)
    """

    def __init__(
        self,
        descriptors=DEFAULTS["descriptors"],
        max_lag=30,
        n_experts="dsc",
        max_experts=DEFAULTS["max_experts"],
        alpha=DEFAULTS["alpha"],
        n_init=DEFAULTS["n_init"],
        max_iter=DEFAULTS["max_iter"],
        tol=DEFAULTS["tol"],
        blas_threads=DEFAULTS["blas_threads"],
        n_jobs=DEFAULTS["n_jobs"],
        random_state=0,
        verbose=0,
    ):
        self.descriptors = descriptors
        self.max_lag = max_lag
        self.n_experts = n_experts
        self.max_experts = max_experts
        self.alpha = alpha
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.blas_threads = blas_threads
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _features(self, sequences) -> PairFeatures:
        return PairFeatures(
            sequences, tuple(self.descriptors), "concat", self.max_lag, verbose=self.verbose
        ).fit()

    def classifier(self) -> SymmetricPairClassifier:
        """The unfitted classifier on pair features that :meth:`fit` trains."""
        moe = MoEClassifier(
            self.n_experts,
            max_experts=self.max_experts,
            alpha=self.alpha,
            curvature="fixed",
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )
        return SymmetricPairClassifier(Pipeline([("scale", StandardScaler()), ("clf", moe)]))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "classifier_")

    def fit(self, pairs, labels, sequences):
        """Train on labelled pairs.

        Parameters
        ----------
        pairs : array-like of str, shape (n, 2)
            Protein ids.
        labels : array-like of {0, 1}, shape (n,)
            1 for interacting pairs.
        sequences : dict of str to str
            The sequence of every protein that ``pairs`` names.
        """
        pairs = np.asarray(pairs, dtype=str)
        labels = np.asarray(labels)
        if set(np.unique(labels).tolist()) != {0, 1}:
            raise ValueError("labels must hold both 0 (not interacting) and 1 (interacting)")
        blas_threads = self.blas_threads
        if blas_threads is not None and (
            isinstance(blas_threads, bool) or not isinstance(blas_threads, numbers.Integral)
            or blas_threads < 1
        ):
            raise ValueError(f"blas_threads must be None or an integer >= 1, got {blas_threads!r}")
        features = self._features(sequences)
        X = features.transform(pairs)
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            self.classifier_ = self.classifier().fit(X, labels)
        self.feature_names_ = features.get_feature_names_out()
        self.n_pairs_ = len(labels)
        self.training_proteins_ = np.unique(pairs)
        self.training_prevalence_ = float(np.mean(labels == 1))
        return self

    @property
    def moe_(self) -> MoEClassifier:
        """The fitted mixture of experts inside :attr:`classifier_`."""
        check_is_fitted(self)
        return self.classifier_.estimator_.named_steps["clf"]

    @property
    def n_experts_(self) -> int:
        return self.moe_.n_experts_

    def proteins_in_training(self, pairs) -> np.ndarray:
        """How many of each pair's two proteins the training pairs name: 0, 1 or 2.

        How far to trust a probability depends on it. In the PPI experiment
        (docs/ppi.md) the mixture's mean held-out accuracy was 0.81 (Martin)
        and 0.65 (Guo) in pair-level folds, where on average 86% and 99.9%
        of the test pairs had both proteins in training, and 0.58 and 0.56
        on pairs of unseen proteins, a little above chance: much of what a
        model learns from labelled pairs is which proteins interact often.
        Pairs with one seen protein were not measured separately. Proteins
        are matched by id: a training protein under another id counts as
        unseen, and a pair of a seen protein with itself counts 2.

        Examples
        --------
        >>> model = PPIPredictor()
        >>> model.classifier_ = None  # stands for a fitted model here
        >>> model.training_proteins_ = np.array(["A", "B"])  # as fit() sets it
        >>> model.proteins_in_training([["A", "B"], ["B", "C"], ["C", "D"], ["A", "A"]])
        array([2, 1, 0, 2])
        """
        check_is_fitted(self)
        if not hasattr(self, "training_proteins_"):
            raise AttributeError(
                "this model does not record its training proteins (a model file written "
                "before moelogit recorded them); refit it to have them"
            )
        pairs = np.asarray(pairs, dtype=str)
        if pairs.size == 0:
            return np.zeros(0, dtype=int)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"pairs must have shape (n, 2), got {pairs.shape}")
        return np.isin(pairs, self.training_proteins_).sum(axis=1)

    def predict_proba(self, pairs, sequences, prevalence=None) -> np.ndarray:
        """Probability that each pair interacts, shape (n,); the same for (a, b) and (b, a).

        ``sequences`` must hold every protein that ``pairs`` names; they need
        not be the training proteins.

        ``prevalence`` (a number in (0, 1)) corrects the probabilities from
        the training prevalence (:attr:`training_prevalence_`, 0.5 for a
        balanced benchmark) to the share of interacting pairs expected among
        the candidates, by Bayes' rule: the odds are multiplied by
        ``prevalence / (1 - prevalence)`` and divided by the training odds
        (:func:`moelogit.prior.shift_log_proba`). ``"auto"`` estimates the
        candidates' prevalence from their own scores first
        (:meth:`estimate_prevalence`, without its interval).
        """
        check_is_fitted(self)
        X = self._features(sequences).transform(np.asarray(pairs, dtype=str))
        positive = list(self.classifier_.classes_).index(1)
        proba = self.classifier_.predict_proba(X)[:, positive]
        if prevalence is None:
            return proba
        if isinstance(prevalence, str) and prevalence == "auto":
            prevalence = self.estimate_prevalence(proba, n_boot=0).prior[1]
        return self.adjust_proba(proba, prevalence)

    def _training_prior(self) -> np.ndarray:
        """``[1 - training prevalence, training prevalence]``, or why there is none."""
        check_is_fitted(self)
        if not hasattr(self, "training_prevalence_"):
            raise ValueError(
                "this model does not record its training prevalence (a model file written "
                "before moelogit recorded it), so its probabilities cannot be corrected to "
                "another prevalence: refit it, or set its training_prevalence_ to the share "
                "of interacting training pairs"
            )
        share = self.training_prevalence_
        return np.array([1.0 - share, share])

    def adjust_proba(self, proba, prevalence) -> np.ndarray:
        """Probabilities ``proba`` from :meth:`predict_proba`, corrected to ``prevalence``."""
        if isinstance(prevalence, bool) or not isinstance(prevalence, (int, float, np.number)):
            raise TypeError(
                f"prevalence must be a number between 0 and 1 or 'auto', got {prevalence!r}"
            )
        if not 0.0 < prevalence < 1.0:
            raise ValueError(f"prevalence must be between 0 and 1 (exclusive), got {prevalence!r}")
        new = np.array([1.0 - prevalence, prevalence])
        return np.exp(shift_log_proba(binary_log_proba(proba), new, self._training_prior())[:, 1])

    def estimate_prevalence(
        self, proba, *, n_boot: int = 200, level: float = 0.95, random_state=0
    ) -> PriorEstimate:
        """The share of interacting pairs among candidates, estimated from their scores.

        ``proba`` are the candidates' uncorrected probabilities
        (:meth:`predict_proba` without ``prevalence``). The estimate is the
        EM of Saerens, Latinne and Decaestecker (2002,
        :func:`moelogit.prior.em_prior`): correct the probabilities to a
        prevalence, take their mean as the next prevalence, until it changes
        by less than 1e-8 (at most 1,000 iterations). It assumes a calibrated
        model and candidates that differ from the training pairs only in
        their share of interactions. ``n_boot`` resamples of the candidates
        (seeded by ``random_state``) give a percentile interval at ``level``.

        Returns
        -------
        PriorEstimate
            ``prior[1]`` is the prevalence, ``low[1]`` and ``high[1]`` its
            interval (NaN with ``n_boot=0``).
        """
        return bootstrap_prior(
            binary_log_proba(proba),
            self._training_prior(),
            n_boot=n_boot,
            level=level,
            random_state=random_state,
        )
