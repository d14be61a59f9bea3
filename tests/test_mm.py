"""The MM map, SQUAREM and the driver: ascent, fixed points, stopping."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moelogit import mm as mm_module
from moelogit import model
from moelogit.acceleration import Squarem
from moelogit.mm import DENSE_GRAM_MAX_COLUMNS, RESPONSIBILITY_FLOOR, BohningMM
from moelogit.model import unpack
from moelogit.solver import maximize, maximize_together

from .conftest import random_problem, simulated_problem

RELATIVE_DROP = 1e-12
# Each row's log-probability near 0 (a row fitted almost surely) is the log of
# a probability rounded near 1, exact only to about eps: the mean of such rows
# can move by a few eps with no real change, below any relative bound once
# the objective itself is that small (hypothesis found -4e-9 falling by 1e-17).
ABSOLUTE_DROP = 8 * np.finfo(float).eps


def assert_never_falls(values):
    values = np.asarray(values)
    drops = values[:-1] - values[1:]
    assert np.all(drops <= RELATIVE_DROP * np.abs(values[:-1]) + ABSOLUTE_DROP), drops.max()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 2000),
    d=st.integers(0, 8),
    K=st.integers(1, 6),
    M=st.integers(2, 5),
    alpha=st.sampled_from([0.0, 1e-3, 1.0]),
    curvature=st.sampled_from(["fixed", "expert"]),
    acceleration=st.booleans(),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
)
def test_objective_never_falls(seed, n, d, K, M, alpha, curvature, acceleration, scale):
    Z, y, w, dims, theta = random_problem(seed, n=n, d=d, K=K, M=M, scale=scale)
    mm = BohningMM(Z, y, w, dims, alpha=alpha, curvature=curvature)
    # Every single MM step ascends ...
    values = [mm.objective(theta)]
    point = theta
    for _ in range(5):
        point, value = mm(point)
        assert value == pytest.approx(values[-1], rel=1e-12, abs=1e-300)
        values.append(mm.objective(point))
    assert_never_falls(values)
    # ... and so does the driven iteration, with or without SQUAREM.
    result = maximize(mm, theta, max_iter=25, tol=0.0, acceleration=acceleration)
    assert_never_falls(np.concatenate([[values[0]], result.trace]))
    assert result.objective == pytest.approx(mm.objective(result.theta), rel=1e-12)


@pytest.mark.parametrize("curvature", ["fixed", "expert"])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_limit_is_a_stationary_point(curvature, alpha):
    Z, y, w, dims, theta = simulated_problem(4)
    mm = BohningMM(Z, y, w, dims, alpha=alpha, curvature=curvature)
    result = maximize(mm, theta, max_iter=5000, tol=1e-14)
    grad = model.gradient(Z, y, w, *unpack(result.theta, dims), alpha=alpha)
    assert max(np.max(np.abs(g)) for g in grad) < 1e-5
    assert result.converged


def test_both_curvatures_and_acceleration_reach_the_same_optimum():
    Z, y, w, dims, _ = random_problem(5, n=500, d=2, K=1, M=4)  # concave: one optimum
    objectives = []
    for curvature in ("fixed", "expert"):
        for acceleration in (False, True):
            mm = BohningMM(Z, y, w, dims, alpha=0.01, curvature=curvature)
            fit = maximize(mm, np.zeros(dims.n_params), tol=1e-13, acceleration=acceleration)
            objectives.append(fit.objective)
    np.testing.assert_allclose(objectives, objectives[0], rtol=1e-10)


def test_squarem_needs_fewer_iterations_than_plain_mm():
    Z, y, w, dims, theta = simulated_problem(6, d=3, K=3)
    mm = BohningMM(Z, y, w, dims, alpha=1e-4)
    plain = maximize(mm, theta, max_iter=20000, tol=1e-10, acceleration=False)
    fast = maximize(mm, theta, max_iter=20000, tol=1e-10, acceleration=True)
    # Three map evaluations per SQUAREM cycle: compare evaluations, not cycles.
    assert 3 * fast.n_iter < plain.n_iter
    assert fast.objective >= plain.objective - 1e-7 * abs(plain.objective)


def test_squarem_falls_back_to_plain_step_when_extrapolation_lowers_objective():
    # A map that ascends f(t) = -(t - 1)^2 slowly, with a trap: values beyond
    # 1 are reported as terrible, so every extrapolation past it is rejected.
    def step(theta):
        value = -((theta[0] - 1.0) ** 2) if theta[0] <= 1.0 else -1e9
        return np.array([min(theta[0] + 0.5 * (1.0 - theta[0]), 1.0)]), value

    cycle = Squarem(step)
    theta = np.array([0.0])
    values = []
    for _ in range(20):
        theta, value = cycle(theta)
        values.append(value)
    assert_never_falls(values)
    assert cycle.n_accepted + cycle.n_rejected > 0


def test_driver_stops_on_tolerance_and_max_iter():
    Z, y, w, dims, theta = simulated_problem(7)
    mm = BohningMM(Z, y, w, dims)
    capped = maximize(mm, theta, max_iter=3, tol=0.0)
    assert capped.n_iter == 3 and not capped.converged and capped.trace.size == 3
    loose = maximize(mm, theta, max_iter=10000, tol=1e-3)
    tight = maximize(mm, theta, max_iter=10000, tol=1e-9)
    assert loose.converged and tight.converged and loose.n_iter < tight.n_iter
    rel = np.abs(np.diff(loose.trace[-2:])) / np.abs(loose.trace[-2])
    assert rel[0] <= 1e-3


@pytest.mark.parametrize("acceleration", [True, False])
def test_the_last_iteration_takes_one_step_of_the_map(acceleration):
    """It keeps its point and wants only its objective: a run capped early is a longer run's prefix."""
    Z, y, w, dims, theta = simulated_problem(7)
    mm = BohningMM(Z, y, w, dims, alpha=1e-4, curvature="expert")
    points = []

    def counted(point):
        points.append(point)
        return mm(point)

    capped = maximize(counted, theta, max_iter=6, tol=0.0, acceleration=acceleration)
    # SQUAREM's five cycles take three steps each here (none degenerate).
    assert len(points) == (3 * 5 + 1 if acceleration else 6)
    np.testing.assert_array_equal(points[-1], capped.theta)
    longer = maximize(mm, theta, max_iter=12, tol=0.0, acceleration=acceleration)
    np.testing.assert_array_equal(capped.trace, longer.trace[:6])


@pytest.mark.parametrize("acceleration", [True, False])
def test_runs_maximised_together_are_the_runs_maximised_alone(acceleration):
    """Each run takes the very steps it takes alone, also as the others stop before it."""
    Z, y, w, dims, _ = simulated_problem(3, d=2, K=3)
    mm = BohningMM(Z, y, w, dims, alpha=1e-4, curvature="expert")
    rng = np.random.default_rng(0)
    starts = [rng.normal(scale=scale, size=dims.n_params) for scale in (0.1, 1.0, 3.0, 0.5)]
    told = [[] for _ in starts]
    together = maximize_together(
        lambda points: [mm(point) for point in points], starts, max_iter=120, tol=1e-4,
        acceleration=acceleration,
        callbacks=[lambda *args, seen=seen: seen.append(args) for seen in told],
    )  # fmt: skip
    for start, run, seen in zip(starts, together, told, strict=True):
        alone = maximize(mm, start, max_iter=120, tol=1e-4, acceleration=acceleration)
        np.testing.assert_array_equal(run.theta, alone.theta)
        np.testing.assert_array_equal(run.trace, alone.trace)
        assert (run.n_iter, run.converged) == (alone.n_iter, alone.converged)
        assert seen == list(enumerate(alone.trace, start=1))
    assert len({run.n_iter for run in together}) > 1  # some stopped before others


def test_a_stop_iteration_of_the_map_is_the_maps():
    """The driver's generators stop by StopIteration; one raised by the map itself is not theirs."""

    def step(theta):
        raise StopIteration("from the map")

    for acceleration in (True, False):
        with pytest.raises(StopIteration, match="from the map"):
            maximize(step, np.zeros(2), acceleration=acceleration)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("restricted", [False, True], ids=["all columns", "supports"])
def test_steps_taken_together_are_the_steps_one_by_one(seed, restricted):
    # More columns than the exact curvatures take: the floored bounds of all
    # points from one product with the rows' outer products, solved together.
    Z, y, w, dims, _ = random_problem(seed, n=1500, d=DENSE_GRAM_MAX_COLUMNS + 3, K=4, M=3)
    support = model.Support.full(dims.q)
    if restricted:  # the gate and the experts on different columns
        gate, experts = support.gate.copy(), support.experts.copy()
        gate[1:4], experts[-3:] = False, False
        support = model.Support(gate, experts)
    mm = BohningMM(Z, y, w, dims, alpha=1e-3, curvature="expert", support=support)
    assert mm.steps_together
    rng = np.random.default_rng(seed)
    points = [rng.normal(scale=scale, size=dims.n_params) for scale in (0.1, 2.0, 4.0)]
    if restricted:
        points = [point * support.free(dims) for point in points]
    for (point, value), (alone, alone_value) in zip(mm.steps(points), map(mm, points)):
        assert value == alone_value
        np.testing.assert_allclose(point, alone, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("d", "curvature"),
    [(3, "expert"), (DENSE_GRAM_MAX_COLUMNS + 3, "expert"), (DENSE_GRAM_MAX_COLUMNS + 3, "fixed")],
    ids=["exact curvatures", "floored bounds", "fixed curvature"],
)
def test_a_map_on_single_precision_rows_steps_as_on_double_to_single_precision(d, curvature):
    """The screening's map: rows in float32, sums and solves in float64, monotone to rounding."""
    Z, y, w, dims, _ = simulated_problem(3, n=3000, d=d, K=3, M=3)
    double = BohningMM(Z, y, w, dims, alpha=1e-3, curvature=curvature)
    single = BohningMM(
        Z.astype(np.float32), y, w.astype(np.float32), dims, alpha=1e-3, curvature=curvature
    )
    rng = np.random.default_rng(0)
    points = [rng.normal(scale=scale, size=dims.n_params) for scale in (0.1, 1.0)]
    stepped = single.steps(points)  # together where the bounds allow
    for point, (theta, value), alone in zip(points, stepped, map(single, points)):
        exact_theta, exact_value = double(point)
        assert theta.dtype == np.float64 and value == pytest.approx(exact_value, rel=1e-6)
        np.testing.assert_allclose(theta, exact_theta, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(theta, alone[0], rtol=1e-3, atol=1e-4)
    # The run ascends to single precision's rounding, to the same optimum.
    run = maximize(single, points[0], max_iter=300, tol=1e-9)
    drops = run.trace[:-1] - run.trace[1:]
    assert np.all(drops <= 1e-6 * np.abs(run.trace[:-1]))
    exact = maximize(double, points[0], max_iter=300, tol=1e-9)
    assert double.objective(run.theta) == pytest.approx(exact.objective, rel=1e-5)


def test_steps_are_taken_together_only_where_that_is_faster(monkeypatch):
    Z, y, w, dims, _ = random_problem(0, n=500, d=DENSE_GRAM_MAX_COLUMNS + 3)
    assert BohningMM(Z, y, w, dims, curvature="expert").steps_together
    assert not BohningMM(Z, y, w, dims, curvature="fixed").steps_together
    few = random_problem(0, n=500, d=DENSE_GRAM_MAX_COLUMNS - 1)
    assert not BohningMM(*few[:4], curvature="expert").steps_together  # exact curvatures
    monkeypatch.setattr(mm_module, "ROW_PRODUCTS_MAX_VALUES", 500 * 66 - 1)  # q = 11
    assert not BohningMM(Z, y, w, dims, curvature="expert").steps_together


def test_collinear_design_still_ascends():
    Z, y, w, dims, theta = random_problem(8, n=200, d=2, K=2, M=3)
    Z = np.column_stack([Z, Z[:, 1] + Z[:, 2]])  # exactly collinear column
    dims = dims._replace(q=4)
    theta = np.random.default_rng(0).normal(size=dims.n_params)
    mm = BohningMM(Z, y, w, dims)
    fit = maximize(mm, theta, max_iter=200, tol=0.0, acceleration=False)
    assert np.all(np.isfinite(fit.theta))
    assert_never_falls(fit.trace)


def test_unknown_curvature_is_rejected():
    Z, y, w, dims, _ = random_problem(0)
    with pytest.raises(ValueError, match="curvature"):
        BohningMM(Z, y, w, dims, curvature="newton")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("d", [3, DENSE_GRAM_MAX_COLUMNS + 2])
def test_per_expert_bound_lies_between_exact_curvature_and_a_slightly_looser_one(seed, d):
    # Sharp gates make most responsibilities tiny: the floor then leaves rows out.
    Z, y, w, dims, theta = random_problem(seed, n=3000, d=d, K=4, M=3, scale=4.0)
    mm = BohningMM(Z, y, w, dims, curvature="expert")
    resp = model.responsibilities(Z, y, *unpack(theta, dims)).T
    floors = RESPONSIBILITY_FLOOR * (resp @ w)
    assert np.mean(resp < floors[:, None]) > 0.2
    S = (Z * w[:, None]).T @ Z
    for k, bound in enumerate(mm._evaluate(*unpack(theta, dims), with_bounds=True)[3]):
        exact = (Z * (w * resp[k])[:, None]).T @ Z
        # exact <= bound <= exact + floor_k S, in the order of symmetric matrices;
        # with few columns the bound is the exact curvature.
        slack = floors[k] * S if dims.q > DENSE_GRAM_MAX_COLUMNS else 0 * S
        assert np.linalg.eigvalsh(bound - exact).min() >= -1e-12 * np.trace(S)
        assert np.linalg.eigvalsh(exact + slack - bound).min() >= -1e-12 * np.trace(S)


def test_many_row_blocks_give_the_same_bounds_and_step_as_one():
    Z, y, w, dims, theta = random_problem(7, n=700, d=DENSE_GRAM_MAX_COLUMNS + 1, K=3, scale=3.0)
    one = BohningMM(Z, y, w, dims, alpha=0.01, curvature="expert")
    many = BohningMM(Z, y, w, dims, alpha=0.01, curvature="expert")
    many._blocks = lambda n: [
        slice(start, start + 64) for start in range(0, n, 64)
    ]  # last one short
    resp = model.responsibilities(Z, y, *unpack(theta, dims)).T
    np.testing.assert_allclose(many._expert_bounds(resp), one._expert_bounds(resp), rtol=1e-12)
    (step_one, value_one), (step_many, value_many) = one(theta), many(theta)
    assert value_many == pytest.approx(value_one, rel=1e-12)
    np.testing.assert_allclose(step_many, step_one, rtol=1e-9, atol=1e-12)


def test_objective_is_summed_by_row_blocks_without_a_temporary_of_the_data_size():
    # The L-BFGS runs start from mm.objective: on problem c the whole-data
    # evaluation had tripled the fit's peak memory (3.0 x X instead of 1.3).
    import tracemalloc

    Z, y, w, dims, theta = random_problem(0, n=60_000, d=20, K=4, M=3)
    mm = BohningMM(Z, y, w, dims, alpha=0.1, curvature="expert")
    mm.objective(theta)  # the workspace's block arrays, once
    tracemalloc.start()
    try:
        value = mm.objective(theta)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * Z.nbytes
    assert value == pytest.approx(model.objective(Z, y, w, *unpack(theta, dims), 0.1), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_starting_experts_map_ascends_to_each_experts_own_fit(seed):
    from moelogit.init import _EXPERT_RIDGE, _StartingExperts

    Z, y, w, dims, _ = random_problem(seed, n=400, d=3, K=3, M=3)
    q, K, M = dims
    W = np.random.default_rng(seed).dirichlet(np.ones(K), size=Z.shape[0])
    W /= W.sum(axis=0)
    experts = _StartingExperts(Z, y, W, dims)
    result = maximize(experts, np.zeros(K * q * (M - 1)), max_iter=2000, tol=1e-14)
    assert_never_falls(result.trace)
    # The joint map's limit is every expert's own weighted regression.
    for k in range(K):
        alone = BohningMM(Z, y, W[:, k], model.Dims(q, 1, M), alpha=_EXPERT_RIDGE)
        own = maximize(alone, np.zeros(q * (M - 1)), max_iter=2000, tol=1e-14)
        np.testing.assert_allclose(
            result.theta.reshape(K, q, M - 1)[k], own.theta.reshape(q, M - 1), atol=1e-5
        )
