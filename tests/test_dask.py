"""Dask data: the same fits, predictions and selections as in memory, on a LocalCluster.

A cluster of 2 single-threaded worker processes is started once for the
module; data are small, cut into several chunks, so that every full-data
stage of a fit runs as a reduction over chunks held by the workers.
"""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from moelogit import MoEClassifier, select_n_experts
from moelogit.chunked import ChunkReduction, gather_samples, positive_counts
from moelogit.cli import main
from moelogit.datasets import make_moe_classification
from moelogit.engine import FitListener
from moelogit.mm import DENSE_GRAM_MAX_COLUMNS, BohningMM
from moelogit.model import Dims, objective_and_gradient, pack, unpack

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        yield client


@pytest.fixture(scope="module")
def data(client):
    X, y, _ = make_moe_classification(3000, 3, 2, 3, random_state=4)
    # Held by the workers, as a user persists data the cluster's memory holds.
    chunks = client.persist([da.from_array(X, chunks=(700, 3)), da.from_array(y, chunks=700)])
    return X, y, *chunks


def test_chunk_reduction_sums_like_the_serial_one(client):
    rng = np.random.default_rng(0)
    Z = np.column_stack([np.ones(2500), rng.normal(size=(2500, 4))])
    y, w = rng.integers(0, 3, 2500), np.full(2500, 1 / 2500)
    dims = Dims(5, 3, 3)
    theta = rng.normal(size=dims.n_params)
    expected = objective_and_gradient(Z, y, w, *unpack(theta, dims), 0.1)
    chunked = objective_and_gradient(
        da.from_array(Z, chunks=(600, 5)), da.from_array(y, chunks=600),
        da.from_array(w, chunks=600), *unpack(theta, dims), 0.1, reduction=ChunkReduction(),
    )  # fmt: skip
    assert chunked[0] == pytest.approx(expected[0], rel=1e-13)
    np.testing.assert_allclose(chunked[1], expected[1], rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(chunked[2], expected[2], rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("curvature", ["expert", "fixed"])
@pytest.mark.parametrize("d", [2, 10])  # exact per-expert Gram matrices, and the floored bound
def test_the_mm_map_on_chunks_is_the_map_in_memory(client, curvature, d):
    rng = np.random.default_rng(d)
    Z = np.column_stack([np.ones(1800), rng.normal(size=(1800, d))])
    y, w = rng.integers(0, 2, 1800), rng.uniform(0, 1, 1800)
    w /= w.sum()
    dims = Dims(d + 1, 3, 2)
    theta = rng.normal(size=dims.n_params)
    memory = BohningMM(Z, y, w, dims, alpha=0.01, curvature=curvature)
    chunks = BohningMM(
        da.from_array(Z, chunks=(500, d + 1)), da.from_array(y, chunks=500),
        da.from_array(w, chunks=500), dims, alpha=0.01, curvature=curvature,
        reduction=ChunkReduction(),
    )  # fmt: skip
    (step, value), (chunk_step, chunk_value) = memory(theta), chunks(theta)
    assert chunk_value == pytest.approx(value, rel=1e-13)
    if curvature == "expert" and d > DENSE_GRAM_MAX_COLUMNS:
        # On chunks the floors are the last evaluation's (one pass): an ascent
        # all the same, and at the same point again the very step in memory.
        assert chunks.objective(chunk_step) >= chunk_value
        chunk_step, _ = chunks(theta)
    np.testing.assert_allclose(chunk_step, step, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(chunks.hessian(theta), memory.hessian(theta), rtol=1e-9, atol=1e-12)


def test_the_same_start_gives_the_same_fit(client, data):
    """Dask data from a warm start: the objective to 1e-9, coefficients to 1e-6."""
    X, y, X_chunks, y_chunks = data
    start = MoEClassifier(2, n_init=3, max_iter=30, random_state=1).fit(X, y).params_
    settings = dict(init=start, screen_rows=500, tol=1e-12, max_iter=3000)
    memory = MoEClassifier(2, **settings).fit(X, y)
    chunked = MoEClassifier(2, **settings).fit(X_chunks, y_chunks)
    assert chunked.objective_ == pytest.approx(memory.objective_, rel=1e-9)
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(memory, name), atol=1e-6)
    np.testing.assert_allclose(chunked.feature_scale_, memory.feature_scale_, rtol=1e-13)
    np.testing.assert_allclose(chunked.class_prior_, memory.class_prior_, rtol=1e-13)
    assert chunked.converged_ and memory.converged_


def test_a_gate_and_experts_on_features_of_their_own_on_chunks(client, data):
    X, y, X_chunks, y_chunks = data
    settings = dict(gate_features=[0], expert_features=[1, 2], screen_rows=1000, random_state=0)
    memory = MoEClassifier(2, **settings).fit(X, y)
    chunked = MoEClassifier(2, **settings).fit(X_chunks, y_chunks)
    assert chunked.objective_ == pytest.approx(memory.objective_, abs=1e-6)
    assert np.all(chunked.gate_coef_[:, 1:] == 0) and np.all(chunked.expert_coef_[:, :, 0] == 0)
    assert chunked.n_parameters() == memory.n_parameters() == 2 + 2 * 3 * 2


def test_a_default_fit_on_chunks_reaches_the_in_memory_optimum(client, data):
    X, y, X_chunks, y_chunks = data
    memory = MoEClassifier(2, screen_rows=1000, random_state=0).fit(X, y)
    chunked = MoEClassifier(2, screen_rows=1000, random_state=0).fit(X_chunks, y_chunks)
    # Other row samples, so other screened starts: the same optimum all the same.
    assert chunked.objective_ == pytest.approx(memory.objective_, abs=1e-6)
    # ... reached through the samples: screening, then all rows by chunks.
    assert chunked.n_iter_ > 1


def test_predictions_are_lazy_and_equal_to_those_in_memory(client, data):
    X, y, X_chunks, y_chunks = data
    model = MoEClassifier(2, n_init=3, random_state=0).fit(X, y)
    proba = model.predict_proba(X_chunks)
    assert isinstance(proba, da.Array) and proba.chunks[0] == X_chunks.chunks[0]
    np.testing.assert_allclose(proba.compute(), model.predict_proba(X), rtol=1e-14)
    prior = {0: 0.2, 1: 0.3, 2: 0.5}
    np.testing.assert_allclose(
        model.predict_proba(X_chunks, prior).compute(), model.predict_proba(X, prior), rtol=1e-14
    )
    np.testing.assert_array_equal(model.predict(X_chunks).compute(), model.predict(X))
    np.testing.assert_allclose(model.gate_proba(X_chunks).compute(), model.gate_proba(X))
    np.testing.assert_allclose(
        model.responsibilities(X_chunks, y_chunks).compute(), model.responsibilities(X, y)
    )
    assert model.loglik(X_chunks, y_chunks) == pytest.approx(model.loglik(X, y), rel=1e-13)
    assert model.score(X_chunks, y_chunks) == pytest.approx(model.score(X, y), rel=1e-13)
    weights = np.linspace(0.5, 2.0, len(y))
    assert model.loglik(X_chunks, y_chunks, weights) == pytest.approx(
        model.loglik(X, y, weights), rel=1e-13
    )


def test_a_dataframe_with_a_label_column(client, data):
    X, y, _, _ = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=np.array(["u", "v", "w"])[y])
    chunked = dd.from_pandas(frame, npartitions=4)
    settings = dict(n_init=3, screen_rows=800, random_state=0)
    model = MoEClassifier(2, **settings).fit(chunked, "label")
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert list(model.classes_) == ["u", "v", "w"]
    features = chunked.drop(columns="label")
    np.testing.assert_allclose(
        model.predict_proba(features).compute(), model.predict_proba(frame[["a", "b", "c"]])
    )
    with pytest.raises(ValueError, match="not the features"):
        model.predict_proba(features[["b", "a", "c"]])


def test_selection_picks_the_same_number_of_experts(client):
    X, y, _ = make_moe_classification(2000, 2, 2, 2, coef_scale=4.0, random_state=3)
    chunks = client.persist([da.from_array(X, chunks=(700, 2)), da.from_array(y, chunks=700)])
    template = MoEClassifier(screen_rows=600, n_init=3, random_state=0)
    for method, largest in (("dsc", 3), ("bic", 2)):
        memory = select_n_experts(X, y, largest, method, estimator=template)
        chunked = select_n_experts(*chunks, largest, method, estimator=template)
        assert chunked.n_experts_ == memory.n_experts_ == 2
    # The estimator's own selection takes the same path.
    chosen = clone(template).set_params(n_experts="dsc", max_experts=3).fit(*chunks)
    assert chosen.n_experts_ == 2 and chosen.selection_.method == "dsc"


def test_a_chunk_with_nan_is_named(client, data):
    X, y, _, y_chunks = data
    bad = X.copy()
    bad[1500, 2] = np.inf
    with pytest.raises(ValueError, match=r"chunk 3 of 5 \(rows 1400 to 2099\)"):
        MoEClassifier(2).fit(da.from_array(bad, chunks=(700, 3)), y_chunks)
    model = MoEClassifier(2, n_init=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="rows 1400 to 2099"):
        model.predict_proba(da.from_array(bad, chunks=(700, 3))).compute()


def test_bad_dask_input(client, data):
    X, y, X_chunks, y_chunks = data
    with pytest.raises(ValueError, match="sample_weight contains negative"):
        MoEClassifier(2).fit(X_chunks, y_chunks, sample_weight=np.r_[-1.0, np.ones(len(y) - 1)])
    with pytest.raises(ValueError, match="screen_rows=None"):
        MoEClassifier(2, screen_rows=None).fit(X_chunks, y_chunks)
    with pytest.raises(ValueError, match=r"y has shape \(2999,\)"):
        MoEClassifier(2).fit(X_chunks, y_chunks[1:])
    with pytest.raises(ValueError, match="at least 2 classes"):
        MoEClassifier(2).fit(X_chunks, da.zeros(len(y), chunks=700))
    with pytest.raises(ValueError, match="continuous"):
        MoEClassifier(2).fit(X_chunks, X_chunks[:, 0])
    with pytest.raises(TypeError, match="only when X is a Dask DataFrame"):
        MoEClassifier(2).fit(X_chunks, "label")
    model = MoEClassifier(2, n_init=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="labels not seen in fit"):
        model.loglik(X_chunks, y_chunks + 7)
    with pytest.raises(ValueError, match="fitted on 3"):
        model.predict(X_chunks[:, :2])


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    screen=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_gathered_samples_are_nested_and_of_the_asked_sizes(sizes, screen, seed):
    with dask.config.set(scheduler="synchronous"):  # the sampling's arithmetic, quickly
        check_gathered_samples(sizes, screen, seed)


def check_gathered_samples(sizes, screen, seed):
    n = sum(sizes)
    weights = np.random.default_rng(seed).integers(0, 2, n).astype(float)
    positive = int(np.count_nonzero(weights))
    if positive < 2 * screen:
        return
    chunks = tuple(size for size in sizes if size) or (1,)
    Z = np.arange(n, dtype=float)[:, None]
    arrays = [da.from_array(a, chunks=chunks[0] if a.ndim == 1 else (chunks, 1))
              for a in (Z, np.arange(n), weights)]  # fmt: skip
    arrays = [array.rechunk((chunks,) + ((1,),) * (array.ndim - 1)) for array in arrays]
    counts = positive_counts(arrays[2])
    assert counts.sum() == positive
    wanted = [screen, 2 * screen] if 2 * screen <= positive else [screen]
    samples = gather_samples(*arrays, counts, wanted, np.random.RandomState(seed))
    rows = [set(sample[1].tolist()) for sample in samples]
    for sample, size, taken in zip(samples, wanted, rows):
        assert len(taken) == size == sample[0].shape[0]
        assert np.all(weights[sample[1]] > 0)  # rows of positive weight only
        assert np.all(np.diff(sample[1]) > 0)  # in the rows' order
        assert sample[2].sum() == pytest.approx(1.0)
    assert rows[0] <= rows[-1]


def test_samples_are_uniform_over_chunks():
    with dask.config.set(scheduler="synchronous"):  # 200 draws, quickly
        check_uniform_samples()


def check_uniform_samples():
    weights = np.ones(1000)
    chunked = da.from_array(weights, chunks=(100, 300, 600))
    counts = positive_counts(chunked)
    rng = np.random.RandomState(0)
    hits = np.zeros(1000)
    index = da.from_array(np.arange(1000), chunks=(100, 300, 600))
    Z = da.from_array(np.zeros((1000, 1)), chunks=((100, 300, 600), 1))
    for _ in range(200):
        (sample,) = gather_samples(Z, index, chunked, counts, [50], rng)
        hits[sample[1]] += 1
    # Every row has probability 50/1000 per draw: 10 of 200 expected.
    shares = [hits[:100].mean(), hits[100:400].mean(), hits[400:].mean()]
    np.testing.assert_allclose(shares, 10.0, rtol=0.15)


def test_the_command_line_on_a_folder_of_parquet_parts(tmp_path):
    X, y, _ = make_moe_classification(1500, 3, 2, 2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["label"] = np.array(["no", "yes"])[y]
    frame["id"] = [f"{i:05d}" for i in range(len(frame))]
    (tmp_path / "parts").mkdir()
    for i in range(3):
        frame.iloc[i * 500 : (i + 1) * 500].to_parquet(tmp_path / "parts" / f"p{i}.parquet")
    runner = CliRunner()
    model_path, out = tmp_path / "m.zip", tmp_path / "predictions"
    fitted = runner.invoke(main, [
        "fit", str(tmp_path / "parts"), "--label", "label", "--id", "id", "--n-experts", "2",
        "--n-init", "3", "--scheduler", "local:2", "-o", str(model_path), "--quiet",
    ])  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    assert "Fitted 2 experts to 1500 rows, 3 features, 2 classes" in fitted.output
    predicted = runner.invoke(main, [
        "predict", str(model_path), str(tmp_path / "parts"), "--id", "id",
        "--scheduler", "local:2", "-o", str(out),
    ])  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    result = pd.read_parquet(out)
    assert list(result.columns) == ["id", "proba_no", "proba_yes", "predicted"]
    assert result["id"].tolist() == frame["id"].tolist()
    single = runner.invoke(main, ["predict", str(model_path), str(tmp_path / "parts" / "p1.parquet"),
                                  "-o", str(tmp_path / "one.csv")])  # fmt: skip
    assert single.exit_code == 0, single.output
    in_memory = pd.read_csv(tmp_path / "one.csv")
    np.testing.assert_allclose(in_memory["proba_yes"], result["proba_yes"][500:1000], rtol=1e-12)
    refused = runner.invoke(main, ["predict", str(model_path), str(tmp_path / "parts"), "-o",
                                   str(tmp_path / "x.csv")])  # fmt: skip
    assert refused.exit_code != 0 and "is a folder" in refused.output
    assert not (tmp_path / "x.csv").exists()
    # A missing label stays missing (not the text "nan"): an error, nothing written.
    frame.loc[[7, 8], "label"] = None
    frame.iloc[:500].to_parquet(tmp_path / "parts" / "p0.parquet")
    unlabelled = runner.invoke(main, [
        "fit", str(tmp_path / "parts"), "--label", "label", "--id", "id",
        "--scheduler", "local:1", "-o", str(tmp_path / "m2.zip"),
    ])  # fmt: skip
    assert unlabelled.exit_code != 0
    assert "2 rows of" in unlabelled.output and "no label in 'label'" in unlabelled.output
    assert not (tmp_path / "m2.zip").exists()


async def _exit_now():  # a coroutine: client.run need not wait for an answer
    import os

    os._exit(1)


class KillAWorker(FitListener):
    """Kills one worker process at the final run's third iteration."""

    def __init__(self, client):
        self.client, self.killed = client, None

    def iteration(self, stage, iteration, value):
        if stage == "final" and iteration == 3 and not self.killed:
            self.killed = sorted(self.client.scheduler_info()["workers"])[0]
            self.client.run(_exit_now, workers=[self.killed], wait=False)


def test_a_worker_lost_during_a_fit_is_replaced_and_the_fit_completes(client, data):
    X, y, X_chunks, y_chunks = data
    start = MoEClassifier(2, n_init=3, max_iter=30, random_state=1).fit(X, y).params_
    settings = dict(init=start, screen_rows=500, tol=1e-12, max_iter=3000)
    memory = MoEClassifier(2, **settings).fit(X, y)
    killer = KillAWorker(client)
    chunked = MoEClassifier(2, **settings).fit(X_chunks, y_chunks, listener=killer)
    assert killer.killed
    assert chunked.objective_ == pytest.approx(memory.objective_, rel=1e-9)
    client.wait_for_workers(2, timeout=60)  # its nanny started a new one
    assert killer.killed not in client.scheduler_info()["workers"]
