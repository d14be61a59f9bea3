"""The iteration driver: repeat a monotone map until the objective settles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .acceleration import Map, Squarem

__all__ = ["FitResult", "join_fits", "maximize", "settled"]


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`maximize`.

    ``objective`` is the objective at ``theta`` and equals ``trace[-1]``.
    """

    theta: np.ndarray
    objective: float
    trace: np.ndarray
    n_iter: int
    converged: bool


def settled(previous: float, value: float, tol: float) -> bool:
    """The stopping rule: the objective's relative change ``|value - previous| / |previous|`` <= ``tol``."""
    return abs(value - previous) <= tol * max(abs(previous), np.finfo(float).tiny)


def maximize(
    step: Map,
    theta0: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
    acceleration: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Iterate a monotone map from ``theta0`` until convergence.

    Parameters
    ----------
    step : callable
        Map ``theta -> (theta_next, objective(theta))`` that never lowers the
        objective, such as :class:`moelogit.mm.BohningMM`.
    theta0 : ndarray
        Starting point.
    max_iter : int, default=1000
        Largest number of iterations; with acceleration one iteration is a
        SQUAREM cycle (three evaluations of ``step``).
    tol : float, default=1e-8
        Stop when the objective's relative change between consecutive
        iterations, ``|L_t - L_{t-1}| / |L_{t-1}|``, falls below ``tol``.
    acceleration : bool, default=True
        Wrap ``step`` in a monotone :class:`moelogit.acceleration.Squarem` cycle.
    callback : callable, optional
        Called as ``callback(iteration, objective)`` after every iteration.

    Returns
    -------
    FitResult
        The last iterate whose objective is known, the objective trace (one
        value per iteration), the number of iterations and whether ``tol`` was
        met before ``max_iter``.
    """
    update = Squarem(step) if acceleration else step
    theta = theta0
    trace: list[float] = []
    converged = False
    for iteration in range(1, max_iter + 1):
        theta_next, value = update(theta)
        if not np.isfinite(value):
            raise FloatingPointError(f"the objective became {value} at iteration {iteration}")
        trace.append(value)
        if callback is not None:
            callback(iteration, value)
        if len(trace) > 1:
            previous = trace[-2]
            if settled(previous, value, tol):
                converged = True
                break
        if iteration < max_iter:
            theta = theta_next
    return FitResult(
        theta=theta,
        objective=trace[-1],
        trace=np.asarray(trace),
        n_iter=len(trace),
        converged=converged,
    )


def join_fits(previous: FitResult, more: FitResult) -> FitResult:
    """One :class:`FitResult` for ``more``, a run continued from ``previous.theta``.

    ``more.trace[0]`` is the objective ``previous`` ended with, so it appears
    once in the joined trace; convergence is that of ``more``.
    """
    trace = np.concatenate([previous.trace, more.trace[1:]])
    return FitResult(
        theta=more.theta,
        objective=more.objective,
        trace=trace,
        n_iter=trace.size,
        converged=more.converged,
    )
