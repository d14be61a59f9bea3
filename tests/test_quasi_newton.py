"""L-BFGS in the MM map's metric: the metric, monotone ascent, the optimum, the MM finish."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moelogit import model
from moelogit.mm import BohningMM
from moelogit.model import unpack
from moelogit.quasi_newton import _Metric, lbfgs_ascent
from moelogit.solver import maximize

from .conftest import random_problem, simulated_problem
from .test_mm import assert_never_falls


@pytest.mark.parametrize("curvature", ["fixed", "expert"])
@pytest.mark.parametrize("d", [2, 12])  # exact and floored per-expert bounds
def test_metric_turns_the_gradient_into_the_mm_step(curvature, d):
    Z, y, w, dims, theta = random_problem(3, n=300, d=d, K=3, M=3)
    mm = BohningMM(Z, y, w, dims, alpha=0.01, curvature=curvature)
    metric = _Metric(mm, theta)
    _, grad = mm.value_and_gradient(theta)
    # T T^T g = B^{-1} g: the first L-BFGS direction is the MM step.
    step = metric.theta(metric.gradient(grad)) - theta
    np.testing.assert_allclose(step, mm(theta)[0] - theta, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("curvature", ["fixed", "expert"])
def test_metric_gradient_is_the_chain_rule(curvature):
    Z, y, w, dims, theta = random_problem(5, n=200, d=3, K=3, M=4)
    mm = BohningMM(Z, y, w, dims, curvature=curvature)
    metric = _Metric(mm, theta)
    phi = 0.1 * np.random.default_rng(0).normal(size=theta.size)
    _, grad = mm.value_and_gradient(metric.theta(phi))
    analytic = metric.gradient(grad)
    for j in range(0, phi.size, 7):
        e = np.zeros_like(phi)
        e[j] = 1e-6
        numeric = (mm.objective(metric.theta(phi + e)) - mm.objective(metric.theta(phi - e))) / 2e-6
        assert numeric == pytest.approx(analytic[j], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(("K", "M"), [(1, 2), (3, 2), (4, 3)])
def test_fixed_metric_shares_one_inverse_and_maps_as_per_expert_copies(K, M):
    Z, y, w, dims, theta = random_problem(2, n=150, d=6, K=K, M=M)
    shared = _Metric(BohningMM(Z, y, w, dims, alpha=0.01, curvature="fixed"), theta)
    assert shared.expert_inverses is None
    copies = _Metric(BohningMM(Z, y, w, dims, alpha=0.01, curvature="fixed"), theta)
    copies.expert_inverses = np.stack([copies.gate_inverse] * K)  # the general path
    phi = np.random.default_rng(1).normal(size=theta.size)
    np.testing.assert_allclose(shared.theta(phi), copies.theta(phi), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(shared.gradient(phi), copies.gradient(phi), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 1000),
    d=st.integers(0, 10),
    K=st.integers(1, 5),
    M=st.integers(2, 4),
    alpha=st.sampled_from([0.0, 1e-3, 1.0]),
    curvature=st.sampled_from(["fixed", "expert"]),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
)
def test_objective_never_falls(seed, n, d, K, M, alpha, curvature, scale):
    Z, y, w, dims, theta = random_problem(seed, n=n, d=d, K=K, M=M, scale=scale)
    mm = BohningMM(Z, y, w, dims, alpha=alpha, curvature=curvature)
    told = []
    result = lbfgs_ascent(
        mm, theta, max_iter=40, tol=0.0, callback=lambda i, v: told.append((i, v))
    )
    assert_never_falls(result.trace)
    assert result.trace[0] == mm.objective(theta)
    assert result.objective == pytest.approx(mm.objective(result.theta), rel=1e-12, abs=1e-300)
    assert result.n_iter == result.trace.size <= 40
    # The listener hears every value of the trace, numbered like maximize's.
    assert [i for i, _ in told] == list(range(1, result.n_iter + 1))
    np.testing.assert_array_equal([v for _, v in told], result.trace)


@pytest.mark.parametrize("curvature", ["fixed", "expert"])
def test_reaches_the_mm_optimum(curvature):
    Z, y, w, dims, start = simulated_problem(4)
    mm = BohningMM(Z, y, w, dims, alpha=0.01, curvature=curvature)
    reference = maximize(mm, start, max_iter=20000, tol=1e-15)
    result = lbfgs_ascent(mm, start, tol=1e-12)
    assert result.converged
    assert result.objective >= reference.objective - 1e-12
    grad = model.gradient(Z, y, w, *unpack(result.theta, dims), alpha=0.01)
    assert np.abs(np.concatenate([g.ravel() for g in grad])).max() < 1e-5
    assert result.n_iter < reference.n_iter


def test_mm_finishes_when_the_line_search_stalls():
    Z, y, w, dims, start = simulated_problem(2)
    mm = BohningMM(Z, y, w, dims, alpha=0.01)
    # At a maximiser to rounding no step rises, so L-BFGS's line search fails at once.
    optimum = maximize(mm, start, max_iter=20000, tol=0.0).theta
    told = []
    result = lbfgs_ascent(mm, optimum, tol=1e-8, callback=lambda i, v: told.append(i))
    assert result.converged
    assert_never_falls(result.trace)
    assert told == list(range(1, result.n_iter + 1))
    assert result.n_iter >= 2  # the MM map ran after L-BFGS gave up


def test_max_iter_caps_the_iterations():
    Z, y, w, dims, start = simulated_problem(1)
    mm = BohningMM(Z, y, w, dims)
    result = lbfgs_ascent(mm, start, max_iter=3, tol=0.0)
    assert result.n_iter == 3 and not result.converged
    assert lbfgs_ascent(mm, start, max_iter=1).n_iter == 1


def test_scipy_blas_runs_one_thread_while_lbfgs_runs_and_numpy_keeps_its_own():
    # NumPy's and SciPy's wheels bring separate OpenBLAS pools; alternating
    # between them with both multithreaded made evaluations 2-5 times slower.
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {info["filepath"]: info["num_threads"] for info in threadpool_info()
                if info["user_api"] == "blas"}  # fmt: skip

    before = blas_threads()
    if len(before) < 2:
        pytest.skip("one BLAS library: nothing to keep apart")
    Z, y, w, dims, theta = random_problem(2, n=300, d=3, K=2, M=3)
    mm = BohningMM(Z, y, w, dims, curvature="expert")
    seen = []
    value_and_gradient = mm.value_and_gradient

    def watched(point):
        seen.append(blas_threads())
        return value_and_gradient(point)

    mm.value_and_gradient = watched
    lbfgs_ascent(mm, theta, max_iter=5)
    numpy_blas = [path for path in before if "numpy" in path]
    assert numpy_blas, before  # the wheels' layout this test knows
    for during in seen:
        assert all(during[path] == before[path] for path in numpy_blas)
        assert all(during[path] == 1 for path in before if path not in numpy_blas)
    assert blas_threads() == before
