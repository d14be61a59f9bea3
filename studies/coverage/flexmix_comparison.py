"""Standard errors of moelogit and of flexmix's ``summary(refit(m))`` on one data set, side by side.

Run ``python -m studies.coverage.flexmix_comparison`` from the repository
root (needs ``Rscript`` and the flexmix package). Both fit the same
simulated data (n = 3,000, d = 2, K = 2, M = 2) to the same optimum,
flexmix from moelogit's responsibilities. flexmix's references are the
first class and the first component, moelogit's the last: with two of each
every estimate changes sign and its standard error does not.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.peers.flexmix import flexmix_available, flexmix_standard_errors
from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification

TERMS = [("intercept", "(Intercept)"), ("x0", "x1"), ("x1", "x2")]


def comparison(n_samples=3000, seed=11) -> tuple[pd.DataFrame, float, float]:
    """The side-by-side table and both mean log-likelihoods."""
    X, y, _ = make_moe_classification(n_samples, 2, 2, 2, random_state=seed)
    model = MoEClassifier(2, alpha=0.0, polish=True, random_state=0).fit(X, y)
    theirs = flexmix_standard_errors(X, y, 2, start_resp=model.responsibilities(X, y))
    ours = model.summary(X, y).table
    rows = []
    blocks = [("gate", "expert 1", theirs["gate"]["Comp.2"])]
    blocks += [(f"expert {k}", str(model.classes_[0]), theirs["experts"][f"Comp.{k}"]) for k in (1, 2)]
    for block, level, flex in blocks:
        for term, flex_term in TERMS:
            row = ours.loc[(block, level, term)]
            rows.append({
                "block": block, "term": term,
                "moelogit coef": row["coef"], "flexmix coef": flex[flex_term]["estimate"],
                "moelogit se": row["std err"], "flexmix se": flex[flex_term]["se"],
                "se ratio": row["std err"] / flex[flex_term]["se"],
            })  # fmt: skip
    return pd.DataFrame(rows), model.loglik(X, y), theirs["loglik"] / n_samples


if __name__ == "__main__":
    available, why = flexmix_available()
    if not available:
        raise SystemExit(f"flexmix is not available: {why}")
    table, ours, theirs = comparison()
    print(f"mean log-likelihood: moelogit {ours:.8f}, flexmix {theirs:.8f}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
