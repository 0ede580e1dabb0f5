"""The synthesized assembly verify compares with (the session's `platform`), and an embedded
moto server the deployments are built in."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from synth_fixtures import pipeline_steps

from finmlops.config import Config
from finmlops.contracts import ApprovalRecord, DeploymentManifest, Placeholder, Promotion
from finmlops.naming import names
from finmlops.registry.promotion import DeploymentHistory
from finmlops.verify.assembly import Assembly
from finmlops.verify.dev import mlflow_endpoint_service
from finmlops.verify.serving import BASELINE_FILES

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ENVIRONMENTS = ("tooling", "dev", "prod")


@pytest.fixture(scope="session")
def cdk_out(platform: Any) -> Path:
    """The session's synthesized platform (every stage; the compliance packs change nothing in
    the templates)."""
    return Path(platform.outdir)


@pytest.fixture(scope="session")
def assemblies(cdk_out: Path, config: Any) -> dict[str, Any]:
    from finmlops.verify.assembly import load_assembly

    return {env: load_assembly(cdk_out, config, env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    from finmlops.emulator.aws.server import embedded_aws

    with embedded_aws() as aws:
        yield aws


@dataclass
class Emulator:
    """The embedded server with one boto3 session for the whole test session: a new session
    re-reads botocore's endpoint data (seconds per client on a busy machine)."""

    server: Any
    session: Any
    built: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.built:
            self.built[service] = self.fresh_client(service)
        return self.built[service]

    def fresh_client(self, service: str) -> Any:
        return self.server.client(service, session=self.session)


@pytest.fixture(scope="session")
def emulator(server: Any) -> Emulator:
    return Emulator(server=server, session=server.session())


@pytest.fixture
def aws(emulator: Emulator) -> Emulator:
    """The embedded moto server, empty."""
    emulator.server.reset()
    return emulator


@pytest.fixture
def build(aws: Any, config: Any, assemblies: dict[str, Any]) -> Any:
    """`build(config=None)`: an empty Deployment in the emulator, to build step by step."""

    def make(with_config: Any = None) -> Deployment:
        return Deployment(aws=aws, config=with_config or config, assemblies=assemblies)

    return make


def with_dev_vpc(config: Any, vpc_id: str) -> Any:
    """The config with the dev VPC moto created (moto chooses VPC ids)."""
    dev = config.environments.dev
    vpc = dev.vpc.model_copy(update={"vpc_id": vpc_id})
    environments = config.environments.model_copy(
        update={"dev": dev.model_copy(update={"vpc": vpc})}
    )
    return config.model_copy(update={"environments": environments})


@pytest.fixture
def dev_vpc(aws: Any, config: Any) -> tuple[str, Any]:
    """A VPC in moto, and the config whose dev environment names it."""
    vpc_id: str = aws.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return vpc_id, with_dev_vpc(config, vpc_id)


@pytest.fixture
def deployment(build: Any, dev_vpc: tuple[str, Any]) -> Deployment:
    """Every environment deployed from the synthesized templates (stage as prod)."""
    vpc_id, config = dev_vpc
    return build(config).dev(vpc_id=vpc_id).serving("prod").tooling()


# --------------------------------------------------------------------------- the deployment
# A deployment built in the embedded moto server as `cdk deploy` would leave it: every name,
# policy and definition read from the synthesized templates (the values CloudFormation fills in
# at deploy time are stand-ins, used consistently).


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com"}

# The create-only statement of the S3 User Guide ("Enforce conditional writes"), added to the
# audit bucket policy where the synthesized template does not carry it yet.
CREATE_ONLY = {
    "Sid": "DenyWritesWithoutIfNoneMatch",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:PutObject",
    "Resource": "{bucket_arn}/*",
    "Condition": {"Null": {"s3:if-none-match": "true"}},
}


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def resolve_template_value(value: Any, template: dict[str, Any]) -> Any:
    """What CloudFormation passes to S3 for these templates' bucket policies: Ref and
    Fn::GetAtt(Arn) of a bucket are its name and ARN, of a named role its ARN; Fn::Join joins;
    any other deploy-time value (another stack's output, a generated name) is a stand-in."""
    resources = template.get("Resources", {})
    if isinstance(value, list):
        return [resolve_template_value(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value or "Fn::GetAtt" in value:
        logical = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        resource = resources.get(logical, {})
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::S3::Bucket":
            name = props["BucketName"]
            return name if "Ref" in value else f"arn:aws:s3:::{name}"
        if resource.get("Type") == "AWS::IAM::Role" and "RoleName" in props:
            return f"arn:aws:iam::123456789012:role/{props['RoleName']}"
        return "arn:aws:iam::123456789012:role/resolved-at-deploy"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_template_value(p, template) for p in parts)
    if any(k.startswith("Fn::") for k in value):
        return "resolved-at-deploy"
    return {k: resolve_template_value(v, template) for k, v in value.items()}


@pytest.fixture(scope="session")
def template_value() -> Any:
    """`resolve_template_value(value, template)`, for tests."""
    return resolve_template_value


def rendered(value: Any) -> str:
    """A CDK `to_json_string` (Fn::Join of text and references) with references as stand-ins."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(p) for p in parts)
    return "resolved-at-deploy"


def dedupe_principals(policy: dict[str, Any]) -> dict[str, Any]:
    """The same policy with each principal once (what SageMaker accepts; the same policy to IAM)."""
    copy = json.loads(json.dumps(policy))
    for statement in copy["Statement"]:
        aws = statement.get("Principal", {}).get("AWS")
        if isinstance(aws, list):
            statement["Principal"]["AWS"] = list(dict.fromkeys(aws))
    return copy


@dataclass
class Deployment:
    """What was built, for tests to change one thing at a time."""

    aws: Any
    config: Config
    assemblies: dict[str, Assembly]
    manifest: DeploymentManifest | None = None
    baseline: str = ""
    monitoring_pipeline: str = ""
    values: dict[str, str] = field(default_factory=dict)

    clients: dict[str, Any] = field(default_factory=dict)
    config_file: Path | None = None

    def client(self, service: str) -> Any:
        # One client per service: building one costs more than the calls made with it.
        if service not in self.clients:
            self.clients[service] = self.aws.client(service)
        return self.clients[service]

    def role(self, name: str, service: str) -> str:
        iam = self.client("iam")
        try:
            arn: str = iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"][
                "Arn"
            ]
        return arn

    # ------------------------------------------------------------------ dev

    def dev(self, *, vpc_id: str, group_too: bool = True) -> Deployment:
        assembly = self.assemblies["dev"]
        (group,) = assembly.resources("AWS::SageMaker::ModelPackageGroup")
        if group_too:
            self._group(group)
        self._build_pipelines(assembly, vpc_id)
        return self

    def _group(self, group: Any) -> None:
        sm = self.client("sagemaker")
        sm.create_model_package_group(
            ModelPackageGroupName=group.properties["ModelPackageGroupName"]
        )
        # Today's template lists some principals twice, which SageMaker refuses
        # (tests/verify/test_synthesized_policies.py); the same policy, each principal once.
        sm.put_model_package_group_policy(
            ModelPackageGroupName=group.properties["ModelPackageGroupName"],
            ResourcePolicy=json.dumps(
                dedupe_principals(group.properties["ModelPackageGroupPolicy"])
            ),
        )

    def _build_pipelines(self, assembly: Any, vpc_id: str) -> None:
        sm = self.client("sagemaker")
        role = self.role("credit-risk-dev-sagemaker-build", "sagemaker")
        for pipeline in assembly.resources("AWS::SageMaker::Pipeline"):
            sub = pipeline.properties["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
            body, variables = sub
            values = {**PSEUDO, "AWS::AccountId": "123456789012"}
            for name, value in variables.items():
                values[name] = value if isinstance(value, str) else f"deployed-{name.lower()}"
            self.values = values
            sm.create_pipeline(
                PipelineName=pipeline.properties["PipelineName"],
                PipelineDefinition=Placeholder.substitute(body, values),
                RoleArn=role,
            )
            sm.start_pipeline_execution(PipelineName=pipeline.properties["PipelineName"])
        for server in assembly.resources("AWS::SageMaker::MlflowTrackingServer"):
            sm.create_mlflow_tracking_server(
                TrackingServerName=server.properties["TrackingServerName"],
                ArtifactStoreUri=server.properties["ArtifactStoreUri"],
                RoleArn=self.role("credit-risk-dev-tracking", "sagemaker"),
            )
        self.client("ec2").create_vpc_endpoint(
            VpcId=vpc_id,
            ServiceName=mlflow_endpoint_service("us-east-1"),
            VpcEndpointType="Interface",
            PrivateDnsEnabled=True,
        )

    # ------------------------------------------------------------------ stage / prod

    def serving(self, environment: str = "prod") -> Deployment:
        assembly = self.assemblies[environment]
        n, tooling = names(self.config, environment), names(self.config, "tooling")
        sm, s3 = self.client("sagemaker"), self.client("s3")
        (model,) = assembly.resources("AWS::SageMaker::Model")
        package = model.properties["PrimaryContainer"]["ModelPackageName"]
        self.manifest = DeploymentManifest(
            model_package_arn=package,
            model_package_group=self.config.model.package_group,
            version=int(package.rsplit("/", 1)[-1]),
            image_uri="",
            model_data_url="",
            data_fingerprint="",
            approval=ApprovalRecord(
                approved_by="bob", approved_at="2026-11-28T10:00:00Z", reason="ok"
            ),
            environment=environment,
        )
        role = self.role(n.role("model"), "sagemaker")
        sm.create_model(
            ModelName=f"{n.endpoint_name}-model",
            PrimaryContainer={"ModelPackageName": package},
            ExecutionRoleArn=role,
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{n.endpoint_name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{n.endpoint_name}-model",
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.xlarge",
                }
            ],
        )
        sm.create_endpoint(
            EndpointName=n.endpoint_name, EndpointConfigName=f"{n.endpoint_name}-config"
        )
        (pipeline,) = assembly.resources("AWS::SageMaker::Pipeline", "Monitoring")
        self.monitoring_pipeline = pipeline.properties["PipelineName"]
        definition = rendered(pipeline.properties["PipelineDefinition"]["PipelineDefinitionBody"])
        monitoring_role = self.role(n.role("monitoring"), "sagemaker")
        sm.create_pipeline(
            PipelineName=self.monitoring_pipeline,
            PipelineDefinition=definition,
            RoleArn=monitoring_role,
        )
        arn = sm.describe_pipeline(PipelineName=self.monitoring_pipeline)["PipelineArn"]
        self.client("scheduler").create_schedule(
            Name=f"{self.monitoring_pipeline}-schedule",
            ScheduleExpression=self.config.monitoring.schedule,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": arn,
                "RoleArn": self.role(n.role("scheduler"), "scheduler"),
                "SageMakerPipelineParameters": {
                    "PipelineParameterList": [
                        {"Name": "ScheduledTime", "Value": "<aws.scheduler.scheduled-time>"}
                    ]
                },
            },
        )
        self.baseline = next(
            item["S3Input"]["S3Uri"].rstrip("/")
            # the condition's branches too: prod's drift run is sharded (ADR 0027)
            for step in pipeline_steps(json.loads(definition)).values()
            for item in step["Arguments"].get("ProcessingInputs", [])
            if item["InputName"] == "baseline"
        )
        # The manifest records the baseline the monitoring stack was synthesized with.
        self.manifest = replace(self.manifest, drift_baseline_uri=self.baseline)
        s3.create_bucket(Bucket=tooling.state_bucket)
        DeploymentHistory(s3, tooling.state_bucket, group=self.manifest.model_package_group).append(
            self.manifest, "deploy", "pipeline"
        )
        bucket, _, prefix = self.baseline.removeprefix("s3://").partition("/")
        s3.create_bucket(Bucket=bucket)
        for name in BASELINE_FILES:
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=b"{}")
        topic = self.client("sns").create_topic(Name=f"{n.project}-{environment}-alerts")[
            "TopicArn"
        ]
        for alarm in assembly.resources("AWS::CloudWatch::Alarm", "Monitoring"):
            name = alarm.properties.get("AlarmName")
            if name not in (n.drift_alarm, n.quality_alarm):
                continue
            self.put_alarm(alarm.properties, topic)
        return self

    def put_alarm(
        self, properties: dict[str, Any], topic: str | None, enabled: bool = True
    ) -> None:
        self.client("cloudwatch").put_metric_alarm(
            AlarmName=properties["AlarmName"],
            Namespace=properties["Namespace"],
            MetricName=properties["MetricName"],
            Dimensions=properties["Dimensions"],
            Statistic=properties["Statistic"],
            Period=properties["Period"],
            EvaluationPeriods=properties["EvaluationPeriods"],
            Threshold=properties["Threshold"],
            ComparisonOperator=properties["ComparisonOperator"],
            ActionsEnabled=enabled,
            AlarmActions=[topic] if topic else [],
        )

    # ------------------------------------------------------------------ tooling

    def tooling(self, *, object_lock: bool = True, create_only: bool = True) -> Deployment:
        assembly = self.assemblies["tooling"]
        n = names(self.config, "tooling")
        s3 = self.client("s3")
        data = assembly.templates["Data"]
        bucket_id, bucket = next(
            (lid, r)
            for lid, r in data["Resources"].items()
            if r["Type"] == "AWS::S3::Bucket"
            and r["Properties"].get("BucketName") == n.audit_bucket
        )
        props = bucket["Properties"]
        if object_lock:
            s3.create_bucket(Bucket=n.audit_bucket, ObjectLockEnabledForBucket=True)
            s3.put_object_lock_configuration(
                Bucket=n.audit_bucket, ObjectLockConfiguration=props["ObjectLockConfiguration"]
            )
        else:
            s3.create_bucket(Bucket=n.audit_bucket)
            s3.put_bucket_versioning(
                Bucket=n.audit_bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        (policy,) = [
            r["Properties"]["PolicyDocument"]
            for r in data["Resources"].values()
            if r["Type"] == "AWS::S3::BucketPolicy"
            and r["Properties"]["Bucket"] == {"Ref": bucket_id}
        ]
        document = resolve_template_value(policy, data)
        statements = [
            s
            for s in document["Statement"]
            if "s3:if-none-match" not in json.dumps(s.get("Condition", {})).lower()
        ]
        if create_only:
            statement = json.loads(
                json.dumps(CREATE_ONLY).replace("{bucket_arn}", f"arn:aws:s3:::{n.audit_bucket}")
            )
            carried = len(statements) < len(document["Statement"])
            statements = document["Statement"] if carried else [*statements, statement]
        s3.put_bucket_policy(
            Bucket=n.audit_bucket, Policy=json.dumps({**document, "Statement": statements})
        )
        promotion = assembly.templates["Promotion"]
        (handler,) = [
            r["Properties"]
            for r in promotion["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"].get("Handler") == Promotion.HANDLER
        ]
        pipeline = handler["Environment"]["Variables"][Promotion.ENV_PIPELINE]
        pipeline_role = self.role(n.role("promotion-pipeline"), "codepipeline")
        source = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
        approval = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
        s3.create_bucket(Bucket=n.pipeline_artifact_bucket)
        self.client("codepipeline").create_pipeline(
            pipeline={
                "name": pipeline,
                "roleArn": pipeline_role,
                "artifactStore": {"type": "S3", "location": n.pipeline_artifact_bucket},
                "stages": [
                    {
                        "name": "Source",
                        "actions": [
                            {
                                "name": "Source",
                                "actionTypeId": source,
                                "outputArtifacts": [{"name": "src"}],
                                "configuration": {
                                    "S3Bucket": n.pipeline_artifact_bucket,
                                    "S3ObjectKey": "manifest.zip",
                                },
                            }
                        ],
                    },
                    {
                        "name": "ApproveProd",
                        "actions": [{"name": "Approve", "actionTypeId": approval}],
                    },
                ],
                "version": 1,
            }
        )
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("finmlops/registry/handler.py", "def handler(event, context): ...\n")
        self.client("lambda").create_function(
            FunctionName=f"{n.project}-approval-handler",
            Runtime="python3.12",
            Role=self.role(n.role(re.sub(r"[^a-z-]", "", "promotion-handler")), "lambda"),
            Handler=Promotion.HANDLER,
            Code={"ZipFile": buffer.getvalue()},
            Environment={
                "Variables": {k: str(v) for k, v in handler["Environment"]["Variables"].items()}
            },
        )
        return self
