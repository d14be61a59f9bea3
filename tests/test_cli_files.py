"""End to end: the installed ``moelogit`` command on the user's own files."""

import re
import sys

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from moelogit import cli
from moelogit._tabular import DataError, atomic_path, read_table
from moelogit.io import load_model, save_model

from .test_cli import run

FIT_FAST = ("--n-init", "2", "--seed", "0")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The example files and a model fitted with DSC, shared by the tests."""
    folder = tmp_path_factory.mktemp("files")
    result = run("demo", "--n-samples", "300", "--write-example-csv", "train.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "train.csv" in result.stdout and "train-new.csv" in result.stdout
    result = run(
        "fit", "train.csv", "--label", "label", "--id", "id", "--n-experts", "dsc",
        "--max-experts", "3", *FIT_FAST, "-o", "model.zip", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def test_example_files(folder):
    train, new = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "train-new.csv")
    assert list(train.columns) == ["id", "x1", "x2", "x3", "x4", "label"]
    assert len(train) == len(new) == 300 and set(train["label"]) == {"a", "b", "c"}
    assert train["id"].tolist() == list(range(1, 301))


def test_fit_saves_a_model_with_names_and_evidence(folder):
    model, metadata = load_model(folder / "model.zip", return_metadata=True)
    assert metadata["feature_names"] == ["x1", "x2", "x3", "x4"]  # not the id
    assert metadata["label"] == "label" and metadata["data_summary"]["n_rows"] == 300
    assert model.selection_.method == "dsc" and model.selection_.linkage_.shape == (2, 4)
    assert model.n_experts_ == model.selection_.n_experts_
    np.testing.assert_array_equal(model.classes_, ["a", "b", "c"])


def test_predict_writes_probabilities_and_classes(folder):
    result = run(
        "predict", "model.zip", "train-new.csv", "--id", "id", "-o", "pred.csv", cwd=folder
    )
    assert result.returncode == 0, result.stderr
    assert "300 rows" in result.stdout
    pred = pd.read_csv(folder / "pred.csv")
    assert list(pred.columns) == ["id", "proba_a", "proba_b", "proba_c", "predicted"]
    new = pd.read_csv(folder / "train-new.csv")
    assert pred["id"].tolist() == new["id"].tolist()
    proba = pred[["proba_a", "proba_b", "proba_c"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    model = load_model(folder / "model.zip")
    np.testing.assert_allclose(proba, model.predict_proba(new[["x1", "x2", "x3", "x4"]]))
    assert (pred["predicted"] == np.array(["a", "b", "c"])[proba.argmax(axis=1)]).all()


def test_predict_corrects_to_a_class_prior(folder):
    result = run(
        "predict", "model.zip", "train-new.csv", "--class-prior", "a=0.1, b=0.1,c=0.8",
        "-o", "shifted.csv", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = load_model(folder / "model.zip")
    shares = ", ".join(f"{c}={v:.4g}" for c, v in zip("abc", model.class_prior_))
    assert f"Probabilities corrected from the training class prior ({shares})." in result.stdout
    new = pd.read_csv(folder / "train-new.csv")
    proba = pd.read_csv(folder / "shifted.csv")[["proba_a", "proba_b", "proba_c"]].to_numpy()
    expected = model.predict_proba(new[["x1", "x2", "x3", "x4"]], class_prior=[0.1, 0.1, 0.8])
    np.testing.assert_allclose(proba, expected, rtol=1e-12)
    predicted = pd.read_csv(folder / "shifted.csv")["predicted"]
    assert (predicted == np.array(["a", "b", "c"])[proba.argmax(axis=1)]).all()


def test_tsv_and_parquet_in_and_out(folder):
    new = pd.read_csv(folder / "train-new.csv")
    # Columns in another order: predict selects the model's features by name.
    new[["label", "x4", "x3", "x2", "x1", "id"]].to_csv(folder / "new.tsv", sep="\t", index=False)
    new.to_parquet(folder / "new.parquet")
    model = load_model(folder / "model.zip")
    expected = model.predict_proba(new[["x1", "x2", "x3", "x4"]])
    for source, target in (("new.tsv", "pred.parquet"), ("new.parquet", "pred.tsv")):
        result = run("predict", "model.zip", source, "--id", "id", "-o", target, cwd=folder)
        assert result.returncode == 0, result.stderr
        pred = read_table(folder / target)
        assert list(pred.columns) == ["id", "proba_a", "proba_b", "proba_c", "predicted"]
        np.testing.assert_allclose(pred[["proba_a", "proba_b", "proba_c"]], expected)
    result = run("fit", "new.parquet", "--label", "label", "--id", "id", *FIT_FAST,
                 "-o", "parquet-model.zip", "--quiet", cwd=folder)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress bars


def test_select_prints_the_table_and_writes_figures(folder):
    result = run(
        "select", "train.csv", "--label", "label", "--id", "id", "--max-experts", "3",
        *FIT_FAST, "--out", "selection", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s+[123]\s", line)]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert "height h(k)" in result.stdout and "DSC chose" in result.stdout
    assert "h(k): the dissimilarity of the two closest experts" in result.stdout
    assert "starts" in result.stderr and "DSC path" in result.stderr  # progress bars
    for name in ("criterion.png", "dendrogram.png"):
        image = (folder / "selection" / name).read_bytes()
        assert image.startswith(b"\x89PNG") and len(image) > 10_000


def test_summary_prints_and_writes_the_coefficient_table(folder):
    result = run("summary", "model.zip", "train.csv", "--robust", "-o", "coef.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "std err" in result.stdout and "sandwich (robust)" in result.stdout
    assert "chosen by dsc" in result.stdout
    written = pd.read_csv(folder / "coef.csv")
    assert list(written.columns[:5]) == ["block", "level", "term", "coef", "std err"]
    model = load_model(folder / "model.zip")
    train = pd.read_csv(folder / "train.csv")
    expected = model.summary(train[["x1", "x2", "x3", "x4"]], train["label"], robust=True).table
    np.testing.assert_allclose(written["std err"], expected["std err"], rtol=1e-12)
    assert set(written["term"]) == {"intercept", "x1", "x2", "x3", "x4"}


def test_fit_with_a_gate_and_experts_on_features_of_their_own(folder):
    result = run(
        "fit", "train.csv", "--label", "label", "--id", "id", "--gate-features", "x1,x2",
        "--expert-features", "x3", "--expert-features", "x4", *FIT_FAST, "-o", "apart.zip",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = load_model(folder / "apart.zip")
    np.testing.assert_array_equal(model.gate_support_, [True, True, False, False])
    np.testing.assert_array_equal(model.expert_support_, [False, False, True, True])
    result = run("summary", "apart.zip", "train.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "gate\n" in result.stdout and "expert 1: x2" in result.stdout
    assert "expert 1: x3" not in result.stdout  # the gate's rows: x1 and x2 only
    result = run(
        "fit", "train.csv", "--label", "label", "--id", "id", "--gate-features", "",
        *FIT_FAST, "-o", "constant.zip", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not load_model(folder / "constant.zip").gate_support_.any()


def test_fit_on_two_cores_is_the_fit_on_one(folder):
    for jobs in ("1", "2"):
        result = run(
            "fit", "train.csv", "--label", "label", "--id", "id", "--n-experts", "2", *FIT_FAST,
            "--n-jobs", jobs, "-o", f"cores{jobs}.zip", cwd=folder,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    one, two = load_model(folder / "cores1.zip"), load_model(folder / "cores2.zip")
    np.testing.assert_allclose(two.objective_, one.objective_, rtol=1e-12, atol=0)
    result = run("fit", "train.csv", "--label", "label", "--n-jobs", "0", "-o", "x.zip", cwd=folder)
    assert result.returncode == 2 and "--n-jobs" in result.stderr and "0 cores" in result.stderr
    assert "Traceback" not in result.stderr


def test_summary_needs_the_label(folder):
    unlabelled = pd.read_csv(folder / "train.csv").drop(columns="label")
    unlabelled.to_csv(folder / "unlabelled.csv", index=False)
    result = run("summary", "model.zip", "unlabelled.csv", cwd=folder)
    assert result.returncode == 2 and "label" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_with_held_out_data(folder):
    result = run("report", "model.zip", "--data", "train-new.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    page = (folder / "model.html").read_text()
    assert "Held-out evaluation" in page and "300 rows from train-new.csv" in page
    assert page.count("data:image/png;base64,") == 4


def test_report_with_training_data_shows_standard_errors(folder):
    result = run("report", "model.zip", "--train", "train.csv", "-o", "with-se.html", cwd=folder)
    assert result.returncode == 0, result.stderr
    page = (folder / "with-se.html").read_text()
    assert "Standard errors" in page and "std err" in page and "P&gt;|z|" in page
    model = load_model(folder / "model.zip")
    train = pd.read_csv(folder / "train.csv")
    table = model.summary(train[["x1", "x2", "x3", "x4"]], train["label"]).table
    assert f"{table['std err'].iloc[0]:.4g}" in page


def test_drop_missing_drops_and_counts(folder):
    train = pd.read_csv(folder / "train.csv")
    train.loc[[5, 9, 11], "x2"] = np.nan
    train.to_csv(folder / "gaps.csv", index=False)
    result = run("fit", "gaps.csv", "--label", "label", "--id", "id", *FIT_FAST, "--drop-missing",
                 "-o", "gaps.zip", cwd=folder)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Dropped 3 rows with missing values" in result.stderr
    assert "297 rows" in result.stdout


@pytest.fixture(scope="module")
def bad_folder(folder):
    """The example folder with the files the error cases use."""
    train = pd.read_csv(folder / "train.csv")
    train.assign(city="Oslo").to_csv(folder / "text.csv", index=False)
    gaps = train.copy()
    gaps.loc[[5, 9, 11], "x2"] = np.nan
    gaps.to_csv(folder / "gaps.csv", index=False)
    unseen = pd.read_csv(folder / "train-new.csv")
    unseen.loc[[0, 1], "label"] = "zebra"
    unseen.to_csv(folder / "unseen.csv", index=False)
    train.drop(columns="x3").to_csv(folder / "no-x3.csv", index=False)
    (folder / "garbage.parquet").write_bytes(b"\x00\x01 not parquet at all")
    (folder / "broken.zip").write_bytes((folder / "model.zip").read_bytes()[:500])
    (folder / "existing.csv").write_text("previous content\n")
    train.assign(label="a").to_csv(folder / "one-class.csv", index=False)
    save_model(load_model(folder / "model.zip"), folder / "no-label.zip")  # as from Python
    older = load_model(folder / "model.zip")
    older.class_prior_ = None  # as loaded from a file written before the prior was recorded
    save_model(older, folder / "no-prior.zip", label="label")
    return folder


ERROR_CASES = {
    "missing label column": (
        ["fit", "train.csv", "--label", "nope", "-o", "out.zip"],
        "no label column 'nope'",
    ),
    "non-numeric feature": (
        ["fit", "text.csv", "--label", "label", "-o", "out.zip"],
        "non-numeric feature columns 'city'",
    ),
    "missing values": (
        ["fit", "gaps.csv", "--label", "label", "-o", "out.zip"],
        "3 of 300 rows have missing values .*--drop-missing",
    ),
    "unseen class at predict": (  # also: the existing output file stays as it was
        ["predict", "model.zip", "unseen.csv", "-o", "existing.csv"],
        "labels the model never saw: 'zebra'",
    ),
    "unseen class at report": (
        ["report", "model.zip", "--data", "unseen.csv", "-o", "out.html"],
        "labels the model never saw: 'zebra'",
    ),
    "missing feature at predict": (
        ["predict", "model.zip", "no-x3.csv", "-o", "out.csv"],
        "no feature column 'x3'",
    ),
    "unreadable data file": (
        ["predict", "model.zip", "garbage.parquet", "-o", "out.csv"],
        "cannot read garbage.parquet",
    ),
    "missing data file": (
        ["select", "nothere.csv", "--label", "label", "--out", "out"],
        "cannot read nothere.csv",
    ),
    "unknown suffix": (
        ["fit", "train.xlsx", "--label", "label", "-o", "out.zip"],
        "format of train.xlsx",
    ),
    "corrupted model": (
        ["predict", "broken.zip", "train-new.csv", "-o", "out.csv"],
        "broken.zip",
    ),
    "unwritable output": (
        ["report", "model.zip", "-o", "no-such-folder/report.html"],
        "cannot write no-such-folder/report.html: the folder no-such-folder does not exist",
    ),
    "report without a label name": (
        ["report", "no-label.zip", "--data", "train-new.csv", "-o", "out.html"],
        "records no label column: name it with --label",
    ),
    "class prior: unknown class": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=0.1,b=0.1,z=0.8",
         "-o", "out.csv"],
        "--class-prior names 'z', not a class of the model; its classes are a, b, c",
    ),
    "class prior: a class missing (wrong length)": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=0.2,b=0.8", "-o", "o.csv"],
        r"no prior for the classes \['c'\]",
    ),
    "class prior: negative": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=-0.1,b=0.3,c=0.8",
         "-o", "out.csv"],
        "must hold positive numbers",
    ),
    "class prior: not summing to one": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=0.2,b=0.2,c=0.2",
         "-o", "out.csv"],
        "must sum to one",
    ),
    "class prior: not a number": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=x,b=0.5,c=0.5",
         "-o", "out.csv"],
        r"--class-prior: 'x' \(class 'a'\) is not a number",
    ),
    "class prior: not class=prior": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "0.2,0.3,0.5", "-o", "o.csv"],
        "expected class=prior items separated by commas, got '0.2'",
    ),
    "class prior: a class twice": (
        ["predict", "model.zip", "train-new.csv", "--class-prior", "a=0.5,a=0.5", "-o", "o.csv"],
        "gives class 'a' twice",
    ),
    "class prior: a model file from before it was recorded": (
        ["predict", "no-prior.zip", "train-new.csv", "--class-prior", "a=0.2,b=0.3,c=0.5",
         "-o", "out.csv"],
        "does not record its training class prior .* refit the model",
    ),
    "gate feature not a column": (
        ["fit", "train.csv", "--label", "label", "--gate-features", "x9", "-o", "out.zip"],
        "gate_features: 'x9' is not a column of X",
    ),
    "expert feature not among --features": (
        ["fit", "train.csv", "--label", "label", "--features", "x1,x2", "--expert-features",
         "x3", "-o", "out.zip"],
        "expert_features: 'x3' is not a column of X",
    ),
    "one class only": (
        ["fit", "one-class.csv", "--label", "label", "-o", "out.zip"],
        "at least 2 classes",
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_one_line_with_status_2_and_no_output(case, bad_folder):
    folder = bad_folder
    args, message = ERROR_CASES[case]
    before = sorted(p.name for p in folder.rglob("*"))
    result = run(*args, cwd=folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    # Nothing written: no output file, no temporary file left behind.
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert (folder / "existing.csv").read_text() == "previous content\n"


def test_every_option_is_explained():
    # In-process: the help text is click's, and starting the command per page is slow.
    runner = CliRunner()
    for name, command in cli.main.commands.items():
        if isinstance(command, click.Group):
            continue
        result = runner.invoke(cli.main, [name, "--help"], terminal_width=200)
        assert result.exit_code == 0 and command.help.split("\n")[0][:40] in result.output
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help text"
                assert param.opts[-1] in result.output


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half of it")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as temporary:
        temporary.write_text("all of it")
    assert target.read_text() == "all of it" and list(tmp_path.iterdir()) == [target]


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "a.parquet")
    for module in ("pyarrow", "fastparquet"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(DataError, match=r'pip install "moelogit\[parquet\]"'):
        read_table(tmp_path / "a.parquet")
