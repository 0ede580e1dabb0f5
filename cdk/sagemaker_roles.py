"""IAM roles for SageMaker: execution roles with guardrails, and the people around the registry.

Every execution role carries the preventive denies of `guardrails`; every role that builds or
runs models is denied approval changes; only the approver role may change approval status; the
registry-lifecycle role may set where a version runs and is denied the rest; the evidence
reader may read what the promotion gate reads and nothing that writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.guardrails import (
    APPROVAL_ACTIONS,
    approver_decisions,
    deny_approval_changes,
    job_guardrails,
    validator_signoffs,
)
from finmlops_cdk.security import (
    iam5_resource,
    kms_access,
    managed_policy,
    object_ack,
    person_role,
    s3_access,
    service_in_this_account,
)

from finmlops.contracts import Stage

ENI_REASON = (
    "SageMaker creates and deletes the elastic network interfaces of VPC jobs with the execution "
    "role; the EC2 ENI and Describe APIs accept no resource-level ARN at creation time."
)


def sagemaker_arn(stack: Stack, resource: str) -> str:
    return f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource}"


# What the promotion gate reads of a pipeline execution (finmlops.registry.authorship and
# gatecheck); each is authorized on the execution's ARN, `pipeline/<name>/execution/<id>`
# (Service Authorization Reference, Amazon SageMaker, resource type pipeline-execution).
EXECUTION_READS: tuple[str, ...] = (
    "sagemaker:DescribePipelineExecution",
    "sagemaker:ListPipelineExecutionSteps",
    "sagemaker:ListPipelineParametersForExecution",
    "sagemaker:DescribePipelineDefinitionForExecution",
)
REGISTRY_READS: tuple[str, ...] = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)


def execution_reads(pipeline_arn: str, sid: str = "ReadBuildExecutions") -> iam.PolicyStatement:
    """The gate's reads of the model-build pipeline's executions (authorship, the build's gates)."""
    return iam.PolicyStatement(
        sid=sid, actions=list(EXECUTION_READS), resources=[f"{pipeline_arn}/execution/*"]
    )


class SageMakerExecutionRole(Construct):
    """A role SageMaker assumes for jobs and models, with the platform's guardrails built in.

    Attribute: `role`. Grants to data and images are added by the stack that owns them.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        role_name: str,
        description: str,
        model_package_group_arn: str,
        model_packages_arn: str,
        volume_key: kms.IKey,
        isolation_actions: Sequence[str] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description=description,
            assumed_by=service_in_this_account(self, "sagemaker"),
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Guardrails",
            description="Preventive denies: VPC, volume key, isolation, approval status",
            roles=[self.role],
        )
        guard_kwargs = {} if isolation_actions is None else {"isolation_actions": isolation_actions}
        for statement in job_guardrails(**guard_kwargs):
            self.policy.add_statements(statement)
        self.policy.add_statements(
            deny_approval_changes(
                model_package_group_arn=model_package_group_arn,
                model_packages_arn=model_packages_arn,
            )
        )

        self.permissions = iam.ManagedPolicy(
            self,
            "Permissions",
            description="What SageMaker jobs and models of this environment need",
            roles=[self.role],
        )
        # Volumes and outputs are encrypted with the environment's data key.
        logs_arn = (
            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:/aws/sagemaker/*"
        )
        self.permissions.add_statements(
            iam.PolicyStatement(
                sid="UseDataKeyForVolumes",
                actions=["kms:CreateGrant"],
                resources=[volume_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            kms_access(sid="UseDataKey", key_arn=volume_key.key_arn, decrypt=True, encrypt=True),
            iam.PolicyStatement(
                sid="JobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[logs_arn],
            ),
            iam.PolicyStatement(
                sid="VpcNetworkInterfaces",
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="PullImagesAuth",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            ),
        )
        self.acknowledge(
            {
                "AwsSolutions-IAM5[Resource::*]": ENI_REASON
                + " ecr:GetAuthorizationToken has no resource either; cloudwatch:PutMetricData "
                "(where granted) is limited by a namespace condition.",
                iam5_resource(logs_arn): "SageMaker writes job logs to log groups under "
                "/aws/sagemaker/ whose names it chooses per job type.",
            }
        )

    def allow(self, *statements: iam.PolicyStatement) -> None:
        """Add permissions (to the role's managed policy, never an inline one)."""
        self.permissions.add_statements(*statements)

    def acknowledge(self, reasons: dict[str, str]) -> None:
        acknowledge(self.permissions, reasons)

    def pull_image(self, repository_arn: str) -> None:
        self.allow(
            iam.PolicyStatement(
                sid="PullMonitoringImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[repository_arn],
            )
        )


class RegistryPeople(Construct):
    """The approver role (the only one that may change approval status) and the data scientists'.

    Both are assumed by IAM users of this account with MFA, as themselves: the session's source
    identity and name must be the user's own name (`security.people_trust_policy`), so what
    SageMaker records as `CreatedBy`/`LastModifiedBy` names the person, whichever role they used.
    Attributes: `approver`, `data_scientist`, `approver_policy`, `approver_guardrails`,
    `data_scientist_policy`, `validator` (and `validator_policy`, `validator_guardrails`).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        approver_role_name: str,
        data_scientist_role_name: str,
        model_package_group_arn: str,
        model_packages_arn: str,
        pipeline_arn: str,
        evidence: Sequence[iam.PolicyStatement] = (),
        evidence_reasons: Mapping[str, str] | None = None,
        validator_role_name: str = "",
    ) -> None:
        """evidence: what approvers and validators read (artifacts) and write (audit records);
        validator_role_name: the validators' role (none when empty)."""
        super().__init__(scope, id_)
        registry = [model_package_group_arn, model_packages_arn]
        read_registry = iam.PolicyStatement(
            sid="ReadRegistry",
            actions=[
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
                "sagemaker:ListTags",
            ],
            resources=registry,
        )

        self.approver = person_role(
            self,
            "Approver",
            role_name=approver_role_name,
            description="Model risk approvers: the only principal that changes approval status",
        )
        approver_policy = iam.ManagedPolicy(self, "ApproverPolicy", roles=[self.approver])
        decisions = approver_decisions(model_packages_arn=model_packages_arn)
        approver_policy.add_statements(
            read_registry,
            # `registry approve` runs the gate: who started the execution that registered the
            # version, and the gates its definition applied (ADR 0014).
            execution_reads(pipeline_arn),
            decisions[0],
            # An approver reviews evidence, never builds what they approve.
            iam.PolicyStatement(
                sid="DenyBuilding",
                effect=iam.Effect.DENY,
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:StartPipelineExecution",
                ],
                resources=["*"],
            ),
        )
        approver_policy.add_statements(*evidence)
        self.approver_policy = approver_policy
        # The denies that keep a decision a decision, apart (a managed policy holds 6,144
        # characters): nothing but the status, its description and the approver's own metadata.
        self.approver_guardrails = iam.ManagedPolicy(
            self,
            "ApproverGuardrails",
            description="Approvers change the approval status and its description, nothing else",
            roles=[self.approver],
            statements=decisions[1:],
        )
        versions = {
            iam5_resource(model_packages_arn): "Every version of this one model group: approvers "
            "decide on versions that SageMaker numbers at registration.",
        }
        executions = {
            iam5_resource(f"{pipeline_arn}/execution/*"): "Executions of this one pipeline (ids "
            "are generated per run): the gate reads the one that registered the version.",
        }
        acknowledge(approver_policy, versions | executions | dict(evidence_reasons or {}))

        self.data_scientist = person_role(
            self,
            "DataScientist",
            role_name=data_scientist_role_name,
            description="Data scientists: run the build pipeline and read results; never approve",
        )
        ds_policy = iam.ManagedPolicy(self, "DataScientistPolicy", roles=[self.data_scientist])
        ds_policy.add_statements(
            read_registry,
            iam.PolicyStatement(
                sid="RunBuildPipeline",
                actions=[
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:DescribePipeline",
                    "sagemaker:ListPipelineExecutions",
                ],
                resources=[pipeline_arn],
            ),
            iam.PolicyStatement(
                sid="FollowExecutions",
                # `registry show` runs the gate's reads too (EXECUTION_READS).
                actions=[*EXECUTION_READS, "sagemaker:StopPipelineExecution"],
                resources=[f"{pipeline_arn}/execution/*"],
            ),
            deny_approval_changes(
                model_package_group_arn=model_package_group_arn,
                model_packages_arn=model_packages_arn,
            ),
        )
        self.data_scientist_policy = ds_policy
        acknowledge(
            ds_policy,
            versions
            | {
                iam5_resource(f"{pipeline_arn}/execution/*"): "Executions of this one pipeline "
                "(ids are generated per run): follow and stop runs they started.",
            },
        )
        self.validator: iam.Role | None = None
        if validator_role_name:
            self._validator(
                validator_role_name,
                read_registry=read_registry,
                pipeline_arn=pipeline_arn,
                model_packages_arn=model_packages_arn,
                evidence=evidence,
                reasons=versions | executions | dict(evidence_reasons or {}),
            )

    def _validator(
        self,
        role_name: str,
        *,
        read_registry: iam.PolicyStatement,
        pipeline_arn: str,
        model_packages_arn: str,
        evidence: Sequence[iam.PolicyStatement],
        reasons: Mapping[str, str],
    ) -> None:
        """Model validators (ADR 0030): read the evidence, record findings in the audit trail,
        and sign off by the one registry write SageMaker attributes to them; never approve, never
        build. Assumed by people as themselves, like the approver."""
        self.validator = person_role(
            self,
            "Validator",
            role_name=role_name,
            description="Model validators: sign off a version's validation; never approve",
        )
        signoffs = validator_signoffs(model_packages_arn=model_packages_arn)
        policy = iam.ManagedPolicy(self, "ValidatorPolicy", roles=[self.validator])
        policy.add_statements(
            read_registry,
            # `registry validate` resolves the version's authors as approval does (ADR 0014).
            execution_reads(pipeline_arn),
            signoffs[0],
            iam.PolicyStatement(
                sid="DenyBuilding",
                effect=iam.Effect.DENY,
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DeleteModelPackage",
                    "sagemaker:PutModelPackageGroupPolicy",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:StartPipelineExecution",
                ],
                resources=["*"],
            ),
            *evidence,
        )
        self.validator_policy = policy
        self.validator_guardrails = iam.ManagedPolicy(
            self,
            "ValidatorGuardrails",
            description="Validators write a sign-off lifecycle, nothing else",
            roles=[self.validator],
            statements=signoffs[1:],
        )
        acknowledge(policy, dict(reasons))


class RegistryLifecycleRole(Construct):
    """Dev's registry-lifecycle role: the promotions (tooling) assume it to record where a version
    runs, the registry's ModelLifeCycle, and may change nothing else it can name; so do
    operators for a rollback, chaining from their own role with their source identity.

    IAM judges UpdateModelPackage by what the request carries: the allow requires a lifecycle of
    the promotion's stages and statuses (`contracts.Stage`) and no approval status; an explicit
    deny refuses any request that carries one. Attribute: `role`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        role_name: str,
        automation_arns: Sequence[str],
        operator_arn: str,
        model_package_group_arn: str,
        model_packages_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Tooling's promotions: set a version's ModelLifeCycle, nothing else",
            assumed_by=iam.CompositePrincipal(*(iam.ArnPrincipal(a) for a in automation_arns)),
            max_session_duration=Duration.hours(1),
        )
        # A person's session carries a source identity into the chain: the next role's trust
        # must allow sts:SetSourceIdentity (IAM User Guide, "Monitor and control actions taken
        # with assumed roles", role chaining), and requiring one keeps automation out of it.
        self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
            iam.PolicyStatement(
                sid="OperatorsAsThemselves",
                principals=[iam.ArnPrincipal(operator_arn)],
                actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
                conditions={"Null": {"sts:SourceIdentity": "false"}},
            )
        )
        policy = managed_policy(
            self,
            "Permissions",
            role=self.role,
            statements=[
                iam.PolicyStatement(
                    sid="ReadVersions",
                    actions=["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                    resources=[model_package_group_arn, model_packages_arn],
                ),
                iam.PolicyStatement(
                    sid="SetLifecycleOnly",
                    actions=["sagemaker:UpdateModelPackage"],
                    resources=[model_packages_arn],
                    conditions={
                        "StringEquals": {
                            "sagemaker:ModelLifeCycle:stage": list(Stage.BY_ENVIRONMENT.values()),
                            "sagemaker:ModelLifeCycle:stageStatus": list(Stage.STATUSES),
                        },
                        "Null": {"sagemaker:ModelApprovalStatus": "true"},
                    },
                ),
                iam.PolicyStatement(
                    sid="DenyApprovalStatus",
                    effect=iam.Effect.DENY,
                    actions=["sagemaker:UpdateModelPackage"],
                    resources=[model_package_group_arn, model_packages_arn],
                    conditions={"Null": {"sagemaker:ModelApprovalStatus": "false"}},
                ),
                iam.PolicyStatement(
                    sid="DenyRegistryChanges",
                    effect=iam.Effect.DENY,
                    actions=[a for a in APPROVAL_ACTIONS if a != "sagemaker:UpdateModelPackage"]
                    + ["sagemaker:CreateModelPackage"],
                    resources=[model_package_group_arn, model_packages_arn],
                ),
            ],
        )
        acknowledge(
            policy,
            {
                iam5_resource(model_packages_arn): "Every version of this one model group: the "
                "deployment manifest names the version; the conditions allow a lifecycle only.",
            },
        )


class EvidenceReaderRole(Construct):
    """Dev's evidence reader: tooling's promotion gate, the approval handler and `promote
    resolve` in each promotion, reads here what it judges a version by, and can write nothing.

    SageMaker pipelines have no resource policy, so another account reads their executions
    either through an AWS RAM share of the pipeline or as a role of this account. This is the
    role (ADR 0016): its trust names the three tooling roles, one place grants the executions,
    the evidence objects and the data key together, and `finmlops.iam` evaluates all of it on
    the templates. Attribute: `role`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        role_name: str,
        reader_arns: Sequence[str],
        model_package_group_arn: str,
        model_packages_arn: str,
        pipeline_arn: str,
        partition: str,
        artifact_bucket: str,
        evidence_prefix: str,
        data_key_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Tooling's promotion gate: read executions, evidence and the registry",
            assumed_by=iam.CompositePrincipal(*(iam.ArnPrincipal(a) for a in reader_arns)),
            max_session_duration=Duration.hours(1),
        )
        executions = f"{pipeline_arn}/execution/*"
        policy = managed_policy(
            self,
            "Permissions",
            role=self.role,
            statements=[
                iam.PolicyStatement(
                    sid="ReadVersions",
                    actions=list(REGISTRY_READS),
                    resources=[model_package_group_arn, model_packages_arn],
                ),
                execution_reads(pipeline_arn),
                # GetObject of the evaluation and fairness JSON a version names; ListBucket under
                # the prefix so that a missing file answers 404, not 403 (S3 API reference,
                # GetObject: "If you don't have the s3:ListBucket permission, Amazon S3 returns
                # an HTTP status code 403").
                *s3_access(
                    sid="ReadEvidence",
                    partition=partition,
                    bucket=artifact_bucket,
                    prefix=evidence_prefix,
                    read=True,
                    list_objects=True,
                ),
                # The data key only as S3 uses it to decrypt those objects (kms:ViaService, AWS
                # KMS Developer Guide): no direct Decrypt of other ciphertext under this key.
                iam.PolicyStatement(
                    sid="DecryptEvidenceThroughS3",
                    actions=["kms:Decrypt"],
                    resources=[data_key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}
                    },
                ),
                # The repository's guardrail for every role that is not the approver's.
                deny_approval_changes(
                    model_package_group_arn=model_package_group_arn,
                    model_packages_arn=model_packages_arn,
                ),
            ],
        )
        acknowledge(
            policy,
            {
                iam5_resource(model_packages_arn): "Every version of this one model group: the "
                "approval event or the promotion names the version to judge.",
                iam5_resource(executions): "Executions of this one pipeline (ids are generated "
                "per run): the version's MetadataProperties.GeneratedBy names the one to read.",
            }
            | object_ack(
                partition,
                artifact_bucket,
                evidence_prefix,
                "Read-only: the evaluation and fairness JSON of every version under model-build/.",
            ),
        )
