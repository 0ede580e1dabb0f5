"""The emulated accounts as `cdk deploy` of the synthesized templates leaves them.

`provision` deploys tooling and dev from their templates; `deploy` deploys stage or prod from the
templates a promotion synthesized. Each resource the story or `finmlops verify` reads is created
in moto from its resolved properties (`emulator.world.templates`), ARNs of the config's accounts
turned into moto's one account:

| template resource | in moto |
|---|---|
| AWS::IAM::Role, ManagedPolicy | roles with their trust policy, inline and managed policies |
| AWS::KMS::Key, Alias | keys with the template's key id (`_custom_id_`), policy, rotation; aliases |
| AWS::S3::Bucket, BucketPolicy | buckets with Object Lock, versioning, encryption, public access block, policy |
| AWS::SageMaker::ModelPackageGroup | the group and its resource policy |
| AWS::SNS::Topic, Subscription (email) | topics; email subscriptions (moto sends no email) |
| AWS::SQS::Queue | queues |
| AWS::CloudWatch::Alarm | alarms, with their actions |
| AWS::Lambda::Function (ours) | functions with the template's code asset, handler, role, environment |
| AWS::CodePipeline::Pipeline | pipelines with their stages |
| AWS::SageMaker::MlflowTrackingServer | the tracking server |
| AWS::EC2::SecurityGroup, VPCEndpoint | security groups (template ids), endpoints in the config's VPCs |
| AWS::SageMaker::Pipeline | the model-build pipeline (dev), the monitoring pipeline (stage, prod) |
| AWS::Scheduler::Schedule | the monitoring schedule |
| AWS::SageMaker::Model, EndpointConfig, Endpoint | the served model (replaced on each deploy) |

The config's VPCs, subnets and route tables (which exist before the platform is deployed) are
created with the config's ids. Not created, because nothing offline reads them: log groups,
EventBridge rules and bus policies (the emulator delivers events itself), CodeBuild projects (the
story runs their commands), autoscaling, dashboards, Lambda permissions and layers, CDK's custom
resources, security group rules. docs/emulator.md lists every difference.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from finmlops.config import Config, Portfolio
from finmlops.contracts import DeploymentManifest, Placeholder, Promotion
from finmlops.emulator.aws.custom_ids import TAG as CUSTOM_ID
from finmlops.emulator.aws.server import EmbeddedAws
from finmlops.emulator.aws.serving import LocalEndpoints, registered_container
from finmlops.emulator.world import people
from finmlops.emulator.world.people import Person
from finmlops.emulator.world.rules import Rules
from finmlops.emulator.world.template import SynthesizedPipeline, pipelines_in
from finmlops.emulator.world.templates import Accounts, Declared, Templates
from finmlops.emulator.world.webhook import LocalWebhook
from finmlops.naming import PER_MODEL_STACKS, Names, names
from finmlops.tracking.runs import local_store_uri

# The project image runs `python -m finmlops.monitoring` (docker/monitoring/Dockerfile).
PROJECT_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/finmlops-project:emulated"
PROJECT_ENTRYPOINT = ["python3", "-m", "finmlops.monitoring"]
# The people of the story: IAM users with access keys and MFA devices; the operator belongs to
# the tooling account (the IAM path says so in the one-account emulator).
AUTHOR = "alice-data-scientist"
APPROVER = "bob-model-risk"
OPERATOR = "carol-operator"
# Model validation (second line of defence): signs off versions in dev's validator role.
VALIDATOR = "dana-validation"
SERVICES = ("sagemaker", "codebuild", "lambda", "scheduler")
ENVIRONMENTS = ("tooling", "dev", "stage", "prod")


@dataclass(frozen=True)
class ModelPeople:
    """A model's people: its data scientist (the author), the approver in the model's own
    approver role, and the validator of its validation team (governance.validator)."""

    author: Person
    approver: Person
    validator: Person


def people_names(portfolio: Portfolio) -> dict[str, tuple[str, str, str]]:
    """Each model's (author, approver, validator) user names. The first model keeps the story's
    people (alice, bob, dana); every other model has its own author and its own approver, named
    after it, because approval is per model (each model's approver role, ADR 0033). A validator
    is one per validation team the config names (`governance.validator`): the same team
    validates several models on AWS, in each model's own validator role, so two models that
    name one team share its person; another team has its own."""
    found: dict[str, tuple[str, str, str]] = {}
    teams: dict[str, str] = {}
    for number, config in enumerate(portfolio.configs):
        team = config.governance.validator
        if number == 0:
            teams.setdefault(team, VALIDATOR)
            found[config.model.name] = (AUTHOR, APPROVER, teams[team])
            continue
        name = config.model.name
        # IAM user names are at most 64 characters (IAM User Guide, "IAM object names").
        teams.setdefault(team, f"{team}-validator"[:64])
        found[name] = (f"{name}-data-scientist"[:64], f"{name}-approver"[:64], teams[team])
    return found


@dataclass
class World:
    """The emulated accounts, people and resources, deployed from the synthesized templates.

    One world holds every model of the portfolio; `config`, `names`, `pipeline`, `author`,
    `approver`, `validator` and `project_image` are one model's (the portfolio's first, or the
    one `for_model` chose). Everything else is the platform's and shared by every view."""

    config: Config
    aws: EmbeddedAws
    templates: Templates
    accounts: Accounts
    rules: Rules
    author: Person
    approver: Person
    operator: Person
    validator: Person
    names: dict[str, Names]
    endpoints: LocalEndpoints
    webhook: LocalWebhook | None  # the chat webhook, when notifications name one
    pipeline: SynthesizedPipeline  # the model-build pipeline, as synthesized into dev
    project_image: str  # the project image the templates name (the build's own steps run it)
    queue_url: str = ""  # the emulator's inbox: an SQS queue subscribed to prod's alerts topic
    services: dict[str, Any] = field(default_factory=dict)  # service -> its stand-in's session
    # environment -> (stack, logical id) of what is deployed: logical ids are unique within a
    # stack only (two stacks of one environment may each have a `PipelineRole`).
    deployed: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    portfolio: Portfolio | None = None  # every model (None: the config's model alone)
    staff: dict[str, ModelPeople] = field(default_factory=dict)  # model -> its people
    pipelines: dict[str, SynthesizedPipeline] = field(default_factory=dict)  # model -> build
    images: dict[str, str] = field(default_factory=dict)  # model -> its build's project image
    # environment -> model -> the manifest of the version it serves there (what the next
    # synthesis of that environment keeps for every model but the promoted one)
    serving: dict[str, dict[str, DeploymentManifest]] = field(default_factory=dict)

    # ------------------------------------------------------------------ the models
    @property
    def models(self) -> Portfolio:
        return self.portfolio or Portfolio({self.config.model.name: self.config})

    def for_model(self, model: Config | str) -> World:
        """The world as one model sees it: its config, names, build pipeline, people and
        promotion handler; the accounts, templates, rules, servers and what is deployed are
        the same objects as this view's (a promotion by one view is deployed for all)."""
        name = model if isinstance(model, str) else model.model.name
        config = self.models.config(name)
        staff = self.staff[name]
        return replace(
            self,
            config=config,
            names=all_names(config),
            pipeline=self.pipelines[name],
            project_image=self.images[name],
            author=staff.author,
            approver=staff.approver,
            validator=staff.validator,
        )

    def owner(self, declared: Declared) -> Config | None:
        """The model whose own stack declares the resource (None: a platform stack)."""
        for config in self.models.configs:
            if declared.stack.stack_name in model_stack_names(config, declared.environment):
                return config
        return None

    def current_manifests(self, environment: str, but: str) -> list[DeploymentManifest]:
        """The manifests every model but `but` serves in the environment (to synthesize it)."""
        return [m for model, m in self.serving.get(environment, {}).items() if model != but]

    # ------------------------------------------------------------------ what the story asks
    @property
    def assembly(self) -> dict[str, Path]:
        """Each deployed environment's cloud assembly (`cdk.out`): tooling and dev from the
        first synth, stage and prod from their latest promotion's."""
        return dict(self.templates.folders)

    def role_arn(self, name: str) -> str:
        """The ARN a role of the templates has in moto."""
        return f"arn:aws:iam::{self.accounts.moto}:role/{name}"

    def template_role(self, name: str) -> str:
        """The ARN the templates give the role."""
        return str(self.templates.platform.role(name).arn)

    @property
    def promotion_pipeline(self) -> str:
        return self.handler_environment()[Promotion.ENV_PIPELINE]

    @property
    def approver_role_arn(self) -> str:
        return self.role_arn(self.config.governance.approver_role)

    def as_role(self, person: Person, role: str, session_name: str | None = None) -> Person:
        """`person` in a role of their job, as people work on AWS: an MFA session first, then
        AssumeRole with their user name as source identity and (unless an insider chooses
        another) as session name. STS decides with the role's synthesized trust policy."""
        session = session_name or person.name
        arn, assumed = people.assume(
            self.aws,
            people.mfa_session(self.aws, person),
            self.role_arn(role),
            session,
            source_identity=person.name,
        )
        return Person(f"{person.name} as {session}", self.template_arn(arn), assumed)

    def template_arn(self, arn: str) -> str:
        """The ARN the templates give what moto authenticated: a session of tooling's operator
        role is in tooling's account on AWS, though moto holds every role in its one account."""
        return self.accounts.template_principal(self.templates.platform, arn)

    def service_session(self, service: str, role: str, session_name: str) -> Any:
        """The session AWS's `service` gets of the role a template gives it (a pipeline's
        execution role for SageMaker, the promotion project's role for CodeBuild, ...)."""
        _, session = people.assume(
            self.aws, self.services[service], self.role_arn(role), session_name
        )
        return session

    def chained(self, session: Any, role: str, session_name: str) -> Any:
        """A role assumed from another role's session (role chaining)."""
        _, assumed = people.assume(self.aws, session, self.role_arn(role), session_name)
        return assumed

    def handler_environment(self) -> dict[str, str]:
        """What the approval handler's Lambda runtime gives it: the function's environment as
        deployed from the template, and the function's name (AWS_LAMBDA_FUNCTION_NAME)."""
        function = self._handler_function()
        configuration = self.aws.client("lambda").get_function_configuration(FunctionName=function)
        variables = dict(configuration.get("Environment", {}).get("Variables", {}))
        return {**variables, "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"]}

    def _handler_function(self) -> str:
        """This model's approval handler: the one in its own promotion stack (each model has
        its own handler, with its group, approver role and pipeline in its environment)."""
        own = self.names["tooling"].stack("model-promotion")
        for declared in self.templates.resources("tooling", "AWS::Lambda::Function"):
            if declared.properties.get("Handler") == Promotion.HANDLER and (
                declared.stack.stack_name == own
            ):
                return str(self.templates.attribute(declared, "Ref"))
        raise LookupError(f"the tooling templates have no approval handler function in stack {own}")

    def close(self) -> None:
        """Stop the local servers (endpoints, chat webhook) and the access rules."""
        try:
            self.endpoints.stop()
        finally:
            if self.webhook is not None:
                self.webhook.stop()
            self.rules.uninstall()


def verify_arguments(world: World, config_path: Path) -> dict[str, list[str]]:
    """`finmlops verify` of each deployed environment against this world: the assembly it
    was deployed from, the emulator's endpoint (docs/verify.md, "Against the emulator"), for
    the world's model (`--model`: verify checks one model's stacks and the platform's)."""
    return {
        environment: [
            "verify",
            "--environment",
            environment,
            "--config",
            str(config_path),
            "--model",
            world.config.model.name,
            "--cdk-out",
            str(folder),
            "--endpoint-url",
            world.aws.endpoint_url,
        ]
        for environment, folder in sorted(
            world.assembly.items(), key=lambda item: ENVIRONMENTS.index(item[0])
        )
    }


def all_names(config: Config) -> dict[str, Names]:
    return {env: names(config, env) for env in ENVIRONMENTS}


def model_stack_names(config: Config, environment: str) -> frozenset[str]:
    """The names of the model's own stacks in the environment (finmlops.naming)."""
    n = names(config, environment)
    return frozenset(n.stack(component) for component in PER_MODEL_STACKS)


def provision(
    config: Config | Portfolio,
    aws: EmbeddedAws,
    cdk_out: Path,
    work_dir: Path,
    *,
    clock: Callable[[], datetime],
) -> World:
    """Deploy tooling and dev from the assembly in `cdk_out`, with the people and the rules:
    every model of the portfolio (its build pipeline shipped and created, its people); the
    world returned is the first model's view (`World.for_model` gives the others')."""
    portfolio = config if isinstance(config, Portfolio) else Portfolio({config.model.name: config})
    config = portfolio.platform
    if aws.account != config.environments.dev.account:
        raise ValueError(
            f"the world runs in the dev account {config.environments.dev.account}: start the "
            f"embedded AWS with account= that id (it runs {aws.account})"
        )
    templates = Templates(config)
    templates.add(cdk_out, ["tooling", "dev"])
    accounts = Accounts.of(config)
    paths = {"/tooling/": config.environments.tooling.account}
    rules = Rules(templates, accounts, paths)
    rules.install(aws.endpoint_url.removeprefix("http://"))
    pipelines = {c.model.name: _model_build_pipeline(templates, c) for c in portfolio.configs}
    users: dict[str, Person] = {}

    def person(name: str) -> Person:
        if name not in users:
            users[name] = people.create_person(aws, name)
        return users[name]

    staff = {
        model: ModelPeople(person(author), person(approver), person(validator))
        for model, (author, approver, validator) in people_names(portfolio).items()
    }
    first = staff[config.model.name]
    world = World(
        config=config,
        aws=aws,
        templates=templates,
        accounts=accounts,
        rules=rules,
        author=first.author,
        approver=first.approver,
        operator=people.create_person(aws, OPERATOR, "/tooling/"),
        validator=first.validator,
        names=all_names(config),
        endpoints=LocalEndpoints(aws.client("s3"), clock=clock).start(),
        webhook=_chat_webhook(aws, config),
        pipeline=pipelines[config.model.name],
        project_image="",
        services={s: people.create_service(aws, f"{s}.amazonaws.com") for s in SERVICES},
        portfolio=portfolio,
        staff=staff,
        pipelines=pipelines,
        images={c.model.name: _project_image(templates, c) for c in portfolio.configs},
    )
    world.project_image = world.images[config.model.name]
    for environment in ("dev", "tooling"):
        deploy_resources(world, environment)
    for model in portfolio.configs:
        _ship_code_and_create_pipeline(world.for_model(model), work_dir)
    return world


def deploy(world: World, environment: str, cdk_out: Path, model: Config | None = None) -> None:
    """`cdk deploy` of stage or prod from a promotion's assembly: everything the first time,
    then what a new manifest changes (the served model, the monitoring pipeline and schedule).
    With `model`, as a model's promotion deploys (cdk/buildspecs.py `model_stacks`): the
    environment's platform stacks and that model's own, never another model's."""
    world.templates.add(cdk_out, [environment])
    deploy_resources(world, environment, model)


def describe(world: World) -> str:
    """One line of what was provisioned, for the demo."""
    counts: dict[str, int] = {}
    for environment, done in world.deployed.items():
        for kind in _ORDER:
            for declared in world.templates.resources(environment, kind):
                if declared.key in done:
                    short = kind.split("::", 1)[1]
                    counts[short] = counts.get(short, 0) + 1
    shown = ", ".join(
        f"{counts[k]} {k}"
        for k in ("IAM::Role", "S3::Bucket", "KMS::Key", "CloudWatch::Alarm", "EC2::VPCEndpoint")
        if k in counts
    )
    if len(world.models.configs) == 1:
        return (
            f"tooling and dev from {world.templates.folder('dev').name}: {shown}, group "
            f"{world.config.model.package_group} with its policy, handler Lambda, pipeline "
            f"{world.promotion_pipeline}, MLflow server; people {world.author.name}, "
            f"{world.approver.name}, {world.operator.name}, {world.validator.name} with MFA; "
            f"pipeline {world.pipeline.pipeline_name}"
        )
    models = []
    for config in world.models.configs:
        view = world.for_model(config)
        models.append(
            f"{config.model.name} ({config.serving.mode}): group {config.model.package_group} "
            f"with its policy, handler Lambda, promotion pipeline {view.promotion_pipeline}, "
            f"build pipeline {view.pipeline.pipeline_name}, people {view.author.name}, "
            f"{view.approver.name} ({config.governance.approver_role}), {view.validator.name}"
        )
    return (
        f"tooling and dev from {world.templates.folder('dev').name}: {shown}, MLflow server, "
        f"operator {world.operator.name}; every person with MFA; " + "; ".join(models)
    )


# --------------------------------------------------------------------------- deployment

# Created in this order: what the others name first.
_ORDER = (
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SQS::Queue",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::VPCEndpoint",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::SageMaker::MlflowTrackingServer",
    "AWS::Lambda::Function",
    "AWS::CodePipeline::Pipeline",
    "AWS::SageMaker::Pipeline",
    "AWS::Scheduler::Schedule",
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::CloudWatch::Alarm",
)
# Replaced or updated on every deploy of a new manifest (CloudFormation replaces the model and
# its config, updates the endpoint, the monitoring pipeline's definition and its schedule).
_CHANGING = frozenset(
    {
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::Pipeline",
        "AWS::Scheduler::Schedule",
    }
)


def deploy_resources(world: World, environment: str, model: Config | None = None) -> None:
    """Create what the environment's templates declare (with `model`: the platform's stacks
    and that model's own only)."""
    done = world.deployed.setdefault(environment, set())
    if not done and environment != "tooling":
        _network(world, environment)
    others: frozenset[str] = frozenset()
    if model is not None:
        others = frozenset().union(
            *(
                model_stack_names(c, environment)
                for c in world.models.configs
                if c.model.name != model.model.name
            )
        )
    for kind in _ORDER:
        for resource in world.templates.resources(environment, kind):
            if resource.stack.stack_name in others:
                continue
            if resource.key in done and kind not in _CHANGING:
                continue
            handler = _HANDLERS[kind]
            if handler(world, resource) is not False:
                done.add(resource.key)


def _ref(world: World, resource: Declared, attribute: str = "Ref") -> str:
    return str(world.templates.attribute(resource, attribute))


def _tags(resource: Declared) -> list[dict[str, str]]:
    return [
        {"Key": str(t["Key"]), "Value": str(t["Value"])}
        for t in resource.properties.get("Tags", [])
    ]


def _network(world: World, environment: str) -> None:
    """The config's VPC, subnets and route tables, which exist before the platform does."""
    vpc = world.config.environments.by_name(environment).vpc
    if vpc is None:
        return
    ec2 = world.aws.client("ec2")
    number = ENVIRONMENTS.index(environment)

    def custom(kind: str, value: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": CUSTOM_ID, "Value": value}]}]

    ec2.create_vpc(CidrBlock=f"10.{number}.0.0/16", TagSpecifications=custom("vpc", vpc.vpc_id))
    for index, (subnet, zone) in enumerate(
        zip(vpc.subnet_ids, vpc.availability_zones, strict=True)
    ):
        ec2.create_subnet(
            VpcId=vpc.vpc_id,
            CidrBlock=f"10.{number}.{index}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=custom("subnet", subnet),
        )
    for table, subnet in zip(vpc.route_table_ids, vpc.subnet_ids, strict=False):
        ec2.create_route_table(VpcId=vpc.vpc_id, TagSpecifications=custom("route-table", table))
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)


def _role(world: World, resource: Declared) -> None:
    iam, p = world.aws.client("iam"), resource.properties
    name = _ref(world, resource)
    iam.create_role(
        RoleName=name,
        Path=p.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
        Tags=_tags(resource),
    )
    for inline in p.get("Policies", []):
        iam.put_role_policy(
            RoleName=name,
            PolicyName=inline["PolicyName"],
            PolicyDocument=json.dumps(inline["PolicyDocument"]),
        )
    for arn in p.get("ManagedPolicyArns", []):
        # The template's own managed policies are attached when they are created; AWS managed
        # policies (arn:...:iam::aws:policy/...) are moto's.
        if ":iam::aws:policy/" in arn:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)


def _managed_policy(world: World, resource: Declared) -> None:
    iam, p = world.aws.client("iam"), resource.properties
    arn = world.accounts.local(_ref(world, resource))
    policy_name = arn.rsplit("/", 1)[-1]
    iam.create_policy(
        PolicyName=policy_name,
        Path=p.get("Path", "/"),
        PolicyDocument=json.dumps(p["PolicyDocument"]),
        Description=p.get("Description", ""),
    )
    for role in p.get("Roles", []):
        iam.attach_role_policy(RoleName=str(role).rsplit("/", 1)[-1], PolicyArn=arn)


def _key(world: World, resource: Declared) -> None:
    kms, p = world.aws.client("kms"), resource.properties
    key_id = _ref(world, resource)
    kms.create_key(
        Description=p.get("Description", ""),
        Policy=json.dumps(p["KeyPolicy"]),
        Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(resource)]
        + [{"TagKey": CUSTOM_ID, "TagValue": key_id}],
    )
    if p.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)


def _alias(world: World, resource: Declared) -> None:
    p = resource.properties
    target = str(p["TargetKeyId"]).rsplit("/", 1)[-1]
    world.aws.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=target)


def _bucket(world: World, resource: Declared) -> None:
    s3, p = world.aws.client("s3"), resource.properties
    name = _ref(world, resource)
    lock = p.get("ObjectLockConfiguration") or {}
    s3.create_bucket(
        Bucket=name, ObjectLockEnabledForBucket=bool(p.get("ObjectLockEnabled", False))
    )
    status = (p.get("VersioningConfiguration") or {}).get("Status")
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    if lock.get("Rule"):
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": lock["Rule"]},
        )
    encryption = p.get("BucketEncryption")
    if encryption:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                # CloudFormation's ServerSideEncryptionByDefault is the API's Apply... field.
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                        **(
                            {"BucketKeyEnabled": rule["BucketKeyEnabled"]}
                            if "BucketKeyEnabled" in rule
                            else {}
                        ),
                    }
                    for rule in world.accounts.local(
                        encryption["ServerSideEncryptionConfiguration"]
                    )
                ]
            },
        )
    block = p.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)


def _bucket_policy(world: World, resource: Declared) -> None:
    p = resource.properties
    world.aws.client("s3").put_bucket_policy(
        Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"])
    )


def _topic(world: World, resource: Declared) -> None:
    p = resource.properties
    attributes = {
        k: str(world.accounts.local(p[k])) for k in ("DisplayName", "KmsMasterKeyId") if k in p
    }
    world.aws.client("sns").create_topic(
        Name=_ref(world, resource, "TopicName"), Attributes=attributes, Tags=_tags(resource)
    )


def _subscription(world: World, resource: Declared) -> bool:
    p = resource.properties
    if p.get("Protocol") != "email":
        # A Lambda subscription would make moto invoke the function (it needs Docker): the
        # story calls the chat notifier itself (docs/emulator.md).
        return False
    world.aws.client("sns").subscribe(
        TopicArn=world.accounts.local(p["TopicArn"]), Protocol="email", Endpoint=p["Endpoint"]
    )
    return True


def _queue(world: World, resource: Declared) -> None:
    p = resource.properties
    attributes = {
        k: str(world.accounts.local(p[k]))
        for k in ("KmsMasterKeyId", "MessageRetentionPeriod", "VisibilityTimeout")
        if k in p
    }
    world.aws.client("sqs").create_queue(
        QueueName=_ref(world, resource, "QueueName"), Attributes=attributes
    )


def _security_group(world: World, resource: Declared) -> None:
    p = resource.properties
    group_id = _ref(world, resource, "GroupId")
    world.aws.client("ec2").create_security_group(
        GroupName=f"{resource.stack.stack_name}-{resource.logical_id}",
        Description=p.get("GroupDescription", resource.logical_id),
        VpcId=p["VpcId"],
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [*_tags(resource), {"Key": CUSTOM_ID, "Value": group_id}],
            }
        ],
    )


def _vpc_endpoint(world: World, resource: Declared) -> None:
    p = resource.properties
    extra: dict[str, Any] = {
        k: p[k] for k in ("SubnetIds", "SecurityGroupIds", "RouteTableIds") if k in p
    }
    if "PrivateDnsEnabled" in p:
        extra["PrivateDnsEnabled"] = bool(p["PrivateDnsEnabled"])
    if "PolicyDocument" in p:
        extra["PolicyDocument"] = json.dumps(p["PolicyDocument"])
    world.aws.client("ec2").create_vpc_endpoint(
        VpcId=p["VpcId"],
        ServiceName=p["ServiceName"],
        VpcEndpointType=p.get("VpcEndpointType", "Gateway"),
        **extra,
    )


def _group(world: World, resource: Declared) -> None:
    sm, p = world.aws.client("sagemaker"), resource.properties
    name = p["ModelPackageGroupName"]
    sm.create_model_package_group(
        ModelPackageGroupName=name,
        ModelPackageGroupDescription=p.get("ModelPackageGroupDescription", ""),
        Tags=_tags(resource),
    )
    if "ModelPackageGroupPolicy" in p:
        sm.put_model_package_group_policy(
            ModelPackageGroupName=name, ResourcePolicy=json.dumps(p["ModelPackageGroupPolicy"])
        )


def _tracking_server(world: World, resource: Declared) -> None:
    p = resource.properties
    extra = {k: p[k] for k in ("TrackingServerSize", "MlflowVersion") if k in p}
    world.aws.client("sagemaker").create_mlflow_tracking_server(
        TrackingServerName=p["TrackingServerName"],
        ArtifactStoreUri=p["ArtifactStoreUri"],
        RoleArn=world.accounts.local(p["RoleArn"]),
        **extra,
    )


def _asset(world: World, resource: Declared) -> bytes:
    """The function's code, as the template's asset ships it (a folder or a zip in cdk.out)."""
    key = str(resource.properties["Code"]["S3Key"])
    folder = world.templates.folder(resource.environment)
    stem = key.removesuffix(".zip")
    zipped = folder / f"asset.{stem}.zip"
    if zipped.is_file():
        return zipped.read_bytes()
    directory = folder / f"asset.{stem}"
    if not directory.is_dir():
        raise LookupError(f"{folder}: no asset {stem} for {resource.logical_id}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _function(world: World, resource: Declared) -> bool:
    p = resource.properties
    if not str(p.get("Handler", "")).startswith("finmlops."):
        return False  # CDK's own provider functions (BucketDeployment): CloudFormation machinery
    variables = {k: str(v) for k, v in (p.get("Environment") or {}).get("Variables", {}).items()}
    world.aws.client("lambda").create_function(
        FunctionName=_ref(world, resource),
        Runtime=p["Runtime"],
        Role=world.accounts.local(p["Role"]),
        Handler=p["Handler"],
        Code={"ZipFile": _asset(world, resource)},
        Description=p.get("Description", ""),
        Timeout=int(p.get("Timeout", 3)),
        MemorySize=int(p.get("MemorySize", 128)),
        Environment={"Variables": world.accounts.local(variables)},
    )
    return True


def _api_shape(value: Any, *, keep: bool = False) -> Any:
    """CloudFormation's PascalCase CodePipeline properties as the API's camelCase; the values of
    an action's Configuration stay as they are (strings, as the API takes them)."""
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    if not isinstance(value, dict):
        return value
    if keep:
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    return {
        k[0].lower() + k[1:]: _api_shape(v, keep=k == "Configuration") for k, v in value.items()
    }


def _codepipeline(world: World, resource: Declared) -> None:
    p = world.accounts.local(resource.properties)
    shaped = _api_shape({k: p[k] for k in ("RoleArn", "ArtifactStore", "Stages") if k in p})
    world.aws.client("codepipeline").create_pipeline(
        pipeline={"name": p["Name"], "version": 1, **shaped},
        tags=[{"key": t["Key"], "value": t["Value"]} for t in _tags(resource)],
    )


def _sagemaker_pipeline(world: World, resource: Declared) -> bool:
    if resource.environment == "dev":
        return False  # the model build: created with its code (_ship_code_and_create_pipeline)
    from finmlops.buildrun import upsert_body

    p = resource.properties
    body = p["PipelineDefinition"]["PipelineDefinitionBody"]
    upsert_body(
        world.aws.client("sagemaker"),
        p["PipelineName"],
        body if isinstance(body, str) else json.dumps(body),
        world.accounts.local(p["RoleArn"]),
        world.owner(resource) or world.config,
    )
    return True


def _schedule(world: World, resource: Declared) -> None:
    scheduler, p = world.aws.client("scheduler"), world.accounts.local(resource.properties)
    name = _ref(world, resource)
    group = p.get("GroupName", "default")
    with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
        scheduler.delete_schedule(Name=name, GroupName=group)
    extra = {k: p[k] for k in ("Description", "KmsKeyArn", "State") if k in p}
    scheduler.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression=p["ScheduleExpression"],
        FlexibleTimeWindow=p["FlexibleTimeWindow"],
        Target=p["Target"],
        **extra,
    )


def _model(world: World, resource: Declared) -> None:
    sm, p = world.aws.client("sagemaker"), world.accounts.local(resource.properties)
    name = _ref(world, resource, "ModelName")
    with contextlib.suppress(ClientError):  # CloudFormation replaces it: a new version
        sm.delete_model(ModelName=name)
    extra = {k: p[k] for k in ("VpcConfig", "EnableNetworkIsolation") if k in p}
    sm.create_model(
        ModelName=name,
        PrimaryContainer=p["PrimaryContainer"],
        ExecutionRoleArn=p["ExecutionRoleArn"],
        Tags=_tags(resource),
        **extra,
    )


def _endpoint_config(world: World, resource: Declared) -> None:
    sm, p = world.aws.client("sagemaker"), world.accounts.local(resource.properties)
    name = _ref(world, resource, "EndpointConfigName")
    with contextlib.suppress(ClientError):
        sm.delete_endpoint_config(EndpointConfigName=name)
    extra = {k: p[k] for k in ("DataCaptureConfig", "KmsKeyId") if k in p}
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=p["ProductionVariants"], **extra
    )


def _endpoint(world: World, resource: Declared) -> None:
    """The endpoint on its config (moto has no UpdateEndpoint: it is recreated; CloudFormation
    updates it in place), and the local server that answers InvokeEndpoint for it with the
    registered version's container, capturing as the config's DataCaptureConfig says."""
    sm, p = world.aws.client("sagemaker"), resource.properties
    name = p["EndpointName"]
    with contextlib.suppress(ClientError):
        sm.delete_endpoint(EndpointName=name)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=p["EndpointConfigName"])
    config = sm.describe_endpoint_config(EndpointConfigName=p["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    package = model["PrimaryContainer"]["ModelPackageName"]
    capture = config.get("DataCaptureConfig", {}).get("DestinationS3Uri", "")
    bucket, _, prefix = capture.removeprefix("s3://").partition("/")
    world.endpoints.deploy(
        name,
        container=registered_container(sm, package),
        model_package_arn=package,
        capture_bucket=bucket,
        capture_prefix=prefix,
        network_isolation=bool(model.get("EnableNetworkIsolation")),
    )


_ALARM_FIELDS = (
    "AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
    "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic",
    "Dimensions", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
    "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics",
    "ThresholdMetricId",
)  # fmt: skip


def _alarm(world: World, resource: Declared) -> None:
    p = world.accounts.local(resource.properties)
    fields = {k: p[k] for k in _ALARM_FIELDS if k in p}
    fields["AlarmName"] = _ref(world, resource)
    for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if number in fields:
            fields[number] = int(fields[number])
    if "Threshold" in fields:
        fields["Threshold"] = float(fields["Threshold"])
    world.aws.client("cloudwatch").put_metric_alarm(**fields)


_HANDLERS: dict[str, Callable[[World, Declared], Any]] = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SQS::Queue": _queue,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::SageMaker::ModelPackageGroup": _group,
    "AWS::SageMaker::MlflowTrackingServer": _tracking_server,
    "AWS::Lambda::Function": _function,
    "AWS::CodePipeline::Pipeline": _codepipeline,
    "AWS::SageMaker::Pipeline": _sagemaker_pipeline,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SageMaker::Model": _model,
    "AWS::SageMaker::EndpointConfig": _endpoint_config,
    "AWS::SageMaker::Endpoint": _endpoint,
    "AWS::CloudWatch::Alarm": _alarm,
}


# --------------------------------------------------------------------------- the emulator's own


def alerts_inbox(world: World, environment: str = "prod") -> str:
    """The emulator's inbox: an SQS queue subscribed to the environment's alerts topic (the
    templates subscribe an email address, which moto does not deliver to)."""
    topic = next(
        world.accounts.local(_ref(world, r, "TopicArn"))
        for r in world.templates.resources(environment, "AWS::SNS::Topic")
        if r.component == "Data"
    )
    sqs = world.aws.client("sqs")
    queue = sqs.create_queue(QueueName=f"{world.config.project}-{environment}-alerts-inbox")[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    world.aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    world.queue_url = queue
    return str(queue)


def _model_build_pipeline(templates: Templates, config: Config) -> SynthesizedPipeline:
    """The model's build pipeline, in its own model-build stack in dev."""
    own = names(config, "dev").stack("model-build")
    found = []
    for stack in templates.stacks("dev"):
        if stack.stack_name == own:
            found += list(pipelines_in(stack.template, str(stack.path)))
    found = [p for p in found if p.pipeline_name.endswith("model-build")]
    if len(found) != 1:
        raise LookupError(
            f"{templates.folder('dev')}: expected one model-build pipeline in stack {own}"
        )
    return found[0]


def _build_declared(templates: Templates, config: Config) -> Declared:
    """The model's `AWS::SageMaker::Pipeline` in its model-build stack in dev."""
    own = names(config, "dev").stack("model-build")
    found = [
        r
        for r in templates.resources("dev", "AWS::SageMaker::Pipeline")
        if r.stack.stack_name == own
    ]
    if len(found) != 1:
        raise LookupError(f"{templates.folder('dev')}: {len(found)} pipelines in stack {own}")
    return found[0]


def _project_image(templates: Templates, config: Config) -> str:
    values = _sub_values(templates, config)
    return values.get(Placeholder.PROJECT_IMAGE_URI, PROJECT_IMAGE)


def _sub_values(templates: Templates, config: Config) -> dict[str, str]:
    """The model-build definition's Fn::Sub variables, resolved as CloudFormation fills them."""
    declared = _build_declared(templates, config)
    raw = declared.stack.template["Resources"][declared.logical_id]["Properties"]
    sub = raw["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    variables = sub[1] if isinstance(sub, list) else {}
    assembly = templates._assemblies["dev"]
    resolved = assembly.resolve(
        declared.stack, variables, declared.stack.where(declared.logical_id)
    )
    stack = declared.stack
    pseudo = {
        Placeholder.ACCOUNT_ID: stack.account,
        Placeholder.PARTITION: stack.partition,
        Placeholder.REGION: stack.region,
    }
    return {**pseudo, **{k: str(v) for k, v in (resolved or {}).items()}}


def placeholder_values(world: World, work_dir: Path) -> dict[str, str]:
    """The dev template's `Fn::Sub` variables as CloudFormation fills them, except the MLflow
    tracking URI: the offline Track step logs to a local store (docs/emulator.md)."""
    values = _sub_values(world.templates, world.config)
    if Placeholder.MLFLOW_TRACKING_URI in world.pipeline.variables:
        values[Placeholder.MLFLOW_TRACKING_URI] = local_store_uri(work_dir)
    return values


def _ship_code_and_create_pipeline(world: World, work_dir: Path) -> None:
    from finmlops_pipelines.definition import ship_pipeline_files

    from finmlops.buildrun import upsert_body

    # The files the CDK's BucketDeployment ships: the same keys the definition references.
    ship_pipeline_files(world.aws.client("s3"), world.names["dev"].artifact_bucket, world.config)
    body = world.pipeline.fill(placeholder_values(world, work_dir))
    declared = _build_declared(world.templates, world.config)
    upsert_body(
        world.aws.client("sagemaker"),
        world.pipeline.pipeline_name,
        body,
        world.accounts.local(declared.properties["RoleArn"]),
        world.config,
    )
    world.deployed.setdefault("dev", set()).add(declared.key)


def _chat_webhook(aws: EmbeddedAws, config: Config) -> LocalWebhook | None:
    """A loopback chat webhook whose URL is the SecureString parameter the config names."""
    parameter = config.notifications.chat_webhook_parameter
    if not parameter:
        return None
    webhook = LocalWebhook().start()
    aws.client("ssm").put_parameter(Name=parameter, Type="SecureString", Value=webhook.url)
    return webhook


__all__ = [
    "APPROVER",
    "AUTHOR",
    "OPERATOR",
    "PROJECT_ENTRYPOINT",
    "PROJECT_IMAGE",
    "ModelPeople",
    "Person",
    "World",
    "alerts_inbox",
    "deploy",
    "describe",
    "placeholder_values",
    "provision",
]
