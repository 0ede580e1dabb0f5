"""Model build in dev: the embedded pipeline definition, shipped step code, retraining triggers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match


def _pipeline(synth: Any) -> dict[str, Any]:
    (pipeline,) = [
        r
        for *_, r in synth.resources("AWS::SageMaker::Pipeline", "dev")
        if r["Properties"]["PipelineName"] == "credit-risk-model-build"
    ]
    return pipeline


def test_definition_is_embedded_with_every_placeholder_filled_by_fn_sub(
    platform: Any, definition: Any
) -> None:
    from finmlops.contracts import Placeholder

    pipeline = _pipeline(platform)
    body, variables = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"][
        "Fn::Sub"
    ]
    assert body == definition.body  # the lead's JSON, untouched
    used = {name for name in re.findall(r"\$\{([^}!]+)\}", body) if not name.startswith("AWS::")}
    assert set(variables) == used
    assert set(Placeholder.names()) <= used
    assert variables[Placeholder.MODEL_PACKAGE_GROUP] == "credit-risk-xgb"
    # Tokens go to CloudFormation, never into the definition text itself.
    assert "${Token[" not in body


def test_pipeline_runs_as_the_guarded_build_role(platform: Any) -> None:
    pipeline = _pipeline(platform)
    role_ref = pipeline["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = platform.templates["dev"]["ModelBuild"]["Resources"][role_ref]
    assert role["Properties"]["RoleName"] == "credit-risk-dev-sagemaker-build"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }


def test_step_code_is_shipped_to_the_keys_the_definition_references(
    platform: Any, definition: Any
) -> None:
    template = platform.templates["dev"]["ModelBuild"]
    (deployment,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "Custom::CDKBucketDeployment"
    ]
    assert deployment["Prune"] is False and deployment["RetainOnDelete"] is True
    assert deployment["SystemMetadata"]["sse"] == "aws:kms"
    assert "ArtifactsBucket" in json.dumps(deployment["DestinationBucketName"])
    (key,) = deployment["SourceObjectKeys"]
    staged = platform.outdir / f"asset.{key.removesuffix('.zip')}"
    for s3_key, local in definition.code_files.items():
        assert f"s3://${{ArtifactBucket}}/{s3_key}" in definition.body or s3_key.startswith("data/")
        assert (staged / s3_key).read_bytes() == local.read_bytes(), s3_key


def test_pipeline_is_created_only_after_its_code_is_in_place(platform: Any) -> None:
    pipeline = _pipeline(platform)
    template = platform.templates["dev"]["ModelBuild"]
    kinds = {template["Resources"][d]["Type"] for d in pipeline["DependsOn"]}
    assert "Custom::CDKBucketDeployment" in kinds


def test_code_shipping_uses_its_own_narrow_role(platform: Any) -> None:
    template = platform.templates["dev"]["ModelBuild"]
    (function,) = [
        r for lid, r in template["Resources"].items() if lid.startswith("CustomCDKBucketDeployment")
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    resources = json.dumps([s["Resource"] for s in statements])
    assert "cdk-hnb659fds-assets-111111111111-us-east-1/*" in resources
    assert "credit-risk-artifacts-111111111111-us-east-1" in resources
    assert "s3:DeleteObject" not in json.dumps(statements)


def test_build_role_registers_pending_versions_but_passes_itself_only_to_sagemaker(
    platform: Any,
) -> None:
    template = platform.templates["dev"]["ModelBuild"]
    statements = {
        s.get("Sid"): s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    }
    register = statements["RegisterPendingVersions"]
    assert register["Action"] == "sagemaker:CreateModelPackage"
    assert register["Condition"] == {
        "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    }
    assert statements["DenyRegisteringAnyOtherStatus"]["Condition"] == {
        "StringNotEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    }
    assert statements["PassRoleToOwnJobs"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_the_register_step_sends_the_pending_status_the_build_role_is_limited_to(
    platform: Any,
) -> None:
    """The build role may register only with ModelApprovalStatus=PendingManualApproval in the
    request (an omitted status is denied): the synthesized definition's RegisterModel step
    sends exactly that, so the guardrail never refuses our own build."""
    body = json.loads(
        _pipeline(platform)["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"][
            "Fn::Sub"
        ][0]
    )
    registers = [s for s in _steps(body["Steps"]) if s["Type"] == "RegisterModel"]
    assert registers
    for step in registers:
        assert step["Arguments"]["ModelApprovalStatus"] == "PendingManualApproval"
        metadata = step["Arguments"].get("CustomerMetadataProperties", {})
        assert not {"approved-by", "approved-at", "approval-reason"} & set(metadata)
        assert "ModelLifeCycle" not in step["Arguments"]


def test_substitution_refuses_a_placeholder_the_stack_cannot_fill() -> None:
    from finmlops_cdk.model_build import substitute

    with pytest.raises(ValueError, match="NewThing"):
        substitute('{"a": "${NewThing}", "b": "${AWS::Region}"}', {"ArtifactBucket": "b"})


def test_retraining_schedule_starts_the_build_pipeline_with_retries_and_dlq(variant: Any) -> None:
    variant.template("dev", "ModelBuild").has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "cron(0 3 ? * MON *)",
            "KmsKeyArn": Match.any_value(),
            "Target": Match.object_like(
                {
                    "Arn": Match.string_like_regexp(r":pipeline/credit-risk-model-build$"),
                    "RetryPolicy": Match.any_value(),
                    "DeadLetterConfig": {"Arn": Match.any_value()},
                }
            ),
        },
    )


def test_no_retraining_schedule_unless_asked(platform: Any) -> None:
    assert list(platform.resources("AWS::Scheduler::Schedule", "dev")) == []


def test_drift_alarms_from_stage_and_prod_start_retraining_in_dev(variant: Any) -> None:
    template = variant.template("dev", "ModelBuild")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "account": ["222222222222", "333333333333"],
                "detail": {
                    "alarmName": ["credit-risk-stage-data-drift", "credit-risk-prod-data-drift"],
                    "state": {"value": ["ALARM"]},
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": Match.string_like_regexp(r":pipeline/credit-risk-model-build$"),
                        "RetryPolicy": Match.any_value(),
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                        "SageMakerPipelineParameters": Match.any_value(),
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Events::EventBusPolicy",
        {
            "Statement": Match.object_like(
                {
                    "Condition": {
                        "ArnEquals": {
                            "aws:PrincipalArn": [
                                "arn:aws:iam::222222222222:role/credit-risk-stage-event-forwarder",
                                "arn:aws:iam::333333333333:role/credit-risk-prod-event-forwarder",
                            ]
                        }
                    }
                }
            )
        },
    )


def test_build_pipeline_uses_the_monitoring_image_asset_for_baselines(platform: Any) -> None:
    pipeline = _pipeline(platform)
    variables = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"][1]
    image = json.dumps(variables["ProjectImageUri"])
    assert "container-assets" in image


def test_managed_mlflow_server_receives_the_track_steps_runs(platform: Any) -> None:
    """One server for the platform, in dev's data stack; each model's build logs to it (its
    pipeline and its role name the server by the data stack's export)."""
    from finmlops.contracts import Placeholder

    template = platform.template("dev", "Data")
    template.has_resource_properties(
        "AWS::SageMaker::MlflowTrackingServer",
        {
            "TrackingServerName": "credit-risk-mlflow",
            "ArtifactStoreUri": "s3://credit-risk-artifacts-111111111111-us-east-1/mlflow",
            "AutomaticModelRegistration": False,
        },
    )
    pipeline = _pipeline(platform)
    variables = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"][1]
    server = variables[Placeholder.MLFLOW_TRACKING_URI]["Fn::GetStackOutput"]
    assert server["StackName"] == "credit-risk-dev-data"
    value = platform.templates["dev"]["Data"]["Outputs"][server["OutputName"]]["Value"]
    assert value["Fn::GetAtt"][1] == "TrackingServerArn"
    statements = {
        s.get("Sid"): s
        for *_, r in platform.resources("AWS::IAM::ManagedPolicy", "dev")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["LogRuns"]["Resource"] == {"Fn::GetStackOutput": server}
    assert all(a.startswith("sagemaker-mlflow:") for a in statements["LogRuns"]["Action"])


def test_tracking_server_lives_in_dev_only_with_a_kms_encrypted_artifact_store(
    platform: Any,
) -> None:
    for env in ("tooling", "stage", "prod"):
        assert list(platform.resources("AWS::SageMaker::MlflowTrackingServer", env)) == []
    ((*_, server),) = list(platform.resources("AWS::SageMaker::MlflowTrackingServer", "dev"))
    role = server["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for *_, policy in platform.resources("AWS::IAM::ManagedPolicy", "dev")
        if {"Ref": role} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    kms = [s for s in statements if any(str(a).startswith("kms:") for a in s["Action"])]
    assert kms and {"kms:Decrypt", "kms:GenerateDataKey"} <= set(kms[0]["Action"])
    s3_actions = {a for s in statements for a in s["Action"] if str(a).startswith("s3:")}
    assert {"s3:GetObject", "s3:PutObject"} <= s3_actions


def test_no_tracking_server_without_sagemaker_tracking(variant: Any) -> None:
    assert list(variant.resources("AWS::SageMaker::MlflowTrackingServer")) == []


def _steps(steps: list[dict[str, Any]]) -> Any:
    for step in steps:
        yield step
        for branch in ("IfSteps", "ElseSteps"):
            yield from _steps(step.get("Arguments", {}).get(branch, []))


def test_every_build_job_runs_in_the_vpc_encrypted_and_training_isolated(
    platform: Any, config: Any
) -> None:
    body = _pipeline(platform)["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"][
        "Fn::Sub"
    ][0]
    subnets = list(config.environments.dev.vpc.subnet_ids)
    vpc = {"SecurityGroupIds": ["${JobSecurityGroupId}"], "Subnets": subnets}
    jobs = 0
    for step in _steps(json.loads(body)["Steps"]):
        job = step.get("Arguments", {})
        if step["Type"] == "Processing":
            assert job["NetworkConfig"]["VpcConfig"] == vpc, step["Name"]
            assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
            assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
            assert job["ProcessingOutputConfig"]["KmsKeyId"] == "${KmsKeyArn}"
            jobs += 1
        elif step["Type"] == "Training":
            assert job["VpcConfig"] == vpc
            assert job["EnableNetworkIsolation"] is True
            assert job["EnableInterContainerTrafficEncryption"] is True
            assert job["ResourceConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
            assert job["OutputDataConfig"]["KmsKeyId"] == "${KmsKeyArn}"
            jobs += 1
    assert jobs >= 4
