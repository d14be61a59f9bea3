"""Peers that fit the same model as moelogit, for the speed benchmark.

All work in moelogit's design coordinates (see :mod:`moelogit.model`), take a
starting parameter vector, and return a :class:`moelogit.solver.FitResult`.
"""

from .em_newton import fit_em_newton
from .lbfgs import fit_lbfgs

__all__ = ["fit_em_newton", "fit_lbfgs"]
