"""The model-build pipeline definition exactly as synthesized into the dev stage's template.

The emulator never rebuilds its own copy: it takes the `AWS::SageMaker::Pipeline` resource's
`Fn::Sub` out of `cdk.out`, and fills its variables with the emulator's resources by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmlops.config import Config
from finmlops.contracts import Placeholder

PSEUDO = {Placeholder.ACCOUNT_ID, Placeholder.PARTITION, Placeholder.REGION}


@dataclass(frozen=True)
class SynthesizedPipeline:
    logical_id: str
    pipeline_name: str
    body: str
    variables: tuple[str, ...]  # the Fn::Sub map's names: what the emulator must provide

    def fill(self, values: dict[str, str]) -> str:
        unknown = sorted(set(self.variables) - set(values))
        if unknown:
            raise KeyError(f"the template's pipeline needs values for: {', '.join(unknown)}")
        return Placeholder.substitute(self.body, values)


def pipelines_in(template: dict[str, Any], source: str = "template") -> list[SynthesizedPipeline]:
    found = []
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::SageMaker::Pipeline":
            continue
        props = resource["Properties"]
        definition = props["PipelineDefinition"].get("PipelineDefinitionBody")
        if not isinstance(definition, dict) or "Fn::Sub" not in definition:
            raise ValueError(
                f"{source}: pipeline {logical_id} does not embed its definition with Fn::Sub"
            )
        sub = definition["Fn::Sub"]
        body, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        name = props.get("PipelineName")
        found.append(
            SynthesizedPipeline(
                logical_id=logical_id,
                pipeline_name=name if isinstance(name, str) else logical_id,
                body=body,
                variables=tuple(sorted(variables)),
            )
        )
    return found


def load_pipeline(template_path: Path, pipeline_name: str) -> SynthesizedPipeline:
    """The named pipeline of one synthesized template file."""
    template = json.loads(template_path.read_text())
    for pipeline in pipelines_in(template, str(template_path)):
        if pipeline.pipeline_name == pipeline_name:
            return pipeline
    raise LookupError(f"{template_path}: no AWS::SageMaker::Pipeline named {pipeline_name!r}")


def synthesize_dev(config: Config, out_dir: Path) -> Path:
    """Synthesize the dev stage as `make synth` does (no compliance packs: same templates), and
    return the template that holds the model-build pipeline."""
    from finmlops_cdk.app import build_app

    build_app(config, outdir=str(out_dir), environments=["dev"], compliance=False).synth()
    for template in sorted(out_dir.rglob("*.template.json")):
        if any(
            p.pipeline_name.endswith("model-build")
            for p in pipelines_in(json.loads(template.read_text()))
        ):
            return template
    raise LookupError(f"no model-build pipeline in the dev templates under {out_dir}")
