"""The audit trail's store: an Object Lock bucket whose records can only be created, and a KMS
key that nobody but the named break-glass role can delete, disable or re-police.

What AWS enforces here, for every principal of every account (the account root included):

- **Create-only records** (docs: "Enforce conditional writes on Amazon S3 buckets",
  conditional-writes-enforce). The bucket policy denies `s3:PutObject` that carries no
  `If-None-Match` (condition key `s3:if-none-match` null) when the request creates an object
  (`s3:ObjectCreationOperation` true or absent: PutObject, CopyObject, CompleteMultipartUpload);
  CreateMultipartUpload, UploadPart and UploadPartCopy carry `false` and cannot take the header.
  An overwrite is therefore refused, and so is any CopyObject into the bucket (403 without the
  header, 501 with it): records are never copied in. Every writer of the platform (the approval
  handler, the promotion build, approvers) appends through `finmlops.registry.storage.put_new`,
  which always sends `If-None-Match: *`.
- **No shortened retention.** Object Lock COMPLIANCE applies a default retention to each record
  as S3 writes it; a writer may send its own retention headers, so the policy denies a mode other
  than COMPLIANCE (`s3:object-lock-mode`) and fewer remaining days than the default
  (`s3:object-lock-remaining-retention-days`, one day of slack for rounding).
- **No deletion** (`s3:DeleteObject`, `s3:DeleteObjectVersion`) except by the break-glass role:
  a delete marker hides a record from GetObject even under Object Lock.
- **The key outlives everyone's mistakes.** The key policy denies `kms:ScheduleKeyDeletion`,
  `kms:DisableKey`, `kms:DeleteImportedKeyMaterial` and `kms:PutKeyPolicy` (else an
  administrator rewrites the policy first) to every principal but the break-glass role
  (`aws:PrincipalArn`, which is the role's ARN for all its sessions). Deleting or disabling the
  key would make every record unreadable while S3 keeps it.

Two consequences of denying `kms:PutKeyPolicy` (docs/decisions/0011): KMS's lockout safety
check refuses a policy that keeps its caller (CloudFormation's execution role) from calling
PutKeyPolicy again, so the key sets `BypassPolicyLockoutSafetyCheck` (the break-glass role keeps
the power to change the policy, through the account's IAM delegation statement). And a later
change of this key policy fails under the CloudFormation execution role: it is deployed with
the break-glass role as CloudFormation's role, a break-glass action like any other.

What the bucket policy cannot stop (S3 lets the account root delete any bucket policy) the
readers see: a second object version or a delete marker on a record key (`finmlops audit
verify`), and COMPLIANCE retention keeps the original version in any case.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from finmlops_cdk.security import EncryptionKey, SecureBucket

from finmlops.contracts import Promotion

# Audit records are evidence for examiners: seven years, in compliance mode (nobody can shorten it).
AUDIT_RETENTION_DAYS = Promotion.AUDIT_RETENTION_DAYS

# What only the break-glass role may do to the audit key (Service Authorization Reference, AWS
# KMS: each is a key-level action on `key`).
KEY_DESTRUCTION_ACTIONS: tuple[str, ...] = (
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:DeleteImportedKeyMaterial",
    "kms:PutKeyPolicy",
)
RECORD_DELETION_ACTIONS: tuple[str, ...] = ("s3:DeleteObject", "s3:DeleteObjectVersion")
# What a reader of the trail needs besides GetObject/GetObjectVersion: the versions of each
# record key (an overwrite is a second version) and each version's retention.
READ_CHAIN_ACTIONS: tuple[str, ...] = ("s3:ListBucketVersions",)
READ_RETENTION_ACTIONS: tuple[str, ...] = ("s3:GetObjectRetention",)


class AuditTrailStore(Construct):
    """The audit bucket and its key, with the policies above.

    Attributes: `bucket`, `key`, `retention_days`, `break_glass_role_arn`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket_name: str,
        key_alias: str,
        description: str,
        access_logs: s3.IBucket,
        break_glass_role: str,
        retention_days: int = AUDIT_RETENTION_DAYS,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.retention_days = retention_days
        self.break_glass_role_arn = (
            f"arn:{stack.partition}:iam::{stack.account}:role/{break_glass_role}"
        )
        self.key = EncryptionKey(self, "Key", alias=key_alias, description=description).key
        self._protect_key(self.key)
        self.bucket = SecureBucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption_key=self.key,
            access_logs=access_logs,
            object_lock_days=retention_days,
        ).bucket
        self._create_only(self.bucket)

    def _except_break_glass(self) -> dict[str, dict[str, str]]:
        return {"ArnNotLike": {"aws:PrincipalArn": self.break_glass_role_arn}}

    def _protect_key(self, key: kms.Key) -> None:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyKeyDestructionExceptBreakGlass",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(KEY_DESTRUCTION_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions=self._except_break_glass(),
            )
        )
        cfn_key = key.node.default_child
        if not isinstance(cfn_key, kms.CfnKey):
            raise TypeError("the audit key's CloudFormation resource is not an AWS::KMS::Key")
        # The policy denies PutKeyPolicy to CloudFormation's role, which KMS's lockout safety
        # check would refuse (API reference, CreateKey: BypassPolicyLockoutSafetyCheck).
        cfn_key.bypass_policy_lockout_safety_check = True

    def _create_only(self, bucket: s3.Bucket) -> None:
        objects = bucket.arn_for_objects("*")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyObjectWritesWithoutIfNoneMatch",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "Null": {"s3:if-none-match": "true"},
                    # Absent counts as creating: only the multipart steps that cannot carry the
                    # header say false.
                    "BoolIfExists": {"s3:ObjectCreationOperation": "true"},
                },
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyRetentionOtherThanCompliance",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "Null": {"s3:object-lock-mode": "false"},
                    "StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"},
                },
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyRetentionShorterThanTheDefault",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "NumericLessThan": {
                        "s3:object-lock-remaining-retention-days": str(self.retention_days - 1)
                    }
                },
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyRecordDeletionExceptBreakGlass",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(RECORD_DELETION_ACTIONS),
                resources=[objects],
                conditions=self._except_break_glass(),
            )
        )
