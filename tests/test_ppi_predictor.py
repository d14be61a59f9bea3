"""The practitioner's PPI path: PPIPredictor, its model file, and `moelogit ppi fit|predict`."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from moelogit.datasets.ppi import PPIFormatError, read_pairs
from moelogit.io import ModelFileError, load_model, load_ppi_model, save_model, save_ppi_model
from moelogit.ppi import PPIPredictor

from .test_cli import run

AMINO = list("ACDEFGHIKLMNPQRSTVWY")


def _toy(seed=0, n_proteins=50, n_pairs=300):
    """Random sequences; pairs interact when both proteins are rich in the same half of AMINO."""
    rng = np.random.default_rng(seed)
    halves = rng.integers(0, 2, n_proteins)
    sequences = {
        f"P{i}": "".join(rng.choice(AMINO[:12] if h else AMINO[8:], rng.integers(40, 120)))
        for i, h in enumerate(halves)
    }
    index = np.array([rng.choice(n_proteins, 2, replace=False) for _ in range(n_pairs)])
    labels = (halves[index[:, 0]] == halves[index[:, 1]]).astype(int)
    flip = rng.random(n_pairs) < 0.1
    labels[flip] = 1 - labels[flip]
    pairs = np.char.add("P", index.astype(str))
    return pairs, labels, sequences


@pytest.fixture(scope="module")
def fitted():
    pairs, labels, sequences = _toy()
    model = PPIPredictor(("aac", "ac"), max_lag=5, max_experts=3, n_init=2, max_iter=100)
    return model.fit(pairs, labels, sequences), pairs, labels, sequences


def test_predictor_learns_is_order_invariant_and_scores_new_proteins(fitted):
    model, pairs, labels, sequences = fitted
    proba = model.predict_proba(pairs, sequences)
    assert proba.shape == (len(pairs),) and np.all((proba > 0) & (proba < 1))
    np.testing.assert_allclose(proba, model.predict_proba(pairs[:, ::-1], sequences), atol=1e-12)
    assert np.mean((proba >= 0.5) == labels) > 0.8  # the toy rule is learnable
    assert 1 <= model.n_experts_ <= 3 and model.moe_.selection_.method == "dsc"
    # New proteins need only their sequences: rename two and score them.
    renamed = {"NEW1": sequences["P0"], "NEW2": sequences["P1"]}
    np.testing.assert_allclose(
        model.predict_proba([["NEW1", "NEW2"]], renamed),
        model.predict_proba([["P0", "P1"]], sequences),
    )


def test_predictor_counts_the_proteins_seen_in_training(fitted):
    model, pairs = fitted[:2]
    candidates = [[pairs[0, 0], pairs[0, 1]], ["NEW", pairs[0, 0]], ["NEW", "NEW"]]
    np.testing.assert_array_equal(model.proteins_in_training(candidates), [2, 1, 0])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        model.proteins_in_training(["P0", "P1", "P2"])
    assert model.proteins_in_training(np.empty((0, 2), dtype=str)).shape == (0,)
    with pytest.raises(NotFittedError):
        PPIPredictor().proteins_in_training(candidates)
    older = clone(model)
    older.classifier_ = model.classifier_  # fitted, but without the record (an older file)
    with pytest.raises(AttributeError, match="refit"):
        older.proteins_in_training(candidates)


def test_predictor_rejects_bad_input(fitted):
    model, pairs, _, sequences = fitted
    with pytest.raises(ValueError, match="both 0"):
        PPIPredictor().fit(pairs, np.ones(len(pairs), int), sequences)
    with pytest.raises(ValueError, match="no sequence"):
        model.predict_proba([["P0", "UNKNOWN"]], sequences)


def test_model_file_round_trip_and_wrong_kind(fitted, tmp_path):
    model, pairs, _, sequences = fitted
    save_ppi_model(model, tmp_path / "ppi.zip", data_report={"pairs": len(pairs)})
    loaded, metadata = load_ppi_model(tmp_path / "ppi.zip", return_metadata=True)
    np.testing.assert_array_equal(
        loaded.predict_proba(pairs, sequences), model.predict_proba(pairs, sequences)
    )
    assert metadata["predictor"]["max_lag"] == 5 and metadata["data_report"]["pairs"] == 300
    assert loaded.n_experts_ == model.n_experts_ and loaded.n_pairs_ == len(pairs)
    np.testing.assert_array_equal(loaded.feature_names_, model.feature_names_)
    np.testing.assert_array_equal(loaded.training_proteins_, np.unique(pairs))
    # Training proteins that are not a list of ids: a damaged file.
    _rewrite_array(
        tmp_path / "ppi.zip", tmp_path / "numbers.zip", "training_proteins", np.arange(4)
    )
    with pytest.raises(ModelFileError, match="corrupted: the training proteins"):
        load_ppi_model(tmp_path / "numbers.zip")
    # A PPI model file is not a plain model file, and the other way round.
    with pytest.raises(ModelFileError, match="not a moelogit model file but a moelogit PPI"):
        load_model(tmp_path / "ppi.zip")
    save_model(model.moe_, tmp_path / "plain.zip")
    with pytest.raises(ModelFileError, match="not a moelogit PPI model file"):
        load_ppi_model(tmp_path / "plain.zip")


def test_model_file_whose_descriptors_disagree_is_damaged(fitted, tmp_path):
    import json
    import zipfile

    model = fitted[0]
    save_ppi_model(model, tmp_path / "ppi.zip")
    with zipfile.ZipFile(tmp_path / "ppi.zip") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    for change in ({"descriptors": ["aac"]}, {"max_lag": 4}, {"descriptors": ["nope"]}):
        metadata["predictor"].update(change)
        members["metadata.json"] = json.dumps(metadata).encode()
        with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        with pytest.raises(ModelFileError, match="is corrupted"):
            load_ppi_model(tmp_path / "bad.zip")
        metadata["predictor"].update(descriptors=["aac", "ac"], max_lag=5)


def test_unlabelled_pairs_files(tmp_path):
    path = tmp_path / "candidates.tsv"
    path.write_text("P1\tP2\nP3\tP4\n")
    pairs, labels, _, header = read_pairs(path, labelled=False)
    assert pairs.tolist() == [["P1", "P2"], ["P3", "P4"]] and labels is None and not header
    with pytest.raises(PPIFormatError, match="line 1: expected 'protein_a<TAB>protein_b<TAB>"):
        read_pairs(path)  # training needs labels
    path.write_text("P1\tP2\nP3\tP4\t1\n")
    with pytest.raises(PPIFormatError, match="line 2: expected 'protein_a<TAB>protein_b'"):
        read_pairs(path, labelled=False)  # mixed columns


def _rewrite_array(source, target, name, array=None):
    """A copy of a model file with one array replaced by ``array``, or left out
    (``array=None``) as an older moelogit wrote it."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(source) as archive:
        members = {member: archive.read(member) for member in archive.namelist()}
    metadata = json.loads(members.pop("metadata.json"))
    if array is None:
        metadata["arrays"].remove(name)
        del members[f"{name}.npy"]
    else:
        buffer = io.BytesIO()
        np.save(buffer, array)
        members[f"{name}.npy"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        for member, data in members.items():
            archive.writestr(member, data)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ppi")
    pairs, labels, sequences = _toy(1)
    lines = [f"{a}\t{b}\t{label}" for (a, b), label in zip(pairs, labels, strict=True)]
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n")
    fasta = [f">{name} some description\n{seq[:50]}\n{seq[50:]}" for name, seq in sequences.items()]
    (folder / "sequences.fasta").write_text("\n".join(fasta) + "\n")
    (folder / "candidates.tsv").write_text("protein_a\tprotein_b\nP3\tP7\nP7\tP3\nP10\tP11\n")
    result = run(
        "ppi", "fit", "pairs.tsv", "sequences.fasta", "--max-iter", "100", "--descriptors", "aac",
        "--max-experts", "3", "--n-init", "2", "-o", "ppi.zip", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Fitted" in result.stdout and "Saved the model to ppi.zip" in result.stdout
    return folder


def test_ppi_commands_fit_and_score_candidates(files):
    result = run(
        "ppi", "predict", "ppi.zip", "candidates.tsv", "sequences.fasta", "-o", "out.csv",
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(files / "out.csv")
    columns = ["protein_a", "protein_b", "probability", "predicted", "proteins_in_training"]
    assert list(out.columns) == columns
    trained = set(read_pairs(files / "pairs.tsv")[0].ravel())
    seen = out[["protein_a", "protein_b"]].isin(trained).sum(axis=1)
    assert (out["proteins_in_training"] == seen).all()
    # A protein no training pair names: counted, and the summary line says so.
    fasta = (files / "sequences.fasta").read_text() + ">NEW\nACDEFGHIKLMNPQRSTVWYACDEFG\n"
    (files / "with-new.fasta").write_text(fasta)
    (files / "new.tsv").write_text("P3\tNEW\nNEW\tNEW\nP3\tP7\n")
    result = run(
        "ppi", "predict", "ppi.zip", "new.tsv", "with-new.fasta", "-o", "new.csv", cwd=files
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {"P3", "P7"} <= trained
    assert pd.read_csv(files / "new.csv")["proteins_in_training"].tolist() == [1, 0, 2]
    assert "named: both 1, one 1, neither 1. (On unseen proteins" in result.stdout
    # A model file written before the training proteins were recorded still predicts.
    _rewrite_array(files / "ppi.zip", files / "old.zip", "training_proteins")
    result = run(
        "ppi", "predict", "old.zip", "new.tsv", "with-new.fasta", "-o", "old.csv", cwd=files
    )
    assert result.returncode == 0, result.stderr
    assert "does not record its training proteins" in result.stderr
    assert "proteins_in_training" not in pd.read_csv(files / "old.csv").columns
    assert out["protein_a"].tolist() == ["P3", "P7", "P10"]  # the header line skipped
    assert out["probability"][0] == pytest.approx(out["probability"][1], abs=1e-12)
    assert ((out["probability"] >= 0.5).astype(int) == out["predicted"]).all()
    # A labelled file: labels kept, scores reported.
    result = run(
        "ppi", "predict", "ppi.zip", "pairs.tsv", "sequences.fasta", "-o", "scored.tsv",
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "log loss" in result.stdout
    assert list(pd.read_csv(files / "scored.tsv", sep="\t").columns)[-1] == "label"
    assert "Read line 1 of candidates.tsv as a header" in run(
        "ppi", "predict", "ppi.zip", "candidates.tsv", "sequences.fasta", "-o", "o.csv",
        cwd=files,
    ).stderr  # fmt: skip
    # Labels of one class: accuracy and log loss, and why there is no ROC-AUC.
    (files / "positives.tsv").write_text("P3\tP7\t1\nP10\tP11\t1\n")
    result = run(
        "ppi", "predict", "ppi.zip", "positives.tsv", "sequences.fasta", "-o", "pos.csv",
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "no ROC-AUC: the labels hold one class" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("predict", "ppi.zip", "bad.tsv", "sequences.fasta"), "line 2: protein 'Q9' has no seq"),
        (("predict", "pairs.tsv", "candidates.tsv", "sequences.fasta"), "not a zip archive"),
        (("predict", "ppi.zip", "candidates.tsv", "nowhere.fasta"), "nowhere.fasta"),
        (("fit", "candidates.tsv", "sequences.fasta"), "expected 'protein_a<TAB>protein_b<TAB>"),
        (("fit", "pairs.tsv", "badseq.tsv"), "not amino acids"),
        (("fit", "pairs.tsv", "sequences.fasta", "--descriptors", "aac,xyz"), "unknown descr"),
    ],
)
def test_ppi_command_errors_are_one_line_and_leave_no_file(files, arguments, message):
    (files / "bad.tsv").write_text("P1\tP2\nP3\tQ9\n")
    (files / "badseq.tsv").write_text("P1\tMKV1L\n")
    result = run("ppi", *arguments, "-o", "never.csv", cwd=files)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (files / "never.csv").exists()
