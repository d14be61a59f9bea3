"""The command line never silently changes the user's data or model (issue 26).

Each test names the defect it guards against; every one failed before its fix.
The property tests at the end feed random malformed tables and model files
to the command line.
"""

import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moelogit import MoEClassifier, cli
from moelogit.datasets import make_moe_classification
from moelogit.io import load_model, save_model

from .test_cli import run
from .test_io import _npy, _rewrite

FAST = ("--n-init", "1", "--seed", "0", "--quiet")


def invoke(*args, cwd):
    """The command in this process (fast: no interpreter start), run from the folder ``cwd``."""
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli.main, list(args), catch_exceptions=True)
    finally:
        os.chdir(before)


def assert_clean_error(result, folder, before, message=None):
    """Exit status 2, one ``Error:`` line on stderr, no traceback, no file written."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    if message is not None:
        assert re.search(message, lines[0]), lines[0]
    assert sorted(p.name for p in Path(folder).rglob("*")) == before


def listing(folder):
    return sorted(p.name for p in Path(folder).rglob("*"))


@pytest.fixture(scope="module")
def table():
    """A small labelled table: x1..x3, label (three classes), id."""
    X, y, _ = make_moe_classification(240, 3, 2, 3, random_state=4)
    frame = pd.DataFrame(X, columns=["x1", "x2", "x3"])
    frame["label"] = np.array(["a", "b", "c"])[y]
    frame.insert(0, "id", [f"{i:05d}" for i in range(1, 241)])
    return frame


def write(frame, path):
    frame.to_csv(path, index=False)
    return path


# -- 1 and 11: labels are the text written ------------------------------------------------


def test_labels_are_never_type_guessed(table, tmp_path):
    """Item 1: ``001``, ``002`` and ``1`` were read as numbers, ``001`` and ``1`` merged."""
    frame = table.assign(label=np.array(["001", "002", "1"])[np.arange(240) % 3])
    write(frame, tmp_path / "codes.csv")
    result = invoke("fit", "codes.csv", "--label", "label", "--id", "id", *FAST,
                    "-o", "m.zip", cwd=tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(load_model(tmp_path / "m.zip").classes_, ["001", "002", "1"])
    assert "3 classes" in result.stdout


def test_float_labels_are_classes_named_as_written(table, tmp_path):
    """Item 11: labels 0.5 and 1.5 were refused although --help promises any values."""
    frame = table.assign(label=np.where(np.arange(240) % 2, "0.5", "1.5"))
    write(frame, tmp_path / "floats.csv")
    frame.to_parquet(tmp_path / "floats.parquet")
    for source in ("floats.csv", "floats.parquet"):
        result = invoke("fit", source, "--label", "label", "--id", "id", *FAST,
                        "-o", "m.zip", cwd=tmp_path)  # fmt: skip
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(load_model(tmp_path / "m.zip").classes_, ["0.5", "1.5"])


def test_numeric_classes_of_a_python_model_match_labels_read_as_text(table, tmp_path):
    X, y = table[["x1", "x2", "x3"]], (table["label"] == "a").astype(int).to_numpy()
    save_model(MoEClassifier(2, n_init=1, random_state=0).fit(X, y), tmp_path / "py.zip",
               label="label")  # fmt: skip
    write(table.assign(label=y), tmp_path / "ints.csv")
    result = invoke("report", "py.zip", "--data", "ints.csv", "-o", "r.html", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    before = listing(tmp_path)
    write(table.assign(label=np.where(y == 1, "01", "0")), tmp_path / "padded.csv")
    before = listing(tmp_path)
    result = invoke("report", "py.zip", "--data", "padded.csv", "-o", "r2.html", cwd=tmp_path)
    assert_clean_error(result, tmp_path, before, "labels the model never saw: '01'")


# -- 2: ids are copied through exactly ------------------------------------------------------


def test_ids_are_copied_exactly_as_text(table, tmp_path):
    """Item 2: ``00001`` came out as ``1``, and one missing id made every id a float."""
    frame = table.copy()
    frame.loc[3, "id"] = ""
    frame.loc[4, "id"] = "NA"
    write(frame, tmp_path / "ids.csv")
    assert invoke("fit", "ids.csv", "--label", "label", "--id", "id", *FAST, "-o", "m.zip",
                  cwd=tmp_path).exit_code == 0  # fmt: skip
    for target in ("p.csv", "p.parquet"):
        result = invoke("predict", "m.zip", "ids.csv", "--id", "id", "-o", target, cwd=tmp_path)
        assert result.exit_code == 0, result.output
        if target.endswith(".csv"):
            out = pd.read_csv(tmp_path / target, dtype=str, keep_default_na=False)
        else:
            out = pd.read_parquet(tmp_path / target)
        assert out["id"].tolist() == frame["id"].tolist()
    assert (tmp_path / "p.csv").read_text().splitlines()[1].startswith("00001,")


# -- 3: extreme values ----------------------------------------------------------------------


def test_one_extreme_value_keeps_its_feature_with_a_finite_scale(table, tmp_path):
    """Item 3: one 1e300 made the scale inf and silently dropped the feature."""
    frame = table.copy()
    frame.loc[7, "x2"] = 1e300
    write(frame, tmp_path / "big.csv")
    result = invoke("fit", "big.csv", "--label", "label", "--id", "id", *FAST, "-o", "m.zip",
                    cwd=tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr.lower()
    model, metadata = load_model(tmp_path / "m.zip", return_metadata=True)
    assert np.isfinite(model.feature_scale_).all() and model.n_parameters() == 4 * 1 + 2 * 4 * 2
    std = metadata["data_summary"]["features"][1]["std"]
    np.testing.assert_allclose(std, np.std(frame["x2"] / 1e300) * 1e300)


def test_a_range_beyond_float64_is_an_error_naming_the_column(table, tmp_path):
    frame = table.copy()
    frame.loc[7, "x3"], frame.loc[8, "x3"] = 1e308, -1e308
    write(frame, tmp_path / "huge.csv")
    before = listing(tmp_path)
    result = invoke("fit", "huge.csv", "--label", "label", "--id", "id", *FAST, "-o", "m.zip",
                    cwd=tmp_path)  # fmt: skip
    assert_clean_error(result, tmp_path, before, "feature 'x3' spans a range .* beyond float64")


def test_standardisation_is_unchanged_to_the_bit_on_ordinary_data():
    X, y, _ = make_moe_classification(500, 4, 2, 3, random_state=2)
    X = X * np.array([1e-3, 1.0, 7.0, 1e5]) + np.array([0.0, 3.0, -2.0, 1e6])
    model = MoEClassifier(1, n_init=1, max_iter=1).fit(X, y)
    weights = np.full(500, 1 / 500)
    mean = weights @ X
    np.testing.assert_array_equal(model.feature_mean_, mean)
    np.testing.assert_array_equal(model.feature_scale_, np.sqrt(weights @ (X - mean) ** 2))


# -- 5, 8, 9: refused before any work -------------------------------------------------------


@pytest.fixture(scope="module")
def files(table, tmp_path_factory):
    folder = tmp_path_factory.mktemp("integrity")
    write(table, folder / "train.csv")
    result = invoke("fit", "train.csv", "--label", "label", "--id", "id", *FAST,
                    "-o", "model.zip", cwd=folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    (folder / "dupes.csv").write_text("x1,x1,label\n1,2,a\n3,4,b\n")
    return folder


BEFORE_ANY_WORK = {
    "fit into a missing folder": (
        ["fit", "train.csv", "--label", "label", "-o", "nowhere/model.zip"],
        "cannot write nowhere/model.zip: the folder nowhere does not exist",
    ),
    "predict into a missing folder": (
        ["predict", "model.zip", "train.csv", "-o", "nowhere/p.csv"],
        "cannot write nowhere/p.csv: the folder nowhere does not exist",
    ),
    "predict to an unknown format": (
        ["predict", "model.zip", "train.csv", "-o", "p.xlsx"],
        "format of p.xlsx",
    ),
    "report into a missing folder": (
        ["report", "model.zip", "-o", "nowhere/r.html"],
        "cannot write nowhere/r.html: the folder nowhere does not exist",
    ),
    "select into a file": (
        ["select", "train.csv", "--label", "label", "--out", "train.csv/sel"],
        "cannot write to the folder train.csv/sel: train.csv is a file",
    ),
    "demo report into a missing folder": (
        ["demo", "--report", "nowhere/demo.html"],
        "cannot write nowhere/demo.html",
    ),
    "more parameters than rows (selection)": (
        ["select", "train.csv", "--label", "label", "--id", "id", "--max-experts", "1000"],
        # 3 features and 3 classes: K q M - q = 1000 * 4 * 3 - 4; (240 + 4) // 12 = 20
        r"--max-experts 1000 means 11,996 parameters .* for 240 rows, .*use at most 20 experts",
    ),
    "more parameters than rows (fit)": (
        ["fit", "train.csv", "--label", "label", "--n-experts", "40", "-o", "m.zip"],
        # the id column is a fourth feature here: 40 * 5 * 3 - 5; (240 + 5) // 15 = 16
        r"--n-experts 40 means 595 parameters .*use at most 16 experts",
    ),
    "repeated column names": (
        ["fit", "dupes.csv", "--label", "label", "-o", "m.zip"],
        "repeated column names 'x1'",
    ),
}


@pytest.mark.parametrize("case", BEFORE_ANY_WORK)
def test_refused_before_any_work(case, files):
    """Items 5, 8 and 9: a lost fit, a ten-minute silent fit, silently renamed columns."""
    args, message = BEFORE_ANY_WORK[case]
    before = listing(files)
    result = invoke(*args, cwd=files)
    assert_clean_error(result, files, before, message)
    assert "Fitted" not in result.stdout and "starts" not in result.stderr


# -- 4, 6: model files ----------------------------------------------------------------------


def _replace_member(source, target, member, content):
    """A copy of the model file ``source`` at ``target``, ``member`` replaced."""
    target.write_bytes(source.read_bytes())
    _rewrite(target, member, content)


def test_a_model_with_a_nan_coefficient_is_refused_by_predict(files):
    """Item 4: every probability came out empty and every row was predicted 'a'."""
    coef = load_model(files / "model.zip").expert_coef_.copy()
    coef[0, 1, 2] = np.nan
    _replace_member(files / "model.zip", files / "nan.zip", "expert_coef_.npy", _npy(coef))
    before = listing(files)
    result = invoke("predict", "nan.zip", "train.csv", "-o", "p.csv", cwd=files)
    assert_clean_error(result, files, before, "nan.zip is corrupted: expert_coef_ holds non-finite")


def test_a_huge_array_header_is_one_line_not_a_traceback(files):
    """Item 6: ``Unable to allocate 72.8 TiB`` and a traceback."""
    huge = _npy(header_shape=(10**7, 10**6), data=b"\0" * 16)
    _replace_member(files / "model.zip", files / "huge.zip", "gate_coef_.npy", huge)
    before = listing(files)
    result = invoke("predict", "huge.zip", "train.csv", "-o", "p.csv", cwd=files)
    assert_clean_error(result, files, before, r"huge.zip is corrupted: gate_coef_ claims shape")


# -- 10: PPI headers ------------------------------------------------------------------------


def test_a_pairs_file_with_a_bad_first_label_is_an_error_not_a_header(tmp_path):
    """Item 10: line 1 with a bad label was dropped as a header; on line 5 it is an error."""
    from moelogit.datasets.ppi import PPIFormatError, load_ppi

    (tmp_path / "sequences.tsv").write_text("P1\tMKVL\nP2\tGGAL\nP3\tACDE\n")
    (tmp_path / "pairs.tsv").write_text("P1\tP2\tyes\nP2\tP3\t0\nP1\tP3\t1\n")
    with pytest.raises(PPIFormatError, match="line 1: label must be 0 or 1, got 'yes'"):
        load_ppi(tmp_path)
    (tmp_path / "pairs.tsv").write_text("protein_a\tprotein_b\tinteracts\nP2\tP3\t0\nP1\tP3\t1\n")
    data = load_ppi(tmp_path)
    assert data.report["header"] and data.pairs.tolist() == [["P2", "P3"], ["P1", "P3"]]


# -- the smaller defects --------------------------------------------------------------------


def test_progress_on_a_file_is_plain_lines(files):
    """Nested progress bars left cursor escape sequences in stderr sent to a file."""
    result = run("select", "train.csv", "--label", "label", "--id", "id", "--max-experts", "3",
                 "--n-init", "2", "--out", "sel", cwd=files)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert re.search(r"^DSC path: 2/2 \(\d+\.\d s\)$", result.stderr, re.MULTILINE)
    assert re.search(r"^starts: 2/2 ", result.stderr, re.MULTILINE)


def test_report_tables_have_no_empty_index_row_and_no_verbose(files):
    result = invoke("report", "model.zip", "--data", "train.csv", "-o", "m.html", cwd=files)
    assert result.exit_code == 0, result.output
    page = (files / "m.html").read_text()
    assert "verbose=" not in page
    headers = re.findall(r"<thead>(.*?)</thead>", page, re.DOTALL)
    assert headers and all(row.count("<tr") == 1 for row in headers), headers


# -- property tests: random malformed tables and model files --------------------------------

GOOD = pd.DataFrame(
    {
        "x1": np.linspace(-1, 1, 12),
        "x2": np.cos(np.arange(12.0)),
        "label": list("ab") * 6,
    }
)

# Each corruption makes the table unusable for ``fit --label label``.
CORRUPTIONS = {
    "no label column": lambda f, r, c: f.rename(columns={"label": "lab"}),
    "text in a feature": lambda f, r, c: f.astype({c: object}).assign(**{c: _cell(f, c, r, "n/a!")}),
    "infinite value": lambda f, r, c: f.assign(**{c: _cell(f, c, r, np.inf)}),
    "missing value": lambda f, r, c: f.assign(**{c: _cell(f, c, r, np.nan)}),
    "missing label": lambda f, r, c: f.assign(label=_cell(f, "label", r, None)),
    "one class": lambda f, r, c: f.assign(label="a"),
    "repeated name": lambda f, r, c: f.rename(columns={"x2": "x1"}),
    "no rows": lambda f, r, c: f.iloc[:0],
    "no features": lambda f, r, c: f[["label"]],
}


def _cell(frame, column, row, value):
    values = frame[column].astype(object).to_numpy().copy()
    values[row] = value
    return values


def _every_file_is_refused(tmp, args, before_files=None):
    before = listing(tmp) if before_files is None else before_files
    result = invoke(*args, cwd=tmp)
    assert_clean_error(result, tmp, before)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corruption=st.sampled_from(sorted(CORRUPTIONS)),
    row=st.integers(0, 11),
    column=st.sampled_from(["x1", "x2"]),
    suffix=st.sampled_from([".csv", ".tsv", ".parquet", ".csv.gz"]),
    command=st.sampled_from(["fit", "select"]),
)
def test_malformed_tables_give_one_line_and_no_file(corruption, row, column, suffix, command):
    frame = CORRUPTIONS[corruption](GOOD.copy(), row, column)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        if suffix == ".parquet":
            try:
                frame.to_parquet(path)
            except (ValueError, TypeError):  # pyarrow refuses repeated names or mixed types
                return
        else:
            frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
        out = ["-o", "model.zip"] if command == "fit" else ["--out", "sel"]
        _every_file_is_refused(tmp, [command, path.name, "--label", "label", *FAST, *out])


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good-model")
    model = MoEClassifier(2, n_init=1, random_state=0).fit(GOOD[["x1", "x2"]], GOOD["label"])
    save_model(model, folder / "model.zip", label="label")
    return (folder / "model.zip").read_bytes()


def _metadata_damage(metadata, key, value):
    """Put an impossible ``value`` at ``key`` of the metadata."""
    section, name = key
    target = metadata if section is None else metadata[section]
    target[name] = value
    return metadata


METADATA_KEYS = [
    (None, "format_version"),
    (None, "arrays"),
    (None, "format"),
    ("fitted", "n_features_in_"),
    ("fitted", "n_experts_"),
    ("fitted", "n_iter_"),
    ("fitted", "objective_"),
]
IMPOSSIBLE = st.one_of(
    st.just(None), st.just(-3), st.just(10**12), st.text(max_size=5), st.just([1, "x"])
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(["truncate", "metadata", "array", "drop", "noise"]))
def test_malformed_model_files_give_one_line_and_no_file(good_model, data, kind):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        GOOD.to_csv(tmp / "new.csv", index=False)
        path = tmp / "model.zip"
        path.write_bytes(good_model)
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        if kind == "truncate":
            path.write_bytes(good_model[: data.draw(st.integers(0, len(good_model) - 1))])
        elif kind == "noise":
            path.write_bytes(data.draw(st.binary(max_size=2000)))
        else:
            if kind == "metadata":
                metadata = json.loads(members["metadata.json"])
                key = data.draw(st.sampled_from(METADATA_KEYS))
                value = data.draw(IMPOSSIBLE)
                if key == (None, "format_version") and value is None:
                    value = 99
                if key == ("fitted", "objective_") and not isinstance(value, str):
                    value = float("nan") if value is None else "x"
                members["metadata.json"] = json.dumps(_metadata_damage(metadata, key, value))
            else:
                arrays = sorted(name for name in members if name.endswith(".npy"))
                name = data.draw(st.sampled_from(arrays))
                if kind == "drop":
                    del members[name]
                else:
                    shape = data.draw(st.lists(st.integers(0, 4), max_size=3).map(tuple))
                    fill = data.draw(st.sampled_from([0.5, np.nan, np.inf]))
                    current = np.lib.format.read_array(
                        io.BytesIO(members[name]), allow_pickle=False
                    )
                    if shape == current.shape and fill == 0.5 and current.dtype.kind == "f":
                        fill = np.nan  # the same shape and finite values would be a valid file
                    members[name] = _npy(np.full(shape, fill))
            with zipfile.ZipFile(path, "w") as archive:
                for member, content in members.items():
                    archive.writestr(member, content)
        _every_file_is_refused(tmp, ["predict", "model.zip", "new.csv", "-o", "p.csv"])


def test_long_runs_show_their_progress(monkeypatch, capsys):
    """Item 8: a long fit ran for minutes without a word; its final run now reports."""
    from moelogit import _progress

    monkeypatch.setattr(_progress, "LINE_INTERVAL", 0.0)  # every iteration counts as long
    X, y, _ = make_moe_classification(300, 2, 2, 2, random_state=0)
    MoEClassifier(2, n_init=2, max_iter=20, verbose=1, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert re.search(r"^starts: 2/2 ", err, re.MULTILINE)
    assert re.search(r"^final on 300 rows: \d+ iterations \(\d+\.\d s\), objective -\d", err, re.M)
    assert "\x1b" not in err and "\r" not in err
