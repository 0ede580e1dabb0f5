"""`finmlops verify` of a batch model's serving: its scoring pipeline and the version it scores
with, against moto's SageMaker (CreatePipeline and DescribePipeline run there; the definition
SageMaker holds is what the check reads, as `promote record` reads it)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from synth_fixtures import VARIANT_MANIFEST

from finmlops.contracts import DeploymentManifest
from finmlops.verify import serving
from finmlops.verify.results import Status

PIPELINE = "credit-scoring-prod-batch"
HISTORY = "s3://credit-risk-promotion-444444444444-us-east-1/deployments/prod/"
MANIFEST = DeploymentManifest.from_json(json.dumps(VARIANT_MANIFEST))


@pytest.fixture
def sm() -> Any:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        yield client


def _pipeline(sm: Any, archive: str) -> None:
    step = {
        "Name": "BatchScore",
        "Type": "Processing",
        "Arguments": {"ProcessingInputs": [{"InputName": "model", "S3Input": {"S3Uri": archive}}]},
    }
    sm.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [step]}),
        RoleArn="arn:aws:iam::333333333333:role/credit-risk-credit-scoring-prod-batch",
    )


def test_a_batch_pipeline_scoring_with_the_recorded_archive_passes(sm: Any) -> None:
    _pipeline(sm, MANIFEST.model_data_url)
    result = serving.batch_serves_manifest(sm, PIPELINE, MANIFEST, "prod", HISTORY)
    assert result.status is Status.PASS
    assert "scores with credit-risk-xgb/7" in result.detail


def test_a_batch_pipeline_on_another_archive_fails_naming_both(sm: Any) -> None:
    other = MANIFEST.model_data_url.replace("/x/", "/y/")
    _pipeline(sm, other)
    result = serving.batch_serves_manifest(sm, PIPELINE, MANIFEST, "prod", HISTORY)
    assert result.status is Status.FAIL
    assert other in result.detail and MANIFEST.model_data_url in result.detail
    assert "promote rollback" in result.detail


def test_without_a_recorded_deployment_the_served_version_fails(sm: Any) -> None:
    _pipeline(sm, MANIFEST.model_data_url)
    result = serving.batch_serves_manifest(sm, PIPELINE, None, "prod", HISTORY)
    assert result.status is Status.FAIL and HISTORY in result.detail


def test_a_missing_batch_pipeline_fails_naming_the_batch_stack(sm: Any) -> None:
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    result = serving.pipeline_schedule(sm, scheduler, PIPELINE, batch=True)
    assert (result.status, result.seam) == (Status.FAIL, "batch pipeline")
    assert f"batch pipeline {PIPELINE} does not exist: deploy the batch stack" in result.detail
    assert serving.batch_serves_manifest(sm, PIPELINE, MANIFEST, "prod", HISTORY).status is (
        Status.FAIL
    )
