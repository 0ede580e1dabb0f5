"""A portfolio file (`models:`): one view per model, the platform's settings once, and every
refusal named by its path in the portfolio (docs/configuration.md, "models")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import (
    ConfigError,
    load_config,
    load_portfolio,
    parse_config,
    parse_portfolio,
    single_model_data,
)


@pytest.fixture(scope="module")
def shipped(config_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(config_path.read_text())
    return data


@pytest.fixture
def two(shipped: dict[str, Any]) -> dict[str, Any]:
    """The shipped portfolio's first model and a second: the first's block under another name and
    group, serving in batch."""
    data = copy.deepcopy(shipped)
    first = data["models"]["credit-risk"]
    data["models"] = {"credit-risk": first}
    second = copy.deepcopy(first)
    second["package_group"] = "provisions-xgb"
    second["serving"] = {"mode": "batch", "schedule": "cron(0 2 * * ? *)"}
    second["governance"]["risk_tier"] = "medium"
    second["monitoring"]["schedule"] = "cron(0 3 * * ? *)"
    data["models"]["provisions"] = second
    return data


def refused(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_portfolio(data, "platform.yaml")
    return caught.value.problems


def test_the_shipped_portfolio_gives_each_model_the_view_its_single_model_file_gives(
    config_path: Path, shipped: dict[str, Any]
) -> None:
    portfolio = load_portfolio(config_path)
    for name in portfolio.names:
        alone = parse_config(single_model_data(shipped, name))
        assert portfolio.config(name) == alone
        assert portfolio.config(name).model.name == name
        assert portfolio.config(name).source_file == config_path.absolute()


def test_a_second_block_is_a_second_model_with_the_platforms_settings(
    two: dict[str, Any],
) -> None:
    portfolio = parse_portfolio(two)
    assert portfolio.names == ("credit-risk", "provisions")
    batch = portfolio.config("provisions")
    assert batch.serving.batch and batch.serving.schedule == "cron(0 2 * * ? *)"
    assert batch.model.package_group == "provisions-xgb"
    assert batch.governance.break_glass_role == "AuditBreakGlass"  # the platform's
    assert batch.environments == portfolio.config("credit-risk").environments
    assert not portfolio.config("credit-risk").serving.batch


def test_one_model_of_several_must_be_named_and_an_unknown_name_is_refused(
    two: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(two))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        ("models", "2 models (credit-risk, provisions): name one (--model NAME)")
    ]
    assert str(path) in str(caught.value)
    assert load_config(path, "provisions").model.name == "provisions"
    with pytest.raises(ConfigError, match="no model 'fraud'; the models are credit-risk"):
        load_config(path, "fraud")


def test_two_blocks_with_the_same_group_are_refused_naming_the_second(
    two: dict[str, Any],
) -> None:
    two["models"]["fraud"] = copy.deepcopy(two["models"]["credit-risk"])
    assert refused(two) == [
        (
            "models.fraud.package_group",
            "'credit-risk-xgb' is also the package group of model 'credit-risk': each model "
            "has its own registry group (its approvers, readers and versions)",
        )
    ]


def test_a_batch_model_without_a_schedule_is_refused_naming_the_field(
    two: dict[str, Any],
) -> None:
    two["models"]["provisions"]["serving"] = "batch"
    assert refused(two) == [
        (
            "models.provisions.serving.schedule",
            "required with mode batch: when the batch job scores, e.g. cron(0 2 * * ? *)",
        )
    ]


def test_a_schedule_on_a_real_time_model_is_refused(two: dict[str, Any]) -> None:
    two["models"]["credit-risk"]["serving"] = {"mode": "realtime", "schedule": "rate(1 day)"}
    ((field, reason),) = refused(two)
    assert field == "models.credit-risk.serving.schedule"
    assert reason.startswith("for mode batch only")


def test_a_reader_account_outside_the_platform_is_refused_naming_the_block(
    two: dict[str, Any],
) -> None:
    two["models"]["provisions"]["governance"]["readers"] = ["999999999999"]
    ((field, reason),) = refused(two)
    assert field == "models.provisions.governance.readers[0]"
    assert reason.startswith("'999999999999' is not an account of the platform (environments: ")
    two["models"]["provisions"]["governance"]["readers"] = ["333333333333"]
    assert parse_portfolio(two).config("provisions").governance.readers == ("333333333333",)


def test_a_bad_field_in_a_block_is_named_by_its_path_in_the_portfolio(
    two: dict[str, Any],
) -> None:
    block = two["models"]["provisions"]
    block["gates"]["min_auc"] = 1.5
    block["trget"] = "Class"
    problems = dict(refused(two))
    assert set(problems) == {"models.provisions.gates.min_auc", "models.provisions.trget"}
    assert problems["models.provisions.trget"] == "unknown key"


def test_a_platform_problem_is_reported_once_not_once_per_model(two: dict[str, Any]) -> None:
    two["environments"]["dev"]["account"] = "12345"
    assert refused(two) == [
        ("environments.dev.account", "account id must be 12 digits (got '12345')")
    ]


def test_platform_governance_cannot_be_set_per_model(two: dict[str, Any]) -> None:
    two["models"]["provisions"]["governance"]["break_glass_role"] = "Other"
    assert refused(two) == [
        (
            "models.provisions.governance.break_glass_role",
            "set once for the platform, under the top-level governance.break_glass_role",
        )
    ]


def test_a_file_with_both_model_and_models_is_refused(two: dict[str, Any]) -> None:
    two["model"] = {}
    assert refused(two) == [
        ("model", "a file has either `model:` (one model) or `models:` (a portfolio)")
    ]


def test_a_batch_model_needs_no_endpoint_fleet(two: dict[str, Any]) -> None:
    """The prod endpoint-count and canary rules are the endpoint's: a portfolio whose only model
    scores in batch deploys with one instance counted for an endpoint it does not have."""
    del two["models"]["credit-risk"]
    two["environments"]["prod"]["instances"]["endpoint_count"] = 1
    assert parse_portfolio(two).config().serving.batch
    two["models"]["provisions"]["serving"] = "realtime"
    fields = {field for field, _ in refused(two)}
    assert "environments.prod.instances.endpoint_count" in fields


def test_the_messages_the_configuration_doc_shows_are_the_loaders(two: dict[str, Any]) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    same_group = copy.deepcopy(two)
    same_group["models"]["fraud"] = copy.deepcopy(two["models"]["credit-risk"])
    no_schedule = copy.deepcopy(two)
    no_schedule["models"]["provisions"]["serving"] = "batch"
    outside = copy.deepcopy(two)
    outside["models"]["fraud"] = copy.deepcopy(two["models"]["credit-risk"])
    outside["models"]["fraud"]["package_group"] = "fraud-xgb"
    outside["models"]["fraud"]["governance"]["readers"] = ["999999999999"]
    for data in (same_group, no_schedule, outside):
        ((field, reason),) = refused(data)
        assert f"  {field}: {reason}\n" in doc


def test_a_model_view_round_trips_through_its_shipped_single_model_form(
    two: dict[str, Any],
) -> None:
    """What a model's pipeline ships (`model_dump`) loads back as the same view."""
    view = parse_portfolio(two).config("provisions")
    assert parse_config(view.model_dump(mode="json")) == view
