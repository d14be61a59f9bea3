"""The practitioner's PPI path: PPIPredictor, its model file, and `moelogit ppi fit|predict`."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_info, threadpool_limits

from moelogit.datasets.ppi import PPIFormatError, read_pairs
from moelogit.features import SymmetricPairClassifier
from moelogit.io import ModelFileError, load_model, load_ppi_model, save_model, save_ppi_model
from moelogit.ppi import DEFAULTS, PPIPredictor

from .test_cli import run
from .test_prior import rewrite_metadata

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


def test_default_fit_keeps_the_dsc_paths_model_and_exact_symmetry():
    # The default tol is the DSC path's, so the selected level is not refitted
    # (the refit was a fifth of the fit's time on Guo's pairs, docs/ppi.md).
    pairs, labels, sequences = _toy(2, n_pairs=200)
    model = PPIPredictor(("aac",), max_experts=3).fit(pairs, labels, sequences)
    selection = model.moe_.selection_
    assert selection.model_ is selection.models_[model.n_experts_ - 1]
    assert model.moe_.tol == DEFAULTS["tol"] and model.moe_.max_iter == DEFAULTS["max_iter"]
    # Both orders of a pair get the same probability to the bit.
    assert np.array_equal(
        model.predict_proba(pairs, sequences), model.predict_proba(pairs[:, ::-1], sequences)
    )
    # A tighter tol than the path's refits the selected level, as before.
    tight = clone(model).set_params(tol=1e-8).fit(pairs, labels, sequences)
    selection = tight.moe_.selection_
    assert selection.model_ is not selection.models_[tight.n_experts_ - 1]


def test_the_fit_runs_with_the_blas_threads_asked_for(monkeypatch):
    seen, fit = [], SymmetricPairClassifier.fit

    def recording(self, *args, **kwargs):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(SymmetricPairClassifier, "fit", recording)
    pairs, labels, sequences = _toy(3, n_pairs=80)
    with threadpool_limits(limits=2, user_api="blas"):  # two outside the fit
        PPIPredictor(("aac",), n_experts=1, blas_threads=1).fit(pairs, labels, sequences)
        PPIPredictor(("aac",), n_experts=1).fit(pairs, labels, sequences)  # BLAS's own
    assert seen == [{1}, {2}]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="blas_threads must be None or an integer >= 1"):
            PPIPredictor(("aac",), n_experts=1, blas_threads=bad).fit(pairs, labels, sequences)


def test_model_files_keep_tol_and_older_ones_take_the_mixtures(files, tmp_path):
    model = load_ppi_model(files / "ppi.zip")
    assert model.tol == model.moe_.tol == 1e-5  # from `ppi fit --tol 1e-5`
    # A file written before PPIPredictor had tol: the mixture's own tol is the one used.
    rewrite_metadata(
        files / "ppi.zip", tmp_path / "old.zip", lambda metadata: metadata["predictor"].pop("tol")
    )
    assert load_ppi_model(tmp_path / "old.zip").tol == 1e-5


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
        "--max-experts", "3", "--n-init", "2", "--tol", "1e-5", "-o", "ppi.zip", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Fitted" in result.stdout and "Saved the model to ppi.zip" in result.stdout
    return folder


def test_ppi_fit_on_one_core_is_the_fit_on_every_core(files):
    result = run(
        "ppi", "fit", "pairs.tsv", "sequences.fasta", "--max-iter", "100", "--descriptors", "aac",
        "--max-experts", "3", "--n-init", "2", "--tol", "1e-5", "--n-jobs", "1", "-o", "one.zip",
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    every, one = load_ppi_model(files / "ppi.zip"), load_ppi_model(files / "one.zip")
    assert (every.n_jobs, one.n_jobs) == (-1, 1)
    assert one.n_experts_ == every.n_experts_
    np.testing.assert_allclose(one.moe_.objective_, every.moe_.objective_, rtol=1e-10)


def test_ppi_commands_fit_and_score_candidates(files):
    result = run(
        "ppi", "predict", "ppi.zip", "candidates.tsv", "sequences.fasta", "-o", "out.csv",
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(files / "out.csv")
    columns = ["protein_a", "protein_b", "probability", "rank", "predicted"]
    assert list(out.columns) == [*columns, "proteins_in_training"]
    # The pair listed in both orders: equal probabilities, the same (best) rank.
    ranks = out["probability"].rank(ascending=False, method="min")
    assert out["rank"].tolist() == ranks.tolist()
    assert out["rank"][0] == out["rank"][1]
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


# -- prevalence (issue 25) -------------------------------------------------------------------


def _odds_shift(proba, prevalence, train):
    """The correction written out: the odds times the prevalence's odds over the training's."""
    odds = proba / (1 - proba) * (prevalence / (1 - prevalence)) / (train / (1 - train))
    return odds / (1 + odds)


def test_predictor_corrects_to_a_prevalence(fitted):
    model, pairs, labels, sequences = fitted
    assert model.training_prevalence_ == pytest.approx(labels.mean(), abs=1e-15)
    raw = model.predict_proba(pairs, sequences)
    corrected = model.predict_proba(pairs, sequences, prevalence=0.1)
    np.testing.assert_allclose(corrected, _odds_shift(raw, 0.1, labels.mean()), rtol=1e-10)
    np.testing.assert_allclose(model.adjust_proba(raw, 0.1), corrected, rtol=1e-14)
    unchanged = model.predict_proba(pairs, sequences, prevalence=model.training_prevalence_)
    np.testing.assert_allclose(unchanged, raw, atol=1e-12, rtol=0)
    # Symmetric still: the correction acts on the averaged probability of both orders.
    np.testing.assert_allclose(
        corrected, model.predict_proba(pairs[:, ::-1], sequences, prevalence=0.1), atol=1e-12
    )
    # "auto": the EM estimate, applied.
    estimate = model.estimate_prevalence(raw, n_boot=20, random_state=1)
    assert estimate.low[1] <= estimate.prior[1] <= estimate.high[1] and estimate.converged
    np.testing.assert_allclose(
        model.predict_proba(pairs, sequences, prevalence="auto"),
        model.adjust_proba(raw, estimate.prior[1]),
        rtol=1e-12,
    )


@pytest.mark.parametrize("prevalence", [0.0, 1.0, 1.5, -0.1])
def test_a_prevalence_outside_zero_one_is_refused(fitted, prevalence):
    model, pairs, _, sequences = fitted
    with pytest.raises(ValueError, match=r"between 0 and 1 \(exclusive\)"):
        model.predict_proba(pairs[:3], sequences, prevalence=prevalence)


def test_bad_prevalence_requests_are_clear_errors(fitted):
    model, pairs, _, sequences = fitted
    with pytest.raises(TypeError, match="a number between 0 and 1 or 'auto'"):
        model.predict_proba(pairs[:3], sequences, prevalence="often")
    with pytest.raises(ValueError, match="at least 2 rows, got 1"):
        model.predict_proba(pairs[:1], sequences, prevalence="auto")


def _without_prevalence(source, target):
    """A copy of a PPI model file as moelogit wrote it before it recorded the prevalence."""

    def older(metadata):
        del metadata["training_prevalence"], metadata["classifier"]["fitted"]["class_prior_"]

    rewrite_metadata(source, target, older)


def test_model_files_keep_the_prevalence_and_older_ones_still_load(fitted, tmp_path):
    model, pairs, _, sequences = fitted
    save_ppi_model(model, tmp_path / "ppi.zip")
    loaded = load_ppi_model(tmp_path / "ppi.zip")
    assert loaded.training_prevalence_ == model.training_prevalence_
    np.testing.assert_array_equal(
        loaded.predict_proba(pairs, sequences, prevalence=0.05),
        model.predict_proba(pairs, sequences, prevalence=0.05),
    )
    _without_prevalence(tmp_path / "ppi.zip", tmp_path / "old.zip")
    old = load_ppi_model(tmp_path / "old.zip")
    assert not hasattr(old, "training_prevalence_") and old.moe_.class_prior_ is None
    np.testing.assert_array_equal(
        old.predict_proba(pairs, sequences), model.predict_proba(pairs, sequences)
    )
    with pytest.raises(ValueError, match="does not record its training prevalence.*refit"):
        old.predict_proba(pairs, sequences, prevalence=0.1)


def test_ppi_predict_corrects_ranks_and_counts(files):
    raw = run(
        "ppi", "predict", "ppi.zip", "pairs.tsv", "sequences.fasta", "-o", "raw.csv", cwd=files
    )  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    assert re.search(r"\d+ of 300 candidates have a probability of at least 0.5\.", raw.stdout)
    result = run(
        "ppi", "predict", "ppi.zip", "pairs.tsv", "sequences.fasta", "--prevalence", "0.1",
        "--threshold", "0.3", "-o", "low.csv", cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    before, after = pd.read_csv(files / "raw.csv"), pd.read_csv(files / "low.csv")
    assert list(after.columns) == [
        "protein_a", "protein_b", "probability", "rank", "predicted", "proteins_in_training",
        "label",
    ]  # fmt: skip
    train = load_ppi_model(files / "ppi.zip").training_prevalence_
    np.testing.assert_allclose(
        after["probability"], _odds_shift(before["probability"], 0.1, train), rtol=1e-9
    )
    assert after["probability"].mean() < before["probability"].mean()
    # Ranks: 1 for the most probable; the order is the probability's, unchanged by the shift.
    assert after["rank"].min() == 1 and after["rank"].max() <= len(after)
    assert after.loc[after["rank"] == 1, "probability"].iloc[0] == after["probability"].max()
    np.testing.assert_array_equal(after["rank"], before["rank"])
    np.testing.assert_array_equal(after["predicted"], (after["probability"] >= 0.3).astype(int))
    count = int(after["predicted"].sum())
    assert f"{count} of 300 candidates have a probability of at least 0.3." in result.stdout
    assert f"from the training prevalence {train:.4g} to 0.1." in result.stdout


def test_ppi_predict_estimates_the_prevalence(files):
    raw = run(
        "ppi", "predict", "ppi.zip", "pairs.tsv", "sequences.fasta", "-o", "raw.csv", cwd=files
    )  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    result = run(
        "ppi", "predict", "ppi.zip", "pairs.tsv", "sequences.fasta", "--prevalence", "auto",
        "-o", "auto.csv", cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = re.search(
        r"candidates \(EM, Saerens et al\. 2002\): ([\d.e-]+) \(bootstrap 95% interval "
        r"([\d.e-]+)-([\d.e-]+), 200 replicates\)\.",
        result.stdout,
    )
    assert found, result.stdout
    estimate, low, high = map(float, found.groups())
    assert 0 < low <= estimate <= high < 1
    # What the command printed and used is the estimate from the uncorrected scores.
    model = load_ppi_model(files / "ppi.zip")
    scores = pd.read_csv(files / "raw.csv")["probability"].to_numpy()
    expected = model.estimate_prevalence(scores, n_boot=200, random_state=0)
    assert (estimate, low, high) == pytest.approx(
        (expected.prior[1], expected.low[1], expected.high[1]), rel=1e-3
    )
    np.testing.assert_allclose(
        pd.read_csv(files / "auto.csv")["probability"],
        model.adjust_proba(scores, expected.prior[1]),
        rtol=1e-9,
    )
    assert f"to {estimate:.4g}." in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--prevalence", "1.5"), "--prevalence must be a number between 0 and 1 .* got '1.5'"),
        (("--prevalence", "0"), "--prevalence must be a number between 0 and 1"),
        (("--prevalence", "often"), "--prevalence must be a number between 0 and 1"),
        (("--prevalence", "auto", "--pairs-file", "one.tsv"), "at least 2 rows, got 1"),
        (("--prevalence", "0.1", "--model", "older.zip"), "does not record its training prev"),
    ],
)
def test_ppi_prevalence_errors_are_one_line(files, arguments, message):
    (files / "one.tsv").write_text("P3\tP7\n")
    _without_prevalence(files / "ppi.zip", files / "older.zip")
    options = list(arguments)
    model, pairs = "ppi.zip", "candidates.tsv"
    for name in ("--pairs-file", "--model"):
        if name in options:
            at = options.index(name)
            value = options[at + 1]
            model, pairs = (value, pairs) if name == "--model" else (model, value)
            del options[at : at + 2]
    result = run(
        "ppi", "predict", model, pairs, "sequences.fasta", *options, "-o", "never.csv", cwd=files
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (files / "never.csv").exists()
