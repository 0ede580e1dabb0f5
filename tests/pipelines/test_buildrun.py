"""Upserting and starting the model-build pipeline through the SageMaker API (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from finmlops.buildrun import start_build, upsert_pipeline
from finmlops.config import Config
from finmlops.contracts import Placeholder

VALUES = {
    Placeholder.ARTIFACT_BUCKET: "artifacts-bucket",
    Placeholder.MODEL_PACKAGE_GROUP: "credit-risk-xgb",
    Placeholder.EXECUTION_ROLE_NAME: "sagemaker-execution",
    Placeholder.KMS_KEY_ARN: "arn:aws:kms:us-east-1:123456789012:key/abc",
    Placeholder.SECURITY_GROUP_ID: "sg-0123456789abcdef0",
    Placeholder.PROJECT_IMAGE_URI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/monitor:1",
    Placeholder.MLFLOW_TRACKING_URI: "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/credit-risk-mlflow",
    Placeholder.ACCOUNT_ID: "123456789012",
    Placeholder.PARTITION: "aws",
    Placeholder.REGION: "us-east-1",
}
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@mock_aws
def test_upsert_creates_then_updates_and_start_records_commit_and_author(config: Config) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    arn = upsert_pipeline(sm, config, VALUES, ROLE)
    assert upsert_pipeline(sm, config, VALUES, ROLE) == arn
    described = sm.describe_pipeline(PipelineName="credit-risk-model-build")
    body = json.loads(described["PipelineDefinition"])
    assert "${" not in described["PipelineDefinition"]
    assert body["Parameters"][0]["DefaultValue"] == "s3://artifacts-bucket/data/lending_club.csv"

    execution = start_build(sm, "credit-risk-model-build", git_commit="abc123", author="alice")
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution)[
        "PipelineParameters"
    ]
    assert {"Name": "ModelAuthor", "Value": "alice"} in params
    assert {"Name": "GitCommit", "Value": "abc123"} in params


def test_unfilled_placeholder_is_an_error_naming_it(config: Config) -> None:
    values = {k: v for k, v in VALUES.items() if k != Placeholder.KMS_KEY_ARN}
    with pytest.raises(KeyError, match="KmsKeyArn"):
        upsert_pipeline(None, config, values, ROLE)
