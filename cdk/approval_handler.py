"""The approval-event handler (tooling): a Lambda of the project's own code that checks an
approved version and starts its promotion, and the rules that deliver decisions to it.
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from finmlops_cdk.events import (
    ALARM_STATE_CHANGE,
    PENDING,
    REJECTED,
    approval_pattern,
    reliable,
)
from finmlops_cdk.functions import FunctionSettings, project_function
from finmlops_cdk.security import (
    DeadLetterQueue,
    audit_trail_access,
    iam5_resource,
    kms_access,
    object_ack,
    s3_access,
)

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import Promotion, Validation
from finmlops.gates import platform_gates
from finmlops.naming import Names, Role, names, revalidation_alarms
from finmlops.registry.gatecheck import gates_to_json

HANDLER_TIMEOUT = Duration.seconds(60)
HANDLER_MEMORY_MB = 256


class ApprovalHandler(Construct):
    """The approval-event Lambda and the rule that invokes it (retry policy, DLQ, alarm).

    Attributes: `function`, `role`, `rule` (Approved: promotion), `rejections` (Rejected: audit
    record only), `dead_letter_queue`, `invocation_dlq`,
    `environment` (the handler's variables, names from finmlops.contracts.Promotion).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        n: Names,
        code: lambda_.Code,
        pipeline_name: str,
        pipeline_arn: str,
        audit_key: kms.IKey,
        state_key: kms.IKey,
        audit_retention_days: int,
        ops_key: kms.IKey,
        alerts: sns.ITopic,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, id_)
        # The registry, the build's executions and the evidence are dev's: read as its evidence
        # reader (ADR 0016); the group policy still admits this role for DescribeModelPackage.
        evidence_reader = names(config, "dev").role_arn(Role.EVIDENCE_READER)
        self.environment = {
            Promotion.ENV_GROUPS: config.model.package_group,
            Promotion.ENV_PIPELINE: pipeline_name,
            Promotion.ENV_AUDIT_BUCKET: n.audit_bucket,
            Promotion.ENV_STATE_BUCKET: n.state_bucket,
            Promotion.ENV_AUDIT_RETENTION_DAYS: str(audit_retention_days),
            Promotion.ENV_REQUIRE_DRIFT_BASELINES: str(
                config.governance.tier.require_drift_baselines
            ).lower(),
            # The risk tier's validation depth and re-review triggers (ADR 0030).
            Validation.ENV_REQUIRE_SIGNOFF: str(config.governance.tier.validator_signoff).lower(),
            # The evaluation sections the tier requires before a promotion starts.
            Validation.ENV_REQUIRED_EVIDENCE: json.dumps(
                {
                    "tier": config.governance.risk_tier,
                    "required": list(config.governance.tier.required_evidence),
                },
                separators=(",", ":"),
            ),
            Validation.ENV_REVALIDATION_ALARMS: json.dumps(
                revalidation_alarms(config), sort_keys=True, separators=(",", ":")
            ),
            # The platform's gates, re-checked before a promotion starts (ADR 0014).
            Promotion.ENV_GATES: gates_to_json(platform_gates(config)),
            Promotion.ENV_EVIDENCE_ROLE: evidence_reader,
        }
        self.role = iam.Role(
            self,
            "Role",
            role_name=n.role(Role.RESOLVER),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Approval-event handler: checks the version, starts the promotion",
        )
        partition = n.partition
        built = project_function(
            self,
            settings=FunctionSettings(
                description="Approved model version -> promotion pipeline (idempotent)",
                handler=Promotion.HANDLER,
                environment=self.environment,
                timeout=HANDLER_TIMEOUT,
                memory_mb=HANDLER_MEMORY_MB,
                concurrency=reserved_concurrency,
                outside_vpc="The tooling account has no VPC in the configuration; the handler "
                "only calls AWS APIs (TLS, SigV4, named resources).",
            ),
            code=code,
            role=self.role,
            statements=[
                iam.PolicyStatement(
                    sid="StartPromotion",
                    actions=["codepipeline:StartPipelineExecution"],
                    resources=[pipeline_arn],
                ),
                iam.PolicyStatement(
                    sid="AssumeDevEvidenceReader",
                    actions=["sts:AssumeRole"],
                    resources=[evidence_reader],
                ),
                iam.PolicyStatement(
                    sid="ReadVersionsInRegistry",
                    actions=[
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:ListModelPackages",
                    ],
                    resources=[n.model_package_group_arn, n.model_packages_arn],
                ),
                *audit_trail_access(
                    sid="WriteAuditRecords", partition=partition, bucket=n.audit_bucket
                ),
                kms_access(sid="AuditKey", key_arn=audit_key.key_arn, decrypt=True, encrypt=True),
                *s3_access(
                    sid="PromotionClaims",
                    partition=partition,
                    bucket=n.state_bucket,
                    prefix=Promotion.CLAIMS_PREFIX,
                    read=True,
                    write=True,
                    delete=True,  # a claim whose promotion could not start is released
                    list_objects=True,
                ),
                *s3_access(
                    sid="DeploymentHistory",
                    partition=partition,
                    bucket=n.state_bucket,
                    prefix=Promotion.DEPLOYMENTS_PREFIX,
                    read=True,
                    list_objects=True,
                ),
                # The handler alone vouches for an observed sign-off (ADR 0030).
                *s3_access(
                    sid="SignoffMarkers",
                    partition=partition,
                    bucket=n.state_bucket,
                    prefix=Validation.MARKERS_PREFIX,
                    read=True,
                    write=True,
                    list_objects=True,
                ),
                kms_access(sid="StateKey", key_arn=state_key.key_arn, decrypt=True, encrypt=True),
                iam.PolicyStatement(
                    sid="RejectedVersionServingMetric",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"cloudwatch:namespace": Promotion.METRIC_NAMESPACE}
                    },
                ),
            ],
            policy_description="Approval handler: dev's evidence reader, promotion start, audit "
            "and claims",
            acknowledgments={
                iam5_resource(n.model_packages_arn): "Every version of this one model group: "
                "the event names the version to check.",
                "AwsSolutions-IAM5[Resource::*]": "cloudwatch:PutMetricData has no resource ARN; "
                "the condition limits it to the promotion's metric namespace.",
            }
            | object_ack(
                partition,
                n.audit_bucket,
                Promotion.AUDIT_PREFIX,
                "One append-only record per decision under audit/ (Object Lock, compliance).",
            )
            | object_ack(
                partition,
                n.state_bucket,
                Validation.MARKERS_PREFIX,
                "One create-only marker per observed validator sign-off (ADR 0030).",
            )
            | object_ack(
                partition,
                n.state_bucket,
                Promotion.CLAIMS_PREFIX,
                "One claim object per version under promotions/claims/: the dedup record that "
                "makes a second delivery of the same event start nothing.",
            )
            | object_ack(
                partition,
                n.state_bucket,
                Promotion.DEPLOYMENTS_PREFIX,
                "Read-only deployment history per environment under deployments/.",
            ),
            ops_key=ops_key,
            alerts=alerts,
            dead_letter_purpose="approval events the handler failed on after its retries",
            dead_letter_id="InvocationDlq",
        )
        self.function = built.function
        self.invocation_dlq = built.dead_letter_queue
        # The handler puts this metric when it records the rejection of a version that still
        # serves; one alarm per environment, since CloudWatch matches a metric with its exact
        # dimensions (the handler's: ModelPackageGroup, Environment).
        self.rejected_serving = {
            env: cloudwatch.Alarm(
                self,
                f"RejectedVersionServing{env.capitalize()}",
                alarm_description=f"A rejected model version still serves in {env}: roll it back "
                f"with `finmlops promote rollback --environment {env} --reason ...`",
                metric=cloudwatch.Metric(
                    namespace=Promotion.METRIC_NAMESPACE,
                    metric_name=Promotion.METRIC_REJECTED_SERVING,
                    dimensions_map={
                        Promotion.METRIC_DIMENSION_GROUP: config.model.package_group,
                        Promotion.METRIC_DIMENSION_ENVIRONMENT: env,
                    },
                    statistic="Maximum",
                    period=Duration.minutes(5),
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for env in SERVING_ENVIRONMENTS
        }
        for alarm in self.rejected_serving.values():
            alarm.add_alarm_action(cw_actions.SnsAction(alerts))

        self.dead_letter_queue = DeadLetterQueue(
            self,
            "RuleDlq",
            encryption_key=ops_key,
            alarm_topic=alerts,
            purpose="approval events EventBridge could not deliver to the handler",
        )
        self.rule = events.Rule(
            self,
            "ApprovedVersions",
            description="Approved versions of the model group (forwarded from dev) -> promotion",
            event_pattern=approval_pattern(config),
        )
        self.rule.add_target(
            targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
        )
        # Rejections made in the console reach the audit trail too; they never start anything.
        self.rejections = events.Rule(
            self,
            "RejectedVersions",
            description="Rejected versions of the model group (forwarded from dev) -> audit record",
            event_pattern=approval_pattern(config, (REJECTED,)),
        )
        self.rejections.add_target(
            targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
        )
        # A validator's sign-off is a ModelLifeCycle write on a pending version, which SageMaker
        # reports as a state change of the pending version; the handler binds its author.
        self.signoffs = events.Rule(
            self,
            "ValidatorSignOffs",
            description="Pending versions' changes (forwarded from dev) -> validator sign-offs",
            event_pattern=approval_pattern(config, (PENDING,)),
        )
        self.signoffs.add_target(
            targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
        )
        # The risk tier's re-review triggers: serving alarms entering ALARM (forwarded from
        # stage and prod by their revalidation forwarders) open a re-validation record.
        self.revalidations: events.Rule | None = None
        alarms = sorted(revalidation_alarms(config))
        if alarms:
            self.revalidations = events.Rule(
                self,
                "RevalidationAlarms",
                description="Drift or quality alarms in stage or prod -> re-validation record",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=[ALARM_STATE_CHANGE],
                    account=sorted(
                        {names(config, env).env.account for env in SERVING_ENVIRONMENTS}
                    ),
                    detail={"alarmName": alarms, "state": {"value": ["ALARM"]}},
                ),
            )
            self.revalidations.add_target(
                targets.LambdaFunction(self.function, **reliable(self.dead_letter_queue))
            )
