"""Saving and loading fitted models in a safe file format.

A model file is a zip archive holding ``metadata.json`` (format and package
versions, estimator settings, scalar fitted state, feature names, the
label column's name, an optional training-data summary) and one ``.npy``
file per array, written and read with ``allow_pickle=False``. Loading
therefore never executes code from the file, unlike pickle or joblib, and
the metadata can be read with any zip tool (``unzip -p model.zip
metadata.json``).
"""

from __future__ import annotations

import json
import math
import zipfile
from contextlib import contextmanager
from dataclasses import fields

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._tabular import atomic_path
from .estimator import (
    FitRecord,
    MoEClassifier,
    TrainingFacts,
    classifier_with,
    fitted_classifier,
)
from .params import MoEParams
from .selection import SelectionResult

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "load_model",
    "load_ppi_model",
    "save_model",
    "save_ppi_model",
]

FORMAT_NAME = "moelogit-model"
PPI_FORMAT_NAME = "moelogit-ppi-model"
_FORMAT_WHAT = {
    FORMAT_NAME: "a moelogit model file",
    PPI_FORMAT_NAME: "a moelogit PPI model file",
}
#: Version of the file layout; :func:`load_model` reads files up to this version.
FORMAT_VERSION = 1

# The fitted state is the parameters, the TrainingFacts and the FitRecord;
# arrays are stored as .npy members, the rest in the metadata's "fitted".
_PARAM_FIELDS = ("gate_coef", "gate_intercept", "expert_coef", "expert_intercept")
_ARRAYS = ("classes", "feature_mean", "feature_scale", "loglik_trace")
_FEATURE_NAMES = "feature_names_in"  # stored as "feature_names" (JSON), may be absent
# Files keep their member names: n_design_columns was first saved as a private attribute.
_STORED_AS = {"n_design_columns": "_n_design_columns"}
# Short arrays kept as JSON lists in the metadata's "fitted" (so that a moelogit
# that predates them still reads the file); absent from files written before
# they were recorded, and then None.
_LISTS = ("class_prior",)
# Likewise, booleans over the features (absent: every feature in both).
_MASKS = ("gate_support", "expert_support")


def _stored_name(field: str) -> str:
    return _STORED_AS.get(field, f"{field}_")


def _scalars() -> list[str]:
    """The fitted facts and record fields kept in the metadata (everything not an array)."""
    names = [item.name for item in (*fields(TrainingFacts), *fields(FitRecord))]
    return [name for name in names if name not in _ARRAYS and name != _FEATURE_NAMES]


_SELECTION_ARRAYS = ("sizes_", "criterion_", "loglik_", "heights_", "linkage_")


class ModelFileError(ValueError):
    """A model file cannot be written or read; the message says why."""


def _plain(value):
    """A numpy scalar or array as the Python value JSON can hold."""
    return value.tolist() if isinstance(value, (np.generic, np.ndarray)) else value


def _storable(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` without object dtype, which ``.npy`` files hold only as pickles."""
    if array.dtype != object:
        return array
    values = array.tolist()
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=str)
    if all(isinstance(v, (bool, int, float, np.number, np.bool_)) for v in values):
        return np.array(values)
    kinds = sorted({type(v).__name__ for v in values})
    raise ModelFileError(
        f"cannot save {name} holding values of type {kinds}: use numbers or strings"
    )


def _json_params(model: MoEClassifier) -> tuple[dict, list]:
    """Constructor settings as JSON; those JSON cannot hold fall back to the default."""
    defaults = MoEClassifier().get_params()
    params, replaced = {}, []
    for name, value in model.get_params(deep=False).items():
        value = _plain(value)
        if value is None or isinstance(value, (str, int, float, bool)) or _plain_list(value):
            params[name] = value
        else:  # a RandomState, or MoEParams as warm starts: not needed to predict
            params[name] = defaults[name]
            replaced.append(name)
    return params, replaced


def _plain_list(value) -> bool:
    """Whether ``value`` is a list or tuple of strings and integers (as ``gate_features``)."""
    return isinstance(value, (list, tuple)) and all(
        isinstance(item, (str, int)) and not isinstance(item, bool) for item in value
    )


def save_model(model: MoEClassifier, path, *, label=None, data_summary=None) -> None:
    """Save a fitted :class:`~moelogit.MoEClassifier` to one file.

    The file is written beside ``path`` under a temporary name and moved into
    place when complete, so a failure never leaves a partial file.

    Parameters
    ----------
    model : MoEClassifier
        A fitted model. With ``n_experts`` a selection method, the selection
        evidence (criterion, log-likelihoods, heights, linkage, and the
        parameters of the models compared) is saved too.
    path : str or path-like
        Where to write; the ``.zip`` suffix is customary.
    label : str, optional
        Name of the label column the model predicts, for the command line.
    data_summary : dict, optional
        A JSON-able summary of the training data, for reports.

    Raises
    ------
    ModelFileError
        When the model holds class labels that are neither numbers nor
        strings, or the file cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from moelogit import MoEClassifier
    >>> from moelogit.datasets import make_moe_classification
    >>> from moelogit.io import load_model, save_model
    >>> X, y, _ = make_moe_classification(500, n_features=2, n_experts=2, random_state=0)
    >>> model = MoEClassifier(2, n_init=2, random_state=0).fit(X, y)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.zip"
    >>> save_model(model, path)
    >>> bool(np.array_equal(load_model(path).predict_proba(X), model.predict_proba(X)))
    True
    """
    metadata, arrays = _moe_entries(model)
    metadata.update(label=label, data_summary=data_summary)
    _write_archive(path, FORMAT_NAME, metadata, arrays)


def _moe_entries(model: MoEClassifier) -> tuple[dict, dict]:
    """Metadata and arrays of a fitted MoEClassifier (what :func:`_rebuild` reads)."""
    check_is_fitted(model)
    params, replaced = _json_params(model)
    facts, record, fitted = model.training_facts_, model.fit_record_, model.params_
    state = {**vars(facts), **vars(record)}
    arrays = {
        **{f"{field}_": getattr(fitted, field) for field in _PARAM_FIELDS},
        **{f"{name}_": _storable(np.asarray(state[name]), f"{name}_") for name in _ARRAYS},
    }
    names = facts.feature_names_in
    metadata = {
        "estimator": type(model).__name__,
        "params": params,
        "params_not_saved": replaced,
        "fitted": {
            "n_experts_": fitted.n_experts,
            **{_stored_name(name): _plain(state[name]) for name in _scalars()},
        },
        "classes_object_dtype": bool(np.asarray(model.classes_).dtype == object),
        "feature_names": None if names is None else [str(v) for v in names],
        "selection": None,
    }
    selection = getattr(model, "selection_", None)
    if selection is not None:
        metadata["selection"] = {
            "method": selection.method,
            "n_experts_": int(selection.n_experts_),
            "omega_": _plain(selection.omega_),
            "dissimilarity_": selection.dissimilarity_,
            "path_": selection.path_,
            "wall_time_": float(selection.wall_time_),
            "n_models": len(selection.models_),
        }
        for name in _SELECTION_ARRAYS:
            if getattr(selection, name) is not None:
                arrays[f"selection/{name}"] = np.asarray(getattr(selection, name))
        for k, fitted in enumerate(selection.models_):
            for field in _PARAM_FIELDS:
                arrays[f"selection/models/{k}/{field}"] = getattr(fitted.params_, field)
    return metadata, arrays


def _write_archive(path, format_name: str, metadata: dict, arrays: dict) -> None:
    """One zip: ``metadata.json`` (with format and versions first) and one ``.npy`` per array."""
    metadata = {
        "format": format_name,
        "format_version": FORMAT_VERSION,
        "moelogit_version": __version__,
        **metadata,
        "arrays": sorted(arrays),
    }
    try:
        with (
            atomic_path(path) as temporary,
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr("metadata.json", json.dumps(metadata, indent=1))
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
    except OSError as exc:
        raise ModelFileError(f"cannot write {path}: {exc}") from exc


def _read_metadata(archive: zipfile.ZipFile, path, format_name: str) -> dict:
    what = _FORMAT_WHAT[format_name]
    try:
        metadata = json.loads(archive.read("metadata.json"))
    except KeyError:
        raise ModelFileError(f"{path} is not {what} (no metadata.json)") from None
    if not isinstance(metadata, dict) or metadata.get("format") != format_name:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        hint = f" but a {_FORMAT_WHAT[found][2:]}" if found in _FORMAT_WHAT else ""
        raise ModelFileError(f"{path} is not {what}{hint}")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path} is corrupted: format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}, written by moelogit "
            f"{metadata.get('moelogit_version', '?')}; this moelogit ({__version__}) reads "
            f"format versions up to {FORMAT_VERSION}: upgrade moelogit"
        )
    return metadata


def _rebuild(metadata: dict, arrays: dict) -> MoEClassifier:
    stored = metadata["fitted"]
    state = {name: arrays[f"{name}_"] for name in _ARRAYS}
    if metadata["classes_object_dtype"]:
        state["classes"] = state["classes"].astype(object)
    record_fields = {item.name for item in fields(FitRecord)}
    for name in _scalars():
        if name in _LISTS:
            state[name] = _stored_list(stored.get(_stored_name(name)), name, len(state["classes"]))
        elif name in _MASKS:
            state[name] = _stored_mask(stored.get(_stored_name(name)), name, state["n_features_in"])
        # Files from before a record field existed lack it: its default holds.
        elif _stored_name(name) in stored or name not in record_fields:
            state[name] = stored[_stored_name(name)]
    names = metadata["feature_names"]
    state[_FEATURE_NAMES] = None if names is None else np.array(names, dtype=object)
    model = fitted_classifier(
        MoEClassifier(**metadata["params"]),
        MoEParams(*(arrays[f"{field}_"] for field in _PARAM_FIELDS)),
        TrainingFacts(**{item.name: state[item.name] for item in fields(TrainingFacts)}),
        FitRecord(**{name: state[name] for name in record_fields if name in state}),
    )
    if not np.all(model.feature_scale_ > 0):
        raise ValueError("feature_scale_ holds scales that are not positive")
    if not np.isfinite(model.objective_):
        raise ValueError(f"the objective is {model.objective_!r}")
    selection = metadata["selection"]
    if selection is not None:
        path_models = [
            classifier_with(
                model,
                MoEParams(*(arrays[f"selection/models/{k}/{field}"] for field in _PARAM_FIELDS)),
            )
            for k in range(selection["n_models"])
        ]
        model.selection_ = SelectionResult(
            method=selection["method"],
            n_experts_=selection["n_experts_"],
            model_=model,
            models_=path_models,
            omega_=selection["omega_"],
            # Files written before the choice existed used coefficient distances.
            dissimilarity_=selection.get(
                "dissimilarity_", "parameter" if selection["method"] == "dsc" else None
            ),
            # Before the path was recorded, the DSC always refitted its levels.
            path_=selection.get("path_", "refit" if selection["method"] == "dsc" else None),
            wall_time_=selection["wall_time_"],
            **{name: arrays.get(f"selection/{name}") for name in _SELECTION_ARRAYS},
        )
    return model


def _stored_list(value, name: str, n_classes: int):
    """A class prior read from the metadata: None (not recorded) or shares summing to one."""
    if value is None:
        return None
    shares = np.asarray(value, dtype=np.float64)
    if (
        shares.shape != (n_classes,)
        or not np.all(np.isfinite(shares))
        or np.any(shares < 0)
        or abs(shares.sum() - 1.0) > 1e-6
    ):
        raise ValueError(f"{name}_ is {value!r}, not {n_classes} shares summing to one")
    return shares


def _stored_mask(value, name: str, n_features: int):
    """Booleans over the features read from the metadata, or None (not recorded)."""
    if value is None:
        return None
    if not (
        isinstance(value, list)
        and len(value) == n_features
        and all(isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{name}_ is {value!r}, not {n_features} booleans")
    return np.array(value, dtype=bool)


def load_model(path, *, return_metadata: bool = False):
    """Load a model written by :func:`save_model`.

    Only JSON and plain numeric or string arrays are read (``allow_pickle=False``):
    loading never executes code from the file.

    Parameters
    ----------
    path : str or path-like
    return_metadata : bool, default=False
        Also return the file's metadata (versions, feature names, label
        column, training-data summary).

    Returns
    -------
    model : MoEClassifier
        Predicts exactly as the saved model did. With a selection method as
        ``n_experts``, ``selection_`` holds the saved evidence; its
        ``models_`` hold the parameters of the models compared, without their
        objective traces. A file written before moelogit recorded the
        training class prior loads with ``class_prior_`` None: it predicts
        as before, but cannot correct to another ``class_prior``.
    metadata : dict
        Only when ``return_metadata`` is true.

    Raises
    ------
    ModelFileError
        When the file is missing, not a moelogit model, corrupted, or written
        in a newer format version than this moelogit reads.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from moelogit.io import ModelFileError, load_model
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.zip"
    >>> _ = path.write_text("not a model")
    >>> try:
    ...     load_model(path)
    ... except ModelFileError as error:
    ...     print("not a moelogit model file" in str(error))
    True
    """
    metadata, arrays = _read_archive(path, FORMAT_NAME, _moe_shapes)
    with _damage_is_corruption(path):
        model = _rebuild(metadata, arrays)
    return (model, metadata) if return_metadata else model


@contextmanager
def _damage_is_corruption(path):
    """A missing member, bad JSON, a truncated or misshapen array: the file is damaged."""
    try:
        yield
    except (KeyError, ValueError, TypeError, EOFError, AttributeError) as exc:
        raise ModelFileError(f"{path} is corrupted: {exc}") from exc


def _read_archive(path, format_name: str, expected_shapes) -> tuple[dict, dict]:
    """Metadata and arrays of a file written by :func:`_write_archive`, checked.

    Every array's header is read and checked before any array is: its shape
    must be ``expected_shapes(metadata, headers)[name]`` (what the metadata
    says it must be), its size what the zip directory declares, and that no
    more than :data:`_MAX_INFLATION` times its compressed size. So a damaged
    or hostile file can neither claim a huge array nor inflate to one.
    Floating-point arrays must be finite.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = _read_metadata(archive, path, format_name)
            with _damage_is_corruption(path):
                names = metadata["arrays"]
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise ValueError("its list of arrays is not a list of names")
                headers = {name: _array_header(archive, name) for name in names}
                expected = expected_shapes(metadata, headers)
                _check_shapes(headers, expected)
                arrays = {}
                for name in names:
                    with archive.open(f"{name}.npy") as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
                    if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
                        raise ValueError(f"{name} holds non-finite values")
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc) or "Bad magic" in str(exc):
            raise ModelFileError(f"{path} is corrupted: {exc}") from exc
        raise ModelFileError(
            f"{path} is not {_FORMAT_WHAT[format_name]} (not a zip archive)"
        ) from exc
    except ModelFileError:
        raise
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    except (KeyError, ValueError, TypeError, EOFError) as exc:  # bad JSON
        raise ModelFileError(f"{path} is corrupted: {exc}") from exc
    return metadata, arrays


#: No array moelogit writes deflates to less than 1/200 of its size; a member
#: that would inflate further (past 1 MiB) is refused unread.
_MAX_INFLATION = 200


def _array_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype of the ``.npy`` member ``name``, checked against its declared size."""
    info = archive.getinfo(f"{name}.npy")
    if info.file_size > max(2**20, _MAX_INFLATION * info.compress_size):
        raise ValueError(
            f"{name} would inflate from {info.compress_size} to {info.file_size} bytes"
        )
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"{name} has an unknown array format version {version}")
        # Versions 2 and 3 share the header layout (3 allows UTF-8 field names).
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        offset = member.tell()
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects (pickles), which are never loaded")
    size = math.prod(shape) * dtype.itemsize
    if offset + size != info.file_size:
        raise ValueError(f"{name} claims shape {shape} but holds {info.file_size - offset} bytes")
    return shape, dtype


def _check_shapes(headers: dict, expected: dict) -> None:
    """Every expected array present with its shape (an int or a range per axis), no other."""
    missing = sorted(set(expected) - set(headers))
    if missing:
        raise KeyError(f"missing arrays {missing}")
    unknown = sorted(set(headers) - set(expected))
    if unknown:
        raise ValueError(f"unexpected arrays {unknown}")
    for name, (shape, _) in headers.items():
        wanted = expected[name]
        if len(shape) != len(wanted) or not all(
            size == want if isinstance(want, int) else size in want
            for size, want in zip(shape, wanted)
        ):
            raise ValueError(f"{name} has shape {shape}, expected {_shape_text(wanted)}")


def _shape_text(shape: tuple) -> str:
    dims = [str(d) if isinstance(d, int) else f"{d.start}..{d.stop - 1}" for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _moe_shapes(metadata: dict, headers: dict, prefix: str = "") -> dict:
    """The shape every array of a saved MoEClassifier must have, by its metadata.

    The number of classes is the one free size: the length of ``classes_``.
    """
    fitted = metadata["fitted"]
    d, K, n_iter = (
        _count(fitted[name], name) for name in ("n_features_in_", "n_experts_", "n_iter_")
    )
    classes_shape = headers[f"{prefix}classes_"][0]
    M = classes_shape[0] if len(classes_shape) == 1 else 0
    if M < 2:
        raise ValueError(f"classes_ has shape {classes_shape}, not a list of 2 or more classes")
    shapes = {
        "classes_": (M,),
        "gate_coef_": (K, d),
        "gate_intercept_": (K,),
        "expert_coef_": (K, M, d),
        "expert_intercept_": (K, M),
        "loglik_trace_": (n_iter,),
        "feature_mean_": (d,),
        "feature_scale_": (d,),
    }
    selection = metadata["selection"]
    if selection is not None:
        n_models = _count(selection["n_models"], "the number of models")
        for name in _SELECTION_ARRAYS:
            if f"{prefix}selection/{name}" in headers:  # heights and linkage: DSC only
                shape = (n_models - 1, 4) if name == "linkage_" else (n_models,)
                shapes[f"selection/{name}"] = shape
        for k in range(n_models):
            field_shapes = ((k + 1, d), (k + 1,), (k + 1, M, d), (k + 1, M))
            for field, shape in zip(_PARAM_FIELDS, field_shapes):
                shapes[f"selection/models/{k}/{field}"] = shape
    return {prefix + name: shape for name, shape in shapes.items()}


def _count(value, what: str) -> int:
    """A size recorded in the metadata: a non-negative integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} is {value!r}, not a count")
    return value


def save_ppi_model(model, path, *, data_report=None) -> None:
    """Save a fitted :class:`moelogit.ppi.PPIPredictor` to one file (the same safe format).

    Besides the mixture (as :func:`save_model` writes it, under
    ``classifier/``), the file holds the descriptor settings, the training
    prevalence (share of interacting pairs) and the fitted standardisation of
    the pair features.

    Parameters
    ----------
    model : PPIPredictor
    path : str or path-like
    data_report : dict, optional
        What loading the training data found (JSON-able), for the record.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from moelogit.ppi import PPIPredictor
    >>> rng = np.random.default_rng(0)
    >>> sequences = {f"P{i}": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 50))
    ...              for i in range(30)}
    >>> pairs = rng.choice(sorted(sequences), size=(120, 2))
    >>> model = PPIPredictor(n_experts=1, max_lag=4, n_init=1, max_iter=20)
    >>> model = model.fit(pairs, rng.integers(0, 2, 120), sequences)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ppi.zip"
    >>> save_ppi_model(model, path)
    >>> loaded = load_ppi_model(path)
    >>> bool(np.array_equal(loaded.predict_proba(pairs, sequences),
    ...                     model.predict_proba(pairs, sequences)))
    True
    """
    check_is_fitted(model)
    pipeline = model.classifier_.estimator_
    scale = pipeline.named_steps["scale"]
    moe_metadata, moe_arrays = _moe_entries(pipeline.named_steps["clf"])
    names = (
        "max_lag", "n_experts", "max_experts", "alpha", "n_init", "max_iter", "tol",
        "blas_threads", "n_jobs",
    )  # fmt: skip
    settings = {name: _plain(getattr(model, name)) for name in names}
    metadata = {
        "predictor": {**settings, "descriptors": list(model.descriptors)},
        "n_pairs": int(model.n_pairs_),
        "training_prevalence": getattr(model, "training_prevalence_", None),
        "data_report": data_report,
        "classifier": moe_metadata,
    }
    arrays = {
        "scale/mean_": scale.mean_,
        "scale/scale_": scale.scale_,
        "feature_names": _storable(np.asarray(model.feature_names_), "feature_names"),
        "training_proteins": np.asarray(model.training_proteins_, dtype=str),
        **{f"classifier/{name}": array for name, array in moe_arrays.items()},
    }
    _write_archive(path, PPI_FORMAT_NAME, metadata, arrays)


def _ppi_shapes(metadata: dict, headers: dict) -> dict:
    """The shape every array of a saved PPIPredictor must have, by its metadata."""
    shapes = _moe_shapes(metadata["classifier"], headers, prefix="classifier/")
    d = shapes["classifier/feature_mean_"][0]
    shapes.update({"scale/mean_": (d,), "scale/scale_": (d,), "feature_names": (d,)})
    if "training_proteins" in headers:  # absent from files written before it was recorded
        n_pairs = _count(metadata["n_pairs"], "the number of pairs")
        shapes["training_proteins"] = (range(1, 2 * n_pairs + 1),)
    return shapes


def load_ppi_model(path, *, return_metadata: bool = False):
    """Load a model written by :func:`save_ppi_model`; it predicts exactly as the saved one.

    Raises
    ------
    ModelFileError
        As :func:`load_model`, also for a plain model file (written by
        :func:`save_model`) given in place of a PPI model file.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .features.descriptors import DESCRIPTORS
    from .ppi import PPIPredictor

    metadata, arrays = _read_archive(path, PPI_FORMAT_NAME, _ppi_shapes)
    prefix = "classifier/"
    with _damage_is_corruption(path):
        moe = _rebuild(
            metadata["classifier"],
            {name[len(prefix) :]: a for name, a in arrays.items() if name.startswith(prefix)},
        )
        # Files written before PPIPredictor had tol: the mixture's own is the one it used.
        model = PPIPredictor(**{"tol": moe.tol, **metadata["predictor"]})
        scale = StandardScaler()
        scale.mean_, scale.scale_ = arrays["scale/mean_"], arrays["scale/scale_"]
        if not np.all(scale.scale_ > 0):
            raise ValueError("scale/scale_ holds scales that are not positive")
        scale.var_ = scale.scale_**2
        n_features = moe.n_features_in_
        scale.n_features_in_ = n_features
        pipeline = Pipeline([("scale", scale), ("clf", moe)])
        classifier = model.classifier()
        classifier.estimator_, classifier.classes_ = pipeline, moe.classes_
        classifier.n_features_in_ = n_features
        model.classifier_ = classifier
        model.feature_names_ = arrays["feature_names"]
        model.n_pairs_ = metadata["n_pairs"]
        if "training_proteins" in arrays:  # absent from files written before it was recorded
            proteins = arrays["training_proteins"]
            if proteins.ndim != 1 or proteins.dtype.kind != "U":
                raise ValueError("the training proteins are not a list of ids")
            model.training_proteins_ = proteins
        prevalence = metadata.get("training_prevalence")  # absent from older files
        if prevalence is not None:
            if not isinstance(prevalence, float) or not 0.0 <= prevalence <= 1.0:
                raise ValueError(f"the training prevalence is {prevalence!r}, not a share")
            model.training_prevalence_ = prevalence
        # The descriptor settings must give the features the mixture was fitted on.
        width = 2 * sum(len(DESCRIPTORS[name][1](model.max_lag)) for name in model.descriptors)
        if not width == len(model.feature_names_) == n_features:
            raise ValueError(
                f"the descriptors {list(model.descriptors)} give {width} pair features, the "
                f"file holds {len(model.feature_names_)} names and a model of {n_features}"
            )
    return (model, metadata) if return_metadata else model
