"""Choosing the number of experts: dendrogram of mixing measures, DSC, AIC/BIC/ICL."""

from ._dendrogram import (
    Dendrogram,
    atoms,
    dendrogram,
    dissimilarities,
    function_dissimilarities,
    merge,
)
from ._select import SelectionResult, information_criterion, select_n_experts

__all__ = [
    "Dendrogram",
    "SelectionResult",
    "atoms",
    "dendrogram",
    "dissimilarities",
    "function_dissimilarities",
    "information_criterion",
    "merge",
    "select_n_experts",
]
