"""Newton refinement of a converged fit: safeguarded steps on the exact Hessian.

The MM map ascends monotonically but converges linearly, at a rate set by how
much the quadratic bound overstates the curvature. Along the flat directions
of an over-fitted likelihood (redundant experts that can trade places) that
rate is close to one: a fit may meet a tolerance on the objective's change
and still sit far, in parameters, from the maximiser it is crawling towards.
Newton's method converges quadratically near a maximiser whatever the
conditioning, so a few steps from the MM solution reach the maximiser to
rounding error. Its cost grows with the square of the number of parameters
``P`` (an ``O(n q^2 L^2)`` Hessian, :func:`moelogit.model.hessian`, and a
``P x P`` eigendecomposition per step), which suits the small models of
simulation studies, not wide data.

Every step is safeguarded: Levenberg-Marquardt damping makes the model
concave, and a step is taken only if the objective does not fall, so the
refinement keeps the monotone ascent of the MM fit it continues.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .solver import FitResult

__all__ = ["MAX_PARAMETERS", "newton_refine"]

ValueAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]

# A Hessian of this many parameters holds 4,000^2 doubles (128 MB) and its
# eigendecomposition takes seconds: beyond it, refinement is the wrong tool.
MAX_PARAMETERS = 4000
# Largest number of damping increases tried before a step is given up.
_MAX_DAMPING_TRIES = 40


def newton_refine(
    value_and_gradient: ValueAndGradient,
    hessian: Callable[[np.ndarray], np.ndarray],
    theta0: np.ndarray,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> FitResult:
    """Maximise from ``theta0`` by safeguarded Newton steps.

    Each iteration evaluates the Hessian, shifts its spectrum just enough
    to make the quadratic model concave (no shift when it already is), and
    takes the model's maximiser if the objective does not fall there;
    otherwise the shift grows (Levenberg-Marquardt) and the shorter step is
    tried.

    Parameters
    ----------
    value_and_gradient : callable
        ``theta -> (objective, gradient)`` of the objective to maximise.
    hessian : callable
        ``theta -> Hessian`` of the objective, ``(P, P)``.
    theta0 : ndarray of shape (P,)
        Starting point, typically an MM solution.
    tol : float, default=1e-8
        Converged when an undamped step is shorter than
        ``sqrt(tol) * (1 + max |theta|)`` in every coordinate (the error
        after such a step is of the order of its square), or when the
        model predicts no gain above rounding error.
    max_iter : int, default=100
        Largest number of Newton steps.

    Returns
    -------
    FitResult
        ``trace`` starts with the objective at ``theta0`` and holds one value
        per step taken after it; it never decreases. ``n_iter`` counts the
        steps taken.

    Examples
    --------
    >>> import numpy as np
    >>> concave = lambda t: (-np.sum(np.cosh(t - 1.0)), -np.sinh(t - 1.0))
    >>> curvature = lambda t: -np.diag(np.cosh(t - 1.0))
    >>> result = newton_refine(concave, curvature, np.zeros(3))
    >>> bool(result.converged), np.round(result.theta, 6)
    (True, array([1., 1., 1.]))
    """
    theta = np.array(theta0, dtype=float)
    if theta.size > MAX_PARAMETERS:
        raise ValueError(
            f"Newton refinement of {theta.size} parameters would need a {theta.size}^2 "
            f"Hessian; it is meant for at most {MAX_PARAMETERS}"
        )
    value, grad = value_and_gradient(theta)
    trace, converged = [value], False
    for _ in range(max_iter):
        # Minus the Hessian: positive definite at a strict maximiser.
        curvature, basis = np.linalg.eigh(-hessian(theta))
        grad_rotated = basis.T @ grad
        largest = max(np.abs(curvature).max(), np.finfo(float).tiny)
        shift = 0.0 if curvature[0] > 1e-12 * largest else 1e-8 * largest - curvature[0]
        gain = 0.5 * grad_rotated @ (grad_rotated / (curvature + shift))
        if gain <= 4 * np.finfo(float).eps * max(abs(value), 1.0):
            converged = True  # nothing left to gain at floating-point precision
            break
        for _ in range(_MAX_DAMPING_TRIES):
            step = basis @ (grad_rotated / (curvature + shift))
            with np.errstate(over="ignore", invalid="ignore"):
                value_new, grad_new = value_and_gradient(theta + step)
            if np.isfinite(value_new) and value_new >= value:
                break
            shift = max(4.0 * shift, 1e-8 * largest)
        else:
            break  # no step of any length gains: a maximiser to rounding error
        undamped = shift == 0.0
        theta, value, grad = theta + step, value_new, grad_new
        trace.append(value)
        if undamped and np.max(np.abs(step)) <= np.sqrt(tol) * (1.0 + np.max(np.abs(theta))):
            converged = True
            break
    return FitResult(
        theta=theta,
        objective=trace[-1],
        trace=np.asarray(trace),
        n_iter=len(trace) - 1,
        converged=converged,
    )
