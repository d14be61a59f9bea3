"""moelogit: softmax-gated multinomial-logistic mixtures of experts.

Fitted by a monotone batch MM algorithm (Böhning's quadratic bound, closed-form
updates, SQUAREM acceleration).
"""

import importlib

from ._entry_points import provide

# Names of the package, imported from their modules on first use: a worker
# process that screens starts (moelogit.engine) then never imports
# scikit-learn, which takes it about 0.7 s (docs/performance.md).
_LAZY = {
    "MoEClassifier": "estimator",
    "SeparationWarning": "estimator",
    "MoEParams": "params",
    "SelectionResult": "selection",
    "select_n_experts": "selection",
    "datasets": None,
}

__all__ = [
    "MoEClassifier",
    "MoEParams",
    "SelectionResult",
    "SeparationWarning",
    "__version__",
    "datasets",
    "select_n_experts",
]


def _select_n_experts(*args, **kwargs):
    """``MoEClassifier(n_experts=<method>)``'s selection, imported on first use (it then provides itself)."""
    from .selection import select_n_experts

    return select_n_experts(*args, **kwargs)


provide("select_n_experts", _select_n_experts)


def _version() -> str:
    """The installed distribution's version (importing importlib.metadata took 52 ms, ``python -X importtime``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moelogit")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name):
    if name == "__version__":  # looked up once, on first use
        value = globals()["__version__"] = _version()
        return value
    if name not in _LAZY:
        raise AttributeError(f"module 'moelogit' has no attribute {name!r}")
    module = _LAZY[name]
    if module is None:
        return importlib.import_module(f".{name}", __name__)
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return __all__
