"""Functions that a lower layer calls and a higher one provides, so that no module imports upward.

``MoEClassifier(n_experts="bic")`` is fitted by
:func:`moelogit.selection.select_n_experts`, which builds on the estimator.
The selection provides it here when imported; the package's ``__init__``
(above every layer) provides a stand-in that imports the selection on its
first call, so that ``import moelogit`` loads neither.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["call", "provide"]

_PROVIDED: dict[str, Callable] = {}


def provide(name: str, function: Callable) -> None:
    """Make ``function`` what :func:`call` runs for ``name``."""
    _PROVIDED[name] = function


def call(name: str, *args, **kwargs):
    """Run the function provided for ``name``."""
    return _PROVIDED[name](*args, **kwargs)
