"""Model build (dev account): the SageMaker Pipeline with its execution role, shipped step code,
retraining triggers, the registry's people, the roles the tooling pipelines assume here (start a
build, record a version's lifecycle), and the forwarding of approvals to the tooling account.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.assets import MonitoringImage
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.events import (
    ALARM_STATE_CHANGE,
    APPROVED,
    MAX_EVENT_AGE,
    PENDING,
    REJECTED,
    RETRY_ATTEMPTS,
    AdmitForwarders,
    EventForwarder,
    PipelineSchedule,
    approval_pattern,
    default_bus_arn,
)
from finmlops_cdk.guardrails import register_pending_only
from finmlops_cdk.network import Network
from finmlops_cdk.sagemaker_roles import (
    EvidenceReaderRole,
    RegistryLifecycleRole,
    RegistryPeople,
    SageMakerExecutionRole,
    sagemaker_arn,
)
from finmlops_cdk.security import (
    DeadLetterQueue,
    audit_trail_access,
    encrypted_log_group,
    iam5_resource,
    kms_access,
    logs_access,
    managed_policy,
    object_ack,
    object_arn,
    s3_access,
    service_in_this_account,
)
from finmlops_cdk.tracking import MLFLOW_ACTIONS

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import Placeholder, Promotion
from finmlops.naming import BOOTSTRAP_QUALIFIER, Names, Role, names

BUILD_PREFIX = "model-build/"


class PipelineDefinitionLike(Protocol):
    """What `finmlops_pipelines.definition.build_pipeline_definition` returns."""

    @property
    def name(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def code_files(self) -> Mapping[str, Path]: ...


def placeholders_in(body: str) -> set[str]:
    """`${Name}` slots that need a value (pseudo parameters and `${!...}` escapes excluded)."""
    import re

    return {
        name for name in re.findall(r"\$\{([^}]+)\}", body) if not name.startswith(("AWS::", "!"))
    }


def substitute(body: str, values: Mapping[str, str]) -> str:
    """Fn::Sub of the definition with exactly the variables it uses."""
    wanted = placeholders_in(body)
    unknown = sorted(wanted - set(values))
    if unknown:
        raise ValueError(
            f"the pipeline definition uses placeholders the stack cannot fill: {', '.join(unknown)}"
        )
    return Fn.sub(body, {name: values[name] for name in sorted(wanted)})


class ShippedCode(Construct):
    """Step code copied to fixed keys of the artifact bucket before the pipeline can run.

    A CDK BucketDeployment (a deploy-time custom resource) with its own narrow role.
    Attributes: `deployment`, `role`, `keys`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        files: Mapping[str, Path],
        bucket: s3.IBucket,
        bucket_name: str,
        encryption_key: kms.IKey,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        partition = stack.partition
        assets_bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{stack.account}-{stack.region}"
        log_group = encrypted_log_group(self, "Logs", encryption_key=log_key)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Deploy-time copy of step code into the artifact bucket",
        )
        policy = managed_policy(
            self,
            "Permissions",
            role=self.role,
            statements=[
                *s3_access(
                    sid="ReadStagedAssets", partition=partition, bucket=assets_bucket, read=True
                ),
                *s3_access(
                    sid="WriteStepCode",
                    partition=partition,
                    bucket=bucket_name,
                    read=True,
                    write=True,
                    list_objects=True,
                ),
                kms_access(
                    sid="EncryptStepCode",
                    key_arn=encryption_key.key_arn,
                    decrypt=True,
                    encrypt=True,
                ),
                logs_access(sid="Logs", log_group=log_group),
            ],
        )
        acknowledge(
            policy,
            object_ack(
                partition,
                assets_bucket,
                "",
                "The CDK bootstrap assets bucket of this account, where `cdk deploy` staged "
                "the step code; asset keys are content hashes.",
            )
            | object_ack(
                partition,
                bucket_name,
                "",
                "Step code and the shipped dataset go to several fixed prefixes (code/, data/) "
                "named by the pipeline definition.",
            ),
        )
        with tempfile.TemporaryDirectory(prefix="finmlops-code-") as staging:
            for key, path in sorted(files.items()):
                target = Path(staging) / key
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            # The asset is staged into the cloud assembly here, so the directory can go.
            self.deployment = s3_deployment.BucketDeployment(
                self,
                "Deployment",
                destination_bucket=bucket,
                sources=[s3_deployment.Source.asset(staging)],
                prune=False,  # older code keys stay: past executions reference them
                retain_on_delete=True,
                server_side_encryption=s3_deployment.ServerSideEncryption.AWS_KMS,
                server_side_encryption_aws_kms_key_id=encryption_key.key_id,
                memory_limit=512,
                role=self.role.without_policy_updates(),
                log_group=log_group,
            )
        self.deployment.node.add_dependency(policy)
        self.keys = sorted(files)
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(child, BUCKET_DEPLOYMENT_REASONS)


BUCKET_DEPLOYMENT_REASONS = {
    "AwsSolutions-L1": "CDK's BucketDeployment provider pins its own runtime; it runs only "
    "during CloudFormation deployments, never on data.",
    "NIST.800.53.R5-LambdaConcurrency": "Deploy-time custom resource invoked once per "
    "CloudFormation update; concurrency is bounded by the deployment itself.",
    "NIST.800.53.R5-LambdaDLQ": "Invoked synchronously by CloudFormation, which records "
    "and rolls back a failed invocation; there is no asynchronous event to lose.",
    "NIST.800.53.R5-LambdaInsideVPC": "Deploy-time copy between two S3 buckets of this "
    "account over TLS; the VPC's route tables are not in the config (docs/cdk.md).",
    "PCI.DSS.321-LambdaConcurrency": "Deploy-time custom resource invoked once per "
    "CloudFormation update; concurrency is bounded by the deployment itself.",
    "PCI.DSS.321-LambdaDLQ": "Invoked synchronously by CloudFormation, which records "
    "and rolls back a failed invocation; there is no asynchronous event to lose.",
    "PCI.DSS.321-LambdaInsideVPC": "Deploy-time copy between two S3 buckets of this "
    "account over TLS; the VPC's route tables are not in the config (docs/cdk.md).",
}


class ModelBuildPipeline(Construct):
    """The AWS::SageMaker::Pipeline holding the definition, with placeholders filled by Fn::Sub.

    Attributes: `pipeline` (CfnPipeline), `pipeline_name`, `pipeline_arn`, `code`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        definition: PipelineDefinitionLike,
        role: iam.IRole,
        values: Mapping[str, str],
        bucket: s3.IBucket,
        bucket_name: str,
        data_key: kms.IKey,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        self.code = ShippedCode(
            self,
            "Code",
            files=definition.code_files,
            bucket=bucket,
            bucket_name=bucket_name,
            encryption_key=data_key,
            log_key=log_key,
        )
        self.pipeline_name = definition.name
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=definition.name,
            pipeline_display_name=definition.name,
            pipeline_description="Model build: preprocess, train, evaluate, baseline, register",
            role_arn=role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": substitute(definition.body, values)},
        )
        # The definition references the shipped keys: they exist before the pipeline does.
        self.pipeline.node.add_dependency(self.code.deployment)
        self.pipeline_arn = sagemaker_arn(Stack.of(self), f"pipeline/{definition.name.lower()}")


class PipelineTarget(Construct):
    """An EventBridge rule (L1: the L2 has no SageMaker target) that starts a pipeline,
    with a retry policy and a dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pattern: Mapping[str, Any],
        description: str,
        pipeline_arn: str,
        dead_letter_queue: DeadLetterQueue,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=service_in_this_account(self, "events"),
            description="EventBridge: start the model-build pipeline",
        )
        iam.ManagedPolicy(
            self,
            "Start",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:StartPipelineExecution"], resources=[pipeline_arn]
                )
            ],
        )
        self.rule = events.CfnRule(
            self,
            "Rule",
            description=description,
            event_pattern=dict(pattern),
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="StartModelBuild",
                    arn=pipeline_arn,
                    role_arn=self.role.role_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_retry_attempts=RETRY_ATTEMPTS,
                        maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                    ),
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                        arn=dead_letter_queue.queue.queue_arn
                    ),
                    sage_maker_pipeline_parameters=events.CfnRule.SageMakerPipelineParametersProperty(
                        pipeline_parameter_list=[]
                    ),
                )
            ],
        )
        dead_letter_queue.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"EventBridge{id_}",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[dead_letter_queue.queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.rule.attr_arn}},
            )
        )


class ModelBuildStack(Stack):
    """Dev account: everything that turns data into a registered, pending model version.

    Attributes: `execution_role`, `pipeline` (ModelBuildPipeline), `people` (RegistryPeople),
    `build_starter`, `registry_lifecycle`, `evidence_reader` (roles tooling assumes),
    `approval_forwarder`, `retrain_on_drift` (or None), `retrain_schedule` (or None).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        data: DataStack,
        network: Network,
        definition: PipelineDefinitionLike,
        root: Path,
        alerts: sns.ITopic,
        retrain_schedule: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, "dev")
        if data.model_package_group is None or data.artifacts is None:
            raise ValueError("the model-build stack needs the dev data stack (it has the registry)")
        artifacts = data.artifacts

        self.execution_role = SageMakerExecutionRole(
            self,
            "ExecutionRole",
            role_name=n.role(Role.BUILD),
            description="SageMaker model-build pipeline and its jobs",
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            volume_key=data.data_key,
        )
        role = self.execution_role.role
        self._grant_build(n)
        monitoring_image = MonitoringImage(self, "MonitoringImage", root=root)
        self.monitoring_image = monitoring_image
        self.execution_role.pull_image(monitoring_image.asset.repository.repository_arn)

        tracking_uri = self._tracking(config, data)
        values = {
            Placeholder.ARTIFACT_BUCKET: artifacts.bucket_name,
            Placeholder.MODEL_PACKAGE_GROUP: config.model.package_group,
            Placeholder.EXECUTION_ROLE_NAME: role.role_name,
            Placeholder.KMS_KEY_ARN: data.data_key.key_arn,
            Placeholder.SECURITY_GROUP_ID: network.job_security_group.security_group_id,
            Placeholder.PROJECT_IMAGE_URI: monitoring_image.image_uri,
        }
        if tracking_uri is not None:
            values[Placeholder.MLFLOW_TRACKING_URI] = tracking_uri
        self.pipeline = ModelBuildPipeline(
            self,
            "ModelBuild",
            definition=definition,
            role=role,
            values=values,
            bucket=artifacts,
            bucket_name=n.artifact_bucket,
            data_key=data.data_key,
            log_key=data.ops_key,
        )
        self.pipeline.pipeline.node.add_dependency(data.model_package_group)
        # The pipeline service passes this role to the jobs it starts.
        self.execution_role.allow(
            iam.PolicyStatement(
                sid="PassRoleToOwnJobs",
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

        # The platform pipeline (tooling) starts one build per deployed commit, nothing more,
        # from its StartModelBuild action, whose role runs no repository code (ADR 0012).
        tooling = names(config, "tooling")
        self.build_starter = iam.Role(
            self,
            "BuildStarter",
            role_name=n.role(Role.BUILD_STARTER),
            description="Tooling's platform pipeline: start the model build after a deploy",
            assumed_by=iam.ArnPrincipal(tooling.role_arn(Role.START_BUILD)),
            max_session_duration=Duration.hours(1),
        )
        starter_policy = managed_policy(
            self,
            "BuildStarterPermissions",
            role=self.build_starter,
            statements=[
                iam.PolicyStatement(
                    sid="StartModelBuild",
                    actions=["sagemaker:StartPipelineExecution", "sagemaker:DescribePipeline"],
                    resources=[self.pipeline.pipeline_arn],
                ),
                # The champion the build compares with is read from the registry's
                # ModelLifeCycle (finmlops.registry.champion, ADR 0029).
                iam.PolicyStatement(
                    sid="ReadChampion",
                    actions=["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                    resources=[n.model_package_group_arn, n.model_packages_arn],
                ),
            ],
        )
        acknowledge(
            starter_policy,
            {
                iam5_resource(n.model_packages_arn): "Every version of this one model group: "
                "the build reads which one serves in prod (ModelLifeCycle) to compare with it."
            },
        )

        self.registry_lifecycle = RegistryLifecycleRole(
            self,
            "RegistryLifecycle",
            role_name=n.role(Role.REGISTRY_LIFECYCLE),
            automation_arns=[tooling.role_arn(Role.promote(env)) for env in SERVING_ENVIRONMENTS],
            operator_arn=tooling.role_arn(Role.OPERATOR),
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
        ).role

        # Tooling's promotion gate reads the executions and the evidence here (ADR 0016).
        self.evidence_reader = EvidenceReaderRole(
            self,
            "EvidenceReader",
            role_name=n.role(Role.EVIDENCE_READER),
            reader_arns=[
                tooling.role_arn(Role.RESOLVER),
                *(tooling.role_arn(Role.promote(env)) for env in SERVING_ENVIRONMENTS),
            ],
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            pipeline_arn=self.pipeline.pipeline_arn,
            partition=n.partition,
            artifact_bucket=n.artifact_bucket,
            evidence_prefix=BUILD_PREFIX,
            data_key_arn=data.data_key.key_arn,
        ).role

        self.people = RegistryPeople(
            self,
            "RegistryPeople",
            approver_role_name=config.governance.approver_role,
            data_scientist_role_name=n.role(Role.DATA_SCIENTIST),
            validator_role_name=n.role(Role.VALIDATOR),
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            pipeline_arn=self.pipeline.pipeline_arn,
            evidence=[
                *s3_access(
                    sid="ReadEvidence",
                    partition=n.partition,
                    bucket=n.artifact_bucket,
                    prefix=BUILD_PREFIX,
                    read=True,
                    list_objects=True,
                ),
                kms_access(sid="DecryptEvidence", key_arn=data.data_key.key_arn, decrypt=True),
                # Decisions go to the one audit trail, tooling's (finmlops.registry's default).
                *audit_trail_access(
                    sid="WriteAuditRecords", partition=n.partition, bucket=tooling.audit_bucket
                ),
                iam.PolicyStatement(
                    sid="EncryptAuditRecords",
                    actions=[
                        "kms:DescribeKey",
                        "kms:Encrypt",
                        "kms:GenerateDataKey",
                        "kms:Decrypt",
                    ],
                    resources=[
                        f"arn:{n.partition}:kms:{tooling.env.region}:{tooling.env.account}:key/*"
                    ],
                    conditions={
                        "ForAnyValue:StringEquals": {
                            "kms:ResourceAliases": f"alias/{config.project}-tooling-audit"
                        },
                        "StringEquals": {
                            "kms:ViaService": f"s3.{tooling.env.region}.amazonaws.com"
                        },
                    },
                ),
            ],
            evidence_reasons=object_ack(
                n.partition,
                n.artifact_bucket,
                BUILD_PREFIX,
                "Evidence of every version (metrics, fairness, baselines) under model-build/.",
            )
            | object_ack(
                n.partition,
                tooling.audit_bucket,
                Promotion.AUDIT_PREFIX,
                "One append-only record per decision under audit/ (Object Lock, compliance).",
            )
            | {
                iam5_resource(
                    f"arn:{n.partition}:kms:{tooling.env.region}:{tooling.env.account}:key/*"
                ): "The tooling audit key, named by its alias (kms:ResourceAliases) because its "
                "id is generated in another account; used only through S3 (kms:ViaService).",
            },
        )

        # Decisions on our group leave dev (Approved to promote, Rejected to be audited).
        forward_dlq = DeadLetterQueue(
            self,
            "ApprovalForwardDlq",
            encryption_key=data.ops_key,
            alarm_topic=alerts,
            purpose="approval decisions that could not reach the tooling account",
        )
        # Approvals promote, rejections are audited, and a pending version's changes carry the
        # validators' sign-offs (ADR 0030), which the handler binds.
        self.approval_forwarder = EventForwarder(
            self,
            "ApprovalForwarder",
            pattern=approval_pattern(config, (APPROVED, REJECTED, PENDING)),
            description="Approval decisions and sign-offs on the model group -> tooling account",
            target_bus_arn=default_bus_arn(
                tooling.partition, tooling.env.account, tooling.env.region
            ),
            role_name=n.role(Role.EVENT_FORWARDER),
            dead_letter_queue=forward_dlq,
        )

        self.retrain_on_drift: PipelineTarget | None = None
        if config.monitoring.retrain_on_drift:
            senders = [
                (names(config, env).env.account, names(config, env).role_arn(Role.EVENT_FORWARDER))
                for env in SERVING_ENVIRONMENTS
            ]
            self.admit_drift = AdmitForwarders(
                self, "AdmitDriftAlarms", statement_id="DriftAlarmsFromServing", senders=senders
            )
            retrain_dlq = DeadLetterQueue(
                self,
                "RetrainDlq",
                encryption_key=data.ops_key,
                alarm_topic=alerts,
                purpose="drift alarms that could not start retraining",
            )
            self.retrain_on_drift = PipelineTarget(
                self,
                "RetrainOnDrift",
                pattern={
                    "source": ["aws.cloudwatch"],
                    "detail-type": [ALARM_STATE_CHANGE],
                    "account": sorted(account for account, _ in senders),
                    "detail": {
                        "alarmName": [
                            names(config, env).drift_alarm for env in SERVING_ENVIRONMENTS
                        ],
                        "state": {"value": ["ALARM"]},
                    },
                },
                description="Data drift in stage or prod -> retrain",
                pipeline_arn=self.pipeline.pipeline_arn,
                dead_letter_queue=retrain_dlq,
            )

        self.retrain_schedule: PipelineSchedule | None = None
        if retrain_schedule:
            schedule_dlq = DeadLetterQueue(
                self,
                "RetrainScheduleDlq",
                encryption_key=data.ops_key,
                alarm_topic=alerts,
                purpose="scheduled retraining runs that could not start",
            )
            self.retrain_schedule = PipelineSchedule(
                self,
                "RetrainSchedule",
                expression=retrain_schedule,
                description="Scheduled retraining of the model",
                pipeline_arn=self.pipeline.pipeline_arn,
                dead_letter_queue=schedule_dlq,
                encryption_key=data.ops_key,
            )

    def _tracking(self, config: Config, data: DataStack) -> str | None:
        """The MLflow server the Track step logs to (None unless config.tracking.mode is
        "sagemaker"): the configured ARN, or the platform's server in dev's data stack."""
        tracking = config.tracking
        if tracking.mode != "sagemaker":
            return None
        if tracking.uri:
            arn = str(tracking.uri)
        elif data.tracking is not None:
            arn = data.tracking.arn
        else:
            raise ValueError("tracking mode sagemaker without a uri needs dev's tracking server")
        self.execution_role.allow(
            iam.PolicyStatement(sid="LogRuns", actions=list(MLFLOW_ACTIONS), resources=[arn]),
            iam.PolicyStatement(
                sid="FindTrackingServer",
                actions=["sagemaker:DescribeMlflowTrackingServer"],
                resources=[arn],
            ),
        )
        return arn

    def _grant_build(self, n: Names) -> None:
        execution = self.execution_role
        stack = Stack.of(self)
        # A version is born PendingManualApproval, with no decision and no lifecycle: the allow
        # goes with the permissions, the denies with the guardrails.
        registration = register_pending_only(
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
        )
        execution.policy.add_statements(*registration[1:])
        jobs = [
            sagemaker_arn(stack, "processing-job/pipelines-*"),
            sagemaker_arn(stack, "training-job/pipelines-*"),
        ]
        execution.allow(
            *s3_access(
                sid="ArtifactBucket",
                partition=n.partition,
                bucket=n.artifact_bucket,
                read=True,
                write=True,
                list_objects=True,
            ),
            iam.PolicyStatement(
                sid="RunPipelineJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=jobs,
            ),
            iam.PolicyStatement(
                sid="ReadAndTagVersions",
                actions=[
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListModelPackages",
                    # CreateModelPackage with Tags also needs AddTags (its dependent action).
                    "sagemaker:AddTags",
                ],
                resources=[n.model_package_group_arn, n.model_packages_arn],
            ),
            registration[0],
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={
                    "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}
                },
            ),
        )
        pipelines_jobs = (
            "SageMaker Pipelines names its jobs pipelines-<execution>-<step>-<suffix>; "
        )
        execution.acknowledge(
            {
                iam5_resource(jobs[0]): pipelines_jobs + "the prefix is the narrowest ARN.",
                iam5_resource(jobs[1]): pipelines_jobs + "the prefix is the narrowest ARN.",
                iam5_resource(n.model_packages_arn): "Every version of this one model package "
                "group (versions are numbered by SageMaker at registration).",
                iam5_resource(object_arn(n.partition, n.artifact_bucket)): "The pipeline's own "
                "artifact bucket: step code, datasets, splits, models, evaluations, baselines "
                "under prefixes the SDK derives per execution.",
            }
        )
