"""Saved models: exact round trips, selection evidence, and clear errors for bad files."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from moelogit import MoEClassifier, __version__
from moelogit.datasets import make_moe_classification
from moelogit.io import FORMAT_VERSION, ModelFileError, load_model, save_model
from moelogit.plotting import plot_dendrogram


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_moe_classification(400, n_features=3, n_experts=2, n_classes=3, random_state=1)
    frame = pd.DataFrame(X, columns=["age", "dose", "weight"])
    labels = np.array(["low", "mid", "high"], dtype=object)[y]
    return frame, labels


@pytest.fixture(scope="module")
def fitted(data):
    return MoEClassifier(2, n_init=2, random_state=0).fit(*data)


@pytest.fixture(scope="module")
def selected(data):
    return MoEClassifier("dsc", max_experts=3, n_init=2, random_state=0).fit(*data)


def _round_trip(model, tmp_path, **options):
    path = tmp_path / "model.zip"
    save_model(model, path, **options)
    return load_model(path, return_metadata=True)


@pytest.mark.parametrize("which", ["fitted", "selected"])
def test_predictions_identical_after_save_and_load(which, data, tmp_path, request):
    model = request.getfixturevalue(which)
    loaded, _ = _round_trip(model, tmp_path)
    X, y = data
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict(X).dtype == model.predict(X).dtype == object
    np.testing.assert_array_equal(loaded.feature_names_in_, ["age", "dose", "weight"])
    np.testing.assert_array_equal(loaded.loglik_trace_, model.loglik_trace_)
    assert loaded.get_params() == model.get_params()
    assert loaded.n_parameters() == model.n_parameters()
    assert loaded.loglik(X, y) == model.loglik(X, y)


def _fitted_state(model):
    """Every fitted attribute, arrays as lists (comparable with ==)."""
    return {
        name: value.tolist() if isinstance(value, np.ndarray) else value
        for name, value in vars(model).items()
        if name.endswith("_") and name != "selection_"
    }


@pytest.mark.parametrize("which", ["fitted", "selected"])
def test_the_whole_fitted_state_survives(which, tmp_path, request):
    # Before one writer set the state, a loaded model had no n_newton_iter_.
    model = request.getfixturevalue(which)
    loaded, _ = _round_trip(model, tmp_path)
    assert _fitted_state(loaded) == _fitted_state(model)
    assert loaded.training_facts_.n_design_columns == model.n_design_columns_ == 4


def test_levels_of_a_saved_selection_hold_the_same_state_as_fitted_ones(selected, tmp_path):
    loaded, _ = _round_trip(selected, tmp_path)
    for level, before in zip(loaded.selection_.models_, selected.selection_.models_):
        # Levels are stored as parameters: loaded, they ran no iterations.
        assert set(_fitted_state(level)) == set(_fitted_state(selected))
        assert level.n_experts_ == before.n_experts_ and level.n_iter_ == 0
        assert level.training_facts_.n_design_columns == selected.n_design_columns_


def test_selection_evidence_survives(selected, tmp_path):
    loaded, _ = _round_trip(selected, tmp_path)
    before, after = selected.selection_, loaded.selection_
    assert (after.method, after.n_experts_, after.omega_, after.dissimilarity_) == (
        before.method,
        before.n_experts_,
        before.omega_,
        before.dissimilarity_,
    )
    for name in ("sizes_", "criterion_", "loglik_", "heights_", "linkage_"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    # The dendrogram labels its leaves by the over-fitted model's gate weights.
    np.testing.assert_array_equal(
        after.models_[-1].standardized_params_.gate_intercept,
        before.models_[-1].standardized_params_.gate_intercept,
    )
    from matplotlib.figure import Figure

    ax = plot_dendrogram(after, ax=Figure().subplots())
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        t.get_text() for t in plot_dendrogram(before, ax=Figure().subplots()).get_xticklabels()
    ]


def test_metadata_records_versions_names_label_and_summary(fitted, tmp_path):
    summary = {"source": "train.csv", "n_rows": 400}
    _, metadata = _round_trip(fitted, tmp_path, label="dose_group", data_summary=summary)
    assert metadata["moelogit_version"] == __version__
    assert metadata["format_version"] == FORMAT_VERSION
    assert metadata["feature_names"] == ["age", "dose", "weight"]
    assert metadata["label"] == "dose_group" and metadata["data_summary"] == summary


def test_numpy_input_round_trips_without_feature_names(tmp_path):
    X, y, _ = make_moe_classification(300, n_features=2, n_experts=2, random_state=2)
    model = MoEClassifier(2, n_init=2, random_state=0).fit(X, y)
    loaded, metadata = _round_trip(model, tmp_path)
    assert metadata["feature_names"] is None and not hasattr(loaded, "feature_names_in_")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.classes_.dtype == model.classes_.dtype


def _rewrite(path, member, content: bytes):
    """A copy of the archive at ``path`` with ``member`` replaced by ``content``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = content
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_newer_format_version_is_refused(fitted, tmp_path):
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("metadata.json"))
    metadata["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, "metadata.json", json.dumps(metadata).encode())
    with pytest.raises(ModelFileError, match="format version 2.*upgrade moelogit"):
        load_model(path)


def test_pickled_arrays_are_never_loaded(fitted, tmp_path):
    """An object array (a pickle inside the .npy) is refused, not executed."""
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([object()], dtype=object), allow_pickle=True)
    _rewrite(path, "classes_.npy", buffer.getvalue())
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "not a moelogit model file|corrupted"),
        ("flip", "corrupted"),
        ("text", "not a moelogit model file"),
        ("missing", "cannot read"),
        ("no metadata", "no metadata.json"),
        ("bad shapes", "corrupted"),
    ],
)
def test_damaged_files_give_clear_errors(damage, message, fitted, tmp_path):
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        # Stored (uncompressed) members, so that a flipped byte is in an array's data.
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        raw = bytearray(path.read_bytes())
        raw[raw.index(fitted.expert_coef_.tobytes()) + 5] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "text":
        path.write_text("id,x\n1,2\n")
    elif damage == "missing":
        path.unlink()
    elif damage == "no metadata":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.txt", "hello")
    else:
        buffer_path = tmp_path / "wrong.npy"
        np.save(buffer_path, np.zeros((5, 7)))
        _rewrite(path, "gate_coef_.npy", buffer_path.read_bytes())
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_failed_save_leaves_no_file(fitted, tmp_path, monkeypatch):
    with pytest.raises(ModelFileError, match="cannot write"):
        save_model(fitted, tmp_path / "no-such-folder" / "model.zip")
    assert list(tmp_path.iterdir()) == []

    # A failure half-way through the arrays leaves an existing file as it was.
    path = tmp_path / "model.zip"
    path.write_text("the previous model")
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return write_array(*args, **kwargs)

    write_array = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(fitted, path)
    assert path.read_text() == "the previous model"
    assert list(tmp_path.iterdir()) == [path]


def _npy(array=None, *, header_shape=None, dtype="<f8", data=b"") -> bytes:
    """A ``.npy`` file: ``array`` as saved, or a bare header claiming ``header_shape``."""
    import io

    buffer = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
        return buffer.getvalue()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": header_shape}
    )
    return buffer.getvalue() + data


def test_a_non_finite_coefficient_is_refused(fitted, tmp_path):
    """Issue 26 item 4: a NaN coefficient made every prediction the first class."""
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    for name, value in (("expert_coef_", np.nan), ("gate_intercept_", np.inf)):
        array = getattr(fitted, name).copy()
        array.flat[0] = value
        _rewrite(path, f"{name}.npy", _npy(array))
        with pytest.raises(ModelFileError, match=f"corrupted: {name} holds non-finite values"):
            load_model(path)
        _rewrite(path, f"{name}.npy", _npy(getattr(fitted, name)))
    scale = fitted.feature_scale_.copy()
    scale[1] = 0.0
    _rewrite(path, "feature_scale_.npy", _npy(scale))
    with pytest.raises(ModelFileError, match="scales that are not positive"):
        load_model(path)


def test_an_array_header_claiming_a_huge_shape_is_refused_unread(fitted, tmp_path):
    """Issue 26 item 6: such a header gave a traceback (``Unable to allocate 72.8 TiB``)."""
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    _rewrite(path, "gate_coef_.npy", _npy(header_shape=(10**7, 10**6), data=b"\0" * 8))
    with pytest.raises(ModelFileError, match=r"gate_coef_ claims shape \(10000000, 1000000\)"):
        load_model(path)


def test_shapes_are_checked_against_the_metadata_before_reading(fitted, tmp_path):
    """Issue 26 item 7: a member is checked against what the metadata says it must be."""
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    _rewrite(path, "loglik_trace_.npy", _npy(np.zeros(fitted.n_iter_ + 5)))
    expected = rf"loglik_trace_ has shape \({fitted.n_iter_ + 5},\), expected \({fitted.n_iter_},\)"
    with pytest.raises(ModelFileError, match=expected):
        load_model(path)


def test_a_member_inflating_far_beyond_its_compressed_size_is_refused(fitted, tmp_path, monkeypatch):
    """Issue 26 item 7: a 2 MB zip whose trace inflated to 2 GB was loaded in full."""
    path = tmp_path / "model.zip"
    save_model(fitted, path)
    n_iter = 4_000_000  # 32 MB of zeros, deflated to about 32 kB
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    metadata["fitted"]["n_iter_"] = n_iter  # the metadata agrees: only the size gives it away
    members["metadata.json"] = json.dumps(metadata).encode()
    members["loglik_trace_.npy"] = _npy(np.zeros(n_iter))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    read = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: read.append(1))
    with pytest.raises(ModelFileError, match="loglik_trace_ would inflate from"):
        load_model(path)
    assert read == []  # refused before any array was read
