"""E9106: names and ARNs within the lengths and character rules AWS sets per resource type.

AWS rule: each service caps the length of a resource's name (and some the ARN built from it) and
restricts its characters; CloudFormation fails the create with the service's validation error.
Source: each limit below cites its page (IAM quotas, S3 bucket naming rules, the SageMaker, Lambda,
SQS, SNS, CodeBuild, CodePipeline, EventBridge, Scheduler, CloudWatch and KMS API references). Names are resolved with the stage's account and region (literal
Fn::Sub/Fn::Join pieces and pseudo parameters); a name with an opaque piece (a Ref to a
resource) counts only its known characters, so the check is a lower bound and never guesses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import ACCOUNT_ID_LENGTH, Resources, Stage

_SAGEMAKER_63 = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_SAGEMAKER_256 = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_API = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_"


@dataclass(frozen=True)
class Limit:
    resource_type: str
    prop: str
    maximum: int
    source: str
    minimum: int = 1
    pattern: re.Pattern[str] | None = None
    rule: str = ""  # the character rule in words, when there is a pattern


LIMITS: tuple[Limit, ...] = (
    # IAM quotas: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
    Limit(
        "AWS::IAM::Role",
        "RoleName",
        64,
        "IAM User Guide, IAM and AWS STS quotas (reference_iam-quotas): role name 64",
        pattern=re.compile(r"^[\w+=,.@-]+$"),
        rule="letters, digits and +=,.@_-",
    ),
    Limit("AWS::IAM::Role", "Path", 512, "IAM User Guide, reference_iam-quotas: path 512"),
    Limit(
        "AWS::IAM::ManagedPolicy",
        "ManagedPolicyName",
        128,
        "IAM User Guide, reference_iam-quotas: policy name 128",
        pattern=re.compile(r"^[\w+=,.@-]+$"),
        rule="letters, digits and +=,.@_-",
    ),
    Limit(
        "AWS::IAM::InstanceProfile",
        "InstanceProfileName",
        128,
        "IAM User Guide, reference_iam-quotas: instance profile name 128",
    ),
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    Limit(
        "AWS::S3::Bucket",
        "BucketName",
        63,
        "Amazon S3 User Guide, general purpose bucket naming rules (bucketnamingrules)",
        minimum=3,
    ),
    # SageMaker API Reference, the Create* request's name field.
    Limit(
        "AWS::SageMaker::Endpoint",
        "EndpointName",
        63,
        f"{_API}CreateEndpoint.html (EndpointName)",
        pattern=_SAGEMAKER_63,
        rule="letters, digits and single or repeated hyphens, not at the ends",
    ),
    Limit(
        "AWS::SageMaker::EndpointConfig",
        "EndpointConfigName",
        63,
        f"{_API}CreateEndpointConfig.html (EndpointConfigName)",
        pattern=_SAGEMAKER_63,
        rule="letters, digits and hyphens, not at the ends",
    ),
    Limit(
        "AWS::SageMaker::Model",
        "ModelName",
        63,
        f"{_API}CreateModel.html (ModelName)",
        pattern=_SAGEMAKER_63,
        rule="letters, digits and hyphens, not at the ends",
    ),
    Limit(
        "AWS::SageMaker::ModelPackageGroup",
        "ModelPackageGroupName",
        63,
        f"{_API}CreateModelPackageGroup.html (ModelPackageGroupName)",
        pattern=_SAGEMAKER_63,
        rule="letters, digits and hyphens, not at the ends",
    ),
    Limit(
        "AWS::SageMaker::Pipeline",
        "PipelineName",
        256,
        f"{_API}CreatePipeline.html (PipelineName)",
        pattern=_SAGEMAKER_256,
        rule="letters, digits and hyphens, not at the ends",
    ),
    Limit(
        "AWS::SageMaker::MonitoringSchedule",
        "MonitoringScheduleName",
        63,
        f"{_API}CreateMonitoringSchedule.html (MonitoringScheduleName)",
        pattern=_SAGEMAKER_63,
        rule="letters, digits and hyphens, not at the ends",
    ),
    *(
        Limit(
            kind,
            "JobDefinitionName",
            63,
            f"{_API}Create{kind.rsplit('::', 1)[1]}.html (JobDefinitionName)",
            pattern=_SAGEMAKER_63,
            rule="letters, digits and hyphens, not at the ends",
        )
        for kind in (
            "AWS::SageMaker::DataQualityJobDefinition",
            "AWS::SageMaker::ModelQualityJobDefinition",
            "AWS::SageMaker::ModelBiasJobDefinition",
            "AWS::SageMaker::ModelExplainabilityJobDefinition",
        )
    ),
    Limit(
        "AWS::SageMaker::MlflowTrackingServer",
        "TrackingServerName",
        256,
        f"{_API}CreateMlflowTrackingServer.html (TrackingServerName)",
        pattern=_SAGEMAKER_256,
        rule="letters, digits and hyphens, not at the ends",
    ),
    # https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (FunctionName: a name
    # alone is limited to 64 characters; the 140 applies to the full ARN).
    Limit(
        "AWS::Lambda::Function",
        "FunctionName",
        64,
        "Lambda API Reference, CreateFunction (FunctionName)",
        pattern=re.compile(r"^[a-zA-Z0-9_-]+$"),
        rule="letters, digits, hyphens and underscores",
    ),
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
    Limit(
        "AWS::SQS::Queue",
        "QueueName",
        80,
        "Amazon SQS API Reference, CreateQueue (QueueName, .fifo included)",
        pattern=re.compile(r"^[A-Za-z0-9_-]+(\.fifo)?$"),
        rule="letters, digits, hyphens and underscores",
    ),
    # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
    Limit(
        "AWS::SNS::Topic",
        "TopicName",
        256,
        "Amazon SNS API Reference, CreateTopic (Name)",
        pattern=re.compile(r"^[A-Za-z0-9_-]+(\.fifo)?$"),
        rule="letters, digits, hyphens and underscores",
    ),
    # https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html
    Limit(
        "AWS::CodeBuild::Project",
        "Name",
        255,
        "AWS CodeBuild API Reference, CreateProject (name)",
        minimum=2,
        pattern=re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,254}$"),
        rule="a letter or digit, then letters, digits, hyphens, underscores",
    ),
    # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineDeclaration.html
    Limit(
        "AWS::CodePipeline::Pipeline",
        "Name",
        100,
        "AWS CodePipeline API Reference, PipelineDeclaration (name)",
        pattern=re.compile(r"^[A-Za-z0-9.@\-_]+$"),
        rule="letters, digits and .@-_",
    ),
    # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
    Limit(
        "AWS::Events::Rule",
        "Name",
        64,
        "Amazon EventBridge API Reference, PutRule (Name)",
        pattern=re.compile(r"^[\.\-_A-Za-z0-9]+$"),
        rule="letters, digits and .-_",
    ),
    Limit(
        "AWS::Events::EventBus",
        "Name",
        256,
        "Amazon EventBridge API Reference, CreateEventBus (Name)",
    ),
    # https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
    Limit(
        "AWS::Scheduler::Schedule",
        "Name",
        64,
        "EventBridge Scheduler API Reference, CreateSchedule (Name)",
        pattern=re.compile(r"^[0-9a-zA-Z\-_.]+$"),
        rule="letters, digits and -_.",
    ),
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
    Limit(
        "AWS::Logs::LogGroup",
        "LogGroupName",
        512,
        "CloudWatch Logs API Reference, CreateLogGroup (logGroupName)",
        pattern=re.compile(r"^[\.\-_/#A-Za-z0-9]+$"),
        rule="letters, digits and .-_/#",
    ),
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
    Limit(
        "AWS::KMS::Alias",
        "AliasName",
        256,
        "AWS KMS API Reference, CreateAlias (AliasName)",
        pattern=re.compile(r"^alias/[a-zA-Z0-9/_-]+$"),
        rule="'alias/' then letters, digits and /_-",
    ),
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    Limit(
        "AWS::CloudWatch::Alarm",
        "AlarmName",
        255,
        "CloudWatch API Reference, PutMetricAlarm (AlarmName)",
    ),
    Limit(
        "AWS::CloudWatch::Dashboard",
        "DashboardName",
        255,
        "CloudWatch API Reference, PutDashboard (DashboardName)",
        pattern=re.compile(r"^[A-Za-z0-9_-]+$"),
        rule="letters, digits, hyphens and underscores",
    ),
)


@dataclass(frozen=True)
class ArnLimit:
    resource_type: str
    prop: str
    arn: str  # {partition} {region} {account} {name}
    maximum: int
    source: str


ARN_LIMITS: tuple[ArnLimit, ...] = (
    # Lambda CreateFunction FunctionName: "The length constraint applies only to the full ARN" (140).
    ArnLimit(
        "AWS::Lambda::Function",
        "FunctionName",
        "arn:{partition}:lambda:{region}:{account}:function:{name}",
        140,
        "Lambda API Reference, CreateFunction (FunctionName, full ARN 140)",
    ),
    # SageMaker takes execution roles as RoleArn of at most 2048 characters (e.g. CreatePipeline).
    ArnLimit(
        "AWS::IAM::Role",
        "RoleName",
        "arn:{partition}:iam::{account}:role{path}{name}",
        2048,
        f"{_API}CreatePipeline.html (RoleArn, 20-2048)",
    ),
)

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problems(name: str) -> list[str]:
    problems = []
    if not _BUCKET.match(name):
        problems.append(
            "only lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
        )
    if ".." in name:
        problems.append("no two adjacent periods")
    try:
        ipaddress.IPv4Address(name)
        problems.append("not formatted as an IP address")
    except ValueError:
        pass
    problems += [f"must not start with {p!r}" for p in _BUCKET_PREFIXES if name.startswith(p)]
    problems += [f"must not end with {s!r}" for s in _BUCKET_SUFFIXES if name.endswith(s)]
    return problems


def _name_findings(
    logical_id: str, kind: str, properties: Mapping[str, Any], limit: Limit, stage: Stage
) -> Iterator[Finding]:
    rendered = stage.render(properties[limit.prop])
    path = ("Resources", logical_id, "Properties", limit.prop)
    problems: list[str] = []
    if rendered.known_length > limit.maximum:
        bound = "" if rendered.complete else "at least "
        problems.append(f"is {bound}{rendered.known_length} characters, more than {limit.maximum}")
    literal = rendered.literal
    if literal is not None:
        if len(literal) < limit.minimum:
            problems.append(f"is {len(literal)} characters, fewer than {limit.minimum}")
        if limit.pattern is not None and not limit.pattern.match(literal):
            problems.append(f"breaks the naming rule ({limit.rule})")
        if kind == "AWS::S3::Bucket":
            problems += bucket_problems(literal)
    for problem in problems:
        yield Finding(
            path,
            f"{logical_id} ({kind}) {where(path)}: {rendered.text!r} {problem}. AWS rule: "
            f"{limit.prop} of {kind} is {limit.minimum}-{limit.maximum} characters"
            f"{f' of {limit.rule}' if limit.rule else ''}. Source: {limit.source}.",
            f"{limit.prop}:{rendered.text}",
        )


def _arn_findings(
    logical_id: str, kind: str, properties: Mapping[str, Any], limit: ArnLimit, stage: Stage
) -> Iterator[Finding]:
    name = stage.render(properties[limit.prop])
    arn_path = stage.render(properties.get("Path", "/")).text if kind == "AWS::IAM::Role" else ""
    account = "0" * (len(stage.account) if stage.account else ACCOUNT_ID_LENGTH)
    prefix = limit.arn.format(
        partition=stage.partition, region=stage.region, account=account, name="", path=arn_path
    )
    length = len(prefix) + name.known_length
    if length > limit.maximum:
        path = ("Resources", logical_id, "Properties", limit.prop)
        yield Finding(
            path,
            f"{logical_id} ({kind}) {where(path)}: the ARN of {name.text!r} is {length} "
            f"characters, more than {limit.maximum}. AWS rule: the service caps the ARN at "
            f"{limit.maximum}. Source: {limit.source}.",
            f"arn:{name.text}",
        )


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    resources = Resources(template)
    for limit in LIMITS:
        for kind, logical_id, properties in resources.of(limit.resource_type):
            if limit.prop in properties:
                findings += _name_findings(logical_id, kind, properties, limit, stage)
    for arn_limit in ARN_LIMITS:
        for kind, logical_id, properties in resources.of(arn_limit.resource_type):
            if arn_limit.prop in properties:
                findings += _arn_findings(logical_id, kind, properties, arn_limit, stage)
    return findings


class NameLengths(ProjectRule):
    id = "E9106"
    shortdesc = "Names and ARNs within AWS's length and character rules"
    description = (
        "Resource names (and ARNs a service caps) fit the length and character rules of the "
        "resource type's service, with literal pieces and pseudo parameters resolved."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    tags: ClassVar[list[str]] = ["naming", "finmlops"]
    check: ClassVar[Check] = check
