"""Protein descriptors against propy3 and naive implementations; the pair transformer."""

import time

import numpy as np
import pytest
from sklearn.base import clone

from moelogit.features import GUO_PROPERTIES, PairFeatures, encode_pairs, protein_descriptors
from moelogit.features.descriptors import (
    ALPHABET,
    TRIAD_CLASSES,
    autocovariance,
    composition,
    conjoint_triad,
    dipeptide_composition,
    encode,
    moran,
)

RNG = np.random.default_rng(0)
# Random sequences of assorted lengths (some shorter than the largest lag).
SEQUENCES = ["".join(RNG.choice(list(ALPHABET), size=n)) for n in (5, 17, 40, 120, 333)]


def naive_autocovariance(sequence, values, lag):
    """Guo's AC(lag) of one property, straight from the definition, skipping 'X'."""
    x = [values[r] if r != "X" else None for r in sequence]
    known = [v for v in x if v is not None]
    mean = sum(known) / len(known)
    pairs = [
        (a - mean) * (b - mean)
        for a, b in zip(x[:-lag], x[lag:], strict=True)
        if a is not None and b is not None
    ]
    return sum(pairs) / len(pairs) if pairs else 0.0


def standardised(values):
    v = np.asarray(values, dtype=float)
    return dict(zip(ALPHABET, (v - v.mean()) / v.std(), strict=True))


def test_composition_matches_propy():
    propy = pytest.importorskip("propy.AAComposition")
    ours = composition(encode(SEQUENCES)) * 100
    for row, sequence in zip(ours, SEQUENCES, strict=True):
        theirs = propy.CalculateAAComposition(sequence)
        np.testing.assert_allclose(row, [theirs[a] for a in ALPHABET], atol=1e-3)


def test_dipeptide_composition_matches_propy_without_homopolymer_runs():
    # propy counts with str.count, which skips overlapping repeats ("AAA" has
    # one "AA" for it, two here); sequences without a residue three times in
    # a row make the two definitions agree.
    propy = pytest.importorskip("propy.AAComposition")
    sequences = [s for s in SEQUENCES if not any(3 * a in s for a in ALPHABET)]
    assert len(sequences) >= 3
    ours = dipeptide_composition(encode(sequences)) * 100
    for row, sequence in zip(ours, sequences, strict=True):
        theirs = propy.CalculateDipeptideComposition(sequence)
        np.testing.assert_allclose(
            row, [theirs[a + b] for a in ALPHABET for b in ALPHABET], atol=5e-3
        )
    assert dipeptide_composition(encode(["AAAC"]))[0, [0, 1]].tolist() == [2 / 3, 1 / 3]


def test_moran_matches_propy():
    autocorrelation = pytest.importorskip("propy.Autocorrelation")
    table = autocorrelation._Hydrophobicity
    properties = {"h": [table[a] for a in ALPHABET]}
    long = [s for s in SEQUENCES if len(s) > 30]
    ours = moran(encode(long), max_lag=30, properties=properties)
    for row, sequence in zip(ours, long, strict=True):
        theirs = autocorrelation.CalculateEachMoranAuto(sequence, table, "h")
        np.testing.assert_allclose(
            row, [theirs[f"MoranAutoh{lag}"] for lag in range(1, 31)], atol=1.5e-3
        )


def test_autocovariance_matches_the_definition():
    ours = autocovariance(encode(SEQUENCES), max_lag=30).reshape(len(SEQUENCES), 7, 30)
    for j, values in enumerate(GUO_PROPERTIES.values()):
        table = standardised(values)
        for i, sequence in enumerate(SEQUENCES):
            expected = [naive_autocovariance(sequence, table, lag) for lag in range(1, 31)]
            np.testing.assert_allclose(ours[i, j], expected, atol=1e-12)


def test_ambiguous_residues_are_missing_values():
    # X, B, Z, U, O take no part: composition over known residues, k-mers
    # containing them are skipped, lag products involving them are left out.
    with_gaps = "MKXVLAZZGGAWBKLO"
    enc = encode([with_gaps])
    assert composition(enc).sum() == pytest.approx(1.0)
    assert composition(enc)[0, ALPHABET.index("G")] == pytest.approx(2 / 11)
    dpc = dipeptide_composition(enc)[0].reshape(20, 20)
    assert (
        dpc.sum() == pytest.approx(1.0) and dpc[ALPHABET.index("G"), ALPHABET.index("G")] == 1 / 7
    )
    hydrophobicity = standardised(GUO_PROPERTIES["hydrophobicity"])
    as_x = "".join("X" if r in "BZUO" else r for r in with_gaps)
    expected = [naive_autocovariance(as_x, hydrophobicity, lag) for lag in (1, 2, 3)]
    np.testing.assert_allclose(autocovariance(enc, max_lag=3)[0, :3], expected, atol=1e-12)


def test_conjoint_triad_hand_case():
    classes = {r: c for c, members in enumerate(TRIAD_CLASSES) for r in members}
    sequence = "AIYHRDCAAG"  # classes 0 1 2 3 4 5 6 0 0 0
    assert [classes[r] for r in sequence] == [0, 1, 2, 3, 4, 5, 6, 0, 0, 0]
    counts = np.zeros(343)
    for a, b, c in zip(sequence, sequence[1:], sequence[2:]):
        counts[49 * classes[a] + 7 * classes[b] + classes[c]] += 1
    assert counts.max() == 1  # all eight triads differ, so (f - 0) / 1
    np.testing.assert_array_equal(conjoint_triad(encode([sequence]))[0], counts)
    repeated = conjoint_triad(encode(["AAAAC"]))[0]  # (0,0,0) twice, (0,0,6) once
    assert repeated[0] == 1.0 and repeated[6] == 0.5 and repeated.sum() == 1.5


def test_batch_equals_one_protein_at_a_time():
    batch, _ = protein_descriptors(SEQUENCES, ("aac", "dpc", "ctriad", "ac", "moran"))
    alone = np.vstack(
        [protein_descriptors([s], ("aac", "dpc", "ctriad", "ac", "moran"))[0] for s in SEQUENCES]
    )
    np.testing.assert_allclose(batch, alone, atol=1e-12)
    assert batch.shape == (5, 20 + 400 + 343 + 210 + 210)


def test_bad_sequences_and_names():
    with pytest.raises(ValueError, match="not amino acids: '1J'"):
        encode(["MK1J"])
    with pytest.raises(ValueError, match="at least one residue"):
        encode(["MK", ""])
    with pytest.raises(ValueError, match="non-empty subset"):
        protein_descriptors(["MK"], ("aac", "kmer"))


def test_guo_features_are_fast(ppi_data):
    from moelogit.datasets.ppi import load_ppi

    data = load_ppi(ppi_data / "guo2008-yeast")
    # CPU time, not wall time: the shared test machine is often loaded.
    started = time.process_time()
    features, names = protein_descriptors(
        list(data.sequences.values()), ("aac", "dpc", "ctriad", "ac", "moran")
    )
    seconds = time.process_time() - started
    assert features.shape == (2497, 1183) and len(names) == 1183
    assert np.isfinite(features).all()
    assert seconds < 10, f"{seconds:.1f} s"  # 3.0-3.7 s wall time on an idle 2-core machine


@pytest.mark.parametrize("encoding", ["sum-absdiff", "sum-product"])
def test_symmetric_encodings_ignore_pair_order(encoding):
    sequences = dict(zip("abcde", SEQUENCES, strict=True))
    features = PairFeatures(sequences, encoding=encoding).fit()
    pairs = np.array([["a", "b"], ["c", "e"], ["d", "d"]])
    np.testing.assert_array_equal(features.transform(pairs), features.transform(pairs[:, ::-1]))


def test_pair_features_concat_and_names():
    sequences = dict(zip("abcde", SEQUENCES, strict=True))
    features = PairFeatures(sequences, descriptors=("aac",), encoding="concat")
    X = features.fit_transform([["a", "b"], ["b", "a"]])
    assert X.shape == (2, 40) and not np.array_equal(X[0], X[1])
    np.testing.assert_array_equal(X[0, :20], composition(encode([SEQUENCES[0]]))[0])
    names = features.get_feature_names_out()
    assert names[0] == "aac_A_a" and names[-1] == "aac_Y_b"
    assert encode_pairs(X[:, :2], X[:, 2:4], "sum-absdiff").shape == (2, 4)


def test_pair_features_errors():
    sequences = dict(zip("abcde", SEQUENCES, strict=True))
    with pytest.raises(ValueError, match="1 protein ids have no sequence, e.g. \\['zz'\\]"):
        PairFeatures(sequences).fit().transform([["a", "zz"]])
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        PairFeatures(sequences).fit().transform(["a", "b"])
    with pytest.raises(ValueError, match="encoding must be one of"):
        PairFeatures(sequences, encoding="mean").fit()
    with pytest.raises(ValueError, match="needs sequences"):
        PairFeatures().fit()
    with pytest.raises(ValueError, match="max_lag"):
        PairFeatures(sequences, max_lag=0).fit()


def test_pair_features_in_a_pipeline_with_the_moe():
    from sklearn.decomposition import PCA
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from moelogit import MoEClassifier

    rng = np.random.default_rng(1)
    # Interacting pairs share a hydrophobic tail; a learnable signal.
    sequences = {
        f"p{i}": "".join(rng.choice(list(ALPHABET), 60)) + ("ILVF" * 5 if i % 2 else "DEKR" * 5)
        for i in range(40)
    }
    pairs = rng.choice(list(sequences), size=(200, 2))
    y = np.array([int(sequences[a][-1] == "F" and sequences[b][-1] == "F") for a, b in pairs])
    y = np.where(rng.random(len(y)) < 0.1, 1 - y, y)  # label noise: no separation
    model = make_pipeline(
        PairFeatures(sequences, descriptors=("aac", "ac"), max_lag=5),
        StandardScaler(),
        PCA(3),
        MoEClassifier(n_experts=2, n_init=2, alpha=1e-3, random_state=0),
    )
    # The majority class is about 0.66 and the noise caps accuracy near 0.9.
    assert cross_val_score(clone(model), pairs, y, cv=3).mean() > 0.8


@pytest.mark.parametrize(
    "check",
    [
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimator_cloneable",
        "check_estimator_repr",
    ],
)
def test_sklearn_checks_that_apply(check):
    # The input is protein ids, not numbers, so scikit-learn's checks that
    # fit on random numeric matrices do not apply; those on the parameters,
    # cloning and repr do. Fitting, transforming and pickling are tested above.
    from sklearn.utils import estimator_checks

    features = PairFeatures(dict(zip("abcde", SEQUENCES, strict=True)), descriptors=("aac",))
    getattr(estimator_checks, check)("PairFeatures", features)


def test_pickle_round_trip():
    import pickle

    sequences = dict(zip("abcde", SEQUENCES, strict=True))
    features = PairFeatures(sequences).fit()
    again = pickle.loads(pickle.dumps(features))
    np.testing.assert_array_equal(again.transform([["a", "b"]]), features.transform([["a", "b"]]))


def test_hydrophilicity_is_hopp_woods():
    # Hopp & Woods 1981, typed independently of descriptors.py (A C D ... W Y order).
    from moelogit.features.descriptors import GUO_PROPERTIES

    hopp_woods = {"A": -0.5, "C": -1.0, "D": 3.0, "E": 3.0, "F": -2.5, "G": 0.0, "H": -0.5,
                  "I": -1.8, "K": 3.0, "L": -1.8, "M": -1.3, "N": 0.2, "P": 0.0, "Q": 0.2,
                  "R": 3.0, "S": 0.3, "T": -0.4, "V": -1.5, "W": -3.4, "Y": -2.3}  # fmt: skip
    assert GUO_PROPERTIES["hydrophilicity"] == list(hopp_woods.values())


def complementary_pairs(n=1200, seed=0):
    """Pairs that interact when one protein has feature 0 and the other feature 1 ("lock
    and key"): symmetric in the pair, but [a + b, |a - b|] cannot tell who has which."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    y = (((a[:, 0] > 0) & (b[:, 1] > 0)) | ((b[:, 0] > 0) & (a[:, 1] > 0))).astype(int)
    return a, b, y


def test_symmetric_pair_classifier_is_exactly_order_invariant():
    from sklearn.ensemble import RandomForestClassifier

    from moelogit.features import SymmetricPairClassifier, swap_halves

    a, b, y = complementary_pairs(300)
    X = encode_pairs(a, b, "concat")
    model = SymmetricPairClassifier(RandomForestClassifier(n_estimators=20, random_state=0))
    model.fit(X, y)
    assert model.estimator_.n_features_in_ == 6 and len(model.estimator_.estimators_) == 20
    # Trained on both orders, the label repeated.
    assert model.estimator_.estimators_[0].tree_.weighted_n_node_samples[0] == 2 * len(y)
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(proba, model.predict_proba(swap_halves(X)))
    np.testing.assert_array_equal(model.predict(X), model.predict(encode_pairs(b, a, "concat")))
    # The plain forest on [a, b] is not invariant.
    plain = clone(model.estimator).fit(X, y)
    assert not np.array_equal(plain.predict_proba(X), plain.predict_proba(swap_halves(X)))
    np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_symmetric_concatenation_keeps_what_sum_absdiff_loses():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_score

    from moelogit.features import SymmetricPairClassifier

    a, b, y = complementary_pairs()
    forest = RandomForestClassifier(n_estimators=60, random_state=0)

    def accuracy(model, encoding):
        return cross_val_score(model, encode_pairs(a, b, encoding), y, cv=3).mean()

    symmetric = accuracy(SymmetricPairClassifier(forest), "concat")
    assert symmetric > accuracy(forest, "sum-absdiff") + 0.08  # about 0.99 against 0.84
    assert symmetric >= accuracy(forest, "concat") - 0.01


def test_symmetric_pair_classifier_params_weights_and_errors():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from moelogit.features import SymmetricPairClassifier

    a, b, y = complementary_pairs(200)
    X = encode_pairs(a, b, "concat")
    model = SymmetricPairClassifier(make_pipeline(StandardScaler(), LogisticRegression()))
    search = GridSearchCV(model, {"estimator__logisticregression__C": [0.1, 1.0]}, cv=3)
    assert search.fit(X, y).best_estimator_.classes_.tolist() == [0, 1]
    weighted = SymmetricPairClassifier(LogisticRegression()).fit(X, y, sample_weight=np.ones(200))
    plain = SymmetricPairClassifier(LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(weighted.predict_proba(X), plain.predict_proba(X))
    with pytest.raises(ValueError, match="even number of columns"):
        SymmetricPairClassifier(LogisticRegression()).fit(X[:, :5], y)
    with pytest.raises(ValueError, match="needs an estimator"):
        SymmetricPairClassifier().fit(X, y)
    with pytest.raises(ValueError, match="expected 6"):
        plain.predict_proba(X[:, :4])
