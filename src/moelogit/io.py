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
import zipfile
from contextlib import contextmanager

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._tabular import atomic_path
from .estimator import MoEClassifier
from .params import MoEParams
from .selection import SelectionResult
from .selection._select import _classifier_from

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

_ARRAYS = (
    "classes_",
    "gate_coef_",
    "gate_intercept_",
    "expert_coef_",
    "expert_intercept_",
    "loglik_trace_",
    "feature_mean_",
    "feature_scale_",
)
_SCALARS = (
    "n_features_in_",
    "n_experts_",
    "n_iter_",
    "converged_",
    "objective_",
    "perfectly_separated_",
    "fit_time_",
    "_n_design_columns",
)
_SELECTION_ARRAYS = ("sizes_", "criterion_", "loglik_", "heights_", "linkage_")
_PARAM_FIELDS = ("gate_coef", "gate_intercept", "expert_coef", "expert_intercept")


class ModelFileError(ValueError):
    """A model file cannot be written or read; the message says why."""


def _plain(value):
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


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
        if value is None or isinstance(value, (str, int, float, bool)):
            params[name] = value
        else:  # a RandomState, or MoEParams as warm starts: not needed to predict
            params[name] = defaults[name]
            replaced.append(name)
    return params, replaced


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
    arrays = {name: _storable(np.asarray(getattr(model, name)), name) for name in _ARRAYS}
    names = getattr(model, "feature_names_in_", None)
    metadata = {
        "estimator": type(model).__name__,
        "params": params,
        "params_not_saved": replaced,
        "fitted": {name: _plain(getattr(model, name)) for name in _SCALARS},
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
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}, written by moelogit "
            f"{metadata.get('moelogit_version', '?')}; this moelogit ({__version__}) reads "
            f"format versions up to {FORMAT_VERSION}: upgrade moelogit"
        )
    return metadata


def _rebuild(metadata: dict, arrays: dict) -> MoEClassifier:
    model = MoEClassifier(**metadata["params"])
    for name in _ARRAYS:
        setattr(model, name, arrays[name])
    if metadata["classes_object_dtype"]:
        model.classes_ = model.classes_.astype(object)
    for name in _SCALARS:
        setattr(model, name, metadata["fitted"][name])
    if metadata["feature_names"] is not None:
        model.feature_names_in_ = np.array(metadata["feature_names"], dtype=object)
    # Checks the shapes of the coefficient arrays against each other.
    params = model.params_
    if params.n_features != model.n_features_in_ or params.n_classes != model.classes_.size:
        raise ValueError("coefficient shapes disagree with the number of features or classes")
    selection = metadata["selection"]
    if selection is not None:
        path_models = [
            _classifier_from(
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
            wall_time_=selection["wall_time_"],
            **{name: arrays.get(f"selection/{name}") for name in _SELECTION_ARRAYS},
        )
    return model


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
        objective traces.
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
    metadata, arrays = _read_archive(path, FORMAT_NAME)
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


def _read_archive(path, format_name: str) -> tuple[dict, dict]:
    """Metadata and arrays of a file written by :func:`_write_archive`, checked."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = _read_metadata(archive, path, format_name)
            arrays = {}
            with _damage_is_corruption(path):
                for name in metadata["arrays"]:
                    with archive.open(f"{name}.npy") as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
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


def save_ppi_model(model, path, *, data_report=None) -> None:
    """Save a fitted :class:`moelogit.ppi.PPIPredictor` to one file (the same safe format).

    Besides the mixture (as :func:`save_model` writes it, under
    ``classifier/``), the file holds the descriptor settings and the fitted
    standardisation of the pair features.

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
    settings = {
        name: _plain(getattr(model, name))
        for name in ("max_lag", "n_experts", "max_experts", "alpha", "n_init", "max_iter")
    }
    metadata = {
        "predictor": {**settings, "descriptors": list(model.descriptors)},
        "n_pairs": int(model.n_pairs_),
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

    from .features import SymmetricPairClassifier
    from .features.descriptors import DESCRIPTORS
    from .ppi import PPIPredictor

    metadata, arrays = _read_archive(path, PPI_FORMAT_NAME)
    prefix = "classifier/"
    with _damage_is_corruption(path):
        moe = _rebuild(
            metadata["classifier"],
            {name[len(prefix) :]: a for name, a in arrays.items() if name.startswith(prefix)},
        )
        model = PPIPredictor(**metadata["predictor"])
        scale = StandardScaler()
        scale.mean_, scale.scale_ = arrays["scale/mean_"], arrays["scale/scale_"]
        scale.var_ = scale.scale_**2
        n_features = moe.n_features_in_
        if scale.mean_.shape != (n_features,) or scale.scale_.shape != (n_features,):
            raise ValueError("the standardisation and the mixture disagree in shape")
        scale.n_features_in_ = n_features
        pipeline = Pipeline([("scale", scale), ("clf", moe)])
        classifier = SymmetricPairClassifier(model.classifier().estimator)
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
        # The descriptor settings must give the features the mixture was fitted on.
        width = 2 * sum(len(DESCRIPTORS[name][1](model.max_lag)) for name in model.descriptors)
        if not width == len(model.feature_names_) == n_features:
            raise ValueError(
                f"the descriptors {list(model.descriptors)} give {width} pair features, the "
                f"file holds {len(model.feature_names_)} names and a model of {n_features}"
            )
    return (model, metadata) if return_metadata else model
