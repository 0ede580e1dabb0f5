"""A platform of 50 models synthesizes within CloudFormation's per-stack quotas.

AWS CloudFormation quotas (User Guide, "Understand CloudFormation quotas",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html):
500 resources per stack, 200 outputs and 200 parameters per template, and a template body of at
most 1 MB when passed through S3 (51,200 bytes inline; the CDK CLI uploads through the bootstrap
bucket). The layout (docs/decisions/0033) keeps every model's stacks its own, so only the
platform's stacks grow with the portfolio: this test measures by how much.

One synthesis of all four environments, shared by the tests of this module (module scope); the
figures are printed (`pytest -s`) and written to the test's report (`record_property`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import Portfolio, parse_portfolio

MODELS = 50
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_PARAMETERS = 200
MAX_TEMPLATE_BYTES = 1024 * 1024  # 1 MB through S3


def portfolio_of(config_path: Path, count: int) -> Portfolio:
    """The shipped platform file with its one model block copied `count` times: distinct names,
    registry groups and approver roles; every third model's group read by prod alone."""
    data = yaml.safe_load(config_path.read_text())
    (block,) = data["models"].values()
    models: dict[str, Any] = {}
    for i in range(1, count + 1):
        model = copy.deepcopy(block)
        model["package_group"] = f"scorecard-{i:02d}-xgb"
        model["governance"]["approver_role"] = f"ModelRiskApprover{i:02d}"
        if i % 3 == 0:
            model["governance"]["readers"] = [data["environments"]["prod"]["account"]]
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
    portfolio: Portfolio
    figures: list[StackFigures]
    outdir: Path


@pytest.fixture(scope="module")
def fifty(
    config_path: Path, definition: Any, root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """50 models, every environment, synthesized once (no compliance packs: they add no template
    content, and the shipped platform's synth already proves them clean)."""
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


def test_fifty_models_synthesize_every_model_stack_and_the_platform_stacks_once(
    fifty: Synthesized,
) -> None:
    paths = {f.path for f in fifty.figures}
    shared = {p for p in paths if p.count("/") == 1}
    assert shared == {
        "tooling/Data",
        "tooling/Promotion",
        *(f"{env}/{stack}" for env in ("dev", "stage", "prod") for stack in ("Data", "Network")),
    }
    for name in fifty.portfolio.names:
        assert f"dev/{name}/ModelBuild" in paths
        for env in ("stage", "prod"):
            assert {f"{env}/{name}/Endpoint", f"{env}/{name}/Monitoring"} <= paths
    assert len(paths) == len(shared) + MODELS * 5


def test_every_stack_of_fifty_models_is_within_cloudformation_quotas(
    fifty: Synthesized, record_property: Any
) -> None:
    lines = [f"{'stack':<40} {'resources':>9} {'outputs':>7} {'params':>6} {'bytes':>9}"]
    # The platform's stacks, and the largest of each kind of model stack (they are alike).
    largest: dict[str, StackFigures] = {}
    for f in fifty.figures:
        kind = f.path if f.shared else f"{f.path.split('/')[0]}/<model>/{f.path.split('/')[-1]}"
        if kind not in largest or f.template_bytes > largest[kind].template_bytes:
            largest[kind] = f
    for kind, f in sorted(largest.items()):
        lines.append(
            f"{kind:<40} {f.resources:>9} {f.outputs:>7} {f.parameters:>6} {f.template_bytes:>9}"
        )
    table = "\n".join(lines)
    print(f"\n{MODELS} models, {len(fifty.figures)} stacks:\n{table}")
    record_property("portfolio_scale", table)

    over = [
        f"{f.path}: {what} {value} (quota {quota})"
        for f in fifty.figures
        for what, value, quota in (
            ("resources", f.resources, MAX_RESOURCES),
            ("outputs", f.outputs, MAX_OUTPUTS),
            ("parameters", f.parameters, MAX_PARAMETERS),
            ("template bytes", f.template_bytes, MAX_TEMPLATE_BYTES),
        )
        if value >= quota
    ]
    assert over == []


def test_a_model_stack_does_not_grow_with_the_portfolio(fifty: Synthesized, platform: Any) -> None:
    """A model's stacks hold only that model: the 50th model's stacks have as many resources as
    the one-model platform's, so adding models never pushes a model stack to a quota."""
    one = {
        f"{env}/{component}": len(template.get("Resources", {}))
        for env, stacks in platform.templates.items()
        for component, template in stacks.items()
    }
    last = fifty.portfolio.names[-1]
    for f in fifty.figures:
        if f.path.startswith(tuple(f"{env}/{last}/" for env in ("dev", "stage", "prod"))):
            env, _, component = f.path.split("/")
            assert f.resources == one[f"{env}/{component}"], f.path
