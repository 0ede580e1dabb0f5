"""E9105: every AWS service a VPC workload calls is reachable through a VPC endpoint in its VPC.

AWS rule: our VPCs have no internet egress, so a job, model, Lambda or build in them reaches an
AWS service only through a VPC endpoint of that service in the same VPC (interface endpoints
with private DNS, the S3 gateway endpoint on the route tables). Without it the call times out
and the job fails (for MLflow: no model is registered). Sources: SageMaker Developer Guide
process-vpc, train-vpc, host-vpc and model-monitor VPC pages, interface-vpc-endpoint, and
mlflow-private-link-policy (MLflow's own interface endpoint); AWS PrivateLink "Access an AWS
service using an interface VPC endpoint".

Which services each workload calls is declared once, in finmlops.service_calls. Workloads:
AWS::SageMaker::Model with VpcConfig; processing and training steps with a VpcConfig in a
pipeline definition; Model Monitor job definitions with NetworkConfig.VpcConfig; Lambdas and
CodeBuild projects with VpcConfig. Endpoints (AWS::EC2::VPCEndpoint) live in the stage's network
stack: the rule reads every template of the same cloud-assembly folder. A workload's VPC is the
VpcId of the interface endpoints that share its subnets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from finmlops.governance.cfn_rules import pipeline_definition
from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import Resources, Stage
from finmlops.service_calls import (
    BY_NAME,
    Service,
    endpoint_service_name,
    entrypoint_name,
    image_kind,
    processing_workload,
    training_workload,
)

SOURCE = (
    "SageMaker Developer Guide process-vpc/train-vpc/host-vpc, interface-vpc-endpoint, "
    "mlflow-private-link-policy; calls declared in finmlops.service_calls"
)
MONITOR_JOB_DEFINITIONS = (
    ("AWS::SageMaker::DataQualityJobDefinition", "DataQualityAppSpecification"),
    ("AWS::SageMaker::ModelQualityJobDefinition", "ModelQualityAppSpecification"),
    ("AWS::SageMaker::ModelBiasJobDefinition", "ModelBiasAppSpecification"),
    ("AWS::SageMaker::ModelExplainabilityJobDefinition", "ModelExplainabilityAppSpecification"),
)


@dataclass(frozen=True)
class VpcWorkload:
    name: str  # the key in finmlops.service_calls
    label: str  # for the message: the resource or the step
    path: tuple[str | int, ...]
    subnets: tuple[str, ...]


def _strings(values: Any, stage: Stage) -> tuple[str, ...]:
    return tuple(stage.render(v).text for v in values) if isinstance(values, list) else ()


def workloads(template: Mapping[str, Any], stage: Stage) -> Iterator[VpcWorkload]:
    """Every workload of the template that runs in a VPC."""
    resources = Resources(template)
    yield from _models(resources, stage)
    yield from _monitors(resources, stage)
    yield from _functions_and_builds(resources, stage)
    yield from _pipeline_jobs(template, stage)


def _models(resources: Resources, stage: Stage) -> Iterator[VpcWorkload]:
    for _, logical_id, properties in resources.of("AWS::SageMaker::Model"):
        vpc = properties.get("VpcConfig")
        if not isinstance(vpc, Mapping):
            continue
        container = properties.get("PrimaryContainer") or {}
        if isinstance(container, Mapping) and container.get("ModelPackageName"):
            name = "model:registered-version"
        else:
            name = f"model:{image_kind(stage.render(container.get('Image', '')).text)}"
        path = ("Resources", logical_id, "Properties", "VpcConfig")
        yield VpcWorkload(name, logical_id, path, _strings(vpc.get("Subnets"), stage))


def _monitors(resources: Resources, stage: Stage) -> Iterator[VpcWorkload]:
    for kind, spec_name in MONITOR_JOB_DEFINITIONS:
        for _, logical_id, properties in resources.of(kind):
            vpc = properties.get("NetworkConfig", {}).get("VpcConfig")
            if not isinstance(vpc, Mapping):
                continue
            spec = properties.get(spec_name) or {}
            image = stage.render(spec.get("ImageUri", "")).text
            name = f"model-monitor:{entrypoint_name(spec.get('ContainerEntrypoint'), image)}"
            path = ("Resources", logical_id, "Properties", "NetworkConfig", "VpcConfig")
            yield VpcWorkload(name, logical_id, path, _strings(vpc.get("Subnets"), stage))


def _functions_and_builds(resources: Resources, stage: Stage) -> Iterator[VpcWorkload]:
    for kind, logical_id, properties in resources.of(
        "AWS::Lambda::Function", "AWS::CodeBuild::Project"
    ):
        vpc = properties.get("VpcConfig")
        subnets_key = "SubnetIds" if kind == "AWS::Lambda::Function" else "Subnets"
        if not isinstance(vpc, Mapping) or not vpc.get(subnets_key):
            continue
        if kind == "AWS::Lambda::Function":
            name = f"lambda:{properties.get('Handler', '?')}"
        else:
            name = f"codebuild:{logical_id}"
        path = ("Resources", logical_id, "Properties", "VpcConfig")
        yield VpcWorkload(name, logical_id, path, _strings(vpc.get(subnets_key), stage))


def _pipeline_jobs(template: Mapping[str, Any], stage: Stage) -> Iterator[VpcWorkload]:
    for logical_id, path, definition in pipeline_definition.pipelines(template, stage):
        if isinstance(definition, pipeline_definition.DefinitionError):
            continue  # E9104 reports an unreadable definition
        for step in pipeline_definition.steps(definition):
            arguments = step.arguments
            if step.type == "Processing":
                vpc = arguments.get("NetworkConfig", {}).get("VpcConfig")
                name = processing_workload(arguments.get("AppSpecification", {}))
            elif step.type == "Training":
                vpc = arguments.get("VpcConfig")
                name = training_workload(arguments.get("AlgorithmSpecification", {}))
            else:
                continue
            if isinstance(vpc, Mapping):
                subnets = tuple(str(s) for s in vpc.get("Subnets", []))
                yield VpcWorkload(name, f"{logical_id} step {step.where}", path, subnets)


@dataclass(frozen=True)
class Endpoint:
    service_name: str
    vpc_id: str
    subnets: tuple[str, ...]
    template: str


def endpoints(stage: Stage, template: Mapping[str, Any]) -> list[Endpoint]:
    """The VPC endpoints of the stage: this template's and its siblings' in the assembly."""
    documents: list[tuple[str, Mapping[str, Any]]] = [
        (path.name, document) for path, document in stage.siblings()
    ]
    if not any(stage.template_file and name == stage.template_file.name for name, _ in documents):
        documents.append(("this template", template))
    found: list[Endpoint] = []
    for name, document in documents:
        for _, _, properties in Resources(document).of("AWS::EC2::VPCEndpoint"):
            found.append(
                Endpoint(
                    stage.render(properties.get("ServiceName", "")).text,
                    stage.render(properties.get("VpcId", "")).text,
                    _strings(properties.get("SubnetIds"), stage),
                    name,
                )
            )
    return found


def _vpcs_of(subnets: Sequence[str], found: Sequence[Endpoint]) -> set[str]:
    return {e.vpc_id for e in found if set(e.subnets) & set(subnets)}


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    found: list[Endpoint] | None = None
    for workload in workloads(template, stage):
        if found is None:
            found = endpoints(stage, template)
        declared = BY_NAME.get(workload.name)
        head = f"{workload.label} {where(workload.path)}: workload {workload.name}"
        if declared is None:
            findings.append(
                Finding(
                    workload.path,
                    f"{head} runs in a VPC but finmlops.service_calls declares no services for "
                    f"it, so its endpoints cannot be checked: declare what its code calls. "
                    f"AWS rule: a VPC without egress reaches a service only through its "
                    f"endpoint. Source: {SOURCE}.",
                    workload.name,
                )
            )
            continue
        vpcs = _vpcs_of(workload.subnets, found)
        available = {e.service_name for e in found if e.vpc_id in vpcs}
        for service, why in declared.calls.items():
            wanted = endpoint_service_name(Service(service), stage.region)
            if wanted in available:
                continue
            where_vpc = (
                f"VPC {', '.join(sorted(vpcs))}"
                if vpcs
                else f"the VPC of subnets {', '.join(workload.subnets)} (no endpoint of the "
                "stage's templates shares them)"
            )
            findings.append(
                Finding(
                    workload.path,
                    f"{head} calls {service.name} ({why}) but {where_vpc} has no VPC endpoint "
                    f"{wanted}. AWS rule: without internet egress the call never reaches "
                    f"the service and the job fails. Source: {SOURCE}.",
                    wanted,
                )
            )
    return findings


class VpcEndpointsForCalls(ProjectRule):
    id = "E9105"
    shortdesc = "Every service a VPC workload calls has an endpoint in its VPC"
    description = (
        "A SageMaker model, pipeline job, Model Monitor job, Lambda or CodeBuild project in a VPC "
        "reaches each AWS service it calls (finmlops.service_calls) through a VPC endpoint of "
        "that service in the same VPC, declared in the stage's templates."
    )
    source_url = "https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-private-link-policy.html"
    tags: ClassVar[list[str]] = ["network", "vpc", "finmlops"]
    check: ClassVar[Check] = check
