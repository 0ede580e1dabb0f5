"""moto's registry, as `registry_fidelity.install()` leaves it (tests/conftest.py installs it):
UpdateModelPackage keeps what a call omits, and ModelLifeCycle and ModelCard are kept, as on
SageMaker. Most of these tests fail against moto's own handler (`pytest --noconftest`), which is
what makes the patch necessary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

GROUP = "credit-risk"


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def _register(sm: Any, **extra: Any) -> str:
    arn: str = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"created-by": "alice", "risk-tier": "high"},
        InferenceSpecification={
            "Containers": [{"Image": "image:1", "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **extra,
    )["ModelPackageArn"]
    return arn


def test_a_lifecycle_only_update_keeps_status_description_and_metadata(sm: Any) -> None:
    arn = _register(sm)
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="meets policy",
        CustomerMetadataProperties={"approved-by": "bob"},
    )
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelLifeCycle={"Stage": "Staging", "StageStatus": "Deployed", "StageDescription": "d1"},
    )
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "meets policy"
    assert described["CustomerMetadataProperties"] == {
        "created-by": "alice",
        "risk-tier": "high",
        "approved-by": "bob",
    }
    assert described["ModelLifeCycle"] == {
        "Stage": "Staging",
        "StageStatus": "Deployed",
        "StageDescription": "d1",
    }


def test_metadata_merges_and_named_keys_are_removed(sm: Any) -> None:
    arn = _register(sm)
    sm.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"owner": "team"},
        CustomerMetadataPropertiesToRemove=["created-by"],
    )
    metadata = sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert metadata == {"risk-tier": "high", "owner": "team"}


def test_lifecycle_given_at_registration_is_kept_and_replaced_by_the_next_update(sm: Any) -> None:
    arn = _register(sm, ModelLifeCycle={"Stage": "Development", "StageStatus": "InProgress"})
    assert sm.describe_model_package(ModelPackageName=arn)["ModelLifeCycle"] == {
        "Stage": "Development",
        "StageStatus": "InProgress",
    }
    sm.update_model_package(
        ModelPackageArn=arn, ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed"}
    )
    assert sm.describe_model_package(ModelPackageName=arn)["ModelLifeCycle"]["Stage"] == (
        "Production"
    )


def test_an_update_replaces_the_inference_specification(sm: Any) -> None:
    arn = _register(sm)
    spec = {
        "Containers": [{"Image": "image:2", "ModelDataUrl": "s3://bucket/other.tar.gz"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=spec)
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["InferenceSpecification"]["Containers"][0]["Image"] == "image:2"
    assert described["ModelApprovalStatus"] == "PendingManualApproval"


def test_the_model_card_given_at_registration_is_kept_and_an_update_replaces_it(sm: Any) -> None:
    arn = _register(sm, ModelCard={"ModelCardContent": "{}", "ModelCardStatus": "PendingReview"})
    assert sm.describe_model_package(ModelPackageName=arn)["ModelCard"] == {
        "ModelCardContent": "{}",
        "ModelCardStatus": "PendingReview",
    }
    card = {"ModelCardContent": '{"model_overview": {}}', "ModelCardStatus": "Approved"}
    sm.update_model_package(ModelPackageArn=arn, ModelCard=card)
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelCard"] == card
    assert described["ModelApprovalStatus"] == "PendingManualApproval"


def test_a_version_without_lifecycle_describes_none(sm: Any) -> None:
    assert "ModelLifeCycle" not in sm.describe_model_package(ModelPackageName=_register(sm))


@pytest.mark.parametrize(
    "life_cycle",
    [
        {"Stage": "in staging", "StageStatus": "Deployed"},  # pattern
        {"Stage": "Staging", "StageStatus": "Deployed", "StageDescription": "x" * 1025},
    ],
)
def test_an_invalid_lifecycle_is_refused_and_changes_nothing(
    sm: Any, life_cycle: dict[str, str]
) -> None:
    arn = _register(sm)
    with pytest.raises(ClientError) as error:
        sm.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus="Approved", ModelLifeCycle=life_cycle
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert "ModelLifeCycle" not in described


def test_an_unknown_version_is_not_found(sm: Any) -> None:
    arn = _register(sm).replace("/1", "/9")
    with pytest.raises(ClientError) as error:
        sm.update_model_package(
            ModelPackageArn=arn, ModelLifeCycle={"Stage": "Staging", "StageStatus": "Deployed"}
        )
    assert "not found" in error.value.response["Error"]["Message"]
