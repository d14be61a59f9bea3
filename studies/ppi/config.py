"""The settings of a PPI experiment."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PPIConfig"]


@dataclass(frozen=True)
class PPIConfig:
    """Settings of a PPI experiment; :meth:`quick` gives the smoke-test ones.

    Attributes
    ----------
    descriptors, encoding, max_lag
        Passed to :class:`moelogit.features.PairFeatures`.
    symmetric : bool
        With ``encoding="concat"``, wrap every pipeline in
        :class:`moelogit.features.SymmetricPairClassifier` (trained on both
        orders of every pair, predicting their mean). Ignored by the
        order-invariant encodings.
    n_splits : int
        Outer folds of the pair-level protocol, and protein groups G of the
        protein-disjoint one (G(G+1)/2 folds: 15 for G = 5, 6 for G = 3).
    inner_splits : int
        Folds of the inner grid search.
    tune_rows : int
        The inner grid search runs on at most this many training pairs (a
        stratified subsample); the chosen settings are then refitted on the
        whole training fold. The same budget for every model keeps the run
        within time (an SVM with Platt scaling on 9,000 pairs takes minutes).
    max_experts : int
        Largest number of experts considered by DSC and BIC.
    moe_starts, moe_max_iter : int
        Starts (``n_init``) and iteration cap of every MoE fit.
    models : tuple of str
        Names in :data:`MODELS`.
    subsample : int or None
        Use a stratified random subsample of this many pairs.
    screen_boot : int
        Bootstrap replicates of the interval of the prevalence estimated on
        every test fold's 1:10 screen subsample (:mod:`studies.ppi.prevalence`).
    seed : int
    """

    descriptors: tuple = ("aac", "ctriad", "ac")
    encoding: str = "concat"
    max_lag: int = 30
    symmetric: bool = True
    n_splits: int = 5
    inner_splits: int = 3
    tune_rows: int = 2000
    max_experts: int = 4
    moe_starts: int = 2
    moe_max_iter: int = 200
    models: tuple = (
        "moe-dsc",
        "moe-bic",
        "logreg",
        "svm",
        "forest",
        "boosting",
        "mlp",
    )
    subsample: int | None = None
    screen_boot: int = 100
    seed: int = 0

    @classmethod
    def quick(cls, **changes):
        """A smoke test: 1,000 pairs, two descriptors, 3 folds (6 protein-disjoint), three models."""
        settings = {
            "descriptors": ("aac", "ac"),
            "n_splits": 3,
            "tune_rows": 300,
            "max_experts": 3,
            "moe_starts": 1,
            "moe_max_iter": 60,
            "models": ("moe-dsc", "logreg", "boosting"),
            "subsample": 1000,
            "screen_boot": 20,
        }
        return cls(**{**settings, **changes})
