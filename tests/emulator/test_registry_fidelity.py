"""moto's registry, as `registry_fidelity.install()` leaves it (tests/conftest.py installs it):
UpdateModelPackage keeps what a call omits, and ModelLifeCycle and ModelCard are kept, as on
SageMaker. Most of these tests fail against moto's own handler (`pytest --noconftest`), which is
what makes the patch necessary.

The second half pins what `finmlops.emulator.aws.identity` records about callers (STS source
identity, SageMaker's CreatedBy/LastModifiedBy, ListPipelineExecutionSteps), and shows, inside
`identity.moto_alone()`, that moto's own handlers record none of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from finmlops.emulator.aws import identity

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


# --------------------------------------------------------------------------- identities


@dataclass
class Account:
    iam: Any
    alice: boto3.Session
    bob: boto3.Session
    approver_role: str


def _user(iam: Any, name: str) -> boto3.Session:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )


def _assume(session: boto3.Session, role: str, name: str, **extra: Any) -> boto3.Session:
    credentials = session.client("sts").assume_role(RoleArn=role, RoleSessionName=name, **extra)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="approver", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("sagemaker", region_name="us-east-1").create_model_package_group(
            ModelPackageGroupName=GROUP
        )
        yield Account(iam, _user(iam, "alice"), _user(iam, "bob"), role)
    identity.set_trust_evaluator(None)


def _iam_identity(described: dict[str, Any], field: str) -> dict[str, str]:
    found: dict[str, str] = described[field]["IamIdentity"]
    return found


def test_assume_role_keeps_the_source_identity_against_the_key_it_issues(account: Account) -> None:
    answer = account.alice.client("sts").assume_role(
        RoleArn=account.approver_role, RoleSessionName="bob", SourceIdentity="alice"
    )
    assert answer["SourceIdentity"] == "alice"
    session = _assume(account.alice, account.approver_role, "bob", SourceIdentity="alice")
    arn = _register(session.client("sagemaker"))
    created = _iam_identity(
        session.client("sagemaker").describe_model_package(ModelPackageName=arn), "CreatedBy"
    )
    assert created["Arn"].endswith(":assumed-role/approver/bob")
    assert created["SourceIdentity"] == "alice"


def test_a_chained_session_keeps_its_source_identity_and_cannot_change_it(
    account: Account,
) -> None:
    first = _assume(account.alice, account.approver_role, "alice", SourceIdentity="alice")
    with pytest.raises(ClientError) as error:
        _assume(first, account.approver_role, "bob", SourceIdentity="bob")
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    chained = _assume(first, account.approver_role, "bob")  # no value given: it is inherited
    arn = _register(chained.client("sagemaker"))
    described = chained.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert _iam_identity(described, "CreatedBy")["SourceIdentity"] == "alice"


@pytest.mark.parametrize("value", ["aws:alice", "alice smith", "alice/smith"])
def test_a_source_identity_aws_would_refuse_is_refused(account: Account, value: str) -> None:
    with pytest.raises(ClientError) as error:
        account.alice.client("sts").assume_role(
            RoleArn=account.approver_role, RoleSessionName="alice", SourceIdentity=value
        )
    assert error.value.response["Error"]["Code"] == "ValidationError"


def test_the_trust_evaluator_decides_with_the_session_name_and_source_identity(
    account: Account,
) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def same_person_only(caller: str, role: str, context: Any) -> bool:
        seen.append((caller, role, dict(context)))
        user = context.get("aws:username", "")
        return context.get("sts:RoleSessionName") == user == context.get("sts:SourceIdentity")

    identity.set_trust_evaluator(same_person_only)
    with pytest.raises(ClientError) as error:
        _assume(account.alice, account.approver_role, "bob", SourceIdentity="alice")
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    _assume(account.alice, account.approver_role, "alice", SourceIdentity="alice")
    caller, role, context = seen[0]
    assert caller.endswith(":user/alice") and role == account.approver_role
    assert context == {
        "sts:RoleSessionName": "bob",
        "sts:SourceIdentity": "alice",
        "aws:username": "alice",
    }


def test_created_by_and_last_modified_by_name_whoever_signed_the_request(
    account: Account,
) -> None:
    arn = _register(account.alice.client("sagemaker"))
    approver = _assume(account.bob, account.approver_role, "bob", SourceIdentity="bob")
    approver.client("sagemaker").update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved"
    )
    described = account.alice.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert _iam_identity(described, "CreatedBy")["Arn"].endswith(":user/alice")
    assert "SourceIdentity" not in _iam_identity(described, "CreatedBy")
    modified = _iam_identity(described, "LastModifiedBy")
    assert modified["Arn"].endswith(":assumed-role/approver/bob")
    assert modified["SourceIdentity"] == "bob"


def _pipeline(sm: Any) -> str:
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": []}
    sm.create_pipeline(
        PipelineName="build",
        PipelineDefinition=json.dumps(definition),
        RoleArn="arn:aws:iam::123456789012:role/build",
    )
    return "build"


def test_a_pipeline_execution_records_who_started_it(account: Account) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    name = _pipeline(sm)
    started = _assume(account.alice, account.approver_role, "alice", SourceIdentity="alice")
    arn = started.client("sagemaker").start_pipeline_execution(PipelineName=name)[
        "PipelineExecutionArn"
    ]
    created = _iam_identity(sm.describe_pipeline_execution(PipelineExecutionArn=arn), "CreatedBy")
    assert created["SourceIdentity"] == "alice"
    assert created["Arn"].endswith(":assumed-role/approver/alice")


def test_list_pipeline_execution_steps_returns_the_steps_recorded_for_the_execution(
    account: Account,
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    arn = sm.start_pipeline_execution(PipelineName=_pipeline(sm))["PipelineExecutionArn"]
    assert (
        sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"] == []
    )
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/credit-risk/1"
    assert identity.record_steps(
        arn,
        [
            {"StepName": "Gate-min-auc", "StepStatus": "Succeeded", "Metadata": {"Condition": {"Outcome": "True"}}},
            {"StepName": "RegisterModel", "StepStatus": "Succeeded", "Metadata": {"RegisterModel": {"Arn": package}}},
        ],
    )  # fmt: skip
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert {s["StepName"]: s["Metadata"] for s in steps}["RegisterModel"] == {
        "RegisterModel": {"Arn": package}
    }
    assert not identity.record_steps(arn.replace("/execution/", "/execution/x"), [])
    with pytest.raises(ClientError):
        sm.list_pipeline_execution_steps(PipelineExecutionArn=arn + "x")


def test_moto_alone_records_none_of_it(account: Account) -> None:
    """Why the patches exist: moto's own handlers drop the source identity, name a fixed fake
    Studio user as creator and modifier, and lack ListPipelineExecutionSteps."""
    sm = boto3.client("sagemaker", region_name="us-east-1")
    name = _pipeline(sm)
    with identity.moto_alone():
        answer = account.alice.client("sts").assume_role(
            RoleArn=account.approver_role, RoleSessionName="bob", SourceIdentity="alice"
        )
        arn = _register(account.alice.client("sagemaker"))
        account.bob.client("sagemaker").update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus="Approved"
        )
        described = sm.describe_model_package(ModelPackageName=arn)
        execution = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        started = sm.describe_pipeline_execution(PipelineExecutionArn=execution)
        # mock_aws raises moto's NotImplementedError; its server answers 500.
        with pytest.raises((ClientError, NotImplementedError)):
            sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)
    assert "SourceIdentity" not in answer
    for field in ("CreatedBy", "LastModifiedBy"):
        assert "IamIdentity" not in described[field]
        assert described[field]["UserProfileName"] == "fake-user-profile-name"
    assert "IamIdentity" not in started["CreatedBy"]
