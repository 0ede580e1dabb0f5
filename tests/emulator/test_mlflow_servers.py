"""SageMaker MLflow tracking servers in the emulator, as `mlflow_servers.install()` leaves moto
(tests/conftest.py installs it): what the API keeps and answers. moto alone has none of these
operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

NAME = "credit-risk-mlflow"
ROLE = "arn:aws:iam::123456789012:role/credit-risk-dev-tracking"


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_mlflow_tracking_server(
            TrackingServerName=NAME,
            ArtifactStoreUri="s3://artifacts/mlflow",
            RoleArn=ROLE,
            TrackingServerSize="Small",
        )
        yield client


def test_a_created_server_is_described_as_created_and_active(sm: Any) -> None:
    server = sm.describe_mlflow_tracking_server(TrackingServerName=NAME)
    assert server["TrackingServerStatus"] == "Created" and server["IsActive"] == "Active"
    assert server["TrackingServerArn"].endswith(f":mlflow-tracking-server/{NAME}")
    assert server["ArtifactStoreUri"] == "s3://artifacts/mlflow" and server["RoleArn"] == ROLE
    (summary,) = sm.list_mlflow_tracking_servers()["TrackingServerSummaries"]
    assert summary["TrackingServerName"] == NAME


def test_stop_and_start_change_status_and_activity(sm: Any) -> None:
    sm.stop_mlflow_tracking_server(TrackingServerName=NAME)
    stopped = sm.describe_mlflow_tracking_server(TrackingServerName=NAME)
    assert (stopped["TrackingServerStatus"], stopped["IsActive"]) == ("Stopped", "Inactive")
    sm.start_mlflow_tracking_server(TrackingServerName=NAME)
    started = sm.describe_mlflow_tracking_server(TrackingServerName=NAME)
    assert (started["TrackingServerStatus"], started["IsActive"]) == ("Started", "Active")


def test_an_unknown_server_is_resource_not_found(sm: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sm.describe_mlflow_tracking_server(TrackingServerName="no-such")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"


def test_a_name_in_use_conflicts_and_a_bad_size_is_refused(sm: Any) -> None:
    with pytest.raises(ClientError, match="ConflictException"):
        sm.create_mlflow_tracking_server(
            TrackingServerName=NAME, ArtifactStoreUri="s3://other", RoleArn=ROLE
        )
    with pytest.raises(ClientError, match="TrackingServerSize"):
        sm.create_mlflow_tracking_server(
            TrackingServerName="other",
            ArtifactStoreUri="s3://a",
            RoleArn=ROLE,
            TrackingServerSize="Huge",
        )


def test_a_deleted_server_is_gone(sm: Any) -> None:
    sm.delete_mlflow_tracking_server(TrackingServerName=NAME)
    assert sm.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []
