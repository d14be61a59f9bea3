"""Data sets: the SGMLMoE simulator."""

from ._simulate import make_moe_classification

__all__ = ["make_moe_classification"]
