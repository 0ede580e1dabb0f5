"""The validator's figures of the evaluate step, each against an oracle: SHAP against xgboost's
own additivity and a brute-force Shapley computation, the bootstrap against a seeded reference
drawn by hand and DeLong's standard error, the score PSI against the monitoring
engine's, and the calibration error against the quality monitor's."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from finmlops.monitoring import quality, stats
from finmlops.steps import evaluate
from finmlops.steps.evaluate import EvaluationError

RESAMPLES = 200  # enough for the properties tested here; the step's default is 1,000


def scored(n: int = 1500, seed: int = 3) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    score = np.clip(0.12 + 0.25 * y + rng.normal(0, 0.12, n), 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(str),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    return y, score, frame


SPEC: dict[str, Any] = {
    "min_group_size": 30,
    "protected_attributes": [
        {"name": "young", "column": "age", "range": {"below": 25}},
        {"column": "region", "values": ["south"]},
    ],
    "intersections": [["young", "region"]],
}


def tiny_model(seed: int = 0) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + 0.7 * x[:, 1] * (x[:, 2] > 0) + 0.3 * rng.normal(size=300) > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "nthread": 1,
              "base_score": 0.3}  # fmt: skip
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=4)
    return booster, x


def brute_force_shapley(booster: xgb.Booster, row: np.ndarray) -> tuple[np.ndarray, float]:
    """Shapley values of one row by the definition, summed over every coalition, with
    TreeSHAP's value function: v(S) is the trees' output when the features outside S are
    integrated out along the tree, each branch weighted by its training cover (Lundberg et al.
    2020, "path-dependent"). Returns the values and v(empty set)."""
    trees = booster.trees_to_dataframe()
    nodes = {r.ID: r for r in trees.itertuples()}
    roots = [f"{t}-0" for t in sorted(trees.Tree.unique())]
    features = row.size

    def expect(node_id: str, coalition: frozenset[int]) -> float:
        node = nodes[node_id]
        if node.Feature == "Leaf":
            return float(node.Gain)
        feature = int(node.Feature[1:])
        if feature in coalition:
            return expect(node.Yes if row[feature] < node.Split else node.No, coalition)
        yes, no = nodes[node.Yes], nodes[node.No]
        return (yes.Cover * expect(node.Yes, coalition) + no.Cover * expect(node.No, coalition)) / (
            yes.Cover + no.Cover
        )

    def value(coalition: frozenset[int]) -> float:
        return sum(expect(root, coalition) for root in roots)

    phi = np.zeros(features)
    for i in range(features):
        others = [j for j in range(features) if j != i]
        for size in range(features):
            weight = math.factorial(size) * math.factorial(features - size - 1)
            weight /= math.factorial(features)
            for chosen in itertools.combinations(others, size):
                s = frozenset(chosen)
                phi[i] += weight * (value(s | {i}) - value(s))
    return phi, value(frozenset())


def test_shap_contributions_add_up_to_the_margin() -> None:
    booster, x = tiny_model()
    contributions, margin = evaluate.shap_contributions(booster, x)
    assert contributions.shape == (len(x), 4)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-5)


def test_shap_contributions_equal_brute_force_shapley_values_on_a_tiny_model() -> None:
    booster, x = tiny_model()
    contributions, margin = evaluate.shap_contributions(booster, x[:5])
    for row, contribution, total in zip(x[:5], contributions, margin, strict=True):
        phi, empty = brute_force_shapley(booster, row)
        np.testing.assert_allclose(contribution[:-1], phi, atol=1e-5)
        # The bias column is the expected output plus the base margin.
        base = total - contribution[:-1].sum() - empty
        assert contribution[-1] == pytest.approx(empty + base, abs=1e-5)


def test_global_importance_ranks_the_feature_the_label_depends_on_first() -> None:
    booster, x = tiny_model()
    result = evaluate.explain(booster, x, ["income", "debt", "term"], top=2)
    ranked = [r["feature"] for r in result["importance"]]  # type: ignore[index]
    assert ranked[0] == "income"
    assert sum(r["share"] for r in result["importance"]) == pytest.approx(1, abs=1e-5)  # type: ignore[attr-defined]
    assert [d["feature"] for d in result["dependence"]] == ranked[:2]  # type: ignore[attr-defined]
    assert result["additivity_max_error"] < 1e-4  # type: ignore[operator]
    # A larger income pushes toward "bad" in this model: the dependence rises with the value.
    income = result["dependence"][0]["by_value"]  # type: ignore[index]
    assert income[0]["mean_shap"] < 0 < income[-1]["mean_shap"]
    assert sum(b["count"] for b in income) == len(x)


def test_dependence_of_a_categorical_feature_names_its_categories() -> None:
    booster, x = tiny_model()
    coded = x.copy()
    coded[:, 2] = (x[:, 2] > 0).astype(float)  # a code of the encoder: 0 or 1
    coded[:7, 2] = np.nan
    result = evaluate.explain(
        booster, coded, ["income", "debt", "term"], {"term": [" 36 months", " 60 months"]}, top=3
    )
    term = next(d for d in result["dependence"] if d["feature"] == "term")  # type: ignore[attr-defined]
    assert [b["value"] for b in term["by_value"]] == [" 36 months", " 60 months", "(missing)"]
    assert term["by_value"][-1]["count"] == 7


def test_explanation_refuses_feature_names_that_do_not_match_the_columns() -> None:
    booster, x = tiny_model()
    with pytest.raises(EvaluationError, match="2 feature names for 3 test columns"):
        evaluate.explain(booster, x, ["income", "debt"])


def test_bootstrap_interval_equals_a_percentile_reference_drawn_from_the_same_seed() -> None:
    y, score, frame = scored()
    groups = evaluate.all_groups(frame, SPEC)[:2]
    result = evaluate.bootstrap_intervals(y, score, groups, 0.3, resamples=RESAMPLES, seed=11)
    # The reference: resample the rows with the same generator, recompute, take percentiles.
    rng = np.random.default_rng(11)
    draws = rng.integers(0, len(y), (RESAMPLES, len(y)))
    aucs = [roc_auc_score(y[i], score[i]) for i in draws]
    low, high = np.percentile(aucs, [2.5, 97.5])
    auc = result["auc"]
    assert auc["lower"] == pytest.approx(low, abs=1e-6)  # type: ignore[index]
    assert auc["upper"] == pytest.approx(high, abs=1e-6)  # type: ignore[index]
    assert auc["standard_error"] == pytest.approx(np.std(aucs, ddof=1), abs=1e-6)  # type: ignore[index]


def test_bootstrap_auc_standard_error_agrees_with_delong() -> None:
    y, score, frame = scored(n=3000)
    groups = evaluate.all_groups(frame, SPEC)[:1]
    result = evaluate.bootstrap_intervals(y, score, groups, 0.3, resamples=400, seed=1)
    # DeLong et al. (1988): the AUC's variance from its placement values, no resampling.
    bad, good = score[y == 1], score[y == 0]
    psi = (bad[:, None] > good[None, :]) + 0.5 * (bad[:, None] == good[None, :])
    delong = math.sqrt(
        psi.mean(axis=1).var(ddof=1) / bad.size + psi.mean(axis=0).var(ddof=1) / good.size
    )
    assert result["auc"]["standard_error"] == pytest.approx(delong, rel=0.15)  # type: ignore[index]


def test_bootstrap_is_reproducible_with_its_seed_and_moves_with_another() -> None:
    y, score, frame = scored()
    groups = evaluate.all_groups(frame, SPEC)
    a = evaluate.bootstrap_intervals(y, score, groups, 0.3, resamples=RESAMPLES, seed=7)
    b = evaluate.bootstrap_intervals(y, score, groups, 0.3, resamples=RESAMPLES, seed=7)
    c = evaluate.bootstrap_intervals(y, score, groups, 0.3, resamples=RESAMPLES, seed=8)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["ks"] != c["ks"]


def test_interval_point_values_are_the_figures_the_gates_read() -> None:
    y, score, frame = scored()
    result = evaluate.evaluate(y, score, frame, SPEC, 0.3, resamples=RESAMPLES)
    metrics, fair, spread = (
        result["binary_classification_metrics"], result["fairness"], result["uncertainty"]
    )  # fmt: skip
    assert spread["auc"]["value"] == metrics["auc"]["value"]  # type: ignore[index]
    assert spread["ks"]["value"] == metrics["ks"]["value"]  # type: ignore[index]
    worst = spread["worst_disparate_impact"]  # type: ignore[index]
    assert worst["value"] == fair["disparate_impact"]  # type: ignore[index]
    assert worst["lower"] <= worst["value"] <= worst["upper"]
    parity = spread["worst_statistical_parity_difference_abs"]  # type: ignore[index]
    assert parity["value"] == fair["statistical_parity_difference_abs"]  # type: ignore[index]
    measured = [g for g in fair["groups"] if g["measurable"]]  # type: ignore[index]
    assert set(spread["groups"]) == {g["id"] for g in measured}  # type: ignore[index]
    for group in measured:
        assert (
            spread["groups"][group["id"]]["disparate_impact"]["value"]
            == (  # type: ignore[index]
                group["disparate_impact"]
            )
        )
    # The registry's model-quality format carries the bootstrap standard error.
    assert metrics["auc"]["standard_deviation"] == spread["auc"]["standard_error"]  # type: ignore[index]


def test_score_psi_matches_the_monitoring_engines_psi_on_the_same_bins() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.beta(2, 8, 5000), rng.beta(2.4, 8, 1500)
    result = evaluate.score_psi(train, test)
    edges = np.array(result["edges"])
    counts = [
        np.bincount(np.searchsorted(edges, v, side="right"), minlength=edges.size + 1)
        for v in (train, test)
    ]
    assert result["psi"] == pytest.approx(stats.psi(*counts), abs=1e-4)  # type: ignore[arg-type]
    assert result["bins"] == 10
    assert result["reference_share"] == pytest.approx([0.1] * 10, abs=1e-3)


def test_score_psi_is_zero_for_the_same_scores_and_flags_a_shifted_distribution() -> None:
    rng = np.random.default_rng(1)
    train = rng.beta(2, 8, 4000)
    assert evaluate.score_psi(train, train)["psi"] == 0
    shifted = evaluate.score_psi(train, np.clip(train + 0.15, 0, 1))
    assert shifted["psi"] > 0.25  # type: ignore[operator]
    assert shifted["reading"] == "significant shift"


def test_validation_and_the_quality_monitor_report_the_same_calibration_error() -> None:
    y, score, _ = scored()
    ece = evaluate.expected_calibration_error(y, score)
    # The definition, by hand, from the step's own calibration table (deciles) unrounded.
    order = np.argsort(score, kind="stable")
    by_hand = sum(
        len(part) / len(y) * abs(y[part].mean() - score[part].mean())
        for part in np.array_split(order, 10)
    )
    table = evaluate.calibration(y, score)
    from_table = sum(r["count"] * abs(r["observed_rate"] - r["mean_predicted"]) for r in table)
    assert from_table / len(y) == pytest.approx(by_hand, abs=1e-5)  # only rounding apart
    assert ece == pytest.approx(by_hand, abs=1e-12)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    window = quality._window(  # the monitor's window on the same rows
        now, now, len(y), list(zip(score.tolist(), y.tolist(), strict=True)), 0.3, due=True
    )
    assert window.metrics["expected_calibration_error"] == pytest.approx(ece, abs=1e-12)
    result = evaluate.evaluate(y, score, scored()[2], SPEC, 0.3, resamples=RESAMPLES)
    reported = result["binary_classification_metrics"]["expected_calibration_error"]  # type: ignore[index]
    assert reported["value"] == pytest.approx(ece, abs=1e-6)


# The built-in container's file name has no extension; xgboost says so when saving and loading it.
@pytest.mark.filterwarnings("ignore:.*(UBJSON|Unknown file format).*:UserWarning")
def test_step_writes_intervals_stability_and_named_explanation(tmp_path: Path) -> None:
    booster, x = tiny_model()
    model = tmp_path / "model" / "xgboost-model"
    model.parent.mkdir()
    booster.save_model(str(model))
    rng = np.random.default_rng(2)
    labels = (x[:, 0] + 0.3 * rng.normal(size=len(x)) > 0).astype(int)
    for split, rows in (("train", slice(0, 200)), ("test", slice(200, 300))):
        (tmp_path / split).mkdir()
        pd.DataFrame(np.column_stack([labels[rows], x[rows]])).to_csv(
            tmp_path / split / f"{split}.csv", header=False, index=False
        )
    pd.DataFrame({"grp": ["a", "b"] * 50}).to_csv(tmp_path / "test" / "groups.csv", index=False)
    spec = tmp_path / "fairness.json"
    spec.write_text(json.dumps({"min_group_size": 10,
                                "protected_attributes": [{"column": "grp", "values": ["a"]}]}))  # fmt: skip
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "encoders.json").write_text(
        json.dumps({"features": ["income", "debt", "term"], "categorical": {}})
    )
    code = evaluate.main(
        ["--model", str(model), "--test", str(tmp_path / "test"), "--fairness", str(spec),
         "--train", str(tmp_path / "train"), "--artifacts", str(tmp_path / "artifacts"),
         "--output", str(tmp_path / "out"), "--bootstrap-resamples", "50"]
    )  # fmt: skip
    assert code == 0
    result = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert result["uncertainty"]["resamples"] == 50
    assert result["score_stability"]["train_vs_test"]["reference_rows"] == 200
    assert "not available at build time" in result["score_stability"]["production"]
    assert {r["feature"] for r in result["explanation"]["importance"]} == {"income", "debt", "term"}


def test_step_without_the_train_split_says_there_is_no_train_psi(tmp_path: Path) -> None:
    y, score, frame = scored()
    result = evaluate.evaluate(y, score, frame, SPEC, 0.3, resamples=20)
    stability = result["score_stability"]
    assert stability["train_vs_test"] is None  # type: ignore[index]
    assert "no train vs test PSI" in stability["note"]  # type: ignore[index]
