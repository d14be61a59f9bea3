"""Dask scaling: moelogit's full-data passes on a cluster against the same passes in memory.

Run ``python -m benchmarks.dask_scaling [--parts iteration,large,projection]``
from the repository root; every part prints a table.

*iteration*: n = 1,000,000 rows, d = 50, K = 8, M = 2. The data are drawn
on a ``distributed.LocalCluster`` of 2 single-threaded worker processes and
persisted there (chunks of ``--chunk-rows`` rows); the same rows are
gathered for the in-memory peers. At one parameter value (a random start),
medians over ``--repeats`` runs of one full-data iteration: the
log-likelihood and its gradient (an L-BFGS iteration, the fit's usual one)
and one MM step with the per-expert curvature (its fallback), in memory on
1 thread, in memory on 2 threads (``n_jobs=2``) and on the cluster. The
driver's share is its own CPU time over the wall time; bytes are what one
iteration's tasks carry, from their pickled sizes: the terms sent with
every chunk and the partial sums sent back up the tree.

*large*: n = ``--large-rows`` (10,000,000) rows, d = 50, drawn chunk by chunk
where they are used (a chunk's rows come from its own seed) and never
persisted, so no process holds all of X; labels from a random mixture. One
default ``MoEClassifier(n_experts=8)`` fit on the cluster of 2 workers:
wall time, full-data iterations, and every worker's peak resident memory
(polled every 0.5 s) against its memory before the fit and the bytes of one
chunk.

*projection*: from the iteration part, the time of one iteration for 1e9
rows on 100 single-threaded workers (see :func:`projection`).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cloudpickle
import numpy as np
import pandas as pd

from moelogit import MoEClassifier
from moelogit.chunked import ChunkReduction
from moelogit.design import Design, design_matrix, standardization
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.model import Dims
from moelogit.params import MoEParams
from moelogit.reduction import ThreadReduction

N_ROWS, N_FEATURES, N_EXPERTS, N_CLASSES = 1_000_000, 50, 8, 2


def truth(d=N_FEATURES, K=N_EXPERTS, M=N_CLASSES, seed=0) -> MoEParams:
    """A random mixture whose labels the benchmarks draw."""
    rng = np.random.default_rng(seed)
    return MoEParams(
        rng.normal(0, 1 / np.sqrt(d), (K, d)), np.zeros(K),
        rng.normal(0, 2 / np.sqrt(d), (K, M, d)), np.zeros((K, M)),
    )  # fmt: skip


def _features(n_rows, d, seed, block_info=None):
    """A chunk's features from its own seed: the same rows at every pass."""
    chunk = block_info[None]["chunk-location"][0]
    return np.random.default_rng([seed, chunk]).standard_normal((n_rows, d))


def _labels(X, params, seed, block_info=None):
    chunk = block_info[0]["chunk-location"][0]
    proba = np.exp(params.log_class_proba(X))
    draws = np.random.default_rng([seed, chunk, 1]).random(X.shape[0])
    return (draws[:, None] > np.cumsum(proba, axis=1)[:, :-1]).sum(axis=1)


def lazy_data(n, d, chunk_rows, seed=0):
    """Features and labels drawn chunk by chunk where they are used (Dask arrays)."""
    import dask.array as da

    rows = tuple(min(chunk_rows, n - start) for start in range(0, n, chunk_rows))
    X = da.map_blocks(
        lambda block_info=None: _features(block_info[None]["chunk-shape"][0], d, seed, block_info),
        chunks=(rows, (d,)), dtype=np.float64, meta=np.empty((0, 0)),
    )  # fmt: skip
    y = X.map_blocks(_labels, truth(d), seed, drop_axis=1, dtype=np.int64)
    return X, y


class MeasuredReduction(ChunkReduction):
    """The cluster's reduction, recording the pickled bytes of what each call sends."""

    def __init__(self, design):
        super().__init__(design)
        self.sent = self.returned = 0

    def __call__(self, terms, arrays, blocks):
        total = super().__call__(terms, arrays, blocks)
        n_chunks = len(arrays[0].chunks[0])
        self.sent += n_chunks * len(cloudpickle.dumps((terms, blocks, self.design)))
        self.returned += n_chunks * len(cloudpickle.dumps(total))  # a partial is a total's size
        return total


def _timed(function, repeats):
    """Median wall seconds and median driver CPU share of ``function()``."""
    walls, shares = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        walls.append(wall)
        shares.append(cpu / wall)
    return float(np.median(walls)), float(np.median(shares))


def iteration(client, n_rows=N_ROWS, repeats=5, chunk_rows=100_000):
    """The *iteration* part: one full-data iteration in memory and on the cluster."""
    from distributed import wait

    X, y = lazy_data(n_rows, N_FEATURES, chunk_rows)
    X, y = client.persist([X, y])
    wait([X, y])
    X_memory, y_memory = X.compute(), y.compute()
    weights = np.full(n_rows, 1 / n_rows)
    mean, scale, used = standardization(X_memory, weights)
    Z = design_matrix(X_memory, mean, scale, used)
    import dask.array as da

    w_chunks = da.full(n_rows, 1 / n_rows, chunks=X.chunks[0])
    dims = Dims(Z.shape[1], N_EXPERTS, N_CLASSES)
    theta = initial_theta(Z[:10_000], y_memory[:10_000], weights[:10_000] * 100, dims, "random", 1)
    measured = MeasuredReduction(Design(mean, scale, used))
    executor = ThreadPoolExecutor(2)
    maps = {
        "in memory, 1 thread": BohningMM(Z, y_memory, weights, dims, curvature="expert"),
        "in memory, 2 threads": BohningMM(
            Z, y_memory, weights, dims, curvature="expert", reduction=ThreadReduction(executor, 2)
        ),
        "Dask, 2 workers": BohningMM(X, y, w_chunks, dims, curvature="expert", reduction=measured),
    }
    rows = []
    for name, mm in maps.items():
        for what, step in (
            ("log-likelihood + gradient", lambda: mm.value_and_gradient(theta)),
            ("MM step, per-expert curvature", lambda: mm(theta)),
        ):
            step()  # warm: workspaces, the workers' imports
            measured.sent = measured.returned = 0
            wall, share = _timed(step, repeats)
            row = {"iteration": what, "where": name, "seconds": wall, "driver CPU share": share}
            if name.startswith("Dask"):
                row["MB sent"] = measured.sent / repeats / 1e6
                row["MB returned"] = measured.returned / repeats / 1e6
            rows.append(row)
    executor.shutdown()
    table = pd.DataFrame(rows)
    for what in table["iteration"].unique():
        rows_of = table["iteration"] == what
        peer = table.loc[rows_of & (table["where"] == "in memory, 2 threads"), "seconds"].item()
        table.loc[rows_of, "x in memory (2 threads)"] = table.loc[rows_of, "seconds"] / peer
    n_chunks = len(X.chunks[0])
    latency, _ = _timed(_tiny_reduction, repeats)
    facts = {"rows": n_rows, "chunks": n_chunks, "chunk_rows": chunk_rows, "latency": latency}
    return table, facts


def _tiny_reduction():
    """One reduction over 8 chunks of 10 rows: the cluster's fixed cost per iteration."""
    import dask.array as da

    from moelogit.model import objective_and_gradient, unpack

    Z = da.ones((80, 3), chunks=(10, 3))
    y, w = da.zeros(80, chunks=10, dtype=int), da.full(80, 1 / 80, chunks=10)
    dims = Dims(3, 2, 2)
    objective_and_gradient(Z, y, w, *unpack(np.zeros(dims.n_params), dims),
                           reduction=ChunkReduction())  # fmt: skip


def projection(table, facts, rows=1e9, workers=100, chunk_rows=100_000):
    """Seconds per iteration for ``rows`` rows on ``workers`` single-threaded workers.

    compute: the cluster's measured seconds per row per worker (2 workers),
    times the rows each worker holds; tree: the measured
    fixed cost of a reduction (8 tiny chunks, one level) times the levels
    of an 8-way tree over ``rows / chunk_rows`` chunks; driver: its
    measured CPU seconds per iteration (independent of the rows). Bytes:
    the measured bytes per chunk times the chunks.
    """
    out = []
    n_chunks = int(np.ceil(rows / chunk_rows))
    levels = int(np.ceil(np.log(n_chunks) / np.log(8)))
    for what in table["iteration"].unique():
        dask_row = table[(table["iteration"] == what) & (table["where"] == "Dask, 2 workers")].iloc[0]
        driver = dask_row["seconds"] * dask_row["driver CPU share"]
        per_row = (dask_row["seconds"] - driver - facts["latency"]) * 2 / facts["rows"]
        compute = per_row * rows / workers
        tree = facts["latency"] * levels
        per_chunk = (dask_row["MB sent"] + dask_row["MB returned"]) / facts["chunks"]
        out.append({
            "iteration": what, "compute s": compute, "tree s": tree, "driver s": driver,
            "total s": compute + tree + driver, "MB moved": per_chunk * n_chunks,
        })  # fmt: skip
    return pd.DataFrame(out)


def large(client, n_rows, chunk_rows=250_000, seed=1):
    """The *large* part: one default fit on rows drawn where they are used."""
    X, y = lazy_data(n_rows, N_FEATURES, chunk_rows, seed)
    workers = list(client.scheduler_info()["workers"])

    def rss():
        import psutil

        return psutil.Process().memory_info().rss

    before = client.run(rss)
    peaks = dict(before)
    done = threading.Event()

    def poll():
        while not done.wait(0.5):
            try:
                for worker, value in client.run(rss).items():
                    peaks[worker] = max(peaks[worker], value)
            except Exception:  # a closing cluster: the last poll
                return

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    start = time.perf_counter()
    model = MoEClassifier(N_EXPERTS, random_state=0, verbose=1).fit(X, y)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    chunk_bytes = chunk_rows * N_FEATURES * 8
    rows = [
        {"worker": i + 1, "MB before": before[w] / 1e6, "peak MB": peaks[w] / 1e6,
         "peak - before (MB)": (peaks[w] - before[w]) / 1e6, "chunk MB": chunk_bytes / 1e6}
        for i, w in enumerate(workers)
    ]  # fmt: skip
    summary = {"rows": n_rows, "wall s": wall, "full-data iterations": model.n_iter_,
               "converged": model.converged_, "objective": model.objective_}  # fmt: skip
    return pd.DataFrame(rows), summary


def _print(table):
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="iteration,projection,large")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=N_ROWS, help="rows of the iteration part")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--large-rows", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:  # fmt: skip
        if "iteration" in parts or "projection" in parts:
            table, facts = iteration(client, args.rows, args.repeats, args.chunk_rows)
            print(f"\nOne full-data iteration: n={args.rows:,}, d={N_FEATURES}, K={N_EXPERTS}, "
                  f"M={N_CLASSES}; {facts['chunks']} chunks of {facts['chunk_rows']:,} rows; "
                  f"medians of {args.repeats}")  # fmt: skip
            _print(table)
            print(f"A reduction over 8 tiny chunks (the fixed cost): {facts['latency']:.4f} s")
            if "projection" in parts:
                print("\nProjection: 1e9 rows on 100 single-threaded workers, chunks of 100,000")
                _print(projection(table, facts))
        if "large" in parts:
            client.restart()  # the large fit starts from fresh workers
            memory, summary = large(client, args.large_rows)
            print(f"\nA default fit of {args.large_rows:,} rows drawn where they are used:")
            print(", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in summary.items()))  # fmt: skip
            _print(memory)


if __name__ == "__main__":
    main()
