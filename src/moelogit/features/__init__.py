"""Protein sequence descriptors and pair features for PPI prediction."""

from .descriptors import DESCRIPTORS, GUO_PROPERTIES, protein_descriptors
from .pairs import ENCODINGS, PairFeatures, encode_pairs

__all__ = [
    "DESCRIPTORS",
    "ENCODINGS",
    "GUO_PROPERTIES",
    "PairFeatures",
    "encode_pairs",
    "protein_descriptors",
]
