"""The exact Hessian and the Newton refinement behind ``MoEClassifier(polish=True)``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from moelogit import MoEClassifier, model
from moelogit.datasets import make_moe_classification
from moelogit.mm import BohningMM
from moelogit.model import Dims, pack, unpack
from moelogit.newton import MAX_PARAMETERS, newton_refine
from moelogit.solver import maximize

from .conftest import random_problem, simulated_problem
from .test_mm import assert_never_falls


def gradient_differences(Z, y, w, dims, theta, alpha, h=1e-5):
    """Central differences of the analytic gradient: an independent Hessian."""

    def grad(t):
        return pack(*model.gradient(Z, y, w, *unpack(t, dims), alpha=alpha))

    columns = [(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    return np.array(columns).T


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(5, 300),
    d=st.integers(0, 4),
    K=st.integers(1, 5),
    M=st.integers(2, 4),
    alpha=st.sampled_from([0.0, 0.3]),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
)
def test_hessian_matches_differences_of_the_gradient(seed, n, d, K, M, alpha, scale):
    Z, y, w, dims, theta = random_problem(seed, n=n, d=d, K=K, M=M, scale=scale)
    w[::3] = 0.0  # rows of zero weight count for nothing
    w /= w.sum()
    analytic = model.hessian(Z, y, w, *unpack(theta, dims), alpha=alpha)
    numeric = gradient_differences(Z, y, w, dims, theta, alpha)
    assert analytic.shape == (dims.n_params, dims.n_params)
    np.testing.assert_allclose(analytic, analytic.T, atol=1e-14)
    # Central differences of an exact gradient: error O(h^2) ~ 1e-10.
    assert np.abs(analytic - numeric).max() <= 1e-7 * max(np.abs(numeric).max(), 1.0)


def test_hessian_in_many_row_blocks_equals_one_block(problem, monkeypatch):
    Z, y, w, dims, theta = problem
    one_block = model.hessian(Z, y, w, *unpack(theta, dims), alpha=0.1)
    seven_rows, used = model.row_slices, []

    def blocks_of_seven(n_rows, size):
        used.append(seven_rows(n_rows, 7))
        return used[-1]

    monkeypatch.setattr(model, "row_slices", blocks_of_seven)
    many_blocks = model.hessian(Z, y, w, *unpack(theta, dims), alpha=0.1)
    assert len(used[0]) == -(-Z.shape[0] // 7)
    np.testing.assert_allclose(many_blocks, one_block, rtol=1e-10, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    K=st.integers(1, 4),
    M=st.integers(2, 4),
    alpha=st.sampled_from([0.0, 1e-3]),
)
def test_refinement_never_lowers_the_objective(seed, K, M, alpha):
    Z, y, w, dims, theta = random_problem(seed, n=300, d=2, K=K, M=M, scale=2.0)
    mm = BohningMM(Z, y, w, dims, alpha=alpha)
    result = newton_refine(mm.value_and_gradient, mm.hessian, theta, max_iter=15)
    assert result.trace[0] == pytest.approx(mm.objective(theta), rel=1e-12)
    assert_never_falls(result.trace)
    assert result.objective == pytest.approx(mm.objective(result.theta), rel=1e-12)
    assert result.n_iter == result.trace.size - 1


def test_refinement_reaches_a_stationary_point_that_mm_approaches():
    Z, y, w, dims, start = simulated_problem(3, n=3000, K=3)
    mm = BohningMM(Z, y, w, dims, curvature="expert")
    loose = maximize(mm, start, max_iter=60)
    refined = newton_refine(mm.value_and_gradient, mm.hessian, loose.theta)
    assert refined.converged
    _, grad = mm.value_and_gradient(refined.theta)
    assert np.abs(grad).max() < 1e-9
    # A maximum: the Hessian there is negative definite.
    assert np.linalg.eigvalsh(mm.hessian(refined.theta)).max() < 0
    # Plain MM, run long from the loose point, heads to the same point.
    long = maximize(mm, loose.theta, max_iter=3000, tol=0.0)
    before = np.abs(loose.theta - refined.theta).max()
    assert np.abs(long.theta - refined.theta).max() < 0.01 * before
    assert long.objective <= refined.objective + 1e-13


def test_one_expert_refinement_matches_sklearn():
    X, y, _ = make_moe_classification(2000, 3, 2, 3, random_state=4)
    clf = MoEClassifier(n_experts=1, alpha=0.0, polish=True, max_iter=5).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-7)
    assert clf.converged_ and clf.n_newton_iter_ >= 1


def test_polished_fit_does_not_move_when_the_tolerance_tightens():
    X, y, _ = make_moe_classification(4000, 2, 3, 3, random_state=5)
    over = MoEClassifier(n_experts=5, n_init=3, max_iter=100, polish=True, random_state=0)
    over.fit(X, y)
    assert over.converged_ and over.n_newton_iter_ >= 1
    assert over.loglik_trace_.size == over.n_iter_
    assert_never_falls(over.loglik_trace_)
    tight = MoEClassifier(n_experts=5, init=over.params_, tol=over.tol / 10, polish=True)
    tight.fit(X, y)
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"):
        first, second = getattr(over, name), getattr(tight, name)
        assert np.abs(first - second).max() <= 1e-5 * (1 + np.abs(first).max()), name


def test_too_many_parameters_for_a_hessian():
    with pytest.raises(ValueError, match="meant for at most"):
        newton_refine(None, None, np.zeros(MAX_PARAMETERS + 1))


def test_refinement_leaves_a_saddle_of_duplicated_experts():
    # Two identical experts at the one-expert maximum: a stationary point of
    # the two-expert likelihood that is not a maximum (the data have 2 experts).
    Z, y, w, _, _ = simulated_problem(6, n=2000, K=2)
    one = Dims(Z.shape[1], 1, 3)
    single = BohningMM(Z, y, w, one)
    fitted = newton_refine(single.value_and_gradient, single.hessian, np.zeros(one.n_params))
    assert fitted.converged
    two = Dims(Z.shape[1], 2, 3)
    expert = unpack(fitted.theta, one)[1]
    saddle = pack(np.zeros((two.q, 1)), np.concatenate([expert, expert]))
    mm = BohningMM(Z, y, w, two)
    assert np.abs(mm.value_and_gradient(saddle)[1]).max() < 1e-9
    assert np.linalg.eigvalsh(mm.hessian(saddle)).max() > 0  # a direction of ascent
    result = newton_refine(mm.value_and_gradient, mm.hessian, saddle)
    assert result.objective > result.trace[0] + 1e-3
    assert_never_falls(result.trace)
    if result.converged:
        assert np.linalg.eigvalsh(mm.hessian(result.theta)).max() < 1e-8


def test_polish_failure_warns_about_the_refinement(monkeypatch):
    from moelogit import engine

    monkeypatch.setattr(engine, "NEWTON_MAX_ITER", 1)
    X, y, _ = make_moe_classification(1500, 2, 3, 3, random_state=7)
    clf = MoEClassifier(n_experts=4, n_init=2, max_iter=20, polish=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Newton refinement"):
        clf.fit(X, y)
    assert not clf.converged_ and clf.n_newton_iter_ == 1


def test_polish_is_refused_before_fitting_a_model_too_large_for_a_hessian():
    X = np.random.default_rng(0).normal(size=(40, 300))
    y = np.arange(40) % 3
    with pytest.raises(ValueError, match="polish=True refines with a Hessian of all 6020"):
        MoEClassifier(n_experts=7, polish=True).fit(X, y)


def test_polish_applies_to_the_selected_size():
    X, y, _ = make_moe_classification(800, 2, 2, 3, random_state=8)
    clf = MoEClassifier(n_experts="bic", max_experts=2, n_init=2, polish=True, random_state=0)
    clf.fit(X, y)
    assert clf.n_newton_iter_ >= 1 and clf.converged_
