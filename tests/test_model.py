"""The model's mathematics: probabilities, likelihood, gradient, invariances."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from moelogit import model
from moelogit.model import Dims, pack, unpack
from moelogit.params import MoEParams

from .conftest import random_problem


def naive_probabilities(Z, gate_coef, expert_coef):
    """Textbook formulas with explicit exp: only for moderate logits."""
    W = np.column_stack([gate_coef, np.zeros(Z.shape[1])])
    gate = np.exp(Z @ W)
    gate /= gate.sum(axis=1, keepdims=True)
    experts = []
    for V in expert_coef:
        V = np.column_stack([V, np.zeros(Z.shape[1])])
        eta = np.exp(Z @ V)
        experts.append(eta / eta.sum(axis=1, keepdims=True))
    return gate, np.stack(experts, axis=1)  # (n, K), (n, K, M)


@pytest.mark.parametrize("seed", range(3))
def test_probabilities_match_textbook_formulas(seed):
    Z, y, w, dims, theta = random_problem(seed, K=4, M=3)
    g, e = unpack(theta, dims)
    gate, experts = naive_probabilities(Z, g, e)
    np.testing.assert_allclose(np.exp(model.log_gate(Z, g)), gate, rtol=1e-12)
    np.testing.assert_allclose(np.exp(model.log_experts(Z, e)), experts, rtol=1e-12)
    mixture = np.einsum("nk,nkm->nm", gate, experts)
    np.testing.assert_allclose(np.exp(model.log_class_proba(Z, g, e)), mixture, rtol=1e-12)
    own = mixture[np.arange(len(y)), y]
    assert model.mean_loglik(Z, y, w, g, e) == pytest.approx(w @ np.log(own), rel=1e-12)
    joint = gate * experts[np.arange(len(y)), :, y]
    np.testing.assert_allclose(
        model.responsibilities(Z, y, g, e), joint / joint.sum(axis=1, keepdims=True), rtol=1e-12
    )


@pytest.mark.parametrize("q", [2, 64, 70])
def test_one_product_and_two_give_the_same_log_likelihood_and_gradient(q, monkeypatch):
    Z, y, w, dims, theta = random_problem(5, n=300, d=q - 1, K=3, M=4, scale=0.1)
    g, e = unpack(theta, dims)
    results = []
    for threshold in (1, 10**9):  # always fused, never fused
        monkeypatch.setattr(model, "FUSED_PRODUCT_MIN_COLUMNS", threshold)
        value, *grad = model.objective_and_gradient(Z, y, w, g, e, 0.1)
        results.append(np.concatenate([[value], pack(*grad)]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("K,M", [(3, 2), (1, 4), (4, 3)])
def test_wide_designs_use_one_product_with_the_same_values(K, M):
    # From FUSED_PRODUCT_MIN_COLUMNS columns on, gate and expert logits come
    # from one product: the likelihood, responsibilities and gradient must
    # still be the textbook ones.
    d = model.FUSED_PRODUCT_MIN_COLUMNS + 5
    Z, y, w, dims, theta = random_problem(4, n=300, d=d, K=K, M=M, scale=0.1)
    g, e = unpack(theta, dims)
    gate, experts = naive_probabilities(Z, g, e)
    own = np.einsum("nk,nk->n", gate, experts[np.arange(len(y)), :, y])
    assert model.mean_loglik(Z, y, w, g, e) == pytest.approx(w @ np.log(own), rel=1e-12)
    joint = gate * experts[np.arange(len(y)), :, y]
    np.testing.assert_allclose(
        model.responsibilities(Z, y, g, e), joint / joint.sum(axis=1, keepdims=True), rtol=1e-10
    )
    _, *grad = model.objective_and_gradient(Z, y, w, g, e)
    fd = approx_fprime(theta, lambda t: model.objective(Z, y, w, *unpack(t, dims)), 1e-6)
    np.testing.assert_allclose(pack(*grad), fd, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "seed,K,M,alpha", [(0, 3, 3, 0.0), (1, 2, 4, 0.5), (2, 5, 2, 0.1), (3, 1, 3, 0.0)]
)
def test_gradient_matches_finite_differences(seed, K, M, alpha):
    Z, y, w, dims, theta = random_problem(seed, n=150, d=4, K=K, M=M)

    def f(t):
        return model.objective(Z, y, w, *unpack(t, dims), alpha=alpha)

    analytic = pack(*model.gradient(Z, y, w, *unpack(theta, dims), alpha=alpha))
    # Central differences: error O(h^2) ~ 1e-12, far below the 1e-6 bar.
    h = 1e-6
    numeric = np.array(
        [(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    )
    rel_err = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
    assert rel_err < 1e-6
    # And scipy's forward differences agree to their own (coarser) accuracy.
    assert np.linalg.norm(analytic - approx_fprime(theta, f, 1e-7)) / np.linalg.norm(numeric) < 1e-4


def test_huge_logits_stay_finite():
    Z, y, w, dims, theta = random_problem(0, n=50, K=3, M=4)
    theta = 1e4 * np.sign(theta)  # logits of order 1e4 and beyond
    g, e = unpack(theta, dims)
    assert np.max(np.abs(Z @ g)) > 1e4  # logits far beyond exp overflow (~709)
    log_proba = model.log_class_proba(Z, g, e)
    assert np.all(np.isfinite(log_proba)) and np.all(log_proba <= 0)
    np.testing.assert_allclose(np.exp(log_proba).sum(axis=1), 1.0, rtol=1e-12)
    assert np.isfinite(model.objective(Z, y, w, g, e, alpha=1.0))
    grads = model.gradient(Z, y, w, g, e, alpha=1.0)
    assert all(np.all(np.isfinite(G)) for G in grads)
    tau = model.responsibilities(Z, y, g, e)
    assert np.all(np.isfinite(tau))
    np.testing.assert_allclose(tau.sum(axis=1), 1.0)


def test_pack_unpack_roundtrip():
    dims = Dims(4, 3, 5)
    theta = np.arange(dims.n_params, dtype=float)
    g, e = unpack(theta, dims)
    assert g.shape == (4, 2) and e.shape == (3, 4, 4)
    np.testing.assert_array_equal(pack(g, e), theta)


def test_relabelling_and_reference_change_leave_model_and_ridge_unchanged():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 3))
    Z = np.column_stack([np.ones(100), X])
    params = MoEParams(
        gate_coef=rng.normal(size=(4, 3)),
        gate_intercept=rng.normal(size=4),
        expert_coef=rng.normal(size=(4, 3, 3)),
        expert_intercept=rng.normal(size=(4, 3)),
    )  # no zero references: to_design re-references
    canonical = params.canonical(X)
    np.testing.assert_allclose(canonical.class_proba(X), params.class_proba(X), rtol=1e-12)
    np.testing.assert_allclose(canonical.gate_coef[-1], 0.0)
    np.testing.assert_allclose(canonical.expert_coef[:, -1], 0.0)
    mean_gate = canonical.gate_proba(X).mean(axis=0)
    assert np.all(np.diff(mean_gate) <= 0)
    for alpha in (0.0, 0.7):
        before = model.objective(
            Z, np.zeros(100, int), np.full(100, 0.01), *params.to_design(), alpha
        )
        after = model.objective(
            Z, np.zeros(100, int), np.full(100, 0.01), *canonical.to_design(), alpha
        )
        assert after == pytest.approx(before, rel=1e-12)


def test_ridge_matches_sklearn_multinomial_penalty():
    # For one expert, the symmetric ridge is sum over classes of squared slopes
    # after centring, the penalty scikit-learn's multinomial model minimises.
    rng = np.random.default_rng(0)
    slopes = rng.normal(size=(3, 4))  # (M, d) full class slopes
    slopes -= slopes.mean(axis=0)  # the centred representative
    expert_coef = np.vstack([np.zeros((1, 3)), (slopes - slopes[-1]).T])[None, :, :2]
    assert model.ridge_penalty(np.zeros((5, 0)), expert_coef, 2.0) == pytest.approx(
        np.sum(slopes**2)
    )


def test_user_scale_round_trip():
    rng = np.random.default_rng(1)
    mean, scale = rng.normal(size=3), rng.random(3) + 0.5
    g, e = rng.normal(size=(4, 2)), rng.normal(size=(3, 4, 3))
    params = MoEParams.from_design(g, e, mean, scale)
    g2, e2 = params.to_design(mean, scale)
    np.testing.assert_allclose(g2, g, atol=1e-12)
    np.testing.assert_allclose(e2, e, atol=1e-12)
    X = rng.normal(size=(20, 3))
    Zs = np.column_stack([np.ones(20), (X - mean) / scale])
    np.testing.assert_allclose(
        params.log_class_proba(X), model.log_class_proba(Zs, g, e), atol=1e-12
    )


def test_inconsistent_param_shapes_raise():
    with pytest.raises(ValueError, match="inconsistent parameter shapes"):
        MoEParams(np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3, 4)), np.zeros((2, 3)))


@pytest.mark.parametrize("block_rows", [1, 7, 64, 200])
def test_objective_and_gradient_by_blocks_equal_one_pass(problem, block_rows):
    Z, y, w, dims, theta = problem
    gate_coef, expert_coef = unpack(theta, dims)
    blocks = [slice(s, s + block_rows) for s in range(0, Z.shape[0], block_rows)]
    visited = []

    def extra(parts, rows, estep, workspace):
        visited.append(rows)
        return (estep.resp.sum(axis=1),)

    value, grad_gate, grad_experts, (resp_sum,) = model.objective_and_gradient(
        Z,
        y,
        w,
        gate_coef,
        expert_coef,
        0.3,
        blocks=lambda n: blocks,
        extra=extra,
    )
    assert visited == blocks
    resp = model.responsibilities(Z, y, gate_coef, expert_coef)
    np.testing.assert_allclose(resp_sum, resp.sum(axis=0), rtol=1e-12)
    assert value == pytest.approx(model.objective(Z, y, w, gate_coef, expert_coef, 0.3), rel=1e-12)
    expected = model.gradient(Z, y, w, gate_coef, expert_coef, alpha=0.3)
    np.testing.assert_allclose(grad_gate, expected[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad_experts, expected[1], rtol=1e-10, atol=1e-14)


def test_row_blocks_cover_every_row_once():
    dims = model.Dims(5, 8, 2)
    for n in (1, 1000, 16_384, 100_001):
        blocks = model.row_blocks(n, dims)
        covered = np.concatenate([np.arange(n)[rows] for rows in blocks])
        np.testing.assert_array_equal(covered, np.arange(n))


def test_rows_per_block_respects_the_budget_and_gives_at_least_one_row():
    for values in (0, 1, 3, 1000, 2**20, 2**20 + 1, 10**12):
        for budget in (1, 100, 2**18, model.MEMORY_BLOCK_ELEMENTS):
            rows = model.rows_per_block(values, budget)
            assert rows >= 1
            assert rows * values <= budget or rows == 1  # one row may exceed it
            assert (rows + 1) * max(values, 1) > budget  # and no row more fits
    assert model.rows_per_block(2**20) == 1 and model.rows_per_block(2**19) == 2
    assert model.rows_per_block(10**6, at_least=1024) == 1024
    # The fit's blocks: as many of M K values a row in BLOCK_ELEMENTS (at
    # least 1,024 rows) as fit whole, evened out.
    assert model.rows_per_block(16, model.BLOCK_ELEMENTS, at_least=1024) == 8_192
    assert model.row_blocks(50_000, model.Dims(5, 8, 2))[0] == slice(0, 8_333)  # 6 blocks
    assert model.row_blocks(10_000, model.Dims(5, 8, 2)) == [slice(0, 10_000)]
    assert model.row_blocks(5_000, model.Dims(5, 300, 2))[0] == slice(0, 1_250)  # 4 of 1,024
    assert model.row_blocks(0, model.Dims(5, 8, 2)) == []
    # An odd number above one becomes even, for two threads' equal runs:
    # 100,000 rows of 15 values at 8,738 a block made 11 blocks.
    assert len(model.row_blocks(100_000, model.Dims(21, 5, 3))) == 12
    assert len(model.row_blocks(3 * 8_192, model.Dims(5, 8, 2))) == 4  # three quarters
    assert len(model.row_blocks(2 * 8_192 - 1, model.Dims(5, 8, 2))) == 1


def test_a_workspace_keeps_one_contiguous_buffer_a_name_for_shapes_of_any_size():
    workspace = model.Workspace()
    large = workspace("logits", (3, 5, 100))
    small = workspace("logits", (3, 5, 99))  # the next block, a row shorter
    assert small.flags.c_contiguous and small.shape == (3, 5, 99)
    assert np.shares_memory(small, large)  # no second set of arrays
    assert not np.shares_memory(workspace("other", (3, 5, 99)), large)
    larger = workspace("logits", (3, 5, 101))  # grows once where needed
    assert larger.shape == (3, 5, 101) and not np.shares_memory(larger, large)
    assert np.shares_memory(workspace("logits", (2, 2)), larger)
    single = workspace("logits", (3, 5, 99), np.float32)  # rows in single precision
    assert single.dtype == np.float32 and not np.shares_memory(single, larger)
    assert workspace("logits", (3, 5, 99)).dtype == np.float64


@pytest.mark.parametrize("n", [3000, 50_000])  # one row block; several
def test_single_precision_rows_give_the_objective_to_single_precision_summed_in_double(n):
    Z, y, w, dims, theta = random_problem(4, n=n, d=6, K=3, M=3, scale=2.0)
    gate_coef, expert_coef = model.unpack(theta, dims)
    value, grad_gate, grad_experts = model.objective_and_gradient(
        Z, y, w, gate_coef, expert_coef, 0.01
    )
    single = model.objective_and_gradient(
        Z.astype(np.float32), y, w.astype(np.float32), gate_coef, expert_coef, 0.01
    )
    assert single[0] == pytest.approx(value, rel=1e-6)
    for ours, exact in zip(single[1:], (grad_gate, grad_experts)):
        assert ours.dtype == np.float64  # the blocks' terms summed in double
        np.testing.assert_allclose(ours, exact, rtol=1e-4, atol=1e-6 * np.abs(exact).max())


@given(st.integers(0, 200_000), st.integers(1, 400), st.integers(2, 6))
def test_row_blocks_cover_the_rows_in_even_blocks_of_at_least_a_budget(n_rows, K, M):
    blocks = model.row_blocks(n_rows, model.Dims(3, K, M))
    size = model.rows_per_block(K * M, model.BLOCK_ELEMENTS, at_least=1024)
    assert [row for rows in blocks for row in range(n_rows)[rows]] == list(range(n_rows))
    lengths = [rows.stop - rows.start for rows in blocks]
    assert max(lengths, default=0) - min(lengths, default=0) <= 1
    assert all(length < 2 * size for length in lengths)
    assert len(blocks) <= 1 or len(blocks) % 2 == 0  # two threads' equal runs
    if n_rows >= size:  # at least size rows, but where an odd count was made even
        least = size if n_rows // size in (1, len(blocks)) else 3 * size // 4
        assert all(length >= least for length in lengths)
    else:
        assert len(blocks) <= 1


@pytest.mark.parametrize("K,M,alpha", [(3, 3, 0.0), (2, 4, 0.5), (1, 2, 0.1)])
def test_separate_experts_objective_and_gradient(K, M, alpha):
    # The starting experts' problem: K weighted regressions, weights W (n, K).
    Z, y, w, dims, theta = random_problem(4, n=150, d=3, K=K, M=M)
    expert_coef = unpack(theta, dims)[1]
    W = np.random.default_rng(0).dirichlet(np.ones(K), size=Z.shape[0]) * w[:, None]
    _, eta = naive_probabilities(Z, np.zeros((Z.shape[1], K - 1)), expert_coef)
    own = eta[np.arange(Z.shape[0]), :, y]  # (n, K)
    penalty = model.ridge_penalty(np.zeros((Z.shape[1], 0)), expert_coef, alpha)
    value, grad = model.experts_objective_and_gradient(Z, y, W, expert_coef, alpha)
    assert value == pytest.approx(np.sum(W * np.log(own)) - penalty, rel=1e-12)

    def f(coef):
        return model.experts_objective_and_gradient(Z, y, W, coef.reshape(expert_coef.shape), alpha)[0]

    h = 1e-6
    flat = expert_coef.ravel()
    numeric = np.array([(f(flat + h * e) - f(flat - h * e)) / (2 * h) for e in np.eye(flat.size)])
    assert np.linalg.norm(grad.ravel() - numeric) / np.linalg.norm(numeric) < 1e-6
    blocks = [slice(s, s + 16) for s in range(0, Z.shape[0], 16)]
    by_blocks = model.experts_objective_and_gradient(Z, y, W, expert_coef, alpha, blocks=lambda n: blocks)
    assert by_blocks[0] == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(by_blocks[1], grad, rtol=1e-10, atol=1e-14)
