"""Fixtures for the registry tests: moto for every AWS call, people with their own keys.

Alice registers model versions (the author); Bob approves them (the independent validator).
Each person's clients are built from an IAM access key created in moto, so get_caller_identity
names the person, and the emulator records them in SageMaker's CreatedBy/LastModifiedBy, as AWS
does (`finmlops.emulator.aws.identity`, installed by tests/conftest.py). `Person.assume` takes a
role with a session name and source identity, as people do on AWS.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops import fairness
from finmlops.config import Config, Model, load_config
from finmlops.contracts import Approval, Meta, Placeholder, Promotion
from finmlops.emulator.aws.identity import record_steps
from finmlops.gates import platform_gates
from finmlops.registry.approval import approve
from finmlops.registry.audit import AuditTrail
from finmlops.registry.champion import champion_parameters, serving_champion
from finmlops.registry.gatecheck import PlatformGate
from finmlops.registry.handler import HandlerSettings, handle_state_change
from finmlops.registry.promotion import DeploymentHistory, record_deployment, resolve
from finmlops.registry.signoff import Finding, submit_signoff

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO / "config" / "platform.yaml"
EVIDENCE_BUCKET = "evidence-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real account can be reached: fake keys, no profile, no shared config files."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(CONFIG_PATH, "credit-risk")


@dataclass
class Person:
    name: str
    arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        # One client per service: building a client parses its service model, which is slow.
        if service not in self._clients:
            self._clients[service] = _botocore_session().client(
                service,
                region_name=REGION,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                aws_session_token=self.session_token,
            )
        return self._clients[service]

    def use_in_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this person the one the CLI runs as (it reads the standard variables)."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", self.secret_access_key)
        if self.session_token:
            monkeypatch.setenv("AWS_SESSION_TOKEN", self.session_token)

    def assume(
        self, role_arn: str, session_name: str, source_identity: str | None = None
    ) -> Person:
        """This person in a role session (STS AssumeRole), as every person works on AWS."""
        extra = {"SourceIdentity": source_identity} if source_identity else {}
        answer = self.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, **extra
        )
        credentials = answer["Credentials"]
        return Person(
            f"{self.name} as {session_name}",
            answer["AssumedRoleUser"]["Arn"],
            credentials["AccessKeyId"],
            credentials["SecretAccessKey"],
            credentials["SessionToken"],
        )


@dataclass
class World:
    """One emulated account: the registry, the two stores, and the people."""

    config: Config
    alice: Person
    bob: Person
    audit_bucket: str
    state_bucket: str
    group: str
    approver_role: str  # the approver role's ARN (people assume it with a source identity)
    starter_role: str  # dev's build-starter role (automation: no person behind it)
    _clients: dict[str, Any] = field(default_factory=dict)
    _people: dict[str, Person] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """The emulator's own identity's client, one per service (building one is slow)."""
        if service not in self._clients:
            self._clients[service] = _client(service)
        return self._clients[service]

    @property
    def gates(self) -> tuple[PlatformGate, ...]:
        return platform_gates(self.config)

    def person(self, name: str) -> Person:
        """Another IAM user with their own keys."""
        return _person(self.client("iam"), name)

    def approver(self, person: Person | None = None) -> Person:
        """`person` (default Bob) in the approver role, as its trust policy requires: session
        name and source identity are the person's user name."""
        person = person or self.bob
        return person.assume(self.approver_role, person.name, person.name)

    @property
    def carol(self) -> Person:
        """Carol validates (model risk management): neither author nor approver."""
        if "carol" not in self._people:
            self._people["carol"] = self.person("carol-mrm")
        return self._people["carol"]

    def sign_off(
        self,
        arn: str,
        *,
        by: Person | None = None,
        findings: tuple[Finding, ...] = (),
        closes: tuple[str, ...] = (),
        summary: str = "validation MRM-2026-114: sound, no finding blocks use",
    ) -> Any:
        """`registry validate` as `by` (default Carol), then SageMaker's state-change event for
        the lifecycle write to the handler, which binds the person it recorded."""
        person = by or self.carol
        submit_signoff(
            person.client("sagemaker"),
            person.client("sts"),
            self.audit(),
            arn=arn,
            summary=summary,
            findings=findings,
            closes=closes,
        )
        return self.observe(arn)

    def observe(self, arn: str, event_id: str = "evt-signoff") -> Any:
        """The version's current state-change event to the handler (a pending one: sign-off)."""
        described = self.describe(arn)
        event = state_change_event(
            arn,
            described["ModelApprovalStatus"],
            group=described["ModelPackageGroupName"],
            version=described["ModelPackageVersion"],
            event_id=event_id,
        )
        return handle_state_change(
            event,
            sagemaker=self.sm,
            s3=self.s3,
            codepipeline=self.client("codepipeline"),
            cloudwatch=self.client("cloudwatch"),
            settings=self.handler_settings(),
        )

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sm(self) -> Any:
        return self.client("sagemaker")

    def new_client(self, service: str) -> Any:
        """A client of its own, for a test that registers event hooks on it."""
        return _client(service)

    def audit(self) -> AuditTrail:
        return AuditTrail(self.s3, self.audit_bucket)

    def history(self) -> DeploymentHistory:
        return DeploymentHistory(self.s3, self.state_bucket, group=self.group)

    def describe(self, arn: str) -> dict[str, Any]:
        description = dict(self.sm.describe_model_package(ModelPackageName=arn))
        description.pop("ResponseMetadata", None)
        return description

    def audit_actions(self) -> list[str]:
        return [r.action for r in self.audit().records()]

    def console_approve(self, arn: str, person: Person) -> None:
        """Approve as the console does: the status alone, nothing checked (SageMaker records the
        caller as LastModifiedBy; the handler and the gates judge it later)."""
        from finmlops.registry.versions import update_version

        update_version(person.client("sagemaker"), arn, status=Approval.APPROVED)

    def serve(self, environment: str, arn: str) -> str:
        """What a deploy leaves in SageMaker: a model of the package (ModelPackageName, as the
        endpoint stack creates it), an endpoint config, and the environment's endpoint on it
        (recreated: moto has no UpdateEndpoint). Returns the endpoint's name."""
        from finmlops.naming import names

        endpoint = names(self.config, environment).endpoint_name
        name = f"{endpoint}-{uuid.uuid4().hex[:8]}"
        self.sm.create_model(
            ModelName=name,
            PrimaryContainer={"ModelPackageName": arn},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
        )
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        if self.sm.list_endpoints(NameContains=endpoint)["Endpoints"]:
            self.sm.delete_endpoint(EndpointName=endpoint)
        self.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=name)
        return endpoint

    def handler_settings(self, pipeline: str = "credit-risk-promotion") -> HandlerSettings:
        """The handler's settings, as the stack sets them (the platform's gates included)."""
        return HandlerSettings(
            groups=frozenset({self.group}),
            pipeline_name=pipeline,
            audit_bucket=self.audit_bucket,
            state_bucket=self.state_bucket,
            gates=self.gates,
        )

    def deliver(self, arn: str, pipeline: Pipeline, event_id: str = "evt-1") -> Any:
        """SageMaker's state-change event for the version as it stands, to the handler."""
        described = self.describe(arn)
        event = state_change_event(
            arn,
            described["ModelApprovalStatus"],
            group=described["ModelPackageGroupName"],
            version=described["ModelPackageVersion"],
            event_id=event_id,
        )
        return handle_state_change(
            event,
            sagemaker=self.sm,
            s3=self.s3,
            codepipeline=pipeline.client,
            cloudwatch=self.client("cloudwatch"),
            settings=self.handler_settings(pipeline.name),
        )

    def approve_signed(self, arn: str, *, sign: bool = True) -> Any:
        """Signed off by the validator (ADR 0030), unless `sign` is off, then approved by the
        approver with the platform's gates."""
        if sign:
            self.sign_off(arn)
        person = self.approver()
        return approve(
            person.client("sagemaker"), person.client("sts"), self.audit(),
            arn=arn, reason="looks good", gates=self.gates,
        )  # fmt: skip

    def serve_in_prod(self, arn: str, pipeline: Pipeline, event_id: str) -> None:
        """Approved, observed by the handler, resolved and recorded as serving in prod (which
        sets its ModelLifeCycle to Production/Deployed, as promotion's lifecycle role does)."""
        self.approve_signed(arn)
        assert self.deliver(arn, pipeline, event_id=event_id).result == "started"
        manifest = resolve(
            self.sm, self.s3, self.audit(), self.history(),
            arn=arn, environment="prod", actor="promotion-build", gates=self.gates,
        )  # fmt: skip
        record_deployment(
            self.sm, self.audit(), self.history(), manifest=manifest, actor="promotion-build",
            serving=self.sm, endpoint_name=self.serve("prod", arn),
        )  # fmt: skip


@functools.cache
def _botocore_session() -> boto3.session.Session:
    """One session for the whole run, so service models are loaded once."""
    return boto3.session.Session(region_name=REGION)


def _client(service: str) -> Any:
    """A client with the default test credentials (the emulator's own identity)."""
    return _botocore_session().client(
        service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _person(iam: Any, name: str) -> Person:
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Person(name, user["Arn"], key["AccessKeyId"], key["SecretAccessKey"])


TRUST_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ],
    }
)


@pytest.fixture
def world(config: Config) -> Iterator[World]:
    with mock_aws():
        iam = _client("iam")
        alice = _person(iam, "alice-author")
        bob = _person(iam, "bob-validator")
        approver_role = iam.create_role(
            RoleName=config.governance.approver_role, AssumeRolePolicyDocument=TRUST_ACCOUNT
        )["Role"]["Arn"]
        starter_role = iam.create_role(
            RoleName="credit-risk-dev-build-starter", AssumeRolePolicyDocument=TRUST_ACCOUNT
        )["Role"]["Arn"]
        tooling = config.environments.tooling
        audit_bucket = Promotion.audit_bucket_name(config.project, tooling.account, tooling.region)
        state_bucket = Promotion.state_bucket_name(config.project, tooling.account, tooling.region)
        s3 = _client("s3")
        s3.create_bucket(Bucket=audit_bucket, ObjectLockEnabledForBucket=True)
        s3.create_bucket(Bucket=state_bucket)
        s3.create_bucket(Bucket=EVIDENCE_BUCKET)
        group = config.model.package_group
        _client("sagemaker").create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription="credit risk"
        )
        yield World(
            config, alice, bob, audit_bucket, state_bucket, group, approver_role, starter_role
        )


def _source(uri: str) -> dict[str, str]:
    return {"ContentType": "application/json", "S3Uri": uri}


Register = Callable[..., str]


@pytest.fixture
def register(world: World) -> Register:
    """Register a version as the build pipeline's register step would: by Alice, Pending, with
    every piece of evidence unless a test leaves some out (`without=`)."""

    def _register(
        *,
        group: str | None = None,
        without: tuple[str, ...] = (),
        metadata: dict[str, str] | None = None,
        auc: float = 0.81,
        ks: float = 0.45,
        disparate_impact: float = 0.92,
        parity: float = 0.04,
        measured: Model | None = None,
        by: Person | None = None,
        extra: dict[str, Any] | None = None,
        champion: dict[str, Any] | None = None,
        auc_drop: float = -0.01,
        evaluation_without: tuple[str, ...] = (),
    ) -> str:
        group = group or world.group
        # As an honest build: compared with the version the registry says serves in prod.
        champion = champion or honest_champion(world.sm, group, auc_drop)
        sm = (by or world.alice).client("sagemaker")
        run = f"{group}/{uuid.uuid4().hex[:8]}"
        prefix = f"s3://{EVIDENCE_BUCKET}/{run}"
        world.s3.put_object(
            Bucket=EVIDENCE_BUCKET,
            Key=f"{run}/statistics.json",
            Body=evaluation(
                auc=auc, ks=ks, disparate_impact=disparate_impact, parity=parity,
                measured=measured or world.config.model, champion=champion,
                without=evaluation_without,
            ),
        )  # fmt: skip
        metrics: dict[str, Any] = {}
        if "model-quality" not in without:
            metrics["ModelQuality"] = {"Statistics": _source(f"{prefix}/statistics.json")}
        if "fairness" not in without:
            metrics["Bias"] = {"PostTrainingReport": _source(f"{prefix}/fairness.json")}
        inventory = {
            Meta.MODEL_ID: world.config.model.name,
            Meta.RISK_TIER: world.config.governance.risk_tier,
            Meta.OWNER: world.config.governance.owner,
            Meta.VALIDATOR: world.config.governance.validator,
            Meta.DATA_FINGERPRINT: "sha256:4f2c0d",
            Meta.GIT_COMMIT: "0123abc",
        }
        if "model-card" not in without:
            inventory[Meta.MODEL_CARD] = f"{prefix}/model-card.json"
        # Its build wrote its training rows' digests beside its evaluation (ADR 0029).
        inventory[Meta.TRAINING_ROWS] = f"{prefix}/train_rows.txt"
        for key in without:
            inventory.pop(key, None)
        inventory.update(metadata or {})
        request: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": "xgboost credit risk",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"{prefix}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelMetrics": metrics,
            "CustomerMetadataProperties": inventory,
        }
        if "drift-baselines" not in without:
            request["DriftCheckBaselines"] = {
                "ModelDataQuality": {
                    "Statistics": _source(f"{prefix}/baseline/statistics.json"),
                    "Constraints": _source(f"{prefix}/baseline/constraints.json"),
                }
            }
        request.update(extra or {})
        return str(sm.create_model_package(**request)["ModelPackageArn"])

    return _register


def evaluation(
    *,
    auc: float = 0.81,
    ks: float = 0.45,
    disparate_impact: float = 0.92,
    parity: float = 0.04,
    measured: Model,
    champion: dict[str, Any] | None = None,
    without: tuple[str, ...] = (),
) -> str:
    """An evaluation.json as the evaluate step writes it (the values the gates read), for the
    protected groups and cut-off of `measured` (the gates find the worst group under the key of
    what was measured). One group per protected attribute, each with the worst values."""
    key = fairness.gate_path(measured, "disparate_impact").split(".")[1]
    groups = [
        {"id": group_id, "definition": group_id, "measurable": True, "protected_count": 300,
         "reference_count": 1700, "disparate_impact": disparate_impact,
         "statistical_parity_difference": parity,
         "statistical_parity_difference_abs": parity}
        for group_id in fairness.group_ids(measured)
    ]  # fmt: skip
    return json.dumps(
        {
            "binary_classification_metrics": {"auc": {"value": auc}, "ks": {"value": ks}},
            "fairness": {
                "disparate_impact": disparate_impact,
                "disparate_impact_group": groups[0]["id"],
                "statistical_parity_difference_abs": parity,
                "statistical_parity_group": groups[0]["id"],
                "groups": groups,
                key: {
                    "disparate_impact": disparate_impact,
                    "statistical_parity_difference_abs": parity,
                },
            },
            **({"champion": champion} if champion is not None else {}),
            # The sections a risk tier may require (config governance.tiers.required_evidence),
            # shaped as the evaluate step writes them; `without` leaves some out.
            **{name: section for name, section in _DEPTH.items() if name not in without},
        }
    )


_DEPTH: dict[str, Any] = {
    "uncertainty": {
        "auc": {"value": 0.81, "lower": 0.78, "upper": 0.84, "standard_error": 0.015},
        "ks": {"value": 0.45, "lower": 0.40, "upper": 0.50, "standard_error": 0.025},
    },
    "explanation": {
        "additivity_max_error": 2e-6,
        "importance": [{"feature": "int_rate", "mean_abs_shap": 0.4, "share": 0.3}],
    },
    "score_stability": {"train_vs_test": {"psi": 0.012, "reading": "stable"}},
}


def honest_champion(sm: Any, group: str, auc_drop: float = -0.01) -> dict[str, Any]:
    """evaluation.json's champion section as an honest build writes it: compared with the
    version the registry records as serving in prod, or none."""
    serving = serving_champion(sm, group)
    if serving is None:
        return {"status": "none", "model_package_arn": "none", "auc_drop": 0.0}
    return {
        "status": "compared",
        "model_package_arn": serving.arn,
        "auc_drop": auc_drop,
        "difference": {"auc": {"value": -auc_drop, "lower": -auc_drop - 0.02,
                               "upper": -auc_drop + 0.02}},
    }  # fmt: skip


@functools.cache
def platform_definition() -> str:
    """The model-build definition as synthesized (placeholders filled with test values)."""
    from finmlops_pipelines.definition import build_pipeline_definition

    body = build_pipeline_definition(load_config(CONFIG_PATH, "credit-risk")).body
    values = {name: f"test-{name.lower()}" for name in Placeholder.slots(body)}
    values.update({"AWS::AccountId": "123456789012", "AWS::Partition": "aws"})
    values["AWS::Region"] = REGION
    return Placeholder.substitute(body, values)


@dataclass(frozen=True)
class Build:
    execution_arn: str
    package_arn: str


Builder = Callable[..., Build]


@pytest.fixture
def build(world: World, register: Register) -> Builder:
    """A version registered by a pipeline execution, with what SageMaker records of it: the
    execution started by `starter` (CreatedBy), its definition (by default the synthesized one)
    and parameters, and the RegisterModel step that created the version, which then names the
    execution in MetadataProperties.GeneratedBy (as the register step does). The version is
    created with the emulator's default identity, as the pipeline's own role would."""

    def _build(
        *,
        starter: Person | None = None,
        definition: str | None = None,
        parameters: dict[str, str] | None = None,
        generated_by: str | None = None,
        **version: Any,
    ) -> Build:
        sm = world.sm
        name = f"model-build-{uuid.uuid4().hex[:6]}"
        sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=definition or platform_definition(),
            RoleArn="arn:aws:iam::123456789012:role/build",
        )
        started = (
            (starter or world.alice)
            .client("sagemaker")
            .start_pipeline_execution(
                PipelineName=name,
                PipelineParameters=[
                    {"Name": k, "Value": v}
                    for k, v in {
                        "GitCommit": "0123abc",
                        # As `finmlops build start` sets them: from the registry.
                        **champion_parameters(serving_champion(sm, world.group)),
                        **(parameters or {}),
                    }.items()
                ],
            )
        )
        execution = started["PipelineExecutionArn"]
        lineage = {"GeneratedBy": generated_by or execution, "CommitId": "0123abc"}
        package = register(by=_pipeline_role(), extra={"MetadataProperties": lineage}, **version)
        record_steps(
            execution,
            [{"StepName": "RegisterModel", "StepStatus": "Succeeded",
              "Metadata": {"RegisterModel": {"Arn": package}}}],
        )  # fmt: skip
        return Build(execution, package)

    return _build


def _pipeline_role() -> Person:
    """The identity of the pipeline's own register step (the emulator's default keys)."""
    return Person("pipeline", "", "testing", "testing")


def state_change_event(
    arn: str, status: str, *, group: str, version: int, event_id: str = "evt-1"
) -> dict[str, Any]:
    """A "SageMaker Model Package State Change" event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-11-28T22:00:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
        },
    }


@pytest.fixture
def event() -> Callable[..., dict[str, Any]]:
    return state_change_event


PIPELINE = "credit-risk-promotion"


@dataclass
class Pipeline:
    name: str
    client: Any

    def executions(self) -> list[dict[str, str]]:
        """The variables each execution started with, oldest first."""
        summaries = self.client.list_pipeline_executions(pipelineName=self.name)
        found = []
        for summary in reversed(summaries["pipelineExecutionSummaries"]):
            execution = self.client.get_pipeline_execution(
                pipelineName=self.name, pipelineExecutionId=summary["pipelineExecutionId"]
            )["pipelineExecution"]
            found.append({v["name"]: v["resolvedValue"] for v in execution.get("variables", [])})
        return found


@pytest.fixture
def pipeline(world: World) -> Pipeline:
    """A CodePipeline V2 promotion pipeline in moto (its executions finish instantly)."""
    iam = _client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="promotion", AssumeRolePolicyDocument=json.dumps(trust))
    client = _client("codepipeline")
    client.create_pipeline(
        pipeline={
            "name": PIPELINE,
            "roleArn": role["Role"]["Arn"],
            "pipelineType": "V2",
            "variables": [
                {"name": Promotion.ARN_VARIABLE, "defaultValue": "none"},
                {"name": Promotion.ENVIRONMENT_VARIABLE, "defaultValue": "stage"},
            ],
            "artifactStore": {"type": "S3", "location": world.state_bucket},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "S3",
                                "version": "1",
                            },
                            "configuration": {
                                "S3Bucket": world.state_bucket,
                                "S3ObjectKey": "s.zip",
                            },
                            "outputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
                {
                    "name": "Resolve",
                    "actions": [
                        {
                            "name": "Resolve",
                            "actionTypeId": {
                                "category": "Build",
                                "owner": "AWS",
                                "provider": "CodeBuild",
                                "version": "1",
                            },
                            "configuration": {"ProjectName": "resolve"},
                            "inputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
            ],
        }
    )
    return Pipeline(PIPELINE, client)
