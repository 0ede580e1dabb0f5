"""Preventive IAM: what an execution role may never do, whatever else it is granted.

- Jobs and models outside the VPC, without a volume key, or without network isolation (where
  SageMaker offers it) are denied at the API (security bar item 5).
- Builders never change a version's approval status: only the approver role may (item 14).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam

# Actions that take sagemaker:VpcSubnets / sagemaker:VpcSecurityGroupIds.
VPC_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
)
# Actions that take sagemaker:VolumeKmsKey.
VOLUME_KEY_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateTransformJob",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
)
# Actions that take sagemaker:NetworkIsolation and whose workloads need no network of their own:
# training reads its channels and models serve requests without calling out. Processing and
# monitoring jobs call S3 and CloudWatch from their code, so they stay in the VPC instead.
ISOLATION_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateModel",
)
# Actions that take sagemaker:InterContainerTrafficEncryption.
ENCRYPTION_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
)
# Changing approval (or the group's policy, which could grant it) is the approver's act alone.
APPROVAL_ACTIONS: tuple[str, ...] = (
    "sagemaker:UpdateModelPackage",
    "sagemaker:DeleteModelPackage",
    "sagemaker:PutModelPackageGroupPolicy",
    "sagemaker:DeleteModelPackageGroupPolicy",
)


def job_guardrails(
    *,
    vpc_actions: Sequence[str] = VPC_ACTIONS,
    volume_key_actions: Sequence[str] = VOLUME_KEY_ACTIONS,
    isolation_actions: Sequence[str] = ISOLATION_ACTIONS,
) -> list[iam.PolicyStatement]:
    """Explicit denies for SageMaker jobs and models created without the platform's controls."""
    statements = [
        iam.PolicyStatement(
            sid="DenyJobsOutsideVpc",
            effect=iam.Effect.DENY,
            actions=list(vpc_actions),
            resources=["*"],
            conditions={"Null": {"sagemaker:VpcSubnets": "true"}},
        ),
        iam.PolicyStatement(
            sid="DenyJobsWithoutSecurityGroup",
            effect=iam.Effect.DENY,
            actions=list(vpc_actions),
            resources=["*"],
            conditions={"Null": {"sagemaker:VpcSecurityGroupIds": "true"}},
        ),
        iam.PolicyStatement(
            sid="DenyJobsWithoutVolumeKey",
            effect=iam.Effect.DENY,
            actions=list(volume_key_actions),
            resources=["*"],
            conditions={"Null": {"sagemaker:VolumeKmsKey": "true"}},
        ),
        iam.PolicyStatement(
            sid="DenyUnencryptedInterContainerTraffic",
            effect=iam.Effect.DENY,
            actions=list(ENCRYPTION_ACTIONS),
            resources=["*"],
            conditions={"Bool": {"sagemaker:InterContainerTrafficEncryption": "false"}},
        ),
    ]
    if isolation_actions:
        statements += [
            iam.PolicyStatement(
                sid="DenyWithoutNetworkIsolation",
                effect=iam.Effect.DENY,
                actions=list(isolation_actions),
                resources=["*"],
                conditions={"Bool": {"sagemaker:NetworkIsolation": "false"}},
            ),
            iam.PolicyStatement(
                sid="DenyNetworkIsolationUnset",
                effect=iam.Effect.DENY,
                actions=list(isolation_actions),
                resources=["*"],
                conditions={"Null": {"sagemaker:NetworkIsolation": "true"}},
            ),
        ]
    return statements


def deny_approval_changes(
    *, model_package_group_arn: str, model_packages_arn: str
) -> iam.PolicyStatement:
    """Segregation of duties: this principal may build and register, never approve."""
    return iam.PolicyStatement(
        sid="DenyApprovalStatusChanges",
        effect=iam.Effect.DENY,
        actions=list(APPROVAL_ACTIONS),
        resources=[model_package_group_arn, model_packages_arn],
    )
