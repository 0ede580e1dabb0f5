"""The fairness block (`model.fairness`): every contradiction fails at load, naming both fields."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
ATTR = "model.fairness.protected_attributes"


def with_fairness(raw: dict[str, Any], fairness: dict[str, Any], **model: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    data["model"]["fairness"] = fairness
    data["model"].update(model)
    return data


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "platform.yaml")
    assert "platform.yaml" in str(caught.value)
    return caught.value.problems


def only(data: dict[str, Any]) -> tuple[str, str]:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


def attribute(**fields: Any) -> dict[str, Any]:
    return {"protected_attributes": [fields]}


def test_the_shipped_config_gates_its_age_proxy_and_says_why_it_is_an_input(config) -> None:  # type: ignore[no-untyped-def]
    (emp,) = config.model.fairness.protected_attributes
    assert (emp.column, emp.values) == ("emp_length", ("emp_lt_1", "emp_unk"))
    assert "emp_length" in config.model.categorical_features
    assert emp.used_as_feature_because


def test_the_old_sensitive_attribute_key_is_refused_with_how_to_migrate(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    data = copy.deepcopy(raw)
    del data["model"]["fairness"]
    data["model"]["sensitive_attribute"] = {"column": "emp_length", "protected_values": ["emp_unk"]}
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    found = dict(caught.value.problems)
    assert found["model.sensitive_attribute"].startswith("replaced by model.fairness")
    assert (
        "protected_attributes: [{column: <column>, values: [" in found["model.sensitive_attribute"]
    )
    assert found["model.fairness"] == "required value is missing"


def test_a_protected_attribute_that_is_a_feature_is_refused_naming_both_fields(
    raw: dict[str, Any],
) -> None:
    field, reason = only(with_fairness(raw, attribute(column="emp_length", values=["emp_unk"])))
    assert field == "model"
    assert f"{ATTR}[0].column 'emp_length' is also in model.categorical_features" in reason
    assert f"{ATTR}[0].used_as_feature_because" in reason


def test_a_protected_attribute_used_as_a_feature_loads_when_the_config_says_why(
    raw: dict[str, Any],
) -> None:
    config = parse_config(
        with_fairness(
            raw,
            attribute(column="int_rate", range={"below": 10}, used_as_feature_because="pricing"),
        )
    )
    (rate,) = config.model.fairness.protected_attributes
    assert rate.used_as_feature_because == "pricing"


def test_a_reason_for_a_protected_attribute_that_is_no_feature_is_refused(
    raw: dict[str, Any],
) -> None:
    field, reason = only(
        with_fairness(
            raw, attribute(column="age", range={"below": 25}, used_as_feature_because="x")
        )
    )
    assert field == "model"
    assert f"{ATTR}[0].used_as_feature_because is set" in reason
    assert "model.numeric_features nor model.categorical_features" in reason


def test_a_protected_attribute_equal_to_the_target_is_refused_naming_both_fields(
    raw: dict[str, Any],
) -> None:
    field, reason = only(with_fairness(raw, attribute(column="Class", values=["bad"])))
    assert field == "model"
    assert f"{ATTR}[0].column 'Class' is model.target" in reason


def test_a_protected_attribute_in_leakage_columns_loads_kept_out_of_training_and_measured(
    raw: dict[str, Any],
) -> None:
    """Leakage columns are excluded from training; a protected attribute usually is too, and
    listing it there is no contradiction (preprocess keeps it for the test rows' groups)."""
    config = parse_config(
        with_fairness(raw, attribute(column="age", range={"below": 25}), leakage_columns=["age"])
    )
    assert config.model.leakage_columns == ("age",)


def test_a_range_on_a_categorical_feature_is_refused_naming_both_fields(
    raw: dict[str, Any],
) -> None:
    field, reason = only(
        with_fairness(
            raw,
            attribute(column="emp_length", range={"below": 1}, used_as_feature_because="x"),
        )
    )
    assert field == "model"
    assert f"{ATTR}[0].range compares numbers" in reason
    assert "model.categorical_features" in reason


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"at_least": 30, "below": 25}, "at_least 30 and below 25 are inverted"),
        ({"above": 25, "below": 25}, "above 25 and below 25 are inverted"),
        ({"at_least": 25, "below": 25}, "at_least 25 and below 25 are inverted"),
        ({"at_least": 18, "above": 20}, "at_least and above both set a lower bound"),
        ({"below": 25, "at_most": 30}, "below and at_most both set an upper bound"),
        ({}, "a range needs at_least, above, below or at_most"),
    ],
)
def test_a_contradictory_range_is_refused_naming_both_bounds(
    raw: dict[str, Any], bounds: dict[str, float], message: str
) -> None:
    field, reason = only(with_fairness(raw, attribute(column="age", range=bounds)))
    assert field == f"{ATTR}[0].range"
    assert reason.startswith(message)


def test_a_one_value_range_with_both_bounds_inclusive_loads(raw: dict[str, Any]) -> None:
    config = parse_config(
        with_fairness(raw, attribute(column="age", range={"at_least": 25, "at_most": 25}))
    )
    assert config.model.fairness.protected_attributes[0].range is not None


def test_a_value_listed_twice_is_refused_naming_it(raw: dict[str, Any]) -> None:
    field, reason = only(
        with_fairness(
            raw, attribute(column="region", values=["North, East", "South", "North, East"])
        )
    )
    assert field == f"{ATTR}[0]"
    assert reason == 'values listed twice: ["North, East"]'


def test_values_and_range_together_are_refused_naming_both(raw: dict[str, Any]) -> None:
    field, reason = only(
        with_fairness(raw, attribute(column="age", values=["19"], range={"below": 25}))
    )
    assert field == f"{ATTR}[0]"
    assert reason == (
        "define the protected group by exactly one of values, range or bins (got values and range)"
    )


def test_overlapping_bins_are_refused_naming_both_and_touching_bins_load(
    raw: dict[str, Any],
) -> None:
    overlapping = [
        {"label": "under 25", "below": 25},
        {"label": "25 to 40", "at_least": 24, "below": 40},
    ]
    field, reason = only(with_fairness(raw, attribute(column="age", bins=overlapping)))
    assert field == f"{ATTR}[0]"
    assert reason == "bins[0] ('under 25') and bins[1] ('25 to 40') overlap: a row would be in both"
    # at_most 25 and at_least 25 share 25; below 25 and at_least 25 do not.
    shared = [{"label": "a", "at_most": 25}, {"label": "b", "at_least": 25}]
    assert "overlap" in only(with_fairness(raw, attribute(column="age", bins=shared)))[1]
    touching = [{"label": "a", "below": 25}, {"label": "b", "at_least": 25, "below": 65}]
    config = parse_config(with_fairness(raw, attribute(column="age", bins=touching)))
    assert config.model.fairness.protected_attributes[0].bins is not None


def test_a_bin_label_used_twice_is_refused(raw: dict[str, Any]) -> None:
    bins = [{"label": "young", "below": 25}, {"label": "young", "at_least": 65}]
    assert only(with_fairness(raw, attribute(column="age", bins=bins)))[1] == (
        'bin labels used twice: ["young"]'
    )


def test_two_attributes_with_one_name_are_refused_naming_both_entries(
    raw: dict[str, Any],
) -> None:
    fairness = {
        "protected_attributes": [
            {"column": "age", "range": {"below": 25}},
            {"column": "age", "range": {"at_least": 65}},
        ]
    }
    field, reason = only(with_fairness(raw, fairness))
    assert field == "model.fairness"
    assert reason.startswith(
        "protected_attributes[1] and protected_attributes[0] are both named 'age'"
    )


@pytest.mark.parametrize(
    ("intersections", "message"),
    [
        ([["age", "sex"]], 'intersections[0] names ["sex"], which no entry'),
        ([["age", "age"]], "intersections[0] lists an attribute twice"),
        ([["age", "young"]], "intersections[0] crosses attributes of the same column"),
        ([["age", "region"], ["region", "age"]], "intersections[1] repeats intersections[0]"),
    ],
)
def test_a_contradictory_intersection_is_refused(
    raw: dict[str, Any], intersections: list[list[str]], message: str
) -> None:
    fairness = {
        "protected_attributes": [
            {"column": "age", "range": {"at_least": 65}},
            {"name": "young", "column": "age", "range": {"below": 25}},
            {"column": "region", "values": ["North, East"]},
        ],
        "intersections": intersections,
    }
    field, reason = only(with_fairness(raw, fairness))
    assert field == "model.fairness"
    assert reason.startswith(message)


def test_a_value_with_a_comma_stays_one_value(raw: dict[str, Any]) -> None:
    config = parse_config(
        with_fairness(raw, attribute(column="region", values=["North, East", "South"]))
    )
    assert config.model.fairness.protected_attributes[0].values == ("North, East", "South")


def test_the_fairness_example_in_the_governance_docs_loads(raw: dict[str, Any]) -> None:
    """docs/governance.md "Fairness: protected groups" shows a `fairness:` block; it loads."""
    text = (ROOT / "docs" / "governance.md").read_text()
    section = text[text.index("## Fairness: protected groups") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "no yaml example in the section"
    example = yaml.safe_load(block.group(1))
    model = example["model"]
    data = with_fairness(
        raw,
        model["fairness"],
        numeric_features=[*raw["model"]["numeric_features"], *model.get("numeric_features", [])],
    )
    config = parse_config(data)
    names = [a.key for a in config.model.fairness.protected_attributes]
    assert len(names) >= 3
    assert config.model.fairness.intersections
