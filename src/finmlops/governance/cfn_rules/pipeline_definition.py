"""The steps of a SageMaker pipeline definition embedded in a template.

CDK embeds the definition JSON as `Fn::Sub` (the model build: `${ArtifactBucket}` slots with a
variable map) or as `Fn::Join` of JSON text and intrinsics (the monitoring pipeline). Each slot
or intrinsic becomes a stand-in inside the JSON text: its literal value where it has one (the
stage's region, a literal variable), else `{Ref:X}`/`{GetAtt:...}` text, so the definition parses
and a rule can still tell a literal value from a substituted one. Steps nest inside Condition
steps (IfSteps/ElseSteps); `steps()` walks them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from finmlops.governance.cfn_rules.context import Opaque, Stage


class DefinitionError(ValueError):
    """The embedded definition is not JSON once its slots are filled."""


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    arguments: Mapping[str, Any]
    trail: tuple[str, ...]  # the Condition steps it sits under, outermost first

    @property
    def where(self) -> str:
        return " > ".join((*self.trail, self.name))


def _json_text(piece: str | Opaque) -> str:
    text = piece if isinstance(piece, str) else "{" + piece.label + "}"
    return json.dumps(text)[1:-1]  # escaped for the inside of a JSON string


def definition_text(body: Any, stage: Stage) -> str:
    """The definition JSON with every slot and intrinsic replaced by its stand-in."""
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping) and "Fn::Sub" in body:
        argument = body["Fn::Sub"]
        text, variables = (
            (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        )
        # Render each slot alone, so that JSON text around it stays as written.
        out: list[str] = []
        for piece in stage.render({"Fn::Sub": [text, _marked(variables)]}).pieces:
            out.append(piece if isinstance(piece, str) else _json_text(piece))
        return _unmark("".join(out), variables, stage)
    if isinstance(body, Mapping) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]
        rendered: list[str] = []
        for part in parts:
            if isinstance(part, str):
                rendered.append(part)
            else:
                rendered.append("".join(_json_text(p) for p in stage.render(part).pieces))
        return str(separator).join(rendered)
    raise DefinitionError(f"unexpected PipelineDefinitionBody: {json.dumps(body)[:200]}")


_MARK = "\u0000slot:"


def _marked(variables: Mapping[str, Any]) -> dict[str, str]:
    # Variables are rendered after the JSON text is split, so each slot keeps its own escaping.
    return {name: f"{_MARK}{name}\u0000" for name in variables}


def _unmark(text: str, variables: Mapping[str, Any], stage: Stage) -> str:
    for name, value in variables.items():
        rendered = "".join(_json_text(p) for p in stage.render(value).pieces)
        text = text.replace(f"{_MARK}{name}\u0000", rendered)
    return text


def parse(body: Any, stage: Stage) -> Mapping[str, Any]:
    text = definition_text(body, stage)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"the definition is not JSON after substitution: {exc}") from None
    if not isinstance(document, Mapping):
        raise DefinitionError("the definition is not a JSON object")
    return document


def steps(definition: Mapping[str, Any]) -> Iterator[Step]:
    def walk(items: Any, trail: tuple[str, ...]) -> Iterator[Step]:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping):
                continue
            name, kind = str(item.get("Name", "?")), str(item.get("Type", "?"))
            arguments = item.get("Arguments")
            arguments = arguments if isinstance(arguments, Mapping) else {}
            yield Step(name, kind, arguments, trail)
            if kind == "Condition":
                yield from walk(arguments.get("IfSteps"), (*trail, name))
                yield from walk(arguments.get("ElseSteps"), (*trail, name))

    yield from walk(definition.get("Steps"), ())


def pipelines(
    template: Mapping[str, Any], stage: Stage
) -> Iterator[tuple[str, tuple[str | int, ...], Mapping[str, Any] | DefinitionError]]:
    """(logical id, path of the body, parsed definition or the error) of every pipeline."""
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        return
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::SageMaker::Pipeline":
            continue
        properties = resource.get("Properties")
        definition = (
            properties.get("PipelineDefinition") if isinstance(properties, Mapping) else None
        )
        if not isinstance(definition, Mapping) or "PipelineDefinitionBody" not in definition:
            continue  # PipelineDefinitionS3Location: not in the template
        path: tuple[str | int, ...] = (
            "Resources",
            str(logical_id),
            "Properties",
            "PipelineDefinition",
            "PipelineDefinitionBody",
        )
        try:
            yield str(logical_id), path, parse(definition["PipelineDefinitionBody"], stage)
        except DefinitionError as exc:
            yield str(logical_id), path, exc
