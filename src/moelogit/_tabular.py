"""Data files for the command line: read, validate, summarise, write atomically.

Data flow one way: a file is read into a DataFrame (:func:`read_table`),
validated into numeric features and labels (:func:`prepare`), and only then
handed to the estimator. Every problem a user can cause with a file raises
:class:`DataError` with a one-line message, so that the command line can
print it without a traceback from deep in pandas or numpy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataError",
    "Table",
    "atomic_path",
    "markdown_table",
    "prepare",
    "read_table",
    "summarize",
    "write_table",
]

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET = (".parquet", ".pq")
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")


class DataError(ValueError):
    """A data file cannot be read or does not fit what is asked of it."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _format(path: Path) -> str:
    """The table format named by the file's suffix, compression suffixes aside."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _SEPARATORS or suffix in _PARQUET:
        return suffix
    raise DataError(
        f"cannot tell the format of {path} from its suffix: use .csv, .tsv or .parquet "
        "(.csv and .tsv may be compressed, e.g. .csv.gz)"
    )


@contextmanager
def _file_errors(verb: str, path: Path) -> Iterator[None]:
    """Any failure to read or write ``path`` as one :class:`DataError`."""
    try:
        yield
    except ImportError as exc:
        raise DataError(
            'Parquet files need pyarrow: pip install "moelogit[parquet]" (or pyarrow)'
        ) from exc
    # A broken file can fail inside pandas, pyarrow or the codecs in many ways;
    # to the user they all mean one thing.
    except Exception as exc:
        raise DataError(f"cannot {verb} {path}: {_one_line(exc)}") from exc


def read_table(path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, chosen by suffix, with string column names.

    Raises
    ------
    DataError
        When the file is missing, unreadable, empty, or Parquet without pyarrow.
    """
    path = Path(path)
    suffix = _format(path)
    with _file_errors("read", path):
        if suffix in _PARQUET:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=_SEPARATORS[suffix])
    if frame.shape[0] == 0:
        raise DataError(f"{path} has no data rows")
    # scikit-learn records feature names only when every name is a string.
    frame.columns = [str(name) for name in frame.columns]
    return frame


@dataclass
class Table:
    """Validated rows of a data file.

    Attributes
    ----------
    X : DataFrame
        Numeric features (float64), columns named as in the file.
    y : ndarray or None
        Labels, when the label column was read.
    ids : Series or None
        The id column, when one was asked for.
    n_dropped : int
        Rows dropped for missing values.
    """

    X: pd.DataFrame
    y: np.ndarray | None
    ids: pd.Series | None
    n_dropped: int


def _require_columns(frame: pd.DataFrame, names: Sequence[str], what: str, source: str) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        shown = ", ".join(map(repr, frame.columns[:20]))
        raise DataError(
            f"{source} has no {what} column {', '.join(map(repr, missing))} (it has {shown})"
        )


def prepare(
    frame: pd.DataFrame,
    *,
    label: str | None,
    features: Sequence[str] | None = None,
    id_column: str | None = None,
    label_required: bool = True,
    drop_missing: bool = False,
    source: str = "the data",
) -> Table:
    """Select and check the columns of ``frame``: numeric features, labels, ids.

    Parameters
    ----------
    frame : DataFrame
        As read by :func:`read_table`.
    label : str or None
        Name of the label column.
    features : sequence of str, optional
        Feature columns, in order; default every column but the label and id.
    id_column : str, optional
        A column carried along untouched (for example a row identifier).
    label_required : bool, default=True
        False when labels are optional (prediction): an absent label column is
        then not an error, and missing labels do not make a row incomplete.
    drop_missing : bool, default=False
        Drop rows with missing values instead of raising :class:`DataError`.
    source : str
        How messages name the data.

    Returns
    -------
    Table
    """
    if label is not None and (label_required or label in frame.columns):
        _require_columns(frame, [label], "label", source)
        label_used = label
    else:
        label_used = None
    if id_column is not None:
        _require_columns(frame, [id_column], "id", source)
    if features is None:
        features = [name for name in frame.columns if name not in (label, id_column)]
    else:
        _require_columns(frame, features, "feature", source)
    if not features:
        raise DataError(f"{source} has no feature columns besides the label and id")

    X = frame[list(features)]
    text = list(X.select_dtypes(exclude=["number", "bool"]).columns)
    if text:
        raise DataError(
            f"{source} has non-numeric feature columns {', '.join(map(repr, text))}; encode "
            "them as numbers first, or leave them out with --features"
        )
    X = X.astype(np.float64)
    if np.isinf(X.to_numpy()).any():
        bad = [name for name in X.columns if np.isinf(X[name]).any()]
        raise DataError(f"{source} has infinite values in columns {', '.join(map(repr, bad))}")

    checked = X if label_used is None or not label_required else frame[[*features, label_used]]
    incomplete = checked.isna().any(axis=1).to_numpy()
    n_dropped = int(incomplete.sum())
    if n_dropped and not drop_missing:
        bad = [name for name in checked.columns if checked[name].isna().any()]
        raise DataError(
            f"{source}: {n_dropped} of {len(frame)} rows have missing values (columns "
            f"{', '.join(map(repr, bad))}); pass --drop-missing to drop them"
        )
    keep = ~incomplete
    if not keep.any():
        raise DataError(f"{source}: every row has missing values")
    y = frame[label_used].to_numpy()[keep] if label_used is not None else None
    ids = frame[id_column][keep].reset_index(drop=True) if id_column is not None else None
    return Table(X[keep].reset_index(drop=True), y, ids, n_dropped)


def check_known_labels(y: np.ndarray, classes: np.ndarray, source: str = "the data") -> None:
    """Raise :class:`DataError` when ``y`` holds (non-missing) labels not in ``classes``."""
    present = y[~pd.isna(y)]
    try:
        known = np.isin(present, classes)
    except TypeError:  # labels of a type that cannot be compared with the classes
        known = np.zeros(present.shape, dtype=bool)
    if not known.all():
        unseen = pd.unique(present[~known])[:5]
        raise DataError(
            f"{source} has labels the model never saw: {', '.join(map(repr, unseen.tolist()))} "
            f"(the model knows {', '.join(map(repr, classes.tolist()))})"
        )


def summarize(table: Table, *, source: str, label: str | None) -> dict:
    """A JSON-able summary of validated data: rows, classes, per-feature statistics."""
    summary = {
        "source": source,
        "label": label,
        "n_rows": int(table.X.shape[0]),
        "n_dropped": table.n_dropped,
        "features": [
            {
                "name": name,
                "mean": float(column.mean()),
                "std": float(column.std(ddof=0)),
                "min": float(column.min()),
                "max": float(column.max()),
            }
            for name, column in table.X.items()
        ],
    }
    if table.y is not None:
        values, counts = np.unique(table.y, return_counts=True)
        summary["class_counts"] = {str(v): int(c) for v, c in zip(values.tolist(), counts)}
    return summary


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` only on success.

    Whatever fails while writing, no partial file is left under ``path``:
    the temporary file is removed and the error propagates. The temporary
    name keeps ``path``'s suffixes, so that writers inferring compression
    from the name still do.
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix="".join(path.suffixes)
    )
    os.close(fd)
    temporary = Path(temporary)
    try:
        yield temporary
        # mkstemp creates the file readable by its owner only; give the result
        # the permissions an ordinary new file would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, path) -> None:
    """Write ``frame`` as CSV, TSV or Parquet (by suffix), atomically."""
    path = Path(path)
    suffix = _format(path)
    with _file_errors("write", path), atomic_path(path) as temporary:
        if suffix in _PARQUET:
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, sep=_SEPARATORS[suffix], index=False)


def markdown_table(frame: pd.DataFrame, float_format="{:.3f}".format) -> str:
    """A DataFrame as a Markdown table (no tabulate needed); floats through ``float_format``."""

    def cell(value):
        return float_format(value) if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
