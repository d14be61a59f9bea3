"""The PPI study: protocols, models, the runner and ``python -m studies ppi``."""

from pathlib import Path

import numpy as np
import pytest

from studies.ppi.folds import make_folds


def random_pairs(n_proteins=60, n_pairs=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.array([f"p{i}" for i in range(n_proteins)])[
        rng.integers(0, n_proteins, (n_pairs, 2))
    ]
    return pairs, rng.integers(0, 2, n_pairs)


@pytest.mark.parametrize("n_groups", [3, 4, 5])
def test_group_pair_folds_test_every_pair_once_without_shared_proteins(n_groups):
    pairs, labels = random_pairs()
    pairs[:5, 1] = pairs[:5, 0]  # self-pairs too
    folds, report = make_folds("proteins", pairs, labels, n_splits=n_groups, seed=3)
    assert len(folds) == report["folds"] == n_groups * (n_groups + 1) // 2
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))  # every pair exactly once
    assert report["never_tested"] == 0 and report["coverage"] == 1.0
    for train, test in folds:
        assert set(pairs[test].ravel()).isdisjoint(pairs[train].ravel())
        assert len(train) > 0
    assert report["mean_unused_per_fold"] > 0
    with pytest.raises(ValueError, match="at least 3 protein groups"):
        make_folds("proteins", pairs, labels, n_splits=2)


def test_inner_tuning_folds_are_protein_disjoint(monkeypatch):
    from studies import ppi
    from studies.ppi import evaluation

    pairs, labels = random_pairs(n_proteins=80, n_pairs=600)
    folds = ppi.inner_protein_folds(pairs, labels, 3, seed=1)
    assert len(folds) == 3
    for train, validate in folds:
        assert set(pairs[validate].ravel()).isdisjoint(pairs[train].ravel())
    # The runner uses them under the proteins protocol only.
    seen = []
    original = ppi.inner_protein_folds
    monkeypatch.setattr(
        evaluation, "inner_protein_folds", lambda *a, **k: seen.append(a[0]) or original(*a, **k)
    )
    X = np.random.default_rng(0).normal(size=(600, 4))
    config = ppi.PPIConfig(tune_rows=300, models=("logreg",))
    folds, _ = make_folds("proteins", pairs, labels, 3, seed=0)
    train, test = folds[0]
    ppi.evaluate_fold("pairs", 0, ("logreg",), config, X, labels, train, test, pairs)
    assert seen == []
    ppi.evaluate_fold("proteins", 0, ("logreg",), config, X, labels, train, test, pairs)
    assert len(seen) == 1 and set(map(tuple, seen[0])) <= set(map(tuple, pairs[train]))
    with pytest.raises(ValueError, match="needs the pairs"):
        ppi.evaluate_fold("proteins", 0, ("logreg",), config, X, labels, train, test)


def test_build_model_sets_step_params_and_classifier_step_finds_the_fitted_step():
    from studies import ppi

    model, _ = ppi.build_model("logreg", ppi.PPIConfig(), {"C": 0.5})
    assert model.get_params()["estimator__clf__C"] == 0.5
    X = np.random.default_rng(0).normal(size=(60, 4))
    model.fit(X, np.arange(60) % 2)
    assert ppi.classifier_step(model).C == 0.5 and hasattr(ppi.classifier_step(model), "coef_")


def test_moe_models_share_one_tuning_search(monkeypatch):
    from studies import ppi
    from studies.ppi import evaluation, runner

    _, labels = random_pairs(n_proteins=60, n_pairs=300)
    X = np.random.default_rng(0).normal(size=(300, 4)) + labels[:, None]
    config = ppi.PPIConfig.quick(tune_rows=200)
    calls = []
    original = evaluation._search
    monkeypatch.setattr(evaluation, "_search", lambda *a: calls.append(a[0]) or original(*a))
    assert runner._job_groups(("logreg", "moe-dsc", "svm", "moe-bic")) == [
        ("moe-dsc", "moe-bic"),
        ("logreg",),
        ("svm",),
    ]
    train, test = np.arange(200), np.arange(200, 300)
    results = ppi.evaluate_fold("pairs", 0, ("moe-dsc", "moe-bic"), config, X, labels, train, test)
    assert len(calls) == 1  # one search on the 2-expert proxy, used by both
    assert calls[0].get_params()["estimator__clf__n_experts"] == 2
    rows = [row for row, _ in results]
    assert [row["model"] for row in rows] == ["moe-dsc", "moe-bic"]
    assert rows[0]["params"] == rows[1]["params"] and "alpha" in rows[0]["params"]
    assert all(1 <= row["n_experts"] <= config.max_experts for row in rows)


def test_pair_folds_partition_and_stratify():
    pairs, labels = random_pairs()
    folds, report = make_folds("pairs", pairs, labels, n_splits=5, seed=0)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))
    assert report["never_tested"] == 0 and report["mean_unused_per_fold"] == 0
    rates = [labels[test].mean() for _, test in folds]
    assert max(rates) - min(rates) < 0.05


def test_folds_are_reproducible_and_protocol_checked():
    pairs, labels = random_pairs()
    a, _ = make_folds("proteins", pairs, labels, seed=1)
    b, _ = make_folds("proteins", pairs, labels, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="protocol must be one of"):
        make_folds("random", pairs, labels)


def test_compare_picks_the_best_other_model_per_metric():
    import pandas as pd

    from studies.ppi import compare, summarize
    from moelogit.metrics import METRICS

    rows = []
    for fold in range(3):
        for model, accuracy, ece in [
            ("moe-dsc", 0.7, 0.05),
            ("logreg", 0.6, 0.02),
            ("forest", 0.8, 0.1),
        ]:
            metrics = dict.fromkeys(METRICS, 0.5) | {"accuracy": accuracy + 0.01 * fold, "ece": ece}
            rows.append({"protocol": "pairs", "fold": fold, "model": model, "n_train": 80,
                         "n_test": 20, "seconds": 1.0, "n_experts": 2 if model == "moe-dsc" else np.nan,
                         **metrics})  # fmt: skip
    folds = pd.DataFrame(rows)
    table = compare(folds).set_index("metric")
    assert table.loc["accuracy", "best_other"] == "forest"  # higher is better
    assert table.loc["ece", "best_other"] == "logreg"  # lower is better
    assert table.loc["accuracy", "mean"] == pytest.approx(-0.1)
    assert table.loc["ece", "mean"] == pytest.approx(0.03)
    summary = summarize(folds).set_index("model")
    assert summary.loc["moe-dsc", "n_experts_mean"] == 2
    assert summary.loc["forest", "accuracy_std"] == pytest.approx(0.01)


def test_unknown_model_is_an_error():
    from studies.ppi import PPIConfig, build_model

    with pytest.raises(ValueError, match="unknown model 'xgb'"):
        build_model("xgb", PPIConfig())


def test_quick_command_writes_tables_and_figures(ppi_data, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from studies.cli import main

    data = ppi_data / "martin2005-hpylori"
    result = CliRunner().invoke(
        main, ["ppi", "--data", str(data), "--quick", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert set(folds["protocol"]) == {"pairs", "proteins"}
    assert set(folds["model"]) == {"moe-dsc", "logreg", "boosting"}
    assert len(folds) == (3 + 6) * 3  # (pair folds + protein group-pair folds) x models
    assert folds["accuracy"].between(0, 1).all() and folds["ece"].between(0, 1).all()
    assert folds.loc[folds["model"] == "moe-dsc", "n_experts"].between(1, 3).all()
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    pair_level = predictions[
        (predictions["protocol"] == "pairs") & (predictions["model"] == "logreg")
    ]
    assert sorted(pair_level["pair"]) == list(range(1000))  # every pair tested once
    disjoint = predictions[
        (predictions["protocol"] == "proteins") & (predictions["model"] == "logreg")
    ]
    assert sorted(disjoint["pair"]) == list(range(1000))  # under both protocols
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert len(comparison) == 2 * 6 and (comparison["low"] <= comparison["high"]).all()
    for figure in ("reliability.png", "dendrogram.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    screens = pd.read_csv(tmp_path / "prevalence.csv")
    assert len(screens) == len(folds) * 3  # none, true and auto per fold and model
    # The same 1:10 rows for every model of a fold.
    assert (screens.groupby(["protocol", "fold"])["n_screen"].nunique() == 1).all()
    corrected = screens.pivot_table("ece", ["protocol", "fold", "model"], "correction")
    assert (corrected["true"] < corrected["none"]).mean() > 0.9
    text = (tmp_path / "results.md").read_text()
    assert "### Protocol: proteins" in text and "100% of the pairs tested" in text
    assert "### At a screen's prevalence" in text
    assert "Final moe-dsc model" in result.output
    # The same fold jobs on a Dask cluster (joblib's Dask backend): the same rows.
    pytest.importorskip("distributed")
    on_cluster = CliRunner().invoke(main, [
        "ppi", "--data", str(data), "--quick", "--scheduler", "local:2",
        "--out", str(tmp_path / "cluster"),
    ])  # fmt: skip
    assert on_cluster.exit_code == 0, on_cluster.output
    cluster_folds = pd.read_csv(tmp_path / "cluster" / "folds.csv")
    key = ["protocol", "fold", "model"]
    pd.testing.assert_frame_equal(
        cluster_folds.sort_values(key, ignore_index=True).drop(columns="seconds"),
        folds.sort_values(key, ignore_index=True).drop(columns="seconds"),
    )


def test_command_reports_bad_data_cleanly(tmp_path):
    from click.testing import CliRunner

    from studies.cli import main

    (tmp_path / "pairs.tsv").write_text("P1\tP2\t1\n")
    (tmp_path / "sequences.tsv").write_text("P1\tMK\n")
    result = CliRunner().invoke(main, ["ppi", "--data", str(tmp_path), "--quick"])
    assert result.exit_code == 2 and "'P2' has no sequence" in result.output


def test_command_keeps_self_pairs_on_request(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from studies.cli import main
    from studies.ppi import runner

    seen = []
    monkeypatch.setattr(runner, "run_ppi_experiment", lambda d, *a, **k: seen.append(d) or 1 / 0)
    (tmp_path / "pairs.tsv").write_text("P1\tP1\t0\nP1\tP2\t1\n")
    (tmp_path / "sequences.tsv").write_text("P1\tMK\nP2\tKM\n")
    for flag, n in [([], 1), (["--keep-self-pairs"], 2)]:
        CliRunner().invoke(main, ["ppi", "--data", str(tmp_path), *flag])
        assert len(seen[-1].labels) == n


def test_command_passes_models_and_tune_rows_and_refuses_unknown_models(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from studies import ppi
    from studies.cli import main
    from studies.ppi import runner

    configs = []
    monkeypatch.setattr(runner, "run_ppi_experiment", lambda d, c, **k: configs.append(c) or 1 / 0)
    (tmp_path / "pairs.tsv").write_text("P1\tP2\t1\n")
    (tmp_path / "sequences.tsv").write_text("P1\tMK\nP2\tKM\n")
    command = ["ppi", "--data", str(tmp_path)]
    CliRunner().invoke(main, [*command, "--models", "logreg, moe-dsc,logreg", "--tune-rows", "500"])
    # In MODELS' order, so that the fold jobs of runs naming the same models match.
    assert configs[-1].models == ("moe-dsc", "logreg") and configs[-1].tune_rows == 500
    CliRunner().invoke(main, [*command, "--quick", "--models", "svm"])
    assert configs[-1].models == ("svm",) and configs[-1].tune_rows == 300  # --quick's
    for models in ("logreg,xgb", " , "):
        result = CliRunner().invoke(main, [*command, "--models", models])
        assert result.exit_code == 2 and "--models" in result.output
        assert "choose from moe-dsc, moe-bic" in result.output
    assert len(configs) == 2  # refused before anything runs
    help_text = " ".join(CliRunner().invoke(main, [*command[:1], "--help"]).output.split())
    assert all(name in help_text for name in ppi.MODELS)  # the option's help names them all


def test_tuned_mean_scale_penalties_are_rescaled_to_the_training_pairs():
    from studies import ppi

    pairs, labels = random_pairs(n_proteins=60, n_pairs=300)
    X = np.random.default_rng(0).normal(size=(300, 4)) + labels[:, None]
    config = ppi.PPIConfig.quick(tune_rows=150, inner_splits=3)
    model, chosen, fitted, _ = ppi.tuned_fit("moe-dsc", config, X, labels)
    # 150 tuning pairs, 100 per inner training fold; the refit has 300.
    (name,) = chosen
    assert name.endswith("clf__alpha") and fitted[name] == pytest.approx(chosen[name] / 3)
    assert ppi.classifier_step(model).alpha == fitted[name]
    # Protein-disjoint inner folds train on fewer pairs: their mean size counts.
    config = ppi.PPIConfig.quick(tune_rows=1000, inner_splits=3)
    inner = ppi.inner_protein_folds(pairs, labels, 3, config.seed)
    _, chosen, fitted, _ = ppi.tuned_fit("moe-dsc", config, X, labels, pairs)
    ratio = np.mean([len(train) for train, _ in inner]) / len(labels)
    assert fitted[name] == pytest.approx(chosen[name] * ratio) and ratio < 0.6
    # C of the logistic regression already weighs the summed loss: unchanged.
    _, chosen, fitted, _ = ppi.tuned_fit("logreg", config, X, labels)
    assert chosen == fitted


def test_finished_fold_jobs_are_reused_only_for_the_same_job(tmp_path, monkeypatch):
    from dataclasses import replace

    from moelogit.datasets.ppi import PPIDataset
    from studies import ppi
    from studies.ppi import runner

    from .test_ppi_predictor import _toy

    data = PPIDataset(*_toy(0, n_proteins=80, n_pairs=800))
    config = ppi.PPIConfig.quick(models=("logreg",), subsample=None, tune_rows=1000)
    cache = tmp_path / "jobs"
    first = ppi.run_ppi_experiment(data, config, n_jobs=2, progress=False, cache_dir=cache)
    assert first["reused_jobs"] == 0 and first["jobs"] == 3 + 6
    calls = []
    monkeypatch.setattr(runner, "evaluate_fold", lambda *a: calls.append(a) or 1 / 0)
    again = ppi.run_ppi_experiment(data, config, n_jobs=1, progress=False, cache_dir=cache)
    assert calls == [] and again["reused_jobs"] == 9
    assert again["folds"].equals(first["folds"])
    text = ppi.write_report(again, tmp_path / "report", explain=False)
    assert "Resumed: 9 of 9 fold jobs" in text
    assert "Resumed" not in ppi.write_report(first, tmp_path / "report", explain=False)
    # Other settings that reach the fits, other data: computed afresh.
    for changed in [replace(config, tune_rows=999), replace(config, subsample=300)]:
        with pytest.raises(ZeroDivisionError):
            ppi.run_ppi_experiment(data, changed, n_jobs=1, progress=False, cache_dir=cache)
    # The list of models is not part of a job: adding one keeps the others' jobs.
    train, test = np.arange(5), np.arange(5, 9)
    keys = [
        runner._job_key("data", "pairs", 0, ("logreg",), c, train, test)
        for c in (config, replace(config, models=("logreg", "svm")), replace(config, seed=1))
    ]
    assert keys[0] == keys[1] != keys[2]


def test_cached_jobs_are_tied_to_the_code(tmp_path):
    import shutil

    import moelogit
    from studies.ppi import runner

    # The library and the experiment's own modules, as the runner digests them.
    package, study = tmp_path / "moelogit", tmp_path / "ppi"
    shutil.copytree(Path(moelogit.__file__).parent, package)
    shutil.copytree(Path(runner.__file__).parent, study)
    before = runner._code_digest(package, study)
    assert before == runner._code_digest(package, study)
    (package / "model.py").write_text((package / "model.py").read_text() + "\n# changed\n")
    library_changed = runner._code_digest(package, study)
    assert library_changed != before
    (study / "models.py").write_text((study / "models.py").read_text() + "\n# changed\n")
    assert runner._code_digest(package, study) not in (before, library_changed)
    # A worker that imported other code than the run's refuses the job.
    with pytest.raises(RuntimeError, match="code changed while the experiment ran"):
        runner._fold_job(("job", "other code"), *[None] * 9)


def test_paired_folds_pairs_by_fold_and_refuses_other_folds():
    import pandas as pd

    from studies import ppi

    a = pd.DataFrame({"fold": [0, 1, 2], "n_train": 80, "n_test": 20, "acc": [0.8, 0.7, 0.9]})
    b = a.assign(acc=[0.7, 0.7, 0.8])
    shuffled = b.iloc[[2, 0, 1]]
    assert ppi.paired_folds(a, shuffled, "acc") == ppi.paired_folds(a, b, "acc")
    with pytest.raises(ValueError, match="same folds"):
        ppi.paired_folds(a, b.assign(n_train=[80, 79, 80]), "acc")
    with pytest.raises(ValueError, match="same folds"):
        ppi.paired_folds(a, b.iloc[:2], "acc")


def test_reliability_curves_keep_each_models_colour_whatever_the_order_of_fold_jobs():
    from studies.ppi import MODELS
    from studies.ppi.report import _curve_styles

    names = list(MODELS)
    styles = _curve_styles(names)
    assert _curve_styles(names[::-1]) == styles  # the order jobs finished in does not matter
    assert list(styles) == names  # legend in MODELS' order
    colours = [style["color"] for style in styles.values()]
    assert len(set(colours)) == len(colours)  # no model shares moe-dsc's (or any) colour
    assert _curve_styles(["svm", "mlp"]) == {name: styles[name] for name in ("svm", "mlp")}
    assert styles["moe-dsc"]["lw"] > max(s["lw"] for n, s in styles.items() if n != "moe-dsc")


def test_fit_speed_study_fits_only_missing_rows_and_tabulates(tmp_path, monkeypatch):
    from studies.ppi import fit_speed_study

    rng = np.random.default_rng(0)
    names = [f"p{i}" for i in range(30)]
    amino = list("ACDEFGHIKLMNPQRSTVWY")
    sequences = [f"{name}\t{''.join(rng.choice(amino, 40))}\n" for name in names]
    (tmp_path / "sequences.tsv").write_text("".join(sequences))
    pairs, labels = random_pairs(n_proteins=30, n_pairs=60)
    keep = pairs[:, 0] != pairs[:, 1]
    lines = [f"{a}\t{b}\t{y}\n" for (a, b), y in zip(pairs[keep], labels[keep], strict=True)]
    (tmp_path / "pairs.tsv").write_text("".join(lines))
    fitted = []

    def fake_fit(data, train, test, settings):
        fitted.append(settings)
        return {"accuracy": 0.5, "roc_auc": 0.6, "log_loss": 0.7, "brier": 0.25, "ece": 0.1,
                "n_experts": 1, "seconds": 1.0, "symmetric": True}  # fmt: skip

    monkeypatch.setattr(fit_speed_study, "fit_fold", fake_fit)
    out = tmp_path / "rows.csv"
    fit_speed_study.study(tmp_path, ["old", "new"], [0, 1], out)
    assert fitted == [fit_speed_study.OLD, fit_speed_study.OLD, {}, {}]
    rows = fit_speed_study.study(tmp_path, ["old", "new"], [0, 1, 2], out)  # resumed
    assert len(fitted) == 6 and len(rows) == 6
    table = fit_speed_study.table(rows)
    assert list(table.index) == [0, 1, 2, "mean"] and table.loc["mean", "accuracy old"] == 0.5
    with pytest.raises(SystemExit):
        fit_speed_study.main([str(tmp_path), "--settings", "fastest"])


def test_screen_subsample_keeps_every_negative_and_a_tenth_as_many_positives():
    from studies.ppi.folds import screen_subsample

    labels = np.array([1] * 300 + [0] * 500)
    test = np.arange(0, 800, 2)  # 150 positives, 250 negatives
    rows = screen_subsample(test, labels, seed=(0, 1))
    assert set(rows) <= set(test) and np.all(np.diff(rows) > 0)
    assert set(test[labels[test] == 0]) <= set(rows)
    assert labels[rows].sum() == 25 and len(rows) == 275
    assert np.array_equal(rows, screen_subsample(test, labels, seed=(0, 1)))  # every model alike
    assert not np.array_equal(rows, screen_subsample(test, labels, seed=(0, 2)))
    with pytest.raises(ValueError, match="cannot be subsampled to 1:10"):
        screen_subsample(np.arange(290, 800), labels, seed=0)  # 10 positives for 500 negatives


def test_screen_scores_correct_calibrated_probabilities_and_estimate_the_prevalence():
    import pandas as pd

    from studies.ppi.prevalence import score_screens, screen_markdown

    # Scores x ~ N(+-1, 1): p = sigmoid(2x) is the exact posterior at 1:1.
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 3000)
    proba = 1 / (1 + np.exp(-2 * (rng.normal(size=y.size) + 2 * y - 1)))
    train, test = np.arange(2000), np.arange(2000, 6000)
    predictions = pd.DataFrame(
        {"protocol": "pairs", "fold": 0, "model": "m", "pair": test, "proba": proba[test]}
    )
    rows = score_screens(predictions, y, {"pairs": [(train, test)]}, n_boot=30)
    rows = rows.set_index("correction")
    assert list(rows.index) == ["none", "true", "auto"]
    assert (rows["n_screen"] == 2200).all() and (rows["n_positive"] == 200).all()
    assert rows.loc["none", "prevalence"] == 0.5 and rows.loc["true", "prevalence"] == 1 / 11
    assert rows.loc["true", "log_loss"] < rows.loc["none", "log_loss"] - 0.1
    assert rows.loc["true", "ece"] < 0.03 < rows.loc["none", "ece"]
    auto = rows.loc["auto"]
    assert auto["prevalence_low"] < 1 / 11 < auto["prevalence_high"]
    assert abs(auto["prevalence"] - 1 / 11) < 0.03
    assert auto["log_loss"] < rows.loc["none", "log_loss"]
    text = screen_markdown(rows.reset_index())
    assert "#### Protocol: pairs" in text and "| 1/1 |" in text  # the interval holds it
    assert rows.loc["none", "mean_proba"] > 0.2 > 0.12 > rows.loc["true", "mean_proba"]


def test_prevalence_study_runs_missing_models_cheapest_first_and_keeps_their_rows(
    tmp_path, monkeypatch
):
    import pandas as pd

    from studies.ppi import prevalence_study

    pairs, labels = random_pairs(n_proteins=30, n_pairs=60)
    keep = pairs[:, 0] != pairs[:, 1]
    lines = [f"{a}\t{b}\t{y}\n" for (a, b), y in zip(pairs[keep], labels[keep], strict=True)]
    (tmp_path / "pairs.tsv").write_text("".join(lines))
    (tmp_path / "sequences.tsv").write_text("".join(f"p{i}\tMKVL\n" for i in range(30)))
    runs = []

    def fake_run(data, config, **kwargs):
        runs.append(config)
        rows = [{"protocol": "pairs", "fold": 0, "model": name, "correction": "none",
                 "true_prevalence": 1 / 11, "prevalence": 0.5, "prevalence_low": np.nan,
                 "prevalence_high": np.nan, "mean_proba": 0.5, "log_loss": 0.7, "brier": 0.2,
                 "ece": 0.3}
                for name in config.models]  # fmt: skip
        return {"prevalence": pd.DataFrame(rows)}

    monkeypatch.setattr(prevalence_study, "run_ppi_experiment", fake_run)
    out = tmp_path / "rows.csv"
    command = [str(tmp_path), "--quick", "--out", str(out)]
    prevalence_study.main([*command, "--models", "boosting,logreg"])
    assert [config.models for config in runs] == [("logreg",), ("boosting",)]
    assert runs[0].tune_rows == 300  # --quick's settings
    prevalence_study.main([*command, "--models", "moe-bic,logreg,moe-dsc"])  # resumed
    assert [config.models for config in runs[2:]] == [("moe-dsc", "moe-bic")]
    rows = pd.read_csv(out)
    assert list(rows["model"]) == ["logreg", "boosting", "moe-dsc", "moe-bic"]
    assert rows["commit"].notna().all() and (rows["run_seconds"] >= 0).all()
    for wrong in (["--models", "xgb"], ["--quick"]):  # unknown model; --quick without --out
        with pytest.raises(SystemExit):
            prevalence_study.main([str(tmp_path), *wrong])
