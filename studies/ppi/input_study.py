"""What the mixture of experts needs to see on PPI pairs: a study on one held-out split.

Run from the repository root (about 15 minutes on 2 cores):

    python -m studies.ppi.input_study ../shared/data/ppi/guo2008-yeast

One stratified 80/20 split of Guo's yeast pairs (seed 1), pair level,
symmetrised concatenation of AAC, conjoint triads and auto-covariance (1,146
features), every model trained on both orders of its pairs. It compares the
inputs of the mixture (principal components, PLS scores, all features), its
number of experts and its ridge, against logistic regression on the same
inputs. It informed the PPI experiment's MoE settings (all features, fixed
curvature, ridge near 1e-2); Martin's H. pylori set played no part in it.
"""

import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from moelogit import MoEClassifier
from moelogit.datasets.ppi import load_ppi
from moelogit.features import PairFeatures, SymmetricPairClassifier
from moelogit.metrics import binary_metrics


class PLSScores(TransformerMixin, BaseEstimator):
    """x-scores of PLS on the labels (PLSRegression's fit_transform also returns y-scores)."""

    def __init__(self, n_components=20):
        self.n_components = n_components

    def fit(self, X, y):
        self.pls_ = PLSRegression(self.n_components, scale=False).fit(X, y)
        return self

    def transform(self, X):
        return self.pls_.transform(X)


def moe(n_experts, alpha, **settings):
    return MoEClassifier(
        n_experts, max_experts=4, alpha=alpha, random_state=0, **{"n_init": 3, **settings}
    )


VARIANTS = [
    ("logreg C=0.01", None, LogisticRegression(C=0.01, max_iter=2000)),
    *[(f"logreg, PCA({k})", PCA(k), LogisticRegression(max_iter=2000)) for k in (10, 30, 60)],
    *[(f"logreg, PLS({k})", PLSScores(k), LogisticRegression(max_iter=2000)) for k in (20, 100)],
    *[
        (f"moe dsc alpha={a}, PCA({k})", PCA(k), moe("dsc", a, n_init=5, max_iter=500))
        for k in (10, 30, 60)
        for a in (1e-4, 1e-2)
    ],
    *[
        (f"moe dsc alpha=0.01, PLS({k})", PLSScores(k), moe("dsc", 1e-2, n_init=5, max_iter=500))
        for k in (20, 100)
    ],
    ("moe K=3 fixed alpha=0.01, PCA(300)", PCA(300), moe(3, 1e-2, curvature="fixed", max_iter=300)),
    *[
        (f"moe K=2 fixed alpha={a}, all", None, moe(2, a, curvature="fixed", max_iter=300))
        for a in (1e-3, 1e-2, 1e-1)
    ],
    (
        "moe K=2 fixed alpha=0.01, all, 1000 it",
        None,
        moe(2, 1e-2, curvature="fixed", max_iter=1000),
    ),
    ("moe K=3 fixed alpha=0.01, all", None, moe(3, 1e-2, curvature="fixed", max_iter=300)),
    ("moe dsc fixed alpha=0.01, all", None, moe("dsc", 1e-2, curvature="fixed", max_iter=300)),
]


def evaluate(name, reduction, classifier, X, y, train, test):
    steps = [("scale", StandardScaler())]
    if reduction is not None:
        steps.append(("reduce", reduction))
    model = SymmetricPairClassifier(Pipeline([*steps, ("clf", classifier)]))
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.process_time()
        model.fit(X[train], y[train])
        seconds = time.process_time() - started
    scores = binary_metrics(y[test], model.predict_proba(X[test])[:, 1])
    experts = getattr(model.estimator_.named_steps["clf"], "n_experts_", "")
    return {"variant": name, **scores, "experts": experts, "cpu_seconds": seconds}


def main(folder):
    import pandas as pd

    data = load_ppi(folder)
    X = PairFeatures(data.sequences, ("aac", "ctriad", "ac"), "concat", 30).fit_transform(
        data.pairs
    )
    y = data.labels
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=1)
    rows = Parallel(n_jobs=2)(delayed(evaluate)(*v, X, y, train, test) for v in VARIANTS)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main(sys.argv[1])
