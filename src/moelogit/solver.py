"""The iteration driver: repeat a monotone map until the objective settles."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from .acceleration import Map, Squarem, drive, quiet_if

__all__ = ["FitResult", "join_fits", "maximize", "maximize_together", "settled"]


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
    return drive(_ascent(theta0, max_iter, tol, acceleration, callback), step)


def maximize_together(
    steps: Callable[[list], list],
    thetas0: Sequence[np.ndarray],
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
    acceleration: bool = True,
    callbacks: Sequence[Callable[[int, float], None] | None] | None = None,
) -> list[FitResult]:
    """:func:`maximize` from each of ``thetas0``, the runs' map evaluated together.

    ``steps(points)`` gives the map's ``(theta_next, objective)`` at each
    of ``points``, as ``[step(point) for point in points]`` would (for
    example :meth:`moelogit.mm.BohningMM.steps`, cheaper per point). Every
    run wants the map at one point at a time, so each call of ``steps``
    gets one point of every run still going, in the order of
    ``thetas0``; ``callbacks[i]`` is run ``i``'s. The runs are those of
    :func:`maximize` with a ``step`` that gives what ``steps`` gives.
    """
    callbacks = [None] * len(thetas0) if callbacks is None else callbacks
    runs = [
        _ascent(theta0, max_iter, tol, acceleration, callback)
        for theta0, callback in zip(thetas0, callbacks, strict=True)
    ]
    wanted = {index: next(run) for index, run in enumerate(runs)}
    results: dict[int, FitResult] = {}
    while wanted:
        # Extrapolated points apart, as drive() evaluates them (in lockstep,
        # every run's point is of one kind).
        for far in (False, True):
            order = [index for index in sorted(wanted) if wanted[index][1] is far]
            if not order:
                continue
            with quiet_if(far):
                done = steps([wanted[index][0] for index in order])
            for index, mapped in zip(order, done, strict=True):
                try:
                    wanted[index] = runs[index].send(mapped)
                except StopIteration as stop:
                    results[index] = stop.value
                    del wanted[index]
    return [results[index] for index in range(len(runs))]


def _plain(theta: np.ndarray) -> Generator[tuple, tuple, tuple[np.ndarray, float]]:
    """One plain step of the map, as a generator like :meth:`Squarem.cycle`."""
    return (yield theta, False)


def _ascent(theta0, max_iter, tol, acceleration, callback) -> Generator[tuple, tuple, FitResult]:
    """:func:`maximize`'s iterations, as a generator of the points where the map is wanted."""
    update = Squarem(None).cycle if acceleration else _plain
    theta = theta0
    trace: list[float] = []
    converged = False
    for iteration in range(1, max_iter + 1):
        # The last iteration keeps theta and wants only its objective: one
        # step of the map instead of a cycle's three (screening: 43 steps, not 45).
        last = iteration == max_iter
        theta_next, value = yield from (_plain(theta) if last else update(theta))
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
