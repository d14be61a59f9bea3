"""Coverage of moelogit's intervals: coefficients (observed information and sandwich) and probabilities.

Each configuration draws replicates from one truth (``d = 2`` standard
normal features, ``M = 2`` classes, ``K`` experts, every expert's mean gate
weight at least 0.2 and every pair of experts well apart), fits the default
``MoEClassifier(K)`` and asks whether each interval at 95% holds its
target:

* the coefficients' Wald intervals, from the observed information and from
  the sandwich. A fit's experts are exchangeable and its references are
  its own (the last expert in canonical order, the last class), so the
  truth is expressed in the fit's terms first: its experts matched to the
  fit's by the permutation nearest in coefficients, then differenced
  against the matched reference;
* the delta-method intervals of ``p(y = 0 | x)`` at 50 fixed points.

The intervals are those of the maximum likelihood estimate: each replicate
keeps the better of the default fit and a fit started from the generating
parameters, and counts how often the default alone ended lower.

Misspecified configurations relabel 10% of the rows at random (a foreign
label process the model does not have): the target is then the
pseudo-true parameter, the maximiser of the expected log-likelihood under
the contaminated process, estimated once by a fit on ``PSEUDO_TRUE_ROWS``
rows; the probabilities' target is that fit's ``p(y | x)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats

from moelogit import MoEClassifier
from moelogit.datasets import make_moe_classification
from moelogit.params import MoEParams

LEVEL = 0.95
N_FEATURES, N_CLASSES = 2, 2
FOREIGN_SHARE = 0.10
PSEUDO_TRUE_ROWS = 1_000_000
TEST_POINTS = 50


@dataclass(frozen=True)
class Config:
    """One cell of the study."""

    n_experts: int
    n_samples: int
    misspecified: bool

    @property
    def name(self) -> str:
        truth = "misspecified" if self.misspecified else "well-specified"
        return f"K={self.n_experts} n={self.n_samples} {truth}"


def default_configs() -> list[Config]:
    """Well-specified K = 2, 3 at n = 2,000 and 20,000; misspecified K = 2, 3 at n = 20,000."""
    well = [Config(K, n, False) for K in (2, 3) for n in (2_000, 20_000)]
    return well + [Config(K, 20_000, True) for K in (2, 3)]


def truth(n_experts: int, seed: int = 0) -> MoEParams:
    """A well-separated random truth of the study's shape."""
    return make_moe_classification(
        10, N_FEATURES, n_experts, N_CLASSES, min_gate_weight=0.2, min_expert_distance=0.3,
        random_state=seed,
    )[2]  # fmt: skip


def draw(config: Config, params: MoEParams, n_samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A data set from ``params``, with foreign labels if ``config`` is misspecified."""
    X, y, _ = make_moe_classification(n_samples, N_FEATURES, params=params, random_state=rng)
    if config.misspecified:
        foreign = rng.random(n_samples) < FOREIGN_SHARE
        y = np.where(foreign, rng.integers(0, N_CLASSES, n_samples), y)
    return X, y


def free_parameters(params: MoEParams) -> dict:
    """The identifiable parameters as the summary labels them, references the last expert and class."""
    gate = np.column_stack([params.gate_intercept, params.gate_coef])  # (K, 1 + d)
    experts = np.concatenate([params.expert_intercept[:, :, None], params.expert_coef], axis=2)
    terms = ["intercept", *[f"x{j}" for j in range(params.n_features)]]
    values = {}
    for k in range(params.n_experts - 1):
        for t, term in enumerate(terms):
            values["gate", f"expert {k + 1}", term] = gate[k, t] - gate[-1, t]
    for k in range(params.n_experts):
        for m in range(params.n_classes - 1):
            for t, term in enumerate(terms):
                values[f"expert {k + 1}", str(m), term] = experts[k, m, t] - experts[k, -1, t]
    return values


def permuted(params: MoEParams, order) -> MoEParams:
    """``params`` with its experts in ``order``: expert ``j`` is ``params``' expert ``order[j]``."""
    order = list(order)
    return MoEParams(
        params.gate_coef[order], params.gate_intercept[order],
        params.expert_coef[order], params.expert_intercept[order],
    )  # fmt: skip


def permuted_targets(target: MoEParams, index: pd.Index) -> dict[tuple, pd.Series]:
    """``target``'s free parameters, labelled by ``index``, under every order of its experts."""
    return {
        order: pd.Series(free_parameters(permuted(target, order))).reindex(index)
        for order in itertools.permutations(range(target.n_experts))
    }


def matched_target(target: MoEParams, estimates: pd.Series) -> pd.Series:
    """``target``'s free parameters with its experts in the order nearest to the fit's."""
    candidates = permuted_targets(target, estimates.index).values()
    return min(candidates, key=lambda values: float(np.sum((values - estimates) ** 2)))


def replicate_data(config: Config, generator: MoEParams, seed: int):
    """Replicate ``seed``'s data set of ``config``: ``(X, y)``."""
    rng = np.random.default_rng([seed, config.n_experts, config.n_samples, config.misspecified])
    return draw(config, generator, config.n_samples, rng)


def maximum_likelihood_fit(n_experts: int, generator: MoEParams, X, y, seed: int):
    """``(best, default_short, from_truth)``: the default fit or the fit from ``generator``.

    ``best`` is the better of the two, ``default_short`` whether the default
    ended lower (by more than 1e-6 per row: it sometimes ends in a lower
    optimum, and the intervals are about the maximum likelihood estimate).
    """
    model = MoEClassifier(n_experts, random_state=seed).fit(X, y)
    from_truth = MoEClassifier(n_experts, init=generator, random_state=seed).fit(X, y)
    default_short = from_truth.objective_ - model.objective_ > 1e-6
    return (from_truth if default_short else model), default_short, from_truth


def replicate(config: Config, target: MoEParams, generator: MoEParams, test_X, seed: int) -> list:
    """One replicate's coverage counts: ``(block, kind, covered, total)`` rows."""
    X, y = replicate_data(config, generator, seed)
    model, default_short, _ = maximum_likelihood_fit(config.n_experts, generator, X, y, seed)
    rows = [("default fit", "below the best by > 1e-6", int(default_short), 1)]
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    for robust in (False, True):
        try:
            table = model.summary(X, y, level=LEVEL, robust=robust).table
        except ValueError:  # the information is not definite: the refusals are counted
            return [("all", "refused", 1, 1)]
        wanted = matched_target(target, table["coef"])
        covered = np.abs(table["coef"] - wanted) <= z * table["std err"]
        blocks = np.where(table.index.get_level_values("block") == "gate", "gate", "experts")
        kind = "sandwich" if robust else "observed"
        for block in ("gate", "experts"):
            chosen = covered[blocks == block]
            rows.append((block, kind, int(chosen.sum()), int(chosen.size)))
    low, high = model.predict_proba_interval(test_X, model.covariance(X, y), level=LEVEL)
    true_proba = target.class_proba(test_X)[:, 0]
    inside = (low[:, 0] <= true_proba) & (true_proba <= high[:, 0])
    rows.append(("p(y=0|x)", "delta", int(inside.sum()), int(inside.size)))
    return [*rows, ("all", "refused", 0, 1)]


def pseudo_truth_data(config: Config, generator: MoEParams, seed: int = 12345):
    """The ``PSEUDO_TRUE_ROWS`` rows the pseudo-true parameter is estimated on: ``(X, y)``."""
    return draw(config, generator, PSEUDO_TRUE_ROWS, np.random.default_rng(seed))


def pseudo_truth(config: Config, generator: MoEParams, seed: int = 12345) -> MoEParams:
    """The maximiser of the expected log-likelihood under ``config``'s process, estimated."""
    if not config.misspecified:
        return generator
    X, y = pseudo_truth_data(config, generator, seed)
    fits = [
        MoEClassifier(config.n_experts, random_state=0).fit(X, y),
        MoEClassifier(config.n_experts, init=generator, random_state=0).fit(X, y),
    ]
    return max(fits, key=lambda fit: fit.objective_).params_


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Coverage per configuration, block and kind, with a Clopper-Pearson 95% interval.

    Counts pool the parameters of a block over replicates; parameters of one
    replicate are not independent, so the interval is a rough guide.
    """
    rows = []
    keys = ["config", "block", "kind"]
    for (config, block, kind), part in runs.groupby(keys, sort=False):
        covered, total = int(part["covered"].sum()), int(part["total"].sum())
        interval = stats.binomtest(covered, total).proportion_ci(0.95)
        rows.append({
            "config": config, "block": block, "kind": kind, "replicates": part["replicate"].nunique(),
            "coverage": covered / total, "low": interval.low, "high": interval.high,
        })  # fmt: skip
    return pd.DataFrame(rows)


def run_coverage(configs, replicates: int, n_jobs: int, out_dir) -> pd.DataFrame:
    """Every replicate of every configuration; writes ``runs.csv`` and ``summary.csv`` to ``out_dir``.

    ``runs.csv`` is rewritten as replicates finish, so an interrupted run
    keeps what it did.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    test_X = np.random.default_rng(2026).normal(size=(TEST_POINTS, N_FEATURES))
    generators = [truth(config.n_experts) for config in configs]
    targets = Parallel(n_jobs=n_jobs)(
        delayed(pseudo_truth)(config, generator) for config, generator in zip(configs, generators)
    )
    jobs = [  # seed by seed: an interrupted run has about as many replicates of every cell
        (config, target, generator, seed)
        for seed in range(replicates)
        for config, target, generator in zip(configs, targets, generators)
    ]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(replicate)(config, target, generator, test_X, seed)
        for config, target, generator, seed in jobs
    )
    rows = []
    columns = ["config", "replicate", "block", "kind", "covered", "total"]
    for done, ((config, _, _, seed), counts) in enumerate(zip(jobs, results), start=1):
        rows += [(config.name, seed, *row) for row in counts]
        if done % 100 == 0 or done == len(jobs):
            pd.DataFrame(rows, columns=columns).to_csv(out / "runs.csv", index=False)
    summary = summarise(pd.DataFrame(rows, columns=columns))
    summary.to_csv(out / "summary.csv", index=False)
    return summary
