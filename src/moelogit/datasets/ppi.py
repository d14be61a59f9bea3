"""Protein-protein interaction (PPI) benchmarks: pairs of protein ids, labels and sequences.

A benchmark is a pairs file (``a<TAB>b<TAB>label``, labels ``0``/``1`` or
``0.0``/``1.0``, an optional header line) and a sequence file, either TSV
(``id<TAB>sequence``) or FASTA (the id is the first word of the header).
The data themselves are not part of the package: pass the folder or the
files (for example ``/path/to/shared/data/ppi/guo2008-yeast``).

Residues outside the 20 standard amino acids are kept in the sequences and
counted in the report: ``X``, ``B``, ``Z``, ``U`` and ``O`` (ambiguous or
non-standard residues); the descriptors in :mod:`moelogit.features` treat
them as missing values. Any other character is an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "AMBIGUOUS_RESIDUES",
    "STANDARD_RESIDUES",
    "PPIDataset",
    "PPIFormatError",
    "load_ppi",
    "read_candidate_pairs",
    "read_pairs",
    "read_sequences",
]

logger = logging.getLogger(__name__)

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
AMBIGUOUS_RESIDUES = "XBZUO"
_ALLOWED = frozenset(STANDARD_RESIDUES + AMBIGUOUS_RESIDUES)
_SEQUENCE_NAMES = ("sequences.tsv", "sequences.fasta", "sequences.fa")


class PPIFormatError(ValueError):
    """A PPI file that cannot be read; ``path`` and ``line`` (1-based, or None) say where."""

    def __init__(self, path, line, message):
        self.path, self.line = Path(path), line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class PPIDataset:
    """Labelled protein pairs and the sequences of their proteins.

    Attributes
    ----------
    pairs : ndarray of str, shape (n_pairs, 2)
        Protein ids of every pair, in the file's order and orientation.
    labels : ndarray of int, shape (n_pairs,)
        1 for interacting pairs, 0 otherwise.
    sequences : dict of str to str
        Sequence of every protein named in ``pairs`` (upper case).
    report : dict
        What loading found: ``pairs_read``, ``duplicates_removed`` (pairs
        repeating an earlier one once order is ignored),
        ``conflicting_duplicates`` (of those, how many carried the other
        label), ``self_pairs`` (a protein paired with itself, after removing
        repeats), ``self_pairs_interacting``, ``self_pairs_removed``, ``proteins``, ``sequences_unused`` (sequences
        no pair names), ``ambiguous_residues`` (counts of X, B, Z, U, O in
        the used sequences) and ``proteins_with_ambiguous``.
    """

    pairs: np.ndarray
    labels: np.ndarray
    sequences: dict
    report: dict = field(default_factory=dict)

    @property
    def proteins(self) -> list:
        """Ids of the proteins named in ``pairs``, sorted."""
        return sorted(self.sequences)

    def summary(self) -> str:
        """One line per fact of ``report``."""
        return "\n".join(f"{key}: {value}" for key, value in self.report.items())


def _lines(path):
    """(line number, stripped line) of the non-blank lines; CRLF files read like LF ones."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if line:
                yield number, line


def _checked_sequence(path, line, name, sequence):
    sequence = "".join(sequence.split()).upper()
    if not sequence:
        raise PPIFormatError(path, line, f"protein {name!r} has an empty sequence")
    bad = sorted(set(sequence) - _ALLOWED)
    if bad:
        raise PPIFormatError(
            path,
            line,
            f"protein {name!r} has characters that are not amino acids: {''.join(bad)!r} "
            f"(allowed: the 20 standard residues and {AMBIGUOUS_RESIDUES})",
        )
    return sequence


def _store(path, line, sequences, name, sequence):
    if name in sequences:
        raise PPIFormatError(path, line, f"protein {name!r} has a second sequence")
    sequences[name] = _checked_sequence(path, line, name, sequence)


def read_sequences(path) -> dict:
    """Read protein sequences from a TSV (``id<TAB>sequence``) or FASTA file.

    The format is recognised from the first non-blank line: ``>`` starts
    FASTA, a tab-separated line TSV.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of str to str
        Upper-case sequence of every id.

    Raises
    ------
    PPIFormatError
        For a file in neither format, an empty sequence, a character that is
        not an amino acid, or an id given twice.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "seqs.fasta"
    >>> _ = path.write_text(">P1 some protein\\nMKV\\nLLA\\n>P2\\nmgx\\n")
    >>> read_sequences(path)
    {'P1': 'MKVLLA', 'P2': 'MGX'}
    """
    lines = list(_lines(path))
    if not lines:
        raise PPIFormatError(path, None, "no sequences: the file is empty")
    sequences: dict = {}
    first = lines[0][1]
    if first.startswith(">"):
        name, start, chunks = None, None, []
        for number, line in lines + [(None, ">")]:  # a sentinel header flushes the last record
            if line.startswith(">"):
                if name is not None:
                    _store(path, start, sequences, name, "".join(chunks))
                fields = line[1:].split()
                if number is not None and not fields:
                    raise PPIFormatError(path, number, "a FASTA header without an id")
                name, start, chunks = (fields[0] if fields else None), number, []
            else:
                chunks.append(line)
        return sequences
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != 2:
            raise PPIFormatError(
                path,
                number,
                f"expected 'id<TAB>sequence' (TSV) or a '>' header (FASTA), got {line[:60]!r}",
            )
        _store(path, number, sequences, fields[0].strip(), fields[1])
    return sequences


def _label(path, number, text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value not in (0.0, 1.0):
        raise PPIFormatError(path, number, f"label must be 0 or 1, got {text!r}")
    return int(value)


def read_pairs(path, *, labelled=True, known=None):
    """Read a pairs file: ``a<TAB>b<TAB>label`` per line, an optional header.

    Parameters
    ----------
    path : str or Path
    labelled : bool, default=True
        With ``False``, candidate pairs to score: every line is ``a<TAB>b``,
        or every line ``a<TAB>b<TAB>label`` (the labels are then read too,
        for example to evaluate the predictions).
    known : collection of str, optional
        The ids that have a sequence. A first line is a header only when it
        is no pair at all: its label field (if any) is not a number, and,
        given ``known``, neither of its ids has a sequence. Any other line
        with a bad label is an error, the first included. Without
        ``known``, a two-column file has no header.

    Returns
    -------
    pairs : ndarray of str, shape (n, 2)
    labels : ndarray of int, shape (n,), or None
        None only for an unlabelled file read with ``labelled=False``.
    lines : ndarray of int, shape (n,)
        The line of every pair, for error messages.
    header : bool
        Whether the first line was read as a header (for the caller to say so).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
    >>> _ = path.write_text("protein_a\\tprotein_b\\tlabel\\nP1\\tP2\\t1.0\\nP2\\tP3\\t0\\n")
    >>> pairs, labels, lines, header = read_pairs(path)
    >>> pairs.tolist(), labels.tolist(), lines.tolist(), header
    ([['P1', 'P2'], ['P2', 'P3']], [1, 0], [2, 3], True)
    >>> _ = path.write_text("P1\\tP2\\nP3\\tP1\\n")
    >>> pairs, labels, _, header = read_pairs(path, labelled=False, known={"P1", "P2", "P3"})
    >>> pairs.tolist(), labels, header
    ([['P1', 'P2'], ['P3', 'P1']], None, False)
    """
    pairs, labels, numbers = [], [], []
    columns, header = None, False
    for index, (number, line) in enumerate(_lines(path)):
        fields = [f.strip() for f in line.split("\t")]
        if columns is None:
            columns = len(fields) if not labelled and len(fields) in (2, 3) else 3
        if len(fields) != columns:
            expected = "protein_a<TAB>protein_b" + ("<TAB>label" if columns == 3 else "")
            if not labelled and index == 0:
                expected = "protein_a<TAB>protein_b[<TAB>label]"
            raise PPIFormatError(path, number, f"expected {expected!r}, got {line[:60]!r}")
        if index == 0 and _is_header(fields, known):
            header = True
            continue
        pairs.append(fields[:2])
        if columns == 3:
            labels.append(_label(path, number, fields[2]))
        numbers.append(number)
    if not pairs:
        problem = "no pairs after the header line" if header else "no pairs: the file is empty"
        raise PPIFormatError(path, None, problem)
    labels = np.array(labels, dtype=np.int64) if columns == 3 else None
    return np.array(pairs, dtype=str), labels, np.array(numbers), header


def _check_known(path, pairs, lines, known, sequences_path):
    """A :class:`PPIFormatError` at the first pair naming a protein without a sequence."""
    missing = ~np.isin(pairs, list(known))
    if missing.any():
        row, column = np.argwhere(missing)[0]
        raise PPIFormatError(
            path,
            int(lines[row]),
            f"protein {str(pairs[row, column])!r} has no sequence in {sequences_path} "
            f"({np.unique(pairs[missing]).size} proteins without a sequence in all)",
        )


def read_candidate_pairs(path, sequences_path):
    """Pairs to score, their labels if the file has them, and the sequences they need.

    The pairs file holds ``a<TAB>b`` lines, or ``a<TAB>b<TAB>label`` lines,
    and may start with a header (see :func:`read_pairs` with
    ``labelled=False``; ``header`` says whether it did, for the caller to
    tell the user).

    Returns
    -------
    pairs : ndarray of str, shape (n, 2)
    labels : ndarray of int or None
    sequences : dict of str to str
        The sequences of the proteins that ``pairs`` names.
    header : bool
        Whether the first line was read as a header.

    Raises
    ------
    PPIFormatError
        As :func:`read_pairs` and :func:`read_sequences`, and for a pair
        naming a protein without a sequence.
    """
    known = read_sequences(sequences_path)
    pairs, labels, lines, header = read_pairs(path, labelled=False, known=known)
    _check_known(path, pairs, lines, known, sequences_path)
    return pairs, labels, {name: known[name] for name in np.unique(pairs)}, header


def _is_header(fields, known):
    """Whether a first line names columns rather than a pair (see :func:`read_pairs`)."""
    labelled = len(fields) == 3
    if labelled and _is_number(fields[2]):
        return False
    if known is None:  # only a label field that is no number tells
        return labelled
    return not any(name in known for name in fields[:2])


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _find(folder, names):
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder} has none of {', '.join(names)}")


def load_ppi(path=None, *, pairs=None, sequences=None, keep_self_pairs=False) -> PPIDataset:
    """Load a PPI benchmark, remove repeated pairs and report what was found.

    Parameters
    ----------
    path : str or Path, optional
        A folder holding ``pairs.tsv`` and ``sequences.tsv`` (or
        ``sequences.fasta`` / ``sequences.fa``).
    pairs, sequences : str or Path, optional
        The files themselves; they override the folder's.
    keep_self_pairs : bool, default=False
        Keep pairs of a protein with itself. They are removed by default
        (counted in ``report["self_pairs_removed"]``): in Martin's set all 62
        are negatives, a shortcut a model can learn from ``a == b``.

    Returns
    -------
    PPIDataset
        Pairs that repeat an earlier pair once order is ignored are removed
        (the first is kept; a warning is logged with the count, and
        ``report`` says how many carried the other label), then self-pairs
        unless ``keep_self_pairs``. Sequences that no pair names are left out.

    Raises
    ------
    PPIFormatError
        For unreadable files, a bad label, a bad sequence, or a pair naming a
        protein without a sequence.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "pairs.tsv").write_text("A\\tB\\t1\\nB\\tA\\t1\\nA\\tC\\t0\\n")
    >>> _ = (folder / "sequences.tsv").write_text("A\\tMKV\\nB\\tMXL\\nC\\tGGA\\n")
    >>> data = load_ppi(folder)
    >>> data.pairs.tolist(), data.labels.tolist()
    ([['A', 'B'], ['A', 'C']], [1, 0])
    >>> data.report["duplicates_removed"], data.report["ambiguous_residues"]
    (1, {'X': 1})
    """
    folder = Path(path) if path is not None else None
    if pairs is None or sequences is None:
        if folder is None:
            raise TypeError("give a folder, or both the pairs and the sequences files")
        pairs = _find(folder, ("pairs.tsv",)) if pairs is None else pairs
        sequences = _find(folder, _SEQUENCE_NAMES) if sequences is None else sequences
    known = read_sequences(sequences)
    pair_ids, labels, lines, header = read_pairs(pairs, known=known)

    _check_known(pairs, pair_ids, lines, known, sequences)
    ordered = np.sort(pair_ids, axis=1)
    keys = np.char.add(np.char.add(ordered[:, 0], "\t"), ordered[:, 1])
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    keep = np.zeros(len(keys), dtype=bool)
    keep[first] = True
    conflicting = int(np.count_nonzero(~keep & (labels != labels[first][inverse])))
    n_removed = int(np.count_nonzero(~keep))
    if n_removed:
        logger.warning(
            "%s: removed %d pairs that repeat an earlier pair once order is ignored "
            "(%d of them with the other label)",
            pairs,
            n_removed,
            conflicting,
        )
    pair_ids, labels = pair_ids[keep], labels[keep]
    self_pairs = pair_ids[:, 0] == pair_ids[:, 1]
    n_self, n_self_positive = int(self_pairs.sum()), int(labels[self_pairs].sum())
    if n_self and not keep_self_pairs:
        logger.warning(
            "%s: removed %d self-pairs (%d interacting); keep_self_pairs=True keeps them",
            pairs,
            n_self,
            n_self_positive,
        )
        pair_ids, labels = pair_ids[~self_pairs], labels[~self_pairs]
    used = {name: known[name] for name in np.unique(pair_ids)}
    joined = "".join(used.values())
    ambiguous = {r: joined.count(r) for r in AMBIGUOUS_RESIDUES if r in joined}
    report = {
        "header": header,
        "pairs_read": len(keep),
        "duplicates_removed": n_removed,
        "conflicting_duplicates": conflicting,
        "pairs": len(labels),
        "positives": int(labels.sum()),
        "negatives": int(len(labels) - labels.sum()),
        "self_pairs": n_self,
        "self_pairs_interacting": n_self_positive,
        "self_pairs_removed": 0 if keep_self_pairs else n_self,
        "proteins": len(used),
        "sequences_unused": len(known) - len(used),
        "ambiguous_residues": ambiguous,
        "proteins_with_ambiguous": sum(
            any(r in seq for r in AMBIGUOUS_RESIDUES) for seq in used.values()
        ),
    }
    return PPIDataset(pair_ids, labels, used, report)
