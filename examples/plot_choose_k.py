"""
Choose the number of experts with the dendrogram
================================================

Fit once with too many experts, read the smaller models off the dendrogram
of the fitted mixing measure, and pick the size that minimises the
dendrogram selection criterion (DSC). See :ref:`choosing-k`.
"""

import matplotlib.pyplot as plt

from moelogit import select_n_experts
from moelogit.datasets import make_moe_classification
from moelogit.plotting import plot_criterion, plot_dendrogram

X, y, truth = make_moe_classification(
    2000,
    n_features=3,
    n_experts=3,
    n_classes=3,
    min_gate_weight=0.15,
    min_expert_distance=0.2,
    random_state=5,
)
result = select_n_experts(X, y, max_experts=4)

print(f"true number of experts {truth.n_experts}, DSC chose {result.n_experts_}")
for k, crit, ll, h in zip(result.sizes_, result.criterion_, result.loglik_, result.heights_):
    print(f"  k={k}: criterion {crit:9.3f}   mean log-likelihood {ll:.5f}   height {h:.4f}")

# %%
# The dendrogram of the over-fitted fit, and the criterion along the path
# -----------------------------------------------------------------------

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
plot_dendrogram(result, ax=axes[0])
plot_criterion(result, ax=axes[1])
fig.tight_layout()
plt.show()
