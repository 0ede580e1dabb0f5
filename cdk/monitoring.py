"""Monitoring (stage and prod): drift and model quality of the deployed version, on a schedule.

One program (the project's monitoring image) runs in one of two launchers, chosen by
`config.monitoring.mode`:

- "model_monitor": Model Monitor job definitions and schedules with the image as a
  bring-your-own container (Model Monitor sets `dataset_source`, `output_path`, `baseline_*`);
- "pipeline": a one-step SageMaker Pipeline started by EventBridge Scheduler, for accounts
  without Model Monitor; the stack sets the same variables itself.

Either way the program is `python -m finmlops.monitoring` (finmlops.monitoring.entrypoint):
`drift` compares the captured window with the deployed version's baseline, `quality` scores
labelled outcomes; both write Model Monitor files and the metrics the alarms below watch. In
"pipeline" mode a third step, `explain`, compares the window's feature-attribution profile
(the deployed model's TreeSHAP) with the one its baseline step recorded (explanation drift,
docs/decisions/0028); Model Monitor's own explainability jobs are SageMaker Clarify's, closed
to new customers, so "model_monitor" mode has no such step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.assets import MonitoringImage
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.endpoint import CAPTURE_PREFIX, grant_registry_read
from finmlops_cdk.events import (
    ALARM_STATE_CHANGE,
    EventForwarder,
    PipelineSchedule,
    default_bus_arn,
)
from finmlops_cdk.manifest import (
    BASELINE_PREFIX,
    DEFAULT_SOURCE,
    ManifestError,
    drift_baseline,
    is_default,
)
from finmlops_cdk.network import Network
from finmlops_cdk.sagemaker_roles import SageMakerExecutionRole, sagemaker_arn
from finmlops_cdk.security import (
    DeadLetterQueue,
    iam5_resource,
    object_ack,
    s3_access,
)

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest
from finmlops.monitoring.entrypoint import MANIFEST_FILE, WINDOW_FILE
from finmlops.monitoring.jobs import (
    capture_lookback,
    drift_environment,
    explanation_environment,
    quality_arguments,
)
from finmlops.naming import VARIANT_NAME, Names, Role, names
from finmlops.schedules import longest_gap_minutes

# Where the processing container finds its inputs and writes its outputs (SageMaker paths,
# the defaults of finmlops.monitoring.entrypoint).
INPUT_ENDPOINT = "/opt/ml/processing/input/endpoint"
INPUT_BASELINE = "/opt/ml/processing/baseline"
INPUT_PARTIALS = "/opt/ml/processing/input/partials"
INPUT_WINDOW = "/opt/ml/processing/input/window"
INPUT_MODEL = "/opt/ml/processing/model"
OUTPUT_RESULTS = "/opt/ml/processing/resultdata"

GROUND_TRUTH_PREFIX = "ground-truth"
MAX_RUNTIME_SECONDS = 3600
VOLUME_SIZE_GB = 30


@dataclass(frozen=True)
class MetricNames:
    """Where the monitoring program's metrics land, per launcher."""

    namespace_drift: str
    namespace_quality: str
    drift_share: str = "dataset_drift_share"
    auc: str = "auc"  # per window, stamped with the window's start: history for the dashboard
    # Published by every run, stamped with the run's time (finmlops.monitoring.cloudwatch).
    quality_violations: str = "quality_violations"
    bad_record_share: str = "bad_record_share"
    # Explanation drift (pipeline mode only): every run publishes its violation count.
    namespace_explanation: str = ""
    explanation_violations: str = "explanation_violations"

    @property
    def namespaces(self) -> list[str]:
        found = {self.namespace_drift, self.namespace_quality, self.namespace_explanation}
        return sorted(found - {""})


# Model Monitor publishes a bring-your-own container's metric file into these namespaces.
MODEL_MONITOR_METRICS = MetricNames(
    namespace_drift="aws/sagemaker/Endpoints/data-metrics",
    namespace_quality="aws/sagemaker/Endpoints/model-metrics",
)
# In "pipeline" mode the program calls PutMetricData itself (finmlops.monitoring.cloudwatch).
PIPELINE_METRICS = MetricNames(
    namespace_drift="finmlops/data-metrics",
    namespace_quality="finmlops/model-metrics",
    namespace_explanation="finmlops/explainability-metrics",
)


def baseline_uri(manifest: DeploymentManifest, n: Names) -> str:
    """The deployed version's baseline folder, as the manifest records it from the version's
    registered DriftCheckBaselines; a manifest without one stops synth (ManifestError names the
    field). There is no fallback: a guessed path is a monitor that silently never runs."""
    return str(drift_baseline(manifest, n.config, "manifest"))


def model_artifact_uri(manifest: DeploymentManifest, n: Names) -> str:
    """The deployed version's model artifact, which the explanation-drift step explains windows
    with (a processing input: SageMaker API Reference, ProcessingS3Input, `S3DataType`
    "S3Prefix" downloads every object whose key starts with `S3Uri`, here the one archive).

    Checked as the baseline is: under the registry's model-build outputs, the only prefix the
    monitoring role may read (finmlops_cdk.endpoint.grant_registry_read). The default manifest
    (synth before any approval) names a model under its own never-written prefix."""
    uri = manifest.model_data_url
    allowed = f"s3://{n.registry_artifact_bucket}/{BASELINE_PREFIX}"
    if not uri and is_default(manifest):
        return f"{allowed}{DEFAULT_SOURCE}/package/package/model.tar.gz"
    if not uri.startswith(allowed) or uri.endswith("/"):
        raise ManifestError(
            f"manifest: model_data_url {uri!r} is not an object under {allowed}, where the model "
            "build writes model artifacts and the monitoring role may read; resolve the manifest "
            "with `finmlops promote resolve`"
        )
    return uri


def model_monitor_cron(expression: str) -> str:
    """Model Monitor wants `?` in day-of-month: cron(0 * * * ? *) -> cron(0 * ? * * *)."""
    if not expression.startswith("cron("):
        raise ValueError(
            f"monitoring.schedule: {expression!r}: Model Monitor schedules take cron() only"
        )
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    minute, hour, dom, month, dow, year = fields
    if dom == "*" and dow == "?":
        dom, dow = "?", "*"
    return f"cron({minute} {hour} {dom} {month} {dow} {year})"


class MonitoringRole(Construct):
    """The role of monitoring jobs: read capture and baselines, write results and metrics."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        n: Names,
        data: DataStack,
        image: MonitoringImage,
        metric_namespaces: list[str],
    ) -> None:
        super().__init__(scope, id_)
        assert data.capture is not None and data.monitoring_output is not None
        execution = SageMakerExecutionRole(
            self,
            "Execution",
            role_name=n.role(Role.MONITORING),
            description="Monitoring jobs: capture and baselines in, results and metrics out",
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            volume_key=data.data_key,
            isolation_actions=(),
        )
        self.role = execution.role
        grant_registry_read(self.role, execution, n)
        capture, output = n.bucket("capture"), n.bucket("monitoring")
        execution.allow(
            *s3_access(
                sid="ReadCapture",
                partition=n.partition,
                bucket=capture,
                prefix=f"{CAPTURE_PREFIX}/",
                read=True,
                list_objects=True,
            ),
            *s3_access(
                sid="MonitoringResults",
                partition=n.partition,
                bucket=output,
                read=True,
                write=True,
                list_objects=True,
            ),
        )
        execution.pull_image(image.asset.repository.repository_arn)
        execution.acknowledge(
            object_ack(
                n.partition,
                capture,
                f"{CAPTURE_PREFIX}/",
                "Captured requests under capture/<endpoint>/<variant>/<date>/ (read only).",
            )
            | object_ack(
                n.partition,
                output,
                "",
                "The monitoring bucket of this environment: ground truth in, results out, under "
                "per-endpoint prefixes.",
            )
        )
        metrics = iam.ManagedPolicy(
            self,
            "Metrics",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="PublishMonitoringMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": metric_namespaces}},
                )
            ],
        )
        acknowledge(
            metrics,
            {
                "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource ARN; "
                "the condition limits it to the monitoring metric namespaces.",
            },
        )


class ModelMonitorSchedules(Construct):
    """Data-quality and model-quality job definitions and their schedules (BYOC image).

    Each schedule starts one job on one instance. Model Monitor would take more
    (ClusterConfig.InstanceCount, with an EndpointInput `ShardedByS3Key`), but a schedule runs
    that one job and nothing after it: every instance would write a whole report of its share to
    the same output, and no step merges them. Spreading a window over instances is the
    pipeline mode's (MonitoringPipeline, docs/decisions/0027); the config refuses
    `monitoring_count` above 1 with this mode, and so does this construct.

    Attributes: `data_quality`, `model_quality` (job definitions), `schedules` (name -> schedule).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        manifest: DeploymentManifest,
        role: iam.IRole,
        image_uri: str,
        network: Network,
        key: kms.IKey,
        output_bucket: str,
        endpoint: sagemaker.CfnEndpoint,
    ) -> None:
        super().__init__(scope, id_)
        if n.env.instances.monitoring_count != 1:
            raise ValueError(
                f"environments.{n.environment}.instances.monitoring_count: a Model Monitor "
                "schedule runs one job with no step to merge shards; use monitoring.mode pipeline"
            )
        endpoint_name = n.endpoint_name
        baseline = baseline_uri(manifest, n)
        instance_type = n.env.instances.monitoring
        dq, mq = sagemaker.CfnDataQualityJobDefinition, sagemaker.CfnModelQualityJobDefinition
        subnets = network.subnet_ids
        groups = [network.job_security_group.security_group_id]
        drift_schedule = f"{endpoint_name}-data-drift"
        quality_schedule = f"{endpoint_name}-model-quality"

        def shared(job: Any, kind: str) -> tuple[Any, Any, Any, Any]:
            """Output (KMS), resources (KMS volume), network (VPC, encrypted traffic) and
            stopping condition: the same for both job types, built from each one's L1 types."""
            output = job.MonitoringOutputConfigProperty(
                kms_key_id=key.key_arn,
                monitoring_outputs=[
                    job.MonitoringOutputProperty(
                        s3_output=job.S3OutputProperty(
                            local_path=OUTPUT_RESULTS,
                            s3_uri=f"s3://{output_bucket}/{kind}/{endpoint_name}",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            )
            resources = job.MonitoringResourcesProperty(
                cluster_config=job.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=instance_type,
                    volume_size_in_gb=VOLUME_SIZE_GB,
                    volume_kms_key_id=key.key_arn,
                )
            )
            network_config = job.NetworkConfigProperty(
                enable_inter_container_traffic_encryption=True,
                enable_network_isolation=False,
                vpc_config=job.VpcConfigProperty(security_group_ids=groups, subnets=subnets),
            )
            stopping = job.StoppingConditionProperty(max_runtime_in_seconds=MAX_RUNTIME_SECONDS)
            return output, resources, network_config, stopping

        dq_output, dq_resources, dq_network, dq_stopping = shared(dq, "data-quality")
        mq_output, mq_resources, mq_network, mq_stopping = shared(mq, "model-quality")

        self.data_quality = dq(
            self,
            "DataQuality",
            job_definition_name=f"{endpoint_name}-data-quality",
            role_arn=role.role_arn,
            data_quality_app_specification=dq.DataQualityAppSpecificationProperty(
                image_uri=image_uri,
                container_arguments=["drift"],
                # The engine fetches the whole baseline folder (its artifact sits beside the
                # Model Monitor files) and checks it belongs to the deployed version.
                environment={
                    "baseline_uri": baseline,
                    "publish_cloudwatch_metrics": "Enabled",
                    # Model Monitor writes each run below this prefix: the report's trend.
                    "history_uri": f"s3://{output_bucket}/data-quality/{endpoint_name}/",
                }
                | drift_environment(config, manifest),
            ),
            data_quality_baseline_config=dq.DataQualityBaselineConfigProperty(
                constraints_resource=dq.ConstraintsResourceProperty(
                    s3_uri=f"{baseline}/constraints.json"
                ),
                statistics_resource=dq.StatisticsResourceProperty(
                    s3_uri=f"{baseline}/statistics.json"
                ),
            ),
            data_quality_job_input=dq.DataQualityJobInputProperty(
                endpoint_input=dq.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path=INPUT_ENDPOINT,
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                )
            ),
            data_quality_job_output_config=dq_output,
            job_resources=dq_resources,
            network_config=dq_network,
            stopping_condition=dq_stopping,
        )
        delay = config.monitoring.label_delay_hours
        self.model_quality = mq(
            self,
            "ModelQuality",
            job_definition_name=f"{endpoint_name}-model-quality",
            role_arn=role.role_arn,
            model_quality_app_specification=mq.ModelQualityAppSpecificationProperty(
                image_uri=image_uri,
                problem_type="BinaryClassification",
                container_arguments=quality_arguments(config, manifest),
                environment={"publish_cloudwatch_metrics": "Enabled"},
            ),
            model_quality_job_input=mq.ModelQualityJobInputProperty(
                endpoint_input=mq.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path=INPUT_ENDPOINT,
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                    probability_threshold_attribute=config.model.cutoff,
                    # Labels arrive late: score the hour whose labels are in by now.
                    start_time_offset=f"-PT{delay + 1}H",
                    end_time_offset=f"-PT{delay}H",
                ),
                ground_truth_s3_input=mq.MonitoringGroundTruthS3InputProperty(
                    s3_uri=f"s3://{output_bucket}/{GROUND_TRUTH_PREFIX}/{endpoint_name}"
                ),
            ),
            model_quality_job_output_config=mq_output,
            job_resources=mq_resources,
            network_config=mq_network,
            stopping_condition=mq_stopping,
        )
        cron = model_monitor_cron(config.monitoring.schedule)
        self.schedules: dict[str, sagemaker.CfnMonitoringSchedule] = {}
        ms = sagemaker.CfnMonitoringSchedule
        for schedule_name, kind, definition in (
            (drift_schedule, "DataQuality", self.data_quality),
            (quality_schedule, "ModelQuality", self.model_quality),
        ):
            schedule = ms(
                self,
                kind + "Schedule",
                monitoring_schedule_name=schedule_name,
                endpoint_name=endpoint_name,
                monitoring_schedule_config=ms.MonitoringScheduleConfigProperty(
                    monitoring_job_definition_name=definition.job_definition_name,
                    monitoring_type=kind,
                    schedule_config=ms.ScheduleConfigProperty(schedule_expression=cron),
                ),
            )
            schedule.node.add_dependency(endpoint, definition)
            self.schedules[schedule_name] = schedule
        self.data_quality.node.add_dependency(endpoint)
        self.model_quality.node.add_dependency(endpoint)
        self.drift_schedule_name = drift_schedule
        self.quality_schedule_name = quality_schedule


class MonitoringPipeline(Construct):
    """A SageMaker Pipeline running the monitoring image, started by EventBridge Scheduler
    (retry policy, DLQ, KMS).

    The window a run judges ends when its execution started, as SageMaker records it
    (`Execution.StartDateTime`), and reaches back `lookback_hours`. EventBridge Scheduler's
    `<aws.scheduler.scheduled-time>` is documented only as a keyword substituted in the payload
    passed to the target (docs page managing-schedule-context-attributes: the target's `Input`);
    SageMakerPipelineParameters are not that payload, so nothing here depends on it.

    Attributes: `pipeline`, `pipeline_name`, `schedule`.
    """

    # The window's end: a pipeline execution variable SageMaker sets itself.
    WINDOW_END: ClassVar[Mapping[str, str]] = MappingProxyType({"Get": "Execution.StartDateTime"})

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        manifest: DeploymentManifest,
        role: iam.Role,
        image_uri: str,
        network: Network,
        key: kms.IKey,
        ops_key: kms.IKey,
        capture_bucket: str,
        output_bucket: str,
        dead_letter_queue: DeadLetterQueue,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        endpoint_name = n.endpoint_name
        self.pipeline_name = f"{endpoint_name}-monitoring"
        self.step_names = ("DataDrift", "ModelQuality", "ExplanationDrift")
        # The same variables a Model Monitor schedule would set, so one program serves both.
        contract = {
            "sagemaker_endpoint_name": endpoint_name,
            "sagemaker_monitoring_schedule_name": self.pipeline_name,
            "end_time": dict(self.WINDOW_END),
        }

        def s3_input(name: str, uri: str, local: str) -> dict[str, Any]:
            return {
                "InputName": name,
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": local,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }

        def step(
            name: str,
            arguments: list[str],
            inputs: list[dict[str, Any]],
            environment: dict[str, Any],
            *,
            instance_count: int = 1,
            metrics: bool = True,
        ) -> dict[str, Any]:
            publish = ["--put-metric-data", "--region", stack.region] if metrics else []
            return {
                "Name": name,
                "Type": "Processing",
                "Arguments": {
                    "AppSpecification": {
                        "ImageUri": image_uri,
                        "ContainerArguments": [*arguments, *publish],
                    },
                    "RoleArn": role.role_arn,
                    "ProcessingResources": {
                        "ClusterConfig": {
                            "InstanceCount": instance_count,
                            "InstanceType": n.env.instances.monitoring,
                            "VolumeSizeInGB": VOLUME_SIZE_GB,
                            "VolumeKmsKeyId": key.key_arn,
                        }
                    },
                    "ProcessingInputs": inputs,
                    "ProcessingOutputConfig": {
                        "KmsKeyId": key.key_arn,
                        "Outputs": [
                            {
                                "OutputName": "results",
                                "AppManaged": False,
                                "S3Output": {
                                    # One folder per execution: every scheduled run keeps its
                                    # own results (a fixed prefix would be overwritten by the
                                    # next run, leaving files an older run wrote beside them).
                                    "S3Uri": {
                                        "Std:Join": {
                                            "On": "/",
                                            "Values": [
                                                f"s3://{output_bucket}/{name.lower()}/{endpoint_name}",
                                                {"Get": "Execution.PipelineExecutionId"},
                                            ],
                                        }
                                    },
                                    "LocalPath": OUTPUT_RESULTS,
                                    "S3UploadMode": "EndOfJob",
                                },
                            }
                        ],
                    },
                    "NetworkConfig": {
                        "EnableInterContainerTrafficEncryption": True,
                        "EnableNetworkIsolation": False,
                        "VpcConfig": {
                            "SecurityGroupIds": [network.job_security_group.security_group_id],
                            "Subnets": network.subnet_ids,
                        },
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
                    "Environment": {**contract, "output_path": OUTPUT_RESULTS, **environment},
                },
            }

        # The job reads captures and labels from S3 itself, only the hours a run needs
        # (finmlops.monitoring.sources): a processing input would download every hour ever
        # captured, and fail while the prefix is still empty.
        captures = f"s3://{capture_bucket}/{CAPTURE_PREFIX}/{endpoint_name}/{VARIANT_NAME}/"
        lookback = capture_lookback(config)
        baseline = s3_input("baseline", baseline_uri(manifest, n) + "/", INPUT_BASELINE)
        drift = step(
            "DataDrift",
            ["drift"],
            [baseline],
            {
                "baseline_uri": INPUT_BASELINE,
                "dataset_source": captures,
                "lookback_hours": lookback["drift"],
                # The earlier runs' outputs (one folder per execution, above): the report's
                # trend reads their drift_report.json (finmlops.monitoring.history, bounded).
                "history_uri": f"s3://{output_bucket}/datadrift/{endpoint_name}/",
            }
            | drift_environment(config, manifest),
        )
        # Instances one drift run spreads the window over; 1 keeps the single DataDrift step.
        self.shards = n.env.instances.monitoring_count
        drift_steps = (
            self._sharded_drift(
                step,
                s3_input,
                drift=drift,
                baseline=baseline,
                captures=captures,
                lookback_hours=lookback["drift"],
                config=config,
                manifest=manifest,
            )
            if self.shards > 1
            else [drift]
        )
        steps = [
            *drift_steps,
            step(
                "ModelQuality",
                quality_arguments(config, manifest),
                [],
                {
                    "dataset_source": captures,
                    "ground_truth_source": f"s3://{output_bucket}/{GROUND_TRUTH_PREFIX}/{endpoint_name}/",
                    "lookback_hours": lookback["quality"],
                },
            ),
            # Explanation drift: the same window and baseline folder as DataDrift, explained by
            # the deployed model (docs/decisions/0028); a step of its own, so it runs and fails
            # independently of the drift step.
            step(
                "ExplanationDrift",
                ["explain"],
                [
                    s3_input("baseline", baseline_uri(manifest, n) + "/", INPUT_BASELINE),
                    s3_input("model", model_artifact_uri(manifest, n), INPUT_MODEL),
                ],
                {
                    "baseline_uri": INPUT_BASELINE,
                    "model_source": INPUT_MODEL,
                    "dataset_source": captures,
                    "lookback_hours": lookback["drift"],
                }
                | explanation_environment(config),
            ),
        ]
        definition: dict[str, Any] = {
            "Version": "2020-12-01",
            "Metadata": {},
            "Parameters": [],
            # No SageMaker Experiments entities (docs page pipelines-experiments): the monitoring
            # role may not create them, and the results live in S3 and CloudWatch.
            "PipelineExperimentConfig": None,
            "Steps": steps,
        }
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.pipeline_name,
            pipeline_display_name=self.pipeline_name,
            pipeline_description=f"Drift and model quality of {endpoint_name}",
            role_arn=role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": stack.to_json_string(definition)},
        )
        pipeline_arn = sagemaker_arn(stack, f"pipeline/{self.pipeline_name.lower()}")
        jobs = sagemaker_arn(stack, "processing-job/pipelines-*")
        runs = iam.ManagedPolicy(
            self,
            "RunJobs",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="RunMonitoringJobs",
                    actions=[
                        "sagemaker:CreateProcessingJob",
                        "sagemaker:DescribeProcessingJob",
                        "sagemaker:StopProcessingJob",
                        "sagemaker:AddTags",
                    ],
                    resources=[jobs],
                ),
                iam.PolicyStatement(
                    sid="PassRoleToOwnJobs",
                    actions=["iam:PassRole"],
                    resources=[role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                ),
            ],
        )
        acknowledge(
            runs,
            {
                iam5_resource(jobs): "SageMaker Pipelines names its jobs "
                "pipelines-<execution>-<step>-<suffix>; the prefix is the narrowest ARN.",
            },
        )

        self.schedule = PipelineSchedule(
            self,
            "Scheduler",
            expression=config.monitoring.schedule,
            description=f"Drift and model quality of {endpoint_name}",
            pipeline_arn=pipeline_arn,
            dead_letter_queue=dead_letter_queue,
            encryption_key=ops_key,
        ).schedule
        self.schedule.node.add_dependency(self.pipeline)

    def _sharded_drift(
        self,
        step: Any,
        s3_input: Any,
        *,
        drift: dict[str, Any],
        baseline: dict[str, Any],
        captures: str,
        lookback_hours: str,
        config: Config,
        manifest: DeploymentManifest,
    ) -> list[dict[str, Any]]:
        """The drift run spread over `shards` instances (docs/decisions/0027), as a condition step
        whose branches hold the jobs; `drift` is the single-instance step, kept for an empty
        window.

        1. CaptureManifest (one instance): lists the window's capture objects, as the single step
           would download them (finmlops.monitoring.sources.window_objects), into a manifest
           under this execution's own prefix, and writes window.json (`objects`) as the
           property file `CaptureWindow`.
        2. WindowHasCaptures: `Std:JsonGet` of `objects` > 0 (a JsonGet on a property file the
           step declares, the form the SDK's ConditionGreaterThan/JsonGet serialize to).
        3. If: DriftShards runs `partial` on `shards` instances. Its input is the manifest,
           `S3DataType: ManifestFile` with `S3DataDistributionType: ShardedByS3Key`: SageMaker
           downloads one share of the listed objects to each instance (API Reference,
           ProcessingS3Input: "downloading one shard of data to each processing instance";
           S3DataSource: with more instances than objects "some nodes won't get any data", an
           empty shard). Each instance writes partials/<current_host>/ (resourceconfig.json), so
           the instances' uploads to the one output prefix never collide. DataDrift (one
           instance) then runs `merge` on this execution's partials (its input is DriftShards'
           output S3Uri, a step property: the data dependency orders the steps) and writes the
           report, violations and metrics as the single step does. It refuses to judge unless
           there is one partial per instance and the shards read every object of the manifest.
        4. Else: the single-instance step, renamed DataDriftEmptyWindow, judges the empty
           window as before (a "not evaluated" report, bad_record_share 0): a manifest is "a
           prefix followed by one or more suffixes" (S3DataSource.S3Uri), so an empty window
           has none, and a ProcessingInput of nothing would fail every idle hour's run.
        Both report steps write under datadrift/<endpoint>/<execution>.
        """
        manifest_step = step(
            "CaptureManifest",
            ["manifest"],
            [],
            {"dataset_source": captures, "lookback_hours": lookback_hours},
            metrics=False,
        )
        manifest_step["PropertyFiles"] = [
            {"PropertyFileName": "CaptureWindow", "OutputName": "results", "FilePath": WINDOW_FILE}
        ]
        manifest_prefix = {
            "Get": "Steps.CaptureManifest.ProcessingOutputConfig.Outputs['results'].S3Output.S3Uri"
        }
        shard_input = {
            "InputName": "captures",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": [manifest_prefix, MANIFEST_FILE]}},
                "LocalPath": INPUT_ENDPOINT,
                "S3DataType": "ManifestFile",
                "S3InputMode": "File",
                "S3DataDistributionType": "ShardedByS3Key",
            },
        }
        shard_step = step(
            "DriftShards",
            ["partial"],
            [baseline, shard_input],
            {"baseline_uri": INPUT_BASELINE, "dataset_source": INPUT_ENDPOINT},
            instance_count=self.shards,
            metrics=False,
        )
        partials = s3_input("partials", "", INPUT_PARTIALS)
        partials["S3Input"]["S3Uri"] = {
            "Get": "Steps.DriftShards.ProcessingOutputConfig.Outputs['results'].S3Output.S3Uri"
        }
        window = s3_input("window", "", INPUT_WINDOW)
        window["S3Input"]["S3Uri"] = manifest_prefix
        merge_step = step(
            "DataDrift",
            ["merge", "--expect-shards", str(self.shards)],
            [baseline, partials, window],
            {
                "baseline_uri": INPUT_BASELINE,
                "partials_source": INPUT_PARTIALS,
                "window_source": INPUT_WINDOW,
                # The trend's earlier runs: where the single step reads them (one prefix).
                "history_uri": drift["Arguments"]["Environment"]["history_uri"],
            }
            | drift_environment(config, manifest),
        )
        # The single step, renamed: its report goes where DataDrift's would (datadrift/...).
        empty_step = dict(drift, Name="DataDriftEmptyWindow")
        return [
            manifest_step,
            {
                "Name": "WindowHasCaptures",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "GreaterThan",
                            "LeftValue": {
                                "Std:JsonGet": {
                                    "PropertyFile": {
                                        "Get": "Steps.CaptureManifest.PropertyFiles.CaptureWindow"
                                    },
                                    "Path": "objects",
                                }
                            },
                            "RightValue": 0,
                        }
                    ],
                    "IfSteps": [shard_step, merge_step],
                    "ElseSteps": [empty_step],
                },
            },
        ]


# The monitor-silent alarm's shortest period: six hours without a drift result.
SILENT_MINUTES = 6 * 60
# PutMetricAlarm (CloudWatch API Reference, Period): Period x EvaluationPeriods is at most
# 604,800 s (seven days); these alarms evaluate one period.
MAX_ALARM_MINUTES = 7 * 24 * 60


def alarm_period_minutes(schedule: str) -> int:
    """The alarms' period for a monitoring schedule: the longest gap between two of its runs
    (`finmlops.schedules.longest_gap_minutes`), at least an hour, at most the seven days
    CloudWatch allows; a calendar-bound cron (its gap depends on the month) takes the most."""
    gap = longest_gap_minutes(schedule)
    return MAX_ALARM_MINUTES if gap is None else min(max(gap, 60), MAX_ALARM_MINUTES)


class MonitoringAlarms(Construct):
    """Alarms on drift share, model quality, unreadable inputs and silence of the monitor, each
    with an SNS action.

    How each treats a period without a value (Amazon CloudWatch User Guide, "Configuring how
    CloudWatch alarms treat missing data": `breaching` counts a missing datapoint as over the
    threshold, `notBreaching` as within it) follows from what the jobs publish:

    - Every run of both jobs publishes `quality_violations` (quality job) and `bad_record_share`
      (both jobs), zeros included, an idle hour included. A period without them means no run
      finished: nothing was judged, which is a finding. Those alarms are `breaching`.
    - `dataset_drift_share` is published only for a window with rows: an idle hour has no drift
      to measure, and `breaching` there would start retraining on silence. The drift alarm is
      `notBreaching`; the monitor-silent alarm (`breaching`) counts its values over six hours.
    - `quality_violations` counts AUC below `min_auc`, AUC lower than the deployed version's
      validated AUC by more than `max_auc_drop` beyond sampling noise, AUC not computable in a
      window whose labels are due, and too many unreadable records: the AUC rules are never
      silently disabled by an AUC that could not be computed.
    - `explanation_violations` (pipeline mode, `explanation_schedule` given) is published by
      every explanation run, zero for an idle hour: that alarm is `breaching`.

    Attributes: `drift`, `quality`, `silent`, `drift_inputs`, `quality_inputs`, `explanation`
    (or None), `all` (the five, and `explanation` when there is one),
    `drift_metric`, `auc_metric`, `quality_violations_metric` (for the dashboard).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        metrics: MetricNames,
        drift_schedule: str,
        quality_schedule: str,
        topic: sns.ITopic,
        explanation_schedule: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        endpoint_name = n.endpoint_name
        # One period holds one scheduled run: an hourly monitor is judged each hour, a nightly
        # batch model's once a day (a 1-hour period would find no run in 23 hours of 24 and
        # the breaching alarms would stand in ALARM).
        minutes = alarm_period_minutes(config.monitoring.schedule)
        period = Duration.minutes(minutes)
        silent_period = Duration.minutes(max(SILENT_MINUTES, minutes))
        self.drift_threshold = config.monitoring.dataset_drift_share
        self.auc_threshold = config.monitoring.min_auc
        bad_share = config.monitoring.max_bad_record_share
        drop = (
            f", or more than {config.monitoring.max_auc_drop:g} below the version's validated AUC"
            if config.monitoring.max_auc_drop is not None
            else ""
        )
        drift_dims = {"Endpoint": endpoint_name, "MonitoringSchedule": drift_schedule}
        quality_dims = {"Endpoint": endpoint_name, "MonitoringSchedule": quality_schedule}
        self.drift_metric = cloudwatch.Metric(
            namespace=metrics.namespace_drift,
            metric_name=metrics.drift_share,
            dimensions_map=drift_dims,
            statistic="Maximum",
            period=period,
        )
        self.auc_metric = cloudwatch.Metric(
            namespace=metrics.namespace_quality,
            metric_name=metrics.auc,
            dimensions_map=quality_dims,
            statistic="Minimum",
            period=period,
        )
        self.quality_violations_metric = cloudwatch.Metric(
            namespace=metrics.namespace_quality,
            metric_name=metrics.quality_violations,
            dimensions_map=quality_dims,
            statistic="Maximum",
            period=period,
        )
        self.drift = cloudwatch.Alarm(
            self,
            "DataDrift",
            alarm_name=n.drift_alarm,
            alarm_description=(
                f"{endpoint_name}: share of drifted features >= "
                f"{config.monitoring.dataset_drift_share} (dataset drift). No value: no window "
                "with rows (the monitor-silent alarm watches that)."
            ),
            metric=self.drift_metric,
            threshold=config.monitoring.dataset_drift_share,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.quality = cloudwatch.Alarm(
            self,
            "ModelQuality",
            alarm_name=n.quality_alarm,
            alarm_description=(
                f"{endpoint_name}: model-quality violations: AUC below "
                f"{config.monitoring.min_auc}{drop}, AUC not computable for a window whose "
                f"labels are due, or more than {bad_share:g} of records unreadable; or no "
                "quality run finished (missing data is breaching)"
            ),
            metric=self.quality_violations_metric,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        # A monitor that stops reporting is itself a finding (SR 26-2 ongoing monitoring).
        self.silent = cloudwatch.Alarm(
            self,
            "MonitorSilent",
            alarm_name=n.alarm("monitoring-silent"),
            alarm_description=(
                f"{endpoint_name}: no drift result for {silent_period.to_hours():g} hours"
            ),
            metric=self.drift_metric.with_(statistic="SampleCount", period=silent_period),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

        def inputs(id_: str, job: str, namespace: str, dims: Mapping[str, str]) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self,
                id_,
                alarm_name=n.alarm(f"{job}-bad-records"),
                alarm_description=(
                    f"{endpoint_name}: more than {bad_share:g} of the {job} run's input records "
                    "could not be read (the report lists file, line and reason); or no run "
                    "finished (missing data is breaching)"
                ),
                metric=cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=metrics.bad_record_share,
                    dimensions_map=dict(dims),
                    statistic="Maximum",
                    period=period,
                ),
                threshold=bad_share,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            )

        self.drift_inputs = inputs("DriftInputs", "drift", metrics.namespace_drift, drift_dims)
        self.quality_inputs = inputs(
            "QualityInputs", "quality", metrics.namespace_quality, quality_dims
        )
        self.all: tuple[cloudwatch.Alarm, ...] = (
            self.drift, self.quality, self.silent, self.drift_inputs, self.quality_inputs,
        )  # fmt: skip
        # Explanation drift (pipeline mode): every run publishes its violation count, zero for
        # an idle hour, so a period without it means no run finished (breaching).
        self.explanation: cloudwatch.Alarm | None = None
        if explanation_schedule and metrics.namespace_explanation:
            limits = config.monitoring.explanation
            self.explanation = cloudwatch.Alarm(
                self,
                "ExplanationDrift",
                alarm_name=n.alarm("explanation-drift"),
                alarm_description=(
                    f"{endpoint_name}: explanation drift: NDCG of the feature-attribution "
                    f"ranking below {limits.min_ndcg:g}, attribution shift above "
                    f"{limits.max_attribution_shift:g}, or more than {bad_share:g} of records "
                    "unreadable; or no explanation run finished (missing data is breaching)"
                ),
                metric=cloudwatch.Metric(
                    namespace=metrics.namespace_explanation,
                    metric_name=metrics.explanation_violations,
                    dimensions_map={
                        "Endpoint": endpoint_name,
                        "MonitoringSchedule": explanation_schedule,
                    },
                    statistic="Maximum",
                    period=period,
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            )
            self.all = (*self.all, self.explanation)
        for alarm in self.all:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))


class EndpointDashboard(Construct):
    """One CloudWatch dashboard per endpoint: traffic, latency, errors, drift share, AUC."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint_name: str,
        alarms: MonitoringAlarms,
        rollback_alarms: Mapping[str, cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, id_)
        dims = {"EndpointName": endpoint_name, "VariantName": VARIANT_NAME}

        def sm(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map=dims,
                statistic=statistic,
                period=Duration.minutes(5),
            )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{endpoint_name}-model"
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Invocations", left=[sm("Invocations", "Sum")], width=8),
            cloudwatch.GraphWidget(
                title="Model latency (microseconds)",
                left=[sm("ModelLatency", "p50"), sm("ModelLatency", "p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    sm("Invocation4XXErrors", "Sum"),
                    sm("Invocation5XXErrors", "Sum"),
                    sm("InvocationModelErrors", "Sum"),
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Drifted feature share",
                left=[alarms.drift_metric],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=alarms.drift_threshold, label="dataset drift"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="AUC (labelled outcomes)",
                left=[alarms.auc_metric],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=alarms.auc_threshold, label="minimum")
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[*alarms.all, *rollback_alarms.values()],
                width=24,
            )
        )


class MonitoringStack(Stack):
    """Stage or prod: scheduled drift and quality monitoring of the deployed version, alarms,
    a dashboard, and (optionally) drift alarms forwarded to dev to start retraining.

    Attributes: `role`, `model_monitor` or `pipeline` (by mode), `alarms`, `dashboard`,
    `retrain_forwarder` (or None).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        environment: str,
        data: DataStack,
        network: Network,
        manifest: DeploymentManifest,
        root: Path,
        endpoint: sagemaker.CfnEndpoint | None,
        rollback_alarms: Mapping[str, cloudwatch.IAlarm],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, environment)
        if data.capture is None or data.monitoring_output is None:
            raise ValueError(f"{environment} is not a serving environment")
        mode = config.monitoring.mode
        # A batch model has no endpoint (endpoint=None): its scoring job writes the captures
        # where an endpoint of the model would (finmlops_cdk.batch), which only the pipeline
        # mode reads from S3; Model Monitor's schedules are bound to an endpoint.
        if endpoint is None and mode == "model_monitor":
            raise ValueError(
                f"models.{config.model.name}: a batch model is monitored with monitoring.mode "
                "pipeline; Model Monitor schedules monitor an endpoint"
            )
        image = MonitoringImage(self, "MonitoringImage", root=root)
        self.image = image
        metrics = MODEL_MONITOR_METRICS if mode == "model_monitor" else PIPELINE_METRICS
        self.role = MonitoringRole(
            self,
            "Role",
            n=n,
            data=data,
            image=image,
            metric_namespaces=metrics.namespaces,
        ).role

        self.model_monitor: ModelMonitorSchedules | None = None
        self.pipeline: MonitoringPipeline | None = None
        explanation_schedule: str | None = None
        if mode == "model_monitor":
            assert endpoint is not None  # refused above
            self.model_monitor = ModelMonitorSchedules(
                self,
                "ModelMonitor",
                config=config,
                n=n,
                manifest=manifest,
                role=self.role,
                image_uri=image.image_uri,
                network=network,
                key=data.data_key,
                output_bucket=n.bucket("monitoring"),
                endpoint=endpoint,
            )
            drift_schedule = self.model_monitor.drift_schedule_name
            quality_schedule = self.model_monitor.quality_schedule_name
        else:
            dlq = DeadLetterQueue(
                self,
                "ScheduleDlq",
                encryption_key=data.ops_key,
                alarm_topic=data.alerts,
                purpose="monitoring runs the scheduler could not start",
            )
            self.pipeline = MonitoringPipeline(
                self,
                "Pipeline",
                config=config,
                n=n,
                manifest=manifest,
                role=self.role,
                image_uri=image.image_uri,
                network=network,
                key=data.data_key,
                ops_key=data.ops_key,
                capture_bucket=n.bucket("capture"),
                output_bucket=n.bucket("monitoring"),
                dead_letter_queue=dlq,
            )
            if endpoint is not None:
                self.pipeline.pipeline.node.add_dependency(endpoint)
            drift_schedule = quality_schedule = self.pipeline.pipeline_name
            explanation_schedule = self.pipeline.pipeline_name

        self.alarms = MonitoringAlarms(
            self,
            "Alarms",
            config=config,
            n=n,
            metrics=metrics,
            drift_schedule=drift_schedule,
            quality_schedule=quality_schedule,
            topic=data.alerts,
            explanation_schedule=explanation_schedule,
        )
        self.dashboard = EndpointDashboard(
            self,
            "Dashboard",
            endpoint_name=n.endpoint_name,
            alarms=self.alarms,
            rollback_alarms=rollback_alarms,
        ).dashboard

        # The risk tier's re-review triggers (ADR 0030): these alarms entering ALARM go to
        # tooling's approval handler, which opens a re-validation record.
        self.revalidation_forwarder: EventForwarder | None = None
        kinds = config.governance.tier.revalidate_on
        if kinds:
            tooling = names(config, "tooling")
            alarm_names = sorted(
                n.drift_alarm if kind == "drift" else n.quality_alarm for kind in kinds
            )
            self.revalidation_forwarder = EventForwarder(
                self,
                "RevalidationForwarder",
                pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=[ALARM_STATE_CHANGE],
                    detail={"alarmName": alarm_names, "state": {"value": ["ALARM"]}},
                ),
                description="Drift or quality alarms -> re-validation record in tooling",
                target_bus_arn=default_bus_arn(
                    tooling.partition, tooling.env.account, tooling.env.region
                ),
                role_name=n.role(Role.REVALIDATION_FORWARDER),
                dead_letter_queue=DeadLetterQueue(
                    self,
                    "RevalidationForwardDlq",
                    encryption_key=data.ops_key,
                    alarm_topic=data.alerts,
                    purpose="alarms that could not open a re-validation in tooling",
                ),
            )

        self.retrain_forwarder: EventForwarder | None = None
        if config.monitoring.retrain_on_drift:
            dev = names(config, "dev")
            dlq = DeadLetterQueue(
                self,
                "RetrainForwardDlq",
                encryption_key=data.ops_key,
                alarm_topic=data.alerts,
                purpose="drift alarms that could not reach the dev account",
            )
            self.retrain_forwarder = EventForwarder(
                self,
                "RetrainForwarder",
                pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=[ALARM_STATE_CHANGE],
                    detail={"alarmName": [n.drift_alarm], "state": {"value": ["ALARM"]}},
                ),
                description="Data drift -> retraining in the dev account",
                target_bus_arn=default_bus_arn(dev.partition, dev.env.account, dev.env.region),
                role_name=n.role(Role.EVENT_FORWARDER),
                dead_letter_queue=dlq,
            )
