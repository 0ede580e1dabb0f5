"""Protected groups at evaluation: values, ranges, bins and intersections on the test rows; a
definition the data contradicts fails naming the attribute; values are never split on commas."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from finmlops import fairness
from finmlops.config import Config, parse_config
from finmlops.governance.evidence import write_evidence
from finmlops.governance.model_card import ethical_considerations
from finmlops.modelbuild import LocalBuild, run_local
from finmlops.steps import evaluate, train
from finmlops.steps.evaluate import EvaluationError


def spec(*attributes: dict[str, Any], intersections: Any = (), min_size: int = 1) -> dict[str, Any]:
    return {
        "protected_attributes": [{"name": a.get("name", a["column"]), **a} for a in attributes],
        "intersections": [list(i) for i in intersections],
        "min_group_size": min_size,
    }


def frame(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ages = rng.integers(18, 80, n)
    groups = pd.DataFrame(
        {
            "age": ages.astype(str),
            "region": rng.choice(["North, East", "South", "West"], n),
        }
    )
    y = (rng.uniform(size=n) < 0.2).astype(int)
    # Younger applicants score worse: a disparity the figures must show.
    score = np.clip(0.3 - 0.003 * (ages - 18) + 0.3 * y + rng.normal(0, 0.05, n), 0.001, 0.999)
    return y, score, groups


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["id"]: g for g in result["groups"]}


# --------------------------------------------------------------------------- ranges and bins


def test_a_range_is_the_rows_its_bounds_select_with_their_inclusivity() -> None:
    y, score, groups = frame()
    ages = groups["age"].astype(int)
    result = evaluate.fairness(
        y, score, groups,
        spec({"name": "under_25", "column": "age", "range": {"below": 25}},
             {"name": "up_to_25", "column": "age", "range": {"at_most": 25}},
             {"name": "over_65", "column": "age", "range": {"above": 65}}),
        0.3,
    )  # fmt: skip
    groups_by_id = by_id(result)
    assert groups_by_id["under_25"]["protected_count"] == int((ages < 25).sum())
    assert groups_by_id["up_to_25"]["protected_count"] == int((ages <= 25).sum())
    assert groups_by_id["over_65"]["protected_count"] == int((ages > 65).sum())
    assert groups_by_id["under_25"]["definition"] == "age < 25"
    assert groups_by_id["up_to_25"]["definition"] == "age <= 25"
    favourable = score < 0.3
    young = (ages < 25).to_numpy()
    expected = favourable[young].mean() / favourable[~young].mean()
    assert groups_by_id["under_25"]["disparate_impact"] == pytest.approx(expected, abs=1e-6)


def test_each_bin_is_its_own_group_against_the_rest() -> None:
    y, score, groups = frame()
    ages = groups["age"].astype(int)
    bins = [{"label": "under 25", "below": 25}, {"label": "25 to 39", "at_least": 25, "below": 40}]
    result = evaluate.fairness(
        y, score, groups, spec({"name": "band", "column": "age", "bins": bins}), 0.3
    )
    groups_by_id = by_id(result)
    assert set(groups_by_id) == {"band[under 25]", "band[25 to 39]"}
    assert groups_by_id["band[25 to 39]"]["definition"] == "25 <= age < 40"
    assert groups_by_id["band[25 to 39]"]["protected_count"] == int(ages.between(25, 39).sum())
    assert groups_by_id["band[25 to 39]"]["reference_count"] == len(ages) - int(
        ages.between(25, 39).sum()
    )
    (attribute,) = result["attributes"]
    assert [r["group"] for r in attribute["by_value"]] == [
        "age < 25",
        "25 <= age < 40",
        "other known values",
    ]


def test_missing_values_are_neither_protected_nor_reference() -> None:
    y, score, groups = frame()
    groups.loc[:9, "age"] = ""
    result = evaluate.fairness(
        y, score, groups, spec({"column": "age", "range": {"below": 30}}), 0.3
    )
    (group,) = result["groups"]
    assert group["unknown_count"] == 10
    assert group["protected_count"] + group["reference_count"] == len(groups) - 10


def test_text_in_a_range_column_fails_naming_the_attribute_and_the_text() -> None:
    y, score, groups = frame()
    groups.loc[3, "age"] = "twenty"
    with pytest.raises(
        EvaluationError, match=r'protected attribute age: a range needs numbers.*\["twenty"\]'
    ):
        evaluate.fairness(y, score, groups, spec({"column": "age", "range": {"below": 30}}), 0.3)


@pytest.mark.parametrize(
    ("bounds", "word"), [({"below": 10}, "no"), ({"at_least": 0}, "every one")]
)
def test_a_range_that_selects_no_row_or_every_row_fails(
    bounds: dict[str, float], word: str
) -> None:
    y, score, groups = frame()
    with pytest.raises(
        EvaluationError, match=rf"protected group age \(.*\) selects {word} of the 400"
    ):
        evaluate.fairness(y, score, groups, spec({"column": "age", "range": bounds}), 0.3)


# --------------------------------------------------------------------------- exact values


def test_a_partly_wrong_value_list_fails_naming_the_attribute_and_the_missing_values() -> None:
    """ "Sout" is a typo: measuring "North, East" alone would be another group, silently."""
    y, score, groups = frame()
    with pytest.raises(EvaluationError) as caught:
        evaluate.fairness(
            y, score, groups, spec({"column": "region", "values": ["North, East", "Sout"]}), 0.3
        )
    message = str(caught.value)
    assert message.startswith('protected attribute region: configured value(s) ["Sout"] occur')
    assert '(values present: ["North, East", "South", "West"])' in message


def test_a_value_with_a_comma_is_one_value() -> None:
    y, score, groups = frame()
    result = evaluate.fairness(
        y, score, groups, spec({"column": "region", "values": ["North, East"]}), 0.3
    )
    (group,) = result["groups"]
    assert group["protected_count"] == int((groups["region"] == "North, East").sum())
    assert group["definition"] == 'region in ["North, East"]'


# --------------------------------------------------------------------------- sizes, intersections


def test_a_configured_group_too_small_to_measure_fails_the_step() -> None:
    y, score, groups = frame()
    with pytest.raises(
        EvaluationError,
        match=r"protected group old \(age >= 78\): not measurable: protected \d+ test rows, fewer than 50",
    ):
        evaluate.fairness(
            y, score, groups,
            spec({"name": "old", "column": "age", "range": {"at_least": 78}}, min_size=50), 0.3,
        )  # fmt: skip


def test_an_intersection_below_the_minimum_is_reported_with_its_counts_not_dropped() -> None:
    y, score, groups = frame()
    young = groups["age"].astype(int) < 30
    north = groups["region"] == "North, East"
    result = evaluate.fairness(
        y, score, groups,
        spec({"name": "young", "column": "age", "range": {"below": 30}},
             {"column": "region", "values": ["North, East"]},
             intersections=[["young", "region"]], min_size=int((young & north).sum()) + 1),
        0.3,
    )  # fmt: skip
    crossed = by_id(result)["young & region"]
    assert crossed["kind"] == "intersection"
    assert crossed["definition"] == 'age < 30 and region in ["North, East"]'
    assert crossed["measurable"] is False
    assert crossed["protected_count"] == int((young & north).sum())
    assert crossed["reason"].startswith(f"not measurable: protected {int((young & north).sum())}")
    assert result["not_measurable"] == ["young & region"]
    assert "young & region" not in (
        result["disparate_impact_group"],
        result["statistical_parity_group"],
    )


def test_a_measurable_intersection_is_gated_like_any_group() -> None:
    y, score, groups = frame(n=2000)
    result = evaluate.fairness(
        y, score, groups,
        spec({"name": "young", "column": "age", "range": {"below": 30}},
             {"column": "region", "values": ["North, East"]},
             intersections=[["young", "region"]], min_size=30),
        0.3,
    )  # fmt: skip
    measured = [g for g in result["groups"] if g["measurable"]]
    assert {g["id"] for g in measured} == {"young", "region", "young & region"}
    worst = min(measured, key=lambda g: g["disparate_impact"])
    assert result["disparate_impact"] == worst["disparate_impact"]
    assert result["disparate_impact_group"] == worst["id"]
    key = evaluate.spec_key(result_spec := spec(
        {"name": "young", "column": "age", "range": {"below": 30}},
        {"column": "region", "values": ["North, East"]},
        intersections=[["young", "region"]], min_size=30), 0.3)  # fmt: skip
    assert result[key]["disparate_impact"] == worst["disparate_impact"]
    assert evaluate.fairness_gate_path("disparate_impact", result_spec, 0.3) == (
        f"fairness.{key}.disparate_impact"
    )


# --------------------------------------------------------------------------- config to evidence


def _config_with(config: Config, fairness_block: dict[str, Any], **model: Any) -> Config:
    data = config.model_dump(mode="json")
    data["model"]["fairness"] = fairness_block
    data["model"].update(model)
    return parse_config(data)


def test_a_comma_value_travels_from_config_to_evaluation_as_one_value(
    config: Config, tmp_path: Path
) -> None:
    """The config's value "North, East" reaches the evaluate step in the shipped spec file and
    measures the rows that hold it; the model card names it as one value."""
    y, _, groups = frame(n=300)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(y), 3))
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=y), 3)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    train.save_model(booster, model_dir)
    archive = train.pack_model(model_dir, tmp_path / "model.tar.gz")
    test = tmp_path / "test"
    test.mkdir()
    pd.DataFrame(np.column_stack([y, x])).to_csv(test / "test.csv", header=False, index=False)
    groups.to_csv(test / "groups.csv", index=False)
    configured = _config_with(
        config,
        {"protected_attributes": [{"column": "region", "values": ["North, East", "South"]}],
         "min_group_size": 10},
    )  # fmt: skip
    _, spec_file = fairness.write_spec(configured.model, configured.project, tmp_path / "spec")

    code = evaluate.main(
        ["--model", str(archive), "--test", str(test), "--fairness", str(spec_file.parent),
         "--output", str(tmp_path / "out"), "--cutoff", str(configured.model.cutoff)]
    )  # fmt: skip

    assert code == 0
    document = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    (group,) = document["fairness"]["groups"]
    assert group["definition"] == 'region in ["North, East", "South"]'
    assert group["protected_count"] == int(groups["region"].isin(["North, East", "South"]).sum())
    path = fairness.gate_path(configured.model, "disparate_impact")
    assert evaluate.spec_key(fairness.spec(configured.model), configured.model.cutoff) in path
    node: Any = document
    for part in path.split("."):
        node = node[part]
    assert node == group["disparate_impact"]
    assert '"region": region in ["North, East", "South"]' in ethical_considerations(configured)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, LocalBuild]:
    """The shipped Lending Club data with several protected attributes: the age proxy by values,
    low income by a range (a leakage column: kept out of training, still measured), interest
    rate by bins (an input, with its reason), and two intersections."""
    numeric = tuple(c for c in config.model.numeric_features if c != "annual_inc")
    configured = _config_with(
        config,
        {
            "protected_attributes": [
                {"column": "emp_length", "values": ["emp_lt_1", "emp_unk"],
                 "used_as_feature_because": "stated underwriting criterion"},
                {"name": "low_income", "column": "annual_inc", "range": {"below": 40000}},
                {"name": "rate", "column": "int_rate", "used_as_feature_because": "pricing",
                 "bins": [{"label": "under 10%", "below": 10},
                          {"label": "20% and over", "at_least": 20}]},
            ],
            "intersections": [["emp_length", "low_income"], ["emp_length", "rate"]],
            "min_group_size": 30,
        },
        numeric_features=list(numeric),
        leakage_columns=["annual_inc"],
    )  # fmt: skip
    return configured, run_local(configured, tmp_path_factory.mktemp("real"))


def test_range_and_bin_groups_on_the_shipped_data_are_the_rows_pandas_selects(
    real: tuple[Config, LocalBuild],
) -> None:
    _, build = real
    groups = pd.read_csv(build.work_dir / "preprocess" / "test" / "groups.csv")
    income, rate = groups["annual_inc"], groups["int_rate"]
    proxy = groups["emp_length"].isin(["emp_lt_1", "emp_unk"])
    found = by_id(build.evaluation["fairness"])
    assert found["low_income"]["protected_count"] == int((income < 40000).sum())
    assert found["low_income"]["definition"] == "annual_inc < 40000"
    assert found["rate[under 10%]"]["protected_count"] == int((rate < 10).sum())
    assert found["rate[20% and over]"]["protected_count"] == int((rate >= 20).sum())
    crossed = found["emp_length & low_income"]
    assert crossed["protected_count"] == int((proxy & (income < 40000)).sum())
    assert crossed["measurable"] == (crossed["protected_count"] >= 30)
    # Every intersection of the proxy with a rate bin is reported, measurable or not.
    assert {"emp_length & rate[under 10%]", "emp_length & rate[20% and over]"} <= set(found)
    # The protected attribute listed as leakage was measured and never trained on.
    encoders = json.loads(
        (build.work_dir / "preprocess" / "artifacts" / "encoders.json").read_text()
    )
    assert "annual_inc" not in encoders["features"]
    gates = {g.gate.name: g for g in build.gates}
    measured = [g for g in found.values() if g["measurable"]]
    assert gates["min-disparate-impact"].value == min(g["disparate_impact"] for g in measured)
    assert gates["max-fairness-disparity"].value == max(
        g["statistical_parity_difference_abs"] for g in measured
    )


def test_the_card_and_report_of_a_multi_attribute_build_carry_every_group_and_each_reason(
    real: tuple[Config, LocalBuild], tmp_path: Path
) -> None:
    configured, build = real
    files = write_evidence(
        configured, build, tmp_path, git_commit="0" * 40, training_image="xgboost:3.2-0",
        baseline_statistics=None, require_drift_baseline=False,
    )  # fmt: skip
    card = json.loads(files["model_card"].read_text())
    ethics = card["additional_information"]["ethical_considerations"]
    assert "int_rate is a protected attribute used as a model input because: pricing" in ethics
    details = card["additional_information"]["custom_details"]
    assert details["protected_attribute_used_as_feature: rate"] == "pricing"
    (evaluation,) = [d for d in card["evaluation_details"] if d["name"] == "test split evaluation"]
    per_group = next(
        g for g in evaluation["metric_groups"] if g["name"] == "fairness by protected group"
    )
    named = {m["name"].rsplit(": ", 1)[0] for m in per_group["metric_data"]}
    assert named == {g["id"] for g in build.evaluation["fairness"]["groups"]}
    report = files["validation_report"].read_text()
    for group in build.evaluation["fairness"]["groups"]:
        assert f"<td><code>{html.escape(group['id'])}</code></td>" in report
        if not group["measurable"]:
            assert html.escape(group["reason"]) in report
    assert "Used as a model input</strong> because: pricing" in report
