"""CloudWatch alarm evaluation for the emulator, where moto stores alarms but never evaluates them.

For each metric alarm: read its metric's datapoints over the evaluation window with
GetMetricStatistics, compare them with the threshold as CloudWatch does (M of N datapoints,
missing data per TreatMissingData), set the new state with SetAlarmState, and on a change publish
CloudWatch's alarm notification JSON to the alarm's SNS actions, as AWS would.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


@dataclass(frozen=True)
class Transition:
    alarm: str
    old: str
    new: str
    reason: str
    notified: tuple[str, ...]


def _state(alarm: dict[str, Any], datapoints: list[float]) -> tuple[str, str]:
    periods = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm", periods))
    compare = _COMPARE.get(alarm["ComparisonOperator"])
    if compare is None:
        raise ValueError(
            f"alarm {alarm['AlarmName']}: comparison {alarm['ComparisonOperator']} is not supported"
        )
    threshold = float(alarm["Threshold"])
    recent = datapoints[-periods:]
    if not recent:
        treat = alarm.get("TreatMissingData", "missing")
        if treat == "breaching":
            return "ALARM", "no datapoints, treated as breaching"
        if treat == "notBreaching":
            return "OK", "no datapoints, treated as not breaching"
        return alarm.get("StateValue", "INSUFFICIENT_DATA"), "no datapoints"
    breaching = sum(compare(v, threshold) for v in recent)
    symbol = alarm["ComparisonOperator"].replace("Threshold", "")
    reason = (
        f"Threshold Crossed: {breaching} out of the last {len(recent)} datapoints "
        f"[{', '.join(f'{v:g}' for v in reversed(recent))}] were {symbol} the threshold ({threshold:g})"
    )
    return ("ALARM" if breaching >= needed else "OK"), reason


def notification(
    alarm: dict[str, Any], *, old: str, new: str, reason: str, at: datetime, region: str
) -> dict[str, Any]:
    """The JSON message CloudWatch publishes to an alarm's SNS topic."""
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": alarm["AlarmArn"].split(":")[4],
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": region,
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": old,
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "Statistic": str(alarm.get("Statistic", "")).upper(),
            "Dimensions": [
                {"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])
            ],
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": alarm["Threshold"],
            "TreatMissingData": alarm.get("TreatMissingData", "missing"),
        },
    }


def evaluate_alarms(
    cloudwatch: Any,
    sns: Any,
    *,
    now: datetime | None = None,
    names: list[str] | None = None,
    alarm_arn: Callable[[str], str] | None = None,
) -> list[Transition]:
    """Evaluate every metric alarm (or the named ones) once; returns the state changes.

    `alarm_arn` gives the ARN the alarm has on AWS when moto holds it in another account (the
    world runs every environment in one moto account): the notification's `AlarmArn` and
    `AWSAccountId` are then the alarm's own account's, as CloudWatch publishes them."""
    now = now or datetime.now(UTC)
    region = cloudwatch.meta.region_name
    kwargs: dict[str, Any] = {"AlarmNames": names} if names else {}
    alarms = cloudwatch.describe_alarms(**kwargs).get("MetricAlarms", [])
    changes = []
    for alarm in alarms:
        if "MetricName" not in alarm:
            continue  # metric-math alarms: moto cannot return their data either
        period = int(alarm["Period"])
        window = period * int(alarm.get("EvaluationPeriods", 1))
        stats = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=now - timedelta(seconds=window),
            EndTime=now + timedelta(seconds=1),
            Period=period,
            Statistics=[alarm["Statistic"]],
        )
        points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
        values = [float(p[alarm["Statistic"]]) for p in points]
        old = alarm.get("StateValue", "INSUFFICIENT_DATA")
        new, reason = _state(alarm, values)
        if new == old:
            continue
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=new, StateReason=reason)
        actions = alarm.get(
            {"ALARM": "AlarmActions", "OK": "OKActions"}.get(new, "InsufficientDataActions"), []
        )
        message = json.dumps(
            notification(
                alarm | {"AlarmArn": (alarm_arn or str)(alarm["AlarmArn"])},
                old=old,
                new=new,
                reason=reason,
                at=now,
                region=region,
            )
        )
        notified = []
        for topic in actions:
            if topic.startswith("arn:aws:sns:") or ":sns:" in topic:
                sns.publish(
                    TopicArn=topic,
                    Subject=f'{new}: "{alarm["AlarmName"]}" in {region}'[:100],
                    Message=message,
                )
                notified.append(topic)
        changes.append(Transition(alarm["AlarmName"], old, new, reason, tuple(notified)))
    return changes
