"""The project's Lambda functions, built one way: the approval-event handler and the chat notifier.

`project_function` gives a function of the project's own code (`src/`, standard library and
boto3 at run time) the platform's settings:
- its role's permissions as one managed policy: the caller's statements plus its dead letters,
  the ops key, its log group and X-Ray;
- environment variables encrypted with the ops key, and an encrypted log group;
- active tracing, and reserved concurrency when the config asks for it (`functions.
  reserved_concurrency`; off by default, since a new account's quota rejects any reservation);
- two asynchronous retries, then a KMS dead-letter queue whose alarm notifies the alerts topic.

It runs outside the VPCs, and the caller gives the reason. The children are created in the
caller's scope, so each construct keeps its own logical ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.security import (
    DeadLetterQueue,
    encrypted_log_group,
    kms_access,
    logs_access,
    managed_policy,
)

RETRY_ATTEMPTS = 2
TRACING_REASON = "X-Ray PutTraceSegments and PutTelemetryRecords have no resource-level ARNs."
UNRESERVED_REASON = (
    "Reserved concurrency is off by default (config functions.reserved_concurrency): a new "
    "account's quota of 10 concurrent executions must stay unreserved, so any reservation fails "
    "the deployment. Invocations are bounded by their source: EventBridge or SNS retries, then a "
    "dead-letter queue with an alarm."
)


@dataclass(frozen=True)
class FunctionSettings:
    description: str
    handler: str
    environment: Mapping[str, str]
    timeout: Duration
    memory_mb: int
    concurrency: int | None  # reserved concurrency, or None (the config's default)
    outside_vpc: str  # why the function runs outside the VPC (cdk-nag and checkov read it)


@dataclass(frozen=True)
class ProjectFunction:
    function: lambda_.Function
    policy: iam.ManagedPolicy
    dead_letter_queue: DeadLetterQueue


def project_function(
    scope: Construct,
    *,
    settings: FunctionSettings,
    code: lambda_.Code,
    role: iam.Role,
    statements: Sequence[iam.PolicyStatement],
    policy_description: str,
    acknowledgments: Mapping[str, str],
    ops_key: kms.IKey,
    alerts: sns.ITopic,
    dead_letter_purpose: str,
    dead_letter_id: str = "Dlq",
) -> ProjectFunction:
    dead_letters = DeadLetterQueue(
        scope,
        dead_letter_id,
        encryption_key=ops_key,
        alarm_topic=alerts,
        purpose=dead_letter_purpose,
    )
    log_group = encrypted_log_group(scope, "Logs", encryption_key=ops_key)
    policy = managed_policy(
        scope,
        "Permissions",
        role=role,
        description=policy_description,
        statements=[
            *statements,
            iam.PolicyStatement(
                sid="DeadLetters",
                actions=["sqs:SendMessage"],
                resources=[dead_letters.queue.queue_arn],
            ),
            # Dead letters, encrypted environment variables, logs: the ops key.
            kms_access(sid="OpsKey", key_arn=ops_key.key_arn, decrypt=True, encrypt=True),
            logs_access(sid="Logs", log_group=log_group),
            iam.PolicyStatement(
                sid="Tracing",
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            ),
        ],
    )
    acknowledge(policy, {"AwsSolutions-IAM5[Resource::*]": TRACING_REASON, **acknowledgments})
    function = lambda_.Function(
        scope,
        "Function",
        description=settings.description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler=settings.handler,
        code=code,
        role=role.without_policy_updates(),
        timeout=settings.timeout,
        memory_size=settings.memory_mb,
        reserved_concurrent_executions=settings.concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        environment=dict(settings.environment),
        environment_encryption=ops_key,
        dead_letter_queue=dead_letters.queue,
        retry_attempts=RETRY_ATTEMPTS,
        log_group=log_group,
    )
    function.node.add_dependency(policy)
    reasons = {
        "NIST.800.53.R5-LambdaInsideVPC": settings.outside_vpc,
        "PCI.DSS.321-LambdaInsideVPC": settings.outside_vpc,
    }
    if settings.concurrency is None:
        reasons |= {
            "NIST.800.53.R5-LambdaConcurrency": UNRESERVED_REASON,
            "PCI.DSS.321-LambdaConcurrency": UNRESERVED_REASON,
        }
    acknowledge(function, reasons)
    return ProjectFunction(function, policy, dead_letters)
