"""Parameters of a fitted or simulated SGMLMoE on the user's feature scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import model

__all__ = ["MoEParams"]


def _free_columns(full: np.ndarray) -> np.ndarray:
    """Reference-coded free columns: subtract the last column, drop it."""
    return full[..., :-1] - full[..., -1:]


def _with_zero_reference(free: np.ndarray) -> np.ndarray:
    return np.concatenate([free, np.zeros(free.shape[:-1] + (1,))], axis=-1)


@dataclass(frozen=True, eq=False)  # arrays: identity, not an ambiguous elementwise ==
class MoEParams:
    """Parameters of a softmax-gated multinomial-logistic mixture of experts.

    The layout mirrors scikit-learn's ``LogisticRegression``: gate logits are
    ``X @ gate_coef.T + gate_intercept`` and expert ``k``'s class logits are
    ``X @ expert_coef[k].T + expert_intercept[k]``. The last expert and the
    last class are the references, with zero coefficients after
    :meth:`canonical`.

    Attributes
    ----------
    gate_coef : ndarray of shape (n_experts, n_features)
    gate_intercept : ndarray of shape (n_experts,)
    expert_coef : ndarray of shape (n_experts, n_classes, n_features)
    expert_intercept : ndarray of shape (n_experts, n_classes)
    """

    gate_coef: np.ndarray
    gate_intercept: np.ndarray
    expert_coef: np.ndarray
    expert_intercept: np.ndarray

    def __post_init__(self):
        K, d = np.shape(self.gate_coef)
        K2, M, d2 = np.shape(self.expert_coef)
        if (
            np.shape(self.gate_intercept) != (K,)
            or (K2, d2) != (K, d)
            or np.shape(self.expert_intercept) != (K, M)
        ):
            raise ValueError(
                "inconsistent parameter shapes: gate_coef (K, d), gate_intercept (K,), "
                "expert_coef (K, M, d), expert_intercept (K, M) expected, got "
                f"{np.shape(self.gate_coef)}, {np.shape(self.gate_intercept)}, "
                f"{np.shape(self.expert_coef)}, {np.shape(self.expert_intercept)}"
            )
        if M < 2:
            raise ValueError(f"an expert needs at least 2 classes, got {M}")

    @property
    def n_experts(self) -> int:
        return self.gate_coef.shape[0]

    @property
    def n_classes(self) -> int:
        return self.expert_coef.shape[1]

    @property
    def n_features(self) -> int:
        return self.gate_coef.shape[1]

    # -- conversions to and from design coordinates -------------------------

    def to_design(self, mean=None, scale=None) -> tuple[np.ndarray, np.ndarray]:
        """Free columns ``(gate_coef (q, K-1), expert_coef (K, q, M-1))``.

        For the design ``Z = [1, (X - mean) / scale]``; defaults are the raw
        features (``mean = 0``, ``scale = 1``).
        """
        mean = np.zeros(self.n_features) if mean is None else mean
        scale = np.ones(self.n_features) if scale is None else scale
        gate_slopes = self.gate_coef * scale  # (K, d)
        gate = np.vstack([self.gate_intercept + self.gate_coef @ mean, gate_slopes.T])
        expert_slopes = self.expert_coef * scale  # (K, M, d)
        experts = np.concatenate(
            [
                (self.expert_intercept + self.expert_coef @ mean)[:, None, :],
                expert_slopes.transpose(0, 2, 1),
            ],
            axis=1,
        )
        return _free_columns(gate), _free_columns(experts)

    @classmethod
    def from_design(cls, gate_coef, expert_coef, mean=None, scale=None, used=None) -> MoEParams:
        """Inverse of :meth:`to_design`.

        ``used`` marks the features that entered the design; the others (for
        example constant columns) get zero slopes.
        """
        gate = _with_zero_reference(gate_coef)  # (q, K)
        experts = _with_zero_reference(expert_coef)  # (K, q, M)
        n_used = gate.shape[0] - 1
        used = np.ones(n_used, dtype=bool) if used is None else np.asarray(used)
        d = used.size
        mean = np.zeros(d) if mean is None else mean
        scale = np.ones(d) if scale is None else scale
        gate_coef_user = np.zeros((gate.shape[1], d))
        gate_coef_user[:, used] = gate[1:].T / scale[used]
        expert_coef_user = np.zeros(experts.shape[:1] + experts.shape[2:] + (d,))
        expert_coef_user[:, :, used] = experts[:, 1:, :].transpose(0, 2, 1) / scale[used]
        return cls(
            gate_coef=gate_coef_user,
            gate_intercept=gate[0] - gate_coef_user @ mean,
            expert_coef=expert_coef_user,
            expert_intercept=experts[:, 0, :] - expert_coef_user @ mean,
        )

    # -- the model on raw features -------------------------------------------

    def _design(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.column_stack([np.ones(X.shape[0]), X])

    def log_class_proba(self, X) -> np.ndarray:
        """``log p(y = m | x)`` for every row of ``X``, shape ``(n, n_classes)``."""
        return model.log_class_proba(self._design(X), *self.to_design())

    def class_proba(self, X) -> np.ndarray:
        """``p(y = m | x)`` for every row of ``X``, shape ``(n, n_classes)``."""
        return np.exp(self.log_class_proba(X))

    def expert_proba(self, X) -> np.ndarray:
        """Every expert's class probabilities ``eta_k(m | x)``, ``(n, n_experts, n_classes)``."""
        return np.exp(model.log_experts(self._design(X), self.to_design()[1]))

    def responsibilities(self, X, codes) -> np.ndarray:
        """Posterior expert probabilities given class codes ``0 .. n_classes - 1``, ``(n, K)``."""
        Z = self._design(X)
        codes = np.asarray(codes)
        if codes.shape != (Z.shape[0],):
            raise ValueError(
                f"codes must be one per row of X ({Z.shape[0]}), got shape {codes.shape}"
            )
        # The model's functions index with the codes: anything else is refused here.
        valid = codes.dtype.kind in "iuf" and np.all(np.isin(codes, np.arange(self.n_classes)))
        if not valid:
            raise ValueError(f"codes must be integers in 0 .. {self.n_classes - 1}")
        return model.responsibilities(Z, codes.astype(np.intp), *self.to_design())

    def sample_labels(self, X, random_state=None) -> np.ndarray:
        """Draw one label ``0 .. n_classes - 1`` per row of ``X`` from ``p(y | x)``."""
        rng = np.random.default_rng(random_state)
        proba = self.class_proba(X)
        # Inverse-CDF draw; the clip guards the last class against rounding.
        y = (rng.random((proba.shape[0], 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
        return np.minimum(y, self.n_classes - 1)

    def gate_proba(self, X) -> np.ndarray:
        """Gate weights ``pi_k(x)``, shape ``(n, n_experts)``."""
        return np.exp(model.log_gate(self._design(X), self.to_design()[0]))

    def canonical(self, X, sample_weight=None) -> MoEParams:
        """Experts by decreasing mean gate weight over ``X``; references at zero.

        The gate is re-expressed against the new last expert, and every expert
        against its last class, so the model itself is unchanged.
        """
        return self.in_gate_order(self.gate_weight(X, sample_weight))

    def gate_weight(self, X, sample_weight=None) -> np.ndarray:
        """Every expert's gate weight summed over the rows of ``X`` (weighted if given)."""
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
        # By blocks of rows: no n x (1 + d + K) temporaries (design, gate) for a large X.
        size = model.rows_per_block(1 + X.shape[1] + self.n_experts)
        return sum(
            weights[rows] @ self.gate_proba(X[rows]) for rows in model.row_slices(X.shape[0], size)
        )

    def in_gate_order(self, gate_weight: np.ndarray) -> MoEParams:
        """Experts by decreasing ``gate_weight`` (their total gate weight over some rows); see :meth:`canonical`."""
        order = np.argsort(-np.asarray(gate_weight), kind="stable")
        gate_coef = self.gate_coef[order] - self.gate_coef[order][-1]
        gate_intercept = self.gate_intercept[order] - self.gate_intercept[order][-1]
        expert_coef = self.expert_coef[order] - self.expert_coef[order][:, -1:, :]
        expert_intercept = self.expert_intercept[order] - self.expert_intercept[order][:, -1:]
        return MoEParams(gate_coef, gate_intercept, expert_coef, expert_intercept)
