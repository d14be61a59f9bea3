"""The design matrix of a fit: which features enter, centred and scaled.

The estimator standardises the features internally (the MM bound and the
ridge are then on one scale for every feature) and keeps constant features
out of the design. Both steps run by blocks of rows, so no temporary of the
size of ``X`` is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import row_slices, rows_per_block

__all__ = [
    "Design",
    "check_spans",
    "design_blocks",
    "design_matrix",
    "scaling_power",
    "standardization",
]


def check_spans(low: np.ndarray, high: np.ndarray, names=None) -> None:
    """A ValueError naming every feature whose range float64 cannot hold."""
    with np.errstate(over="ignore"):
        spans = high - low
    if not np.all(np.isfinite(spans)):
        bad = [
            repr(str(names[j])) if names is not None else f"{j}"
            for j in np.flatnonzero(~np.isfinite(spans))
        ]
        raise ValueError(
            f"feature {', '.join(bad)} spans a range (largest minus smallest value) "
            "beyond float64's limit of about 1.8e308: rescale it"
        )


def scaling_power(magnitude: np.ndarray) -> np.ndarray:
    """A power of two near ``magnitude``, by which deviations are divided before squaring."""
    return np.ldexp(1.0, np.clip(np.frexp(magnitude)[1] - 1, -1000, 1000))


def standardization(X, weights, *, standardize=True, names=None):
    """Weighted centre and scale of every feature, and which features enter the design.

    ``weights`` sum to one; ``names`` name the features in messages.

    Constant columns carry no information beyond the intercept and would
    make the curvature singular: they stay out of the design (zero slopes).
    Deviations are divided by a power of two near the column's largest
    magnitude before they are squared: values up to float64's limit give
    a finite scale, and the result is the same to the bit as without.
    """
    low, high = np.full(X.shape[1], np.inf), np.full(X.shape[1], -np.inf)
    for rows in design_blocks(*X.shape):  # no temporary of the size of X
        block = X[rows][weights[rows] > 0]
        if block.size:
            low, high = np.minimum(low, block.min(axis=0)), np.maximum(high, block.max(axis=0))
    check_spans(low, high, names)
    used = high > low
    if not standardize:
        return np.zeros(X.shape[1]), np.ones(X.shape[1]), used
    mean = weights @ X  # weights sum to one
    power = scaling_power(np.maximum(np.abs(low), np.abs(high)))
    variance = np.zeros(X.shape[1])  # of X / power
    for rows in design_blocks(*X.shape):
        positive = weights[rows] > 0
        block = X[rows][positive] - mean
        block /= power
        variance += weights[rows][positive] @ (block * block)
    scale = np.sqrt(variance) * power
    scale[~used] = 1.0
    return mean, scale, used


def design_blocks(n_rows: int, n_columns: int) -> list[slice]:
    """Row blocks of about 2^22 values (32 MiB) of X."""
    return row_slices(n_rows, rows_per_block(n_columns, budget=2**22))


def design_matrix(X, mean, scale, used, out=None) -> np.ndarray:
    """``[1, standardised used features]`` from :func:`standardization`'s results.

    Built in place (in ``out`` if given): no temporaries of the size of X.
    """
    Z = np.empty((X.shape[0], 1 + np.count_nonzero(used))) if out is None else out
    Z[:, 0] = 1.0
    every = bool(np.all(used))  # then no copy of the used columns
    centre, spread = mean[used], scale[used]
    for rows in design_blocks(*X.shape):
        np.subtract(X[rows] if every else X[rows][:, used], centre, out=Z[rows, 1:])
        Z[rows, 1:] /= spread
    return Z


@dataclass(frozen=True, eq=False)
class Design:
    """The map from feature rows to design rows, ``[1, (X[:, used] - mean) / scale]``.

    Where the rows lie in chunks, a fit applies it block by block where they
    lie (:class:`moelogit.chunked.ChunkReduction`) instead of storing the
    design: it costs about as much as the mixture's evaluation on the block
    when written to fresh memory, much less into a reused buffer.
    """

    mean: np.ndarray
    scale: np.ndarray
    used: np.ndarray

    @property
    def n_columns(self) -> int:
        return 1 + int(np.count_nonzero(self.used))

    def __call__(self, X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return design_matrix(X, self.mean, self.scale, self.used, out)
