"""Promotion (tooling account): the platform pipeline and the model promotion path.

- Platform: source (S3 object, or any Git provider through a CodeStar connection) -> build and
  test (CodeBuild running buildspec.yml) -> deploy dev.
- Model promotion: the dev account forwards "Approved" events of our group to this account's
  bus; a rule (retry policy, dead-letter queue) invokes the approval-event handler
  (`finmlops.registry.handler`), which checks the version and starts the promotion pipeline with
  the version's ARN as a pipeline variable: resolve the manifest and synthesize -> deploy stage
  -> smoke test -> manual approval -> deploy prod (fails safe: rollback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.assets import package_code
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.events import REJECTED, AdmitForwarders, approval_pattern, reliable
from finmlops_cdk.functions import FunctionSettings, project_function
from finmlops_cdk.security import (
    DeadLetterQueue,
    SecureBucket,
    audit_trail_access,
    encrypted_log_group,
    iam5_resource,
    kms_access,
    logs_access,
    managed_policy,
    object_ack,
    s3_access,
)

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import Promotion
from finmlops.gates import platform_gates
from finmlops.naming import Names, Role, names
from finmlops.registry.gatecheck import gates_to_json

CDK_CLI_VERSION = "2.1148.1"  # package.json pins the same version
SOURCE_OBJECT_KEY = "source/finmlops.zip"
MANIFEST_FILE = "manifest.json"
ALL_ENVIRONMENTS = "all"  # default of the TargetEnvironment variable: stage, then prod
HANDLER_TIMEOUT = Duration.seconds(60)
BUILD_TIMEOUT = Duration.minutes(60)
HANDLER_MEMORY_MB = 256
HANDLER_CONCURRENCY = 2


@dataclass(frozen=True)
class SourceSettings:
    """Where the platform's code comes from (entry point: `-c source_connection_arn=...`)."""

    connection_arn: str | None = None
    repository: str | None = None  # owner/name at the Git provider
    branch: str = "main"

    def __post_init__(self) -> None:
        if self.connection_arn and not (self.repository and "/" in self.repository):
            raise ValueError(
                "source_repository (owner/name) is required with source_connection_arn"
            )


def _install_commands() -> list[str]:
    return [
        "python -m venv .venv",
        ".venv/bin/pip install --quiet -c requirements.lock -e '.[platform]'",
        "npm ci --no-audit --no-fund",  # package.json and package-lock.json pin the CLI
    ]


def assume_role_commands(role_arn: str, session: str) -> list[str]:
    """Shell lines that switch the build's credentials to a role of another account."""
    field = "python3 -c \"import json,sys;print(json.load(sys.stdin)['{}'])\""
    return [
        f"creds=$(aws sts assume-role --role-arn {role_arn} --role-session-name {session} "
        "--query Credentials --output json)",
        *(
            f'export {var}=$(echo "$creds" | {field.format(key)})'
            for var, key in (
                ("AWS_ACCESS_KEY_ID", "AccessKeyId"),
                ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                ("AWS_SESSION_TOKEN", "SessionToken"),
            )
        ),
    ]


def start_build_commands(dev: Names) -> list[str]:
    """After the dev deploy: one model build for this commit, started as the dev build starter."""
    return [
        *assume_role_commands(dev.role_arn(Role.BUILD_STARTER), "start-build"),
        # The build-starter role names nobody: the commit's people as Git records them go into a
        # build-started audit record (ADR 0014).
        '.venv/bin/python -m finmlops.buildrun start --git-commit "$CODEBUILD_RESOLVED_SOURCE_VERSION"'
        " --provenance-from-git",
    ]


def _deploy_commands(environment: str, *, app: str) -> list[str]:
    return [
        f"npx cdk deploy --app {app} '{environment}/*' --require-approval never "
        "--no-notices --concurrency 2",
    ]


def resolve_command(environment: str) -> str:
    """The promotion gate again (the version may have been revoked since the event), then the
    manifest: `finmlops promote resolve` of the registry package."""
    return (
        f'.venv/bin/finmlops promote resolve "$MODEL_PACKAGE_ARN" --environment {environment} '
        f"--out {MANIFEST_FILE}"
    )


def promote_commands(environment: str, registry_role_arn: str) -> list[str]:
    """Resolve the approved version, synthesize this environment with it, deploy it, record it."""
    return [
        *_only_for(environment),
        'test "$MODEL_PACKAGE_ARN" != none || { echo "no ModelPackageArn variable"; exit 1; }',
        resolve_command(environment),
        f".venv/bin/python -m finmlops_cdk.app --out cdk.out --environment {environment} "
        f"--manifest {MANIFEST_FILE}",
        *_deploy_commands(environment, app="cdk.out"),
        # The audit record, the deployment history (what rollback goes back to), and the
        # registry's ModelLifeCycle, written as dev's registry-lifecycle role: it may send a
        # lifecycle and nothing else (no approval status, no metadata).
        f".venv/bin/finmlops promote record --manifest {MANIFEST_FILE} "
        f"--registry-role-arn {registry_role_arn} "
        '--reason "promotion pipeline $CODEBUILD_BUILD_ID"',
    ]


def _only_for(environment: str) -> list[str]:
    """A rollback (`finmlops promote rollback --start-pipeline`) redeploys one environment."""
    return [
        f'if [ "$TARGET_ENVIRONMENT" != {ALL_ENVIRONMENTS} ] && '
        f'[ "$TARGET_ENVIRONMENT" != {environment} ]; then '
        f'echo "rollback of $TARGET_ENVIRONMENT: nothing to do in {environment}"; exit 0; fi',
    ]


def _inline(phases: dict[str, list[str]], artifacts: dict[str, Any] | None = None) -> Any:
    spec: dict[str, Any] = {
        "version": "0.2",
        "env": {
            "variables": {
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                "CDK_DISABLE_CLI_TELEMETRY": "true",
            }
        },
        "phases": {
            "install": {
                "runtime-versions": {"python": "3.11", "nodejs": "20"},
                "commands": phases.get("install", []),
            },
            "build": {"commands": phases["build"]},
        },
    }
    if artifacts:
        spec["artifacts"] = artifacts
    return codebuild.BuildSpec.from_object(spec)


class BuildProject(Construct):
    """A KMS-encrypted CodeBuild project with encrypted logs and a role given by the caller.

    Attributes: `project`, `log_group` (the caller grants its role access to it).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        description: str,
        build_spec: codebuild.BuildSpec,
        encryption_key: kms.IKey,
        log_key: kms.IKey,
        role: iam.IRole,
        privileged: bool = False,
        timeout: Duration = BUILD_TIMEOUT,
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = encrypted_log_group(self, "Logs", encryption_key=log_key)
        self.project = codebuild.PipelineProject(
            self,
            "Project",
            description=description,
            build_spec=build_spec,
            encryption_key=encryption_key,
            role=role,
            timeout=timeout,
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.MEDIUM,
                privileged=privileged,
            ),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)
            ),
        )
        acknowledge(
            self.project,
            {
                "PCI.DSS.321-CodeBuildProjectSourceRepoUrl": "Source type CODEPIPELINE: the "
                "project has no repository of its own, the pipeline hands it the source.",
            },
        )


class ApprovalHandler(Construct):
    """The approval-event Lambda and the rule that invokes it (retry policy, DLQ, alarm).

    Attributes: `function`, `role`, `rule` (Approved: promotion), `rejections` (Rejected: audit
    record only), `dead_letter_queue`, `invocation_dlq`,
    `environment` (the handler's variables, names from finmlops.contracts.Promotion).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        code: lambda_.Code,
        pipeline_name: str,
        pipeline_arn: str,
        audit_key: kms.IKey,
        state_key: kms.IKey,
        audit_retention_days: int,
        ops_key: kms.IKey,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, id_)
        self.environment = {
            Promotion.ENV_GROUPS: config.model.package_group,
            Promotion.ENV_PIPELINE: pipeline_name,
            Promotion.ENV_AUDIT_BUCKET: n.audit_bucket,
            Promotion.ENV_STATE_BUCKET: n.state_bucket,
            Promotion.ENV_AUDIT_RETENTION_DAYS: str(audit_retention_days),
            Promotion.ENV_REQUIRE_DRIFT_BASELINES: "true",
            # The platform's gates, re-checked before a promotion starts (ADR 0014).
            Promotion.ENV_GATES: gates_to_json(platform_gates(config)),
        }
        self.role = iam.Role(
            self,
            "Role",
            role_name=n.role(Role.RESOLVER),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Approval-event handler: checks the version, starts the promotion",
        )
        partition = n.partition
        built = project_function(
            self,
            settings=FunctionSettings(
                description="Approved model version -> promotion pipeline (idempotent)",
                handler=Promotion.HANDLER,
                environment=self.environment,
                timeout=HANDLER_TIMEOUT,
                memory_mb=HANDLER_MEMORY_MB,
                concurrency=HANDLER_CONCURRENCY,
                outside_vpc="The tooling account has no VPC in the configuration; the handler "
                "only calls AWS APIs (TLS, SigV4, named resources).",
            ),
            code=code,
            role=self.role,
            statements=[
                iam.PolicyStatement(
                    sid="StartPromotion",
                    actions=["codepipeline:StartPipelineExecution"],
                    resources=[pipeline_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadVersionsInRegistry",
                    actions=[
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:ListModelPackages",
                    ],
                    resources=[n.model_package_group_arn, n.model_packages_arn],
                ),
                *audit_trail_access(
                    sid="WriteAuditRecords", partition=partition, bucket=n.audit_bucket
                ),
                kms_access(sid="AuditKey", key_arn=audit_key.key_arn, decrypt=True, encrypt=True),
                *s3_access(
                    sid="PromotionClaims",
                    partition=partition,
                    bucket=n.state_bucket,
                    prefix=Promotion.CLAIMS_PREFIX,
                    read=True,
                    write=True,
                    delete=True,  # a claim whose promotion could not start is released
                    list_objects=True,
                ),
                *s3_access(
                    sid="DeploymentHistory",
                    partition=partition,
                    bucket=n.state_bucket,
                    prefix=Promotion.DEPLOYMENTS_PREFIX,
                    read=True,
                    list_objects=True,
                ),
                kms_access(sid="StateKey", key_arn=state_key.key_arn, decrypt=True, encrypt=True),
                iam.PolicyStatement(
                    sid="RejectedVersionServingMetric",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"cloudwatch:namespace": Promotion.METRIC_NAMESPACE}
                    },
                ),
            ],
            policy_description="Approval handler: registry reads, promotion start, audit and claims",
            acknowledgments={
                iam5_resource(n.model_packages_arn): "Every version of this one model group: "
                "the event names the version to check.",
                "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource ARN; "
                "the condition limits it to the promotion's metric namespace.",
            }
            | object_ack(
                partition,
                n.audit_bucket,
                Promotion.AUDIT_PREFIX,
                "One append-only record per decision under audit/ (Object Lock, compliance).",
            )
            | object_ack(
                partition,
                n.state_bucket,
                Promotion.CLAIMS_PREFIX,
                "One claim object per version under promotions/claims/: the dedup record that "
                "makes a second delivery of the same event start nothing.",
            )
            | object_ack(
                partition,
                n.state_bucket,
                Promotion.DEPLOYMENTS_PREFIX,
                "Read-only deployment history per environment under deployments/.",
            ),
            ops_key=ops_key,
            alerts=alerts,
            dead_letter_purpose="approval events the handler failed on after its retries",
            dead_letter_id="InvocationDlq",
        )
        self.function = built.function
        self.invocation_dlq = built.dead_letter_queue
        # The handler records the rejection of a version that still serves with this metric.
        self.rejected_serving = cloudwatch.Alarm(
            self,
            "RejectedVersionServing",
            alarm_description="A rejected model version still serves: roll it back with "
            "`finmlops promote rollback --environment <env> --reason ...`",
            metric=cloudwatch.Metric(
                namespace=Promotion.METRIC_NAMESPACE,
                metric_name=Promotion.METRIC_REJECTED_SERVING,
                statistic="Maximum",
                period=Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.rejected_serving.add_alarm_action(cw_actions.SnsAction(alerts))

        self.dead_letter_queue = DeadLetterQueue(
            self,
            "RuleDlq",
            encryption_key=ops_key,
            alarm_topic=alerts,
            purpose="approval events EventBridge could not deliver to the handler",
        )
        self.rule = events.Rule(
            self,
            "ApprovedVersions",
            description="Approved versions of the model group (forwarded from dev) -> promotion",
            event_pattern=approval_pattern(config),
        )
        self.rule.add_target(
            targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
        )
        # Rejections made in the console reach the audit trail too; they never start anything.
        self.rejections = events.Rule(
            self,
            "RejectedVersions",
            description="Rejected versions of the model group (forwarded from dev) -> audit record",
            event_pattern=approval_pattern(config, (REJECTED,)),
        )
        self.rejections.add_target(
            targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
        )


class PromotionStack(Stack):
    """Tooling account: pipelines, the approval handler, and the bus policy admitting dev.

    Attributes: `artifact_bucket`, `source_bucket` (None with a connection), `platform_pipeline`,
    `promotion_pipeline`, `handler` (ApprovalHandler), `projects` (name -> PipelineProject),
    `pipeline_role`, `build_role`, `deploy_role`.
    """

    def __init__(  # noqa: PLR0915 - two pipelines, read top to bottom
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        data: DataStack,
        source: SourceSettings,
        root: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, "tooling")
        if data.state is None:
            raise ValueError("the promotion stack needs the tooling data stack")
        key = data.data_key
        partition = n.partition
        self.artifact_bucket = SecureBucket(
            self,
            "PipelineArtifacts",
            bucket_name=n.pipeline_artifact_bucket,
            encryption_key=key,
            access_logs=data.access_logs,
            expire_after_days=90,
        ).bucket

        self.source_bucket: s3.IBucket | None = None
        if source.connection_arn is None:
            self.source_bucket = SecureBucket(
                self,
                "Source",
                bucket_name=n.source_bucket,
                encryption_key=key,
                access_logs=data.access_logs,
            ).bucket

        artifacts = [
            *s3_access(
                sid="PipelineArtifacts",
                partition=partition,
                bucket=n.pipeline_artifact_bucket,
                read=True,
                write=True,
                list_objects=True,
            ),
            kms_access(sid="ArtifactKey", key_arn=key.key_arn, decrypt=True, encrypt=True),
        ]
        artifacts_reason = object_ack(
            partition,
            n.pipeline_artifact_bucket,
            "",
            "The pipelines' own artifact bucket: CodePipeline names artifact objects per "
            "execution and action.",
        )

        # Roles are created here with explicit managed policies and handed to CDK immutable:
        # every permission the pipelines have is in this file (no generated inline policies).
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description="Both pipelines and their actions",
        )
        self.build_role = iam.Role(
            self,
            "BuildRole",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Build and test: no deploy rights",
        )
        # Resolves, synthesizes and deploys: named, so stage and prod trust it (smoke test).
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=n.role(Role.PROMOTION_BUILD),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Promotion CodeBuild: resolve the version, cdk deploy to dev/stage/prod",
        )

        self.projects: dict[str, codebuild.PipelineProject] = {}
        log_groups: dict[str, list[logs.ILogGroup]] = {"build": [], "deploy": []}

        def project(name: str, description: str, spec: Any, *, deploys: bool, **extra: Any) -> Any:
            role = self.deploy_role if deploys else self.build_role
            built = BuildProject(
                self,
                name,
                description=description,
                build_spec=spec,
                encryption_key=key,
                log_key=data.ops_key,
                role=role.without_policy_updates(),
                **extra,
            )
            log_groups["deploy" if deploys else "build"].append(built.log_group)
            self.projects[name] = built.project
            return built.project

        build = project(
            "BuildAndTest",
            "Lint, type-check, test and synthesize (buildspec.yml)",
            codebuild.BuildSpec.from_source_filename("buildspec.yml"),
            deploys=False,
        )
        deploy_dev = project(
            "DeployDev",
            "cdk deploy of the dev stage (model build), then one build of this commit",
            _inline(
                {
                    "install": _install_commands(),
                    "build": [
                        ".venv/bin/python -m finmlops_cdk.app --out cdk.out --environment dev",
                        *_deploy_commands("dev", app="cdk.out"),
                        *start_build_commands(names(config, "dev")),
                    ],
                }
            ),
            deploys=True,
            privileged=True,
        )
        registry_role = names(config, "dev").role_arn(Role.REGISTRY_LIFECYCLE)
        deploy = {
            env: project(
                f"Deploy{env.capitalize()}",
                f"Resolve the approved version and cdk deploy the {env} stage",
                _inline(
                    {"install": _install_commands(), "build": promote_commands(env, registry_role)}
                ),
                deploys=True,
                privileged=True,  # the monitoring image is built at deploy
            )
            for env in SERVING_ENVIRONMENTS
        }
        smoke = project(
            "SmokeTestStage",
            "Stage endpoint: in service, serving the approved version, rollback alarms quiet",
            _inline({"build": [*_only_for("stage"), *smoke_test_commands(names(config, "stage"))]}),
            deploys=True,
            timeout=Duration.minutes(30),
        )

        build_policy = managed_policy(
            self,
            "BuildPermissions",
            role=self.build_role,
            description="Build and test: read the source artifact, write logs",
            statements=[
                *artifacts,
                *(
                    logs_access(sid=f"Logs{i}", log_group=g)
                    for i, g in enumerate(log_groups["build"])
                ),
            ],
        )
        acknowledge(build_policy, artifacts_reason)
        self._deploy_permissions(
            config=config,
            n=n,
            artifacts=artifacts,
            artifacts_reason=artifacts_reason,
            log_groups=log_groups["deploy"],
            audit_key=data.audit_key,
            state_key=data.data_key,
        )

        source_output = codepipeline.Artifact("Source")
        pipeline_role = self.pipeline_role.without_policy_updates()
        self.platform_pipeline = codepipeline.Pipeline(
            self,
            "Platform",
            pipeline_name=f"{config.project}-platform",
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.SUPERSEDED,
            artifact_bucket=self.artifact_bucket,
            role=pipeline_role,
            use_pipeline_role_for_actions=True,
            restart_execution_on_update=False,
        )
        self.platform_pipeline.add_stage(
            stage_name="Source", actions=[self._source_action(source, source_output, poll=True)]
        )
        self.platform_pipeline.add_stage(
            stage_name="BuildAndTest",
            actions=[
                actions.CodeBuildAction(
                    action_name="BuildAndTest", project=build, input=source_output
                )
            ],
        )
        self.platform_pipeline.add_stage(
            stage_name="DeployDev",
            actions=[
                actions.CodeBuildAction(
                    action_name="DeployDev", project=deploy_dev, input=source_output
                )
            ],
            on_failure=codepipeline.FailureConditions(result=codepipeline.Result.ROLLBACK),
        )

        promotion_source = codepipeline.Artifact("PromotionSource")
        arn_variable = codepipeline.Variable(
            variable_name=Promotion.ARN_VARIABLE,
            default_value="none",
            description="The approved model package version to promote (set by the handler)",
        )
        target_variable = codepipeline.Variable(
            variable_name=Promotion.ENVIRONMENT_VARIABLE,
            default_value=ALL_ENVIRONMENTS,
            description="all: stage then prod. A rollback sets the one environment to redeploy.",
        )
        variables = {
            "MODEL_PACKAGE_ARN": codebuild.BuildEnvironmentVariable(value=arn_variable.reference()),
            "TARGET_ENVIRONMENT": codebuild.BuildEnvironmentVariable(
                value=target_variable.reference()
            ),
        }
        promotion_name = f"{config.project}-model-promotion"
        self.promotion_pipeline = codepipeline.Pipeline(
            self,
            "ModelPromotion",
            pipeline_name=promotion_name,
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            artifact_bucket=self.artifact_bucket,
            role=pipeline_role,
            use_pipeline_role_for_actions=True,
            variables=[arn_variable, target_variable],
            restart_execution_on_update=False,
        )
        p = self.promotion_pipeline
        p.add_stage(
            stage_name="Source",
            actions=[self._source_action(source, promotion_source, poll=False)],
        )
        p.add_stage(
            stage_name="DeployStage",
            actions=[
                actions.CodeBuildAction(
                    action_name="ResolveAndDeployStage",
                    project=deploy["stage"],
                    input=promotion_source,
                    environment_variables=variables,
                    run_order=1,
                ),
                actions.CodeBuildAction(
                    action_name="SmokeTest",
                    project=smoke,
                    input=promotion_source,
                    environment_variables=variables,
                    run_order=2,
                ),
            ],
        )
        p.add_stage(
            stage_name="ApproveProd",
            actions=[
                actions.ManualApprovalAction(
                    action_name="ApproveProd",
                    notification_topic=data.alerts,
                    additional_information=(
                        f"Promote #{{variables.{Promotion.ARN_VARIABLE}}} to prod after "
                        "reviewing the stage smoke test."
                    ),
                    timeout=Duration.days(7),
                )
            ],
        )
        p.add_stage(
            stage_name="DeployProd",
            actions=[
                actions.CodeBuildAction(
                    action_name="ResolveAndDeployProd",
                    project=deploy["prod"],
                    input=promotion_source,
                    environment_variables=variables,
                )
            ],
            # Fail safe: a failed prod deployment goes back to the last good execution.
            on_failure=codepipeline.FailureConditions(result=codepipeline.Result.ROLLBACK),
        )
        pipeline_arns = [
            self.format_arn(service="codepipeline", resource=name)
            for name in (f"{config.project}-platform", promotion_name)
        ]
        self._pipeline_permissions(
            source=source,
            n=n,
            artifacts=artifacts,
            artifacts_reason=artifacts_reason,
            topic=data.alerts,
            ops_key=data.ops_key,
        )

        self.handler = ApprovalHandler(
            self,
            "ApprovalHandler",
            config=config,
            n=n,
            code=package_code(root),
            pipeline_name=promotion_name,
            pipeline_arn=pipeline_arns[1],
            audit_key=data.audit_key,
            state_key=data.data_key,
            audit_retention_days=data.audit_retention_days,
            ops_key=data.ops_key,
            alerts=data.alerts,
        )
        dev = names(config, "dev")
        self.admit_dev = AdmitForwarders(
            self,
            "AdmitApprovals",
            statement_id="ApprovalsFromDev",
            senders=[(dev.env.account, dev.role_arn(Role.EVENT_FORWARDER))],
        )
        CfnOutput(self, "PromotionPipelineName", value=promotion_name)
        if self.source_bucket is not None:
            CfnOutput(
                self,
                "SourceObject",
                value=f"s3://{n.source_bucket}/{SOURCE_OBJECT_KEY}",
            )

    def _source_action(
        self, source: SourceSettings, output: codepipeline.Artifact, *, poll: bool
    ) -> actions.Action:
        if source.connection_arn is not None:
            assert source.repository is not None  # checked by SourceSettings
            owner, repo = source.repository.split("/", 1)
            return actions.CodeStarConnectionsSourceAction(
                action_name="Source",
                connection_arn=source.connection_arn,
                owner=owner,
                repo=repo,
                branch=source.branch,
                output=output,
                trigger_on_push=poll,
            )
        assert self.source_bucket is not None
        return actions.S3SourceAction(
            action_name="Source",
            bucket=self.source_bucket,
            bucket_key=SOURCE_OBJECT_KEY,
            output=output,
            trigger=actions.S3Trigger.POLL if poll else actions.S3Trigger.NONE,
        )

    def _pipeline_permissions(
        self,
        *,
        source: SourceSettings,
        n: Names,
        artifacts: list[iam.PolicyStatement],
        artifacts_reason: dict[str, str],
        topic: sns.ITopic,
        ops_key: kms.IKey,
    ) -> None:
        statements = [
            *artifacts,
            iam.PolicyStatement(
                sid="RunBuilds",
                actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
                resources=[project.project_arn for project in self.projects.values()],
            ),
            iam.PolicyStatement(
                sid="NotifyApprovers", actions=["sns:Publish"], resources=[topic.topic_arn]
            ),
            kms_access(sid="AlertsKey", key_arn=ops_key.key_arn, decrypt=True, encrypt=True),
        ]
        if source.connection_arn is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="UseConnection",
                    actions=["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                    resources=[source.connection_arn],
                )
            )
        else:
            bucket = n.source_bucket
            statements += [
                iam.PolicyStatement(
                    sid="ReadSourceObject",
                    actions=["s3:GetObject", "s3:GetObjectVersion"],
                    resources=[f"arn:{n.partition}:s3:::{bucket}/{SOURCE_OBJECT_KEY}"],
                ),
                iam.PolicyStatement(
                    sid="PollSourceBucket",
                    actions=["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:ListBucket"],
                    resources=[f"arn:{n.partition}:s3:::{bucket}"],
                ),
            ]
        policy = managed_policy(
            self,
            "PipelinePermissions",
            role=self.pipeline_role,
            description="Both pipelines: artifacts, source, builds, approval notifications",
            statements=statements,
        )
        acknowledge(policy, artifacts_reason)

    def _deploy_permissions(
        self,
        *,
        config: Config,
        n: Names,
        artifacts: list[iam.PolicyStatement],
        artifacts_reason: dict[str, str],
        log_groups: list[logs.ILogGroup],
        audit_key: kms.IKey,
        state_key: kms.IKey,
    ) -> None:
        """Assume the bootstrap roles of dev, stage and prod; read versions and write the
        gate's audit records and the deployment history; assume the smoke-test roles of stage
        and prod and dev's build-starter and registry-lifecycle roles."""
        bootstrap = []
        assumed = []
        for env in ("dev", *SERVING_ENVIRONMENTS):
            target = names(config, env)
            account, region = target.env.account, target.env.region
            bootstrap.append(
                f"arn:{target.partition}:iam::{account}:role/cdk-*-role-{account}-{region}"
            )
            if env in SERVING_ENVIRONMENTS:
                assumed.append(target.role_arn(Role.SMOKE_TEST))
            else:
                assumed.append(target.role_arn(Role.BUILD_STARTER))
                assumed.append(target.role_arn(Role.REGISTRY_LIFECYCLE))
        policy = managed_policy(
            self,
            "DeployPermissions",
            role=self.deploy_role,
            description="Resolve, synthesize, deploy through the bootstrap roles, smoke test",
            statements=[
                *artifacts,
                *(logs_access(sid=f"Logs{i}", log_group=g) for i, g in enumerate(log_groups)),
                *audit_trail_access(
                    sid="GateAuditRecords", partition=n.partition, bucket=n.audit_bucket
                ),
                kms_access(sid="AuditKey", key_arn=audit_key.key_arn, decrypt=True, encrypt=True),
                *s3_access(
                    sid="DeploymentHistory",
                    partition=n.partition,
                    bucket=n.state_bucket,
                    prefix=Promotion.DEPLOYMENTS_PREFIX,
                    read=True,
                    write=True,
                    list_objects=True,
                ),
                kms_access(sid="StateKey", key_arn=state_key.key_arn, decrypt=True, encrypt=True),
                iam.PolicyStatement(
                    sid="AssumeBootstrapRoles",
                    actions=["sts:AssumeRole", "sts:TagSession"],
                    resources=bootstrap,
                    conditions={
                        "StringEquals": {
                            "iam:ResourceTag/aws-cdk:bootstrap-role": [
                                "deploy",
                                "file-publishing",
                                "image-publishing",
                                "lookup",
                            ]
                        }
                    },
                ),
                iam.PolicyStatement(
                    sid="AssumeBuildStarterLifecycleAndSmokeTestRoles",
                    actions=["sts:AssumeRole"],
                    resources=assumed,
                ),
                iam.PolicyStatement(
                    sid="ReadVersionsInRegistry",
                    actions=[
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:ListModelPackages",
                    ],
                    resources=[n.model_package_group_arn, n.model_packages_arn],
                ),
            ],
        )
        reasons = {
            iam5_resource(arn): "The cdk bootstrap roles of one target account (deploy, "
            "file- and image-publishing, lookup), narrowed by their aws-cdk:bootstrap-role "
            "tag; `cdk bootstrap --trust` admits this account."
            for arn in bootstrap
        }
        reasons[iam5_resource(n.model_packages_arn)] = (
            "Every version of this one model group: the pipeline variable names the version."
        )
        audit = object_ack(
            n.partition,
            n.audit_bucket,
            Promotion.AUDIT_PREFIX,
            "The promotion gate appends one record per resolution under audit/ (Object Lock).",
        )
        history = object_ack(
            n.partition,
            n.state_bucket,
            Promotion.DEPLOYMENTS_PREFIX,
            "One write-once entry per deployment under deployments/<env>/ (what rollback "
            "returns to).",
        )
        acknowledge(policy, reasons | artifacts_reason | audit | history)


def smoke_test_commands(n: Names) -> list[str]:
    """Assume the stage smoke-test role; check status and version, score one request, and check
    that no rollback alarm fires."""
    role = n.role_arn(Role.SMOKE_TEST)
    endpoint = n.endpoint_name
    region = n.env.region
    # One row of the model's width (every feature 0: a valid code for each categorical).
    payload = ",".join("0" for _ in n.config.model.features)
    alarms = " ".join(
        f"{endpoint}-rollback-{a}" for a in ("errors5xx", "modellatency", "modelerrors")
    )
    return [
        *assume_role_commands(role, "smoke-test"),
        f"aws sagemaker wait endpoint-in-service --endpoint-name {endpoint} --region {region}",
        f"config=$(aws sagemaker describe-endpoint --endpoint-name {endpoint} --region {region} "
        "--query EndpointConfigName --output text)",
        f"model=$(aws sagemaker describe-endpoint-config --endpoint-config-name $config "
        f"--region {region} --query 'ProductionVariants[0].ModelName' --output text)",
        f"served=$(aws sagemaker describe-model --model-name $model --region {region} "
        "--query PrimaryContainer.ModelPackageName --output text)",
        'test "$served" = "$MODEL_PACKAGE_ARN" || { echo "serving $served, not $MODEL_PACKAGE_ARN"; exit 1; }',
        f"printf '%s' '{payload}' > smoke.csv",
        f"aws sagemaker-runtime invoke-endpoint --endpoint-name {endpoint} --region {region} "
        "--content-type text/csv --body fileb://smoke.csv smoke.out > /dev/null",
        "python3 -c \"s=[float(v) for v in open('smoke.out').read().replace(',', ' ').split()]; "
        "assert len(s) == 1 and 0 <= s[0] <= 1, s; print('smoke test score', s[0])\"",
        f"firing=$(aws cloudwatch describe-alarms --alarm-names {alarms} --state-value ALARM "
        f"--region {region} --query 'length(MetricAlarms)' --output text)",
        'test "$firing" = "0" || { echo "rollback alarms firing: $firing"; exit 1; }',
    ]
