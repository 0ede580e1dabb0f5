"""The emulated accounts as `cdk deploy` leaves them: buckets, key, registry group, roles, people,
alerts, alarms, the promotion pipeline and the model-build pipeline read out of the dev template.

Every name comes from `finmlops.naming`, the module the CDK stacks name their resources with, and
the model-build pipeline is the `AWS::SageMaker::Pipeline` of the synthesized dev template, its
`Fn::Sub` filled with these resources. Everything runs in moto's one account (docs/emulator.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from finmlops.config import Config
from finmlops.contracts import Placeholder
from finmlops.emulator.aws.server import EMULATOR_ACCOUNT, EmbeddedAws
from finmlops.emulator.aws.serving import LocalEndpoints
from finmlops.emulator.world.template import SynthesizedPipeline, pipelines_in
from finmlops.emulator.world.webhook import LocalWebhook
from finmlops.naming import Names, Role, names
from finmlops.tracking.runs import local_store_uri

# The project image runs `python -m finmlops.monitoring` (docker/monitoring/Dockerfile).
PROJECT_IMAGE = f"{EMULATOR_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/finmlops-project:emulated"
PROJECT_ENTRYPOINT = ["python3", "-m", "finmlops.monitoring"]
METRIC_NAMESPACES = {"drift": "finmlops/data-metrics", "quality": "finmlops/model-metrics"}
# The people of the story: two IAM users, each with their own access keys.
AUTHOR = "alice-data-scientist"
APPROVER = "bob-model-risk"


@dataclass
class Person:
    """Someone with their own credentials: every call they make is theirs in AWS's records."""

    name: str
    arn: str
    session: Any


@dataclass
class World:
    """The emulated accounts, people and resources, named as the CDK stacks name them."""

    config: Config
    aws: EmbeddedAws
    author: Person
    approver: Person
    names: dict[str, Names]
    topic_arn: str
    queue_url: str
    kms_key_arn: str
    role_name: str
    promotion_pipeline: str
    endpoints: LocalEndpoints
    lifecycle_role_arn: str
    webhook: LocalWebhook | None  # the chat webhook, when notifications name one
    pipeline: SynthesizedPipeline  # the model-build pipeline, as synthesized into dev
    buckets: tuple[str, ...]
    approver_role_arn: str  # people assume it with their user name as session and source identity

    def close(self) -> None:
        """Stop the local servers (endpoints, chat webhook); moto's server is the caller's."""
        self.endpoints.stop()
        if self.webhook is not None:
            self.webhook.stop()


def all_names(config: Config) -> dict[str, Names]:
    return {env: names(config, env) for env in ("tooling", "dev", "stage", "prod")}


def provision(
    config: Config,
    aws: EmbeddedAws,
    dev_template: Path,
    work_dir: Path,
    *,
    clock: Callable[[], datetime],
) -> World:
    """Create the world in the embedded AWS and return it. `clock` stamps captured requests."""
    n = all_names(config)
    s3, iam = aws.client("s3"), aws.client("iam")
    author, approver = _person(aws, AUTHOR), _person(aws, APPROVER)
    buckets = [
        n["dev"].artifact_bucket,
        n["tooling"].state_bucket,
        *(n[e].bucket(p) for e in ("stage", "prod") for p in ("capture", "monitoring")),
    ]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=n["tooling"].audit_bucket, ObjectLockEnabledForBucket=True)
    kms_key = aws.client("kms").create_key(Description="emulated data key")["KeyMetadata"]["Arn"]
    role_name = n["dev"].role("sagemaker-build")
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_trust_service("sagemaker"))
    # What the promotion pipeline assumes to set ModelLifeCycle (its IAM conditions are
    # asserted on the templates; moto does not evaluate them).
    lifecycle_role = iam.create_role(
        RoleName=n["dev"].role(Role.REGISTRY_LIFECYCLE),
        AssumeRolePolicyDocument=_trust_account(EMULATOR_ACCOUNT),
    )["Role"]["Arn"]
    # The approver role: its trust policy admits people of the account who set their user name as
    # session name and source identity (sts:SetSourceIdentity). moto keeps the document and does
    # not evaluate it; the emulated STS asks its trust evaluator (emulator.aws.identity).
    approver_role = iam.create_role(
        RoleName=config.governance.approver_role,
        AssumeRolePolicyDocument=_trust_people(EMULATOR_ACCOUNT),
    )["Role"]["Arn"]
    aws.client("sagemaker").create_model_package_group(
        ModelPackageGroupName=config.model.package_group,
        Tags=[{"Key": k, "Value": v} for k, v in config.inventory_tags().items()],
    )
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=f"{config.project}-prod-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{config.project}-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    _alarms(aws, config, n, topic)
    pipeline = _model_build_pipeline(dev_template)
    world = World(
        config=config,
        aws=aws,
        author=author,
        approver=approver,
        names=n,
        topic_arn=topic,
        queue_url=queue,
        kms_key_arn=kms_key,
        role_name=role_name,
        promotion_pipeline=_promotion_pipeline(aws, config, n),
        endpoints=LocalEndpoints(aws.client("s3"), clock=clock).start(),
        lifecycle_role_arn=lifecycle_role,
        webhook=_chat_webhook(aws, config),
        pipeline=pipeline,
        buckets=(*buckets, n["tooling"].audit_bucket),
        approver_role_arn=approver_role,
    )
    _ship_code_and_create_pipeline(world, work_dir)
    return world


def describe(world: World, dev_template: Path) -> str:
    """One line of what was provisioned, for the demo."""
    return (
        f"{len(world.buckets)} buckets (audit with Object Lock), KMS key, group "
        f"{world.config.model.package_group}, people {world.author.name} (author) and "
        f"{world.approver.name} (approver), alerts topic -> SQS, pipeline "
        f"{world.pipeline.pipeline_name} from {dev_template.name}"
    )


def _person(aws: EmbeddedAws, name: str) -> Person:
    iam = aws.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Person(name, arn, aws.session(key["AccessKeyId"], key["SecretAccessKey"]))


def _model_build_pipeline(dev_template: Path) -> SynthesizedPipeline:
    found = [
        p
        for p in pipelines_in(json.loads(dev_template.read_text()), str(dev_template))
        if p.pipeline_name.endswith("model-build")
    ]
    if len(found) != 1:
        raise LookupError(f"{dev_template}: expected one model-build pipeline, found {len(found)}")
    return found[0]


def _promotion_pipeline(aws: EmbeddedAws, config: Config, n: dict[str, Names]) -> str:
    """The promotion pipeline's name and role in CodePipeline (its actions are the story's)."""
    role = aws.client("iam").create_role(
        RoleName=n["tooling"].role("promotion-pipeline"),
        AssumeRolePolicyDocument=_trust_service("codepipeline"),
    )
    name = f"{config.project}-promotion"
    source = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
    approval = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    aws.client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role["Role"]["Arn"],
            "artifactStore": {"type": "S3", "location": n["tooling"].state_bucket},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": source,
                            "outputArtifacts": [{"name": "src"}],
                            "configuration": {
                                "S3Bucket": n["tooling"].state_bucket,
                                "S3ObjectKey": "source.zip",
                            },
                        }
                    ],
                },
                {"name": "ApproveProd", "actions": [{"name": "Approve", "actionTypeId": approval}]},
            ],
            "version": 1,
        }
    )
    return name


def _alarms(aws: EmbeddedAws, config: Config, n: dict[str, Names], topic_arn: str) -> None:
    cw, monitoring = aws.client("cloudwatch"), config.monitoring
    for env in ("stage", "prod"):
        e = n[env]
        schedule = f"{e.endpoint_name}-monitoring"
        for alarm, namespace, metric, threshold, comparison in (
            (e.drift_alarm, METRIC_NAMESPACES["drift"], "dataset_drift_share", monitoring.dataset_drift_share, "GreaterThanOrEqualToThreshold"),
            (e.quality_alarm, METRIC_NAMESPACES["quality"], "auc", monitoring.min_auc, "LessThanThreshold"),
        ):  # fmt: skip
            cw.put_metric_alarm(
                AlarmName=alarm,
                Namespace=namespace,
                MetricName=metric,
                Dimensions=[
                    {"Name": "Endpoint", "Value": e.endpoint_name},
                    {"Name": "MonitoringSchedule", "Value": schedule},
                ],
                Statistic="Maximum" if metric == "dataset_drift_share" else "Minimum",
                Period=3600,
                EvaluationPeriods=1,
                Threshold=threshold,
                ComparisonOperator=comparison,
                TreatMissingData="notBreaching",
                AlarmActions=[topic_arn],
                OKActions=[topic_arn],
            )


def _chat_webhook(aws: EmbeddedAws, config: Config) -> LocalWebhook | None:
    """A loopback chat webhook whose URL is the SecureString parameter the config names."""
    parameter = config.notifications.chat_webhook_parameter
    if not parameter:
        return None
    webhook = LocalWebhook().start()
    aws.client("ssm").put_parameter(Name=parameter, Type="SecureString", Value=webhook.url)
    return webhook


def placeholder_values(world: World, work_dir: Path) -> dict[str, str]:
    """The dev template's `Fn::Sub` variables, filled with the world's resources."""
    n = world.names["dev"]
    return {
        Placeholder.ARTIFACT_BUCKET: n.artifact_bucket,
        Placeholder.MODEL_PACKAGE_GROUP: world.config.model.package_group,
        Placeholder.EXECUTION_ROLE_NAME: world.role_name,
        Placeholder.KMS_KEY_ARN: world.kms_key_arn,
        Placeholder.SECURITY_GROUP_ID: "sg-0emulated0000000",
        Placeholder.PROJECT_IMAGE_URI: PROJECT_IMAGE,
        Placeholder.MLFLOW_TRACKING_URI: local_store_uri(work_dir),
        Placeholder.ACCOUNT_ID: EMULATOR_ACCOUNT,
        Placeholder.PARTITION: "aws",
        Placeholder.REGION: world.aws.region,
    }


def _ship_code_and_create_pipeline(world: World, work_dir: Path) -> None:
    from finmlops_pipelines.definition import pipeline_files

    from finmlops.buildrun import upsert_body

    s3 = world.aws.client("s3")
    # The files the CDK's BucketDeployment ships: the same keys the definition references.
    for key, path in pipeline_files(world.config).items():
        s3.upload_file(str(path), world.names["dev"].artifact_bucket, key)
    body = world.pipeline.fill(placeholder_values(world, work_dir))
    role_arn = f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/{world.role_name}"
    upsert_body(
        world.aws.client("sagemaker"), world.pipeline.pipeline_name, body, role_arn, world.config
    )


def _trust_service(service: str) -> str:
    """A role trust policy that lets one AWS service assume the role."""
    return _trust_policy({"Service": f"{service}.amazonaws.com"})


def _trust_account(account: str) -> str:
    """A role trust policy for principals of one account (the emulator has only one)."""
    return _trust_policy({"AWS": f"arn:aws:iam::{account}:root"})


def _trust_people(account: str) -> str:
    """A role people assume as themselves: session name and source identity are the user name."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {
            "StringEquals": {
                "sts:RoleSessionName": "${aws:username}",
                "sts:SourceIdentity": "${aws:username}",
            }
        },
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _trust_policy(principal: dict[str, str]) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
