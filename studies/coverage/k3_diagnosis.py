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
    permuted_targets, pseudo_truth, replicate_data, truth,
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
#: A fit with a coefficient larger than this in size (the truth's largest: 3.8) counts as diverging.
LARGE = 10.0


def test_points() -> np.ndarray:
    """The coverage study's 50 points for the probabilities."""
    return np.random.default_rng(2026).normal(size=(TEST_POINTS, N_FEATURES))


def function_distance(fit, target, X) -> float:
    """Mean squared difference of gate and expert class probabilities on ``X``, expert by expert."""
    gate = np.mean((fit.gate_proba(X) - target.gate_proba(X)) ** 2)
    experts = np.mean((fit.expert_proba(X) - target.expert_proba(X)) ** 2)
    return float(gate + experts)


def matchings(generator, fit_params, table, X) -> dict[str, tuple]:
    """The order of ``generator``'s experts that each of :data:`MATCHINGS` picks for ``table``."""
    estimates, se = table["coef"], table["std err"]
    candidates = permuted_targets(generator, estimates.index)

    def best(score, largest=False):
        scores = {order: score(order, values) for order, values in candidates.items()}
        return (max if largest else min)(scores, key=scores.get)

    return {
        "coefficients": best(lambda _, values: float(np.sum((values - estimates) ** 2))),
        "standardised": best(lambda _, values: float(np.sum(((values - estimates) / se) ** 2))),
        "function": best(
            lambda order, _: function_distance(fit_params, permuted(generator, order), X)
        ),
        "most covered": best(
            lambda _, values: int(np.sum(np.abs(values - estimates) <= Z * se)), largest=True
        ),
    }  # fmt: skip


def search_fit(X, y, seed: int, starts: int, study) -> MoEClassifier:
    """The best of ``study`` and ``starts`` single converged starts, refined by Newton's method."""
    fits = [study] + [
        MoEClassifier(N_EXPERTS, n_init=1, random_state=1000 * seed + start + 1).fit(X, y)
        for start in range(starts)
    ]
    best = max(fits, key=lambda fit: fit.objective_)
    return MoEClassifier(N_EXPERTS, init=best.params_, polish=True, random_state=seed).fit(X, y)


def parameter_rows(model, target, X, y, points) -> pd.DataFrame:
    """A row per free parameter and per probability: estimate, standard errors, targets, orders."""
    covariances = {"se": model.covariance(X, y), "se robust": model.covariance(X, y, robust=True)}
    index = covariances["se"].index
    frame = pd.DataFrame({"estimate": pd.Series(free_parameters(model.params_)).reindex(index)})
    for column, covariance in covariances.items():
        frame[column] = np.sqrt(np.diag(covariance.loc[index, index]))
    table = frame.rename(columns={"estimate": "coef", "se": "std err"})
    candidates = permuted_targets(target, table.index)
    for criterion, order in matchings(target, model.params_, table, X).items():
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
        proba[f"target {criterion}"] = special.logit(target.class_proba(points)[:, 0])
    return pd.concat([frame, proba], ignore_index=True)


def replicate(config: Config, generator, target, seed: int, starts: int) -> pd.DataFrame:
    """Replicate ``seed`` of ``config``, data from ``generator``, intervals for ``target``: rows.

    ``target`` is ``generator`` in a well-specified cell, the pseudo-true
    parameter under foreign labels (as in the coverage study).
    """
    X, y = replicate_data(config, generator, seed)
    study, default_short, from_truth = maximum_likelihood_fit(N_EXPERTS, generator, X, y, seed)
    best = search_fit(X, y, seed, starts, study)
    frames = []
    for name, model in zip(FITS, (study, best, from_truth)):
        try:
            rows = parameter_rows(model, target, X, y, test_points())
        except ValueError:  # the information is not definite
            rows = pd.DataFrame({"refused": [True]})
        rows.insert(0, "fit", name)
        rows["objective"] = model.objective_
        rows["converged"] = model.converged_
        rows["smallest gate weight"] = np.min(model.params_.gate_weight(X)) / config.n_samples
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "replicate", seed)
    frame.insert(0, "n", config.n_samples)
    frame["default short"] = default_short
    frame["gain"] = best.objective_ - study.objective_
    frame["truth gap"] = best.objective_ - from_truth.objective_
    return frame


def run_diagnosis(
    cells: dict[int, int], n_jobs: int, starts: int, out=None, misspecified=False
) -> pd.DataFrame:
    """Every replicate of every cell ``{n_samples: replicates}``, as one frame.

    With ``misspecified`` the cells have the coverage study's 10% foreign
    labels and their target is its pseudo-true parameter.

    With ``out`` (a path; ``.csv.gz`` compresses) the rows done so far are
    written there every ten replicates, so an interrupted run keeps them;
    numbers to six significant digits.
    """
    generator = truth(N_EXPERTS)
    configs = [Config(N_EXPERTS, n, misspecified) for n in cells]
    target = pseudo_truth(configs[0], generator)  # the same process at every size
    jobs = [(config, seed) for config in configs for seed in range(cells[config.n_samples])]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(replicate)(config, generator, target, seed, starts) for config, seed in jobs
    )
    frames = []
    for done, frame in enumerate(results, start=1):
        frames.append(frame)
        if out is not None and (done % 10 == 0 or done == len(jobs)):
            tidy(frames).to_csv(out, index=False, float_format="%.6g")
    return tidy(frames)


def tidy(frames) -> pd.DataFrame:
    """The replicates' frames as one, ``refused`` a boolean column."""
    frame = pd.concat(frames, ignore_index=True)
    if "refused" not in frame:
        frame["refused"] = False
    frame["refused"] = frame["refused"].astype("boolean").fillna(False).astype(bool)
    return frame


# -- summaries ----------------------------------------------------------------


def with_z(frame: pd.DataFrame, matching: str = "standardised", se: str = "se") -> pd.DataFrame:
    """The usable rows with ``z`` and ``covered`` under ``matching``, blocks gate/experts/p.

    ``se`` is the column of standard errors: "se" (observed information) or
    "se robust" (sandwich).
    """
    rows = frame[~frame["refused"]].copy()
    rows["z"] = (rows["estimate"] - rows[f"target {matching}"]) / rows[se]
    rows["covered"] = rows["z"].abs() <= Z
    kinds = {"gate": "gate", PROBABILITY_BLOCK: PROBABILITY_BLOCK}
    rows["kind"] = rows["block"].map(kinds).fillna("experts")
    return rows


def coverage_by_matching(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage per block under each matching, per size and fit (the probabilities need none)."""
    table = {}
    for matching in MATCHINGS:
        rows = with_z(frame, matching)
        table[matching] = rows.groupby(["n", "fit", "kind"])["covered"].mean()
    return pd.DataFrame(table)


def sandwich_coverage(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage per block of the observed-information and the sandwich intervals (standardised)."""
    return pd.DataFrame({
        name: with_z(frame, se=column).groupby(["n", "fit", "kind"])["covered"].mean()
        for name, column in (("observed", "se"), ("sandwich", "se robust"))
    }).unstack("kind")  # fmt: skip


def order_disagreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of replicates whose order under each matching differs from the coefficients' one."""
    firsts = frame[~frame["refused"] & (frame["block"] == "gate")]
    firsts = firsts.groupby(["n", "fit", "replicate"]).first()
    differs = {
        matching: firsts[f"order {matching}"] != firsts["order coefficients"]
        for matching in MATCHINGS[1:]
    }
    return pd.DataFrame(differs).groupby(["n", "fit"]).mean()


def optima(frame: pd.DataFrame) -> pd.DataFrame:
    """How often the default, the study's fit and the fit from the truth end below the best."""
    per_replicate = frame.groupby(["n", "replicate"])[
        ["gain", "truth gap", "default short"]
    ].first()
    higher, truth_lower = per_replicate["gain"] > GAIN, per_replicate["truth gap"] > GAIN
    return pd.DataFrame({
        "replicates": per_replicate.groupby("n").size(),
        "default below study": per_replicate["default short"].groupby("n").mean(),
        "study below best": higher.groupby("n").mean(),
        "median gap": per_replicate["gain"][higher].groupby("n").median(),
        "from truth below best": truth_lower.groupby("n").mean(),
        "its median gap": per_replicate["truth gap"][truth_lower].groupby("n").median(),
    })  # fmt: skip


def coverage_by_optimum(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage per fit and block, in all replicates and by whether the truth's basin held the best.

    The truth's basin is the optimum the fit from the truth reaches; where
    the best optimum found lies above it (by more than :data:`GAIN` per
    row), the study's and the best fit are often elsewhere.
    """
    rows = with_z(frame)
    basin = np.where(rows["truth gap"] > GAIN, "below the best", "the best")
    parts = [rows.assign(basin="all"), rows.assign(basin=basin)]
    rows = pd.concat(parts, ignore_index=True).rename(columns={"basin": "truth's basin"})
    keys = ["n", "fit", "truth's basin"]
    table = rows.groupby([*keys, "kind"])["covered"].mean().unstack("kind")
    table.insert(0, "replicates", rows.groupby(keys)["replicate"].nunique())
    return table


def in_truth_terms(rows: pd.DataFrame, matching: str) -> pd.DataFrame:
    """``rows`` with the fit's experts renamed after the truth's experts matched to them.

    The fit's expert order varies between replicates (experts 2 and 3 of the
    truth have nearly equal gate weights), so a parameter is followed across
    replicates by the truth's labels: ``truth k`` for expert ``k``'s
    coefficients, ``truth k - truth r`` for a gate difference against the
    fit's reference.
    """
    rows = rows.copy()
    orders = rows[f"order {matching}"].str.split("-")

    def truth_name(order, label):  # the fit's "expert j" -> the truth's "truth k"
        return f"truth {int(order[int(label.split()[-1]) - 1]) + 1}"

    gate = rows["block"] == "gate"
    experts = rows["block"].str.startswith("expert")
    rows.loc[experts, "block"] = [
        truth_name(order, block) for order, block in zip(orders[experts], rows["block"][experts])
    ]
    rows.loc[gate, "level"] = [
        f"{truth_name(order, level)} - truth {int(order[-1]) + 1}"
        for order, level in zip(orders[gate], rows["level"][gate])
    ]
    return rows


def z_scores(frame: pd.DataFrame, n_samples: int, fit: str = "best") -> pd.DataFrame:
    """Per parameter of one cell: bias, spread against standard error, and the z-scores' shape."""
    rows = with_z(frame)
    rows = in_truth_terms(rows[(rows["n"] == n_samples) & (rows["fit"] == fit)], "standardised")
    rows["error"] = rows["estimate"] - rows["target standardised"]
    rows.loc[rows["kind"] == PROBABILITY_BLOCK, ["level", "term"]] = ["", "50 points"]
    keys = ["block", "level", "term"]
    grouped = rows.groupby(keys)
    return pd.DataFrame({
        "replicates": grouped.size(),
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


def large_coefficients(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of fits with a coefficient beyond :data:`LARGE`, and coverage with and without one."""
    rows = with_z(frame)
    coefficients = rows[rows["kind"] != PROBABILITY_BLOCK]
    keys = ["n", "fit", "replicate"]
    large = coefficients.groupby(keys)["estimate"].agg(lambda e: e.abs().max()) > LARGE
    rows["large"] = large.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy()
    summary = large.groupby(["n", "fit"]).mean().rename("share large").to_frame()
    coverage = rows.groupby(["n", "fit", "large", "kind"])["covered"].mean()
    coverage = coverage.unstack(["large", "kind"])
    coverage.columns = [
        f"{kind}, {'large' if big else 'none large'}" for big, kind in coverage.columns
    ]
    return summary.join(coverage[sorted(coverage.columns)])


def smallest_expert(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the coefficients by the fit's smallest gate weight (the truth's: 0.22)."""
    rows = with_z(frame)
    rows = rows[rows["kind"] != PROBABILITY_BLOCK]
    weight = pd.cut(rows["smallest gate weight"], [0, 0.1, 0.15, 0.2, 0.25, 1 / N_EXPERTS])
    grouped = rows.groupby(["n", "fit", weight.rename("smallest gate weight")], observed=True)
    return pd.DataFrame({
        "replicates": grouped["replicate"].nunique(), "coverage": grouped["covered"].mean(),
    })  # fmt: skip


def report(frame: pd.DataFrame) -> str:
    """The summary tables as Markdown."""
    refused = frame.groupby(["n", "fit", "replicate"])["refused"].first()
    sections = [
        ("Refused (information not definite), share of replicates",
         refused.groupby(["n", "fit"]).mean().to_frame()),
        ("Orders differing from the nearest in coefficients, share of replicates",
         order_disagreement(frame)),
        ("Coverage (observed information) by matching of the experts",
         coverage_by_matching(frame)),
        ("Coverage of the observed-information and the sandwich intervals",
         sandwich_coverage(frame)),
        ("Optima: share of replicates whose fit ends below the best found, gaps per row",
         optima(frame)),
        ("Coverage by where the truth's basin lies (standardised matching)",
         coverage_by_optimum(frame)),
        (f"Fits with a coefficient beyond {LARGE:g} in size; coverage with and without",
         large_coefficients(frame)),
        ("Coverage of the coefficients by the fit's smallest gate weight",
         smallest_expert(frame)),
    ]  # fmt: skip
    for n in sorted(frame["n"].unique()):
        for fit in FITS[1:]:
            title = f"z-scores at n = {n}, fit {fit!r}, standardised matching"
            sections.append((title, z_scores(frame, n, fit)))
    return "\n\n".join(
        f"{title}\n\n{markdown_table(table.reset_index(), '{:.3g}'.format)}"
        for title, table in sections
    )
