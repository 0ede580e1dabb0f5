"""What the tooling roles may do: the bootstrap roles of one deploy target, the grants of the
promotion gate and its records, and the operators' role (ADR 0012).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.security import (
    audit_trail_access,
    iam5_resource,
    kms_access,
    managed_policy,
    object_ack,
    person_role,
    s3_access,
)

from finmlops.contracts import Promotion, Validation
from finmlops.naming import BOOTSTRAP_QUALIFIER, Names


def assume_bootstrap_roles(target: Names) -> iam.PolicyStatement:
    """The `cdk bootstrap` roles of one account (deploy, file and image publishing, lookup),
    by name pattern and their `aws-cdk:bootstrap-role` tag; `cdk bootstrap --trust` admits
    the tooling account on their side (docs/deploy.md)."""
    return iam.PolicyStatement(
        sid="AssumeBootstrapRoles",
        actions=["sts:AssumeRole", "sts:TagSession"],
        resources=[bootstrap_roles_arn(target)],
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
    )


def bootstrap_roles_arn(target: Names) -> str:
    account, region = target.env.account, target.env.region
    return (
        f"arn:{target.partition}:iam::{account}:role/"
        f"cdk-{BOOTSTRAP_QUALIFIER}-*-role-{account}-{region}"
    )


def bootstrap_reason(target: Names) -> dict[str, str]:
    return {
        iam5_resource(bootstrap_roles_arn(target)): "The cdk bootstrap roles of one target "
        "account (deploy, file- and image-publishing, lookup), narrowed by their "
        "aws-cdk:bootstrap-role tag; `cdk bootstrap --trust` admits this account."
    }


@dataclass(frozen=True)
class GateGrants:
    """What the promotion gate and its records need in tooling: append audit records, read and
    write the deployment history, read the registry (dev, through the group's policy)."""

    n: Names
    audit_key: kms.IKey
    state_key: kms.IKey

    @property
    def audit(self) -> list[iam.PolicyStatement]:
        return [
            *audit_trail_access(
                sid="AppendAuditRecords", partition=self.n.partition, bucket=self.n.audit_bucket
            ),
            kms_access(sid="AuditKey", key_arn=self.audit_key.key_arn, decrypt=True, encrypt=True),
        ]

    @property
    def history(self) -> list[iam.PolicyStatement]:
        return [
            *s3_access(
                sid="DeploymentHistory",
                partition=self.n.partition,
                bucket=self.n.state_bucket,
                prefix=Promotion.DEPLOYMENTS_PREFIX,
                read=True,
                write=True,
                list_objects=True,
            ),
            # The promotion gate trusts a sign-off the handler vouched for (ADR 0030): read only.
            *s3_access(
                sid="SignoffMarkers",
                partition=self.n.partition,
                bucket=self.n.state_bucket,
                prefix=Validation.MARKERS_PREFIX,
                read=True,
            ),
            kms_access(sid="StateKey", key_arn=self.state_key.key_arn, decrypt=True, encrypt=True),
        ]

    @property
    def read_history(self) -> list[iam.PolicyStatement]:
        """Read the deployment history only: what serves where (`promote check-portfolio`)."""
        return [
            *s3_access(
                sid="ReadDeploymentHistory",
                partition=self.n.partition,
                bucket=self.n.state_bucket,
                prefix=Promotion.DEPLOYMENTS_PREFIX,
                read=True,
                list_objects=True,
            ),
            kms_access(sid="ReadStateKey", key_arn=self.state_key.key_arn, decrypt=True),
        ]

    @property
    def read_registry(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="ReadVersionsInRegistry",
            actions=[
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
            ],
            resources=[self.n.model_package_group_arn, self.n.model_packages_arn],
        )

    @property
    def audit_reason(self) -> dict[str, str]:
        reason: dict[str, str] = object_ack(
            self.n.partition,
            self.n.audit_bucket,
            Promotion.AUDIT_PREFIX,
            "Appends one record per decision, resolution or deployment under audit/ "
            "(Object Lock, conditional creates).",
        )
        return reason

    @property
    def history_read_reason(self) -> dict[str, str]:
        reason: dict[str, str] = object_ack(
            self.n.partition,
            self.n.state_bucket,
            Promotion.DEPLOYMENTS_PREFIX,
            "Reads the deployment history under deployments/ (which model serves where), "
            "writes nothing.",
        )
        return reason

    @property
    def reasons(self) -> dict[str, str]:
        reasons: dict[str, str] = (
            self.audit_reason
            | object_ack(
                self.n.partition,
                self.n.state_bucket,
                Promotion.DEPLOYMENTS_PREFIX,
                "One write-once entry per deployment under deployments/<env>/ (what rollback "
                "returns to).",
            )
            | object_ack(
                self.n.partition,
                self.n.state_bucket,
                Validation.MARKERS_PREFIX,
                "The handler's markers of observed validator sign-offs, read by the gate.",
            )
            | {
                iam5_resource(self.n.model_packages_arn): "Every version of this one model "
                "group: the pipeline variable or the operator names the version."
            }
        )
        return reasons


class Operators(Construct):
    """The role people assume to operate promotions (`finmlops promote rollback`, `promote
    status`, `audit export`): IAM users of tooling, with MFA, as themselves (source identity).

    Attribute: `role`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        role_name: str,
        gate: GateGrants,
        promotion_pipeline_arn: str,
        registry_lifecycle_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        self.role = person_role(
            self,
            "Role",
            role_name=role_name,
            description="Operators: roll back, follow promotions, export the audit trail",
        )
        policy = managed_policy(
            self,
            "Permissions",
            role=self.role,
            description="Rollback and status: history, audit trail, registry, promotion pipeline",
            statements=[
                *gate.audit,
                *gate.history,
                gate.read_registry,
                iam.PolicyStatement(
                    sid="RedeployThroughThePipeline",
                    actions=[
                        "codepipeline:StartPipelineExecution",
                        "codepipeline:GetPipelineState",
                        "codepipeline:GetPipelineExecution",
                        "codepipeline:ListPipelineExecutions",
                    ],
                    resources=[promotion_pipeline_arn],
                ),
                # Rollback marks the version RolledBack in dev's registry (ADR 0008).
                iam.PolicyStatement(
                    sid="AssumeRegistryLifecycle",
                    actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
                    resources=[registry_lifecycle_arn],
                ),
            ],
        )
        acknowledge(policy, gate.reasons)
