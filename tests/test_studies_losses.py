"""The rates study's Voronoi losses and conditional density error on hand-made measures."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moelogit.datasets import random_params
from moelogit.params import MoEParams
from studies.rates.losses import hellinger_error, voronoi_cells, voronoi_losses

X = np.random.default_rng(0).normal(size=(500, 2))


def permuted(params, order):
    return MoEParams(
        gate_coef=params.gate_coef[order],
        gate_intercept=params.gate_intercept[order],
        expert_coef=params.expert_coef[order],
        expert_intercept=params.expert_intercept[order],
    )


def weights_of(params):
    e = np.exp(params.gate_intercept - params.gate_intercept.max())
    return e / e.sum()


def split(params, j, offset):
    """Atom ``j`` replaced by two atoms of half its weight at ``theta_j +- offset``.

    ``offset`` is added to expert ``j``'s intercepts (one value per class).
    """
    order = np.r_[np.arange(params.n_experts), j]
    twin = permuted(params, order)
    gate_intercept = twin.gate_intercept.copy()
    gate_intercept[[j, -1]] -= np.log(2.0)
    expert_intercept = twin.expert_intercept.copy()
    expert_intercept[j] += offset
    expert_intercept[-1] -= offset
    return dataclasses.replace(
        twin, gate_intercept=gate_intercept, expert_intercept=expert_intercept
    )


@pytest.fixture
def truth():
    return random_params(2, 3, 3, random_state=1)


def test_zero_at_the_truth(truth):
    assert voronoi_losses(truth, truth) == {"D1": 0.0, "D2": 0.0}
    assert hellinger_error(truth, truth, X) == 0.0


def test_moving_one_atom_costs_its_weight_times_the_distance(truth):
    delta = 0.05
    moved = truth.expert_intercept.copy()
    moved[1] += [delta, -delta, 0.0]  # already centred across classes: length delta * sqrt(2)
    fitted = dataclasses.replace(truth, expert_intercept=moved)
    losses = voronoi_losses(fitted, truth)
    expected = weights_of(truth)[1] * delta * np.sqrt(2)
    np.testing.assert_allclose([losses["D1"], losses["D2"]], expected, rtol=1e-12)


def test_splitting_an_atom_is_first_order_in_d1_and_second_order_in_d2(truth):
    radius = 0.1
    offset = radius / np.sqrt(2) * np.array([1.0, -1.0, 0.0])
    fitted = split(truth, 0, offset)
    assert fitted.n_experts == 4
    np.testing.assert_array_equal(voronoi_cells(fitted, truth), [0, 1, 2, 0])
    losses = voronoi_losses(fitted, truth)
    p0 = weights_of(truth)[0]
    np.testing.assert_allclose(losses["D1"], p0 * radius, rtol=1e-10)
    np.testing.assert_allclose(losses["D2"], p0 * radius**2, rtol=1e-10)
    # The density moves at second order in the split: halving it quarters the error.
    halved = hellinger_error(split(truth, 0, offset / 2), truth, X)
    assert hellinger_error(fitted, truth, X) / halved == pytest.approx(4.0, rel=0.02)


def test_weight_errors_and_empty_cells():
    # Equal gate slopes: moving weight moves no atom, so D1 is the weight error alone.
    truth = random_params(2, 3, 3, random_state=2)
    truth = dataclasses.replace(truth, gate_coef=np.zeros((3, 2)), gate_intercept=np.zeros(3))
    shifted = dataclasses.replace(truth, gate_intercept=np.array([0.3, 0.0, 0.0]))
    expected = np.abs(weights_of(shifted) - 1 / 3).sum()
    assert voronoi_losses(shifted, truth) == pytest.approx({"D1": expected, "D2": expected})
    # Dropping atom 2 leaves its cell empty: its true weight is lost, the rest gain.
    dropped = permuted(truth, [0, 1])
    assert voronoi_losses(dropped, truth)["D1"] == pytest.approx(2 * (1 / 2 - 1 / 3) + 1 / 3)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    K=st.integers(1, 5),
    K0=st.integers(1, 4),
    M=st.integers(2, 4),
    d=st.integers(1, 3),
)
def test_invariant_to_relabelling_common_gate_shift_and_reference_class(seed, K, K0, M, d):
    rng = np.random.default_rng(seed)
    truth = random_params(d, K0, M, random_state=rng)
    fitted = random_params(d, K, M, random_state=rng)
    X_eval = rng.normal(size=(200, d))
    before = voronoi_losses(fitted, truth)
    density = hellinger_error(fitted, truth, X_eval)
    assert 0.0 <= density <= 1.0
    assert before["D1"] >= 0 and before["D2"] >= 0
    relabelled = permuted(fitted, rng.permutation(K))
    # Adding one vector to every gate slope, or one vector per expert to all of
    # its classes, changes no probability; neither may change a loss.
    reparametrised = dataclasses.replace(
        relabelled,
        gate_coef=relabelled.gate_coef + rng.normal(size=d),
        expert_coef=relabelled.expert_coef + rng.normal(size=(K, 1, d)),
        expert_intercept=relabelled.expert_intercept + rng.normal(size=(K, 1)),
    )
    after = voronoi_losses(reparametrised, truth)
    assert after == pytest.approx(before, rel=1e-9, abs=1e-12)
    assert hellinger_error(reparametrised, truth, X_eval) == pytest.approx(density, abs=1e-9)


def test_hellinger_matches_a_hand_computed_case():
    # One expert, intercepts only: the class distribution is softmax(b) at every x.
    def single(b):
        return MoEParams(np.zeros((1, 2)), np.zeros(1), np.zeros((1, 2, 2)), np.array([b]))

    p = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    q = np.array([0.5, 0.5])
    expected = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))
    assert hellinger_error(single([1.0, 0.0]), single([0.0, 0.0]), X) == pytest.approx(expected)


def test_incompatible_measures_are_refused(truth):
    other = random_params(3, 2, 3, random_state=0)
    with pytest.raises(ValueError, match="share features and classes"):
        voronoi_losses(other, truth)
    with pytest.raises(ValueError, match="share features and classes"):
        hellinger_error(other, truth, X)
