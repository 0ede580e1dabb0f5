"""EventBridge plumbing with the platform's delivery rules.

Every rule target gets a dead-letter queue with an alarm, and a retry policy wherever EventBridge
accepts one (it does not for event-bus targets: those retry on EventBridge's own schedule and
then land in the dead-letter queue). Cross-account delivery goes bus to bus: the sending account
forwards matching events with a named role, the receiving bus admits only that role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct
from finmlops_cdk.security import DeadLetterQueue, kms_access, service_in_this_account

from finmlops.config import Config

RETRY_ATTEMPTS = 8
MAX_EVENT_AGE = Duration.hours(6)

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"


APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"


def approval_pattern(config: Config, statuses: Sequence[str] = (APPROVED,)) -> events.EventPattern:
    """Decisions on versions of our group. The promotion rule takes Approved only: rejected or
    pending versions start nothing; rejections are forwarded to be recorded in the audit trail."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[MODEL_PACKAGE_STATE_CHANGE],
        account=[config.environments.dev.account],
        detail={
            "ModelPackageGroupName": [config.model.package_group],
            "ModelApprovalStatus": list(statuses),
        },
    )


def reliable(dlq: DeadLetterQueue) -> dict[str, Any]:
    """Target props: bounded retries, then the dead-letter queue."""
    return {
        "dead_letter_queue": dlq.queue,
        "retry_attempts": RETRY_ATTEMPTS,
        "max_event_age": MAX_EVENT_AGE,
    }


class EventForwarder(Construct):
    """A rule that forwards matching events to another account's default event bus.

    Attributes: `rule`, `role` (named, so the receiving bus can admit exactly it).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pattern: events.EventPattern,
        description: str,
        target_bus_arn: str,
        role_name: str,
        dead_letter_queue: DeadLetterQueue,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=service_in_this_account(self, "events"),
            description="EventBridge: put matching events on the receiving account's bus",
        )
        self.policy = iam.ManagedPolicy(
            self,
            "PutEvents",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[target_bus_arn])
            ],
        )
        bus = events.EventBus.from_event_bus_arn(self, "TargetBus", target_bus_arn)
        self.rule = events.Rule(self, "Rule", event_pattern=pattern, description=description)
        self.rule.add_target(
            targets.EventBus(
                bus,
                role=self.role.without_policy_updates(),
                dead_letter_queue=dead_letter_queue.queue,
            )
        )


def default_bus_arn(partition: str, account: str, region: str) -> str:
    return f"arn:{partition}:events:{region}:{account}:event-bus/default"


class AdmitForwarders(Construct):
    """The default bus's policy entry that admits named forwarder roles of other accounts."""

    def __init__(
        self, scope: Construct, id_: str, *, statement_id: str, senders: Sequence[tuple[str, str]]
    ) -> None:
        """senders: (account, role ARN) pairs; an ARN may be a pattern (`*`), matched by
        ArnLike (IAM User Guide, "Amazon Resource Name (ARN) condition operators")."""
        super().__init__(scope, id_)
        stack = Stack.of(self)
        accounts = sorted({account for account, _ in senders})
        self.policy = events.CfnEventBusPolicy(
            self,
            "Policy",
            event_bus_name="default",
            statement_id=statement_id,
            statement={
                "Sid": statement_id,
                "Effect": "Allow",
                "Principal": {
                    "AWS": [f"arn:{stack.partition}:iam::{account}:root" for account in accounts]
                },
                "Action": "events:PutEvents",
                "Resource": f"arn:{stack.partition}:events:{stack.region}:{stack.account}:"
                "event-bus/default",
                "Condition": {
                    ("ArnLike" if any("*" in arn for _, arn in senders) else "ArnEquals"): {
                        "aws:PrincipalArn": sorted(arn for _, arn in senders)
                    }
                },
            },
        )


class PipelineSchedule(Construct):
    """EventBridge Scheduler starting a SageMaker pipeline: retry policy, dead-letter queue,
    KMS-encrypted schedule, and a role that may start only that pipeline.

    Attributes: `role`, `schedule`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        expression: str,
        description: str,
        pipeline_arn: str,
        dead_letter_queue: DeadLetterQueue,
        encryption_key: kms.IKey,
        parameters: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=service_in_this_account(self, "scheduler"),
            description=f"EventBridge Scheduler: {description}",
        )
        iam.ManagedPolicy(
            self,
            "Start",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:StartPipelineExecution"], resources=[pipeline_arn]
                ),
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue.queue_arn]
                ),
                kms_access(sid="EncryptDeadLetters", key_arn=encryption_key.key_arn, encrypt=True),
            ],
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=description,
            schedule_expression=expression,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            kms_key_arn=encryption_key.key_arn,
            target=scheduler.CfnSchedule.TargetProperty(
                arn=pipeline_arn,
                role_arn=self.role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letter_queue.queue.queue_arn
                ),
                sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[
                        scheduler.CfnSchedule.SageMakerPipelineParameterProperty(
                            name=name, value=value
                        )
                        for name, value in parameters
                    ]
                ),
            ),
        )
