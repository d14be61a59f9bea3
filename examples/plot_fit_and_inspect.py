"""
Fit a mixture and look inside it
================================

Simulate two features and three classes from a mixture of three experts,
fit :class:`moelogit.MoEClassifier`, and draw what it learned: the
objective at every iteration (it never falls), the gate's partition of the
feature plane, and the predicted class.
"""

import matplotlib.pyplot as plt
import numpy as np

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification

X, y, truth = make_moe_classification(4000, n_features=2, n_experts=3, n_classes=3, random_state=0)
X_train, y_train, X_test, y_test = X[:3000], y[:3000], X[3000:], y[3000:]
model = MoEClassifier(n_experts=3, random_state=0).fit(X_train, y_train)

print(f"converged: {model.converged_} after {model.n_iter_} iterations")
print(f"test accuracy {model.score(X_test, y_test):.3f}")
print(f"test mean log-likelihood {model.loglik(X_test, y_test):.4f}")
true_proba = truth.class_proba(X_test)
print(
    f"mean |p_fit - p_true| on test {np.abs(model.predict_proba(X_test) - true_proba).mean():.4f}"
)
print("gate slopes (one row per expert, the last is the reference):")
print(model.gate_coef_.round(2))

# %%
# The objective trace and the two partitions
# ------------------------------------------
# ``gate_proba`` gives each row's weights over the experts; the expert with
# the largest weight colours the middle panel.

grid = np.linspace(-3, 3, 200)
xx, yy = np.meshgrid(grid, grid)
plane = np.column_stack([xx.ravel(), yy.ravel()])

fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
axes[0].plot(model.loglik_trace_)
axes[0].set(xlabel="iteration", ylabel="objective", title="Monotone ascent")
axes[1].contourf(
    xx,
    yy,
    model.gate_proba(plane).argmax(axis=1).reshape(xx.shape),
    levels=[-0.5, 0.5, 1.5, 2.5],
    cmap="Pastel1",
)
axes[1].set(xlabel="x1", ylabel="x2", title="Gate: the leading expert")
axes[2].contourf(
    xx,
    yy,
    model.predict(plane).reshape(xx.shape),
    levels=[-0.5, 0.5, 1.5, 2.5],
    cmap="Set2",
    alpha=0.6,
)
axes[2].scatter(*X_test[:300].T, c=y_test[:300], cmap="Set2", s=8, edgecolor="k", linewidth=0.2)
axes[2].set(xlabel="x1", ylabel="x2", title="Predicted class (dots: test rows)")
fig.tight_layout()
plt.show()
