"""SQUAREM acceleration around any monotone fixed-point map.

Varadhan & Roland (2008), scheme SqS3, with the safeguard that keeps ascent:
after two plain steps ``theta -> theta1 -> theta2`` the extrapolated point is
accepted (through one stabilising plain step) only if its objective is at
least that of ``theta1``; otherwise the cycle falls back to ``theta2``, the
plain MM iterate. Either way the objective never falls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator

import numpy as np

__all__ = ["Squarem", "drive", "quiet_if"]

Map = Callable[[np.ndarray], tuple[np.ndarray, float]]


class Squarem:
    """A SQUAREM cycle, callable like the map it accelerates.

    Parameters
    ----------
    step : callable or None
        Monotone map ``theta -> (theta_next, objective(theta))``; None
        where the map is evaluated outside (:meth:`cycle`).
    step_growth : float, default=4.0
        The largest extrapolation length starts at 1 (a plain double step) and
        is multiplied by this factor each time a step of that length is
        accepted, as in the SQUAREM reference implementation.

    Attributes
    ----------
    n_accepted : int
        Cycles whose extrapolation was accepted.
    n_rejected : int
        Cycles that fell back to the plain MM iterate.
    """

    def __init__(self, step: Map | None, step_growth: float = 4.0):
        self.step = step
        self.step_growth = step_growth
        self.max_length = 1.0
        self.n_accepted = 0
        self.n_rejected = 0

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        return drive(self.cycle(theta), self.step)

    def cycle(self, theta: np.ndarray) -> Generator[tuple, tuple, tuple[np.ndarray, float]]:
        """One cycle from ``theta``, as a generator of the points where the map is wanted.

        It yields ``(point, far)`` and is sent the map's ``(theta_next,
        objective)`` at ``point``; it returns what calling the cycle returns.
        ``far`` marks an extrapolated point, where the map may overflow a
        logit: it then yields a non-finite objective and is rejected, so
        the warning is noise (:func:`drive` silences it). Several cycles can
        so have their maps evaluated together
        (:func:`moelogit.solver.maximize_together`).
        """
        theta1, value0 = yield theta, False
        theta2, value1 = yield theta1, False
        r = theta1 - theta
        v = theta2 - theta1 - r
        v_norm = np.linalg.norm(v)
        if v_norm == 0.0:
            return theta2, value0
        length = min(max(1.0, np.linalg.norm(r) / v_norm), self.max_length)
        theta_ext = theta + 2.0 * length * r + length**2 * v
        theta_stab, value_ext = yield theta_ext, True
        if np.isfinite(value_ext) and value_ext >= value1 and np.all(np.isfinite(theta_stab)):
            self.n_accepted += 1
            if length == self.max_length:
                self.max_length *= self.step_growth
            return theta_stab, value0
        self.n_rejected += 1
        return theta2, value0


def quiet_if(far: bool) -> contextlib.AbstractContextManager:
    """Overflow warnings silenced at an extrapolated point (see :meth:`Squarem.cycle`)."""
    return np.errstate(over="ignore", invalid="ignore") if far else contextlib.nullcontext()


def drive(points: Generator, step: Map):
    """Runs a generator of ``(point, far)`` (as :meth:`Squarem.cycle`) with ``step``; returns its value."""
    try:
        point, far = next(points)
    except StopIteration as stop:
        return stop.value
    while True:
        with quiet_if(far):
            done = step(point)
        try:  # around the generator alone: a StopIteration of step's is step's
            point, far = points.send(done)
        except StopIteration as stop:
            return stop.value
