"""Promotion (tooling account): the platform pipeline, and each model's promotion path.

- Platform (`PromotionStack`, once): source (S3 object, or any Git provider through a CodeStar
  connection) -> build and test (CodeBuild running buildspec.yml) -> deploy dev -> start one
  model build of the commit. It also admits every model's forwarders to the tooling bus.
- Model promotion (`ModelPromotionStack`, one per model, docs/decisions/0033): the dev account
  forwards "Approved" events of the model's group to this account's bus; a rule (retry policy,
  dead-letter queue) invokes the model's approval-event handler (`finmlops.registry.handler`),
  which checks the version and starts the model's promotion pipeline with the version's ARN as
  a pipeline variable: resolve the manifest and synthesize -> deploy stage -> smoke test ->
  manual approval -> deploy prod (fails safe: rollback). Its roles reach only that model's
  roles, group and stacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, IgnoreMode, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.approval_handler import ApprovalHandler
from finmlops_cdk.assets import COMMON_EXCLUDES, package_code
from finmlops_cdk.buildspecs import (
    ALL_ENVIRONMENTS,
    PLATFORM_SOURCE,
    batch_smoke_test_commands,
    check_portfolio_command,
    deploy_commands,
    environment_stacks,
    inline,
    install_commands,
    install_shipped_platform,
    only_for,
    promote_commands,
    smoke_test_commands,
    start_build_commands,
)
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.events import AdmitForwarders
from finmlops_cdk.security import (
    SecureBucket,
    encrypted_log_group,
    kms_access,
    logs_access,
    managed_policy,
    object_ack,
    s3_access,
)
from finmlops_cdk.tooling_roles import (
    GateGrants,
    Operators,
    assume_bootstrap_roles,
    bootstrap_reason,
)

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import Promotion
from finmlops.naming import Names, Role, names

CDK_CLI_VERSION = "2.1148.1"  # package.json pins the same version
SOURCE_OBJECT_KEY = "source/finmlops.zip"
BUILD_TIMEOUT = Duration.minutes(60)


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
        environment_variables: dict[str, codebuild.BuildEnvironmentVariable] | None = None,
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
            environment_variables=environment_variables,
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


class PromotionStack(Stack):
    """Tooling account, the platform's: the platform pipeline, its buckets and roles, and the
    bus policies admitting every model's forwarders.

    One CodeBuild role per deploy target (ADR 0012): the role that runs the repository's code for
    an environment may reach that environment's bootstrap roles and nothing of another one.

    | role (`<project>-tooling-...`) | runs | may |
    |---|---|---|
    | (generated) BuildAndTest | buildspec.yml of the commit | read the source |
    | `deploy-dev` | `cdk deploy` of dev (the commit's code) | dev's bootstrap roles |
    | `start-build` | the shipped platform code, never the commit's | dev's build starter, append audit records |

    Each model's promotion roles are in its `ModelPromotionStack`.

    Attributes: `artifact_bucket`, `source_bucket` (None with a connection), `platform_pipeline`,
    `projects` (name -> PipelineProject), `pipeline_role`, `build_role`, `deploy_roles`
    ("dev" -> role), `start_build_role`, `platform_code` (the shipped code the start-build action
    runs), `key`, `source` and the statements every pipeline's builds share (`read_source`,
    `artifacts`, `artifacts_reason`).
    """

    def __init__(  # noqa: PLR0915 - one pipeline and its roles, read top to bottom
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        data: DataStack,
        source: SourceSettings,
        root: Path,
        models: Sequence[Config] = (),
        **kwargs: Any,
    ) -> None:
        """config: the platform's view; models: every model's (default: config's alone)."""
        super().__init__(scope, id_, **kwargs)
        models = tuple(models) or (config,)
        n = names(config, "tooling")
        dev = names(config, "dev")
        if data.state is None:
            raise ValueError("the promotion stack needs the tooling data stack")
        self.data = data
        self.source = source
        key = data.data_key
        self.key = key
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

        # The pipelines write artifacts; every build only reads its input: a build that could
        # write could replace the source artifact another pipeline deploys.
        self.artifacts = [
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
        self.read_source = [
            *s3_access(
                sid="ReadSourceArtifact",
                partition=partition,
                bucket=n.pipeline_artifact_bucket,
                read=True,
            ),
            kms_access(sid="ArtifactKey", key_arn=key.key_arn, decrypt=True),
        ]
        if source.connection_arn is not None:
            # The platform pipeline hands CodeBuild a full clone (the start step reads the
            # commit's people from Git), which CodeBuild fetches through the connection (docs
            # page "CodeBuild GitClone permissions for connections").
            self.read_source.append(
                iam.PolicyStatement(
                    sid="CloneThroughConnection",
                    actions=["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                    resources=[source.connection_arn],
                )
            )
        self.artifacts_reason = object_ack(
            partition,
            n.pipeline_artifact_bucket,
            "",
            "The pipelines' own artifact bucket: CodePipeline names artifact objects per "
            "execution and action.",
        )
        read_source, artifacts_reason = self.read_source, self.artifacts_reason

        # Roles are created here with explicit managed policies and handed to CDK immutable:
        # every permission the pipelines have is in this file (no generated inline policies).
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description="The platform pipeline and its actions",
        )
        self.build_role = iam.Role(
            self,
            "BuildRole",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Build and test: no deploy rights",
        )
        self.deploy_roles = {
            "dev": codebuild_role(
                self,
                "DeployDevRole",
                n.role(Role.DEPLOY_DEV),
                "Platform pipeline: cdk deploy of dev (repository code); dev's bootstrap roles only",
            ),
        }
        self.start_build_role = codebuild_role(
            self,
            "StartBuildRole",
            n.role(Role.START_BUILD),
            "Platform pipeline: start one model build of the commit (shipped code, not the commit's)",
        )

        self.projects: dict[str, codebuild.PipelineProject] = {}
        log_groups: dict[str, list[logs.ILogGroup]] = {}

        def project(
            name: str, description: str, spec: Any, role: iam.Role, **extra: Any
        ) -> codebuild.PipelineProject:
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
            log_groups.setdefault(role.node.id, []).append(built.log_group)
            self.projects[name] = built.project
            return built.project

        build = project(
            "BuildAndTest",
            "Lint, type-check, test and synthesize (buildspec.yml)",
            codebuild.BuildSpec.from_source_filename("buildspec.yml"),
            self.build_role,
        )
        # The platform's code as the tooling stack shipped it: reviewed and deployed by a person,
        # so a commit cannot change what the role that writes audit records runs.
        self.platform_code = s3_assets.Asset(
            self,
            "PlatformCode",
            path=str(root),
            ignore_mode=IgnoreMode.DOCKER,
            exclude=["*", *(f"!{path}" for path in PLATFORM_SOURCE), *COMMON_EXCLUDES],
        )
        platform_code = {
            "PLATFORM_CODE": codebuild.BuildEnvironmentVariable(
                value=self.platform_code.s3_object_url
            )
        }
        deploy_dev = project(
            "DeployDev",
            "cdk deploy of the dev stage (model build)",
            inline(
                {
                    "install": [*install_commands(), *install_shipped_platform()],
                    "build": [
                        # A model still serving keeps its block (ADR 0035), judged by the shipped
                        # code on the commit's config before anything is synthesized.
                        check_portfolio_command(),
                        ".venv/bin/python -m finmlops_cdk.app --out cdk.out --environment dev",
                        *deploy_commands(environment_stacks("dev"), app="cdk.out"),
                    ],
                }
            ),
            self.deploy_roles["dev"],
            privileged=True,
            environment_variables=platform_code,
        )
        start_build = project(
            "StartModelBuild",
            "One build of the deployed commit per model, by the shipped platform code",
            inline(
                {
                    "install": install_shipped_platform(),
                    "build": start_build_commands([names(m, "dev") for m in models]),
                }
            ),
            self.start_build_role,
            timeout=Duration.minutes(30),
            environment_variables=platform_code,
        )

        def logs_of(role: iam.Role) -> list[iam.PolicyStatement]:
            return [
                logs_access(sid=f"Logs{i}", log_group=g)
                for i, g in enumerate(log_groups.get(role.node.id, []))
            ]

        acknowledge(
            managed_policy(
                self,
                "BuildPermissions",
                role=self.build_role,
                description="Build and test: read the source artifact, write logs",
                statements=[*read_source, *logs_of(self.build_role)],
            ),
            artifacts_reason,
        )
        gate = GateGrants(n=n, audit_key=data.audit_key, state_key=data.data_key)
        asset_object = (
            f"arn:{partition}:s3:::{self.platform_code.s3_bucket_name}/"
            f"{self.platform_code.s3_object_key}"
        )
        acknowledge(
            managed_policy(
                self,
                "DeployDevPermissions",
                role=self.deploy_roles["dev"],
                description="cdk deploy of dev: dev's bootstrap roles; read what serves where",
                statements=[
                    *read_source,
                    *logs_of(self.deploy_roles["dev"]),
                    assume_bootstrap_roles(dev),
                    iam.PolicyStatement(
                        sid="ReadShippedPlatformCode",
                        actions=["s3:GetObject"],
                        resources=[asset_object],
                    ),
                    *gate.read_history,
                ],
            ),
            artifacts_reason | bootstrap_reason(dev) | gate.history_read_reason,
        )
        acknowledge(
            managed_policy(
                self,
                "StartBuildPermissions",
                role=self.start_build_role,
                description="Start each model's build as its dev build starter; append audit records",
                statements=[
                    *read_source,
                    *logs_of(self.start_build_role),
                    iam.PolicyStatement(
                        sid="ReadShippedPlatformCode",
                        actions=["s3:GetObject"],
                        resources=[asset_object],
                    ),
                    iam.PolicyStatement(
                        sid="AssumeDevBuildStarter",
                        actions=["sts:AssumeRole"],
                        resources=[names(m, "dev").role_arn(Role.BUILD_STARTER) for m in models],
                    ),
                    *gate.audit,
                ],
            ),
            artifacts_reason | gate.audit_reason,
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
            stage_name="Source",
            actions=[source_action(source, self.source_bucket, source_output, poll=True)],
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
        # Its own stage: a build that fails to start must not roll the dev deployment back.
        self.platform_pipeline.add_stage(
            stage_name="StartModelBuild",
            actions=[
                actions.CodeBuildAction(
                    action_name="StartModelBuild", project=start_build, input=source_output
                )
            ],
        )
        pipeline_permissions(
            self,
            role=self.pipeline_role,
            description="The platform pipeline: artifacts, source, builds",
            source=source,
            n=n,
            artifacts=self.artifacts,
            artifacts_reason=artifacts_reason,
            projects=list(self.projects.values()),
        )

        # Every model's forwarders, by name while the bus policy holds them, by pattern beyond
        # (EventBridge's event bus policy is at most 10,240 characters, "Amazon EventBridge
        # quotas"; 50 models named one by one make 13,101).
        self.admit_dev = AdmitForwarders(
            self,
            "AdmitApprovals",
            statement_id="ApprovalsFromDev",
            senders=forwarders(models, ["dev"], Role.EVENT_FORWARDER),
        )
        # The risk tier's re-review triggers come from stage's and prod's alarms (ADR 0030).
        self.admit_revalidations: AdmitForwarders | None = None
        revalidated = [m for m in models if m.governance.tier.revalidate_on]
        if revalidated:
            self.admit_revalidations = AdmitForwarders(
                self,
                "AdmitRevalidationAlarms",
                statement_id="RevalidationAlarmsFromServing",
                senders=forwarders(revalidated, SERVING_ENVIRONMENTS, Role.REVALIDATION_FORWARDER),
            )
        if self.source_bucket is not None:
            CfnOutput(
                self,
                "SourceObject",
                value=f"s3://{n.source_bucket}/{SOURCE_OBJECT_KEY}",
            )


class ModelPromotionStack(Stack):
    """Tooling account, one model's: its promotion pipeline, the CodeBuild roles that promote it,
    its approval-event handler and its operators (docs/decisions/0033).

    | role (`<model prefix>-tooling-...`) | runs | may |
    |---|---|---|
    | `promote-stage` | resolve, `cdk deploy` of stage (this model's stacks), smoke test, record | stage's bootstrap and this model's smoke-test roles, dev's evidence-reader and registry-lifecycle roles of this model, its group, the audit trail, the deployment history |
    | `promote-prod` | resolve, `cdk deploy` of prod, record | the same for prod |
    | `promotion-handler` | the approval-event Lambda (`approval_handler.py`) | this model's evidence reader, its group, claims, audit trail, history, its promotion pipeline |
    | `operator` (people, MFA, source identity) | `promote rollback/status`, `audit export` | the deployment history, the audit trail, its group, its promotion pipeline |

    Attributes: `promotion_pipeline`, `promotion_name`, `handler` (ApprovalHandler), `projects`
    (name -> PipelineProject), `pipeline_role`, `deploy_roles` (environment -> role),
    `operator`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        platform: PromotionStack,
        root: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, "tooling")
        dev = names(config, "dev")
        data = platform.data
        key = platform.key
        read_source, artifacts_reason = platform.read_source, platform.artifacts_reason
        self.deploy_roles = {
            env: codebuild_role(
                self,
                f"Promote{env.capitalize()}Role",
                n.role(Role.promote(env)),
                f"Promotion of {config.model.name}: resolve the version, cdk deploy {env}, "
                f"record; {env} only",
            )
            for env in SERVING_ENVIRONMENTS
        }
        self.projects: dict[str, codebuild.PipelineProject] = {}
        log_groups: dict[str, list[logs.ILogGroup]] = {}

        def project(
            name: str, description: str, spec: Any, role: iam.Role, **extra: Any
        ) -> codebuild.PipelineProject:
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
            log_groups.setdefault(role.node.id, []).append(built.log_group)
            self.projects[name] = built.project
            return built.project

        registry_role = dev.role_arn(Role.REGISTRY_LIFECYCLE)
        deploy = {
            env: project(
                f"Deploy{env.capitalize()}",
                f"Resolve the approved version and cdk deploy the {env} stage "
                f"({config.model.name})",
                inline(
                    {
                        "install": install_commands(),
                        "build": promote_commands(names(config, env), dev),
                    }
                ),
                self.deploy_roles[env],
                privileged=True,  # the monitoring image is built at deploy
            )
            for env in SERVING_ENVIRONMENTS
        }
        checks, checked = (
            (
                batch_smoke_test_commands,
                "Stage batch pipeline: active, tagged with the approved version",
            )
            if config.serving.batch
            else (
                smoke_test_commands,
                "Stage endpoint: in service, serving the approved version, rollback alarms quiet",
            )
        )
        smoke = project(
            "SmokeTestStage",
            checked,
            inline({"build": [*only_for("stage"), *checks(names(config, "stage"))]}),
            self.deploy_roles["stage"],
            timeout=Duration.minutes(30),
        )

        def logs_of(role: iam.Role) -> list[iam.PolicyStatement]:
            return [
                logs_access(sid=f"Logs{i}", log_group=g)
                for i, g in enumerate(log_groups.get(role.node.id, []))
            ]

        gate = GateGrants(n=n, audit_key=data.audit_key, state_key=data.data_key)
        for env in SERVING_ENVIRONMENTS:
            target = names(config, env)
            role = self.deploy_roles[env]
            # Dev's evidence reader (resolve: the gate's reads, ADR 0016) and registry-lifecycle
            # role (record: the lifecycle); this environment's smoke-test role (the smoke test,
            # and record's check of what the endpoint serves). This model's, no other
            # environment's and no other model's.
            assumed = [
                dev.role_arn(Role.EVIDENCE_READER),
                registry_role,
                target.role_arn(Role.SMOKE_TEST),
            ]
            acknowledge(
                managed_policy(
                    self,
                    f"Promote{env.capitalize()}Permissions",
                    role=role,
                    description=f"Resolve, cdk deploy {env} through its bootstrap roles, record",
                    statements=[
                        *read_source,
                        *logs_of(role),
                        assume_bootstrap_roles(target),
                        iam.PolicyStatement(
                            sid="AssumeGateLifecycleAndServingRoles",
                            actions=["sts:AssumeRole"],
                            resources=assumed,
                        ),
                        *gate.audit,
                        *gate.history,
                        gate.read_registry,
                    ],
                ),
                artifacts_reason | bootstrap_reason(target) | gate.reasons,
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
        self.promotion_name = promotion_name = n.promotion_pipeline
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description=f"The promotion pipeline of {config.model.name} and its actions",
        )
        self.promotion_pipeline = codepipeline.Pipeline(
            self,
            "ModelPromotion",
            pipeline_name=promotion_name,
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            artifact_bucket=platform.artifact_bucket,
            role=self.pipeline_role.without_policy_updates(),
            use_pipeline_role_for_actions=True,
            variables=[arn_variable, target_variable],
            restart_execution_on_update=False,
        )
        p = self.promotion_pipeline
        p.add_stage(
            stage_name="Source",
            actions=[
                source_action(platform.source, platform.source_bucket, promotion_source, poll=False)
            ],
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
        pipeline_arn = self.format_arn(service="codepipeline", resource=promotion_name)
        pipeline_permissions(
            self,
            role=self.pipeline_role,
            description="The promotion pipeline: artifacts, source, builds, approval notices",
            source=platform.source,
            n=n,
            artifacts=platform.artifacts,
            artifacts_reason=artifacts_reason,
            projects=list(self.projects.values()),
            topic=data.alerts,
            ops_key=data.ops_key,
        )
        self.operator = Operators(
            self,
            "Operators",
            role_name=n.role(Role.OPERATOR),
            gate=gate,
            promotion_pipeline_arn=pipeline_arn,
            registry_lifecycle_arn=registry_role,
        ).role

        self.handler = ApprovalHandler(
            self,
            "ApprovalHandler",
            config=config,
            n=n,
            code=package_code(root),
            pipeline_name=promotion_name,
            pipeline_arn=pipeline_arn,
            audit_key=data.audit_key,
            state_key=data.data_key,
            audit_retention_days=data.audit_retention_days,
            ops_key=data.ops_key,
            alerts=data.alerts,
            reserved_concurrency=config.functions.reserved_concurrency,
        )
        CfnOutput(self, "PromotionPipelineName", value=promotion_name)


# Beyond this many models, a bus policy admits the forwarders by one pattern per account.
NAMED_FORWARDERS_MAX = 10


def forwarders(
    models: Sequence[Config], environments: Sequence[str], purpose: str
) -> list[tuple[str, str]]:
    """(account, role ARN) of each model's forwarder role in the environments: by name for up
    to NAMED_FORWARDERS_MAX models, else one `<project>-*<env>-<purpose>` pattern per account
    (each model's role matches it, finmlops.naming)."""
    if len(models) <= NAMED_FORWARDERS_MAX:
        return [
            (names(m, env).env.account, names(m, env).role_arn(purpose))
            for m in models
            for env in environments
        ]
    found = []
    for env in environments:
        n = names(models[0], env)
        pattern = f"{n.project}-*{env}-{purpose}"
        found.append((n.env.account, f"arn:{n.partition}:iam::{n.env.account}:role/{pattern}"))
    return found


def codebuild_role(scope: Construct, id_: str, role_name: str, description: str) -> iam.Role:
    """A named CodeBuild role (other accounts' trust policies name it)."""
    return iam.Role(
        scope,
        id_,
        role_name=role_name,
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=description,
    )


def source_action(
    source: SourceSettings,
    bucket: s3.IBucket | None,
    output: codepipeline.Artifact,
    *,
    poll: bool,
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
            # The platform pipeline's builds get the repository with its history: the start
            # step records the commit's people as Git records them (ADR 0014).
            code_build_clone_output=poll,
        )
    assert bucket is not None
    return actions.S3SourceAction(
        action_name="Source",
        bucket=bucket,
        bucket_key=SOURCE_OBJECT_KEY,
        output=output,
        trigger=actions.S3Trigger.POLL if poll else actions.S3Trigger.NONE,
    )


def pipeline_permissions(
    scope: Construct,
    *,
    role: iam.Role,
    description: str,
    source: SourceSettings,
    n: Names,
    artifacts: list[iam.PolicyStatement],
    artifacts_reason: dict[str, str],
    projects: list[codebuild.PipelineProject],
    topic: sns.ITopic | None = None,
    ops_key: kms.IKey | None = None,
) -> None:
    """A pipeline role's one managed policy: its artifacts, its source, its own builds, and
    (with a manual approval) the notification topic."""
    statements = [
        *artifacts,
        iam.PolicyStatement(
            sid="RunBuilds",
            actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
            resources=[project.project_arn for project in projects],
        ),
    ]
    if topic is not None and ops_key is not None:
        statements += [
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
        scope,
        "PipelinePermissions",
        role=role,
        description=description,
        statements=statements,
    )
    acknowledge(policy, artifacts_reason)
