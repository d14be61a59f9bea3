"""Standard errors of moelogit and of flexmix's ``summary(refit(m))`` on one data set, side by side.

Run ``python -m studies.coverage.flexmix_comparison`` from the repository
root (needs ``Rscript`` and the flexmix package). Both fit the same
simulated data (n = 3,000, d = 2, K = 2, M = 2) to the same optimum,
flexmix from moelogit's responsibilities, in four structures: every
feature in the gate and the experts; the gate on the first feature and the
experts on the second; a constant gate (flexmix without concomitant
model); intercept-only experts. flexmix's references are the first class
and the first component, moelogit's the last: with two of each every
estimate changes sign and its standard error does not.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.peers.flexmix import flexmix_available, flexmix_standard_errors
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification

#: (name, gate_features, expert_features) of the structures compared.
STRUCTURES = [
    ("all features", None, None),
    ("gate x0, experts x1", [0], [1]),
    ("constant gate", [], None),
    ("intercept-only experts", None, []),
]


def _flexmix_term(term: str) -> str:
    """flexmix's name of our term: features count from 1 there."""
    return "(Intercept)" if term == "intercept" else f"x{int(term[1:]) + 1}"


def comparison(
    n_samples=3000, seed=11, gate_features=None, expert_features=None
) -> tuple[pd.DataFrame, float, float]:
    """The side-by-side table and both mean log-likelihoods."""
    X, y, _ = make_moe_classification(n_samples, 2, 2, 2, random_state=seed)
    model = MoEClassifier(
        2, gate_features=gate_features, expert_features=expert_features, alpha=0.0,
        polish=True, random_state=0,
    ).fit(X, y)  # fmt: skip
    theirs = flexmix_standard_errors(
        X, y, 2, start_resp=model.responsibilities(X, y),
        gate_features=gate_features, expert_features=expert_features,
    )  # fmt: skip
    rows = []
    for (block, level, term), row in model.summary(X, y).table.iterrows():
        flex = theirs["gate"]["Comp.2"] if block == "gate" else theirs["experts"][f"Comp.{block[-1]}"]
        flex = flex[_flexmix_term(term)]
        rows.append({
            "block": block, "term": term,
            "moelogit coef": row["coef"], "flexmix coef": flex["estimate"],
            "moelogit se": row["std err"], "flexmix se": flex["se"],
            "se ratio": row["std err"] / flex["se"],
        })  # fmt: skip
    return pd.DataFrame(rows), model.loglik(X, y), theirs["loglik"] / n_samples


if __name__ == "__main__":
    available, why = flexmix_available()
    if not available:
        raise SystemExit(f"flexmix is not available: {why}")
    for name, gate_features, expert_features in STRUCTURES:
        table, ours, theirs = comparison(
            gate_features=gate_features, expert_features=expert_features
        )
        print(f"\n{name}: mean log-likelihood moelogit {ours:.8f}, flexmix {theirs:.8f}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
