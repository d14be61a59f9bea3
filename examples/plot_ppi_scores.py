"""
Scoring protein pairs
=====================

Train :class:`moelogit.ppi.PPIPredictor` on labelled pairs and score new
ones from their sequences. The sequences here are random, made in the
script: proteins rich in the same half of the alphabet "interact", with a
tenth of the labels flipped. Real data come from files
(:func:`moelogit.datasets.ppi.load_ppi`); see the PPI guide page.
"""

import matplotlib.pyplot as plt
import numpy as np

from moelogit.ppi import PPIPredictor

AMINO = list("ACDEFGHIKLMNPQRSTVWY")
rng = np.random.default_rng(0)
n_proteins = 60
halves = rng.integers(0, 2, n_proteins)
sequences = {
    f"P{i}": "".join(rng.choice(AMINO[:12] if h else AMINO[8:], rng.integers(40, 120)))
    for i, h in enumerate(halves)
}


def draw_pairs(n, proteins):
    index = np.array([rng.choice(proteins, 2, replace=False) for _ in range(n)])
    labels = (halves[index[:, 0]] == halves[index[:, 1]]).astype(int)
    flip = rng.random(n) < 0.1
    labels[flip] = 1 - labels[flip]
    return np.char.add("P", index.astype(str)), labels


# Train on pairs of the first 45 proteins; test on pairs of seen proteins
# and on pairs of the 15 proteins never seen in training.
pairs, labels = draw_pairs(400, np.arange(45))
seen_pairs, seen_labels = draw_pairs(200, np.arange(45))
new_pairs, new_labels = draw_pairs(100, np.arange(45, 60))

model = PPIPredictor(("aac", "ac"), max_lag=5, max_experts=3, n_init=2, max_iter=100)
model.fit(pairs, labels, sequences)
print(f"experts chosen by the DSC: {model.n_experts_}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, (title, p, lab) in zip(
    axes,
    [
        ("pairs of proteins seen in training", seen_pairs, seen_labels),
        ("pairs of unseen proteins", new_pairs, new_labels),
    ],
):
    proba = model.predict_proba(p, sequences)
    seen = model.proteins_in_training(p)
    accuracy = np.mean((proba >= 0.5) == lab)
    print(
        f"{title}: accuracy {accuracy:.3f}, proteins in training per pair {np.bincount(seen, minlength=3)}"
    )
    bins = np.linspace(0, 1, 21)
    ax.hist(proba[lab == 0], bins=bins, alpha=0.6, label="label 0")
    ax.hist(proba[lab == 1], bins=bins, alpha=0.6, label="label 1")
    ax.set(xlabel="predicted interaction probability", title=f"{title}\naccuracy {accuracy:.2f}")
axes[0].set_ylabel("pairs")
axes[0].legend()

# %%
# Predictions do not depend on the order of a pair.
assert np.allclose(
    model.predict_proba(new_pairs, sequences), model.predict_proba(new_pairs[:, ::-1], sequences)
)
fig.tight_layout()
plt.show()
