"""Inference for a fitted mixture: the covariance of its estimates and coefficient tables.

The covariance of the free parameters comes from the observed information
``A``, minus the Hessian of the total penalised log-likelihood at the fit
(Louis' identity, :func:`moelogit.model.hessian`), as ``A^{-1}``; or, for
a model that may be misspecified, from the sandwich ``A^{-1} B A^{-1}`` with
``B = sum_i s_i u_i u_i^T``, the rows' scores ``u_i`` weighted by their
sample weights ``s_i`` (frequency weights: a row of weight 2 counts as two
rows). Both are computed in the standardised design, where ``A`` is better
conditioned, and carried to the user's feature scale by the linear map of
the standardisation.

The parameters are the identifiable ones: expert ``k``'s gate column and
class ``m``'s expert column are differences from the reference expert (the
last, after the fitted model's canonical order by decreasing mean gate
weight) and from the reference class (the last). Another reference changes
the estimates and their standard errors, not the model; and since experts
are exchangeable, their numbering is only the canonical order of this fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import LinAlgError, block_diag, cho_factor, cho_solve
from scipy.special import expit

from . import model
from .model import Dims
from .newton import MAX_PARAMETERS

__all__ = [
    "CoefficientSummary",
    "class_proba_gradients",
    "parameter_covariance",
    "proba_intervals",
    "standardisation_map",
]


def standardisation_map(mean: np.ndarray, scale: np.ndarray, dims: Dims) -> np.ndarray:
    """The matrix taking packed parameters of the design ``[1, (X - mean) / scale]`` to those of ``[1, X]``.

    Per free column, slopes are divided by ``scale`` and the intercept loses
    ``sum_j slope_j mean_j / scale_j``; ``mean`` and ``scale`` are those of
    the design's features (``dims.q - 1`` of them).
    """
    q, K, M = dims
    column = np.eye(q)
    column[0, 1:] = -mean / scale
    column[1:, 1:] = np.diag(1.0 / scale)
    # pack's layout: gate (q, K - 1) and each expert (q, M - 1), row-major.
    gate = np.kron(column, np.eye(K - 1))
    expert = np.kron(column, np.eye(M - 1))
    return block_diag(gate, *[expert] * K)


def parameter_covariance(
    Z: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    gate_coef: np.ndarray,
    expert_coef: np.ndarray,
    alpha: float = 0.0,
    *,
    robust: bool = False,
    free: np.ndarray | None = None,
) -> np.ndarray:
    """Covariance of the packed parameters of the design ``Z`` at a fit, ``(P, P)``.

    Parameters
    ----------
    Z, y, gate_coef, expert_coef, alpha
        As in :func:`moelogit.model.objective`.
    sample_weight : ndarray of shape (n,)
        The rows' weights on their own scale (ones without weights): the
        information is that of ``sum_i s_i log p(y_i | x_i)``, penalised.
    robust : bool, default=False
        The sandwich estimate instead of the inverse observed information.
    free : ndarray of bool, optional
        The packed parameters estimated (:meth:`moelogit.model.Support.free`);
        the covariance is theirs, the others being fixed at zero. Default all.

    Raises
    ------
    ValueError
        With more than :data:`moelogit.newton.MAX_PARAMETERS` parameters, or
        when the information is not positive definite (a saddle, an
        unconverged fit, an expert with almost no rows), naming the block
        (gate or expert) where it fails.
    """
    dims = Dims(Z.shape[1], expert_coef.shape[0], expert_coef.shape[2] + 1)
    free = np.ones(dims.n_params, dtype=bool) if free is None else free
    n_free = int(free.sum())
    if n_free > MAX_PARAMETERS:
        raise ValueError(
            f"the covariance of all {n_free} parameters needs a Hessian of that "
            f"order; it is computed for at most {MAX_PARAMETERS}"
        )
    total = float(np.sum(sample_weight))
    weights = sample_weight / total
    hessian = model.hessian(Z, y, weights, gate_coef, expert_coef, alpha)
    information = -total * hessian[np.ix_(free, free)]
    try:
        factor = cho_factor(information, lower=True)
    except LinAlgError:
        raise ValueError(_not_definite(information, _blocks(dims)[free])) from None
    inverse = cho_solve(factor, np.eye(n_free))
    if not robust:
        return inverse
    meat = np.zeros_like(information)
    # By blocks of rows: about 2^20 values of scores.
    for rows in model.row_slices(Z.shape[0], model.rows_per_block(dims.n_params)):
        scores = model.row_scores(Z[rows], y[rows], gate_coef, expert_coef)[:, free]
        meat += scores.T @ (scores * sample_weight[rows, None])
    return inverse @ meat @ inverse


def class_proba_gradients(Z: np.ndarray, gate_coef: np.ndarray, expert_coef: np.ndarray):
    """Gradients of every class probability ``p(y = m | x_i)`` in the packed parameters, ``(n, M, P)``.

    With gate weights ``pi`` and expert probabilities ``eta``, ``p_m`` moves
    with gate column ``c`` as ``z pi_c (eta_cm - p_m)`` and with expert
    ``k``'s class column ``j`` as ``z pi_k eta_km (delta_mj - eta_kj)``.
    """
    K, q, M1 = expert_coef.shape
    gate = np.exp(model.log_gate(Z, gate_coef))  # (n, K)
    experts = np.exp(model.log_experts(Z, expert_coef))  # (n, K, M)
    proba = np.einsum("nk,nkm->nm", gate, experts)
    n, M = proba.shape
    own_class = experts[:, : K - 1, :].transpose(0, 2, 1)  # (n, M, K - 1)
    gate_part = gate[:, None, : K - 1] * (own_class - proba[:, :, None])
    # (n, M, K, M - 1): expert k's class column j, for every class m.
    expert_part = -(gate[:, None, :, None] * experts.transpose(0, 2, 1)[:, :, :, None]) * (
        experts[:, None, :, :M1]
    )
    for j in range(M1):
        expert_part[:, j, :, j] += gate * experts[:, :, j]
    gate_grad = Z[:, None, :, None] * gate_part[:, :, None, :]  # (n, M, q, K - 1)
    expert_grad = Z[:, None, None, :, None] * expert_part[:, :, :, None, :]  # (n, M, K, q, M - 1)
    return np.concatenate([gate_grad.reshape(n, M, -1), expert_grad.reshape(n, M, -1)], axis=2)


def proba_intervals(proba: np.ndarray, gradients: np.ndarray, covariance: np.ndarray, level: float):
    """Delta-method intervals ``(low, high)`` for probabilities, each ``(n, M)``.

    Built on the logit scale, ``logit p +- z se / (p (1 - p))``, and mapped
    back, so they stay inside (0, 1) and are not symmetric near its ends.
    """
    variance = np.einsum("nmp,pr,nmr->nm", gradients, covariance, gradients)
    # Probabilities rounded to 0 or 1 are kept a rounding step inside, where
    # the logit and its standard error stay finite (no NaN interval).
    eps = np.finfo(float).eps
    proba = np.clip(proba, eps, 1.0 - eps)
    logit_se = np.sqrt(np.maximum(variance, 0.0)) / (proba * (1.0 - proba))
    logit = np.log(proba) - np.log1p(-proba)
    half = stats.norm.ppf(0.5 + level / 2.0) * logit_se
    return expit(logit - half), expit(logit + half)


def _blocks(dims: Dims) -> np.ndarray:
    """The block of every packed parameter: 0 for the gate, ``k`` for expert ``k``."""
    q, K, M = dims
    return np.repeat(np.arange(K + 1), [q * (K - 1)] + [q * (M - 1)] * K)


def _not_definite(information: np.ndarray, blocks: np.ndarray) -> str:
    """Why the information has no Cholesky factor: the first block that is not definite.

    ``blocks`` holds every parameter's block, as :func:`_blocks`.
    """
    where = "the gate and the experts jointly (a saddle point or a flat direction)"
    for block in np.unique(blocks):
        inside = np.flatnonzero(blocks == block)
        if np.linalg.eigvalsh(information[np.ix_(inside, inside)])[0] <= 0:
            where = "the gate" if block == 0 else f"expert {block}"
            break
    return (
        f"the observed information is not positive definite in {where}: the fit is not "
        "at a maximum (not converged, a saddle) or an expert has almost no rows. Refit with "
        "polish=True, more iterations or fewer experts"
    )


@dataclass(frozen=True)
class CoefficientSummary:
    """A fitted model's coefficient table and fit statistics, as statsmodels prints them.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per free parameter, indexed by ``(block, level, term)``
        (``("gate", expert, feature)`` or ``("expert k", class, feature)``),
        with the estimate, its standard error, z, the two-sided p-value and
        the interval at ``level``.
    info : dict
        Log-likelihood, AIC, BIC, rows, parameters, convergence, the
        covariance's kind and the references.
    level : float
    """

    table: pd.DataFrame
    info: dict
    level: float

    @classmethod
    def from_estimates(
        cls, estimates: np.ndarray, covariance: np.ndarray, index: pd.MultiIndex, info, level
    ) -> CoefficientSummary:
        """The table of ``estimates`` with standard errors from ``covariance``."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        se = np.sqrt(np.diag(covariance))
        z = estimates / se
        half = stats.norm.ppf(0.5 + level / 2.0) * se
        low, high = (f"[{(1 - level) / 2:g}", f"{(1 + level) / 2:g}]")
        table = pd.DataFrame(
            {
                "coef": estimates,
                "std err": se,
                "z": z,
                "P>|z|": 2.0 * stats.norm.sf(np.abs(z)),
                low: estimates - half,
                high: estimates + half,
            },
            index=index,
        )
        return cls(table, dict(info), level)

    def __str__(self) -> str:
        width = 78
        lines = ["=" * width]
        items = list(self.info.items())
        for left, right in zip(items[::2], items[1::2] + [("", "")]):
            lines.append(f"{_cell(*left):<39}{_cell(*right):<39}".rstrip())
        for block, part in self.table.groupby(level=0, sort=False):
            lines += ["=" * width, str(block)]
            shown = part.droplevel(0)
            shown.index = [f"{level}: {term}" for level, term in shown.index]
            lines.append(shown.to_string(float_format=lambda v: f"{v:.4g}"))
        lines.append("=" * width)
        return "\n".join(lines)


def _cell(name: str, value) -> str:
    if not name:
        return ""
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"{name + ':':<18}{text:>20}"
