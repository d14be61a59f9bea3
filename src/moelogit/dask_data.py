"""Dask data for :class:`moelogit.MoEClassifier`: checked, summarised and predicted chunk by chunk.

A fit on Dask collections never gathers the rows on the driver. One pass
over the chunks checks them (finite features, valid weights) and returns
what the estimator needs before fitting: the labels present with their
weights, each feature's range, weighted mean and spread (merged across
chunks by Chan's formula, so that the standardisation needs no second
pass), and the total weight. The fit engine then reduces over the
features' chunks, making each block's design rows where it lies
(:mod:`moelogit.chunked`). Predictions of Dask arrays are lazy Dask arrays,
chunk by chunk; likelihoods and scores reduce.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .chunked import chunk_tasks, require_dask
from .design import Design, check_spans, scaling_power
from .model import accumulate

__all__ = [
    "ChunkedData",
    "as_dask_arrays",
    "chunk_sum",
    "frame_to_array",
    "map_rows",
    "normalised_weights",
    "summarise",
]


def as_dask_arrays(X, y=None, sample_weight=None, n_features: int | None = None):
    """``X`` (2-D, one column chunk), ``y`` and ``sample_weight`` as row-aligned Dask arrays.

    ``X`` may be a Dask array or DataFrame; with a DataFrame ``y`` may name
    its label column. ``y`` and ``sample_weight`` may be Dask or in-memory
    arrays (Series). Returns ``(X, y, sample_weight, feature_names)``;
    absent ``y`` or weights stay None, names are None for arrays.
    """
    dask = require_dask()
    import dask.array as da

    names = None
    if _is_frame(X) and X.ndim == 2:
        if isinstance(y, str):
            if y not in X.columns:
                raise ValueError(f"the label column {y!r} is not among X's columns")
            X, y = X.drop(columns=[y]), X[y]
        bad = [
            str(column)
            for column, dtype in X.dtypes.items()
            if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_))
        ]
        if bad:
            raise TypeError(
                f"X has non-numeric feature columns {bad}; encode them as numbers first"
            )
        names = np.asarray([str(column) for column in X.columns], dtype=object)
        X = frame_to_array(X)
    elif isinstance(y, str):
        raise TypeError("y names a label column only when X is a Dask DataFrame")
    if not dask.is_dask_collection(X):
        X = da.from_array(np.asarray(X))
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got a Dask array of shape {X.shape}")
    if any(np.isnan(size) for size in X.shape):
        raise ValueError("X has chunks of unknown size: compute their lengths first")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the model was fitted on {n_features}"
        )
    if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise TypeError(f"X must hold numbers, got a Dask array of dtype {X.dtype}")
    X = X.astype(np.float64).rechunk({1: -1})
    return X, _aligned(y, X, "y"), _aligned(sample_weight, X, "sample_weight"), names


def _is_frame(value) -> bool:
    """Whether ``value`` is a Dask DataFrame or Series (loaded only by those who use them)."""
    frames = sys.modules.get("dask.dataframe")
    return frames is not None and isinstance(value, (frames.DataFrame, frames.Series))


def frame_to_array(frame, lengths=True):
    """A Dask DataFrame or Series as a Dask array with known chunk lengths.

    ``lengths``: the parts' lengths, or True to count them (one pass).
    """
    with warnings.catch_warnings():
        # Text labels become NumPy objects, as they are in memory: nothing to warn about.
        warnings.filterwarnings("ignore", "Dask currently has limited support", UserWarning)
        return frame.to_dask_array(lengths=lengths)


def _aligned(values, X, name: str):
    """``values`` as a 1-D Dask array with ``X``'s row chunks (None stays None)."""
    if values is None:
        return None
    import dask.array as da

    if _is_frame(values):
        values = frame_to_array(values)
    elif not require_dask().is_dask_collection(values):
        values = np.asarray(values)
        if values.ndim == 0:  # one weight for every row
            values = np.full(X.shape[0], values)
        values = da.from_array(values, chunks=X.chunks[0])
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has shape {values.shape}, expected ({X.shape[0]},): one value per row of X"
        )
    return values.rechunk((X.chunks[0],))


def _chunk_summary(X: np.ndarray, y: np.ndarray, weights) -> dict:
    """What :func:`summarise` needs from one chunk (computed where it lies)."""
    weights = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    summary = {"rows": X.shape[0], "bad_X": int(np.count_nonzero(~np.isfinite(X)))}
    summary["bad_weights"] = int(np.count_nonzero(~(np.isfinite(weights) & (weights >= 0))))
    if summary["bad_X"] or summary["bad_weights"]:
        return summary
    positive = weights > 0
    X, y, weights = X[positive], y[positive], weights[positive]
    summary["positive"] = X.shape[0]
    labels, codes = np.unique(y, return_inverse=True)
    summary["labels"] = labels
    summary["label_weights"] = np.bincount(codes.ravel(), weights=weights, minlength=labels.size)
    summary["total"] = float(weights.sum())
    if X.shape[0]:
        low, high = X.min(axis=0), X.max(axis=0)
        mean = weights @ X / summary["total"]
        power = scaling_power(np.maximum(np.abs(low), np.abs(high)))
        deviations = (X - mean) / power
        summary |= {"low": low, "high": high, "mean": mean, "power": power}
        summary["spread"] = weights @ (deviations * deviations)  # in units of power^2
    return summary


def _without_weights(X, y):
    return _chunk_summary(X, y, None)


def _codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return np.searchsorted(classes, labels)


@dataclass(frozen=True)
class ChunkedData:
    """Training data in Dask chunks, checked, with the summaries a fit needs.

    ``weights`` are normalised to sum to one (a lazy Dask array); the
    feature statistics are over rows of positive weight, weighted.
    """

    X: object
    y: object
    weights: object
    classes: np.ndarray
    class_weights: np.ndarray  # normalised, in classes' order
    n_positive: int
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    variance_units: np.ndarray  # the weighted variance divided by power^2
    power: np.ndarray

    @property
    def codes(self):
        """Class codes of ``y`` in ``classes``, lazily."""
        return self.y.map_blocks(_codes, self.classes, dtype=np.intp)

    def standardization(self, standardize: bool):
        """``(mean, scale, used)`` as :func:`moelogit.estimator.standardization` gives them."""
        used = self.high > self.low
        if not standardize:
            return np.zeros(self.low.size), np.ones(self.low.size), used
        scale = np.sqrt(self.variance_units) * self.power
        scale[~used] = 1.0
        return self.mean, scale, used

    def design(self, mean, scale, used):
        """The features and the :class:`~moelogit.design.Design` the fit applies to them where they lie."""
        return self.X, Design(mean, scale, used)

    def gate_weight(self, params) -> np.ndarray:
        """Every expert's total gate weight over the rows (for :meth:`MoEParams.in_gate_order`)."""
        return chunk_sum(_gate_weight, (self.X, self.weights), params)[0]

    def separated(self, params) -> bool:
        """Whether ``params`` classify every row of positive weight correctly."""
        return chunk_sum(_misclassified, (self.X, self.codes, self.weights), params)[0] == 0


def summarise(X, y, sample_weight, names=None) -> ChunkedData:
    """One pass over the chunks: check them and summarise them (see the module's notes).

    Raises a ValueError naming the first chunk (and its rows) with
    non-finite features or invalid weights.
    """
    dask = require_dask()
    arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
    function = _without_weights if sample_weight is None else _chunk_summary
    summaries = dask.compute(*chunk_tasks(function, arrays))
    start = 0
    for number, summary in enumerate(summaries, start=1):
        where = f"chunk {number} of {len(summaries)} (rows {start} to {start + summary['rows'] - 1})"
        if summary["bad_X"]:
            raise ValueError(f"X contains NaN or infinite values in {where}")
        if summary["bad_weights"]:
            raise ValueError(
                f"sample_weight contains negative, NaN or infinite values in {where}"
            )
        start += summary["rows"]
    filled = [summary for summary in summaries if "low" in summary]
    total = sum(summary["total"] for summary in summaries)
    if not filled or not total > 0:
        raise ValueError("sample_weight sums to zero: no row carries weight")
    try:
        classes = np.unique(np.concatenate([summary["labels"] for summary in summaries]))
    except TypeError as exc:
        raise TypeError(f"labels in y must be mutually comparable: {exc}") from exc
    class_weights = np.zeros(classes.size)
    for summary in summaries:
        class_weights[np.searchsorted(classes, summary["labels"])] += summary["label_weights"]
    low = np.min([summary["low"] for summary in filled], axis=0)
    high = np.max([summary["high"] for summary in filled], axis=0)
    check_spans(low, high, names)
    # Chan's merge of the chunks' weighted means and spreads, in units of one power of two.
    mean = sum(summary["total"] * summary["mean"] for summary in filled) / total
    power = scaling_power(np.maximum(np.abs(low), np.abs(high)))
    spread = np.zeros(low.size)
    for summary in filled:
        shift = (summary["mean"] - mean) / power
        spread += summary["spread"] * (summary["power"] / power) ** 2
        spread += summary["total"] * shift * shift
    n_positive = sum(summary["positive"] for summary in filled)
    if sample_weight is None:
        weights = normalised_weights(None, X)
    else:
        weights = sample_weight.astype(np.float64) / total
    return ChunkedData(
        X, y, weights, classes, class_weights / total, n_positive, low, high, mean,
        spread / total, power,
    )  # fmt: skip


def chunk_sum(function, arrays: tuple, *shared) -> tuple:
    """The sum over chunks of the tuples ``function(*shared, *chunk's parts)``, on the active scheduler."""
    dask = require_dask()
    total = None
    for part in dask.compute(*chunk_tasks(function, arrays, *shared)):
        total = accumulate(total, part)
    return tuple(total)


def normalised_weights(sample_weight, X):
    """Row weights summing to one as a Dask array with ``X``'s row chunks (checked when given)."""
    import dask.array as da

    if sample_weight is None:
        return da.full(X.shape[0], 1.0 / X.shape[0], chunks=X.chunks[0])
    bad, total = chunk_sum(_weight_check, (sample_weight,))
    if bad:
        raise ValueError("sample_weight contains negative, NaN or infinite values")
    if not total > 0:
        raise ValueError("sample_weight sums to zero: no row carries weight")
    return sample_weight.astype(np.float64) / total


def _weight_check(weights: np.ndarray) -> tuple:
    weights = np.asarray(weights, dtype=np.float64)
    return int(np.count_nonzero(~(np.isfinite(weights) & (weights >= 0)))), float(weights.sum())


def map_rows(function, X, *others, n_columns: int | None, dtype=np.float64):
    """``function(X's chunk, others' chunks...)`` chunk by chunk, lazily: a Dask array.

    ``others`` are 1-D arrays with ``X``'s row chunks. ``n_columns`` is the result's number of columns, or None for one value a
    row. A chunk of ``X`` with NaN or infinite values raises a ValueError
    naming its rows when it is computed.
    """
    import dask.array as da

    def checked(X_chunk, *other_chunks, block_info=None):
        if not np.all(np.isfinite(X_chunk)):
            start, stop = block_info[0]["array-location"][0]
            raise ValueError(f"X contains NaN or infinite values in rows {start} to {stop - 1}")
        return function(X_chunk, *(chunk[:, 0] for chunk in other_chunks))

    others = [other[:, None] for other in others]  # 1-D: as columns, rows aligned with X's
    if n_columns is None:
        return da.map_blocks(checked, X, *others, drop_axis=1, dtype=dtype)
    return da.map_blocks(checked, X, *others, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)


def _gate_weight(params, X: np.ndarray, weights: np.ndarray) -> tuple:
    return (params.gate_weight(X, weights),)


def _misclassified(params, X: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> tuple:
    predicted = np.argmax(params.log_class_proba(X), axis=1)
    return (int(np.count_nonzero((predicted != codes) & (weights > 0))),)
