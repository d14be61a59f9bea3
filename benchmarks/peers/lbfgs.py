"""Direct quasi-Newton: L-BFGS on the mean log-likelihood with its analytic gradient."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from moelogit.model import Dims, Workspace, objective_and_gradient, pack, unpack
from moelogit.reduction import other_blas_single_threaded
from moelogit.solver import FitResult


def fit_lbfgs(Z, y, weights, dims: Dims, theta0, *, max_iter=1000, tol=1e-8, callback=None):
    """Minimise minus the mean log-likelihood with SciPy's L-BFGS-B.

    ``tol`` is SciPy's ``ftol``: the relative change of the objective, as for
    moelogit's MM. The trace and ``callback(evaluation, best_so_far)`` follow
    every evaluation of the log-likelihood and its gradient, line searches
    included. SciPy's BLAS runs one thread, as in moelogit's own L-BFGS
    (:func:`moelogit.reduction.other_blas_single_threaded`): the peer is
    timed without the two BLAS pools fighting for the cores.
    """
    trace = []
    workspace = Workspace()

    def negative(theta):
        value, *grad = objective_and_gradient(
            Z, y, weights, *unpack(theta, dims), workspace=workspace
        )
        trace.append(max(value, trace[-1]) if trace else value)
        if callback is not None:
            callback(len(trace), trace[-1])
        return -value, -pack(*grad)

    with other_blas_single_threaded():
        result = minimize(
            negative,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
        )
    value = -float(result.fun)
    return FitResult(result.x, value, np.asarray(trace), result.nit, result.success)
