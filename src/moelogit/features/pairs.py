"""Features of protein pairs: a scikit-learn transformer from id pairs to a matrix."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from .descriptors import protein_descriptors

__all__ = ["ENCODINGS", "PairFeatures", "SymmetricPairClassifier", "encode_pairs", "swap_halves"]


def _sum_absdiff(a, b):
    return np.hstack([a + b, np.abs(a - b)])


def _sum_product(a, b):
    return np.hstack([a + b, a * b])


def _concat(a, b):
    return np.hstack([a, b])


#: name -> (function of the two proteins' rows, suffixes of the feature names, order-invariant)
ENCODINGS = {
    "sum-absdiff": (_sum_absdiff, ("sum", "absdiff"), True),
    "sum-product": (_sum_product, ("sum", "product"), True),
    "concat": (_concat, ("a", "b"), False),
}


def encode_pairs(a, b, encoding="sum-absdiff"):
    """Combine the descriptor rows of the two proteins of every pair.

    ``"sum-absdiff"`` gives ``[a + b, |a - b|]`` and ``"sum-product"`` gives
    ``[a + b, a * b]``: both are the same for (a, b) and (b, a), as the label
    of a pair is, but they lose which protein carries which values.
    ``"concat"`` gives ``[a, b]``: it keeps everything but depends on the
    order; :class:`SymmetricPairClassifier` makes a classifier on it
    order-invariant (the experiments' default).

    Examples
    --------
    >>> a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 1.0]])
    >>> encode_pairs(a, b).tolist(), encode_pairs(b, a).tolist()
    ([[4.0, 3.0, 2.0, 1.0]], [[4.0, 3.0, 2.0, 1.0]])
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {list(ENCODINGS)}, got {encoding!r}")
    return ENCODINGS[encoding][0](a, b)


class PairFeatures(TransformerMixin, BaseEstimator):
    """Descriptors of protein pairs from their sequences.

    ``X`` is an array of protein-id pairs, shape ``(n_pairs, 2)``; the
    output has one row per pair. The transformer learns nothing from the
    pairs (``fit`` computes the descriptors of every protein in
    ``sequences``), so it can run once before cross-validation without
    leaking anything from test folds, or sit first in a ``Pipeline``.

    Parameters
    ----------
    sequences : dict of str to str
        Sequence of every protein that pairs may name.
    descriptors : tuple of str, default=("aac", "ctriad", "ac")
        Per-protein descriptors, names in
        :data:`moelogit.features.descriptors.DESCRIPTORS`.
    encoding : {"sum-absdiff", "sum-product", "concat"}, default="sum-absdiff"
        How the two proteins' descriptors are combined (see
        :func:`encode_pairs`); the first two are order-invariant but lose
        information. ``"concat"`` followed by a classifier wrapped in
        :class:`SymmetricPairClassifier` is order-invariant and loses
        nothing; the PPI experiment uses it.
    max_lag : int, default=30
        Largest lag of the ``"ac"`` and ``"moran"`` descriptors.
    verbose : int, default=0
        Progress on stderr of the descriptors that take long (UniRep's), or none (0).

    Attributes
    ----------
    protein_features_ : ndarray of shape (n_proteins, n_protein_features)
        Descriptors of every protein, rows in ``proteins_`` order.
    proteins_ : ndarray of str
    n_features_in_ : int
        Always 2: the columns of ``X``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> sequences = {"P1": "MKVLAAGG", "P2": "GGSSTTWW", "P3": "MKKLLEEDD"}
    >>> pairs = [["P1", "P2"], ["P2", "P3"], ["P3", "P1"], ["P1", "P1"]]
    >>> features = PairFeatures(sequences, descriptors=("aac", "ac"), max_lag=3)
    >>> features.fit_transform(pairs).shape
    (4, 82)
    >>> model = make_pipeline(features, StandardScaler(), LogisticRegression())
    >>> model.fit(pairs, [1, 0, 1, 0]).predict([["P2", "P1"]]).shape
    (1,)
    """

    def __init__(
        self,
        sequences=None,
        descriptors=("aac", "ctriad", "ac"),
        encoding="sum-absdiff",
        max_lag=30,
        verbose=0,
    ):
        self.sequences = sequences
        self.descriptors = descriptors
        self.encoding = encoding
        self.max_lag = max_lag
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Compute the descriptors of every protein in ``sequences``."""
        if not self.sequences:
            raise ValueError("PairFeatures needs sequences: a dict of protein id to sequence")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {list(ENCODINGS)}, got {self.encoding!r}")
        if not isinstance(self.max_lag, int | np.integer) or self.max_lag < 1:
            raise ValueError(f"max_lag must be an integer >= 1, got {self.max_lag!r}")
        self.proteins_ = np.array(sorted(self.sequences), dtype=str)
        self.protein_features_, self._protein_names = protein_descriptors(
            [self.sequences[p] for p in self.proteins_],
            tuple(self.descriptors),
            self.max_lag,
            verbose=bool(self.verbose),
        )
        self.n_features_in_ = 2
        return self

    def _rows(self, X):
        """Rows in ``protein_features_`` of the two proteins of every pair."""
        pairs = np.asarray(X, dtype=str)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"X must hold pairs of protein ids, shape (n, 2); got {pairs.shape}")
        rows = np.searchsorted(self.proteins_, pairs).clip(max=len(self.proteins_) - 1)
        unknown = self.proteins_[rows] != pairs
        if unknown.any():
            names = np.unique(pairs[unknown])
            raise ValueError(
                f"{names.size} protein ids have no sequence, e.g. {names[:5].tolist()}"
            )
        return rows

    def transform(self, X):
        """The encoded descriptors of every pair, shape (n_pairs, n_features)."""
        check_is_fitted(self)
        rows = self._rows(X)
        table = self.protein_features_
        return encode_pairs(table[rows[:, 0]], table[rows[:, 1]], self.encoding)

    def get_feature_names_out(self, input_features=None):
        """Names such as ``ac_polarity_lag3_absdiff``."""
        check_is_fitted(self)
        suffixes = ENCODINGS[self.encoding][1]
        return np.array([f"{n}_{s}" for s in suffixes for n in self._protein_names], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def swap_halves(X):
    """``[b, a]`` from ``[a, b]``: the two halves of the columns exchanged.

    Examples
    --------
    >>> swap_halves(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist()
    [[3.0, 4.0, 1.0, 2.0]]
    """
    X = np.asarray(X)
    half = X.shape[1] // 2
    return np.hstack([X[:, half:], X[:, :half]])


class SymmetricPairClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Make a classifier on concatenated pair features ``[a, b]`` order-invariant.

    "Symmetrised concatenation": ``fit`` trains a clone of ``estimator`` on
    both orders of every pair, ``[a, b]`` and ``[b, a]`` with the label (and
    sample weight) repeated; ``predict_proba`` averages the probabilities of
    the two orders. Predictions are therefore exactly the same for (a, b)
    and (b, a), and unlike ``[a + b, |a - b|]`` nothing is lost about which
    protein carries which values.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Fitted on the rows of ``X`` and their swapped copies: put scaling or
        PCA inside it (a ``Pipeline``), not in front of this wrapper, so that
        the swap acts on the concatenated features themselves.

    Attributes
    ----------
    estimator_ : classifier
        The clone fitted on both orders.
    classes_ : ndarray
    n_features_in_ : int
        Even: the first half of the columns describes protein a, the second b.

    Notes
    -----
    The cost of fitting is that of ``estimator`` on twice the rows, and of
    predicting twice the rows. Cross-validation must split the pairs before
    this wrapper duplicates them (as ``GridSearchCV`` or ``cross_val_score``
    on the wrapper do), so that the two orders of a pair never fall on both
    sides of a split.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))  # columns 0-1: protein a, 2-3: protein b
    >>> y = (X[:, 0] * X[:, 2] > 0).astype(int)
    >>> model = SymmetricPairClassifier(LogisticRegression()).fit(X, y)
    >>> bool(np.array_equal(model.predict_proba(X), model.predict_proba(swap_halves(X))))
    True
    >>> model.estimator_.n_features_in_, model.classes_.tolist()
    (4, [0, 1])
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit a clone of ``estimator`` on ``[X; swap_halves(X)]`` and ``[y; y]``."""
        if self.estimator is None:
            raise ValueError("SymmetricPairClassifier needs an estimator")
        X, y = check_X_y(X, y)
        if X.shape[1] % 2:
            raise ValueError(
                f"X must hold the two proteins' features side by side (an even number of "
                f"columns), got {X.shape[1]}"
            )
        if sample_weight is not None:
            fit_params["sample_weight"] = np.concatenate([sample_weight, sample_weight])
        self.estimator_ = clone(self.estimator).fit(
            np.vstack([X, swap_halves(X)]), np.concatenate([y, y]), **fit_params
        )
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def _checked(self, X):
        check_is_fitted(self)
        X = check_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, expected {self.n_features_in_}")
        return X

    def predict_proba(self, X):
        """Mean of the probabilities of ``[a, b]`` and ``[b, a]``."""
        X = self._checked(X)
        return (
            self.estimator_.predict_proba(X) + self.estimator_.predict_proba(swap_halves(X))
        ) / 2

    def predict(self, X):
        """The class with the largest averaged probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
