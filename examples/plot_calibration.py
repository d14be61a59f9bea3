"""
Calibration against logistic regression
=======================================

On two-class data from a mixture of three experts, compare the predicted
probabilities of a mixture and of a logistic regression with what
happens: reliability curves, expected calibration error (ECE) and log loss
on held-out rows.
"""

import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.metrics import binary_metrics, reliability_curve

X, y, truth = make_moe_classification(8000, n_features=3, n_experts=3, n_classes=2, random_state=4)
X_train, y_train, X_test, y_test = X[:4000], y[:4000], X[4000:], y[4000:]

models = {
    "mixture, 3 experts": MoEClassifier(n_experts=3, random_state=0),
    "logistic regression": LogisticRegression(),
}
fig, ax = plt.subplots(figsize=(5, 4.5))
ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
for name, model in models.items():
    proba = model.fit(X_train, y_train).predict_proba(X_test)[:, 1]
    scores = binary_metrics(y_test, proba)
    print(
        f"{name:20s} ECE {scores['ece']:.3f}  log loss {scores['log_loss']:.3f}"
        f"  accuracy {scores['accuracy']:.3f}"
    )
    mean, frequency, counts = reliability_curve(y_test, proba, n_bins=10)
    used = counts > 0
    ax.plot(mean[used], frequency[used], marker="o", label=f"{name} (ECE {scores['ece']:.3f})")
truth_scores = binary_metrics(y_test, truth.class_proba(X_test)[:, 1])
print(f"{'the truth':20s} ECE {truth_scores['ece']:.3f}  log loss {truth_scores['log_loss']:.3f}")
ax.set(
    xlabel="mean predicted probability",
    ylabel="observed frequency",
    title="Reliability on held-out rows",
    xlim=(0, 1),
    ylim=(0, 1),
)
ax.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
