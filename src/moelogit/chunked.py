"""Rows in the chunks of Dask arrays: the fit's row-block reduction on a cluster.

Every full-data quantity of a fit is a sum over rows
(:class:`moelogit.model.SerialReduction`). :class:`ChunkReduction` computes
each chunk's sum where the chunk lies, block by block as in memory, and adds
the chunks' sums in a tree, on whatever Dask scheduler is active (the
threads of ``dask.array``, processes, or a ``distributed.Client``): only the
sums travel, never rows. :func:`gather_samples` draws the nested row
samples that a fit screens and runs in on, from the chunks, so that the
driver holds at most those samples.

Dask is an optional dependency (``pip install "moelogit[dask]"``), imported
only when chunked data are fitted or predicted.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import numpy as np

from .model import Blocks, SerialReduction, accumulate

__all__ = [
    "ChunkReduction",
    "chunk_parts",
    "chunk_tasks",
    "gather_samples",
    "is_dask_collection",
    "positive_counts",
    "require_dask",
]


def is_dask_collection(value) -> bool:
    """Whether ``value`` is a Dask collection (without importing Dask when it is not loaded)."""
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection as dask_collection

    return dask_collection(value)


def require_dask():
    """``dask`` itself, or an ImportError that says how to install it."""
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - the test extras install it
        raise ImportError(
            'fitting Dask data needs dask: pip install "moelogit[dask]"'
        ) from exc
    return dask


def _chunk_sum(terms: Callable, blocks: Blocks, design, *arrays) -> tuple:
    """One chunk's sum of ``terms`` over its blocks of rows (run where the chunk lies)."""
    if design is not None:
        terms = functools.partial(_on_design, terms, design)
    return SerialReduction(positions=False)(terms, arrays, blocks)


def _on_design(terms: Callable, design, parts: tuple, rows, workspace) -> tuple:
    """``terms`` of a block whose first part, features, becomes its design rows."""
    X_rows, *rest = parts
    Z_rows = design(X_rows, out=workspace("design_rows", (X_rows.shape[0], design.n_columns)))
    return terms((Z_rows, *rest), rows, workspace)


def _add(*parts: tuple) -> tuple:
    """Partial sums added into a new one (inputs untouched: a scheduler may share them)."""
    total = None
    for part in parts:
        total = accumulate(total, part)
    return tuple(total)


def chunk_parts(arrays: tuple) -> list[tuple]:
    """The delayed row chunks of ``arrays``, one tuple per chunk.

    ``arrays`` are Dask arrays with the same row chunks and, where 2-D, a
    single column chunk.
    """
    for array in arrays:
        if array.ndim == 2 and len(array.chunks[1]) != 1:
            raise ValueError(f"an array of shape {array.shape} has more than one column chunk")
        if array.chunks[0] != arrays[0].chunks[0]:
            raise ValueError("row-aligned arrays must have the same row chunks")
    columns = [array.to_delayed().reshape(len(array.chunks[0])) for array in arrays]
    return list(zip(*columns))


def chunk_tasks(function: Callable, arrays: tuple, *shared) -> list:
    """One delayed ``function(*shared, *chunk's parts)`` per row chunk of ``arrays``.

    ``shared`` objects (a closure and its parameters) become one task each,
    sent once to every worker, not once per chunk.
    """
    dask = require_dask()
    shared = [dask.delayed(value, pure=True) for value in shared]
    return [dask.delayed(function, pure=True)(*shared, *parts) for parts in chunk_parts(arrays)]


# Partial sums added per task of the reduction tree: few levels, few hand-overs.
SPLIT_EVERY = 8


class ChunkReduction:
    """The row-block reduction over the chunks of Dask arrays, on the active scheduler.

    Called like :class:`moelogit.model.SerialReduction`, with Dask arrays
    of equal row chunks: each chunk sums its blocks' terms (``rows`` is
    None there: a chunk does not know its position), and the chunks' sums
    are added in a tree, :data:`SPLIT_EVERY` at a time. The result equals
    the in-memory one up to the order of summation. The terms (a closure
    and the parameters it holds) travel inside every chunk's task: a
    separate task for them would cost a hand-over per chunk instead.

    With a ``design`` (:class:`moelogit.design.Design`), the first of the
    arrays holds the features, and every block's design rows are made from
    them where they lie, into a reused buffer, instead of being stored.
    """

    def __init__(self, design=None):
        self.design = design

    def __call__(self, terms: Callable, arrays: tuple, blocks: Blocks) -> tuple:
        dask = require_dask()
        partial = [
            dask.delayed(_chunk_sum, pure=False)(terms, blocks, self.design, *parts)
            for parts in chunk_parts(arrays)
        ]
        while len(partial) > 1:
            groups = [partial[i : i + SPLIT_EVERY] for i in range(0, len(partial), SPLIT_EVERY)]
            partial = [dask.delayed(_add, pure=False)(*group) for group in groups]
        (total,) = dask.compute(partial[0])
        return total


def _take_rows(seed: int, count: int, Z: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """``count`` rows of positive weight of a chunk in a random order, and their positions.

    The smaller nested samples take prefixes of this order.
    """
    order = np.random.RandomState(seed).permutation(np.flatnonzero(weights > 0))[:count]
    return Z[order], y[order], weights[order], order


def _positive_rows(weights: np.ndarray) -> int:
    return int(np.count_nonzero(weights > 0))


def _allocate(counts: np.ndarray, size: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of a uniform random sample of ``size`` rows fall in each chunk (multivariate hypergeometric)."""
    taken = np.zeros(counts.size, dtype=np.int64)
    left, wanted = int(counts.sum()), size
    for i, count in enumerate(counts):
        left -= int(count)
        if wanted:
            taken[i] = rng.hypergeometric(int(count), left, wanted) if left else wanted
            wanted -= taken[i]
    return taken


def positive_counts(weights) -> np.ndarray:
    """Rows of positive weight in every chunk of the Dask array ``weights`` (one pass)."""
    dask = require_dask()
    return np.array(dask.compute(*chunk_tasks(_positive_rows, (weights,))), dtype=np.int64)


def gather_samples(Z, y, weights, counts, sizes: list[int], rng: np.random.RandomState) -> list:
    """Nested uniform samples of the rows of positive weight, gathered on the driver.

    ``counts`` are :func:`positive_counts`. Sample ``j`` has ``sizes[j]``
    rows (increasing sizes) and contains sample ``j - 1``; each is
    ``(Z, y, weights)`` as NumPy arrays in the rows' order, weights
    renormalised to one. One pass gathers the largest sample.
    """
    dask = require_dask()
    allocations = [_allocate(counts, sizes[-1], rng)]
    for size in reversed(sizes[:-1]):  # each sample a uniform sample of the next larger
        allocations.insert(0, _allocate(allocations[0], size, rng))
    seeds = rng.randint(np.iinfo(np.int32).max, size=counts.size)
    gathered = dask.compute(
        *[
            dask.delayed(_take_rows, pure=True)(int(seed), int(count), *parts)
            for seed, count, parts in zip(seeds, allocations[-1], chunk_parts((Z, y, weights)))
        ]
    )
    samples = []
    for allocation in allocations:
        parts = []
        for (Z_c, y_c, w_c, order), count in zip(gathered, allocation):
            keep = np.argsort(order[:count], kind="stable")  # the chunk's rows in their order
            parts.append((Z_c[keep], y_c[keep], w_c[keep]))
        Z_s, y_s, w_s = (np.concatenate(column) for column in zip(*parts))
        samples.append((Z_s, y_s, w_s / w_s.sum()))
    return samples
