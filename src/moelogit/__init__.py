"""moelogit: softmax-gated multinomial-logistic mixtures of experts.

Fitted by a monotone batch MM algorithm (Böhning's quadratic bound, closed-form
updates, SQUAREM acceleration).
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets
from .estimator import MoEClassifier, SeparationWarning
from .params import MoEParams
from .selection import SelectionResult, select_n_experts

try:
    __version__ = version("moelogit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "MoEClassifier",
    "MoEParams",
    "SelectionResult",
    "SeparationWarning",
    "__version__",
    "datasets",
    "select_n_experts",
]
