"""Both ways: the registered version carries the run id, the run carries the version's ARN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from mlflow.tracking import MlflowClient
from moto import mock_aws

from finmlops.config import Config
from finmlops.contracts import Approval, Meta
from finmlops.modelbuild import LocalBuild
from finmlops.registry.versions import describe_version
from finmlops.tracking.content import RunTag
from finmlops.tracking.local import track_local_build
from finmlops.tracking.runs import (
    NOT_LOGGED,
    TrackingError,
    link_model_package,
    local_store_uri,
    runs_for_model_package,
)
from finmlops.tracking.settings import TrackingSettings

GROUP = "credit-risk-xgb"


@pytest.fixture
def sagemaker() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1")


def register(sm: Any, run_id: str) -> str:
    """What the pipeline's RegisterModel step does with the Track step's run id."""
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    response = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=Approval.PENDING,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
                    "ModelDataUrl": "s3://bucket/model-build/e1/train/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={Meta.MLFLOW_RUN_ID: run_id},
    )
    arn: str = response["ModelPackageArn"]
    return arn


def test_registered_version_and_its_run_point_at_each_other(
    config: Config, build: LocalBuild, work_dir: Path, sagemaker: Any
) -> None:
    settings = TrackingSettings()
    outcome = track_local_build(settings, config, build, store_dir=work_dir)
    arn = register(sagemaker, outcome.run_id)

    assert link_model_package(settings, outcome.run_id, arn, work_dir=work_dir)

    version = describe_version(sagemaker, arn)
    assert version.metadata[Meta.MLFLOW_RUN_ID] == outcome.run_id
    run = MlflowClient(tracking_uri=local_store_uri(work_dir)).get_run(outcome.run_id)
    assert run.data.tags[RunTag.MODEL_PACKAGE_ARN] == arn
    assert runs_for_model_package(settings, arn, work_dir=work_dir) == [outcome.run_id]


def test_version_without_a_run_finds_no_run(work_dir: Path) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{GROUP}/9"
    assert runs_for_model_package(TrackingSettings(), arn, work_dir=work_dir) == []


def test_linking_a_build_whose_run_was_not_logged_does_nothing(work_dir: Path) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{GROUP}/1"
    assert not link_model_package(TrackingSettings(), NOT_LOGGED, arn, work_dir=work_dir)
    assert not link_model_package(TrackingSettings(mode="off"), "abc", arn, work_dir=work_dir)


def test_linking_an_unknown_run_fails_or_warns_by_policy(
    work_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{GROUP}/1"
    with pytest.raises(TrackingError, match="cannot tag run 0000 at sqlite:///"):
        link_model_package(TrackingSettings(), "0000", arn, work_dir=work_dir)
    warn = TrackingSettings(on_failure="warn")
    assert not link_model_package(warn, "0000", arn, work_dir=work_dir)
    assert "MLflow run not linked" in caplog.text
