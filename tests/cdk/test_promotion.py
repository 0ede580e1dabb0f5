"""Promotion (items 11-13): pipelines, the approval path, event delivery and the handler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from finmlops.config import Config


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


def test_platform_pipeline_builds_tests_deploys_dev_then_starts_one_build(platform: Any) -> None:
    pipeline = _pipelines(platform)["credit-risk-platform"]
    assert _stage_names(pipeline) == ["Source", "BuildAndTest", "DeployDev", "StartModelBuild"]
    # A build that fails to start does not roll the dev deployment back.
    assert pipeline["Stages"][2]["OnFailure"] == {"Result": "ROLLBACK"}
    assert "OnFailure" not in pipeline["Stages"][3]
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


def _trusts_only(role_name: str) -> dict[str, Any]:
    return {
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::444444444444:role/{role_name}"},
            }
        ],
        "Version": "2012-10-17",
    }


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_each_deployment_resolves_through_the_gate_synthesizes_deploys_then_records_history(
    platform: Any, env: str
) -> None:
    spec = _buildspec(platform, f"cdk deploy the {env} stage")
    # The gate reads dev's registry, executions and evidence as dev's evidence reader (ADR 0016).
    gate = spec.index(
        f'finmlops promote resolve \\"$MODEL_PACKAGE_ARN\\" --environment {env} '
        "--evidence-role-arn arn:aws:iam::111111111111:role/credit-risk-dev-evidence-reader "
    )
    synth = spec.index(
        f"finmlops_cdk.app --out cdk.out --environment {env} --manifest manifest.json"
    )
    # The environment's platform stacks and this model's own, never another model's.
    deploy = spec.index(
        f"cdk deploy --app cdk.out '{env}/Data' '{env}/Network' '{env}/credit-risk/*'"
    )
    # What the endpoint serves is read as the environment's own smoke-test role.
    account = {"stage": "222222222222", "prod": "333333333333"}[env]
    record = spec.index(
        "finmlops promote record --manifest manifest.json "
        f"--serving-role-arn arn:aws:iam::{account}:role/credit-risk-{env}-smoke-test "
        "--registry-role-arn arn:aws:iam::111111111111:role/credit-risk-dev-registry-lifecycle "
    )
    assert gate < synth < deploy < record
    assert "--no-lifecycle" not in spec


def test_dev_registry_lifecycle_role_trusts_the_promotions_and_operators_as_themselves(
    platform: Any,
) -> None:
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "credit-risk-dev-registry-lifecycle",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": [
                                "arn:aws:iam::444444444444:role/credit-risk-tooling-promote-prod",
                                "arn:aws:iam::444444444444:role/credit-risk-tooling-promote-stage",
                            ]
                        },
                    },
                    {
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                        "Condition": {"Null": {"sts:SourceIdentity": "false"}},
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": "arn:aws:iam::444444444444:role/credit-risk-tooling-operator"
                        },
                        "Sid": "OperatorsAsThemselves",
                    },
                ],
                "Version": "2012-10-17",
            },
        },
    )


def test_dev_evidence_reader_trusts_the_approval_handler_and_the_promotions_only(
    platform: Any,
) -> None:
    tooling = "arn:aws:iam::444444444444:role/credit-risk-tooling"
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "credit-risk-dev-evidence-reader",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": [
                                f"{tooling}-promote-prod",
                                f"{tooling}-promote-stage",
                                f"{tooling}-promotion-handler",
                            ]
                        },
                    }
                ],
                "Version": "2012-10-17",
            },
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


def test_rejections_are_only_recorded_and_pending_versions_reach_only_the_signoff_rule(
    platform: Any,
) -> None:
    """Pending versions' changes leave dev for one reason: a validator's sign-off is a lifecycle
    write on a pending version, which the handler binds (ADR 0030); no promotion rule takes them."""
    statuses = {}
    for env, _, _, rule in platform.resources("AWS::Events::Rule"):
        pattern = rule["Properties"]["EventPattern"]
        if pattern.get("source") == ["aws.sagemaker"]:
            statuses[(env, rule["Properties"]["Description"])] = pattern["detail"][
                "ModelApprovalStatus"
            ]
    assert sorted(statuses.values()) == [
        ["Approved"],
        ["Approved", "Rejected", "PendingManualApproval"],
        ["PendingManualApproval"],
        ["Rejected"],
    ]
    pending = [where for where, s in statuses.items() if "PendingManualApproval" in s]
    assert sorted(env for env, _ in pending) == ["dev", "tooling"]
    assert all("sign-off" in description for _, description in pending)


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


def test_tooling_bus_admits_only_the_named_forwarder_roles(platform: Any) -> None:
    """Dev's forwarder (approvals, sign-offs) and stage's and prod's revalidation forwarders
    (the tier's re-review alarms, ADR 0030); nobody else in those accounts."""
    policies = {
        r["Properties"]["StatementId"]: r["Properties"]["Statement"]
        for *_, r in platform.resources("AWS::Events::EventBusPolicy", "tooling")
    }
    assert set(policies) == {"ApprovalsFromDev", "RevalidationAlarmsFromServing"}
    approvals = policies["ApprovalsFromDev"]
    assert approvals["Action"] == "events:PutEvents"
    assert approvals["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert approvals["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": ["arn:aws:iam::111111111111:role/credit-risk-dev-event-forwarder"]
        }
    }
    alarms = policies["RevalidationAlarmsFromServing"]
    assert alarms["Principal"] == {
        "AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]
    }
    assert alarms["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [
                "arn:aws:iam::222222222222:role/credit-risk-stage-revalidation-forwarder",
                "arn:aws:iam::333333333333:role/credit-risk-prod-revalidation-forwarder",
            ]
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


def test_handler_sets_timeout_memory_concurrency_tracing_and_a_dlq(
    platform: Any, variant: Any
) -> None:
    from finmlops.contracts import Promotion

    expected = {
        "Handler": Promotion.HANDLER,
        "Timeout": 60,
        "MemorySize": 256,
        "TracingConfig": {"Mode": "Active"},
        "DeadLetterConfig": {"TargetArn": Match.any_value()},
        "KmsKeyArn": Match.any_value(),
    }
    platform.template("tooling", "ModelPromotion").has_resource_properties(
        "AWS::Lambda::Function", expected | {"ReservedConcurrentExecutions": Match.absent()}
    )
    variant.template("tooling", "ModelPromotion").has_resource_properties(
        "AWS::Lambda::Function", expected | {"ReservedConcurrentExecutions": 2}
    )


def test_every_lambda_sets_timeout_memory_and_either_concurrency_or_an_acknowledgment(
    platform: Any, variant: Any
) -> None:
    """Reserved concurrency is the config's choice (functions.reserved_concurrency), off by
    default: a new account's quota (10, all of which must stay unreserved) rejects any
    reservation. Without it, cdk-nag's finding is acknowledged on the function."""
    for synth, reserved in ((platform, None), (variant, 2)):
        for env, _, lid, function in synth.resources("AWS::Lambda::Function"):
            props = function["Properties"]
            assert props.get("Timeout"), (env, lid)
            assert props.get("MemorySize"), (env, lid)
            if "CDKBucketDeployment" not in lid:  # deploy-time custom resource (acknowledged)
                assert props.get("ReservedConcurrentExecutions") == reserved, (env, lid)
                assert props.get("TracingConfig") == {"Mode": "Active"}, (env, lid)


def test_unreserved_functions_acknowledge_the_concurrency_finding_with_a_reason() -> None:
    from finmlops_cdk.functions import UNRESERVED_REASON

    assert "functions.reserved_concurrency" in UNRESERVED_REASON
    assert "10" in UNRESERVED_REASON


def test_handler_gets_the_contract_environment(platform: Any, config: Any) -> None:
    from finmlops.contracts import Promotion, Validation
    from finmlops.gates import platform_gates
    from finmlops.naming import revalidation_alarms
    from finmlops.registry.gatecheck import (
        gates_from_json,
        gates_to_json,
        required_evidence_from_json,
    )

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
        Promotion.ENV_EVIDENCE_ROLE: "arn:aws:iam::111111111111:role/credit-risk-dev-evidence-reader",
        # The risk tier's sign-off and re-review alarms (ADR 0030).
        Validation.ENV_REQUIRE_SIGNOFF: "true",
        Validation.ENV_REVALIDATION_ALARMS: json.dumps(
            revalidation_alarms(config), sort_keys=True, separators=(",", ":")
        ),
        # The tier's validation depth: what approval requires, the handler requires too.
        Validation.ENV_REQUIRED_EVIDENCE: json.dumps(
            {"tier": "high", "required": list(config.governance.tier.required_evidence)},
            separators=(",", ":"),
        ),
    }
    assert required_evidence_from_json(variables[Validation.ENV_REQUIRED_EVIDENCE], "env") == (
        "high",
        config.governance.tier.required_evidence,
    )
    # What the handler reads back is the config's gates (ADR 0014).
    assert gates_from_json(variables[Promotion.ENV_GATES], "env") == platform_gates(config)


def test_a_rejected_version_that_serves_raises_an_alarm_per_environment_with_an_action(
    platform: Any, config: Config
) -> None:
    """CloudWatch matches a metric by its exact dimensions: each alarm names the ones the handler
    puts (finmlops.registry.handler), or it would never see a datapoint."""
    from finmlops.contracts import Promotion

    alarms = [
        r["Properties"]
        for *_, r in platform.resources("AWS::CloudWatch::Alarm", "tooling")
        if r["Properties"].get("MetricName") == Promotion.METRIC_REJECTED_SERVING
    ]
    environments = set()
    for props in alarms:
        assert props["Namespace"] == Promotion.METRIC_NAMESPACE
        assert (props["Threshold"], props["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        )
        assert props["AlarmActions"]
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dimensions[Promotion.METRIC_DIMENSION_GROUP] == config.model.package_group
        environments.add(dimensions[Promotion.METRIC_DIMENSION_ENVIRONMENT])
    assert environments == {"stage", "prod"}


def test_handler_may_start_only_the_promotion_pipeline_and_never_approve(platform: Any) -> None:
    template = platform.templates["tooling"]["ModelPromotion"]
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


def test_handler_can_do_what_the_registry_docs_say_and_cannot_approve(iam_platform: Any) -> None:
    """docs/registry.md: read the version, claim it (conditional create; release on failure),
    append audit records, read the history, start the promotion. It records no console approver
    on the version: the approver is read from what SageMaker recorded (LastModifiedBy) and bound
    in the audit trail."""
    tooling, dev = "444444444444", "111111111111"
    role = "credit-risk-tooling-promotion-handler"
    version = f"arn:aws:sagemaker:us-east-1:{dev}:model-package/credit-risk-xgb/4"
    state = f"arn:aws:s3:::credit-risk-promotion-{tooling}-us-east-1"
    audit = f"arn:aws:s3:::credit-risk-audit-{tooling}-us-east-1/audit/2026/x.json"
    for action, resource in (
        ("sagemaker:DescribeModelPackage", version),
        ("sts:AssumeRole", f"arn:aws:iam::{dev}:role/credit-risk-dev-evidence-reader"),
        ("s3:PutObject", f"{state}/promotions/claims/credit-risk-xgb/4/Approved.json"),
        ("s3:DeleteObject", f"{state}/promotions/claims/credit-risk-xgb/4/Approved.json"),
        ("s3:GetObject", f"{state}/deployments/prod/x.json"),
        ("s3:PutObject", audit),
        (
            "codepipeline:StartPipelineExecution",
            f"arn:aws:codepipeline:us-east-1:{tooling}:credit-risk-model-promotion",
        ),
    ):
        assert _can(iam_platform, role, action, resource, **CREATE_ONLY), (action, resource)
    for action, resource in (
        ("sagemaker:UpdateModelPackage", version),
        ("s3:PutObject", f"{state}/deployments/prod/x.json"),
        ("s3:DeleteObject", audit),
    ):
        assert not _can(iam_platform, role, action, resource), (action, resource)


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
    """Each environment's smoke-test role trusts the promotion of that environment only."""
    platform.template(env, "Endpoint").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": f"credit-risk-{env}-smoke-test",
            "AssumeRolePolicyDocument": _trusts_only(f"credit-risk-tooling-promote-{env}"),
        },
    )


def test_dev_build_starter_trusts_only_the_start_build_action(platform: Any) -> None:
    platform.template("dev", "ModelBuild").has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "credit-risk-dev-build-starter",
            "AssumeRolePolicyDocument": _trusts_only("credit-risk-tooling-start-build"),
        },
    )


def test_dev_deploy_runs_the_commits_code_and_starts_no_build(platform: Any) -> None:
    spec = _buildspec(platform, "cdk deploy of the dev stage")
    # Every dev stack: the platform's (dev/Data) and each model's (dev/<model>/ModelBuild).
    assert "cdk deploy --app cdk.out 'dev/*' 'dev/*/*'" in spec
    assert "buildrun" not in spec and "build-starter" not in spec


def test_dev_is_deployed_only_after_the_shipped_code_accepts_the_commits_portfolio(
    platform: Any,
) -> None:
    """A commit that drops a model still serving stops before synth (ADR 0035): the check is the
    shipped platform's code (a commit cannot change it), reading the commit's config as data."""
    commands = [
        c
        for phase in json.loads(_buildspec(platform, "cdk deploy of the dev stage"))[
            "phases"
        ].values()
        for c in phase.get("commands", [])
    ]
    text = "\n".join(commands)
    assert 'aws s3 cp "$PLATFORM_CODE"' in text
    (check,) = [c for c in commands if "promote check-portfolio" in c]
    assert check == (
        "$HOME/finmlops-venv/bin/finmlops promote check-portfolio "
        '--config "$CODEBUILD_SRC_DIR/config/platform.yaml"'
    )
    assert commands.index(check) < next(
        i for i, c in enumerate(commands) if "finmlops_cdk.app" in c
    )


def test_start_build_runs_the_shipped_platform_code_never_the_commits(platform: Any) -> None:
    """The action that may append audit records installs the platform the tooling stack
    shipped (a CDK asset) and reads the commit only as data: no install from the source
    directory, no npm, no buildspec of the commit."""
    spec = _buildspec(platform, "One build of the deployed commit per model")
    parsed = json.loads(spec)
    commands = [c for phase in parsed["phases"].values() for c in phase.get("commands", [])]
    text = "\n".join(commands)
    assert 'aws s3 cp "$PLATFORM_CODE"' in text
    assert text.index("pip install") < text.index("-m finmlops.buildrun start")
    (start,) = [c for c in commands if "-m finmlops.buildrun start" in c]  # one model here
    assert start.startswith("$HOME/finmlops-venv/bin/python -m finmlops.buildrun start")
    # Only the SageMaker call is made as dev's starter; the build-started audit record is the
    # action's own (ADR 0014), so no credentials of the starter are exported to the shell.
    assert (
        "--starter-role-arn arn:aws:iam::111111111111:role/credit-risk-dev-build-starter" in start
    )
    assert "--provenance-from-git" in start and '--repo "$CODEBUILD_SRC_DIR"' in start
    assert "AWS_ACCESS_KEY_ID" not in text
    for forbidden in (".venv/bin", "-e '.", "npm ", "buildspec", "finmlops_cdk.app"):
        assert forbidden not in text, forbidden
    (project,) = [
        p
        for *_, p in platform.resources("AWS::CodeBuild::Project", "tooling")
        if "One build of the deployed commit" in p["Properties"]["Description"]
    ]
    (variable,) = project["Properties"]["Environment"]["EnvironmentVariables"]
    assert variable["Name"] == "PLATFORM_CODE"
    assert "cdk-hnb659fds-assets-444444444444-us-east-1" in json.dumps(variable["Value"])


def test_start_build_starts_each_models_build_as_that_models_own_starter(config_path: Any) -> None:
    """The shipped portfolio: one start per model, in the config's order, each naming its model
    and assuming that model's dev build starter (a role scoped to its own pipeline)."""
    from finmlops_cdk.buildspecs import start_build_commands

    from finmlops.config import load_portfolio
    from finmlops.naming import names

    portfolio = load_portfolio(config_path)
    starts = start_build_commands([names(c, "dev") for c in portfolio.configs])
    assert [s.split("--model ")[1].split()[0] for s in starts] == list(portfolio.names)
    assert [s.split("--starter-role-arn ")[1] for s in starts] == [
        "arn:aws:iam::111111111111:role/credit-risk-dev-build-starter",
        "arn:aws:iam::111111111111:role/credit-risk-credit-scoring-dev-build-starter",
    ]


# --------------------------------------------------------------------------- insider: tooling

TOOLING = "444444444444"
ACCOUNTS = {"dev": "111111111111", "stage": "222222222222", "prod": "333333333333"}
AUDIT = f"arn:aws:s3:::credit-risk-audit-{TOOLING}-us-east-1/audit/2026/11/30/x-approve-1.json"
HISTORY = f"arn:aws:s3:::credit-risk-promotion-{TOOLING}-us-east-1/deployments/prod/x-deploy.json"
ARTIFACT = (
    f"arn:aws:s3:::credit-risk-pipeline-{TOOLING}-us-east-1/credit-risk-model-pr/Promotion/abc"
)


def _bootstrap(env: str, kind: str = "deploy") -> tuple[str, dict[str, str]]:
    account = ACCOUNTS[env]
    arn = f"arn:aws:iam::{account}:role/cdk-hnb659fds-{kind}-role-{account}-us-east-1"
    return arn, {"iam:ResourceTag/aws-cdk:bootstrap-role": kind}


# What the writers of the audit trail send: a conditional create (If-None-Match: *).
CREATE_ONLY = {"s3:if-none-match": "*"}


def _can(iam: Any, role_name: str, action: str, resource: str, **context: str) -> bool:
    """finmlops.iam's decision for a session of a tooling role (trust, resource and key policies
    of the assembly included; the bootstrap roles with the trust `cdk bootstrap --trust` gives)."""
    session = iam.role(role_name).session_arn("build")
    return bool(iam.decide(session, action, resource, context).allowed)


@pytest.mark.parametrize(
    ("purpose", "own"),
    [("deploy-dev", "dev"), ("promote-stage", "stage"), ("promote-prod", "prod")],
)
def test_each_deploy_role_reaches_the_bootstrap_roles_of_its_own_environment_only(
    iam_platform: Any, purpose: str, own: str
) -> None:
    """The role that runs the repository's code for one environment tries every other
    environment's deploy and publishing roles: denied. No single role can push a commit to
    prod."""
    role = f"credit-risk-tooling-{purpose}"
    for env in ACCOUNTS:
        for kind in ("deploy", "file-publishing", "image-publishing", "cfn-exec"):
            arn, tag = _bootstrap(env, kind)
            allowed = _can(iam_platform, role, "sts:AssumeRole", arn, **tag)
            assert allowed == (env == own and kind != "cfn-exec"), (purpose, env, kind)


def test_the_dev_deploy_role_cannot_touch_the_audit_trail_history_artifacts_or_dev_roles(
    iam_platform: Any,
) -> None:
    """DeployDev runs the commit's code (the CDK app): what that code could try with the role."""
    role = "credit-risk-tooling-deploy-dev"
    dev = ACCOUNTS["dev"]
    for action, resource in (
        ("s3:PutObject", AUDIT),
        ("s3:PutObject", HISTORY),
        ("s3:PutObject", ARTIFACT),  # replace the source another pipeline deploys
        ("sts:AssumeRole", f"arn:aws:iam::{dev}:role/credit-risk-dev-build-starter"),
        ("sts:AssumeRole", f"arn:aws:iam::{dev}:role/credit-risk-dev-registry-lifecycle"),
        ("sts:AssumeRole", "arn:aws:iam::222222222222:role/credit-risk-stage-smoke-test"),
        (
            "sagemaker:UpdateModelPackage",
            f"arn:aws:sagemaker:us-east-1:{dev}:model-package/credit-risk-xgb/1",
        ),
        (
            "codepipeline:StartPipelineExecution",
            f"arn:aws:codepipeline:us-east-1:{TOOLING}:credit-risk-model-promotion",
        ),
    ):
        assert not _can(iam_platform, role, action, resource, **CREATE_ONLY), (action, resource)
    assert _can(iam_platform, role, "s3:GetObject", ARTIFACT)  # it reads its source
    # ... and what serves where, for `promote check-portfolio`: read, never write.
    assert _can(iam_platform, role, "s3:GetObject", HISTORY)


def test_the_start_build_role_starts_builds_and_appends_audit_records_only(
    iam_platform: Any,
) -> None:
    role = "credit-risk-tooling-start-build"
    dev = ACCOUNTS["dev"]
    starter = f"arn:aws:iam::{dev}:role/credit-risk-dev-build-starter"
    assert _can(iam_platform, role, "sts:AssumeRole", starter)
    assert _can(iam_platform, role, "s3:PutObject", AUDIT, **CREATE_ONLY)
    for env in ACCOUNTS:
        arn, tag = _bootstrap(env)
        assert not _can(iam_platform, role, "sts:AssumeRole", arn, **tag), env
    for action, resource in (
        ("s3:DeleteObject", AUDIT),
        ("s3:PutObject", HISTORY),
        ("s3:PutObject", ARTIFACT),
        ("sts:AssumeRole", f"arn:aws:iam::{dev}:role/credit-risk-dev-registry-lifecycle"),
    ):
        assert not _can(iam_platform, role, action, resource, **CREATE_ONLY), (action, resource)


def test_build_and_test_only_reads_its_source(iam_platform: Any) -> None:
    (role,) = [
        r
        for r in iam_platform.roles.values()
        if r.environment == "tooling" and r.source.split(": ")[-1].startswith("BuildRole")
    ]
    assert _can(iam_platform, role.arn, "s3:GetObject", ARTIFACT)
    assert not _can(iam_platform, role.arn, "s3:PutObject", ARTIFACT)
    assert not _can(iam_platform, role.arn, "s3:PutObject", AUDIT, **CREATE_ONLY)
    arn, tag = _bootstrap("dev")
    assert not _can(iam_platform, role.arn, "sts:AssumeRole", arn, **tag)


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_a_promotion_records_its_deployment_and_reads_the_registry(
    iam_platform: Any, env: str
) -> None:
    """What `promote resolve` and `promote record` need: the registry (dev, through the group's
    policy), dev's evidence reader, the audit trail, the history, dev's registry-lifecycle role,
    and its own environment's smoke-test role (the smoke test, and record's check of what the
    endpoint serves). The residual risk: this role runs the main branch's reviewed code
    (docs/deploy.md)."""
    role = f"credit-risk-tooling-promote-{env}"
    dev = ACCOUNTS["dev"]
    version = f"arn:aws:sagemaker:us-east-1:{dev}:model-package/credit-risk-xgb/1"
    assert _can(iam_platform, role, "sagemaker:DescribeModelPackage", version)
    assert _can(iam_platform, role, "s3:PutObject", AUDIT, **CREATE_ONLY)
    assert _can(iam_platform, role, "s3:PutObject", HISTORY)
    lifecycle = f"arn:aws:iam::{dev}:role/credit-risk-dev-registry-lifecycle"
    assert _can(iam_platform, role, "sts:AssumeRole", lifecycle)
    reader = f"arn:aws:iam::{dev}:role/credit-risk-dev-evidence-reader"
    assert _can(iam_platform, role, "sts:AssumeRole", reader)
    for other in ("stage", "prod"):
        smoke = f"arn:aws:iam::{ACCOUNTS[other]}:role/credit-risk-{other}-smoke-test"
        assert _can(iam_platform, role, "sts:AssumeRole", smoke) == (other == env)
    assert not _can(iam_platform, role, "sagemaker:UpdateModelPackage", version)
    assert not _can(iam_platform, role, "s3:PutObject", ARTIFACT)


def test_operators_roll_back_through_the_pipeline_as_themselves(iam_platform: Any) -> None:
    role = "credit-risk-tooling-operator"
    pipeline = f"arn:aws:codepipeline:us-east-1:{TOOLING}:credit-risk-model-promotion"
    assert _can(iam_platform, role, "codepipeline:StartPipelineExecution", pipeline)
    assert _can(iam_platform, role, "s3:PutObject", HISTORY)
    assert _can(iam_platform, role, "s3:PutObject", AUDIT, **CREATE_ONLY)
    assert not _can(iam_platform, role, "s3:DeleteObject", AUDIT)
    for env in ACCOUNTS:
        arn, tag = _bootstrap(env)
        assert not _can(iam_platform, role, "sts:AssumeRole", arn, **tag), env
    # Rollback marks the version RolledBack through dev's registry-lifecycle role, chained with
    # the operator's own source identity; without one (automation) the trust refuses.
    lifecycle = iam_platform.role("credit-risk-dev-registry-lifecycle").arn
    operator = iam_platform.role(role).session_arn("carol")
    chained = iam_platform.can_assume(operator, lifecycle, {"aws:SourceIdentity": "carol"})
    assert chained.allowed, chained.reason
    assert not iam_platform.can_assume(operator, lifecycle).allowed


def test_dev_roles_trust_exactly_the_tooling_roles_meant_to_use_them(iam_platform: Any) -> None:
    """The other side of the split: dev's build starter admits the start-build action only, the
    registry-lifecycle role the promotions only (and operators as themselves), the evidence
    reader the promotions and the approval handler only."""
    starter = iam_platform.role("credit-risk-dev-build-starter").arn
    lifecycle = iam_platform.role("credit-risk-dev-registry-lifecycle").arn
    reader = iam_platform.role("credit-risk-dev-evidence-reader").arn
    for purpose in (
        "deploy-dev", "start-build", "promote-stage", "promote-prod", "promotion-handler",
        "operator",
    ):  # fmt: skip
        session = iam_platform.role(f"credit-risk-tooling-{purpose}").session_arn("build")
        assert iam_platform.can_assume(session, starter).allowed == (purpose == "start-build")
        assert iam_platform.can_assume(session, lifecycle).allowed == purpose.startswith("promote-")
        assert iam_platform.can_assume(session, reader).allowed == (
            purpose in {"promote-stage", "promote-prod", "promotion-handler"}
        ), purpose


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
