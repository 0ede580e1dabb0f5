"""dev: the registry group and its resource policy, the model-build pipeline, its latest
execution, and the MLflow tracking server the Track step logs to from the VPC."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from finmlops.service_calls import Service, endpoint_service_name
from finmlops.verify.aws import is_missing
from finmlops.verify.definitions import match_definition
from finmlops.verify.policies import PolicyReadError, policy_differences, resolve
from finmlops.verify.results import CheckResult, failed, passed, skipped


def mlflow_endpoint_service(region: str) -> str:
    """SageMaker MLflow's PrivateLink service (finmlops.service_calls, the one definition the
    template rule E9105 reads too): the Track step reaches the server through its private DNS."""
    return endpoint_service_name(Service.MLFLOW, region)


# DescribeMlflowTrackingServer.TrackingServerStatus values of a server that answers requests.
SERVING_TRACKING_STATUSES = frozenset({"Created", "Updated", "Started", "MaintenanceComplete"})


def group_exists(sm: Any, group: str) -> CheckResult:
    seam = "registry group"
    try:
        found = sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(
            seam,
            f"model package group {group} does not exist in this account and region: deploy "
            "the dev data stack (cdk deploy), or check --profile/--region",
        )
    return passed(seam, f"{group} exists ({found.get('ModelPackageGroupStatus', 'status n/a')})")


def _deployed_policy(sm: Any, group: str, seam: str) -> str | CheckResult:
    """The group's resource policy text, or the line that says why there is none."""
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return skipped(seam, f"{group} does not exist (see the registry group check)")
    try:
        return str(sm.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"])
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(
            seam,
            f"{group} has no resource policy, the template gives it one: stage and prod cannot "
            "read its versions. Redeploy the dev data stack",
        )


def group_policy(
    sm: Any, group: str, synthesized: Any, pseudo: Mapping[str, str], partition: str
) -> CheckResult:
    """The deployed resource policy equals the synthesized `ModelPackageGroupPolicy`."""
    seam = "registry group policy"
    if synthesized is None:
        return skipped(seam, "the synthesized group has no resource policy")
    try:
        expected = resolve(synthesized, pseudo, "ModelPackageGroupPolicy")
    except PolicyReadError as exc:
        return failed(seam, f"cannot read the synthesized policy: {exc}")
    deployed = _deployed_policy(sm, group, seam)
    if isinstance(deployed, CheckResult):
        return deployed
    try:
        differences = policy_differences(expected, deployed, partition)
    except PolicyReadError as exc:
        return failed(seam, f"the deployed policy cannot be read: {exc}")
    if differences:
        return failed(
            seam,
            "the deployed policy differs from the synthesized one: "
            + "; ".join(differences)
            + ". Redeploy the dev data stack, or find who changed it (CloudTrail "
            "PutModelPackageGroupPolicy)",
            differences=differences,
        )
    count = len(json.loads(deployed).get("Statement", [])) if isinstance(deployed, str) else 0
    return passed(seam, f"equals the synthesized policy ({count} statement(s))")


def pipeline_definition(sm: Any, pipeline: str, body: str, fixed: Mapping[str, str]) -> CheckResult:
    """The deployed model-build definition equals the one synthesized into the template."""
    seam = "model-build pipeline"
    try:
        deployed = sm.describe_pipeline(PipelineName=pipeline)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(
            seam,
            f"pipeline {pipeline} does not exist: deploy the dev model-build stack",
        )
    match = match_definition(body, deployed.get("PipelineDefinition", ""), fixed)
    if not match.equal:
        return failed(
            seam,
            f"{pipeline}'s deployed definition differs from the synthesized one: "
            + "; ".join(match.differences[:5])
            + ". Someone updated it outside CloudFormation, or cdk.out is not what was "
            "deployed: redeploy the model-build stack from this commit",
            differences=match.differences,
            slots=match.bindings,
        )
    return passed(
        seam,
        f"{pipeline} equals the synthesized definition ({len(match.bindings)} slots, each "
        "with one value)",
        slots=match.bindings,
    )


def _who(execution: Mapping[str, Any]) -> str:
    created = execution.get("CreatedBy") or {}
    identity = created.get("IamIdentity") or {}
    person = identity.get("SourceIdentity")
    principal = identity.get("Arn") or created.get("UserProfileName") or "unknown"
    return f"{principal} (source identity {person})" if person else str(principal)


def latest_execution(sm: Any, pipeline: str) -> CheckResult:
    seam = "latest build"
    try:
        summaries = sm.list_pipeline_executions(
            PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=1
        ).get("PipelineExecutionSummaries", [])
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return skipped(seam, f"pipeline {pipeline} does not exist")
    if not summaries:
        return skipped(
            seam,
            f"{pipeline} has not run yet: the platform pipeline's DeployDev starts one, or "
            "`python -m finmlops.buildrun start`",
        )
    arn = summaries[0]["PipelineExecutionArn"]
    execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    status = str(
        execution.get("PipelineExecutionStatus", summaries[0].get("PipelineExecutionStatus"))
    )
    when = execution.get("CreationTime") or summaries[0].get("StartTime")
    when_text = when.isoformat(timespec="seconds") if hasattr(when, "isoformat") else str(when)
    data = {"execution": arn, "status": status, "started": when_text, "started_by": _who(execution)}
    text = f"{status}, started {when_text} by {_who(execution)} ({arn.rsplit('/', 1)[-1]})"
    if status in ("Succeeded", "Executing"):
        return passed(seam, text, **data)
    reason = execution.get("FailureReason") or "no reason given"
    return failed(
        seam,
        f"{text}: {reason}. List its steps (aws sagemaker list-pipeline-execution-steps) to "
        "find the one that stopped",
        **data,
    )


def tracking_server(sm: Any, name: str) -> CheckResult:
    seam = "MLflow tracking server"
    try:
        server = sm.describe_mlflow_tracking_server(TrackingServerName=name)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(
            seam,
            f"tracking server {name} does not exist: the Track step cannot log and no model is "
            "registered. Deploy the dev model-build stack",
        )
    status, active = server.get("TrackingServerStatus"), server.get("IsActive")
    if status in SERVING_TRACKING_STATUSES and active == "Active":
        return passed(seam, f"{name} is {status} and {active}", url=server.get("TrackingServerUrl"))
    return failed(
        seam,
        f"{name} is {status} ({active}): the Track step fails until it serves. "
        + (
            "Start it (aws sagemaker start-mlflow-tracking-server)"
            if status in ("Stopped", "StopFailed")
            else "See its status in the SageMaker console"
        ),
    )


def tracking_endpoint(ec2: Any, vpc_id: str, region: str) -> CheckResult:
    """An interface endpoint for SageMaker MLflow in the dev VPC, with private DNS (the Track
    step runs in that VPC without internet egress)."""
    seam = "MLflow VPC endpoint"
    service = mlflow_endpoint_service(region)
    found = ec2.describe_vpc_endpoints(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "service-name", "Values": [service]},
        ]
    ).get("VpcEndpoints", [])
    usable = [
        e
        for e in found
        if e.get("VpcEndpointType") == "Interface"
        and str(e.get("State", "")).lower() == "available"
        and e.get("PrivateDnsEnabled")
    ]
    if usable:
        return passed(seam, f"{usable[0]['VpcEndpointId']} for {service} in {vpc_id}")
    if found:
        endpoint = found[0]
        return failed(
            seam,
            f"{endpoint.get('VpcEndpointId')} for {service} in {vpc_id} is "
            f"{endpoint.get('VpcEndpointType')}, {endpoint.get('State')}, private DNS "
            f"{'on' if endpoint.get('PrivateDnsEnabled') else 'off'}: the Track step needs an "
            "available Interface endpoint with private DNS",
        )
    return failed(
        seam,
        f"no interface endpoint for {service} in {vpc_id}: the Track step runs in the VPC "
        "without internet egress and cannot reach MLflow. Add the endpoint to the dev network "
        "stack and redeploy",
    )
