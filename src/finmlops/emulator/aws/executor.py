"""Execute a SageMaker pipeline definition offline, step by step, against the embedded AWS.

It reads the definition JSON exactly as deployed (placeholders already filled), resolves
parameters (with overrides), orders steps by their data references and DependsOn, runs the
steps that are ready together (as SageMaker does, up to one job per core), and runs:

- Processing: inputs downloaded from S3 into the job's /opt/ml tree (under a local root that the
  step code reads through FINMLOPS_CONTAINER_ROOT), the container entry point run as a process
  with this Python, outputs uploaded back, property files read from the outputs. A job of
  `InstanceCount` N runs N processes, one /opt/ml tree each (`algo-1` .. `algo-N`, named in its
  resourceconfig.json), with each input downloaded as its `S3DataType` and
  `S3DataDistributionType` say (`run_instances`, `instance_objects`).
- Training: the built-in XGBoost contract (channels, hyperparameters.json, model.tar.gz).
- Condition: the conditions evaluated, JsonGet on property files included; the chosen branch runs.
- RegisterModel: CreateModelPackage with the arguments from the definition.
- Fail: the execution fails with the step's message.

Any other step type is an `UnsupportedStepError` naming the type, never skipped. Step statuses,
timings and failure reasons are recorded in an `Execution`, and, for an execution started through
the emulated SageMaker, kept there for ListPipelineExecutionSteps (`finmlops.emulator.aws.identity`),
as SageMaker keeps the steps it ran.

A processing or training job in a VPC (`NetworkConfig.VpcConfig`, `VpcConfig`) runs only when its
VPC has an endpoint for every service its code calls (`finmlops.service_calls`), as `Network`
describes the VPCs; otherwise it fails as it fails on AWS, where the VPC has no internet egress
and the calls never reach the service. `Execution.StartDateTime` is the execution's start time:
now, or the time the scheduler started it (`run(started_at=...)`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finmlops.emulator.aws import warm
from finmlops.service_calls import (
    BY_NAME,
    Service,
    endpoint_service_name,
    processing_workload,
    training_workload,
)
from finmlops.steps.evaluate import CONTAINER_ROOT_ENV

SUPPORTED = ("Processing", "Training", "Condition", "RegisterModel", "Fail")
_STEP_REF = re.compile(r"^Steps\.([^.\[]+)")


def step_references(node: Any) -> set[str]:
    """The steps a definition fragment reads (`{"Get": "Steps.<name>..."}`), not looking into a
    condition's branches: a property reference is what makes SageMaker run one step after
    another (Pipelines docs, "Pipeline steps": data dependency)."""
    refs: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Get" and isinstance(value, str) and (m := _STEP_REF.match(value)):
                refs.add(m.group(1))
            elif key not in {"IfSteps", "ElseSteps"}:
                refs |= step_references(value)
    elif isinstance(node, list):
        for item in node:
            refs |= step_references(item)
    return refs


BUILTIN_XGBOOST = "sagemaker-xgboost:"


class ExecutionError(RuntimeError):
    """A step failed; the message names the step and the reason."""


class UnsupportedStepError(ExecutionError):
    pass


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "NotStarted"
    started: float | None = None
    ended: float | None = None
    failure_reason: str | None = None
    outcome: str | None = None  # condition result, or the registered package ARN

    @property
    def seconds(self) -> float:
        return (self.ended or 0.0) - (self.started or 0.0)

    def api_shape(self) -> dict[str, Any]:
        """This step as ListPipelineExecutionSteps returns it (`PipelineExecutionStep`)."""
        step: dict[str, Any] = {"StepName": self.name, "StepStatus": self.status, "AttemptCount": 1}
        for key, moment in (("StartTime", self.started), ("EndTime", self.ended)):
            if moment is not None:
                step[key] = datetime.fromtimestamp(moment, UTC)
        if self.failure_reason:
            step["FailureReason"] = self.failure_reason
        metadata: dict[str, Any] = {}
        if self.type == "RegisterModel" and self.outcome:
            metadata["RegisterModel"] = {"Arn": self.outcome}
        elif self.type == "Condition" and self.outcome:
            metadata["Condition"] = {"Outcome": "True" if self.outcome == "true" else "False"}
        elif self.type == "Fail" and self.failure_reason:
            metadata["Fail"] = {"ErrorMessage": self.failure_reason}
        if metadata:
            step["Metadata"] = metadata
        return step


@dataclass
class Execution:
    execution_id: str
    pipeline_arn: str = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/offline"
    started_at: str = ""
    status: str = "Executing"
    failure_reason: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"{self.pipeline_arn}/execution/{self.execution_id}"

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    def executed_steps(self) -> list[dict[str, Any]]:
        """The steps that ran, as ListPipelineExecutionSteps returns them."""
        return [s.api_shape() for s in self.steps if s.status not in {"NotStarted", "NotExecuted"}]

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("properties")
        return json.dumps(data, indent=2, sort_keys=True, default=str)


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    region: str
    endpoint_services: frozenset[str]  # ServiceName of each VPC endpoint that serves the VPC


@dataclass(frozen=True)
class Network:
    """The VPCs jobs may run in: which VPC each subnet belongs to, and the endpoints of each VPC.

    Built from the synthesized network templates (AWS::EC2::Subnet, AWS::EC2::VPCEndpoint); the
    executor checks every VPC job against it. AWS rules: a job's subnets and security groups are
    in one VPC (CreateProcessingJob/CreateTrainingJob `VpcConfig`); the platform's VPCs have no
    internet egress, so a job reaches an AWS service only through that service's endpoint in its
    VPC (SageMaker Developer Guide pages process-vpc and train-vpc; AWS PrivateLink "Access an AWS
    service using an interface VPC endpoint"; SageMaker MLflow, mlflow-private-link-policy).
    """

    subnets: Mapping[str, str]  # subnet id -> VPC id
    vpcs: Mapping[str, Vpc]  # VPC id -> the VPC

    @classmethod
    def merged(cls, *networks: Network) -> Network:
        subnets: dict[str, str] = {}
        vpcs: dict[str, Vpc] = {}
        for network in networks:
            subnets.update(network.subnets)
            vpcs.update(network.vpcs)
        return cls(subnets, vpcs)

    def vpc_of(self, subnets: Iterable[str], job: str) -> Vpc:
        """The one VPC of a job's subnets; an unknown subnet, or subnets of two VPCs, refused."""
        given = [str(s) for s in subnets]
        if not given:
            raise ExecutionError(f"job {job}: VpcConfig names no subnet")
        unknown = [s for s in given if s not in self.subnets]
        if unknown:
            raise ExecutionError(
                f"job {job}: subnet(s) {', '.join(unknown)} belong to no VPC of the network "
                "(none of its templates' subnets or VPC endpoints): SageMaker refuses a subnet "
                "that does not exist"
            )
        found = sorted({self.subnets[s] for s in given})
        if len(found) > 1:
            raise ExecutionError(
                f"job {job}: subnets {', '.join(given)} span VPCs {', '.join(found)}; a job's "
                "subnets must be in one VPC"
            )
        vpc_id = found[0]
        return self.vpcs.get(vpc_id) or Vpc(vpc_id, "", frozenset())

    def unreachable(self, vpc: Vpc, calls: Mapping[Service, str]) -> list[tuple[Service, str]]:
        """The services of `calls` the VPC has no endpoint for, with each endpoint's ServiceName."""
        missing = []
        for service in calls:
            wanted = endpoint_service_name(Service(service), vpc.region)
            if wanted not in vpc.endpoint_services:
                missing.append((Service(service), wanted))
        return missing


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ExecutionError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _instance_count(args: Mapping[str, Any]) -> int:
    cluster = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    count = int(cluster.get("InstanceCount", 1))
    if not 1 <= count <= 100:
        # ProcessingClusterConfig.InstanceCount: valid range 1-100 (SageMaker API Reference).
        raise ExecutionError(f"InstanceCount {count} is outside SageMaker's range 1-100")
    return count


def _host(instance: int) -> str:
    """The host name of a job's instance, as SageMaker names them: algo-1, algo-2, ..."""
    return f"algo-{instance}"


def write_resource_config(root: Path, instance: int, count: int) -> Path:
    """/opt/ml/config/resourceconfig.json of one instance, in the shape SageMaker Processing
    gives the container (Developer Guide, build-your-own-processing-container, "How Amazon
    SageMaker Processing configures your processing container"): this instance's host name
    and every host of the job."""
    path = root / "opt/ml/config/resourceconfig.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    hosts = [_host(i) for i in range(1, count + 1)]
    path.write_text(json.dumps({"current_host": _host(instance), "hosts": hosts}))
    return path


def instance_objects(
    objects: list[tuple[str, str, str]], distribution: str, index: int, count: int
) -> list[tuple[str, str, str]]:
    """The objects of an input that instance `index` (0-based) of `count` receives.

    `FullyReplicated`: all of them. `ShardedByS3Key`: a disjoint share, together all of them;
    AWS documents only that each instance gets about 1/N of the objects and that with more
    instances than objects some get none (SageMaker API Reference, ProcessingS3Input and
    S3DataSource, S3DataDistributionType), not which instance gets which, so the emulator
    deals them out in listing order, object j to instance j mod N: nothing may depend on the
    assignment, and an instance with no object gets no folder at all.
    """
    if distribution == "FullyReplicated":
        return list(objects)
    if distribution != "ShardedByS3Key":
        raise ExecutionError(f"S3DataDistributionType {distribution!r} is not one SageMaker takes")
    return [obj for j, obj in enumerate(objects) if j % count == index]


def _refuse_colliding_uploads(step: str, output: str, locals_: list[Path]) -> None:
    """Instances of one job upload one output to one S3Uri: two files at the same path would
    overwrite each other there, silently on AWS. The emulator makes it a failure."""
    seen: dict[str, int] = {}
    for index, local in enumerate(locals_):
        for path in (p for p in local.rglob("*") if p.is_file()):
            relative = path.relative_to(local).as_posix()
            if relative in seen:
                raise ExecutionError(
                    f"step {step}: output {output}: {_host(seen[relative] + 1)} and "
                    f"{_host(index + 1)} both wrote {relative}; uploaded to one S3 prefix, one "
                    "would overwrite the other"
                )
            seen[relative] = index


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PipelineExecutor:
    """Runs one definition; clients for the embedded AWS are passed in.

    `network`: the VPCs the definition's jobs run in. A job with a VPC configuration and no
    network to check it against is refused: the executor cannot tell whether it would reach
    the services it calls.
    """

    def __init__(
        self,
        definition: str | Mapping[str, Any],
        *,
        s3: Any,
        sagemaker: Any,
        work_dir: Path,
        progress: Callable[[str], None] = lambda _m: None,
        python: str = sys.executable,
        image_entrypoints: Mapping[str, list[str]] | None = None,
        job_environment: Mapping[str, str] | None = None,
        network: Network | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.definition = (
            json.loads(definition) if isinstance(definition, str) else dict(definition)
        )
        self.s3 = s3
        self.sagemaker = sagemaker
        self.work_dir = work_dir
        self.progress = progress
        self.python = python
        # Images whose own ENTRYPOINT runs the job (steps that give no ContainerEntrypoint).
        self.image_entrypoints = dict(image_entrypoints or {})
        # What every job process sees besides its own Environment: on the emulator, the
        # endpoint URL and credentials through which the job's boto3 calls reach it.
        self.job_environment = dict(job_environment or {})
        self.network = network
        # Jobs run as local processes: as many at once as there are cores, by default.
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        # Execution.CurrentDateTime moves on from the execution's start as the wall clock does.
        self._started_wall = time.time()
        self._steps = self._index(self.definition.get("Steps", []))
        self._needs = {name: self.dependencies(step) for name, step in self._steps.items()}

    # ---------- graph ----------
    def _index(self, steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for step in steps:
            if step["Name"] in found:
                raise ExecutionError(f"step name {step['Name']!r} appears twice")
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                for branch in ("IfSteps", "ElseSteps"):
                    found.update(self._index(step["Arguments"].get(branch, [])))
        return found

    def dependencies(self, step: dict[str, Any]) -> set[str]:
        return (
            step_references(step.get("Arguments", {}))
            | step_references(step.get("PropertyFiles", []))
            | set(step.get("DependsOn", []))
        )

    # ---------- expressions ----------
    def resolve(self, node: Any, execution: Execution) -> Any:
        if isinstance(node, list):
            return [self.resolve(v, execution) for v in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Get"}:
            return self._get(node["Get"], execution)
        if set(node) == {"Std:Join"}:
            spec = node["Std:Join"]
            return spec["On"].join(str(self.resolve(v, execution)) for v in spec["Values"])
        if set(node) == {"Std:JsonGet"}:
            return self._json_get(node["Std:JsonGet"], execution)
        return {k: self.resolve(v, execution) for k, v in node.items()}

    def _get(self, path: str, execution: Execution) -> Any:
        if path.startswith("Parameters."):
            name = path.removeprefix("Parameters.")
            if name not in execution.parameters:
                raise ExecutionError(f"unknown parameter {name!r}")
            return execution.parameters[name]
        if path.startswith("Execution."):
            variables = {
                "PipelineExecutionId": execution.execution_id,
                "PipelineExecutionArn": execution.arn,
                "PipelineName": execution.pipeline_arn.rsplit("/", 1)[-1],
                "StartDateTime": execution.started_at,
                "CurrentDateTime": self._current(execution),
            }
            name = path.removeprefix("Execution.")
            if name not in variables:
                raise ExecutionError(f"unknown execution variable {name!r}")
            return variables[name]
        match = _STEP_REF.match(path)
        if not match:
            raise ExecutionError(f"cannot resolve {path!r}")
        step = match.group(1)
        if step not in execution.properties:
            raise ExecutionError(f"{path!r} refers to step {step!r}, which has not run")
        properties = execution.properties[step]
        rest = path[match.end() :].lstrip(".")
        if rest not in properties:
            raise ExecutionError(f"step {step!r} has no property {rest!r}")
        return properties[rest]

    def _json_get(self, spec: Mapping[str, Any], execution: Execution) -> Any:
        ref = (
            spec["PropertyFile"]["Get"]
            if isinstance(spec["PropertyFile"], dict)
            else spec["PropertyFile"]
        )
        match = re.match(r"^Steps\.([^.]+)\.PropertyFiles\.(.+)$", ref)
        if not match:
            raise ExecutionError(f"JsonGet: cannot read property file reference {ref!r}")
        step, name = match.groups()
        files = execution.properties.get(step, {}).get("PropertyFiles", {})
        if name not in files:
            raise ExecutionError(f"JsonGet: step {step!r} produced no property file {name!r}")
        node: Any = files[name]
        for part in str(spec["Path"]).split("."):
            if not isinstance(node, dict) or part not in node:
                raise ExecutionError(f"JsonGet: {name} has no value at {spec['Path']!r}")
            node = node[part]
        return node

    def _current(self, execution: Execution) -> str:
        started = execution.started_at
        if not started:
            return _timestamp(datetime.now(UTC))
        elapsed = timedelta(seconds=time.time() - self._started_wall)
        return _timestamp(datetime.fromisoformat(started.replace("Z", "+00:00")) + elapsed)

    # ---------- network ----------
    def check_network(self, kind: str, job: str, args: Mapping[str, Any]) -> None:
        """Refuse a job in a VPC that has no endpoint for a service the job's code calls.

        On AWS such a job starts and fails when a call times out (for S3 inputs, before the
        container runs: "ClientError: ... Please ensure that the subnet's route table has a
        route to an S3 VPC endpoint or a NAT device"); here it fails before it runs, with the
        same effect on the step and the execution: Failed, and nothing written."""
        if kind == "Processing":
            vpc_config = (args.get("NetworkConfig") or {}).get("VpcConfig")
            workload = processing_workload(args.get("AppSpecification", {}))
        else:
            vpc_config = args.get("VpcConfig")
            workload = training_workload(args.get("AlgorithmSpecification", {}))
        if not vpc_config:
            return  # SageMaker's own network, with access to AWS services: nothing to check
        if self.network is None:
            raise ExecutionError(
                f"job {job} runs in a VPC (subnets {', '.join(vpc_config.get('Subnets', []))}) "
                "and the executor was given no network to check its VPC endpoints against"
            )
        declared = BY_NAME.get(workload)
        if declared is None:
            raise ExecutionError(
                f"job {job} runs in a VPC but finmlops.service_calls declares no services for "
                f"its workload {workload}: declare what its code calls"
            )
        vpc = self.network.vpc_of(vpc_config.get("Subnets", []), job)
        missing = self.network.unreachable(vpc, declared.calls)
        if missing:
            reasons = "; ".join(
                f"{service.name} ({declared.calls[service]}) has no VPC endpoint {name}"
                for service, name in missing
            )
            raise ExecutionError(
                f"ClientError: job {job} ({workload}) runs in VPC {vpc.vpc_id}, where {reasons}: "
                "without internet egress its calls never reach the service and the job fails"
            )

    # ---------- S3 ----------
    def _download(self, uri: str, local: Path) -> None:
        local.mkdir(parents=True, exist_ok=True)
        for bucket, key, relative in self._input_objects({"S3Uri": uri}, uri):
            target = local / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, key, str(target))

    def _upload(self, local: Path, uri: str) -> None:
        bucket, key = _split_s3(uri)
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.s3.upload_file(
                str(path), bucket, f"{key.rstrip('/')}/{path.relative_to(local).as_posix()}"
            )

    # ---------- runners ----------
    def _root(self, execution: Execution, step: str) -> Path:
        root = self.work_dir / execution.execution_id / step
        root.mkdir(parents=True, exist_ok=True)
        return root

    @staticmethod
    def _local(root: Path, container_path: str) -> Path:
        return root / container_path.lstrip("/")

    def output_dir(self, execution: Execution, step: str, output: str, instance: int = 1) -> Path:
        """The local folder a processing step's job wrote one output to (what was uploaded);
        of a job of several instances, the given instance's (all of them were uploaded)."""
        arguments = self._steps[step]["Arguments"]
        for item in arguments.get("ProcessingOutputConfig", {}).get("Outputs", []):
            if item["OutputName"] == output:
                root = self.work_dir / execution.execution_id / step
                if _instance_count(arguments) > 1:
                    root = root / _host(instance)
                return self._local(root, item["S3Output"]["LocalPath"])
        raise KeyError(f"step {step} has no output {output!r}")

    def _run_process(
        self, command: list[str], root: Path, step: str, env: Mapping[str, str] | None = None
    ) -> None:
        program = [self.python if c in {"python3", "python"} else c for c in command]
        program = [str(self._local(root, c)) if c.startswith("/opt/ml/") else c for c in program]
        # Container paths in the job's own environment point into the same local /opt/ml tree.
        job_env = {
            k: str(self._local(root, v)) if str(v).startswith("/opt/ml/") else str(v)
            for k, v in (env or {}).items()
        }
        environment = {
            **os.environ,
            **self.job_environment,
            CONTAINER_ROOT_ENV: str(root),
            **job_env,
        }
        log = root / "job.log"
        if program[0] == self.python and warm.enabled():
            # Forked from an interpreter that already imported the image's libraries, in the
            # job's own environment (finmlops.emulator.aws.warm).
            code = warm.shared(self.python).run(program, environment, log)
            output = log.read_text(errors="replace")
        else:
            done = subprocess.run(
                program, capture_output=True, text=True, env=environment, check=False
            )
            log.write_text(done.stdout + done.stderr)
            code, output = done.returncode, done.stderr or done.stdout
        if code != 0:
            tail = output.strip().splitlines()[-3:]
            raise ExecutionError(f"step {step} exited with code {code}: {' | '.join(tail)}")

    def _input_objects(self, s3_input: Mapping[str, Any], item: str) -> list[tuple[str, str, str]]:
        """(bucket, key, path under LocalPath) of every object a ProcessingS3Input names.

        `S3Prefix`: every object under the prefix. `ManifestFile`: the objects the manifest
        lists, in the format of the SageMaker API Reference (S3DataSource.S3Uri): a JSON array
        whose first element is {"prefix": "s3://bucket/prefix"} and whose one or more other
        elements are suffixes appended to it; anything else fails the job, as SageMaker fails
        it. Each object lands at its suffix (its key below the prefix) under LocalPath.
        """
        uri, kind = s3_input["S3Uri"], s3_input.get("S3DataType", "S3Prefix")
        if kind == "S3Prefix":
            bucket, key = _split_s3(uri)
            paginator = self.s3.get_paginator("list_objects_v2")
            keys = [
                o["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=key)
                for o in page.get("Contents", [])
            ]
            if not keys:
                raise ExecutionError(f"input {uri} holds no object")
            return [
                (bucket, k, Path(k).name if k == key else k[len(key) :].lstrip("/")) for k in keys
            ]
        if kind != "ManifestFile":
            raise UnsupportedStepError(f"input {item}: S3DataType {kind!r} is not supported")
        bucket, key = _split_s3(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            document = json.loads(body)
        except ValueError as exc:
            raise ExecutionError(f"input {item}: manifest {uri} is not JSON: {exc}") from None
        valid = (
            isinstance(document, list)
            and len(document) >= 2
            and isinstance(document[0], dict)
            and set(document[0]) == {"prefix"}
            and str(document[0]["prefix"]).startswith("s3://")
            and all(isinstance(s, str) and s for s in document[1:])
        )
        if not valid:
            raise ExecutionError(
                f"input {item}: manifest {uri} is not a SageMaker manifest "
                '([{"prefix": "s3://bucket/prefix/"}, "suffix", ...] with one or more suffixes)'
            )
        prefix_bucket, prefix = _split_s3(str(document[0]["prefix"]))
        return [(prefix_bucket, prefix + suffix, suffix.lstrip("/")) for suffix in document[1:]]

    def _processing(
        self, step: dict[str, Any], args: dict[str, Any], execution: Execution
    ) -> dict[str, Any]:
        # SageMaker Pipelines names a step's job pipelines-<execution id>-<step>-<suffix>.
        self.check_network("Processing", f"pipelines-{execution.execution_id}-{step['Name']}", args)
        count = _instance_count(args)
        step_root = self._root(execution, step["Name"])
        roots = [step_root] if count == 1 else [step_root / _host(i) for i in range(1, count + 1)]
        inputs = args.get("ProcessingInputs", [])
        objects = {
            item["InputName"]: self._input_objects(item["S3Input"], item["InputName"])
            for item in inputs
        }
        outputs = args.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for index, root in enumerate(roots):
            write_resource_config(root, index + 1, count)
            for item in inputs:
                s3_input = item["S3Input"]
                share = instance_objects(
                    objects[item["InputName"]],
                    s3_input.get("S3DataDistributionType", "FullyReplicated"),
                    index,
                    count,
                )
                local = self._local(root, s3_input["LocalPath"])
                for bucket, key, relative in share:
                    target = local / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.s3.download_file(bucket, key, str(target))
            for item in outputs:
                self._local(root, item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        app = args["AppSpecification"]
        entrypoint = app.get("ContainerEntrypoint") or self.image_entrypoints.get(
            app.get("ImageUri", "")
        )
        if not entrypoint:
            raise UnsupportedStepError(
                f"step {step['Name']}: image {app.get('ImageUri')} has no entry point the emulator knows"
            )
        command = list(entrypoint) + [str(a) for a in app.get("ContainerArguments", [])]
        self.run_instances(command, roots, step["Name"], args.get("Environment"))
        properties: dict[str, Any] = {}
        local_of = {}
        for item in outputs:
            name, s3_output = item["OutputName"], item["S3Output"]
            locals_ = [self._local(root, s3_output["LocalPath"]) for root in roots]
            _refuse_colliding_uploads(step["Name"], name, locals_)
            for local in locals_:
                self._upload(local, s3_output["S3Uri"])
            properties[f"ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"] = s3_output[
                "S3Uri"
            ]
            local_of[name] = locals_[0]
        files = {}
        for prop in step.get("PropertyFiles", []):
            path = local_of[prop["OutputName"]] / prop["FilePath"]
            if not path.exists():
                raise ExecutionError(
                    f"step {step['Name']}: property file {prop['FilePath']} was not written"
                )
            files[prop["PropertyFileName"]] = json.loads(path.read_text())
        properties["PropertyFiles"] = files
        return properties

    def run_instances(
        self,
        command: list[str],
        roots: list[Path],
        step: str,
        env: Mapping[str, str] | None,
    ) -> None:
        """Every instance of a job at once (as SageMaker starts them), each in its own /opt/ml
        tree; the job fails when any instance fails, with the first failure's reason."""
        if len(roots) == 1:
            self._run_process(command, roots[0], step, env)
            return
        with ThreadPoolExecutor(max_workers=min(len(roots), self.max_parallel)) as pool:
            jobs = [pool.submit(self._run_process, command, root, step, env) for root in roots]
        failures = [job.exception() for job in jobs if job.exception() is not None]
        if failures:
            first = failures[0]
            raise first if isinstance(first, ExecutionError) else ExecutionError(str(first))

    def _training(
        self, step: dict[str, Any], args: dict[str, Any], execution: Execution
    ) -> dict[str, Any]:
        image = args["AlgorithmSpecification"]["TrainingImage"]
        if BUILTIN_XGBOOST not in image:
            raise UnsupportedStepError(
                f"step {step['Name']}: only the built-in XGBoost training contract runs offline, not {image}"
            )
        job = f"{step['Name'].lower()}-{execution.execution_id}"
        self.check_network("Training", job, args)
        root = self._root(execution, step["Name"])
        for channel in args.get("InputDataConfig", []):
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self._download(uri, root / "opt/ml/input/data" / channel["ChannelName"])
        config_dir = root / "opt/ml/input/config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "hyperparameters.json").write_text(
            json.dumps(args.get("HyperParameters", {}))
        )
        self._run_process(["python3", "-m", "finmlops.steps.train"], root, step["Name"])
        from finmlops.steps.train import MODEL_ARCHIVE, pack_model

        archive = pack_model(root / "opt/ml/model", root / "output" / MODEL_ARCHIVE)
        uri = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/{MODEL_ARCHIVE}"
        bucket, key = _split_s3(uri)
        self.s3.upload_file(str(archive), bucket, key)
        prefix = execution.pipeline_arn.split(":pipeline/")[0]
        return {
            "ModelArtifacts.S3ModelArtifacts": uri,
            "TrainingJobName": job,
            "TrainingJobArn": f"{prefix}:training-job/{job}",
        }

    def _register(
        self, step: dict[str, Any], args: dict[str, Any], execution: Execution
    ) -> dict[str, Any]:
        request = {k: v for k, v in args.items() if v not in ({}, None, "")}
        metrics = request.get("ModelMetrics")
        if isinstance(metrics, dict):
            request["ModelMetrics"] = {k: v for k, v in metrics.items() if v}
        arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        return {"ModelPackageArn": arn}

    @staticmethod
    def _compare(kind: str, left: Any, right: Any) -> bool:
        if kind == "Equals":
            return bool(left == right)
        a, b = float(left), float(right)
        return {
            "GreaterThan": a > b,
            "GreaterThanOrEqualTo": a >= b,
            "LessThan": a < b,
            "LessThanOrEqualTo": a <= b,
        }[kind]

    def _condition(self, condition: dict[str, Any], execution: Execution) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self._condition(condition["Expression"], execution)
        if kind == "Or":
            return any(self._condition(c, execution) for c in condition["Conditions"])
        if kind == "In":
            value = self.resolve(condition["QueryValue"], execution)
            return value in self.resolve(condition["Values"], execution)
        if kind not in {
            "Equals",
            "GreaterThan",
            "GreaterThanOrEqualTo",
            "LessThan",
            "LessThanOrEqualTo",
        }:
            raise UnsupportedStepError(f"condition type {kind!r} is not supported offline")
        left = self.resolve(condition["LeftValue"], execution)
        right = self.resolve(condition["RightValue"], execution)
        return self._compare(kind, left, right)

    # ---------- the run ----------
    def parameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        declared = {p["Name"]: p for p in self.definition.get("Parameters", [])}
        unknown = sorted(set(overrides or {}) - set(declared))
        if unknown:
            raise ExecutionError(f"unknown pipeline parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            value = (overrides or {}).get(name, spec.get("DefaultValue"))
            if value is None:
                raise ExecutionError(f"parameter {name!r} has no default and no value")
            kind = spec.get("Type", "String")
            values[name] = (
                float(value) if kind == "Float" else int(value) if kind == "Integer" else value
            )
        return values

    def run(
        self,
        execution_id: str,
        overrides: Mapping[str, Any] | None = None,
        *,
        pipeline_arn: str | None = None,
        started_at: datetime | None = None,
    ) -> Execution:
        """Run the definition. `started_at`: when the execution started, as SageMaker records
        it (`Execution.StartDateTime`); by default now. An execution EventBridge Scheduler
        started carries its scheduled time (the schedule's FlexibleTimeWindow is OFF)."""
        self._started_wall = time.time()
        execution = Execution(
            execution_id=execution_id,
            parameters=self.parameters(overrides),
            started_at=_timestamp(started_at or datetime.now(UTC)),
        )
        if pipeline_arn:
            execution.pipeline_arn = pipeline_arn
        unsupported = sorted({s["Type"] for s in self._steps.values()} - set(SUPPORTED))
        if unsupported:
            raise UnsupportedStepError(
                f"step type(s) {', '.join(unsupported)} cannot run offline; supported: {', '.join(SUPPORTED)}"
            )
        execution.steps = [StepRecord(name, s["Type"]) for name, s in self._steps.items()]
        try:
            self._run_graph(execution)
            execution.status = "Succeeded"
        except ExecutionError as exc:
            execution.status = "Failed"
            execution.failure_reason = str(exc)
        for record in execution.steps:
            if record.status == "NotStarted":
                record.status = "NotExecuted"
        from finmlops.emulator.aws.identity import record_steps

        record_steps(execution.arn, execution.executed_steps())
        return execution

    def _run_graph(self, execution: Execution) -> None:
        """Every step whose dependencies are done runs, several at once as SageMaker runs all
        steps available to run in parallel (docs page build-and-manage-pipeline, "Pipeline
        Execution using Parallelism Configuration"), up to `max_parallel` local processes. After
        a failure no step starts; those already running finish (the emulator's choice: AWS does
        not document whether it stops them). The first failure is the execution's."""
        active = [s["Name"] for s in self.definition["Steps"]]
        done: set[str] = set()
        started: set[str] = set()
        failure: ExecutionError | None = None
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            running: dict[Future[list[str]], str] = {}
            while True:
                if failure is None:
                    for name in active:
                        if name not in started and self._needs[name] <= done:
                            started.add(name)
                            job = pool.submit(self._run_step, self._steps[name], execution)
                            running[job] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for job in sorted(finished, key=lambda f: running[f]):
                    name = running.pop(job)
                    try:
                        active.extend(job.result())
                        done.add(name)
                    except ExecutionError as exc:
                        failure = failure or exc
        if failure is not None:
            raise failure
        waiting = [n for n in active if n not in done]
        if waiting:
            raise ExecutionError(
                f"steps {waiting} wait for steps that never run: "
                f"{sorted(set().union(*(self._needs[n] for n in waiting)) - done)}"
            )

    def _run_step(self, step: dict[str, Any], execution: Execution) -> list[str]:
        record = execution.step(step["Name"])
        record.status, record.started = "Executing", time.time()
        self.progress(f"{step['Type'].lower()} step {step['Name']}")
        try:
            kind = step["Type"]
            # A condition's arguments hold its branches: they resolve only once chosen.
            args = (
                {}
                if kind in {"Condition", "Fail"}
                else self.resolve(step.get("Arguments", {}), execution)
            )
            follow: list[str] = []
            if kind == "Processing":
                execution.properties[step["Name"]] = self._processing(step, args, execution)
            elif kind == "Training":
                execution.properties[step["Name"]] = self._training(step, args, execution)
            elif kind == "RegisterModel":
                execution.properties[step["Name"]] = self._register(step, args, execution)
                record.outcome = execution.properties[step["Name"]]["ModelPackageArn"]
            elif kind == "Condition":
                outcome = all(
                    self._condition(c, execution) for c in step["Arguments"]["Conditions"]
                )
                record.outcome = str(outcome).lower()
                branch = "IfSteps" if outcome else "ElseSteps"
                follow = [s["Name"] for s in step["Arguments"].get(branch, [])]
                execution.properties[step["Name"]] = {"Outcome": outcome}
            elif kind == "Fail":
                message = self.resolve(step["Arguments"].get("ErrorMessage", ""), execution)
                raise ExecutionError(f"{step['Name']}: {message}")
            else:  # pragma: no cover - run() refuses unsupported types before any step starts
                raise UnsupportedStepError(f"step type {kind!r} cannot run offline")
        except ExecutionError as exc:
            record.status, record.ended, record.failure_reason = "Failed", time.time(), str(exc)
            raise
        except (
            Exception
        ) as exc:  # a client error or a bug in a step: fail the step, with the reason
            record.status, record.ended = "Failed", time.time()
            record.failure_reason = f"{type(exc).__name__}: {exc}"
            raise ExecutionError(f"step {step['Name']} failed: {record.failure_reason}") from exc
        record.status, record.ended = "Succeeded", time.time()
        return follow
