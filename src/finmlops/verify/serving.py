"""stage and prod: the endpoint serves the approved package of the current deployment manifest;
monitoring is scheduled, reads a baseline that exists, and its alarms can notify."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from finmlops.contracts import DeploymentManifest
from finmlops.registry.promotion import batch_problems, serving_problems
from finmlops.verify.aws import is_missing, pages
from finmlops.verify.results import CheckResult, failed, passed

# The monitoring engine reads these from the baseline folder (finmlops.monitoring.baseline:
# the artifact's manifest, and Model Monitor's statistics.json and constraints.json).
BASELINE_FILES = ("baseline.json", "statistics.json", "constraints.json")


def endpoint_in_service(sm: Any, endpoint: str) -> tuple[CheckResult, dict[str, Any] | None]:
    seam = "endpoint"
    try:
        described: dict[str, Any] = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(seam, f"endpoint {endpoint} does not exist: deploy the endpoint stack"), None
    status = described.get("EndpointStatus")
    if status == "InService":
        return passed(seam, f"{endpoint} is InService"), described
    reason = described.get("FailureReason")
    hint = {
        "Updating": "a deployment is in progress: re-run verify when it ends",
        "Creating": "it is being created: re-run verify when it is InService",
        "SystemUpdating": "SageMaker is updating it: re-run verify later",
        "RollingBack": "the deployment is rolling back (an alarm fired): see the endpoint's "
        "events, then `finmlops promote status`",
        "Failed": f"it failed: {reason or 'see its FailureReason'}",
    }.get(str(status), "see the endpoint in the SageMaker console")
    return failed(seam, f"{endpoint} is {status}: {hint}"), described


def serves_manifest(
    sm: Any,
    endpoint: dict[str, Any] | None,
    manifest: DeploymentManifest | None,
    environment: str,
    history_location: str,
) -> CheckResult:
    if manifest is None:
        return _no_deployment(environment, history_location, "serve")
    wanted = manifest.model_package_arn
    if endpoint is None:
        return failed(SERVED, f"the manifest says {wanted} should serve; the endpoint is missing")
    # The same comparison `finmlops promote record` makes before it records a deployment.
    problems = serving_problems(sm, endpoint["EndpointName"], manifest)
    return _served_verdict(problems, manifest, "serves")


SERVED = "served version"


def _no_deployment(environment: str, history_location: str, verb: str) -> CheckResult:
    return failed(
        SERVED,
        f"no deployment of {environment} is recorded in {history_location}: the promotion "
        "pipeline records each one (`finmlops promote record`); without it nothing says "
        f"which approved version should {verb}",
    )


def _served_verdict(problems: list[str], manifest: DeploymentManifest, what: str) -> CheckResult:
    """PASS when what serves is the current manifest's version, else FAIL with `problems`."""
    wanted = manifest.model_package_arn
    if problems:
        return failed(
            SERVED,
            "; ".join(p.removeprefix("serving: ") for p in problems)
            + f" (version {manifest.version}, the current deployment manifest): CloudFormation "
            "and the recorded history disagree. Redeploy the manifest's version or roll back "
            "(`finmlops promote rollback`)",
            manifest=wanted,
        )
    return passed(
        SERVED,
        f"{what} {manifest.model_package_group}/{manifest.version}, the approved package of the "
        "current deployment manifest",
        manifest=wanted,
    )


def _schedule_of(scheduler: Any, pipeline: str) -> dict[str, Any] | None:
    suffix = f":pipeline/{pipeline.lower()}"
    for schedule in pages(scheduler, "list_schedules", "Schedules"):
        if str(schedule.get("Target", {}).get("Arn", "")).lower().endswith(suffix):
            return dict(schedule)
    return None


def pipeline_schedule(
    sm: Any, scheduler: Any, pipeline: str, *, batch: bool = False
) -> CheckResult:
    """`pipeline` mode: the monitoring pipeline exists and its Scheduler schedule is ENABLED;
    with `batch`, the same of a batch model's scoring pipeline (cdk/batch.py)."""
    seam, kind, stack = (
        ("batch pipeline", "batch pipeline", "batch")
        if batch
        else ("monitoring schedule", "monitoring pipeline", "monitoring")
    )
    unchecked = "the book is not scored" if batch else "drift and model quality are not checked"
    try:
        sm.describe_pipeline(PipelineName=pipeline)
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(seam, f"{kind} {pipeline} does not exist: deploy the {stack} stack")
    schedule = _schedule_of(scheduler, pipeline)
    if schedule is None:
        return failed(
            seam,
            f"no EventBridge Scheduler schedule targets {pipeline}: {unchecked}. "
            f"Redeploy the {stack} stack",
        )
    name, state = schedule.get("Name"), schedule.get("State")
    if state != "ENABLED":
        return failed(
            seam,
            f"schedule {name} of {pipeline} is {state}: {unchecked}. Enable it (aws scheduler "
            f"update-schedule ... --state ENABLED) or redeploy the {stack} stack",
            schedule=name,
        )
    return passed(seam, f"schedule {name} starts {pipeline}; ENABLED", schedule=name)


def batch_serves_manifest(
    sm: Any,
    pipeline: str,
    manifest: DeploymentManifest | None,
    environment: str,
    history_location: str,
) -> CheckResult:
    """A batch model's served version: its batch pipeline, as SageMaker holds it, scores with
    the archive of the current deployment manifest (`batch_problems`, the comparison `finmlops
    promote record` makes for a batch model)."""
    if manifest is None:
        return _no_deployment(environment, history_location, "score")
    problems = batch_problems(sm, pipeline, manifest)
    return _served_verdict(problems, manifest, f"{pipeline} scores with")


def model_monitor_schedules(sm: Any, names: Sequence[str]) -> CheckResult:
    """`model_monitor` mode: every monitoring schedule is Scheduled."""
    seam = "monitoring schedule"
    problems, shown = [], []
    for name in names:
        try:
            schedule = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
        except ClientError as exc:
            if not is_missing(exc):
                raise
            problems.append(f"{name} does not exist")
            continue
        status = schedule.get("MonitoringScheduleStatus")
        last = (schedule.get("LastMonitoringExecutionSummary") or {}).get(
            "MonitoringExecutionStatus"
        )
        shown.append(f"{name} {status}" + (f" (last run {last})" if last else ""))
        if status != "Scheduled":
            problems.append(f"{name} is {status}")
    if problems:
        return failed(
            seam,
            "; ".join(problems) + ": drift and model quality are not checked. Start the "
            "schedule (aws sagemaker start-monitoring-schedule) or redeploy the monitoring stack",
        )
    return passed(seam, "; ".join(shown))


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def pipeline_baseline_uri(sm: Any, pipeline: str) -> str | None:
    """The baseline folder the deployed monitoring pipeline's drift step downloads (the steps
    of a condition's branches included: a sharded drift run's jobs sit there, ADR 0027, all
    reading the one baseline folder)."""
    definition = json.loads(sm.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])
    steps = list(definition.get("Steps", []))
    for step in steps:
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            steps.extend([*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])])
            continue
        for item in step.get("Arguments", {}).get("ProcessingInputs", []):
            if item.get("InputName") == "baseline":
                return str(item["S3Input"]["S3Uri"])
    return None


def job_definition_baseline_uri(sm: Any, job_definition: str) -> str | None:
    """The baseline folder a Model Monitor data-quality job definition reads."""
    described = sm.describe_data_quality_job_definition(JobDefinitionName=job_definition)
    environment = described.get("DataQualityAppSpecification", {}).get("Environment", {})
    if environment.get("baseline_uri"):
        return str(environment["baseline_uri"])
    statistics = (
        described.get("DataQualityBaselineConfig", {}).get("StatisticsResource", {}).get("S3Uri")
    )
    return str(statistics).rsplit("/", 1)[0] if statistics else None


def baseline_exists(s3: Any, uri: str | None, manifest: DeploymentManifest | None) -> CheckResult:
    """The baseline the monitoring reads exists, and is the deployed version's own."""
    seam = "drift baseline"
    if not uri:
        return failed(
            seam, "the deployed monitoring names no baseline input: redeploy the monitoring stack"
        )
    folder = uri.rstrip("/")
    recorded = (manifest.drift_baseline_uri if manifest else "").rstrip("/")
    if recorded and recorded != folder:
        return failed(
            seam,
            f"monitoring reads {folder}, the deployed version's baseline is {recorded} "
            "(deployment manifest): drift is judged against another version's data. Redeploy "
            "the monitoring stack with the current manifest",
        )
    bucket, prefix = _split(folder)
    missing = []
    for name in BASELINE_FILES:
        try:
            s3.head_object(Bucket=bucket, Key=f"{prefix}/{name}")
        except ClientError as exc:
            if not is_missing(exc):
                raise
            missing.append(name)
    if missing:
        return failed(
            seam,
            f"{folder}/ lacks {', '.join(missing)}: the drift job fails on every run. Record "
            "the version's baseline in its deployment manifest (the build's Baseline output) "
            "and redeploy the monitoring stack",
            baseline=folder,
        )
    return passed(seam, f"{folder}/ has {', '.join(BASELINE_FILES)}", baseline=folder)


def alarm_notifies(cloudwatch: Any, alarm: str, what: str) -> CheckResult:
    seam = f"{what} alarm"
    found = cloudwatch.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms", [])
    if not found:
        return failed(seam, f"alarm {alarm} does not exist: deploy the monitoring stack")
    described = found[0]
    topics = [a for a in described.get("AlarmActions", []) if ":sns:" in a]
    if not described.get("ActionsEnabled", False):
        return failed(
            seam,
            f"{alarm} has its actions disabled: it changes state and tells no one. "
            "Enable them (aws cloudwatch enable-alarm-actions)",
        )
    if not topics:
        return failed(
            seam,
            f"{alarm} has no SNS alarm action: nobody is notified. Redeploy the monitoring stack",
        )
    return passed(
        seam,
        f"{alarm}: actions enabled, notifies {', '.join(topics)}",
        state=described.get("StateValue"),
    )
