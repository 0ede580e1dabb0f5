"""The risk tier's policy (governance.tiers, ADR 0030): monitoring frequency checked against the
schedule at load, and the longest gap of a schedule computed as EventBridge would run it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_edits import problems_of

from finmlops.config import load_config
from finmlops.schedules import longest_gap_minutes

CONFIG = Path(__file__).resolve().parents[2] / "config" / "platform.yaml"


def test_a_schedule_slower_than_the_tier_fails_at_load_naming_both_fields(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    def daily(data: dict[str, Any]) -> None:
        data["monitoring"]["schedule"] = "cron(0 6 * * ? *)"

    ((field, reason),) = problems_of(raw, daily, tmp_path)
    assert field == "monitoring.schedule"
    assert "governance.tiers.high.monitoring_every_minutes" in reason
    assert "1440 minutes" in reason and "every 60 minutes" in reason


def test_a_lower_tier_accepts_the_slower_schedule(raw: dict[str, Any], tmp_path: Path) -> None:
    data = copy.deepcopy(raw)
    data["governance"]["risk_tier"] = "medium"
    data["monitoring"]["schedule"] = "cron(0 6 * * ? *)"
    path = tmp_path / "medium.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert config.governance.tier.validator_signoff is True
    assert config.governance.tier.revalidate_on == ("quality",)


def test_a_bank_states_its_own_tier_policy(raw: dict[str, Any], tmp_path: Path) -> None:
    def stricter(data: dict[str, Any]) -> None:
        data["governance"]["tiers"] = {
            "high": {"validator_signoff": True, "monitoring_every_minutes": 30}
        }

    ((field, reason),) = problems_of(raw, stricter, tmp_path)
    assert field == "monitoring.schedule" and "every 30 minutes" in reason


def test_a_cron_restricting_days_cannot_be_bounded_and_is_refused_with_the_reason(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    def weekdays(data: dict[str, Any]) -> None:
        data["monitoring"]["schedule"] = "cron(0 * ? * MON-FRI *)"

    ((field, reason),) = problems_of(raw, weekdays, tmp_path)
    assert field == "monitoring.schedule" and "restricts days" in reason


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("rate(1 hour)", 60),
        ("rate(30 minutes)", 30),
        ("rate(7 days)", 10080),
        ("cron(0 * * * ? *)", 60),
        ("cron(0,30 * * * ? *)", 30),
        ("cron(0 6 * * ? *)", 1440),
        # 08:00-17:45 every 15 minutes: the night from 17:45 to 08:00 is the longest gap.
        ("cron(*/15 8-17 * * ? *)", 14 * 60 + 15),
        ("cron(0 6 ? * MON *)", None),
    ],
)
def test_longest_gap_of_a_schedule(expression: str, minutes: int | None) -> None:
    assert longest_gap_minutes(expression) == minutes


def test_the_shipped_config_is_high_tier_and_monitored_hourly() -> None:
    config = load_config(CONFIG, "credit-risk")
    assert config.governance.risk_tier == "high"
    assert config.governance.tier.monitoring_every_minutes == 60
    assert longest_gap_minutes(config.monitoring.schedule) == 60


def test_a_high_tier_model_keeping_logs_under_six_months_fails_naming_the_field(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    def ninety_days(data: dict[str, Any]) -> None:
        data["monitoring"]["capture_retention_days"] = 90

    ((field, reason),) = problems_of(raw, ninety_days, tmp_path)
    assert field == "monitoring.capture_retention_days"
    assert "governance.tiers.high.min_log_retention_days (184" in reason
    assert "Art. 19(1)" in reason


def test_the_default_capture_retention_meets_six_months_and_a_low_tier_may_keep_less(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    data = copy.deepcopy(raw)
    del data["monitoring"]["capture_retention_days"]
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(data))
    # Six months are at most 184 days (July to December).
    assert load_config(path).monitoring.capture_retention_days >= 184
    data["governance"]["risk_tier"] = "low"
    data["monitoring"]["capture_retention_days"] = 90
    data["monitoring"]["schedule"] = "rate(1 day)"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).monitoring.capture_retention_days == 90


def test_tiers_require_evidence_by_depth_and_a_repeated_name_is_refused(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    config = load_config(CONFIG, "credit-risk")
    high, medium, low = (config.governance.tiers.of(t) for t in ("high", "medium", "low"))
    assert set(high.required_evidence) > set(medium.required_evidence) > set(low.required_evidence)
    assert {"champion_comparison", "fairness", "bootstrap_intervals", "explanations"} <= set(
        high.required_evidence
    )

    def twice(data: dict[str, Any]) -> None:
        data["governance"]["tiers"] = {
            "high": {
                "validator_signoff": True,
                "monitoring_every_minutes": 60,
                "required_evidence": ["fairness", "fairness"],
            }
        }

    ((field, reason),) = problems_of(raw, twice, tmp_path)
    assert field == "governance.tiers.high.required_evidence"
    assert "fairness more than once" in reason
