"""PPI prediction end to end: evaluation protocols, models, and the experiment runner.

Two protocols, the same folds for every model:

* ``"pairs"``: stratified k-fold over pairs. A protein usually appears in
  training and test pairs, which inflates accuracy (Park & Marcotte 2012).
* ``"proteins"``: protein-disjoint k-fold. Proteins are split at random into
  k groups; fold g tests the pairs whose two proteins both lie in group g and
  trains on the pairs whose two proteins both lie outside it. Pairs with one
  protein inside and one outside are used by neither side of that fold, and
  pairs whose proteins lie in different groups are never tested.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["PROTOCOLS", "make_folds"]

PROTOCOLS = ("pairs", "proteins")


def _pair_folds(labels, n_splits, seed):
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _protein_folds(pairs, n_splits, seed):
    proteins, index = np.unique(pairs, return_inverse=True)
    index = index.reshape(pairs.shape)
    group = np.random.default_rng(seed).permutation(len(proteins)) % n_splits
    pair_groups = group[index]
    folds = []
    for g in range(n_splits):
        inside = pair_groups == g
        test = np.flatnonzero(inside.all(axis=1))
        train = np.flatnonzero(~inside.any(axis=1))
        folds.append((train, test))
    return folds


def make_folds(protocol, pairs, labels, n_splits=5, seed=0):
    """Training and test indices of every fold, and what the protocol leaves out.

    Parameters
    ----------
    protocol : {"pairs", "proteins"}
    pairs : ndarray of str, shape (n, 2)
    labels : ndarray of shape (n,)
    n_splits : int, default=5
    seed : int, default=0

    Returns
    -------
    folds : list of (train, test) index arrays
    report : dict
        ``never_tested``: pairs in no test fold; ``mean_unused_per_fold``:
        pairs neither in training nor test of a fold, on average;
        ``test_sizes`` and ``train_sizes`` per fold.

    Examples
    --------
    >>> pairs = np.array([["a", "b"], ["a", "c"], ["b", "c"], ["d", "e"], ["c", "d"], ["e", "a"]])
    >>> folds, report = make_folds("proteins", pairs, np.array([1, 0, 1, 0, 1, 0]), 2)
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
        "never_tested": int(n - tested.sum()),
        "mean_unused_per_fold": float(np.mean([n - len(tr) - len(te) for tr, te in folds])),
        "test_sizes": [len(te) for _, te in folds],
        "train_sizes": [len(tr) for tr, _ in folds],
    }
    return folds, report
