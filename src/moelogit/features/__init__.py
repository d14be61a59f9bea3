"""Protein sequence descriptors and pair features for PPI prediction."""

from .descriptors import DESCRIPTORS, GUO_PROPERTIES, protein_descriptors
from .pairs import ENCODINGS, PairFeatures, SymmetricPairClassifier, encode_pairs, swap_halves

__all__ = [
    "DESCRIPTORS",
    "ENCODINGS",
    "GUO_PROPERTIES",
    "PairFeatures",
    "SymmetricPairClassifier",
    "encode_pairs",
    "protein_descriptors",
    "swap_halves",
]
