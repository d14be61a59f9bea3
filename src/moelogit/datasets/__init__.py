"""Data sets: the SGMLMoE simulator."""

from ._simulate import make_moe_classification, random_params

__all__ = ["make_moe_classification", "random_params"]
