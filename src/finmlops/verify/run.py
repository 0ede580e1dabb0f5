"""Which checks run for an environment, with names from the config (`finmlops.naming`) and the
synthesized templates, and the clients they read through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest, Promotion
from finmlops.naming import Names, names
from finmlops.registry.promotion import DeploymentHistory
from finmlops.verify import dev, serving, tooling
from finmlops.verify.assembly import SYNTH_HINT, Assembly
from finmlops.verify.clients import Clients
from finmlops.verify.results import CheckResult, failed, guarded, skipped

Check = Callable[[], CheckResult]


def _pseudo(n: Names) -> dict[str, str]:
    return {
        "AWS::Partition": n.partition,
        "AWS::AccountId": n.env.account,
        "AWS::Region": n.env.region,
        "AWS::URLSuffix": "amazonaws.com.cn" if n.partition == "aws-cn" else "amazonaws.com",
    }


def _fn_sub(resource_properties: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    body = resource_properties.get("PipelineDefinition", {}).get("PipelineDefinitionBody")
    if not isinstance(body, dict) or "Fn::Sub" not in body:
        return None
    sub = body["Fn::Sub"]
    text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    fixed = {k: v for k, v in variables.items() if isinstance(v, str)}
    return str(text), fixed


def _missing_in_assembly(seam: str, what: str) -> Check:
    return lambda: failed(seam, f"the synthesized templates have no {what}: {SYNTH_HINT}")


def dev_checks(
    config: Config, assembly: Assembly, clients: Clients
) -> list[tuple[str, str, Check]]:
    n = names(config, "dev")
    group = config.model.package_group
    sm = clients.env("sagemaker")
    checks: list[tuple[str, str, Check]] = []
    synthesized = next(
        (
            r
            for r in assembly.resources("AWS::SageMaker::ModelPackageGroup")
            if r.properties.get("ModelPackageGroupName") == group
        ),
        None,
    )
    checks.append(("registry group", f"group {group}", lambda: dev.group_exists(sm, group)))
    if synthesized is None:
        checks.append(
            (
                "registry group policy",
                "",
                _missing_in_assembly("registry group policy", f"group {group}"),
            )
        )
    else:
        policy = synthesized.properties.get("ModelPackageGroupPolicy")
        checks.append(
            (
                "registry group policy",
                f"the policy of {group}",
                lambda: dev.group_policy(sm, group, policy, _pseudo(n), n.partition),
            )
        )
    pipelines = [
        r
        for r in assembly.resources("AWS::SageMaker::Pipeline")
        if str(r.properties.get("PipelineName", "")).endswith("model-build")
    ]
    sub = _fn_sub(pipelines[0].properties) if len(pipelines) == 1 else None
    if sub is None:
        checks.append(
            (
                "model-build pipeline",
                "",
                _missing_in_assembly("model-build pipeline", "model-build pipeline with Fn::Sub"),
            )
        )
    else:
        name = str(pipelines[0].properties["PipelineName"])
        body, fixed = sub
        checks.append(
            (
                "model-build pipeline",
                f"pipeline {name}",
                lambda: dev.pipeline_definition(sm, name, body, fixed),
            )
        )
        checks.append(
            ("latest build", f"executions of {name}", lambda: dev.latest_execution(sm, name))
        )
    if config.tracking.mode != "sagemaker":
        checks.append(
            (
                "MLflow tracking server",
                "",
                lambda: skipped(
                    "MLflow tracking server",
                    f"tracking.mode is {config.tracking.mode}: no tracking server on AWS",
                ),
            )
        )
        return checks
    server = assembly.one("AWS::SageMaker::MlflowTrackingServer")
    if server is None:
        checks.append(
            (
                "MLflow tracking server",
                "",
                _missing_in_assembly("MLflow tracking server", "MLflow tracking server"),
            )
        )
    else:
        server_name = str(server.properties["TrackingServerName"])
        checks.append(
            (
                "MLflow tracking server",
                f"tracking server {server_name}",
                lambda: dev.tracking_server(sm, server_name),
            )
        )
    vpc = n.env.vpc
    if vpc is None:
        checks.append(
            (
                "MLflow VPC endpoint",
                "",
                lambda: failed("MLflow VPC endpoint", "environments.dev.vpc is not configured"),
            )
        )
    else:
        ec2 = clients.env("ec2")
        checks.append(
            (
                "MLflow VPC endpoint",
                f"the VPC endpoints of {vpc.vpc_id}",
                lambda: dev.tracking_endpoint(ec2, vpc.vpc_id, n.env.region),
            )
        )
    return checks


def serving_checks(
    config: Config, environment: str, assembly: Assembly, clients: Clients
) -> list[tuple[str, str, Check]]:
    n = names(config, environment)
    tooling_names = names(config, "tooling")
    sm = clients.env("sagemaker")
    history_location = (
        f"s3://{tooling_names.state_bucket}/{Promotion.DEPLOYMENTS_PREFIX}{environment}/"
    )
    state: dict[str, Any] = {}

    def endpoint() -> CheckResult:
        result, described = serving.endpoint_in_service(sm, n.endpoint_name)
        state["endpoint"] = described
        return result

    def manifest() -> DeploymentManifest | None:
        if "manifest" not in state:
            history = DeploymentHistory(
                clients.tooling("s3"), tooling_names.state_bucket, group=config.model.package_group
            )
            current = history.current(environment)
            state["manifest"] = current.manifest if current else None
        found: DeploymentManifest | None = state["manifest"]
        return found

    checks: list[tuple[str, str, Check]]
    if config.serving.batch:
        # A batch model has no endpoint: its scoring pipeline on its schedule, scoring with
        # the recorded version's archive (cdk/batch.py, ADR 0034).
        batch = assembly.one("AWS::SageMaker::Pipeline", "Batch")
        if batch is None:
            checks = [
                ("batch pipeline", "", _missing_in_assembly("batch pipeline", "batch pipeline"))
            ]
        else:
            name = str(batch.properties["PipelineName"])
            checks = [
                (
                    "batch pipeline",
                    f"pipeline {name} and its schedule",
                    lambda: serving.pipeline_schedule(
                        sm, clients.env("scheduler"), name, batch=True
                    ),
                ),
                (
                    "served version",
                    f"the deployment history {history_location} and {name}'s model input",
                    lambda: serving.batch_serves_manifest(
                        sm, name, manifest(), environment, history_location
                    ),
                ),
            ]
    else:
        checks = [
            ("endpoint", f"endpoint {n.endpoint_name}", endpoint),
            (
                "served version",
                f"the deployment history {history_location} and the endpoint's model",
                lambda: serving.serves_manifest(
                    sm, state.get("endpoint"), manifest(), environment, history_location
                ),
            ),
        ]
    if config.monitoring.mode == "pipeline":
        pipeline = assembly.one("AWS::SageMaker::Pipeline", "Monitoring")
        if pipeline is None:
            checks.append(
                (
                    "monitoring schedule",
                    "",
                    _missing_in_assembly("monitoring schedule", "monitoring pipeline"),
                )
            )
        else:
            name = str(pipeline.properties["PipelineName"])
            scheduler = clients.env("scheduler")
            checks.append(
                (
                    "monitoring schedule",
                    f"pipeline {name} and its schedule",
                    lambda: serving.pipeline_schedule(sm, scheduler, name),
                )
            )
            checks.append(
                (
                    "drift baseline",
                    f"the baseline of {name}",
                    lambda: serving.baseline_exists(
                        clients.env("s3"),
                        serving.pipeline_baseline_uri(sm, name),
                        manifest(),
                    ),
                )
            )
    else:
        schedules = [
            str(r.properties["MonitoringScheduleName"])
            for r in assembly.resources("AWS::SageMaker::MonitoringSchedule")
        ]
        definition = assembly.one("AWS::SageMaker::DataQualityJobDefinition")
        checks.append(
            (
                "monitoring schedule",
                f"monitoring schedules {', '.join(schedules)}",
                lambda: serving.model_monitor_schedules(sm, schedules),
            )
        )
        if definition is None:
            checks.append(
                (
                    "drift baseline",
                    "",
                    _missing_in_assembly("drift baseline", "data-quality job definition"),
                )
            )
        else:
            job = str(definition.properties["JobDefinitionName"])
            checks.append(
                (
                    "drift baseline",
                    f"the baseline of job definition {job}",
                    lambda: serving.baseline_exists(
                        clients.env("s3"),
                        serving.job_definition_baseline_uri(sm, job),
                        manifest(),
                    ),
                )
            )
    cloudwatch = clients.env("cloudwatch")
    for alarm, what in ((n.drift_alarm, "drift"), (n.quality_alarm, "model-quality")):
        checks.append(
            (
                f"{what} alarm",
                f"alarm {alarm}",
                lambda alarm=alarm, what=what: serving.alarm_notifies(cloudwatch, alarm, what),  # type: ignore[misc]
            )
        )
    return checks


def tooling_checks(
    config: Config, assembly: Assembly, clients: Clients
) -> list[tuple[str, str, Check]]:
    n = names(config, "tooling")
    s3 = clients.env("s3")
    bucket = n.audit_bucket
    checks: list[tuple[str, str, Check]] = [
        ("audit Object Lock", f"bucket {bucket}", lambda: tooling.object_lock(s3, bucket)),
        ("audit versioning", f"bucket {bucket}", lambda: tooling.versioning(s3, bucket)),
        (
            "audit create-only policy",
            f"the policy of {bucket}",
            lambda: tooling.create_only_policy(s3, bucket, n.partition),
        ),
    ]
    handler = next(
        (
            r
            for r in assembly.resources("AWS::Lambda::Function")
            if r.properties.get("Handler") == Promotion.HANDLER
        ),
        None,
    )
    variables = (
        (handler.properties.get("Environment") or {}).get("Variables", {}) if handler else {}
    )
    pipeline = variables.get(Promotion.ENV_PIPELINE)
    if not isinstance(pipeline, str):
        checks.append(
            (
                "promotion pipeline",
                "",
                _missing_in_assembly("promotion pipeline", "approval handler naming its pipeline"),
            )
        )
        return checks
    codepipeline, lambda_ = clients.env("codepipeline"), clients.env("lambda")
    checks.append(
        (
            "promotion pipeline",
            f"pipeline {pipeline}",
            lambda: tooling.promotion_pipeline(codepipeline, pipeline),
        )
    )
    checks.append(
        (
            "approval handler",
            "the account's Lambda functions",
            lambda: tooling.approval_handler(lambda_, pipeline),
        )
    )
    return checks


def verify(
    environment: str, config: Config, assembly: Assembly, clients: Clients
) -> list[CheckResult]:
    """Every check of one environment, in order; each reads only, and an AWS error stops only
    its own check."""
    if environment == "dev":
        checks = dev_checks(config, assembly, clients)
    elif environment == "tooling":
        checks = tooling_checks(config, assembly, clients)
    else:
        checks = serving_checks(config, environment, assembly, clients)
    return [guarded(seam, what or seam, check) for seam, what, check in checks]
