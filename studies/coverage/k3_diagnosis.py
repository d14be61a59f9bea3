"""Why the Wald intervals of three-expert fits cover less than 95%: a diagnostic study.

The coverage study (:mod:`studies.coverage.coverage`) finds the 95%
intervals of ``K = 3`` fits short (0.72-0.82 at n = 2,000). This study
replays its well-specified ``K = 3`` cells (same truth, same data sets,
same estimate: the better of the default fit and a fit from the truth) and
keeps, for every replicate and free parameter, the estimate, both standard
errors and the target under several matchings of the truth's experts to
the fit's, so that the candidate explanations can be measured apart:

* **matching**: ``matched_target`` takes the order of the truth's experts
  nearest in raw coefficients; the study also records the order nearest in
  standardised coefficients (each difference divided by its standard
  error), the order nearest in function (gate probabilities and expert
  class probabilities on the replicate's rows), and, as an upper bound no
  matching can beat, the order that covers most;
* **optima**: a wider search, ``starts`` single fully converged starts
  besides the two fits, the best then refined by Newton's method
  (``polish=True``), gives the fit "best"; its rows sit beside those of the
  study's fit "study" and of the fit from the truth alone, "from truth"
  (the optimum in the truth's basin);
* **standard errors against spread**: the z-scores ``(estimate - target) /
  se`` per parameter (bias, spread, skewness, tails);
* **sample size**: the cells' sizes are a parameter.

The probabilities ``p(y = 0 | x)`` at the coverage study's 50 points are
kept too, on the logit scale (where the delta-method intervals are built),
as block ``p(y=0|x)``; their target does not depend on the matching.

Run ``python -m studies coverage-k3`` (see ``--help``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import special, stats

from moelogit import MoEClassifier
from studies.coverage.coverage import (
    LEVEL, N_FEATURES, TEST_POINTS, Config, free_parameters, maximum_likelihood_fit, permuted,
    permuted_targets, replicate_data, truth,
)  # fmt: skip
from studies.tables import markdown_table

N_EXPERTS = 3
Z = stats.norm.ppf(0.5 + LEVEL / 2)
#: Criteria for ordering the truth's experts like the fit's, as columns ``target <criterion>``.
MATCHINGS = ("coefficients", "standardised", "function", "most covered")
PROBABILITY_BLOCK = "p(y=0|x)"
GAIN = 1e-6  # objective gains per row below this count as the same optimum
#: The fits of a replicate: the coverage study's, the wider search's, the one from the truth.
FITS = ("study", "best", "from truth")


def test_points() -> np.ndarray:
    """The coverage study's 50 points for the probabilities."""
    return np.random.default_rng(2026).normal(size=(TEST_POINTS, N_FEATURES))


def function_distance(fit, target, X) -> float:
    """Mean squared difference of the gate and expert class probabilities on ``X``, expert by expert."""
    gate = np.mean((fit.gate_proba(X) - target.gate_proba(X)) ** 2)
    experts = np.mean((fit.expert_proba(X) - target.expert_proba(X)) ** 2)
    return float(gate + experts)


def matchings(generator, fit_params, table, X) -> dict[str, tuple]:
    """The order of ``generator``'s experts each criterion in :data:`MATCHINGS` picks for ``table``."""
    estimates, se = table["coef"], table["std err"]
    candidates = permuted_targets(generator, estimates.index)

    def best(score, largest=False):
        scores = {order: score(order, values) for order, values in candidates.items()}
        return (max if largest else min)(scores, key=scores.get)

    return {
        "coefficients": best(lambda _, values: float(np.sum((values - estimates) ** 2))),
        "standardised": best(lambda _, values: float(np.sum(((values - estimates) / se) ** 2))),
        "function": best(lambda order, _: function_distance(fit_params, permuted(generator, order), X)),
        "most covered": best(
            lambda _, values: int(np.sum(np.abs(values - estimates) <= Z * se)), largest=True
        ),
    }  # fmt: skip


def search_fit(generator, X, y, seed: int, starts: int, study) -> MoEClassifier:
    """The best of ``study`` and ``starts`` single converged starts, refined by Newton's method."""
    fits = [study] + [
        MoEClassifier(N_EXPERTS, n_init=1, random_state=1000 * seed + start + 1).fit(X, y)
        for start in range(starts)
    ]
    best = max(fits, key=lambda fit: fit.objective_)
    return MoEClassifier(N_EXPERTS, init=best.params_, polish=True, random_state=seed).fit(X, y)


def parameter_rows(model, generator, X, y, points) -> pd.DataFrame:
    """One row per free parameter and per probability: estimate, standard errors, targets, orders."""
    covariances = {"se": model.covariance(X, y), "se robust": model.covariance(X, y, robust=True)}
    index = covariances["se"].index
    frame = pd.DataFrame({"estimate": pd.Series(free_parameters(model.params_)).reindex(index)})
    for column, covariance in covariances.items():
        frame[column] = np.sqrt(np.diag(covariance.loc[index, index]))
    table = frame.rename(columns={"estimate": "coef", "se": "std err"})
    candidates = permuted_targets(generator, table.index)
    for criterion, order in matchings(generator, model.params_, table, X).items():
        frame[f"target {criterion}"] = candidates[order]
        frame[f"order {criterion}"] = "-".join(map(str, order))
    frame = frame.reset_index()
    proba = pd.DataFrame({"block": PROBABILITY_BLOCK, "level": "", "term": range(len(points))})
    proba["term"] = "point " + proba["term"].astype(str)
    proba["estimate"] = special.logit(model.predict_proba(points)[:, 0])
    for column, covariance in covariances.items():
        low, high = model.predict_proba_interval(points, covariance, level=LEVEL)
        proba[column] = (special.logit(high[:, 0]) - special.logit(low[:, 0])) / (2 * Z)
    for criterion in MATCHINGS:
        proba[f"target {criterion}"] = special.logit(generator.class_proba(points)[:, 0])
    return pd.concat([frame, proba], ignore_index=True)


def replicate(n_samples: int, generator, seed: int, starts: int) -> pd.DataFrame:
    """Replicate ``seed`` of the well-specified cell at ``n_samples``: rows of both fits."""
    config = Config(N_EXPERTS, n_samples, False)
    X, y = replicate_data(config, generator, seed)
    study, default_short, from_truth = maximum_likelihood_fit(N_EXPERTS, generator, X, y, seed)
    best = search_fit(generator, X, y, seed, starts, study)
    frames = []
    for name, model in zip(FITS, (study, best, from_truth)):
        try:
            rows = parameter_rows(model, generator, X, y, test_points())
        except ValueError:  # the information is not definite
            rows = pd.DataFrame({"refused": [True]})
        rows.insert(0, "fit", name)
        rows["objective"] = model.objective_
        rows["converged"] = model.converged_
        rows["smallest gate weight"] = np.min(model.params_.gate_weight(X)) / n_samples
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "replicate", seed)
    frame.insert(0, "n", n_samples)
    frame["default short"] = default_short
    frame["gain"] = best.objective_ - study.objective_
    frame["truth gap"] = best.objective_ - from_truth.objective_
    return frame


def run_diagnosis(cells: dict[int, int], n_jobs: int, starts: int, out=None) -> pd.DataFrame:
    """Every replicate of every cell ``{n_samples: replicates}``, as one frame.

    With ``out`` (a path) the rows done so far are written there every ten
    replicates, so an interrupted run keeps them.
    """
    generator = truth(N_EXPERTS)
    jobs = [(n, seed) for n, replicates in cells.items() for seed in range(replicates)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(replicate)(n, generator, seed, starts) for n, seed in jobs
    )
    frames = []
    for done, frame in enumerate(results, start=1):
        frames.append(frame)
        if out is not None and (done % 10 == 0 or done == len(jobs)):
            tidy(frames).to_csv(out, index=False)
    return tidy(frames)


def tidy(frames) -> pd.DataFrame:
    """The replicates' frames as one, ``refused`` a boolean column."""
    frame = pd.concat(frames, ignore_index=True)
    if "refused" not in frame:
        frame["refused"] = False
    frame["refused"] = frame["refused"].astype("boolean").fillna(False).astype(bool)
    return frame


# -- summaries ----------------------------------------------------------------


def with_z(frame: pd.DataFrame, matching: str = "standardised") -> pd.DataFrame:
    """The usable rows with ``z`` and ``covered`` under ``matching``, blocks gate/experts/p."""
    rows = frame[~frame["refused"]].copy()
    rows["z"] = (rows["estimate"] - rows[f"target {matching}"]) / rows["se"]
    rows["covered"] = rows["z"].abs() <= Z
    kinds = {"gate": "gate", PROBABILITY_BLOCK: PROBABILITY_BLOCK}
    rows["kind"] = rows["block"].map(kinds).fillna("experts")
    return rows


def coverage_by_matching(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the gate and expert blocks under each matching, per size and fit."""
    table = {}
    for matching in MATCHINGS:
        rows = with_z(frame, matching)
        rows = rows[rows["kind"] != PROBABILITY_BLOCK]
        table[matching] = rows.groupby(["n", "fit", "kind"])["covered"].mean()
    return pd.DataFrame(table)


def order_disagreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of replicates whose order under each matching differs from the coefficients' one."""
    firsts = frame[~frame["refused"] & (frame["block"] == "gate")]
    firsts = firsts.groupby(["n", "fit", "replicate"]).first()
    return pd.DataFrame({
        matching: (firsts[f"order {matching}"] != firsts["order coefficients"]).groupby(["n", "fit"]).mean()
        for matching in MATCHINGS[1:]
    })  # fmt: skip


def optima(frame: pd.DataFrame) -> pd.DataFrame:
    """How often the wider search found a higher optimum, and each fit's coverage (gate and experts)."""
    rows = with_z(frame)
    rows = rows[rows["kind"] != PROBABILITY_BLOCK]
    per_replicate = frame.groupby(["n", "replicate"])[
        ["gain", "truth gap", "default short"]
    ].first()
    higher = per_replicate["gain"] > GAIN
    summary = pd.DataFrame({
        "replicates": per_replicate.groupby("n").size(),
        "default below study": per_replicate["default short"].groupby("n").mean(),
        "best above study": higher.groupby("n").mean(),
        "median gain there": per_replicate["gain"][higher].groupby("n").median(),
        "from truth below best": (per_replicate["truth gap"] > GAIN).groupby("n").mean(),
    })  # fmt: skip
    for fit in FITS:
        summary[f"coverage {fit}"] = rows[rows["fit"] == fit].groupby("n")["covered"].mean()
    for fit in ("study", "best"):
        higher_rows = rows[(rows["fit"] == fit) & rows["gain"].gt(GAIN)]
        summary[f"coverage {fit}, where higher"] = higher_rows.groupby("n")["covered"].mean()
    return summary


def z_scores(frame: pd.DataFrame, n_samples: int, fit: str = "best") -> pd.DataFrame:
    """Per parameter of one cell: bias, spread against standard error, and the z-scores' shape."""
    rows = with_z(frame)
    rows = rows[(rows["n"] == n_samples) & (rows["fit"] == fit)]
    rows["error"] = rows["estimate"] - rows["target standardised"]
    rows.loc[rows["kind"] == PROBABILITY_BLOCK, ["level", "term"]] = ["", "50 points"]
    keys = ["block", "level", "term"]
    grouped = rows.groupby(keys, sort=False)
    return pd.DataFrame({
        "bias": grouped["error"].mean(),
        "sd": grouped["error"].std(),
        "median se": grouped["se"].median(),
        "sd / se": grouped["error"].std() / grouped["se"].median(),
        "mad sd / se": grouped["error"].apply(stats.median_abs_deviation, scale="normal")
        / grouped["se"].median(),
        "z mean": grouped["z"].mean(),
        "z sd": grouped["z"].std(),
        "z skew": grouped["z"].skew(),
        "z kurtosis": grouped["z"].apply(lambda z: stats.kurtosis(z)),
        "coverage": grouped["covered"].mean(),
    })  # fmt: skip


def report(frame: pd.DataFrame) -> str:
    """The summary tables as Markdown."""
    per_replicate = frame.groupby(["n", "fit", "replicate"])["refused"].first()
    sections = [
        ("Refused (information not definite), share of replicates", per_replicate.groupby(["n", "fit"]).mean().to_frame()),
        ("Orders differing from the nearest in coefficients, share of replicates", order_disagreement(frame)),
        ("Coverage of the coefficients (observed information) by matching", coverage_by_matching(frame)),
        ("Optima: the wider search against the study's fit (standardised matching)", optima(frame)),
    ]  # fmt: skip
    for n in sorted(frame["n"].unique()):
        for fit in FITS[1:]:
            title = f"z-scores at n = {n}, fit {fit!r}, standardised matching"
            sections.append((title, z_scores(frame, n, fit)))
    return "\n\n".join(
        f"{title}\n\n{markdown_table(table.reset_index(), '{:.3g}'.format)}"
        for title, table in sections
    )
