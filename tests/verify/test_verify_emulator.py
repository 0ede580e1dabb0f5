"""`finmlops verify` against a deployment built in the embedded moto server from the synthesized
templates: everything passes, and each thing that breaks a seam is reported by its own check."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from finmlops.naming import names
from finmlops.registry.promotion import DeploymentHistory
from finmlops.verify.clients import Clients
from finmlops.verify.results import CheckResult, Status, exit_status
from finmlops.verify.run import verify


def run(deployment: Any, environment: str) -> dict[str, CheckResult]:
    clients = Clients(env_factory=deployment.aws.fresh_client)
    results = verify(environment, deployment.config, deployment.assemblies[environment], clients)
    return {r.seam: r for r in results}


def only_failure(results: dict[str, CheckResult]) -> CheckResult:
    failures = [r for r in results.values() if r.status is Status.FAIL]
    assert len(failures) == 1, [r.line for r in failures]
    return failures[0]


@pytest.mark.parametrize("environment", ["dev", "prod", "tooling"])
def test_a_deployment_of_the_synthesized_templates_passes_every_check(
    deployment: Any, environment: str
) -> None:
    results = run(deployment, environment)
    assert [r.line for r in results.values() if r.status is not Status.PASS] == []
    assert exit_status(list(results.values())) == 0
    expected = {
        "dev": {"registry group", "registry group policy", "model-build pipeline",
                "latest build", "MLflow tracking server", "MLflow VPC endpoint"},
        "prod": {"endpoint", "served version", "monitoring schedule", "drift baseline",
                 "drift alarm", "model-quality alarm"},
        "tooling": {"audit Object Lock", "audit versioning", "audit create-only policy",
                    "promotion pipeline", "approval handler"},
    }[environment]  # fmt: skip
    assert set(results) == expected


# --------------------------------------------------------------------------- dev


def test_a_missing_group_fails_the_group_check(build: Any, dev_vpc: tuple[str, Any]) -> None:
    # moto has no DeleteModelPackageGroup: the deployment is built without the group.
    vpc_id, config = dev_vpc
    built = build(config).dev(vpc_id=vpc_id, group_too=False)
    results = run(built, "dev")
    failure = only_failure(results)
    assert failure.seam == "registry group"
    assert "does not exist" in failure.detail and "cdk deploy" in failure.detail
    assert results["registry group policy"].status is Status.SKIP


def test_a_group_policy_that_differs_fails_naming_the_difference(deployment: Any) -> None:
    sm = deployment.client("sagemaker")
    group = deployment.config.model.package_group
    policy = json.loads(
        sm.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"]
    )
    policy["Statement"][0]["Action"].append("sagemaker:UpdateModelPackage")
    sm.put_model_package_group_policy(
        ModelPackageGroupName=group, ResourcePolicy=json.dumps(policy)
    )
    failure = only_failure(run(deployment, "dev"))
    assert failure.seam == "registry group policy"
    assert "extra sagemaker:updatemodelpackage" in failure.detail
    assert "ReadVersionsFromPromotionAccounts" in failure.detail


def test_the_same_policy_reordered_and_respelled_passes(deployment: Any) -> None:
    sm = deployment.client("sagemaker")
    group = deployment.config.model.package_group
    policy = json.loads(
        sm.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"]
    )
    statement = policy["Statement"][0]
    statement["Action"] = [a.upper() for a in reversed(statement["Action"])]
    statement["Principal"]["AWS"] = [
        p.split(":")[4] for p in reversed(statement["Principal"]["AWS"])
    ]
    statement.pop("Sid")
    policy["Statement"] = statement  # a single statement without a list
    sm.put_model_package_group_policy(
        ModelPackageGroupName=group, ResourcePolicy=json.dumps(policy)
    )
    assert run(deployment, "dev")["registry group policy"].status is Status.PASS


def test_a_drifted_pipeline_definition_fails_naming_the_path(deployment: Any) -> None:
    sm = deployment.client("sagemaker")
    name = "credit-risk-model-build"
    definition = json.loads(sm.describe_pipeline(PipelineName=name)["PipelineDefinition"])
    step = next(s for s in definition["Steps"] if s["Name"] == "Preprocess")
    step["Arguments"]["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] = 999
    sm.update_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition))
    failure = only_failure(run(deployment, "dev"))
    assert failure.seam == "model-build pipeline"
    assert "ClusterConfig.VolumeSizeInGB: 999 deployed" in failure.detail


def test_a_definition_with_two_values_for_one_slot_fails(deployment: Any) -> None:
    sm = deployment.client("sagemaker")
    name = "credit-risk-model-build"
    text = sm.describe_pipeline(PipelineName=name)["PipelineDefinition"]
    bucket = deployment.values["ArtifactBucket"]
    first = text.index(f"s3://{bucket}/")
    changed = text[:first] + text[first:].replace(
        f"s3://{bucket}/", "s3://someone-elses-bucket/", 1
    )
    sm.update_pipeline(PipelineName=name, PipelineDefinition=changed)
    failure = only_failure(run(deployment, "dev"))
    assert "${ArtifactBucket} is 'someone-elses-bucket' here" in failure.detail


def test_a_stopped_tracking_server_fails(deployment: Any) -> None:
    deployment.client("sagemaker").stop_mlflow_tracking_server(
        TrackingServerName="credit-risk-mlflow"
    )
    failure = only_failure(run(deployment, "dev"))
    assert failure.seam == "MLflow tracking server"
    assert "Stopped" in failure.detail and "start-mlflow-tracking-server" in failure.detail


def test_no_mlflow_endpoint_in_the_dev_vpc_fails(deployment: Any) -> None:
    ec2 = deployment.client("ec2")
    ids = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]]
    ec2.delete_vpc_endpoints(VpcEndpointIds=ids)
    failure = only_failure(run(deployment, "dev"))
    assert failure.seam == "MLflow VPC endpoint"
    assert "aws.sagemaker.us-east-1.experiments" in failure.detail


# --------------------------------------------------------------------------- stage, prod


def test_an_endpoint_serving_another_package_than_the_manifest_fails(
    deployment: Any,
) -> None:
    # A later deployment was recorded (version 2) but the endpoint still serves version 1, as
    # when CloudFormation rolled back after the history was written.
    assert deployment.manifest is not None
    arn = deployment.manifest.model_package_arn.rsplit("/", 1)[0] + "/2"
    later = replace(deployment.manifest, model_package_arn=arn, version=2)
    tooling = names(deployment.config, "tooling")
    DeploymentHistory(
        deployment.client("s3"), tooling.state_bucket, group=later.model_package_group
    ).append(later, "deploy", "ci")
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "served version"
    assert "credit-risk-xgb/1, not " in failure.detail and "of the manifest" in failure.detail
    assert "credit-risk-xgb/2" in failure.detail


def test_no_recorded_deployment_fails_the_served_version(deployment: Any) -> None:
    s3 = deployment.client("s3")
    bucket = names(deployment.config, "tooling").state_bucket
    for item in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "served version"
    assert "no deployment of prod is recorded" in failure.detail


def test_a_disabled_schedule_fails(deployment: Any) -> None:
    scheduler = deployment.client("scheduler")
    (schedule,) = scheduler.list_schedules()["Schedules"]
    full = scheduler.get_schedule(Name=schedule["Name"])
    scheduler.update_schedule(
        Name=full["Name"],
        ScheduleExpression=full["ScheduleExpression"],
        FlexibleTimeWindow=full["FlexibleTimeWindow"],
        Target=full["Target"],
        State="DISABLED",
    )
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "monitoring schedule"
    assert "DISABLED" in failure.detail and "--state ENABLED" in failure.detail


def test_a_missing_baseline_fails(deployment: Any) -> None:
    bucket, _, prefix = deployment.baseline.removeprefix("s3://").partition("/")
    deployment.client("s3").delete_object(Bucket=bucket, Key=f"{prefix}/statistics.json")
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "drift baseline"
    assert "lacks statistics.json" in failure.detail


def test_monitoring_that_reads_another_baseline_than_the_manifest_fails(
    deployment: Any,
) -> None:
    assert deployment.manifest is not None
    uri = "s3://credit-risk-artifacts/model-build/run-7/baseline"
    later = replace(deployment.manifest, drift_baseline_uri=uri)
    tooling = names(deployment.config, "tooling")
    DeploymentHistory(
        deployment.client("s3"), tooling.state_bucket, group=later.model_package_group
    ).append(later, "deploy", "ci")
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "drift baseline"
    assert "run-7/baseline" in failure.detail and deployment.baseline in failure.detail


@pytest.mark.parametrize(
    ("enabled", "topic", "expected"),
    [(False, True, "actions disabled"), (True, False, "no SNS alarm action")],
)
def test_an_alarm_that_cannot_notify_fails(
    deployment: Any, enabled: bool, topic: bool, expected: str
) -> None:
    n = names(deployment.config, "prod")
    (props,) = [
        a.properties
        for a in deployment.assemblies["prod"].resources("AWS::CloudWatch::Alarm", "Monitoring")
        if a.properties.get("AlarmName") == n.drift_alarm
    ]
    arn = "arn:aws:sns:us-east-1:123456789012:credit-risk-prod-alerts"
    deployment.put_alarm(props, arn if topic else None, enabled=enabled)
    failure = only_failure(run(deployment, "prod"))
    assert failure.seam == "drift alarm"
    assert expected in failure.detail


# --------------------------------------------------------------------------- tooling


def test_an_audit_bucket_without_object_lock_fails(build: Any) -> None:
    built = build().tooling(object_lock=False)
    failure = only_failure(run(built, "tooling"))
    assert failure.seam == "audit Object Lock"
    assert "has no Object Lock" in failure.detail


def test_an_audit_bucket_without_the_create_only_statement_fails(build: Any) -> None:
    built = build().tooling(create_only=False)
    failure = only_failure(run(built, "tooling"))
    assert failure.seam == "audit create-only policy"
    assert "s3:if-none-match" in failure.detail


def test_a_governance_mode_retention_fails(deployment: Any) -> None:
    bucket = names(deployment.config, "tooling").audit_bucket
    deployment.client("s3").put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )
    failure = only_failure(run(deployment, "tooling"))
    assert failure.seam == "audit Object Lock" and "GOVERNANCE" in failure.detail


def test_a_missing_approval_handler_fails(deployment: Any) -> None:
    lam = deployment.client("lambda")
    for function in lam.list_functions()["Functions"]:
        lam.delete_function(FunctionName=function["FunctionName"])
    failure = only_failure(run(deployment, "tooling"))
    assert failure.seam == "approval handler"
    assert "finmlops.registry.handler.handler" in failure.detail


def test_a_missing_promotion_pipeline_fails(deployment: Any) -> None:
    deployment.client("codepipeline").delete_pipeline(name="credit-risk-model-promotion")
    failure = only_failure(run(deployment, "tooling"))
    assert failure.seam == "promotion pipeline"
