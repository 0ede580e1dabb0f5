"""Promotion (items 11-13): pipelines, the approval path, event delivery and the handler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match


def _pipelines(synth: Any) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["Name"]: r["Properties"]
        for *_, r in synth.resources("AWS::CodePipeline::Pipeline", "tooling")
    }


def _stage_names(pipeline: dict[str, Any]) -> list[str]:
    return [stage["Name"] for stage in pipeline["Stages"]]


def test_both_pipelines_are_codepipeline_v2(platform: Any) -> None:
    pipelines = _pipelines(platform)
    assert set(pipelines) == {"credit-risk-platform", "credit-risk-model-promotion"}
    for pipeline in pipelines.values():
        assert pipeline["PipelineType"] == "V2"


def test_platform_pipeline_builds_tests_then_deploys_dev(platform: Any) -> None:
    pipeline = _pipelines(platform)["credit-risk-platform"]
    assert _stage_names(pipeline) == ["Source", "BuildAndTest", "DeployDev"]
    (source,) = pipeline["Stages"][0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "S3"
    assert source["Configuration"]["S3ObjectKey"] == "source/finmlops.zip"


def test_build_runs_the_repository_buildspec(platform: Any) -> None:
    platform.template("tooling", "Promotion").has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": "buildspec.yml"},
            "EncryptionKey": Match.any_value(),
        },
    )


def test_manual_approval_comes_after_the_stage_smoke_test_and_before_prod(platform: Any) -> None:
    pipeline = _pipelines(platform)["credit-risk-model-promotion"]
    assert _stage_names(pipeline) == ["Source", "DeployStage", "ApproveProd", "DeployProd"]
    deploy_stage, approve, deploy_prod = pipeline["Stages"][1:]
    assert [(a["Name"], a["RunOrder"]) for a in deploy_stage["Actions"]] == [
        ("ResolveAndDeployStage", 1),
        ("SmokeTest", 2),
    ]
    (approval,) = approve["Actions"]
    assert approval["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert approval["Configuration"]["NotificationArn"]
    (prod,) = deploy_prod["Actions"]
    assert prod["Name"] == "ResolveAndDeployProd"


def test_prod_deployment_fails_safe_by_rolling_back(platform: Any) -> None:
    pipeline = _pipelines(platform)["credit-risk-model-promotion"]
    assert pipeline["Stages"][-1]["OnFailure"] == {"Result": "ROLLBACK"}


def test_promotions_queue_rather_than_supersede_each_other(platform: Any) -> None:
    assert _pipelines(platform)["credit-risk-model-promotion"]["ExecutionMode"] == "QUEUED"


def test_the_approved_version_travels_as_a_pipeline_variable(platform: Any) -> None:
    from finmlops.contracts import Promotion

    pipeline = _pipelines(platform)["credit-risk-model-promotion"]
    names = [v["Name"] for v in pipeline["Variables"]]
    assert names == [Promotion.ARN_VARIABLE, Promotion.ENVIRONMENT_VARIABLE]
    for stage in pipeline["Stages"][1:]:
        for action in stage["Actions"]:
            if action["ActionTypeId"]["Provider"] != "CodeBuild":
                continue
            variables = json.loads(action["Configuration"]["EnvironmentVariables"])
            assert {"name": "MODEL_PACKAGE_ARN", "type": "PLAINTEXT",
                    "value": f"#{{variables.{Promotion.ARN_VARIABLE}}}"} in variables  # fmt: skip


def _buildspec(synth: Any, description_part: str) -> str:
    for *_, project in synth.resources("AWS::CodeBuild::Project", "tooling"):
        if description_part in project["Properties"]["Description"]:
            return str(project["Properties"]["Source"]["BuildSpec"])
    raise AssertionError(description_part)


TRUSTS_ONLY_THE_PROMOTION_BUILD = {
    "Statement": [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::444444444444:role/credit-risk-tooling-promotion-build"
            },
        }
    ],
    "Version": "2012-10-17",
}


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_each_deployment_resolves_through_the_gate_synthesizes_deploys_then_records_history(
    platform: Any, env: str
) -> None:
    spec = _buildspec(platform, f"cdk deploy the {env} stage")
    gate = spec.index(f'finmlops promote resolve \\"$MODEL_PACKAGE_ARN\\" --environment {env}')
    synth = spec.index(
        f"finmlops_cdk.app --out cdk.out --environment {env} --manifest manifest.json"
    )
    deploy = spec.index(f"cdk deploy --app cdk.out '{env}/*'")
    record = spec.index(
        "finmlops promote record --manifest manifest.json --registry-role-arn "
        "arn:aws:iam::111111111111:role/credit-risk-dev-registry-lifecycle "
    )
    assert gate < synth < deploy < record
    assert "--no-lifecycle" not in spec


def test_the_promotion_build_may_assume_dev_registry_lifecycle_role_which_trusts_only_it(
    platform: Any,
) -> None:
    template = platform.templates["tooling"]["Promotion"]
    (statement,) = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AssumeBuildStarterLifecycleAndSmokeTestRoles"
    ]
    assert (
        "arn:aws:iam::111111111111:role/credit-risk-dev-registry-lifecycle"
        in (statement["Resource"])
    )
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "credit-risk-dev-registry-lifecycle",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": TRUSTS_ONLY_THE_PROMOTION_BUILD,
        },
    )


def test_smoke_test_checks_status_served_version_a_scored_request_and_rollback_alarms(
    platform: Any, config: Any
) -> None:
    spec = _buildspec(platform, "Stage endpoint")
    assert "arn:aws:iam::222222222222:role/credit-risk-stage-smoke-test" in spec
    assert "wait endpoint-in-service --endpoint-name credit-risk-stage" in spec
    assert '\\"$served\\" = \\"$MODEL_PACKAGE_ARN\\"' in spec
    width = len(config.model.features)
    assert f"printf '%s' '{','.join(['0'] * width)}' > smoke.csv" in spec
    invoke = spec.index("sagemaker-runtime invoke-endpoint --endpoint-name credit-risk-stage")
    assert invoke < spec.index("0 <= s[0] <= 1")
    assert "credit-risk-stage-rollback-errors5xx" in spec


def test_a_connection_source_replaces_the_s3_object(variant: Any) -> None:
    pipelines = _pipelines(variant)
    (source,) = pipelines["credit-risk-platform"]["Stages"][0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == "bank/finmlops"
    assert source["Configuration"]["BranchName"] == "release"
    (promotion_source,) = pipelines["credit-risk-model-promotion"]["Stages"][0]["Actions"]
    assert promotion_source["Configuration"]["DetectChanges"] is False
    assert not [b for *_, b in variant.resources("AWS::S3::Bucket") if "source" in json.dumps(b)]


# --------------------------------------------------------------------------- the approval path


def test_promotion_rule_matches_only_approved_versions_of_our_group(
    platform: Any, config: Any
) -> None:
    rules = [
        r["Properties"]
        for *_, r in platform.resources("AWS::Events::Rule", "tooling")
        if "promotion" in r["Properties"]["Description"]
    ]
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "account": [config.environments.dev.account],
        "detail": {
            "ModelPackageGroupName": [config.model.package_group],
            "ModelApprovalStatus": ["Approved"],
        },
    }


def test_rejections_are_only_recorded_and_pending_versions_never_leave_dev(platform: Any) -> None:
    statuses = {}
    for env, _, _, rule in platform.resources("AWS::Events::Rule"):
        pattern = rule["Properties"]["EventPattern"]
        if pattern.get("source") == ["aws.sagemaker"]:
            statuses[(env, rule["Properties"]["Description"])] = pattern["detail"][
                "ModelApprovalStatus"
            ]
    assert sorted(statuses.values()) == [["Approved"], ["Approved", "Rejected"], ["Rejected"]]
    assert all("PendingManualApproval" not in s for s in statuses.values())


def test_dev_forwards_decisions_to_the_tooling_bus_with_a_named_role(platform: Any) -> None:
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::Events::Rule",
        {
            "Targets": [
                Match.object_like(
                    {
                        "Arn": "arn:aws:events:us-east-1:444444444444:event-bus/default",
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                        "RoleArn": Match.any_value(),
                    }
                )
            ]
        },
    )
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role", {"RoleName": "credit-risk-dev-event-forwarder"}
    )


def test_tooling_bus_admits_only_the_dev_forwarder_role(platform: Any) -> None:
    (policy,) = [
        r["Properties"] for *_, r in platform.resources("AWS::Events::EventBusPolicy", "tooling")
    ]
    statement = policy["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": ["arn:aws:iam::111111111111:role/credit-risk-dev-event-forwarder"]
        }
    }


def test_every_rule_target_has_a_dead_letter_queue_and_retries_where_eventbridge_allows(
    platform: Any, variant: Any
) -> None:
    targets = 0
    for synth in (platform, variant):
        for env, _, lid, rule in synth.resources("AWS::Events::Rule"):
            for target in rule["Properties"]["Targets"]:
                targets += 1
                assert target["DeadLetterConfig"]["Arn"], (env, lid)
                bus_target = ":event-bus/" in json.dumps(target["Arn"])
                if not bus_target:  # EventBridge has no retry policy for event-bus targets
                    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, (env, lid)
                    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0, (env, lid)
    assert targets >= 6


def test_every_dead_letter_queue_has_an_alarm_with_an_action(platform: Any, variant: Any) -> None:
    for synth in (platform, variant):
        for env, stacks in synth.templates.items():
            for component, template in stacks.items():
                queues = {
                    lid
                    for lid, r in template["Resources"].items()
                    if r["Type"] == "AWS::SQS::Queue"
                }
                watched = set()
                for resource in template["Resources"].values():
                    if resource["Type"] != "AWS::CloudWatch::Alarm":
                        continue
                    props = resource["Properties"]
                    if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
                        assert props["AlarmActions"]
                        assert props["Threshold"] == 0
                        (dimension,) = props["Dimensions"]
                        watched.add(dimension["Value"]["Fn::GetAtt"][0])
                assert queues == watched, (env, component)


def test_dead_letter_queues_are_encrypted_and_tls_only(platform: Any) -> None:
    for env, _, lid, queue in platform.resources("AWS::SQS::Queue"):
        assert queue["Properties"]["KmsMasterKeyId"], (env, lid)
    for env, _, lid, policy in platform.resources("AWS::SQS::QueuePolicy"):
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
            for s in statements
        ), (env, lid)


def test_handler_sets_timeout_memory_concurrency_tracing_and_a_dlq(platform: Any) -> None:
    from finmlops.contracts import Promotion

    platform.template("tooling", "Promotion").has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": Promotion.HANDLER,
            "Timeout": 60,
            "MemorySize": 256,
            "ReservedConcurrentExecutions": 2,
            "TracingConfig": {"Mode": "Active"},
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
            "KmsKeyArn": Match.any_value(),
        },
    )


def test_every_lambda_sets_timeout_memory_and_either_concurrency_or_an_acknowledgment(
    platform: Any,
) -> None:
    for env, _, lid, function in platform.resources("AWS::Lambda::Function"):
        props = function["Properties"]
        assert props.get("Timeout"), (env, lid)
        assert props.get("MemorySize"), (env, lid)
        if "CDKBucketDeployment" not in lid:  # deploy-time custom resource (acknowledged)
            assert props.get("ReservedConcurrentExecutions"), (env, lid)
            assert props.get("TracingConfig") == {"Mode": "Active"}, (env, lid)


def test_handler_gets_the_contract_environment(platform: Any, config: Any) -> None:
    from finmlops.contracts import Promotion
    from finmlops.gates import platform_gates
    from finmlops.registry.gatecheck import gates_from_json, gates_to_json

    (function,) = [
        r
        for *_, r in platform.resources("AWS::Lambda::Function", "tooling")
        if r["Properties"].get("Handler") == Promotion.HANDLER
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    tooling = config.environments.tooling
    assert variables == {
        Promotion.ENV_GROUPS: config.model.package_group,
        Promotion.ENV_PIPELINE: "credit-risk-model-promotion",
        Promotion.ENV_AUDIT_BUCKET: Promotion.audit_bucket_name(
            config.project, tooling.account, tooling.region
        ),
        Promotion.ENV_STATE_BUCKET: Promotion.state_bucket_name(
            config.project, tooling.account, tooling.region
        ),
        Promotion.ENV_AUDIT_RETENTION_DAYS: "2557",
        Promotion.ENV_REQUIRE_DRIFT_BASELINES: "true",
        Promotion.ENV_GATES: gates_to_json(platform_gates(config)),
    }
    # What the handler reads back is the config's gates (ADR 0014).
    assert gates_from_json(variables[Promotion.ENV_GATES], "env") == platform_gates(config)


def test_a_rejected_version_that_serves_raises_an_alarm_with_an_action(platform: Any) -> None:
    from finmlops.contracts import Promotion

    (alarm,) = [
        r
        for *_, r in platform.resources("AWS::CloudWatch::Alarm", "tooling")
        if r["Properties"].get("MetricName") == Promotion.METRIC_REJECTED_SERVING
    ]
    props = alarm["Properties"]
    assert props["Namespace"] == Promotion.METRIC_NAMESPACE
    assert (props["Threshold"], props["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert props["AlarmActions"]


def test_handler_may_start_only_the_promotion_pipeline_and_never_approve(platform: Any) -> None:
    template = platform.templates["tooling"]["Promotion"]
    (role_id,) = [
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
        and r["Properties"].get("RoleName") == "credit-risk-tooling-promotion-handler"
    ]
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["StartPromotion"]["Action"] == "codepipeline:StartPipelineExecution"
    assert "credit-risk-model-promotion" in json.dumps(by_sid["StartPromotion"]["Resource"])
    actions = {
        a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert "sagemaker:UpdateModelPackage" not in actions


def test_handler_code_ships_the_package_without_the_dataset(platform: Any) -> None:
    folders = [
        p
        for p in platform.outdir.glob("asset.*")
        if (p / "finmlops" / "registry" / "handler.py").is_file()
    ]
    assert folders, "the Lambda bundle contains finmlops/registry/handler.py"
    for folder in folders:
        assert not (folder / "finmlops" / "data" / "lending_club.csv").exists()


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_smoke_test_role_trusts_only_the_promotion_build_role(platform: Any, env: str) -> None:
    platform.template(env, "Endpoint").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": f"credit-risk-{env}-smoke-test",
            "AssumeRolePolicyDocument": TRUSTS_ONLY_THE_PROMOTION_BUILD,
        },
    )


def test_deploy_role_assumes_only_bootstrap_roles_of_the_three_accounts(platform: Any) -> None:
    template = platform.templates["tooling"]["Promotion"]
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AssumeBootstrapRoles"
    ]
    (statement,) = statements
    assert statement["Resource"] == [
        f"arn:aws:iam::{a}:role/cdk-*-role-{a}-us-east-1"
        for a in ("111111111111", "222222222222", "333333333333")
    ]
    assert statement["Condition"]["StringEquals"]["iam:ResourceTag/aws-cdk:bootstrap-role"]


def test_dev_deploy_then_starts_one_build_of_the_commit_as_the_dev_build_starter(
    platform: Any,
) -> None:
    spec = _buildspec(platform, "cdk deploy of the dev stage")
    deploy = spec.index("cdk deploy --app cdk.out 'dev/*'")
    assume = spec.index("arn:aws:iam::111111111111:role/credit-risk-dev-build-starter")
    start = spec.index("finmlops.buildrun start")
    assert deploy < assume < start
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "credit-risk-dev-build-starter",
            "AssumeRolePolicyDocument": Match.object_like(
                {
                    "Statement": [
                        Match.object_like(
                            {
                                "Principal": {
                                    "AWS": "arn:aws:iam::444444444444:role/"
                                    "credit-risk-tooling-promotion-build"
                                }
                            }
                        )
                    ]
                }
            ),
        },
    )


def test_builds_install_the_pinned_cli_from_the_lockfile(platform: Any) -> None:
    spec = _buildspec(platform, "cdk deploy the prod stage")
    assert "npm ci" in spec


LAMBDA_RUNTIME_LACKS = ("pydantic", "yaml", "numpy", "pandas", "scipy", "sklearn", "xgboost")

_IMPORT_WITH_RUNTIME_LIBRARIES_ONLY = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {LAMBDA_RUNTIME_LACKS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the Lambda runtime)")
        return None
sys.meta_path.insert(0, Block())
import finmlops.registry.handler as h
print(h.handler.__name__)
"""


def test_handler_imports_with_only_what_the_lambda_runtime_provides() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITH_RUNTIME_LIBRARIES_ONLY],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-800:]
