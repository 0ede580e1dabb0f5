"""Stateful resources of one environment: keys, buckets, the model registry, the alert topic.

Kept apart from everything that can be rebuilt, with termination protection in stage and prod.
Construct ids here must never change once deployed: a new id is a new bucket.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from finmlops_cdk.alerts import ChatNotifier
from finmlops_cdk.assets import package_code
from finmlops_cdk.audit_trail import AUDIT_RETENTION_DAYS, AuditTrailStore
from finmlops_cdk.security import (
    AccessLogBucket,
    AlertTopic,
    EncryptionKey,
    SecureBucket,
)

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import Promotion
from finmlops.naming import Names, Role, names

ACCESS_LOG_RETENTION_DAYS = 400


def registry_readers(config: Config) -> list[tuple[str, str]]:
    """(account, role ARN pattern) of every principal outside dev that reads model versions."""
    readers: list[tuple[str, str]] = []
    for env_name in SERVING_ENVIRONMENTS:
        n = names(config, env_name)
        for purpose in (Role.MODEL, Role.MONITORING):
            readers.append((n.env.account, n.role_arn(purpose)))
        # CloudFormation creates the model from the package: the bootstrap execution role.
        readers.append((n.env.account, n.bootstrap_role_arn("cfn-exec")))
    tooling = names(config, "tooling")
    # The handler and the promotions run the gate; operators read what they roll back to.
    for purpose in (Role.RESOLVER, Role.PROMOTE_STAGE, Role.PROMOTE_PROD, Role.OPERATOR):
        readers.append((tooling.env.account, tooling.role_arn(purpose)))
    return readers


def artifact_readers(config: Config) -> list[tuple[str, str]]:
    """Principals in stage and prod that read model artifacts and baselines from dev."""
    readers: list[tuple[str, str]] = []
    purposes: tuple[str, ...] = (Role.MODEL, Role.MONITORING)
    if config.serving.batch:
        # The batch job's role reads the approved archive (finmlops_cdk.batch.batch_role_purpose;
        # tests/cdk/test_batch.py checks the two agree).
        purposes += (f"batch-{config.model.name}",)
    for env_name in SERVING_ENVIRONMENTS:
        n = names(config, env_name)
        readers.extend((n.env.account, n.role_arn(p)) for p in purposes)
    return readers


def audit_writers(config: Config) -> list[tuple[str, str]]:
    """People outside tooling who append to its audit trail: the approvers and the validators
    (in dev, where the registry is), whose approve, reject and validate commands record every
    decision and finding."""
    dev = names(config, "dev")
    role = f"arn:{dev.partition}:iam::{dev.env.account}:role/{config.governance.approver_role}"
    return [(dev.env.account, role), (dev.env.account, dev.role_arn(Role.VALIDATOR))]


def _accounts_with_condition(readers: list[tuple[str, str]]) -> dict[str, Any]:
    """Principal = the accounts, narrowed to named roles: never a whole account unconditioned."""
    accounts = sorted({account for account, _ in readers})
    return {
        "principals": [iam.AccountPrincipal(account) for account in accounts],
        "conditions": {"ArnLike": {"aws:PrincipalArn": sorted({arn for _, arn in readers})}},
    }


class DataStack(Stack):
    """Keys, buckets, registry and alerts of one environment.

    Attributes: `data_key`, `ops_key`, `audit_key`, `access_logs`, `artifacts` (dev), `audit`,
    `capture` and `monitoring_output` (stage and prod), `state` (tooling), `model_package_group`
    (dev), `alerts`, `chat` (the chat notifier, when `notifications.chat_webhook_parameter` is set).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        environment: str,
        root: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, environment)
        self.names = n
        serving = environment in SERVING_ENVIRONMENTS
        chat_parameter = config.notifications.chat_webhook_parameter

        self.data_key = EncryptionKey(
            self,
            "DataKey",
            alias=n.data_key_alias,
            description=f"{config.project} {environment}: model data, artifacts, SageMaker volumes",
        ).key
        self.ops_key = EncryptionKey(
            self,
            "OpsKey",
            alias=f"alias/{config.project}-{environment}-ops",
            description=f"{config.project} {environment}: alerts, queues, logs, build artifacts",
            service_principals=[
                "logs",
                "cloudwatch.amazonaws.com",
                "events.amazonaws.com",
                "scheduler.amazonaws.com",
                # SNS dead-letters what it cannot deliver to the chat notifier (encrypted queue).
                *(["sns.amazonaws.com"] if chat_parameter else []),
            ],
        ).key

        self.access_logs = AccessLogBucket(
            self,
            "AccessLogs",
            bucket_name=n.bucket("access-logs"),
            retention_days=ACCESS_LOG_RETENTION_DAYS,
        ).bucket
        self.artifacts: s3.Bucket | None = None
        if environment == "dev":
            # What the model build writes: step code, data splits, models, evidence, baselines.
            self.artifacts = SecureBucket(
                self,
                "Artifacts",
                bucket_name=n.artifact_bucket,
                encryption_key=self.data_key,
                access_logs=self.access_logs,
            ).bucket
        # Create-only records, an undeletable key (finmlops_cdk.audit_trail, ADR 0011).
        trail = AuditTrailStore(
            self,
            "AuditTrail",
            bucket_name=n.audit_bucket,
            key_alias=f"alias/{config.project}-{environment}-audit",
            description=f"{config.project} {environment}: the append-only audit trail",
            access_logs=self.access_logs,
            break_glass_role=config.governance.break_glass_role,
            retention_days=AUDIT_RETENTION_DAYS,
        )
        self.audit, self.audit_key = trail.bucket, trail.key
        self.audit_retention_days = trail.retention_days
        if environment == "tooling":
            self._admit_approvers(config)

        self.capture = None
        self.monitoring_output = None
        if serving:
            # Requests and responses hold personal data: kept only as long as the config says.
            self.capture = SecureBucket(
                self,
                "Capture",
                bucket_name=n.bucket("capture"),
                encryption_key=self.data_key,
                access_logs=self.access_logs,
                expire_after_days=config.monitoring.capture_retention_days,
            ).bucket
            self.monitoring_output = SecureBucket(
                self,
                "MonitoringOutput",
                bucket_name=n.bucket("monitoring"),
                encryption_key=self.data_key,
                access_logs=self.access_logs,
            ).bucket

        self.state = None
        if environment == "tooling":
            self.state = SecureBucket(
                self,
                "PromotionState",
                bucket_name=n.state_bucket,
                encryption_key=self.data_key,
                access_logs=self.access_logs,
            ).bucket

        self.model_package_group = None
        if self.artifacts is not None:
            self.model_package_group = self._registry(config, n, self.artifacts)

        self.alerts = AlertTopic(
            self,
            "Alerts",
            encryption_key=self.ops_key,
            emails=config.notifications.emails,
            display_name=f"{config.project} {environment} alerts",
        ).topic

        self.chat: ChatNotifier | None = None
        if chat_parameter:
            self.chat = ChatNotifier(
                self,
                "ChatNotifier",
                environment=environment,
                parameter_name=chat_parameter,
                code=package_code(root),
                topic=self.alerts,
                ops_key=self.ops_key,
                reserved_concurrency=config.functions.reserved_concurrency,
            )

        if self.artifacts is not None:
            CfnOutput(self, "ArtifactBucketName", value=self.artifacts.bucket_name)
        CfnOutput(self, "AlertTopicArn", value=self.alerts.topic_arn)

    def _registry(
        self, config: Config, n: Names, artifacts: s3.Bucket
    ) -> sagemaker.CfnModelPackageGroup:
        """The model package group, readable (never approvable) from stage, prod and tooling."""
        readers = _accounts_with_condition(registry_readers(config))
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadVersionsFromPromotionAccounts",
                    "Effect": "Allow",
                    # One entry per account: SageMaker refuses a group policy that names a
                    # principal twice ("Invalid policy provided: Duplicate principal",
                    # awslabs/aiops-modules PR #397); the roles are in the condition.
                    "Principal": {
                        "AWS": sorted(
                            {
                                f"arn:{n.partition}:iam::{account}:root"
                                for account, _ in registry_readers(config)
                            }
                        )
                    },
                    "Action": [
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:ListModelPackages",
                        "sagemaker:CreateModel",
                    ],
                    "Resource": [n.model_package_group_arn, n.model_packages_arn],
                    "Condition": readers["conditions"],
                }
            ],
        }
        group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=config.model.package_group,
            model_package_group_description=config.model.description or config.model.name,
            model_package_group_policy=json.loads(json.dumps(policy)),
        )

        # Cross-account reads of artifacts and baselines: the bucket and its key, named roles only.
        art_readers = _accounts_with_condition(artifact_readers(config))
        artifacts.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ReadModelBuildOutputsFromServingAccounts",
                principals=art_readers["principals"],
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[artifacts.arn_for_objects("model-build/*")],
                conditions=art_readers["conditions"],
            )
        )
        artifacts.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ListModelBuildOutputsFromServingAccounts",
                principals=art_readers["principals"],
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={
                    **art_readers["conditions"],
                    "StringLike": {"s3:prefix": ["model-build/*"]},
                },
            )
        )
        self.data_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DecryptModelBuildOutputsFromServingAccounts",
                principals=art_readers["principals"],
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    **art_readers["conditions"],
                    "StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"},
                },
            )
        )
        CfnOutput(self, "ModelPackageGroupArn", value=group.attr_model_package_group_arn)
        return group

    def _admit_approvers(self, config: Config) -> None:
        """One audit trail: approvers in dev append their decisions to tooling's Object Lock
        bucket (write-once records under audit/; the roles are named, the accounts conditioned;
        the role need not exist when tooling is deployed first)."""
        writers = _accounts_with_condition(audit_writers(config))
        prefix = f"{Promotion.AUDIT_PREFIX}*"
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ApproversAppendDecisions",
                principals=writers["principals"],
                actions=[
                    "s3:PutObject",
                    "s3:PutObjectRetention",
                    "s3:GetObject",
                    # Appending reads the chain's head, one version (finmlops.registry.audit).
                    "s3:GetObjectVersion",
                    "s3:GetObjectRetention",
                ],
                resources=[self.audit.arn_for_objects(prefix)],
                conditions=writers["conditions"],
            )
        )
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ApproversListDecisions",
                principals=writers["principals"],
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[self.audit.bucket_arn],
                conditions={**writers["conditions"], "StringLike": {"s3:prefix": [prefix]}},
            )
        )
        self.audit_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ApproversEncryptDecisions",
                principals=writers["principals"],
                actions=["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    **writers["conditions"],
                    "StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"},
                },
            )
        )
