"""Synthesized platforms, built once per test session (each synth costs seconds of jsii time),
for every folder of tests (a plugin of tests/conftest.py).

- `platform`: the repository's config (pipeline-mode monitoring, canary, S3 source), every
  environment, all three compliance packs attached: synth itself is the zero-findings check.
- `fifty`: a portfolio of 50 models made from the shipped model's block (`portfolio_of`), every
  environment, no compliance packs: the scale test and the per-model insider tests read it.
- `variant`: the same config flipped where it has choices (Model Monitor mode, linear traffic,
  retraining on drift and on a schedule, a CodeStar connection, an explicit manifest, local
  tracking, prod without autoscaling, reserved Lambda concurrency) for tooling, dev and prod.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "monitoring" / "Dockerfile"
CONNECTION_ARN = (
    "arn:aws:codeconnections:us-east-1:444444444444:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
)


@dataclass
class Synth:
    """A synthesized app: its templates by environment and stack, read from the assembly."""

    app: Any
    outdir: Path
    stages: dict[str, Any]
    templates: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    protection: dict[str, dict[str, bool]] = field(default_factory=dict)
    _assertions: dict[tuple[str, str], Any] = field(default_factory=dict)

    def load(self) -> Synth:
        for env in self.stages:
            folder = self.outdir / f"assembly-{env}"
            manifest = json.loads((folder / "manifest.json").read_text())
            for artifact in manifest["artifacts"].values():
                if artifact["type"] != "aws:cloudformation:stack":
                    continue
                component = artifact["displayName"].split(" ")[0].split("/")[-1]
                props = artifact["properties"]
                template = json.loads((folder / props["templateFile"]).read_text())
                self.templates.setdefault(env, {})[component] = template
                self.protection.setdefault(env, {})[component] = bool(
                    props.get("terminationProtection")
                )
        return self

    def template(self, env: str, component: str) -> Any:
        """aws_cdk.assertions.Template of one stack (built on first use)."""
        from aws_cdk.assertions import Template

        key = (env, component)
        if key not in self._assertions:
            self._assertions[key] = Template.from_json(self.templates[env][component])
        return self._assertions[key]

    def resources(
        self, kind: str, env: str | None = None
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(environment, stack, logical id, resource) of every resource of a type."""
        for env_name, stacks in self.templates.items():
            if env is not None and env_name != env:
                continue
            for component, template in stacks.items():
                for logical_id, resource in template.get("Resources", {}).items():
                    if resource["Type"] == kind:
                        yield env_name, component, logical_id, resource

    def all_resources(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        for env_name, stacks in self.templates.items():
            for component, template in stacks.items():
                for logical_id, resource in template.get("Resources", {}).items():
                    yield env_name, component, logical_id, resource

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository; a stand-in with a stub Dockerfile while docker/monitoring is missing
    (test_monitoring_image_is_built_from_the_project_dockerfile fails in that case)."""
    if DOCKERFILE.is_file():
        return ROOT
    stand_in = tmp_path_factory.mktemp("root")
    (stand_in / "src").symlink_to(ROOT / "src")
    (stand_in / "docker" / "monitoring").mkdir(parents=True)
    (stand_in / "docker" / "monitoring" / "Dockerfile").write_text("FROM scratch\n")
    return stand_in


@pytest.fixture(scope="session")
def definition(config: Any) -> Any:
    """The model-build pipeline definition, built once (sagemaker SDK, offline)."""
    from finmlops_pipelines.definition import build_pipeline_definition

    return build_pipeline_definition(config)


@pytest.fixture(scope="session")
def platform(
    config: Any, root: Path, definition: Any, tmp_path_factory: pytest.TempPathFactory
) -> Synth:
    from finmlops_cdk.app import build_app

    outdir = tmp_path_factory.mktemp("platform") / "cdk.out"
    app = build_app(config, outdir=str(outdir), root=root, definition=lambda _: definition)
    app.synth()  # raises when any compliance pack has an open finding
    return Synth(app=app, outdir=outdir, stages=_stages(app)).load()


def _stages(app: Any) -> dict[str, Any]:
    from aws_cdk import Stage

    return {child.node.id: child for child in app.node.children if isinstance(child, Stage)}


def variant_config(config: Any) -> Any:
    monitoring = config.monitoring.model_copy(
        update={"mode": "model_monitor", "retrain_on_drift": True}
    )
    deployment = config.deployment.model_copy(
        update={"strategy": "linear", "linear_step_share": 0.25}
    )
    # The default config tracks on the SageMaker MLflow server; the variant logs nowhere on AWS.
    tracking = config.tracking.model_copy(update={"mode": "local"})
    # The default config posts alerts to a chat webhook; the variant only emails them.
    notifications = config.notifications.model_copy(update={"chat_webhook_parameter": None})
    # Accounts with a raised Lambda quota reserve concurrency (off by default).
    functions = config.functions.model_copy(update={"reserved_concurrency": 2})
    # Prod's autoscaling switched off: the first of the two deployments of an instance-type change.
    prod = config.environments.prod
    environments = config.environments.model_copy(
        update={
            "prod": prod.model_copy(
                update={
                    # Model Monitor runs one job per schedule: no shards (ADR 0027).
                    "instances": prod.instances.model_copy(
                        update={"endpoint_autoscaling": False, "monitoring_count": 1}
                    )
                }
            )
        }
    )
    return config.model_copy(
        update={
            "monitoring": monitoring,
            "deployment": deployment,
            "tracking": tracking,
            "notifications": notifications,
            "functions": functions,
            "environments": environments,
        }
    )


VARIANT_MANIFEST = {
    "model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/7",
    "model_package_group": "credit-risk-xgb",
    "version": 7,
    "image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
    "model_data_url": "s3://credit-risk-artifacts-111111111111-us-east-1/model-build/train/x/model.tar.gz",
    "data_fingerprint": "sha256:0123456789abcdef",
    "approval": {
        "approved_by": "arn:aws:sts::111111111111:assumed-role/ModelRiskApprover/jane",
        "approved_at": "2026-11-28T10:00:00Z",
        "reason": "validated",
    },
    "environment": "prod",
    # The `variant` fixture synthesizes with the baseline a registered version carries instead
    # (`registered_baseline`): the value followed from the definition to the template.
    "drift_baseline_uri": "s3://credit-risk-artifacts-111111111111-us-east-1/model-build/exec-7/baseline/baseline",
    # What `promote resolve` reads from the version's recorded evaluation (gate min-auc).
    "validated_auc": 0.7102,
    "extra": {},
}


@dataclass(frozen=True)
class RegisteredBaseline:
    """The drift baseline followed across the seam: where the definition's Baseline step writes
    it in one execution, and the manifest `finmlops promote resolve` makes of the version the
    definition's RegisterModel step registers from that execution."""

    written: str
    manifest: Any


@pytest.fixture(scope="session")
def registered_baseline(config: Any, definition: Any) -> RegisteredBaseline:
    import boto3
    from moto import mock_aws

    from finmlops.contracts import Placeholder
    from finmlops.emulator.aws.executor import Execution, PipelineExecutor
    from finmlops.naming import names
    from finmlops.registry.promotion import manifest_for
    from finmlops.registry.versions import describe_version

    dev = names(config, "dev")
    # What CloudFormation's Fn::Sub puts into the definition in the dev account.
    body = Placeholder.substitute(
        definition.body,
        {
            Placeholder.ARTIFACT_BUCKET: dev.artifact_bucket,
            Placeholder.MODEL_PACKAGE_GROUP: config.model.package_group,
            Placeholder.EXECUTION_ROLE_NAME: "role",
            Placeholder.KMS_KEY_ARN: "arn:aws:kms:us-east-1:111111111111:key/k",
            Placeholder.SECURITY_GROUP_ID: "sg-0123456789abcdef0",
            Placeholder.PROJECT_IMAGE_URI: "111111111111.dkr.ecr.us-east-1.amazonaws.com/p:1",
            Placeholder.MLFLOW_TRACKING_URI: "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/m",
            Placeholder.ACCOUNT_ID: "111111111111",
            Placeholder.PARTITION: "aws",
            Placeholder.REGION: "us-east-1",
        },
    )
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        executor = PipelineExecutor(body, s3=None, sagemaker=sm, work_dir=Path())
        execution = Execution(execution_id="exec7x", parameters=executor.parameters())
        steps = executor._steps
        # The Baseline step's output as SageMaker records it for this execution, and the
        # register step's arguments resolved against it, as the pipeline service does.
        (output,) = steps["Baseline"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        written = executor.resolve(output["S3Output"]["S3Uri"], execution)
        execution.properties["Baseline"] = {
            "ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri": written
        }
        register = steps["RegisterModel"]["Arguments"]
        sm.create_model_package_group(ModelPackageGroupName=config.model.package_group)
        arn = sm.create_model_package(
            ModelPackageGroupName=config.model.package_group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {"Image": register["InferenceSpecification"]["Containers"][0]["Image"]}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            DriftCheckBaselines=executor.resolve(register["DriftCheckBaselines"], execution),
        )["ModelPackageArn"]
        manifest = manifest_for(describe_version(sm, arn), "prod")
    return RegisteredBaseline(written=str(written), manifest=manifest)


@pytest.fixture(scope="session")
def variant_manifest() -> dict[str, Any]:
    return json.loads(json.dumps(VARIANT_MANIFEST))


@pytest.fixture(scope="session")
def dockerfile() -> Path:
    return DOCKERFILE


def _rendered(value: Any) -> str:
    """A Fn::Join of strings and references as one string, references as TOKEN."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_rendered(p) for p in parts)
    return "TOKEN"


def _monitoring_definition(synth: Synth, env: str) -> dict[str, Any]:
    (pipeline,) = [r for *_, r in synth.resources("AWS::SageMaker::Pipeline", env)]
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    parsed: dict[str, Any] = json.loads(_rendered(body))
    return parsed


def pipeline_steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step of a pipeline definition by name, the steps of condition branches included
    (a sharded drift run puts its jobs in the branches of WindowHasCaptures, ADR 0027)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                walk(step["Arguments"].get("IfSteps", []))
                walk(step["Arguments"].get("ElseSteps", []))

    walk(definition["Steps"])
    return found


def single_drift_step(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The arguments of the step that runs `drift` on one instance: DataDrift, or, when the run
    is sharded, the same step kept for an empty window (DataDriftEmptyWindow)."""
    step = steps.get("DataDriftEmptyWindow", steps["DataDrift"])
    arguments: dict[str, Any] = step["Arguments"]
    return arguments


@pytest.fixture(scope="session")
def monitoring_definition() -> Any:
    """(synth, env) -> the monitoring pipeline's definition, parsed (references as TOKEN)."""
    return _monitoring_definition


@pytest.fixture(scope="session")
def variant(
    config: Any,
    root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    registered_baseline: RegisteredBaseline,
) -> Synth:
    from finmlops_cdk.app import build_app
    from finmlops_cdk.promotion import SourceSettings
    from finmlops_pipelines.definition import build_pipeline_definition

    from finmlops.contracts import DeploymentManifest

    outdir = tmp_path_factory.mktemp("variant") / "cdk.out"
    manifest = DeploymentManifest.from_json(
        json.dumps(
            VARIANT_MANIFEST
            | {"drift_baseline_uri": registered_baseline.manifest.drift_baseline_uri}
        )
    )
    app = build_app(
        variant_config(config),
        outdir=str(outdir),
        root=root,
        definition=build_pipeline_definition,  # the variant's own definition: no Track step
        manifest=manifest,
        environments=("tooling", "dev", "prod"),
        retrain_schedule="cron(0 3 ? * MON *)",
        source=SourceSettings(
            connection_arn=CONNECTION_ARN, repository="bank/finmlops", branch="release"
        ),
    )
    app.synth()
    return Synth(app=app, outdir=outdir, stages=_stages(app)).load()


def _cfn_lint_errors(files: list[Path]) -> list[str]:
    """cfn-lint findings of the E (error) rules over the given templates."""
    import re
    import subprocess
    import sys

    executable = Path(sys.executable).with_name("cfn-lint")
    command = [str(executable) if executable.exists() else shutil.which("cfn-lint") or "cfn-lint"]
    result = subprocess.run(
        [*command, "--format", "parseable", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stdout.splitlines() if re.search(r":E\d{4}:", line)]


@pytest.fixture(scope="session")
def cfn_lint() -> Any:
    return _cfn_lint_errors


# What `cdk bootstrap --trust <tooling>` creates in each workload account (not in the assembly):
# the deploy, publishing and lookup roles trust the tooling account (and their own); the
# CloudFormation execution role trusts CloudFormation.
BOOTSTRAP_KINDS = ("deploy", "file-publishing", "image-publishing", "lookup", "cfn-exec")


@pytest.fixture(scope="session")
def iam_platform(platform: Synth, config: Any) -> Any:
    """finmlops.iam over the session's synthesized platform, plus the bootstrap roles of dev,
    stage and prod with the trust `cdk bootstrap --trust <tooling>` gives them."""
    from finmlops.iam import Platform, Policy, Resource
    from finmlops.naming import names

    iam = Platform.load(platform.outdir)
    tooling = config.environments.tooling.account
    for env in ("dev", "stage", "prod"):
        n = names(config, env)
        account = n.env.account
        for kind in BOOTSTRAP_KINDS:
            principal: dict[str, Any] = (
                {"Service": "cloudformation.amazonaws.com"}
                if kind == "cfn-exec"
                else {"AWS": [f"arn:aws:iam::{account}:root", f"arn:aws:iam::{tooling}:root"]}
            )
            trust = Policy.parse(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": principal,
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                        }
                    ],
                },
                name=f"cdk bootstrap {kind} role trust ({env})",
                kind="resource",
            )
            iam.resources.append(
                Resource(
                    arn=n.bootstrap_role_arn(kind),
                    kind="iam-role",
                    account=account,
                    environment=env,
                    policy=trust,
                    tags={"aws-cdk:bootstrap-role": kind},
                )
            )
    return iam


# ----------------------------------------------------------------------- a portfolio of 50 models

MODELS = 50
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_PARAMETERS = 200
MAX_TEMPLATE_BYTES = 1024 * 1024  # 1 MB through S3


def portfolio_of(config_path: Path, count: int) -> Any:
    """The shipped platform file with its real-time model's block copied `count` times: distinct names,
    registry groups and approver roles; every third model's group read by prod alone; every
    fifth model (4, 9, ...) serving in batch, nightly."""
    from finmlops.config import parse_portfolio

    data = yaml.safe_load(config_path.read_text())
    block = data["models"]["credit-risk"]
    models: dict[str, Any] = {}
    for i in range(1, count + 1):
        model = copy.deepcopy(block)
        model["package_group"] = f"scorecard-{i:02d}-xgb"
        model["governance"]["approver_role"] = f"ModelRiskApprover{i:02d}"
        if i % 3 == 0:
            model["governance"]["readers"] = [data["environments"]["prod"]["account"]]
        if i % 5 == 4:
            model["serving"] = {"mode": "batch", "schedule": "cron(0 2 * * ? *)"}
        models[f"scorecard-{i:02d}"] = model
    data["models"] = models
    return parse_portfolio(data, f"{config_path} x{count}", source_file=config_path)


@dataclass(frozen=True)
class StackFigures:
    path: str  # <environment>/<Stack> or <environment>/<model>/<Stack>
    resources: int
    outputs: int
    parameters: int
    template_bytes: int  # as synthesized (what the CDK CLI uploads)

    @property
    def shared(self) -> bool:
        return self.path.count("/") == 1


@dataclass(frozen=True)
class Synthesized:
    portfolio: Any  # finmlops.config.Portfolio
    figures: list[StackFigures]
    outdir: Path


@pytest.fixture(scope="session")
def fifty(
    config_path: Path, definition: Any, root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """50 models (`portfolio_of`), every environment, synthesized once (no compliance packs: they
    add no template content, and the shipped platform's synth already proves them clean)."""
    from finmlops_cdk.app import build_app
    from finmlops_pipelines.definition import PipelineDefinition, pipeline_name

    portfolio = portfolio_of(config_path, MODELS)

    def per_model(config: Any) -> PipelineDefinition:
        # The shipped model's definition, under this model's pipeline name: the body names the
        # group, bucket and role by placeholder, so it is what each copy's build would embed.
        return PipelineDefinition(
            name=pipeline_name(config), body=definition.body, code_files=definition.code_files
        )

    outdir = tmp_path_factory.mktemp("fifty") / "cdk.out"
    build_app(
        portfolio, outdir=str(outdir), root=root, definition=per_model, compliance=False
    ).synth()
    figures = []
    for manifest_file in sorted(outdir.glob("assembly-*/manifest.json")):
        manifest = json.loads(manifest_file.read_text())
        for artifact in manifest["artifacts"].values():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            file = manifest_file.parent / artifact["properties"]["templateFile"]
            template = json.loads(file.read_text())
            figures.append(
                StackFigures(
                    path=artifact["displayName"].split(" ")[0],
                    resources=len(template.get("Resources", {})),
                    outputs=len(template.get("Outputs", {})),
                    parameters=len(template.get("Parameters", {})),
                    template_bytes=file.stat().st_size,
                )
            )
    return Synthesized(portfolio=portfolio, figures=figures, outdir=outdir)


@pytest.fixture(scope="session")
def fifty_iam(fifty: Synthesized) -> Any:
    """finmlops.iam.Platform over the 50-model assembly (read once)."""
    from finmlops.iam import Platform

    return Platform.load(fifty.outdir)
