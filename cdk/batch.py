"""Batch serving (stage and prod): the approved version scores the model's input files on a
schedule, and its outputs feed the same drift and quality monitoring an endpoint's capture does.

A one-step SageMaker Pipeline, started by EventBridge Scheduler on `config.serving.schedule`,
runs `python -m finmlops.serving.batch` (the project's image) as a processing job in the VPC,
volumes and outputs under the environment's data key (docs/decisions/0034). Its inputs are the
served archive the deployment manifest names (`model_data_url`: the version promoted after the
approvals) and the model's input prefix; it writes scores under the model's output prefix, one
folder per execution, and capture records where the monitoring pipeline reads an endpoint's
(`capture/<model>-<environment>/AllTraffic/`, the same name an endpoint would have).

Every prefix is in the environment's capture bucket, whose lifecycle expires personal data
(`monitoring.capture_retention_days`): a portfolio's input rows are personal data as much as an
endpoint's requests are.

| prefix (capture bucket)                        | who                                   |
|------------------------------------------------|---------------------------------------|
| batch/<model>/input/                           | the upstream writes, the job reads    |
| batch/<model>/output/<execution>/              | the job writes scores and its report  |
| capture/<model>-<environment>/AllTraffic/...   | the job writes, monitoring reads      |

Promotion switches the version by re-synthesizing this stack with the new manifest: the
pipeline's definition names the new archive, and the next scheduled run scores with it.

Names are per model, computed here from `config.model.name` (finmlops.naming has none for batch):
the pipeline `<model>-<environment>-batch`, the role `<project>-<environment>-batch-<model>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.assets import MonitoringImage
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.endpoint import CAPTURE_PREFIX, smoke_test_role
from finmlops_cdk.events import PipelineSchedule, reliable
from finmlops_cdk.manifest import ManifestError
from finmlops_cdk.monitoring import MAX_RUNTIME_SECONDS, VOLUME_SIZE_GB, model_artifact_uri
from finmlops_cdk.network import Network
from finmlops_cdk.sagemaker_roles import SageMakerExecutionRole, sagemaker_arn
from finmlops_cdk.security import (
    DeadLetterQueue,
    iam5_resource,
    kms_access,
    object_ack,
    s3_access,
    service_in_this_account,
)

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest
from finmlops.naming import VARIANT_NAME, Names, names
from finmlops.serving import batch as step

BATCH_PREFIX = "batch"
# The batch pipeline's tag naming the version it scores with (the promotion's smoke test reads it).
PACKAGE_TAG = "model-package-arn"
ENTRYPOINT = ["python3", "-m", "finmlops.serving.batch"]
# The event SageMaker sends when an execution changes status (source aws.sagemaker; detail
# `pipelineArn`, `currentPipelineExecutionStatus`: the EventBridge schema aws.sagemaker@
# SageMakerModelBuildingPipelineExecutionStatusChange; statuses as API PipelineExecutionStatus).
PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
ENDED_BADLY = ("Failed", "Stopped")


def input_prefix(config: Config) -> str:
    """Where the upstream puts the files the next run scores (a key prefix of the capture bucket)."""
    return f"{BATCH_PREFIX}/{config.model.name}/input/"


def output_prefix(config: Config) -> str:
    return f"{BATCH_PREFIX}/{config.model.name}/output/"


def batch_role_purpose(config: Config) -> str:
    """The role's purpose in `Names.role`: one role per batch model and environment."""
    return f"batch-{config.model.name}"


def pipeline_name(n: Names) -> str:
    return f"{n.endpoint_name}-batch"


def capture_prefix(n: Names) -> str:
    """Where an endpoint of this model would capture, and the monitoring pipeline reads."""
    return f"{CAPTURE_PREFIX}/{n.endpoint_name}/{VARIANT_NAME}/"


class BatchRole(Construct):
    """The batch job's role: reads this model's approved archive and input prefix, writes its
    output and capture prefixes, and nothing else of the buckets (the platform's guardrails of
    SageMakerExecutionRole included).

    The archive read is one object, the manifest's `model_data_url` (`s3:GetObject` on its ARN;
    `s3:ListBucket` conditioned on `s3:prefix` equal to its key, the listing a ProcessingS3Input
    of S3DataType S3Prefix makes: SageMaker API Reference, ProcessingS3Input.S3Uri "identifies
    either a key name prefix or a manifest"; Service Authorization Reference for S3, `s3:prefix`
    is a condition key of ListBucket). Attribute: `role`, `execution`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        data: DataStack,
        artifact_uri: str,
        image: MonitoringImage,
    ) -> None:
        super().__init__(scope, id_)
        self.execution = SageMakerExecutionRole(
            self,
            "Execution",
            role_name=n.role(batch_role_purpose(config)),
            description=f"Batch scoring of {config.model.name}: its approved archive and input "
            "prefix in, its scores and captures out",
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            volume_key=data.data_key,
            isolation_actions=(),
        )
        self.role = self.execution.role
        capture = n.bucket("capture")
        bucket, _, key = artifact_uri.removeprefix("s3://").partition("/")
        dev = n.registry_env
        dev_keys = f"arn:{n.partition}:kms:{dev.region}:{dev.account}:key/*"
        self.execution.allow(
            iam.PolicyStatement(
                sid="ReadApprovedArchive",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"arn:{n.partition}:s3:::{bucket}/{key}"],
            ),
            iam.PolicyStatement(
                sid="ListApprovedArchive",
                actions=["s3:ListBucket"],
                resources=[f"arn:{n.partition}:s3:::{bucket}"],
                conditions={"StringEquals": {"s3:prefix": [key]}},
            ),
            iam.PolicyStatement(
                sid="DecryptApprovedArchive",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[dev_keys],
                conditions={
                    "ForAnyValue:StringEquals": {
                        "kms:ResourceAliases": names(config, "dev").data_key_alias
                    },
                    "StringEquals": {"kms:ViaService": f"s3.{dev.region}.amazonaws.com"},
                },
            ),
            *s3_access(
                sid="ReadInput",
                partition=n.partition,
                bucket=capture,
                prefix=input_prefix(config),
                read=True,
                list_objects=True,
            ),
            *s3_access(
                sid="WriteScores",
                partition=n.partition,
                bucket=capture,
                prefix=output_prefix(config),
                write=True,
            ),
            *s3_access(
                sid="WriteCapture",
                partition=n.partition,
                bucket=capture,
                prefix=capture_prefix(n),
                write=True,
            ),
        )
        self.execution.pull_image(image.asset.repository.repository_arn)
        self.execution.acknowledge(
            {
                iam5_resource(dev_keys): "The dev data key's id is generated; the "
                "kms:ResourceAliases condition pins it to the one key behind the data alias.",
            }
            | object_ack(
                n.partition,
                capture,
                input_prefix(config),
                "The files the upstream delivers for this model's next run (read only).",
            )
            | object_ack(
                n.partition,
                capture,
                output_prefix(config),
                "Scores and the run report, one folder per pipeline execution (generated id).",
            )
            | object_ack(
                n.partition,
                capture,
                capture_prefix(n),
                "Capture records under hour folders yyyy/mm/dd/hh/, as an endpoint writes them.",
            )
        )


class BatchScoringPipeline(Construct):
    """The one-step pipeline that scores the input prefix with the manifest's archive, and the
    EventBridge Scheduler schedule that starts it (retry policy, DLQ, KMS).

    Attributes: `pipeline`, `pipeline_name`, `schedule`, `definition` (the body, as a dict).
    """

    STEP = "BatchScore"

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        manifest: DeploymentManifest,
        artifact_uri: str,
        role: iam.Role,
        image_uri: str,
        network: Network,
        key: kms.IKey,
        ops_key: kms.IKey,
        dead_letter_queue: DeadLetterQueue,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        if not config.serving.batch or config.serving.schedule is None:
            raise ValueError(
                f"models.{config.model.name}.serving: mode is {config.serving.mode!r}; a batch "
                "stack is for a model with serving mode batch and a schedule"
            )
        self.pipeline_name = pipeline_name(n)
        capture = n.bucket("capture")

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

        def s3_output(name: str, uri: Any, local: str) -> dict[str, Any]:
            return {
                "OutputName": name,
                "AppManaged": False,
                "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
            }

        execution_id = {"Get": "Execution.PipelineExecutionId"}
        arguments = [
            "--model-name", config.model.name,
            "--model", step.MODEL_DIR,
            "--input", step.INPUT_DIR,
            "--scores", step.SCORES_DIR,
            "--capture", step.CAPTURE_DIR,
            "--max-bad-share", f"{config.monitoring.max_bad_record_share:g}",
            "--model-package-arn", manifest.model_package_arn,
            "--model-version", str(manifest.version),
        ]  # fmt: skip
        self.definition: dict[str, Any] = {
            "Version": "2020-12-01",
            "Metadata": {},
            "Parameters": [],
            # No SageMaker Experiments entities: the role may not create them (as monitoring).
            "PipelineExperimentConfig": None,
            "Steps": [
                {
                    "Name": self.STEP,
                    "Type": "Processing",
                    "Arguments": {
                        "AppSpecification": {
                            "ImageUri": image_uri,
                            "ContainerEntrypoint": ENTRYPOINT,
                            "ContainerArguments": arguments,
                        },
                        "RoleArn": role.role_arn,
                        "ProcessingResources": {
                            "ClusterConfig": {
                                "InstanceCount": 1,
                                "InstanceType": n.env.instances.monitoring,
                                "VolumeSizeInGB": VOLUME_SIZE_GB,
                                "VolumeKmsKeyId": key.key_arn,
                            }
                        },
                        "ProcessingInputs": [
                            s3_input("model", artifact_uri, step.MODEL_DIR),
                            s3_input(
                                "input", f"s3://{capture}/{input_prefix(config)}", step.INPUT_DIR
                            ),
                        ],
                        "ProcessingOutputConfig": {
                            "KmsKeyId": key.key_arn,
                            "Outputs": [
                                s3_output(
                                    "scores",
                                    {
                                        "Std:Join": {
                                            "On": "/",
                                            "Values": [
                                                f"s3://{capture}/{output_prefix(config).rstrip('/')}",
                                                execution_id,
                                            ],
                                        }
                                    },
                                    step.SCORES_DIR,
                                ),
                                s3_output(
                                    "capture",
                                    f"s3://{capture}/{capture_prefix(n).rstrip('/')}",
                                    step.CAPTURE_DIR,
                                ),
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
                        # The run's time and id, as SageMaker records the execution: every
                        # capture of one run carries the time its execution started.
                        "Environment": {
                            step.ENV_SCORED_AT: {"Get": "Execution.StartDateTime"},
                            step.ENV_RUN_ID: execution_id,
                        },
                    },
                }
            ],
        }
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.pipeline_name,
            pipeline_display_name=self.pipeline_name,
            pipeline_description=(
                f"Batch scoring of {config.model.name} with version {manifest.version}"
            ),
            role_arn=role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": stack.to_json_string(self.definition)},
        )
        Tags.of(self.pipeline).add("model-package-version", str(manifest.version))
        # What the promotion's smoke test compares with the version it promotes, as it compares
        # an endpoint model's ModelPackageName (tag values: 256 characters; an ARN fits).
        Tags.of(self.pipeline).add(PACKAGE_TAG, manifest.model_package_arn)
        pipeline_arn = sagemaker_arn(stack, f"pipeline/{self.pipeline_name.lower()}")
        jobs = sagemaker_arn(stack, "processing-job/pipelines-*")
        runs = iam.ManagedPolicy(
            self,
            "RunJobs",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="RunBatchJobs",
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
            expression=config.serving.schedule,
            description=f"Batch scoring of {config.model.name}",
            pipeline_arn=pipeline_arn,
            dead_letter_queue=dead_letter_queue,
            encryption_key=ops_key,
        ).schedule
        self.schedule.node.add_dependency(self.pipeline)


class BatchRunAlerts(Construct):
    """A run that fails or is stopped is an alert on the environment's topic: a portfolio left
    unscored is an incident, not something to find at the next monitoring run. The rule's target
    retries, then dead-letters to an encrypted queue whose alarm notifies the same topic.

    Attributes: `rule`, `role`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline_arn: str,
        description: str,
        topic: sns.ITopic,
        key: kms.IKey,
        dead_letter_queue: DeadLetterQueue,
    ) -> None:
        super().__init__(scope, id_)
        self.rule = events.Rule(
            self,
            "RunEndedBadly",
            description=f"{description}: an execution failed or was stopped",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[PIPELINE_STATUS_CHANGE],
                detail={
                    "pipelineArn": [pipeline_arn],
                    "currentPipelineExecutionStatus": list(ENDED_BADLY),
                },
            ),
        )
        # Published with a role of this account's EventBridge (a managed policy: publish to
        # this topic, use its key), not through a topic policy that admits the events service
        # principal of any account.
        self.role = iam.Role(
            self,
            "PublishRole",
            assumed_by=service_in_this_account(self, "events"),
            description=f"EventBridge: {description} alerts to the alerts topic",
        )
        iam.ManagedPolicy(
            self,
            "Publish",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]),
                kms_access(sid="EncryptAlerts", key_arn=key.key_arn, decrypt=True, encrypt=True),
            ],
        )
        status = events.EventField.from_path("$.detail.currentPipelineExecutionStatus")
        execution = events.EventField.from_path("$.detail.pipelineExecutionArn")
        self.rule.add_target(
            targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"{description}: execution {execution} ended {status}; nothing of it was "
                    "scored or captured (its failure reason names the file and line)"
                ),
                role=self.role.without_policy_updates(),
                authorize_using_role=True,
                **reliable(dead_letter_queue),
            )
        )


class BatchSmokeTestRole(Construct):
    """Assumed by this environment's promotion (tooling) to check the batch pipeline after the
    deploy: `promote record` (DescribePipeline: Active, its scoring step reads the manifest's
    archive) and the stage smoke test (its status and the version it is tagged with). The role an
    endpoint model's smoke test has (`Role.SMOKE_TEST`), scoped to this pipeline, read-only."""

    def __init__(self, scope: Construct, id_: str, *, n: Names, pipeline_arn: str) -> None:
        super().__init__(scope, id_)
        self.role = smoke_test_role(
            self, n, "Promotion smoke test: describe this batch pipeline only"
        )
        iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="DescribeBatchPipeline",
                    actions=["sagemaker:DescribePipeline", "sagemaker:ListTags"],
                    resources=[pipeline_arn],
                )
            ],
        )


class BatchStack(Stack):
    """Stage or prod: a batch model's scheduled scoring with the approved version.

    Takes the same props as `EndpointStack` (config, environment, data, network, manifest) and
    the repository root (the project image is built from it, as the monitoring stack's is).
    Attributes: `role`, `scoring` (BatchScoringPipeline), `alerts`, `manifest`, `artifact_uri`,
    `input_uri`, `output_uri`, `capture_uri`.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, environment)
        if data.capture is None:
            raise ValueError(
                f"{environment} has no capture bucket: it is not a serving environment"
            )
        if manifest.model_package_group != config.model.package_group:
            # In a portfolio each model's stack takes its own manifest: another group's version
            # would score this model's portfolio with another model.
            raise ManifestError(
                f"manifest: model_package_group {manifest.model_package_group!r} is not "
                f"models.{config.model.name}.package_group {config.model.package_group!r}"
            )
        self.manifest = manifest
        # The approved archive, checked to sit under the registry's model-build outputs.
        self.artifact_uri = model_artifact_uri(manifest, n)
        capture = n.bucket("capture")
        self.input_uri = f"s3://{capture}/{input_prefix(config)}"
        self.output_uri = f"s3://{capture}/{output_prefix(config)}"
        self.capture_uri = f"s3://{capture}/{capture_prefix(n)}"
        image = MonitoringImage(self, "ProjectImage", root=root)
        batch_role = BatchRole(
            self,
            "Role",
            config=config,
            n=n,
            data=data,
            artifact_uri=self.artifact_uri,
            image=image,
        )
        self.role = batch_role.role
        dlq = DeadLetterQueue(
            self,
            "ScheduleDlq",
            encryption_key=data.ops_key,
            alarm_topic=data.alerts,
            purpose="batch scoring runs the scheduler could not start",
        )
        self.scoring = BatchScoringPipeline(
            self,
            "Scoring",
            config=config,
            n=n,
            manifest=manifest,
            artifact_uri=self.artifact_uri,
            role=self.role,
            image_uri=image.image_uri,
            network=network,
            key=data.data_key,
            ops_key=data.ops_key,
            dead_letter_queue=dlq,
        )
        alerts_dlq = DeadLetterQueue(
            self,
            "AlertsDlq",
            encryption_key=data.ops_key,
            alarm_topic=data.alerts,
            purpose="batch-run alerts that could not reach the alerts topic",
        )
        self.alerts = BatchRunAlerts(
            self,
            "RunAlerts",
            pipeline_arn=sagemaker_arn(self, f"pipeline/{self.scoring.pipeline_name.lower()}"),
            description=f"Batch scoring of {config.model.name} in {environment}",
            topic=data.alerts,
            key=data.ops_key,
            dead_letter_queue=alerts_dlq,
        )
        self.smoke_test = BatchSmokeTestRole(
            self,
            "SmokeTest",
            n=n,
            pipeline_arn=sagemaker_arn(self, f"pipeline/{self.scoring.pipeline_name.lower()}"),
        )
        # The pipeline is created once its role can read and write what its job does.
        self.scoring.pipeline.node.add_dependency(
            batch_role.execution.policy, batch_role.execution.permissions
        )
        CfnOutput(self, "BatchPipelineName", value=self.scoring.pipeline_name)
        CfnOutput(self, "BatchInputUri", value=self.input_uri)
        CfnOutput(self, "ModelPackageArn", value=manifest.model_package_arn)
