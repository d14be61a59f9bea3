"""Choosing the number of experts: dendrogram of mixing measures, DSC, AIC/BIC/ICL."""

from ._dendrogram import Dendrogram, dendrogram
from ._select import SelectionResult, select_n_experts

__all__ = ["Dendrogram", "SelectionResult", "dendrogram", "select_n_experts"]
