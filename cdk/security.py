"""Secure defaults in one place: keys, buckets, dead-letter queues, encrypted log groups.

Every store gets a customer-managed key with rotation; every bucket blocks public access, keeps
versions, refuses plain HTTP and logs access; every dead-letter queue has an alarm with an action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from finmlops_cdk.compliance import acknowledge

from finmlops.contracts import Promotion

LOG_RETENTION = logs.RetentionDays.ONE_YEAR

REPLICATION_REASON = (
    "Single-region platform by design (docs/decisions/0003): durability comes from S3's own "
    "redundancy plus versioning; cross-region replication of model data is an org DR decision."
)


class EncryptionKey(Construct):
    """A customer-managed KMS key with yearly rotation, kept when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        alias: str,
        description: str,
        service_principals: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            description=description,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )
        if service_principals:
            self.allow_services(service_principals)

    def allow_services(self, services: Sequence[str]) -> None:
        """Let AWS services encrypt for this account (logs, SNS publishers, EventBridge DLQs)."""
        stack = Stack.of(self)
        principals: list[iam.IPrincipal] = []
        for service in services:
            # CloudWatch Logs is the one service that needs its regional principal.
            name = f"logs.{stack.region}.amazonaws.com" if service == "logs" else service
            principals.append(iam.ServicePrincipal(name))
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAwsServicesOfThisAccount",
                principals=principals,
                actions=[
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                    "kms:DescribeKey",
                ],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )


class AccessLogBucket(Construct):
    """The target of S3 server access logs (S3 log delivery supports SSE-S3 only)."""

    def __init__(
        self, scope: Construct, id_: str, *, bucket_name: str, retention_days: int
    ) -> None:
        super().__init__(scope, id_)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.bucket,
            {
                "AwsSolutions-S1": "This is the access-log bucket itself: logging it into itself "
                "would loop; its writes come only from the S3 log delivery service.",
                "NIST.800.53.R5-S3BucketLoggingEnabled": "Access-log bucket: it is the log "
                "destination of every other bucket and cannot log into itself.",
                "PCI.DSS.321-S3BucketLoggingEnabled": "Access-log bucket: it is the log "
                "destination of every other bucket and cannot log into itself.",
                "NIST.800.53.R5-S3DefaultEncryptionKMS": "S3 server access log delivery "
                "supports SSE-S3 (AES256) target buckets only, not SSE-KMS.",
                "PCI.DSS.321-S3DefaultEncryptionKMS": "S3 server access log delivery "
                "supports SSE-S3 (AES256) target buckets only, not SSE-KMS.",
                "NIST.800.53.R5-S3BucketReplicationEnabled": REPLICATION_REASON,
                "PCI.DSS.321-S3BucketReplicationEnabled": REPLICATION_REASON,
            },
        )


class SecureBucket(Construct):
    """A KMS-encrypted, versioned, TLS-only, access-logged bucket with public access blocked."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket_name: str,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        expire_after_days: int | None = None,
        object_lock_days: int | None = None,
    ) -> None:
        super().__init__(scope, id_)
        lifecycle: list[s3.LifecycleRule] = []
        if expire_after_days is not None:
            # Current and previous versions both go: an erasure that leaves versions erases nothing.
            lifecycle.append(
                s3.LifecycleRule(
                    id="ExpireAfterRetention",
                    expiration=Duration.days(expire_after_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{bucket_name}/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=lifecycle or None,
            object_lock_enabled=True if object_lock_days else None,
            object_lock_default_retention=(
                s3.ObjectLockRetention.compliance(Duration.days(object_lock_days))
                if object_lock_days
                else None
            ),
        )
        acknowledge(
            self.bucket,
            {
                "NIST.800.53.R5-S3BucketReplicationEnabled": REPLICATION_REASON,
                "PCI.DSS.321-S3BucketReplicationEnabled": REPLICATION_REASON,
            },
        )


class AlertTopic(Construct):
    """An encrypted SNS topic for alarms and approvals; TLS-only publishing."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        encryption_key: kms.IKey,
        emails: Sequence[str] = (),
        display_name: str,
    ) -> None:
        super().__init__(scope, id_)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=display_name,
            master_key=encryption_key,
            enforce_ssl=True,
        )
        for index, email in enumerate(emails):
            sns.Subscription(
                self,
                f"Email{index}",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=email,
            )


class DeadLetterQueue(Construct):
    """A KMS-encrypted queue for events that could not be delivered, with an alarm on depth."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        encryption_key: kms.IKey,
        alarm_topic: sns.ITopic,
        purpose: str,
    ) -> None:
        super().__init__(scope, id_)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "NotEmpty",
            alarm_description=f"Undelivered events: {purpose}. Inspect and redrive the queue.",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        acknowledge(
            self.queue,
            {
                "AwsSolutions-SQS3": "This queue is itself a dead-letter queue (EventBridge or "
                "Lambda failures land here); a queue of last resort has no further DLQ.",
            },
        )


def encrypted_log_group(
    scope: Construct, id_: str, *, encryption_key: kms.IKey, name: str | None = None
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        id_,
        log_group_name=name,
        encryption_key=encryption_key,
        retention=LOG_RETENTION,
        removal_policy=RemovalPolicy.RETAIN,
    )


def service_in_this_account(scope: Construct, service: str) -> iam.ServicePrincipal:
    """An AWS service as a role's principal, only on behalf of this stack's account (no
    confused deputy: aws:SourceAccount)."""
    return iam.ServicePrincipal(
        f"{service}.amazonaws.com",
        conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}},
    )


def object_arn(partition: str, bucket: str, prefix: str = "") -> str:
    return f"arn:{partition}:s3:::{bucket}/{prefix}*"


def s3_access(
    *,
    sid: str,
    partition: str,
    bucket: str,
    prefix: str = "",
    read: bool = False,
    write: bool = False,
    delete: bool = False,
    lock: bool = False,
    list_objects: bool = False,
) -> list[iam.PolicyStatement]:
    """Object access to one bucket (by name: no cross-stack reference), under one prefix.

    lock: set Object Lock retention on new objects (audit records); never bypass governance.
    """
    actions: list[str] = []
    if read:
        actions += ["s3:GetObject", "s3:GetObjectVersion"]
    if write:
        actions += ["s3:PutObject", "s3:AbortMultipartUpload"]
    if delete:
        actions += ["s3:DeleteObject"]
    if lock:
        actions += ["s3:PutObjectRetention"]
    statements = [
        iam.PolicyStatement(
            sid=sid, actions=actions, resources=[object_arn(partition, bucket, prefix)]
        )
    ]
    if list_objects:
        # s3:prefix is defined for ListBucket only (Service Authorization Reference): under a
        # prefix condition GetBucketLocation would never be allowed, so it goes with whole
        # buckets only.
        statements.append(
            iam.PolicyStatement(
                sid=f"{sid}List",
                actions=["s3:ListBucket"] if prefix else ["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[f"arn:{partition}:s3:::{bucket}"],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
            )
        )
    return statements


def kms_access(
    *, sid: str, key_arn: str, decrypt: bool = False, encrypt: bool = False
) -> iam.PolicyStatement:
    """Use of one key: Decrypt to read, GenerateDataKey/Encrypt to write (no wildcards)."""
    actions = ["kms:DescribeKey"]
    if decrypt:
        actions.append("kms:Decrypt")
    if encrypt:
        actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    return iam.PolicyStatement(sid=sid, actions=actions, resources=[key_arn])


def iam5_resource(resource: str) -> str:
    """The id of cdk-nag's finding for a wildcard resource, for an acknowledgment."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def audit_trail_access(*, sid: str, partition: str, bucket: str) -> list[iam.PolicyStatement]:
    """Append to the audit trail (`audit/` of an Object Lock bucket): conditional creates with
    retention, and the reads and listing that exports and the promotion gate need. Appending
    reads the head of its chain and every reader checks each record's versions, so both list
    object versions (s3:ListBucketVersions) and read one version (s3:GetObjectVersion); exports
    read each record's retention (s3:GetObjectRetention). Never delete, never bypass governance."""
    objects, listing = s3_access(
        sid=sid,
        partition=partition,
        bucket=bucket,
        prefix=Promotion.AUDIT_PREFIX,
        read=True,
        write=True,
        lock=True,
        list_objects=True,
    )
    objects.add_actions("s3:GetObjectRetention")
    listing.add_actions("s3:ListBucketVersions")
    return [objects, listing]


def object_ack(partition: str, bucket: str, prefix: str, reason: str) -> dict[str, str]:
    return {iam5_resource(object_arn(partition, bucket, prefix)): reason}


def logs_access(*, sid: str, log_group: logs.ILogGroup) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn],
    )


def managed_policy(
    scope: Construct,
    id_: str,
    *,
    role: iam.IRole,
    statements: Sequence[iam.PolicyStatement],
    description: str | None = None,
) -> iam.ManagedPolicy:
    """Permissions as a customer-managed policy: no inline policies (NIST/PCI IAMNoInlinePolicy)."""
    return iam.ManagedPolicy(
        scope, id_, roles=[role], statements=list(statements), description=description
    )


# The IAM user's own name (the policy variable exists only for IAM users: a role session, the
# root user or a federated session has no aws:username, so the condition fails for them).
PERSON = "${aws:username}"


def people_trust_policy(account_root_arn: str) -> dict[str, Any]:
    """The trust policy of a role a person assumes: IAM users of this account, with MFA, whose
    session's source identity and name are both their own user name.

    AWS rules relied on (IAM User Guide):
    - `sts:SourceIdentity` and `sts:RoleSessionName` ("IAM and AWS STS condition context keys",
      reference_policies_iam-condition-keys.html) compare the values the caller passes to
      AssumeRole; `${aws:username}` (reference_policies_variables.html,
      reference_policies_condition-keys.html#condition-keys-username) is present only for IAM
      users.
    - Setting a source identity needs `sts:SetSourceIdentity` in the trust policy ("Monitor and
      control actions taken with assumed roles", id_credentials_temp_control-access_monitor.html);
      once set it cannot be changed in the session and follows role chaining, and SageMaker
      records it in `UserContext.IamIdentity.SourceIdentity`.
    - The Service Authorization Reference defines `sts:RoleSessionName` for AssumeRole only, so
      the SetSourceIdentity statement conditions the source identity and MFA alone (a key an
      action does not define is absent, and StringEquals on it would never match).
    """
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PeopleWithMfaAsThemselves",
                "Effect": "Allow",
                "Principal": {"AWS": account_root_arn},
                "Action": "sts:AssumeRole",
                "Condition": {
                    **mfa,
                    "StringEquals": {"sts:SourceIdentity": PERSON, "sts:RoleSessionName": PERSON},
                },
            },
            {
                "Sid": "SourceIdentityIsTheUserName",
                "Effect": "Allow",
                "Principal": {"AWS": account_root_arn},
                "Action": "sts:SetSourceIdentity",
                "Condition": {**mfa, "StringEquals": {"sts:SourceIdentity": PERSON}},
            },
        ],
    }


def person_role(
    scope: Construct,
    id_: str,
    *,
    role_name: str,
    description: str,
    max_session_hours: int = 1,
) -> iam.Role:
    """A role people of this account assume as themselves (`people_trust_policy`)."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        id_,
        role_name=role_name,
        description=description,
        assumed_by=iam.AccountPrincipal(stack.account),
        max_session_duration=Duration.hours(max_session_hours),
    )
    root = f"arn:{stack.partition}:iam::{stack.account}:root"
    cfn = role.node.default_child
    assert isinstance(cfn, iam.CfnRole)
    # CDK's principals cannot express sts:SetSourceIdentity: the document is written out here.
    cfn.add_property_override("AssumeRolePolicyDocument", people_trust_policy(root))
    return role
