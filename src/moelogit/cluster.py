"""The command line on a Dask cluster: schedulers, tables in parts, predictions in parts.

``moelogit fit`` and ``moelogit predict`` given ``--scheduler`` read their
data as a Dask DataFrame (a folder of Parquet files, or a glob of CSV
files) and fit or predict chunk by chunk on that scheduler: ``local:N``
starts a ``distributed.LocalCluster`` of ``N`` single-threaded worker
processes for the command and closes it after; anything else is the
address of a running ``distributed`` scheduler. Predictions are written as
a folder of Parquet parts, which appears only when complete.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pandas as pd

from ._tabular import DataError

__all__ = ["read_parts", "scheduler", "summarize_parts", "write_parts"]


def _distributed():
    try:
        import dask.dataframe  # noqa: F401 - the tables
        import distributed
    except ImportError as exc:
        raise DataError(
            f'--scheduler needs dask and distributed ({exc}): pip install "moelogit[dask]"'
        ) from None
    return distributed


@contextlib.contextmanager
def scheduler(spec: str) -> Iterator[object]:
    """A ``distributed.Client`` for ``spec`` (``local:N`` or an address), closed afterwards."""
    distributed = _distributed()
    if spec.startswith("local:"):
        try:
            n_workers = int(spec.split(":", 1)[1])
        except ValueError:
            n_workers = 0
        if n_workers < 1:
            raise DataError(f"--scheduler {spec}: local:N needs a number of workers N >= 1")
        with distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, dashboard_address=":0"
        ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
            click.echo(f"Dask dashboard: {client.dashboard_link}", err=True)
            yield client
        return
    try:
        client = distributed.Client(spec, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise DataError(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
    with client:
        yield client


def read_parts(path, *, label: str | None, id_column: str | None = None):
    """A Dask DataFrame of a folder of Parquet files or a glob of CSV/TSV files.

    Labels and ids are read as text, as :func:`moelogit._tabular.read_table`
    reads them from one file.
    """
    import dask.dataframe as dd

    text = [name for name in (label, id_column) if name]
    path = str(path)
    if Path(path).is_dir():
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        if not files:
            raise DataError(f"the folder {path} has no .parquet files")
        frame = dd.read_parquet(files)
        frame.columns = [str(name) for name in frame.columns]
        for name in text:
            if name in frame.columns:
                frame[name] = frame[name].map_partitions(_as_text, meta=(name, object))
    else:
        files = sorted(glob.glob(path))
        if not files:
            raise DataError(f"no files match {path}")
        suffixes = {Path(name).suffix.lower() for name in files}
        if not suffixes <= {".csv", ".tsv", ".txt"}:
            raise DataError(
                f"{path} matches files of types {sorted(suffixes)}: give CSV/TSV files, "
                "or a folder of Parquet files"
            )
        sep = "\t" if suffixes == {".tsv"} else ","
        frame = dd.read_csv(files, sep=sep, dtype={name: str for name in text}, blocksize="64MB")
    missing = [name for name in text if name not in frame.columns]
    if missing:
        raise DataError(f"{path} has no column {missing[0]!r}; its columns: {list(frame.columns)}")
    return frame


def _as_text(values: pd.Series) -> pd.Series:
    """Values as their text, missing values still missing (not the text "nan")."""
    return values.astype(object).where(values.isna(), values.astype(str))


def features_of(frame, *, label: str | None, id_column: str | None, features=None) -> list[str]:
    """The feature columns: ``features`` if given (checked), else every other numeric column."""
    columns = [str(name) for name in frame.columns]
    if features is not None:
        absent = [name for name in features if name not in columns]
        if absent:
            raise DataError(f"the data have no feature column {absent[0]!r}")
        chosen = list(features)
    else:
        chosen = [name for name in columns if name not in (label, id_column)]
    bad = [
        name
        for name in chosen
        if not (np.issubdtype(frame[name].dtype, np.number) or frame[name].dtype == bool)
    ]
    if bad:
        raise DataError(f"feature columns {bad} are not numeric; encode them as numbers first")
    return chosen


def summarize_parts(frame, features: list[str], *, source: str, label: str) -> dict:
    """The model file's data summary (as :func:`moelogit._tabular.summarize`), in one pass."""
    import dask

    columns = frame[features]
    # Counted part by part and added here: value_counts would shuffle the labels.
    part_counts = frame[label].map_partitions(pd.Series.value_counts)
    mean, variance, low, high, n_rows, part_counts = dask.compute(
        columns.mean(), columns.var(ddof=0), columns.min(), columns.max(), frame.shape[0],
        part_counts,
    )  # fmt: skip
    counts = part_counts.groupby(level=0).sum()
    return {
        "source": source,
        "label": label,
        "n_rows": int(n_rows),
        "n_dropped": 0,
        "features": [
            {
                "name": name,
                "mean": float(mean[name]),
                "std": float(np.sqrt(variance[name])),
                "min": float(low[name]),
                "max": float(high[name]),
            }
            for name in features
        ],
        "class_counts": {str(k): int(v) for k, v in sorted(counts.items())},
    }


def write_parts(frame, folder) -> int:
    """Write a Dask DataFrame as a folder of Parquet parts, only when all are written.

    The parts go to a temporary folder beside ``folder``, which replaces it
    when complete (a previous ``folder`` is removed then, not before).
    Returns the number of rows written.
    """
    folder = Path(folder)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        frame.to_parquet(temporary, write_index=False)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    import dask.dataframe as dd

    return int(dd.read_parquet(folder).shape[0].compute())
