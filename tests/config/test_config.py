"""A bad configuration fails at load, naming the file, the field and the reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from config_edits import problems_of

from finmlops.config import ConfigError, load_config, parse_config


def test_default_config_loads_into_frozen_objects(config_path: Path) -> None:
    config = load_config(config_path, "credit-risk")
    assert config.model.target == "Class"
    assert config.monitoring.dataset_drift_share == 0.3
    with pytest.raises(Exception, match="frozen"):
        config.model.cutoff = 0.9  # type: ignore[misc]


def test_unknown_key_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["model"].update(trget="Class"), tmp_path)
    assert ("model.trget", "unknown key") in problems


def test_wrong_type_names_field_and_value(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["gates"].update(min_auc="high"), tmp_path)
    field, reason = problems[0]
    assert field == "gates.min_auc"
    assert "'high'" in reason


def test_numeric_strings_are_not_coerced(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["model"]["split"].update(seed="42"), tmp_path)
    assert problems[0][0] == "model.split.seed"


def test_account_id_must_be_twelve_digits(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(
        raw, lambda d: d["environments"]["dev"].update(account="12345"), tmp_path
    )
    assert problems == [("environments.dev.account", "account id must be 12 digits (got '12345')")]


def test_unquoted_account_id_is_refused_because_leading_zeros_would_be_lost(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    problems = problems_of(
        raw, lambda d: d["environments"]["dev"].update(account=111111111111), tmp_path
    )
    assert problems[0][0] == "environments.dev.account"


def test_unknown_region_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(
        raw, lambda d: d["environments"]["stage"].update(region="us-middle-1"), tmp_path
    )
    assert problems == [("environments.stage.region", "unknown AWS region 'us-middle-1'")]


def test_an_environment_in_another_region_than_tooling_is_refused(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    problems = problems_of(
        raw, lambda d: d["environments"]["prod"].update(region="eu-west-1"), tmp_path
    )
    assert [field for field, _ in problems] == ["environments.prod.region"]
    assert "tooling region us-east-1" in problems[0][1]


def test_threshold_out_of_range_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["monitoring"].update(dataset_drift_share=1.5), tmp_path)
    assert problems[0][0] == "monitoring.dataset_drift_share"
    assert "1.5" in problems[0][1]


def test_environments_sharing_an_account_are_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    shared = raw["environments"]["dev"]["account"]
    problems = problems_of(
        raw, lambda d: d["environments"]["prod"].update(account=shared), tmp_path
    )
    assert problems[0][0] == "environments.prod.account"
    assert "'dev'" in problems[0][1]


def test_shared_accounts_load_when_explicitly_allowed(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["environments"]["prod"]["account"] = data["environments"]["dev"]["account"]
    data["environments"]["allow_shared_accounts"] = True
    assert parse_config(data).environments.prod.account == data["environments"]["dev"]["account"]


def test_missing_required_value_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["governance"].pop("owner"), tmp_path)
    assert problems == [("governance.owner", "required value is missing")]


def test_missing_environment_account_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["environments"]["stage"].pop("account"), tmp_path)
    assert problems == [("environments.stage.account", "required value is missing")]


def test_prod_with_one_endpoint_instance_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(
        raw, lambda d: d["environments"]["prod"]["instances"].update(endpoint_count=1), tmp_path
    )
    assert problems[0][0] == "environments.prod.instances.endpoint_count"


def test_canary_share_over_half_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["deployment"].update(canary_share=0.6), tmp_path)
    assert problems[0][0] == "deployment.canary_share"


def test_invalid_schedule_expression_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["monitoring"].update(schedule="hourly"), tmp_path)
    assert problems[0][0] == "monitoring.schedule"
    assert "rate(" in problems[0][1]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("https://hooks.example.com/services/T0/B0/x", "should match pattern"),  # the URL itself
        ("credit-risk/alerts/chat-webhook", "should match pattern"),  # no leading slash
        ("/aws/alerts/chat-webhook", "cannot begin with aws or ssm"),
    ],
)
def test_chat_webhook_must_name_an_ssm_parameter_not_hold_the_url(
    raw: dict[str, Any], tmp_path: Path, value: str, reason: str
) -> None:
    problems = problems_of(
        raw, lambda d: d["notifications"].update(chat_webhook_parameter=value), tmp_path
    )
    assert problems[0][0] == "notifications.chat_webhook_parameter"
    assert reason in problems[0][1]
    assert value not in problems[0][1]  # a pasted webhook URL is a secret: never echoed


def test_feature_listed_as_target_is_refused(raw: dict[str, Any], tmp_path: Path) -> None:
    problems = problems_of(raw, lambda d: d["model"]["numeric_features"].append("Class"), tmp_path)
    assert problems[0][0] == "model"
    assert "Class" in problems[0][1]


def test_every_problem_is_reported_at_once(raw: dict[str, Any], tmp_path: Path) -> None:
    def two_faults(d: dict[str, Any]) -> None:
        d["gates"]["min_auc"] = 2
        d["deployment"]["baking_minutes"] = 0

    fields = {field for field, _ in problems_of(raw, two_faults, tmp_path)}
    assert fields == {"gates.min_auc", "deployment.baking_minutes"}


def test_unreadable_and_malformed_files_are_errors_not_crashes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_hyperparameters_reach_the_container_as_strings(config_path: Path) -> None:
    hp = load_config(config_path, "credit-risk").model.hyperparameters.as_sagemaker()
    assert all(isinstance(v, str) for v in hp.values())
    assert hp["objective"] == "binary:logistic"
    assert "num_round" in hp


def test_a_canary_on_a_one_instance_variant_fails_at_load_naming_the_count(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    """SageMaker: a canary is at most 50 % of the variant's instances (TrafficRoutingConfig)."""
    problems = problems_of(
        raw,
        lambda d: d["environments"]["stage"]["instances"].update(endpoint_count=1),
        tmp_path,
    )
    (field, reason), *_ = problems
    assert field == "environments.stage.instances.endpoint_count"
    assert "canary" in reason and "at least 2 instances" in reason


def test_a_linear_step_below_a_tenth_of_the_largest_fleet_fails_at_load(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    """SageMaker: each linear step is 10-50 % of the variant's instances; prod may scale to 30
    and one instance (0.25 x 2, rounded down) is a thirtieth of that."""

    def change(data: dict[str, Any]) -> None:
        data["deployment"].update(strategy="linear", linear_step_share=0.25)
        data["environments"]["prod"]["instances"].update(endpoint_max_count=30)

    problems = problems_of(raw, change, tmp_path)
    assert problems[0][0] == "deployment.linear_step_share"
    assert "prod" in problems[0][1] and "30" in problems[0][1]


def test_a_reason_text_for_a_column_the_model_does_not_read_is_refused_naming_it(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    problems = problems_of(
        raw,
        lambda d: d["model"]["reasons"]["texts"].update({"zip_code": "Where you live"}),
        tmp_path,
    )
    assert len(problems) == 1
    assert "model.reasons.texts names 'zip_code'" in problems[0][1]


@pytest.mark.parametrize(
    ("top_k", "reason"), [(0, "greater than or equal to 1"), (23, "has 22 features")]
)
def test_a_top_k_outside_one_to_the_number_of_features_is_refused(
    raw: dict[str, Any], tmp_path: Path, top_k: int, reason: str
) -> None:
    problems = problems_of(raw, lambda d: d["model"]["reasons"].update({"top_k": top_k}), tmp_path)
    assert len(problems) == 1
    field, message = problems[0]
    assert "reasons.top_k" in f"{field} {message}" and reason in message


def test_an_empty_reason_text_is_refused_naming_the_feature(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    problems = problems_of(
        raw, lambda d: d["model"]["reasons"]["texts"].update({"int_rate": " "}), tmp_path
    )
    assert [field for field, _ in problems] == ["model.reasons.texts.int_rate"]
