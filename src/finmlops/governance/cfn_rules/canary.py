"""E9103: a canary (or a linear step) is at most half of the variant's instances.

AWS rule: TrafficRoutingConfig.CanarySize "must be less than or equal to 50% of the variant's
total instance count"; LinearStepSize "must be 10-50% of the variant's total instance count".
Source: SageMaker API Reference, TrafficRoutingConfig (API_TrafficRoutingConfig), and the
CloudFormation reference AWS::SageMaker::Endpoint TrafficRoutingConfig; the Developer Guide's
"Use canary traffic shifting" (deployment-guardrails-blue-green-canary).

The instances a size stands for: INSTANCE_COUNT is the value; CAPACITY_PERCENT is that share of
the variant's InitialInstanceCount, rounded up to whole instances (a fleet shifts by instances, so
10 % of one instance is one instance, the whole fleet). The endpoint config is the one the
endpoint names in the same template; a count that is not literal is not judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import Resources, Stage

SOURCE = "SageMaker API Reference, TrafficRoutingConfig (CanarySize, LinearStepSize)"
_SIZES = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}


def _config_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute:
            return str(attribute[0])
        if isinstance(attribute, str):
            return attribute.split(".", 1)[0]
    return None


def instances(size_type: str, value: float, count: int) -> int:
    """The instances a capacity size shifts at once."""
    if size_type == "CAPACITY_PERCENT":
        return max(1, math.ceil(count * value / 100))
    return int(value)


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    resources = Resources(template)
    for _, logical_id, properties in resources.of("AWS::SageMaker::Endpoint"):
        routing = (
            properties.get("DeploymentConfig", {})
            .get("BlueGreenUpdatePolicy", {})
            .get("TrafficRoutingConfiguration", {})
        )
        if not isinstance(routing, Mapping):
            continue
        size_name = _SIZES.get(str(routing.get("Type", "")))
        size = routing.get(size_name) if size_name else None
        if not isinstance(size, Mapping):
            continue
        size_type, value = str(size.get("Type", "")), size.get("Value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        config_id = _config_id(properties.get("EndpointConfigName"))
        config = resources.properties(config_id) if config_id else None
        variants = config.get("ProductionVariants") if isinstance(config, Mapping) else None
        path: tuple[str | int, ...] = (
            "Resources",
            logical_id,
            "Properties",
            "DeploymentConfig",
            "BlueGreenUpdatePolicy",
            "TrafficRoutingConfiguration",
            str(size_name),
        )
        for variant in variants if isinstance(variants, list) else []:
            count = variant.get("InitialInstanceCount") if isinstance(variant, Mapping) else None
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                continue
            name = variant.get("VariantName", "?")
            shifted = instances(size_type, value, count)
            problems = []
            if 2 * shifted > count:
                problems.append(
                    f"shifts {shifted} of {count} instance(s) of variant {name} at once, more "
                    "than half"
                )
            if (
                size_name == "LinearStepSize"
                and size_type == "CAPACITY_PERCENT"
                and not (10 <= value <= 50)
            ):
                problems.append(f"a step of {value}% is outside 10-50%")
            if not problems:
                continue
            findings.append(
                Finding(
                    path,
                    f"{logical_id} (AWS::SageMaker::Endpoint) {where(path)}: {size_type} "
                    f"{value} {'; '.join(problems)} (endpoint config {config_id}). AWS rule: "
                    f"{size_name} must be at most 50% of the variant's total instance count"
                    f"{' (10-50% for a linear step)' if size_name == 'LinearStepSize' else ''}; "
                    f"use at least {2 * shifted} instances or ALL_AT_ONCE. Source: {SOURCE}.",
                    f"{name}:{size_name}",
                )
            )
    return findings


class CanaryAtMostHalf(ProjectRule):
    id = "E9103"
    shortdesc = "Canary or linear step at most half of the variant's instances"
    description = (
        "A blue/green CanarySize or LinearStepSize must be at most 50% of the variant's "
        "InitialInstanceCount (SageMaker TrafficRoutingConfig)."
    )
    source_url = (
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html"
    )
    tags: ClassVar[list[str]] = ["sagemaker", "deployment", "finmlops"]
    check: ClassVar[Check] = check
