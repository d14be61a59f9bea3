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
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataError",
    "Table",
    "as_model_classes",
    "atomic_path",
    "check_output",
    "check_output_folder",
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


def read_table(path, *, label: str | None = None, id_column: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, chosen by suffix, with string column names.

    Parameters
    ----------
    path : str or path-like
    label, id_column : str, optional
        Columns of a CSV or TSV file read as the text written, never guessed
        to be numbers: ``001`` stays ``001`` and ``1.5`` stays ``1.5``. In
        the label column pandas' missing-value markers (an empty field,
        ``NA``, ...) still mean a missing label; the id column is copied
        exactly, an empty field as the empty string. Parquet columns keep
        their stored types.

    Raises
    ------
    DataError
        When the file is missing, unreadable, empty, has repeated column
        names, or is Parquet without pyarrow.
    """
    path = Path(path)
    suffix = _format(path)
    with _file_errors("read", path):
        if suffix in _PARQUET:
            frame = pd.read_parquet(path)
            written = [str(name) for name in frame.columns]
        else:
            sep = _SEPARATORS[suffix]
            # The header as written: pandas renames repeated names (x1, x1.1).
            header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str)
            written = header.iloc[0].tolist()
    _refuse_repeated(written, path)
    with _file_errors("read", path):
        if suffix not in _PARQUET:
            text = {name: str for name in (label, id_column) if name in written}
            frame = pd.read_csv(path, sep=sep, dtype=text)
            if id_column in written:  # exactly as written: "NA" or "" is an id too
                frame[id_column] = pd.read_csv(
                    path, sep=sep, usecols=[id_column], dtype=str, keep_default_na=False
                )[id_column]
    if frame.shape[0] == 0:
        raise DataError(f"{path} has no data rows")
    # scikit-learn records feature names only when every name is a string.
    frame.columns = [str(name) for name in frame.columns]
    return frame


def _refuse_repeated(names: list, path: Path) -> None:
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise DataError(
            f"{path} has repeated column names {', '.join(map(repr, repeated))}: "
            "every column needs a name of its own"
        )


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
        Name of the label column. Labels become text (missing ones stay
        missing): classes are named as written.
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
    y = None if label_used is None else _class_names(frame[label_used][keep])
    ids = frame[id_column][keep].reset_index(drop=True) if id_column is not None else None
    return Table(X[keep].reset_index(drop=True), y, ids, n_dropped)


def _class_names(labels: pd.Series) -> np.ndarray:
    """Labels as text (object array), missing ones left missing.

    Class names are the text written: labels are never type-guessed, so
    ``1`` and ``001`` are two classes and ``0.5`` is a class like any other.
    Parquet's typed labels become their text form as well, so that a table
    gives the same classes whatever its format.
    """
    y = labels.to_numpy(dtype=object)
    present = ~pd.isna(y)
    y[present] = labels[present].astype(str).to_numpy(dtype=object)
    return y


def as_model_classes(y: np.ndarray, classes: np.ndarray, source: str = "the data") -> np.ndarray:
    """Labels read as text, as the model's classes (numbers for a model fitted on numbers).

    A label matches the class whose text it is (``"1"`` is the class ``1``
    of a model fitted in Python on integers). Missing labels stay missing.

    Raises
    ------
    DataError
        When a (non-missing) label is none of the model's classes.
    """
    by_name = {str(name): name for name in classes.tolist()}
    present = ~pd.isna(y)
    text = [str(value) for value in y[present]]
    unseen = [name for name in dict.fromkeys(text) if name not in by_name][:5]
    if unseen:
        raise DataError(
            f"{source} has labels the model never saw: {', '.join(map(repr, unseen))} "
            f"(the model knows {', '.join(map(repr, by_name))})"
        )
    if present.all():
        return np.asarray([by_name[name] for name in text], dtype=classes.dtype)
    matched = np.array(y, dtype=object)
    matched[present] = [by_name[name] for name in text]
    return matched


def _std(values: np.ndarray) -> float:
    """Standard deviation, scaled first so that values up to float64's limit give it finite."""
    magnitude = np.abs(values).max()
    return float(np.std(values / magnitude) * magnitude) if magnitude > 0 else 0.0


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
                "std": _std(column.to_numpy()),
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


def check_output(path, *, table: bool = False) -> None:
    """Raise :class:`DataError` unless a file can be written at ``path``.

    Called before any long work, so that a fit's result is never lost to an
    output path that cannot take it. With ``table``, the suffix must also
    name a table format.
    """
    path = Path(path)
    if table:
        _format(path)
    if path.is_dir():
        raise DataError(f"cannot write {path}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise DataError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"cannot write {path}: no permission to write in {folder}")


def check_output_folder(path) -> None:
    """Raise :class:`DataError` unless ``path`` is, or can be made, a writable folder."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise DataError(f"cannot write to the folder {path}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"cannot write to the folder {path}: no permission to write in {existing}")


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` only on success.

    Whatever fails while writing, no partial file is left under ``path``:
    the temporary file is removed and the error propagates. The temporary
    name keeps ``path``'s suffixes, so that writers inferring compression
    from the name still do.
    """
    path = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix="".join(path.suffixes)
        )
    except OSError as exc:  # named by the user's path, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
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
