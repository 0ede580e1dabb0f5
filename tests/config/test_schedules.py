"""Schedule expressions are checked as EventBridge Scheduler checks them (finmlops.schedules
cites the AWS pages), at load, naming monitoring.schedule and the offending part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import ConfigError, parse_config, single_model_data
from finmlops.schedules import ScheduleError, check_schedule

VALID = [
    "cron(0 * * * ? *)",  # the shipped default: every hour on the hour
    "cron(0 10 * * ? *)",  # the AWS pages' examples from here on
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 10 L * ? *)",
    "cron(0 10 15W * ? 2030)",
    "cron(15 10 ? * 6L 2019-2022)",
    "cron(0 3 ? JAN,JUL wed *)",
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(1 day)",
    "  rate(7 days) ",
]


@pytest.mark.parametrize("expression", VALID)
def test_expressions_aws_documents_are_accepted(expression: str) -> None:
    assert check_schedule(expression) == expression.strip()


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("hourly", "is not a schedule expression"),
        ("rate(1 hours)", "with value 1 the unit is 'hour'"),
        ("rate(5 hour)", "with value 5 the unit is 'hours'"),
        ("rate(0 minutes)", "positive integer"),
        ("rate(-3 minutes)", "positive integer"),
        ("rate(1.5 hours)", "positive integer"),
        ("rate(\u0661 hour)", "positive integer"),  # an Arabic-Indic digit one
        ("rate(2 weeks)", "minute(s), hour(s), day(s)"),
        ("cron(0 * * * ?)", "six fields"),
        ("cron(0 * * * ? * *)", "six fields"),
        ("cron(0 * * * * *)", "exactly one of day-of-month ('*') and day-of-week ('*')"),
        ("cron(0 * ? * ? *)", "exactly one of day-of-month ('?') and day-of-week ('?')"),
        ("cron(60 * * * ? *)", "minutes '60'"),
        ("cron(0 24 * * ? *)", "hours '24'"),
        ("cron(0 0 0 * ? *)", "day-of-month '0'"),
        ("cron(0 0 32 * ? *)", "day-of-month '32'"),
        ("cron(0 0 * 13 ? *)", "month '13'"),
        ("cron(0 0 * FOO ? *)", "month 'FOO'"),
        ("cron(0 0 ? * 8 *)", "day-of-week '8'"),
        ("cron(0 0 ? * 0 *)", "day-of-week '0'"),
        ("cron(0 0 * * ? 1969)", "year '1969'"),
        ("cron(0 0 * * ? 2200)", "year '2200'"),
        ("cron(0 ? * * ? *)", "'?' is allowed only in day-of-month and day-of-week"),
        ("cron(0 0 ? * 3#1,6#3 *)", "holds that one expression only"),
        ("cron(0 0 ? * 3#6 *)", "week of the month after '#' is 1-5"),
        ("cron(0 0 L,15 * ? *)", "stand alone"),
        ("cron(0 0 32W * ? *)", "32 is outside 1-31"),
        ("cron(0 0 ? * 9L *)", "not a day of the week"),
        ("cron(L 0 * * ? *)", "minutes 'L'"),
        ("cron(0 0 ? * 1/2 *)", "'/' is not allowed in day-of-week"),
        ("cron(0/0 * * * ? *)", "step after '/'"),
        ("cron(5-1 * * * ? *)", "runs backwards"),
        ("cron(0 0 ?,1 * * *)", "'?' stands alone"),
        ("cron(0,,5 0 * * ? *)", "an empty list item"),
        ("cron(0 0 * * ? *) extra", "nothing after it"),
    ],
)
def test_expressions_aws_refuses_are_refused_naming_the_part(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError, match=None) as caught:
        check_schedule(expression)
    assert reason in str(caught.value)


def test_a_bad_schedule_in_the_config_names_the_field(config_path: Path) -> None:
    data: dict[str, Any] = single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
    data["monitoring"]["schedule"] = "cron(0 * * * * *)"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "platform.yaml")
    ((field, reason),) = caught.value.problems
    assert field == "monitoring.schedule"
    assert "day-of-month" in reason and "day-of-week" in reason


@pytest.mark.parametrize(
    "expression",
    ["cron(0 * * * ? *)", "cron(0 * ? * * *)", "cron(0 12 ? * * *)", "cron(0 17/12 ? * * *)"],
)
def test_model_monitor_mode_accepts_the_schedules_sagemaker_documents(
    config_path: Path, expression: str
) -> None:
    data: dict[str, Any] = single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
    data["monitoring"].update(mode="model_monitor", schedule=expression)
    # One job per schedule: Model Monitor has no step to merge shards (ADR 0027).
    data["environments"]["prod"]["instances"]["monitoring_count"] = 1
    data["governance"]["risk_tier"] = "low"  # weekly monitoring suffices (governance.tiers)
    assert parse_config(data).monitoring.schedule == expression


@pytest.mark.parametrize(
    "expression", ["rate(1 hour)", "cron(30 * ? * * *)", "cron(0 8-17 ? * MON-FRI *)"]
)
def test_model_monitor_mode_refuses_what_eventbridge_takes_but_model_monitor_does_not(
    config_path: Path, expression: str
) -> None:
    # SageMaker API Reference, ScheduleConfig.ScheduleExpression: hourly, daily at an hour, or
    # every N hours; nothing else.
    data: dict[str, Any] = single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
    data["monitoring"].update(mode="model_monitor", schedule=expression)
    # One job per schedule: Model Monitor has no step to merge shards (ADR 0027).
    data["environments"]["prod"]["instances"]["monitoring_count"] = 1
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    ((field, reason),) = caught.value.problems
    assert field == "monitoring.schedule"
    assert reason.startswith("with monitoring.mode model_monitor:")
    assert "Model Monitor takes only" in reason
