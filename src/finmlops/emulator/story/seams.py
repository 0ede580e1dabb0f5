"""What the story reads out of the synthesized cloud assemblies: the serving stage's monitoring
pipeline as CloudFormation deploys it, the entry points of the images CDK builds, and the
network (subnets, VPCs and their endpoints) the jobs run in.

Intrinsic functions (`Fn::Join`, `Ref`, `Fn::GetAtt`, `Fn::GetStackOutput`, ...) are resolved by
`finmlops.iam.cloudformation.Assembly`, the one resolver of the project (docs/iam.md).

The assemblies are the world's (`World.assembly`): tooling and dev from the first synth, stage
and prod from the promotion that deployed them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmlops.emulator.aws.executor import Network, Vpc
from finmlops.iam.cloudformation import Assembly, AssemblyError, Stack


def assembly_root(template: Path) -> Path:
    """The cloud assembly (`cdk.out`) a synthesized template belongs to: the outermost folder
    above it that holds a manifest.json."""
    root = None
    for folder in template.resolve().parents:
        if (folder / "manifest.json").is_file():
            root = folder
        elif root is not None:
            break
    if root is None:
        raise AssemblyError(f"{template}: not inside a cloud assembly (no manifest.json above it)")
    return root


# ---------------------------------------------------------------------------------- network


def network_of(assembly: Assembly, environment: str) -> Network:
    """The VPCs of one environment's templates, and which endpoints serve each.

    A subnet belongs to the VPC of an `AWS::EC2::Subnet` that declares it, or of an interface
    endpoint placed in it (an interface endpoint's subnets are in its VPC: EC2 API
    CreateVpcEndpoint `SubnetIds`). An interface endpoint serves its whole VPC (private DNS); a
    gateway endpoint (S3) serves only the subnets whose route tables it lists, so one that lists
    none serves nobody (VPC User Guide, "Gateway endpoints": "you must associate it with the
    route tables"). Which route table a subnet uses is not in the templates (the VPC is
    imported), so a gateway endpoint with route tables counts for the whole VPC."""
    subnets: dict[str, str] = {}
    services: dict[str, set[str]] = {}
    regions: dict[str, str] = {}
    for stack in _stacks(assembly, environment):
        for logical_id, resource in stack.resources("AWS::EC2::Subnet"):
            where = stack.where(logical_id)
            subnet = assembly.resolve_str(stack, {"Ref": logical_id}, where)
            subnets[subnet] = _prop(assembly, stack, logical_id, resource, "VpcId")
        for logical_id, resource in stack.resources("AWS::EC2::VPCEndpoint"):
            vpc = _prop(assembly, stack, logical_id, resource, "VpcId")
            regions.setdefault(vpc, stack.region)
            services.setdefault(vpc, set())
            properties = resource.get("Properties", {})
            kind = properties.get("VpcEndpointType", "Gateway")  # CloudFormation's default
            where = stack.where(logical_id)
            if kind == "Interface":
                for subnet in assembly.resolve(stack, properties.get("SubnetIds", []), where) or []:
                    subnets[str(subnet)] = vpc
            elif not assembly.resolve(stack, properties.get("RouteTableIds", []), where):
                continue  # a gateway endpoint on no route table is reached by no subnet
            services[vpc].add(_prop(assembly, stack, logical_id, resource, "ServiceName"))
    for vpc in set(subnets.values()):
        services.setdefault(vpc, set())
        regions.setdefault(vpc, next(iter(_stacks(assembly, environment))).region)
    return Network(
        subnets=subnets,
        vpcs={v: Vpc(v, regions[v], frozenset(found)) for v, found in services.items()},
    )


def _stacks(assembly: Assembly, environment: str) -> list[Stack]:
    stacks = [s for s in assembly.stacks if s.environment == environment]
    if not stacks:
        raise AssemblyError(f"{assembly.root}: no {environment} stage in the assembly")
    return stacks


def _prop(
    assembly: Assembly, stack: Stack, logical_id: str, resource: dict[str, Any], name: str
) -> str:
    value = resource.get("Properties", {}).get(name)
    if value is None:
        raise AssemblyError(f"{stack.where(logical_id, name)}: missing")
    return assembly.resolve_str(stack, value, stack.where(logical_id, name))


# ---------------------------------------------------------------------------------- images


def image_entrypoints(assembly: Assembly, environment: str) -> dict[str, list[str]]:
    """The image URI of each Docker image asset of the environment's stacks, with the ENTRYPOINT
    of the Dockerfile it is built from (the asset manifests `<stack>.assets.json` name the
    staged build context, the Dockerfile and the ECR repository and tag it is published to)."""
    found: dict[str, list[str]] = {}
    for stack in _stacks(assembly, environment):
        assets = stack.path.with_name(stack.path.name.replace(".template.json", ".assets.json"))
        if not assets.is_file():
            continue
        for asset_id, image in json.loads(assets.read_text()).get("dockerImages", {}).items():
            source = image["source"]
            dockerfile = (
                assets.parent / source["directory"] / source.get("dockerFile", "Dockerfile")
            )
            entrypoint = dockerfile_entrypoint(dockerfile)
            for destination in image.get("destinations", {}).values():
                region = destination.get("region", stack.region)
                uri = (
                    f"{stack.account}.dkr.ecr.{region}.{stack.url_suffix}/"
                    f"{destination['repositoryName']}:{destination.get('imageTag', asset_id)}"
                )
                found[uri] = entrypoint
    return found


def dockerfile_entrypoint(dockerfile: Path) -> list[str]:
    """The last ENTRYPOINT of a Dockerfile, in exec form (a JSON array), as Docker runs it."""
    try:
        text = dockerfile.read_text()
    except OSError as error:
        raise AssemblyError(f"{dockerfile}: cannot be read: {error.strerror}") from None
    logical = re.sub(r"\\\n", " ", text).splitlines()
    entries = [
        line.strip()[len("ENTRYPOINT") :].strip()
        for line in logical
        if re.match(r"\s*ENTRYPOINT\s", line, re.I)
    ]
    if not entries:
        raise AssemblyError(f"{dockerfile}: no ENTRYPOINT: the emulator cannot tell what it runs")
    try:
        entrypoint = json.loads(entries[-1])
    except json.JSONDecodeError:
        entrypoint = None
    if not isinstance(entrypoint, list) or not all(isinstance(p, str) for p in entrypoint):
        raise AssemblyError(
            f"{dockerfile}: ENTRYPOINT {entries[-1]} is not in exec form (a JSON array of "
            "strings), the only form the emulator runs"
        )
    return entrypoint


# ---------------------------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class MonitoringPipeline:
    """The monitoring pipeline of a serving stage as CloudFormation creates it, and its schedule."""

    name: str
    definition: str  # PipelineDefinitionBody with every intrinsic function resolved
    role_arn: str
    schedule_expression: str  # the EventBridge Scheduler schedule that starts it
    flexible_window: str  # FlexibleTimeWindow.Mode ("OFF": started at the scheduled time)
    image_entrypoints: dict[str, list[str]]
    source: str  # template and logical id, for messages


def monitoring_pipeline(
    assembly: Assembly, environment: str, stack_name: str | None = None
) -> MonitoringPipeline:
    """The `AWS::SageMaker::Pipeline` of the environment's monitoring stack (`monitoring.mode:
    pipeline`), resolved, with the `AWS::Scheduler::Schedule` whose target is that pipeline;
    with several models, the one of the stack named `stack_name` (a model's own)."""
    pipelines = [
        (stack, logical_id, resource)
        for stack in _stacks(assembly, environment)
        if stack.component == "Monitoring" and stack_name in (None, stack.stack_name)
        for logical_id, resource in stack.resources("AWS::SageMaker::Pipeline")
    ]
    if len(pipelines) != 1:
        raise AssemblyError(
            f"{assembly.root}: {len(pipelines)} pipelines in the {environment} monitoring stack, "
            "expected one (monitoring.mode: pipeline)"
        )
    ((stack, logical_id, resource),) = pipelines
    properties = resource["Properties"]
    where = stack.where(logical_id, "PipelineDefinition.PipelineDefinitionBody")
    body = properties.get("PipelineDefinition", {}).get("PipelineDefinitionBody")
    if body is None:
        raise AssemblyError(f"{where}: missing (a definition in S3 is not read by the emulator)")
    definition = assembly.resolve_str(stack, body, where)
    json.loads(definition)  # what SageMaker parses at CreatePipeline
    name = assembly.resolve_str(stack, properties["PipelineName"], stack.where(logical_id))
    role = assembly.resolve_str(stack, properties["RoleArn"], stack.where(logical_id, "RoleArn"))
    target = f":pipeline/{name.lower()}"
    schedules = [
        (schedule_id, schedule["Properties"])
        for schedule_id, schedule in stack.resources("AWS::Scheduler::Schedule")
        if assembly.resolve_str(
            stack, schedule["Properties"]["Target"]["Arn"], stack.where(schedule_id, "Target")
        ).endswith(target)
    ]
    if len(schedules) != 1:
        raise AssemblyError(
            f"{stack.path.name}: {len(schedules)} schedules target pipeline {name}, expected one"
        )
    ((schedule_id, schedule),) = schedules
    return MonitoringPipeline(
        name=name,
        definition=definition,
        role_arn=role,
        schedule_expression=assembly.resolve_str(
            stack, schedule["ScheduleExpression"], stack.where(schedule_id, "ScheduleExpression")
        ),
        flexible_window=str(schedule.get("FlexibleTimeWindow", {}).get("Mode", "")),
        image_entrypoints=image_entrypoints(assembly, environment),
        source=stack.where(logical_id),
    )
