"""Fields that contradict each other are refused at load, and the reason names both fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_edits import problems_of

Change = Callable[[dict[str, Any]], None]


def model(**update: Any) -> Change:
    return lambda d: d["model"].update(update)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (model(leakage_columns=["Class"]), ("model.target", "model.leakage_columns")),
        (model(time_column="int_rate"), ("model.time_column", "model.numeric_features")),
        (model(time_column="term"), ("model.time_column", "model.categorical_features")),
        (model(time_column="Class"), ("model.time_column", "model.target")),
        (model(target="term"), ("model.target", "model.categorical_features")),
        (
            lambda d: d["model"]["fairness"]["protected_attributes"][0].update(column="Class"),
            ("model.fairness.protected_attributes[0].column", "model.target"),
        ),
        (
            model(leakage_columns=["annual_inc"]),
            ("model.leakage_columns", "model.numeric_features"),
        ),
        (
            lambda d: d["model"]["categorical_features"].append("int_rate"),
            ("model.numeric_features", "model.categorical_features"),
        ),
    ],
)
def test_a_column_given_two_roles_that_exclude_each_other_names_both_fields(
    raw: dict[str, Any], tmp_path: Path, change: Change, fields: tuple[str, str]
) -> None:
    problems = problems_of(raw, change, tmp_path)
    assert [field for field, _ in problems] == ["model"]
    reason = problems[0][1]
    for field in fields:
        assert field in reason, reason


def test_a_feature_listed_twice_in_one_list_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(
        raw, lambda d: d["model"]["numeric_features"].append("int_rate"), tmp_path
    )
    assert problems == [("model", "model.numeric_features lists 'int_rate' twice")]


def test_a_monitoring_auc_floor_above_the_build_gate_names_both_fields(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    problems = problems_of(raw, lambda d: d["monitoring"].update(min_auc=0.7), tmp_path)
    ((field, reason),) = problems
    assert field == "monitoring.min_auc"
    assert "gates.min_auc (0.65)" in reason


@pytest.mark.parametrize(
    "account",
    [
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662",  # Arabic-Indic
        "１２３４５６７８９０１２",  # fullwidth digits
        "12345678901\u0663",
    ],
)
def test_an_account_id_of_non_ascii_digits_is_refused(
    raw: dict[str, Any], tmp_path: Path, account: str
) -> None:
    assert account.isdigit()  # what `\d` and str.isdigit accept
    problems = problems_of(
        raw, lambda d: d["environments"]["dev"].update(account=account), tmp_path
    )
    assert problems[0][0] == "environments.dev.account"
    assert "12 digits" in problems[0][1]


@pytest.mark.parametrize("field", ["approver_role", "break_glass_role"])
def test_a_role_name_with_a_non_ascii_letter_is_refused(
    raw: dict[str, Any], tmp_path: Path, field: str
) -> None:
    # IAM names are ASCII; `\w` in pydantic's regex engine would have let "é" through.
    problems = problems_of(raw, lambda d: d["governance"].update({field: "Approvér"}), tmp_path)
    assert problems[0][0] == f"governance.{field}"
