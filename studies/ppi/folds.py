"""The PPI experiment's evaluation protocols: outer folds and protein-disjoint tuning folds.

Two protocols, the same folds for every model:

* ``"pairs"``: stratified k-fold over pairs. A protein usually appears in
  training and test pairs, which inflates accuracy (Park & Marcotte 2012).
* ``"proteins"``: protein-disjoint group pairs. Proteins are split at random
  into G groups; there is one fold for every pair of groups g <= h (G(G+1)/2
  folds: 15 for G = 5). Fold (g, h) tests the pairs with one protein in g and
  the other in h (both in g when g = h) and trains on the pairs with neither
  protein in g or h. Every pair is tested exactly once, and no test protein
  appears in its fold's training pairs; pairs touching g or h but not tested
  in that fold are used by neither side of it. Training folds hold about
  (1 - 2/G)^2 of the pairs (36% for G = 5) when g != h and (1 - 1/G)^2 (64%)
  when g = h. Models are tuned by protein-disjoint inner folds
  (:func:`inner_protein_folds`).

Every test fold of either protocol is also scored at a screen's prevalence:
:func:`screen_subsample` keeps all its negatives and a seeded random tenth
as many positives (1:10), the same rows for every model.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["PROTOCOLS", "SCREEN_RATIO", "inner_protein_folds", "make_folds", "screen_subsample"]

PROTOCOLS = ("pairs", "proteins")

#: Negatives per positive in the screen subsamples of the test folds.
SCREEN_RATIO = 10


def _pair_folds(labels, n_splits, seed):
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _protein_groups(pairs, n_groups, seed):
    """Group (0 .. n_groups - 1) of both proteins of every pair, proteins assigned at random."""
    proteins, index = np.unique(pairs, return_inverse=True)
    group = np.random.default_rng(seed).permutation(len(proteins)) % n_groups
    return group[index.reshape(pairs.shape)]


def _protein_folds(pairs, n_groups, seed):
    if n_groups < 3:
        raise ValueError(f"the proteins protocol needs at least 3 protein groups, got {n_groups}")
    pair_groups = np.sort(_protein_groups(pairs, n_groups, seed), axis=1)
    folds = []
    for g in range(n_groups):
        for h in range(g, n_groups):
            test = np.flatnonzero((pair_groups[:, 0] == g) & (pair_groups[:, 1] == h))
            train = np.flatnonzero(~np.isin(pair_groups, [g, h]).any(axis=1))
            if len(test):
                folds.append((train, test))
    return folds


def inner_protein_folds(pairs, labels, n_splits=3, seed=0):
    """Protein-disjoint folds for tuning inside a protein-disjoint training fold.

    Proteins are split at random into ``n_splits`` groups; fold g validates
    on the pairs with both proteins in group g and trains on the pairs with
    neither protein in it, so validation proteins are never seen in training,
    as in the outer protocol. (Only about 1/n_splits^2 of the pairs are
    validated per fold: enough to rank grid points, cheaper than the outer
    group-pair scheme.) Folds whose training or validation pairs hold one
    class only are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice([f"p{i}" for i in range(40)], size=(300, 2))
    >>> folds = inner_protein_folds(pairs, rng.integers(0, 2, 300), 3)
    >>> len(folds), all(set(pairs[v].ravel()).isdisjoint(pairs[t].ravel()) for t, v in folds)
    (3, True)
    """
    pairs, labels = np.asarray(pairs), np.asarray(labels)
    inside_groups = _protein_groups(pairs, n_splits, seed)
    folds = []
    for g in range(n_splits):
        inside = inside_groups == g
        validate = np.flatnonzero(inside.all(axis=1))
        train = np.flatnonzero(~inside.any(axis=1))
        if len(np.unique(labels[validate])) == 2 and len(np.unique(labels[train])) == 2:
            folds.append((train, validate))
    if not folds:
        raise ValueError("no protein-disjoint inner fold holds both classes: too few pairs")
    return folds


def make_folds(protocol, pairs, labels, n_splits=5, seed=0):
    """Training and test indices of every fold, and what the protocol leaves out.

    Parameters
    ----------
    protocol : {"pairs", "proteins"}
    pairs : ndarray of str, shape (n, 2)
    labels : ndarray of shape (n,)
    n_splits : int, default=5
        Folds of ``"pairs"``; protein groups G of ``"proteins"`` (at least 3),
        which gives G(G+1)/2 folds (fewer if a pair of groups has no pairs).
    seed : int, default=0

    Returns
    -------
    folds : list of (train, test) index arrays
    report : dict
        ``folds``; ``never_tested``: pairs in no test fold; ``coverage``: the
        share of pairs tested; ``mean_unused_per_fold``: pairs neither in
        training nor test of a fold, on average; ``test_sizes`` and
        ``train_sizes`` per fold.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice([f"p{i}" for i in range(30)], size=(200, 2))
    >>> folds, report = make_folds("proteins", pairs, rng.integers(0, 2, 200), 4)
    >>> report["folds"], report["coverage"]
    (10, 1.0)
    >>> all(set(pairs[te].ravel()).isdisjoint(pairs[tr].ravel()) for tr, te in folds)
    True
    """
    pairs = np.asarray(pairs)
    labels = np.asarray(labels)
    if protocol == "pairs":
        folds = _pair_folds(labels, n_splits, seed)
    elif protocol == "proteins":
        folds = _protein_folds(pairs, n_splits, seed)
    else:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    tested = np.zeros(len(labels), dtype=bool)
    for _, test in folds:
        tested[test] = True
    n = len(labels)
    report = {
        "protocol": protocol,
        "pairs": n,
        "folds": len(folds),
        "never_tested": int(n - tested.sum()),
        "coverage": float(tested.mean()),
        "mean_unused_per_fold": float(np.mean([n - len(tr) - len(te) for tr, te in folds])),
        "test_sizes": [len(te) for _, te in folds],
        "train_sizes": [len(tr) for tr, _ in folds],
    }
    return folds, report


def screen_subsample(test, labels, seed, ratio=SCREEN_RATIO):
    """The rows of a test fold at one positive per ``ratio`` negatives, as in a screen.

    Every negative of ``test`` is kept, and ``round(negatives / ratio)`` of
    its positives (at least one) drawn at random without replacement, seeded
    by ``seed``: the same rows for every model scored on the fold.

    Parameters
    ----------
    test : ndarray of int
        The test fold's rows.
    labels : ndarray of shape (n,)
        Labels of all pairs (0 or 1).
    seed : int or sequence of int
        Seed of the draw (``numpy.random.default_rng``), e.g. ``(seed, fold)``.
    ratio : int, default=SCREEN_RATIO

    Returns
    -------
    ndarray of int
        The kept rows, sorted.

    Raises
    ------
    ValueError
        If the fold has no negative, or fewer positives than the ratio needs.

    Examples
    --------
    >>> labels = np.array([1] * 50 + [0] * 50)
    >>> rows = screen_subsample(np.arange(100), labels, seed=(0, 1))
    >>> len(rows), int(labels[rows].sum())
    (55, 5)
    """
    test, labels = np.asarray(test), np.asarray(labels)
    positives, negatives = test[labels[test] == 1], test[labels[test] == 0]
    wanted = max(1, round(len(negatives) / ratio))
    if len(negatives) == 0 or wanted > len(positives):
        raise ValueError(
            f"a test fold of {len(positives)} positives and {len(negatives)} negatives cannot be "
            f"subsampled to 1:{ratio}"
        )
    kept = np.random.default_rng(seed).choice(positives, wanted, replace=False)
    return np.sort(np.concatenate([negatives, kept]))
