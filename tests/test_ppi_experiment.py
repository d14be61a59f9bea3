"""PPI evaluation protocols and the experiment runner."""

import numpy as np
import pytest

from moelogit.experiments.ppi import make_folds


def random_pairs(n_proteins=60, n_pairs=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.array([f"p{i}" for i in range(n_proteins)])[
        rng.integers(0, n_proteins, (n_pairs, 2))
    ]
    return pairs, rng.integers(0, 2, n_pairs)


def test_protein_disjoint_folds_share_no_protein_and_report_drops():
    pairs, labels = random_pairs()
    folds, report = make_folds("proteins", pairs, labels, n_splits=5, seed=3)
    tested = np.zeros(len(labels), dtype=bool)
    for train, test in folds:
        assert set(pairs[test].ravel()).isdisjoint(pairs[train].ravel())
        assert len(np.intersect1d(train, test)) == 0
        tested[test] = True
    assert report["never_tested"] == int((~tested).sum()) > 0
    # With 5 groups a pair is tested only when both proteins share a group (about 1/5).
    assert 0.1 < 1 - report["never_tested"] / len(labels) < 0.35
    assert report["mean_unused_per_fold"] > 0


def test_pair_folds_partition_and_stratify():
    pairs, labels = random_pairs()
    folds, report = make_folds("pairs", pairs, labels, n_splits=5, seed=0)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))
    assert report["never_tested"] == 0 and report["mean_unused_per_fold"] == 0
    rates = [labels[test].mean() for _, test in folds]
    assert max(rates) - min(rates) < 0.05


def test_folds_are_reproducible_and_protocol_checked():
    pairs, labels = random_pairs()
    a, _ = make_folds("proteins", pairs, labels, seed=1)
    b, _ = make_folds("proteins", pairs, labels, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="protocol must be one of"):
        make_folds("random", pairs, labels)
