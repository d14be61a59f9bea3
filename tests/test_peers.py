"""The benchmark's peers fit the same model: same optimum as moelogit on a small problem."""

import numpy as np
import pytest
from benchmarks.peers import fit_em_newton, fit_lbfgs

from moelogit.datasets import make_moe_classification
from moelogit.init import initial_theta
from moelogit.mm import BohningMM
from moelogit.model import Dims
from moelogit.solver import maximize


@pytest.fixture(scope="module")
def small_problem():
    X, y, _ = make_moe_classification(2000, 2, 2, 3, random_state=0)
    Z = np.column_stack([np.ones(len(X)), X])
    weights = np.full(len(X), 1.0 / len(X))
    dims = Dims(3, 2, 3)
    return Z, y, weights, dims, initial_theta(Z, y, weights, dims, "kmeans", 0)


def test_every_peer_reaches_moelogits_optimum(small_problem):
    Z, y, weights, dims, start = small_problem
    ours = maximize(BohningMM(Z, y, weights, dims, curvature="expert"), start, tol=1e-11)
    em = fit_em_newton(Z, y, weights, dims, start, tol=1e-11)
    lbfgs = fit_lbfgs(Z, y, weights, dims, start, tol=1e-13)
    for peer in (em, lbfgs):
        assert peer.converged
        assert peer.objective == pytest.approx(ours.objective, abs=1e-7)
    # Generalised EM keeps ascent too; it is the fair, monotone peer.
    assert np.all(np.diff(em.trace) >= -1e-12 * np.abs(em.trace[:-1]))


def test_flexmix_reaches_moelogits_optimum(small_problem):
    from benchmarks.peers.flexmix import fit_flexmix, flexmix_available

    available, why = flexmix_available()
    if not available:
        pytest.skip(f"flexmix peer not checked: {why}")
    from moelogit.model import responsibilities, unpack

    Z, y, weights, dims, start = small_problem
    ours = maximize(BohningMM(Z, y, weights, dims, curvature="expert"), start, tol=1e-11)
    start_resp = responsibilities(Z, y, *unpack(start, dims))
    theirs = fit_flexmix(Z[:, 1:], y, dims.K, start_resp=start_resp, tol=1e-10)
    # flexmix's M-steps stop at nnet's own tolerance: close, not to the last digit.
    assert theirs["loglik"] == pytest.approx(ours.objective, abs=1e-4)
