"""Checks whose AWS answers the emulator cannot produce, against botocore's Stubber: moto has no
SageMaker monitoring schedules (Model Monitor mode), runs no pipeline (every execution succeeds
at once), and grants every call. Each stub answers with the API reference's response shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from finmlops.verify import dev, serving
from finmlops.verify.results import Status, exit_status, guarded

ARN = "arn:aws:sagemaker:us-east-1:111111111111:pipeline/credit-risk-model-build/execution/abc123"


@pytest.fixture
def sm() -> Any:
    return boto3.client("sagemaker", region_name="us-east-1")


def test_model_monitor_schedules_that_are_scheduled_pass(sm: Any) -> None:
    with Stubber(sm) as stub:
        for name in ("credit-risk-prod-data-drift", "credit-risk-prod-model-quality"):
            stub.add_response(
                "describe_monitoring_schedule",
                {
                    "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:1:monitoring-schedule/{name}",
                    "MonitoringScheduleName": name,
                    "MonitoringScheduleStatus": "Scheduled",
                    "CreationTime": datetime(2026, 11, 28, tzinfo=UTC),
                    "LastModifiedTime": datetime(2026, 11, 28, tzinfo=UTC),
                    "MonitoringScheduleConfig": {},
                    "LastMonitoringExecutionSummary": {
                        "MonitoringScheduleName": name,
                        "ScheduledTime": datetime(2026, 11, 28, tzinfo=UTC),
                        "CreationTime": datetime(2026, 11, 28, tzinfo=UTC),
                        "LastModifiedTime": datetime(2026, 11, 28, tzinfo=UTC),
                        "MonitoringExecutionStatus": "Completed",
                    },
                },
                {"MonitoringScheduleName": name},
            )
        result = serving.model_monitor_schedules(
            sm, ["credit-risk-prod-data-drift", "credit-risk-prod-model-quality"]
        )
    assert result.status is Status.PASS
    assert "credit-risk-prod-data-drift Scheduled (last run Completed)" in result.detail


def test_a_stopped_or_missing_model_monitor_schedule_fails(sm: Any) -> None:
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_monitoring_schedule",
            {
                "MonitoringScheduleArn": "arn:aws:sagemaker:us-east-1:1:monitoring-schedule/a",
                "MonitoringScheduleName": "a",
                "MonitoringScheduleStatus": "Stopped",
                "CreationTime": datetime(2026, 11, 28, tzinfo=UTC),
                "LastModifiedTime": datetime(2026, 11, 28, tzinfo=UTC),
                "MonitoringScheduleConfig": {},
            },
        )
        stub.add_client_error(
            "describe_monitoring_schedule",
            "ResourceNotFound",
            "Monitoring schedule b does not exist",
        )
        result = serving.model_monitor_schedules(sm, ["a", "b"])
    assert result.status is Status.FAIL
    assert "a is Stopped; b does not exist" in result.detail
    assert "start-monitoring-schedule" in result.detail


def _execution(stub: Stubber, status: str, **extra: Any) -> None:
    stub.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                {
                    "PipelineExecutionArn": ARN,
                    "PipelineExecutionStatus": status,
                    "StartTime": datetime(2026, 11, 28, 9, tzinfo=UTC),
                }
            ]
        },
    )
    stub.add_response(
        "describe_pipeline_execution",
        {
            "PipelineExecutionArn": ARN,
            "PipelineExecutionStatus": status,
            "CreationTime": datetime(2026, 11, 28, 9, tzinfo=UTC),
            "CreatedBy": {
                "IamIdentity": {
                    "Arn": "arn:aws:sts::111111111111:assumed-role/credit-risk-dev-data-scientist/s",
                    "SourceIdentity": "alice",
                }
            },
            **extra,
        },
    )


def test_the_latest_build_names_when_and_who_started_it(sm: Any) -> None:
    with Stubber(sm) as stub:
        _execution(stub, "Succeeded")
        result = dev.latest_execution(sm, "credit-risk-model-build")
    assert result.status is Status.PASS
    assert result.detail.startswith("Succeeded, started 2026-11-28T09:00:00+00:00 by ")
    assert "(source identity alice)" in result.detail


def test_a_failed_latest_build_fails_with_its_reason(sm: Any) -> None:
    with Stubber(sm) as stub:
        _execution(stub, "Failed", FailureReason="Step Gate-min-auc failed: AUC 0.61 < 0.65")
        result = dev.latest_execution(sm, "credit-risk-model-build")
    assert result.status is Status.FAIL
    assert "AUC 0.61 < 0.65" in result.detail and "list-pipeline-execution-steps" in result.detail


def test_a_pipeline_that_never_ran_is_skipped(sm: Any) -> None:
    with Stubber(sm) as stub:
        stub.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": []})
        result = dev.latest_execution(sm, "credit-risk-model-build")
    assert result.status is Status.SKIP and "buildrun start" in result.detail


def test_an_access_denied_read_fails_that_check_only_and_exits_4(sm: Any) -> None:
    with Stubber(sm) as stub:
        stub.add_client_error(
            "describe_model_package_group", "AccessDeniedException", "not authorized", 400
        )
        denied = guarded("registry group", "group g", lambda: dev.group_exists(sm, "g"))
        stub.add_response(
            "describe_model_package_group",
            {
                "ModelPackageGroupName": "g",
                "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:1:model-package-group/g",
                "CreationTime": datetime(2026, 11, 28, tzinfo=UTC),
                "CreatedBy": {},
                "ModelPackageGroupStatus": "Completed",
            },
        )
        fine = guarded("registry group", "group g", lambda: dev.group_exists(sm, "g"))
    assert denied.status is Status.FAIL and denied.aws_error == "AccessDeniedException"
    assert "could not read group g" in denied.detail and "--profile" in denied.detail
    assert fine.status is Status.PASS
    assert exit_status([denied, fine]) == 4
