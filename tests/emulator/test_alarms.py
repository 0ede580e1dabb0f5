"""The emulator evaluates CloudWatch alarms that moto only stores, and notifies through SNS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finmlops.emulator.aws.alarms import evaluate_alarms
from finmlops.emulator.aws.server import EmbeddedAws, embedded_aws

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as running:
        yield running


def setup(aws: EmbeddedAws) -> tuple[Any, Any, str]:
    sns, sqs, cw = aws.client("sns"), aws.client("sqs"), aws.client("cloudwatch")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    cw.put_metric_alarm(
        AlarmName="credit-risk-prod-dataset-drift",
        Namespace="finmlops/Monitoring",
        MetricName="dataset_drift_share",
        Dimensions=[{"Name": "Endpoint", "Value": "credit-risk-prod"}],
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.3,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    return cw, sqs, queue


def put(cw: Any, value: float) -> None:
    cw.put_metric_data(
        Namespace="finmlops/Monitoring",
        MetricData=[
            {
                "MetricName": "dataset_drift_share",
                "Dimensions": [{"Name": "Endpoint", "Value": "credit-risk-prod"}],
                "Timestamp": NOW - timedelta(minutes=1),
                "Value": value,
            }
        ],
    )


def test_breaching_metric_moves_the_alarm_and_notifies_the_topic(aws: EmbeddedAws) -> None:
    cw, sqs, queue = setup(aws)
    put(cw, 0.45)
    (change,) = evaluate_alarms(cw, aws.client("sns"), now=NOW)
    assert change.new == "ALARM"
    assert (
        cw.describe_alarms(AlarmNames=["credit-risk-prod-dataset-drift"])["MetricAlarms"][0][
            "StateValue"
        ]
        == "ALARM"
    )
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert body["NewStateValue"] == "ALARM"
    assert body["Trigger"]["MetricName"] == "dataset_drift_share"
    assert "0.45" in body["NewStateReason"]


def test_quiet_metric_leaves_the_alarm_alone_and_sends_nothing(aws: EmbeddedAws) -> None:
    cw, sqs, queue = setup(aws)
    put(cw, 0.05)
    first = evaluate_alarms(cw, aws.client("sns"), now=NOW)
    assert all(c.new == "OK" for c in first)
    assert evaluate_alarms(cw, aws.client("sns"), now=NOW) == []
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert all(
        json.loads(json.loads(m["Body"])["Message"])["NewStateValue"] == "OK" for m in messages
    )
