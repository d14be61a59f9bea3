"""The PPI experiment's models: how each is built, and the grid it is tuned on.

Every model is a ``Pipeline`` that starts with ``StandardScaler``
(:func:`build_model`). By default the features are the concatenation
``[a, b]`` and every pipeline is wrapped in
:class:`moelogit.features.SymmetricPairClassifier`: trained on both orders of
every pair, predicting the mean of both orders, so order-invariant without
the information that ``[a + b, |a - b|]`` loses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from moelogit import MoEClassifier
from moelogit.features import SymmetricPairClassifier

__all__ = [
    "MODELS",
    "SVM_CACHE_MB",
    "ModelSpec",
    "build_model",
    "classifier_step",
    "fitted_pipeline",
    "prefixed_params",
    "step_params",
]


def _moe(n_experts, config):
    # On all pair features (1,146 by default): the gate needs directions that
    # neither PCA nor PLS keeps (docs/ppi.md, "What the mixture needs to see"). Fixed curvature: one
    # factorisation of the d x d bound per fit instead of K per iteration.
    # Fewer starts and iterations than the defaults: the folds, the grid and
    # the DSC path or BIC sweep multiply the fits.
    return MoEClassifier(
        n_experts=n_experts,
        max_experts=config.max_experts,
        n_init=config.moe_starts,
        curvature="fixed",
        alpha=1e-2,
        max_iter=config.moe_max_iter,
        random_state=config.seed,
    )


class ModelSpec(NamedTuple):
    """How the experiment builds and tunes one model.

    Attributes
    ----------
    factory : callable
        PPIConfig -> unfitted classifier.
    grid : dict
        Grid on the classifier's parameters (three or four points each),
        searched by the inner folds on at most ``tune_rows`` pairs.
    reduction : None or int
        Principal components in front of the classifier, if any.
    tune_as : dict
        Parameters set on the classifier while its grid is searched: a
        cheaper proxy (the MoE's ridge is tuned with 2 experts, not with the
        whole DSC path or BIC sweep per grid point and inner fold).
    mean_scaled : tuple of str
        Grid parameters that weigh a penalty against the *mean* loss: the
        MoE's ``alpha``, and the MLP's (its adam steps divide the penalty by
        the size of a mini-batch of 200, not by the number of rows). The
        point chosen on the inner training folds is multiplied by (inner
        training pairs) / (training pairs) before the refit, so that the
        penalty keeps its weight against the *summed* loss, as ``C`` of the
        logistic regression and of the SVM does by its definition. Without
        it, a ridge tuned on the inner folds (at most 2/3 of the 2,000-pair
        tuning subsample at pair level, 4/9 protein-disjoint) would be
        applied unchanged to training folds 1.7 to 6.7 times larger.
    """

    factory: Callable
    grid: dict
    reduction: int | None = None
    tune_as: dict | None = None
    mean_scaled: tuple = ()


#: The MoE's ridge, at the size of the inner training folds (rescaled for the
#: refit, see ``ModelSpec.mean_scaled``). Widened twice on Martin's set: 0.1,
#: the largest point of a first grid {1e-2, 1e-1}, was chosen in every fold,
#: then 1 in most folds (below).
_MOE_GRID = {"alpha": [1e-2, 1e-1, 1.0, 10.0]}

#: Kernel cache of the SVM, in MB (scikit-learn's default: 200).
SVM_CACHE_MB = 2000

#: name -> ModelSpec. The SVM gets 100 principal components: its kernel cost grows
#: with the dimension and Platt scaling refits it five times. Every grid was
#: widened by one point on the side where the search chose its edge in most
#: folds of a run on Martin's set (commit b882ece; docs/ppi.md): MoE ridge 10,
#: logreg C 1e-4, SVM C 100, forest leaves of 20, boosting rate 0.02, MLP alpha 1.
MODELS = {
    "moe-dsc": ModelSpec(lambda c: _moe("dsc", c), _MOE_GRID, None, {"n_experts": 2}, ("alpha",)),
    "moe-bic": ModelSpec(lambda c: _moe("bic", c), _MOE_GRID, None, {"n_experts": 2}, ("alpha",)),
    "logreg": ModelSpec(
        lambda c: LogisticRegression(max_iter=2000), {"C": [1e-4, 1e-3, 1e-2, 1e-1]}
    ),
    "svm": ModelSpec(
        # Platt scaling: a sigmoid on 5-fold cross-validated decision values,
        # as SVC(probability=True) did before scikit-learn 1.9 deprecated it.
        # A kernel cache of up to 2 GB (libsvm allocates it as it fills) holds
        # the whole kernel of a Guo training fold (17,862 rows, both orders):
        # a fit took 34 s instead of 114 s with the default 200 MB, with the
        # same decision values to the bit.
        lambda c: CalibratedClassifierCV(
            SVC(cache_size=SVM_CACHE_MB), method="sigmoid", cv=5, ensemble=False
        ),
        {"estimator__C": [1.0, 10.0, 100.0]},
        100,
    ),
    "forest": ModelSpec(
        lambda c: RandomForestClassifier(n_estimators=200, random_state=c.seed),
        {"min_samples_leaf": [1, 5, 20]},
    ),
    "boosting": ModelSpec(
        lambda c: HistGradientBoostingClassifier(
            max_iter=200, early_stopping=True, random_state=c.seed
        ),
        {"learning_rate": [0.02, 0.05, 0.15]},
    ),
    "mlp": ModelSpec(
        lambda c: MLPClassifier(
            hidden_layer_sizes=(128,), early_stopping=True, max_iter=300, random_state=c.seed
        ),
        {"alpha": [1e-3, 1e-1, 1.0]},
        mean_scaled=("alpha",),
    ),
}


def step_params(params):
    """Grid parameters without the pipeline prefixes (``estimator__clf__alpha`` -> ``alpha``)."""
    return {key.split("clf__")[-1]: value for key, value in params.items()}


def prefixed_params(params, model):
    """``params`` of the ``clf`` step as parameter names of ``model`` (wrapped or not)."""
    prefix = "estimator__clf__" if isinstance(model, SymmetricPairClassifier) else "clf__"
    return {f"{prefix}{key}": value for key, value in params.items()}


def build_model(name, config, params=None):
    """The model (a pipeline, wrapped if symmetric) and its grid on the ``clf`` step.

    ``params`` (a dict on the ``clf`` step, names without prefixes, as in
    the ``params`` column of the experiment's fold rows) are set on the model.

    Examples
    --------
    >>> from studies.ppi.config import PPIConfig
    >>> model, grid = build_model("logreg", PPIConfig())
    >>> type(model).__name__, [step for step, _ in model.estimator.steps], list(grid)
    ('SymmetricPairClassifier', ['scale', 'clf'], ['estimator__clf__C'])
    >>> model, grid = build_model("svm", PPIConfig(encoding="sum-absdiff"))
    >>> [step for step, _ in model.steps], grid
    (['scale', 'pca', 'clf'], {'clf__estimator__C': [1.0, 10.0, 100.0]})
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(MODELS)}")
    spec = MODELS[name]
    steps = [("scale", StandardScaler())]
    if spec.reduction is not None:
        steps.append(("pca", PCA(spec.reduction, random_state=config.seed)))
    steps.append(("clf", spec.factory(config)))
    model = Pipeline(steps)
    if config.symmetric and config.encoding == "concat":
        model = SymmetricPairClassifier(model)
    if params:
        model.set_params(**prefixed_params(params, model))
    return model, prefixed_params(spec.grid, model)


def fitted_pipeline(model):
    """The fitted pipeline of a model from :func:`build_model` (unwrapped)."""
    return model.estimator_ if isinstance(model, SymmetricPairClassifier) else model


def classifier_step(model):
    """The fitted classifier (the ``clf`` step) of a model from :func:`build_model`."""
    return fitted_pipeline(model).named_steps["clf"]
