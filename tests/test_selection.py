"""Dendrogram of mixing measures, DSC and information-criterion sweeps."""

import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram
from scipy.cluster.hierarchy import is_valid_linkage
from scipy.special import softmax
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from moelogit import MoEClassifier, MoEParams
from moelogit.datasets import make_moe_classification
from moelogit.selection import (
    _select,
    dendrogram,
    dissimilarities,
    function_dissimilarities,
    select_n_experts,
)


def random_params(K=5, M=3, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return MoEParams(
        gate_coef=rng.normal(size=(K, d)),
        gate_intercept=rng.normal(size=K),
        expert_coef=rng.normal(size=(K, M, d)),
        expert_intercept=rng.normal(size=(K, M)),
    )


def test_merging_preserves_total_gate_weight_and_levels_shrink():
    params = random_params()
    tree = dendrogram(params)
    assert [level.n_experts for level in tree.levels] == [1, 2, 3, 4, 5]
    for level in tree.levels:
        assert softmax(level.gate_intercept).sum() == pytest.approx(1.0)
    # The merged weights are sums of the original ones: the final atom has all.
    assert np.exp(tree.levels[0].gate_intercept[0]) == pytest.approx(1.0)
    assert tree.heights[0] == 0.0 and np.all(tree.heights[1:] >= 0)


def test_atoms_with_underflowing_weights_merge_to_finite_models():
    # A fit on separable data can leave gate intercepts a thousand apart: the
    # small atoms' weights underflow to 0, which must not give log(0) or 0/0.
    params = random_params(K=4, seed=4)
    params = MoEParams(
        params.gate_coef,
        np.array([0.0, -1000.0, -1200.0, 1.0]),
        params.expert_coef,
        params.expert_intercept,
    )
    tree = dendrogram(params)
    assert np.isfinite(tree.heights).all() and np.isfinite(tree.linkage).all()
    X = np.random.default_rng(0).normal(size=(20, 2))
    for level in tree.levels:
        assert np.isfinite(level.gate_intercept).all()
        assert np.isfinite(level.class_proba(X)).all()
    for merged in tree.levels[:-1]:  # log weights that still sum to one
        assert np.logaddexp.reduce(merged.gate_intercept) == pytest.approx(0.0, abs=1e-12)
    # A negligible atom merges first, at height 0 (its weight is 0 in floats).
    assert {1, 2} & set(tree.linkage[0, :2].astype(int)) and tree.heights[3] == 0.0


def test_common_gate_shift_changes_no_height():
    params = random_params(seed=1)
    shifted = MoEParams(
        params.gate_coef + np.array([3.0, -2.0]),
        params.gate_intercept + 5.0,
        params.expert_coef,
        params.expert_intercept,
    )
    np.testing.assert_allclose(dendrogram(shifted).heights, dendrogram(params).heights, rtol=1e-12)
    np.testing.assert_array_equal(
        dendrogram(shifted).linkage[:, :2], dendrogram(params).linkage[:, :2]
    )


def test_reference_class_choice_changes_no_height():
    params = random_params(seed=2)
    recoded = MoEParams(
        params.gate_coef,
        params.gate_intercept,
        params.expert_coef - params.expert_coef[:, :1, :],
        params.expert_intercept - params.expert_intercept[:, :1],
    )
    np.testing.assert_allclose(dendrogram(recoded).heights, dendrogram(params).heights, rtol=1e-10)


def test_identical_atoms_merge_first_at_height_zero_and_predict_the_same():
    base = random_params(K=3, seed=3)
    # Split atom 1 into two identical halves: the same model with 4 experts.
    split = MoEParams(
        np.vstack([base.gate_coef, base.gate_coef[1]]),
        np.append(base.gate_intercept, base.gate_intercept[1]) - np.log(np.r_[1, 2, 1, 2]),
        np.concatenate([base.expert_coef, base.expert_coef[1:2]]),
        np.vstack([base.expert_intercept, base.expert_intercept[1]]),
    )
    X = np.random.default_rng(0).normal(size=(50, 2))
    np.testing.assert_allclose(split.class_proba(X), base.class_proba(X), rtol=1e-12)
    tree = dendrogram(split)
    assert tree.heights[3] == 0.0
    assert sorted(tree.linkage[0, :2]) == [1, 3]
    np.testing.assert_allclose(tree.levels[2].class_proba(X), base.class_proba(X), rtol=1e-12)


def _function_distance_by_definition(params, X, weights):
    """The definition of function_dissimilarities, one pair and one row at a time."""
    K, n = params.n_experts, X.shape[0]
    gate = params.gate_proba(X)
    pbar = weights @ gate / weights.sum()
    d = np.full((K, K), np.inf)
    for i in range(K):
        for j in range(K):
            if i == j:
                continue
            num = den = 0.0
            for r in range(n):
                ci = params.expert_intercept[i] + params.expert_coef[i] @ X[r]
                cj = params.expert_intercept[j] + params.expert_coef[j] @ X[r]
                gap = (ci - ci.mean()) - (cj - cj.mean())
                share = weights[r] * (gate[r, i] + gate[r, j])
                num, den = num + share * gap @ gap, den + share
            d[i, j] = pbar[i] * pbar[j] / (pbar[i] + pbar[j]) * num / den
    return d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_function_dissimilarities_follow_their_definition(seed):
    rng = np.random.default_rng(seed)
    params = random_params(K=4, M=3, d=2, seed=seed)
    X = rng.normal(size=(40, 2))
    weights = rng.integers(1, 4, size=40).astype(float)
    d = function_dissimilarities(params, X, weights)
    np.testing.assert_allclose(d, _function_distance_by_definition(params, X, weights), rtol=1e-10)
    # Integer weights are repeated rows.
    repeated = function_dissimilarities(params, np.repeat(X, weights.astype(int), axis=0))
    np.testing.assert_allclose(d, repeated, rtol=1e-10)
    # Neither the gate's common shift nor the reference class matters.
    recoded = MoEParams(
        params.gate_coef + 1.5,
        params.gate_intercept - 2.0,
        params.expert_coef - params.expert_coef[:, :1, :],
        params.expert_intercept - params.expert_intercept[:, :1],
    )
    np.testing.assert_allclose(function_dissimilarities(recoded, X, weights), d, rtol=1e-10)


def test_function_dissimilarities_bad_input_and_near_ties():
    params = random_params(K=3, M=3, d=2, seed=6)
    X = np.random.default_rng(1).normal(size=(30, 2))
    np.testing.assert_array_equal(
        function_dissimilarities(params, X, 2.0), function_dissimilarities(params, X)
    )
    with pytest.raises(ValueError, match="one weight per row"):
        function_dissimilarities(params, X, np.ones(29))
    with pytest.raises(ValueError, match="sums to zero"):
        function_dissimilarities(params, X, np.zeros(30))
    with pytest.raises(ValueError, match="3 features but the mixture was fitted on 2"):
        function_dissimilarities(params, np.ones((5, 3)))
    # Two experts 1e-3 apart at logits of order 1e3: no cancellation.
    intercept = 1e3 * params.expert_intercept
    intercept[1] = intercept[0] + np.array([1e-3, -1e-3, 0.0])
    coef = params.expert_coef.copy()
    coef[1] = coef[0]
    near = MoEParams(params.gate_coef, params.gate_intercept, coef, intercept)
    pbar = near.gate_proba(X).mean(axis=0)
    expected = pbar[0] * pbar[1] / (pbar[0] + pbar[1]) * 2e-6
    assert function_dissimilarities(near, X)[0, 1] == pytest.approx(expected, rel=1e-6)


def test_function_dissimilarity_ignores_directions_the_data_never_visits():
    # Experts 0 and 1 differ only in the slope of feature 2, which the data
    # hold at 0: the same model on these data, though their coefficients differ.
    params = random_params(K=3, M=3, d=2, seed=5)
    expert_coef = params.expert_coef.copy()
    expert_coef[1] = expert_coef[0]
    expert_coef[1, :, 1] += np.array([5.0, -5.0, 0.0])
    expert_intercept = params.expert_intercept.copy()
    expert_intercept[1] = expert_intercept[0]
    twins = MoEParams(params.gate_coef, params.gate_intercept, expert_coef, expert_intercept)
    X = np.column_stack([np.random.default_rng(0).normal(size=200), np.zeros(200)])
    on_data = function_dissimilarities(twins, X)
    assert on_data[0, 1] < 1e-20 < on_data[0, 2]
    assert dissimilarities(twins)[0, 1] > 1.0
    tree = dendrogram(twins, lambda p: function_dissimilarities(p, X))
    assert sorted(tree.linkage[0, :2]) == [0, 1] and tree.heights[2] < 1e-20


def test_linkage_is_accepted_by_scipy():
    tree = dendrogram(random_params(K=6, seed=4))
    assert is_valid_linkage(tree.linkage)
    drawn = scipy_dendrogram(tree.linkage, no_plot=True)
    assert sorted(drawn["leaves"]) == list(range(6))


@pytest.fixture(scope="module")
def clear_case():
    truth = MoEParams(
        gate_coef=np.array([[3.0, 0.0], [0.0, 3.0], [0.0, 0.0]]),
        gate_intercept=np.zeros(3),
        expert_coef=np.array(
            [
                [[4.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
                [[0.0, 0.0], [0.0, 4.0], [0.0, 0.0]],
                [[-4.0, 0.0], [0.0, -4.0], [0.0, 0.0]],
            ]
        ),
        expert_intercept=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    )
    X, y, _ = make_moe_classification(20_000, 2, params=truth, random_state=0)
    return X, y


def test_dsc_paths_give_usable_models_at_every_level(clear_case):
    X, y = clear_case
    X, y = X[:3000], y[:3000]
    estimator = MoEClassifier(n_init=4, random_state=0)
    for path in ("refit", "tree"):
        result = select_n_experts(X, y, max_experts=4, estimator=estimator, path=path)
        assert [m.n_experts_ for m in result.models_] == [1, 2, 3, 4]
        assert result.model_.n_experts_ == result.n_experts_
        assert result.criterion_.shape == (4,) and result.heights_.shape == (4,)
        assert result.heights_[0] == 0 and np.all(result.heights_[1:] > 0)
        assert is_valid_linkage(result.linkage_)
        for model in result.models_:
            np.testing.assert_allclose(model.predict_proba(X[:5]).sum(axis=1), 1.0)
        expected = -(np.log1p(result.heights_) + np.sqrt(len(y)) * result.loglik_)
        np.testing.assert_allclose(result.criterion_, expected)
        assert result.omega_ == np.sqrt(len(y))
    # Refitting recovers what merging loses: here every refitted level is at
    # least as good as the plain merged measure of the same size.
    plain = select_n_experts(
        X,
        y,
        max_experts=4,
        estimator=estimator,
        path="tree",
        path_alpha=0,
        dissimilarity="parameter",
    )
    refit = select_n_experts(X, y, max_experts=4, estimator=estimator, path_alpha=0)
    assert np.all(refit.loglik_ >= plain.loglik_ - 1e-9)


def test_path_ridge_collapses_redundant_atoms_and_final_model_is_refitted(clear_case):
    X, y = clear_case
    X, y = X[:5000], y[:5000]
    estimator = MoEClassifier(n_init=5, random_state=0)
    result = select_n_experts(X, y, max_experts=5, estimator=estimator)
    # Levels above the truth's three experts hold near-duplicate atoms.
    assert np.all(result.heights_[3:] < 0.1 * result.heights_[2])
    assert result.models_[-1].alpha == 1.0 / len(y)  # the default path ridge
    assert result.model_.alpha == estimator.alpha
    # The path's looser tolerance and cap, and short screening of the merges;
    # the selected model is refitted with the estimator's own settings.
    assert [m.tol for m in result.models_] == [1e-6] * 5
    assert [m.max_iter for m in result.models_] == [300] * 5
    assert [m.init_iter for m in result.models_] == [5] * 4 + [estimator.init_iter]
    assert (result.model_.tol, result.model_.max_iter) == (estimator.tol, estimator.max_iter)
    assert result.model_.n_experts_ == result.n_experts_
    assert result.model_.loglik(X, y) >= result.models_[result.n_experts_ - 1].loglik(X, y)


def test_path_settings_never_tighten_the_estimators_and_none_keeps_them(clear_case):
    X, y = clear_case
    X, y = X[:1500], y[:1500]
    loose = MoEClassifier(n_init=2, tol=1e-4, max_iter=50, init_iter=3, random_state=0)
    result = select_n_experts(X, y, max_experts=3, estimator=loose)
    assert {(m.tol, m.max_iter) for m in result.models_} == {(1e-4, 50)}
    assert {m.init_iter for m in result.models_} == {3}
    estimator = MoEClassifier(n_init=2, random_state=0)
    kept = select_n_experts(
        X,
        y,
        max_experts=3,
        estimator=estimator,
        path_tol=None,
        path_max_iter=None,
        path_screen_solver=None,
        merge_screen_iter=None,
    )
    assert {(m.tol, m.max_iter, m.init_iter, m.screen_solver) for m in kept.models_} == {
        (estimator.tol, estimator.max_iter, estimator.init_iter, estimator.screen_solver)
    }


@pytest.mark.parametrize(
    ("screen_solver", "init_iter", "path_screen_solver", "path_init_iter"),
    [("lbfgs", 30, "mm", 15), ("lbfgs", 7, "mm", 4), ("mm", 15, "lbfgs", 30), ("mm", 9, "mm", 9)],
)
def test_the_paths_screening_converts_the_estimators_budget(
    clear_case, screen_solver, init_iter, path_screen_solver, path_init_iter
):
    X, y = clear_case
    X, y = X[:1500], y[:1500]
    estimator = MoEClassifier(
        n_init=2, screen_solver=screen_solver, init_iter=init_iter, random_state=0
    )
    result = select_n_experts(
        X, y, max_experts=3, estimator=estimator, path_screen_solver=path_screen_solver
    )
    overfit, *merged = result.models_[::-1]
    assert (overfit.screen_solver, overfit.init_iter) == (path_screen_solver, path_init_iter)
    assert {(m.screen_solver, m.init_iter) for m in merged} == {
        (path_screen_solver, min(path_init_iter, 5))
    }
    # The selected size is refitted with the estimator's own screening.
    assert (result.model_.screen_solver, result.model_.init_iter) == (screen_solver, init_iter)


def test_selected_model_is_refitted_exactly_when_the_path_settings_differ(clear_case):
    X, y = clear_case
    X, y = X[:1500], y[:1500]
    estimator = MoEClassifier(n_init=2, random_state=0)
    # Only the tolerance and the cap differ: still refitted.
    looser = select_n_experts(X, y, max_experts=3, estimator=estimator, path_alpha=0)
    assert looser.model_ is not looser.models_[looser.n_experts_ - 1]
    assert (looser.model_.tol, looser.model_.max_iter) == (estimator.tol, estimator.max_iter)
    same = {
        "path_alpha": 0,
        "path_tol": None,
        "path_max_iter": None,
        "path_screen_solver": None,
        "merge_screen_iter": None,
    }
    kept = select_n_experts(X, y, max_experts=3, estimator=estimator, **same)
    assert kept.model_ is kept.models_[kept.n_experts_ - 1]
    # Nothing capped on purpose: a fit stopped by the estimator's own cap warns.
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        select_n_experts(
            X, y, max_experts=3, estimator=clone(estimator).set_params(max_iter=2), **same
        )


def test_capped_path_fits_do_not_warn(clear_case):
    X, y = clear_case
    X, y = X[:1500], y[:1500]
    estimator = MoEClassifier(n_init=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        clone(estimator).set_params(n_experts=3, max_iter=2).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = select_n_experts(X, y, max_experts=3, estimator=estimator, path_max_iter=2)
    assert not [w for w in caught if "max_iter=2" in str(w.message)]
    assert all(m.n_iter_ <= 2 for m in result.models_)


def test_dsc_levels_tied_within_the_paths_tolerance_select_the_fewest_experts():
    # A one-expert truth, fitted from a warm start whose three extra atoms have
    # no gate weight (intercepts 800 below): every level has the same
    # likelihood and zero height, and the criteria differ by rounding only.
    # Plain argmin picked 4 experts on this seed; the tie rule picks 1.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    y = (rng.random(400) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    one = MoEClassifier(n_experts=1).fit(X, y)
    start = MoEParams(
        gate_coef=np.zeros((4, 3)),
        gate_intercept=np.array([0.0, -800.0, -800.0, -800.0]),
        expert_coef=one.expert_coef_ + rng.normal(size=(4, *one.expert_coef_.shape[1:])),
        expert_intercept=np.repeat(one.expert_intercept_, 4, axis=0),
    )
    estimator = MoEClassifier(init=start, random_state=0)
    result = select_n_experts(X, y, method="dsc", max_experts=4, estimator=estimator)
    path_tol = max(estimator.tol, 1e-6)  # select_n_experts' default path_tol
    resolution = result.omega_ * path_tol * np.abs(result.loglik_).max()
    assert np.ptp(result.criterion_) < resolution
    assert result.n_experts_ == 1


@pytest.mark.parametrize("path_tol", [1e-6, None])
def test_dsc_tie_resolution_follows_the_paths_tolerance(clear_case, monkeypatch, path_tol):
    X, y = clear_case
    X, y = X[:2000], y[:2000]
    seen = []

    def spy(criterion, resolution):
        seen.append((criterion, resolution))
        return int(np.argmin(criterion))

    monkeypatch.setattr(_select, "_smallest_within", spy)
    estimator = MoEClassifier(n_init=2, random_state=0, tol=1e-7)
    result = select_n_experts(
        X, y, method="dsc", max_experts=4, estimator=estimator, path_tol=path_tol
    )
    ((criterion, resolution),) = seen
    tol = estimator.tol if path_tol is None else max(estimator.tol, path_tol)
    assert resolution == pytest.approx(result.omega_ * tol * np.abs(result.loglik_).max())
    np.testing.assert_array_equal(criterion, result.criterion_)


def test_dsc_tie_rule_cases_and_non_finite_criteria():
    assert _select._smallest_within(np.array([2.0, 1.0 + 5e-7, 1.0, 3.0]), 1e-6) == 1
    assert _select._smallest_within(np.array([2.0, 1.0 + 5e-6, 1.0, 3.0]), 1e-6) == 2
    assert _select._smallest_within(np.full(3, 4.0), 0.0) == 0
    with pytest.raises(FloatingPointError, match="not finite"):
        _select._smallest_within(np.array([1.0, np.nan]), 1e-6)
    with pytest.raises(FloatingPointError, match="not finite"):
        _select._smallest_within(np.array([1.0, 2.0]), np.nan)


def test_dsc_selects_three_on_a_clear_case(clear_case):
    X, y = clear_case
    result = select_n_experts(X, y, max_experts=6, estimator=MoEClassifier(random_state=0))
    assert result.n_experts_ == 3


def test_classifier_selects_inside_fit(clear_case):
    X, y = clear_case
    X, y = X[:2000], y[:2000]
    model = MoEClassifier(n_experts="bic", max_experts=3, n_init=4, random_state=0).fit(X, y)
    assert model.n_experts_ == model.selection_.n_experts_ == model.gate_coef_.shape[0]
    assert model.selection_.method == "bic"
    np.testing.assert_array_equal(
        model.predict_proba(X[:10]), model.selection_.model_.predict_proba(X[:10])
    )
    assert model.n_parameters() == model.selection_.model_.n_parameters()


def test_plots_draw(clear_case):
    import matplotlib

    matplotlib.use("Agg")
    from moelogit.plotting import plot_criterion, plot_dendrogram

    X, y = clear_case
    X, y = X[:1500], y[:1500]
    result = select_n_experts(
        X, y, max_experts=3, estimator=MoEClassifier(n_init=3, random_state=0)
    )
    ax = plot_dendrogram(result)
    assert len(ax.collections) + len(ax.lines) > 0
    ax = plot_criterion(result)
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 3]
    sweep = select_n_experts(X, y, max_experts=2, method="aic", estimator=MoEClassifier(n_init=2))
    with pytest.raises(ValueError, match="DSC result"):
        plot_dendrogram(sweep)


def test_information_criteria_sweep(clear_case):
    X, y = clear_case
    X, y = X[:4000], y[:4000]
    result = select_n_experts(
        X, y, max_experts=4, method="bic", estimator=MoEClassifier(random_state=0)
    )
    assert [m.gate_coef_.shape[0] for m in result.models_] == [1, 2, 3, 4]
    bics = [m.bic(X, y) for m in result.models_]
    np.testing.assert_allclose(result.criterion_, bics)
    assert result.n_experts_ == int(np.argmin(bics)) + 1
    icl = select_n_experts(
        X, y, max_experts=2, method="icl", estimator=MoEClassifier(random_state=0)
    )
    assert np.all(icl.criterion_ >= np.array(bics[:2]) - 1e-6)  # ICL adds an entropy >= 0


def test_bad_selection_arguments(clear_case):
    X, y = clear_case
    with pytest.raises(ValueError, match="method"):
        select_n_experts(X, y, method="cv")
    with pytest.raises(ValueError, match="max_experts"):
        select_n_experts(X, y, max_experts=0)
    with pytest.raises(ValueError, match="height_scale"):
        select_n_experts(X, y, height_scale="sqrt")
    with pytest.raises(ValueError, match="path"):
        select_n_experts(X, y, path="greedy")
    with pytest.raises(ValueError, match="path_alpha"):
        select_n_experts(X, y, path_alpha=-1.0)
    with pytest.raises(ValueError, match="dissimilarity"):
        select_n_experts(X, y, dissimilarity="cosine")
    for bad in (-1e-6, np.nan, np.inf, "1e-6", True):
        with pytest.raises(ValueError, match="path_tol"):
            select_n_experts(X, y, path_tol=bad)
        with pytest.raises(ValueError, match="path_alpha"):
            select_n_experts(X, y, method="bic", path_alpha=bad)  # checked for every method
    for name in ("path_max_iter", "merge_screen_iter"):
        for bad in (0, 2.5, True, "5"):
            with pytest.raises(ValueError, match=name):
                select_n_experts(X, y, **{name: bad})
    for bad in ("newton", "", 1):
        with pytest.raises(ValueError, match="path_screen_solver"):
            select_n_experts(X, y, path_screen_solver=bad)
    with pytest.raises(ValueError, match="n_experts must be an integer >= 1 or one of"):
        MoEClassifier(n_experts="cv").fit(X, y)
