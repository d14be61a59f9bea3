"""Direct quasi-Newton: L-BFGS on the mean log-likelihood with its analytic gradient."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from moelogit.model import Dims, e_step, gradient, pack, unpack
from moelogit.solver import FitResult


def fit_lbfgs(Z, y, weights, dims: Dims, theta0, *, max_iter=1000, tol=1e-8):
    """Minimise minus the mean log-likelihood with SciPy's L-BFGS-B.

    ``tol`` is SciPy's ``ftol``: the relative change of the objective, as for
    moelogit's MM.
    """
    trace = []

    def negative(theta):
        gate_coef, expert_coef = unpack(theta, dims)
        estep = e_step(Z, y, weights, gate_coef, expert_coef)
        trace.append(estep.loglik)
        grad = gradient(Z, y, weights, gate_coef, expert_coef, estep=estep)
        return -estep.loglik, -pack(*grad)

    result = minimize(
        negative,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
    )
    value = -float(result.fun)
    return FitResult(
        result.x, value, np.maximum.accumulate(np.asarray(trace)), result.nit, result.success
    )
