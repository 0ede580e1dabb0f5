"""A CDK cloud assembly (`cdk.out`) read as CloudFormation would deploy it: every stack with its
account and region, and intrinsic functions resolved to physical names and ARNs.

Sources: AWS CloudFormation User Guide, "Intrinsic function reference" (Ref, Fn::GetAtt,
Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If, Fn::Equals/Not/And/Or, Fn::ImportValue,
Fn::GetStackOutput, Fn::FindInMap, Fn::Base64, Fn::GetAZs), "Pseudo parameters reference", and
each resource type's "Return values" (what Ref and each attribute return); the cloud assembly
layout of the CDK (`manifest.json`, nested `assembly-<stage>` folders).

Where CloudFormation would generate a name (a role or topic without a name property, a key id),
a deterministic stand-in is used: `<stack>-<logical id>-<hash>` (a UUID for a key), the same on
every load. A value this module cannot resolve (an unknown resource type or attribute, a
parameter without default) raises AssemblyError naming the template, the resource and the field,
rather than guessing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class AssemblyError(ValueError):
    """The assembly cannot be read; the message names the file and the field."""


_NO_VALUE = object()  # AWS::NoValue: the property or list item is removed
_STANDIN_NAMESPACE = uuid.UUID("6f9e7c52-5d44-4b0f-9a33-0c0ffee00010")


@dataclass
class Stack:
    """One stack of the assembly, with the environment CDK deploys it to."""

    environment: str  # the CDK stage (assembly-<environment>), "" for a stack at the root
    artifact_id: str
    stack_name: str
    account: str
    region: str
    path: Path
    template: dict[str, Any]

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    @property
    def component(self) -> str:
        """The stack's construct id in its stage (the layout tests/synth_fixtures.py reads)."""
        return self.display_name.split("/")[-1].split(" ")[0]

    display_name: str = ""

    def resources(self, kind: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.template.get("Resources", {}).items():
            if kind is None or resource.get("Type") == kind:
                yield logical_id, resource

    def where(self, logical_id: str, field_path: str = "") -> str:
        suffix = f".{field_path}" if field_path else ""
        return f"{self.path.name}: {logical_id}{suffix}"


@dataclass
class Assembly:
    """Every stack of a cloud assembly, and the resolver of their intrinsic functions."""

    root: Path
    stacks: list[Stack]
    _cache: dict[tuple[int, str, str], Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, cdk_out: str | Path) -> Assembly:
        root = Path(cdk_out)
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise AssemblyError(f"{root}: no manifest.json: not a cloud assembly (cdk.out)")
        stacks: list[Stack] = []
        cls._read(root, "", stacks)
        if not stacks:
            raise AssemblyError(f"{root}: the assembly holds no CloudFormation stack")
        return cls(root=root, stacks=stacks)

    @classmethod
    def _read(cls, folder: Path, environment: str, stacks: list[Stack]) -> None:
        manifest_path = folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise AssemblyError(f"{manifest_path}: {error}") from error
        for artifact_id, artifact in manifest.get("artifacts", {}).items():
            kind = artifact.get("type")
            props = artifact.get("properties", {})
            if kind == "cdk:cloud-assembly":
                nested = folder / props["directoryName"]
                cls._read(nested, props.get("displayName", props["directoryName"]), stacks)
            elif kind == "aws:cloudformation:stack":
                env = artifact.get("environment", "")
                match = re.fullmatch(r"aws://(\d{12})/([a-z0-9-]+)", env)
                if not match:
                    raise AssemblyError(
                        f"{manifest_path}: {artifact_id}.environment is {env!r}: an account and a "
                        "region are needed to resolve ARNs (environment-agnostic stack)"
                    )
                path = folder / props["templateFile"]
                try:
                    template = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError) as error:
                    raise AssemblyError(f"{path}: {error}") from error
                stacks.append(
                    Stack(
                        environment=environment,
                        artifact_id=artifact_id,
                        stack_name=props.get("stackName", artifact_id),
                        account=match.group(1),
                        region=match.group(2),
                        path=path,
                        template=template,
                        display_name=artifact.get("displayName", artifact_id),
                    )
                )

    # ------------------------------------------------------------------ lookups

    def stack_named(self, name: str, region: str | None = None) -> Stack:
        for stack in self.stacks:
            if stack.stack_name == name and (region is None or stack.region == region):
                return stack
        raise AssemblyError(f"{self.root}: no stack named {name!r} in the assembly")

    # ------------------------------------------------------------------ resolution

    def resolve(self, stack: Stack, value: Any, where: str) -> Any:
        """A template value with every intrinsic function and pseudo parameter resolved."""
        resolved = self._resolve(stack, value, where)
        return None if resolved is _NO_VALUE else resolved

    def resolve_str(self, stack: Stack, value: Any, where: str) -> str:
        resolved = self.resolve(stack, value, where)
        if not isinstance(resolved, str | int | float) or isinstance(resolved, bool):
            raise AssemblyError(f"{where}: expected a string, found {resolved!r}")
        return str(resolved)

    def _resolve(self, stack: Stack, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self._resolve(stack, v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(stack, argument, where)
            if name.startswith("Fn::") or name == "Condition":
                return self._function(stack, name, argument, where)
        out = {}
        for key, item in value.items():
            resolved = self._resolve(stack, item, f"{where}.{key}")
            if resolved is not _NO_VALUE:
                out[key] = resolved
        return out

    def _function(  # noqa: PLR0911, PLR0912 - one branch per intrinsic, as the reference lists them
        self, stack: Stack, name: str, arg: Any, where: str
    ) -> Any:
        at = f"{where} ({name})"
        if name == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            logical_id, attribute = arg[0], self.resolve_str(stack, arg[1], at)
            return self.attribute(stack, logical_id, attribute, at)
        if name == "Fn::Join":
            separator, parts = arg
            items = self._resolve(stack, parts, at)
            return str(separator).join(self._text(p, at) for p in items)
        if name == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            local = {k: self._resolve(stack, v, f"{at}.{k}") for k, v in variables.items()}
            return self._sub(stack, template, local, at)
        if name == "Fn::Select":
            index, items = arg
            items = self._resolve(stack, items, at)
            position = int(self._resolve(stack, index, at))
            if not isinstance(items, list) or not 0 <= position < len(items):
                raise AssemblyError(f"{at}: index {position} out of {items!r}")
            return items[position]
        if name == "Fn::Split":
            separator, text = arg
            return self._text(self._resolve(stack, text, at), at).split(separator)
        if name == "Fn::If":
            condition, when_true, when_false = arg
            chosen = when_true if self._condition(stack, condition, at) else when_false
            return self._resolve(stack, chosen, at)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._condition_value(stack, name, arg, at)
        if name == "Fn::ImportValue":
            return self._import(stack, self.resolve_str(stack, arg, at), at)
        if name == "Fn::GetStackOutput":
            spec = self._resolve(stack, arg, at)
            other = self.stack_named(spec["StackName"], spec.get("Region"))
            return self.output(other, spec["OutputName"], at)
        if name == "Fn::FindInMap":
            map_name, top, second = (self._resolve(stack, a, at) for a in arg[:3])
            try:
                return stack.template["Mappings"][map_name][top][second]
            except KeyError as error:
                raise AssemblyError(f"{at}: no mapping {map_name}/{top}/{second}") from error
        if name == "Fn::Base64":
            return base64.b64encode(self._text(self._resolve(stack, arg, at), at).encode()).decode()
        if name == "Fn::GetAZs":
            return [f"{stack.region}{zone}" for zone in "abc"]
        raise AssemblyError(f"{at}: {name} is not supported by this resolver")

    @staticmethod
    def _text(value: Any, where: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise AssemblyError(f"{where}: cannot join {value!r} into a string")
        return str(value)

    def _sub(self, stack: Stack, template: str, local: Mapping[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return self._text(local[name], where)
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._text(self.attribute(stack, logical_id, attribute, where), where)
            return self._text(self._ref(stack, name, where), where)

        return re.sub(r"\$\{([^}]+)\}", replace, template)

    def _condition(self, stack: Stack, name: str, where: str) -> bool:
        conditions = stack.template.get("Conditions", {})
        if name not in conditions:
            raise AssemblyError(f"{where}: no condition {name!r}")
        return bool(self._resolve(stack, conditions[name], f"Conditions.{name}"))

    def _condition_value(self, stack: Stack, name: str, arg: Any, where: str) -> bool:
        if name == "Condition":
            return self._condition(stack, arg, where)
        values = [self._resolve(stack, a, where) for a in arg]
        if name == "Fn::Equals":
            return bool(values[0] == values[1])
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::And":
            return all(values)
        return any(values)

    def _import(self, stack: Stack, export: str, where: str) -> Any:
        # Exports are per account and region; CDK names them `<stack>:Export...`.
        for other in self.stacks:
            if (other.account, other.region) != (stack.account, stack.region):
                continue
            for output_name, output in other.template.get("Outputs", {}).items():
                name = output.get("Export", {}).get("Name")
                if name is not None and self.resolve(other, name, where) == export:
                    return self.output(other, output_name, where)
        raise AssemblyError(
            f"{where}: no stack of {stack.account}/{stack.region} exports {export!r}"
        )

    def output(self, stack: Stack, name: str, where: str) -> Any:
        outputs = stack.template.get("Outputs", {})
        if name not in outputs:
            raise AssemblyError(f"{where}: stack {stack.stack_name} has no output {name!r}")
        return self.resolve(stack, outputs[name]["Value"], f"{stack.path.name}: Outputs.{name}")

    # ------------------------------------------------------------------ Ref and Fn::GetAtt

    def _ref(self, stack: Stack, name: str, where: str) -> Any:
        pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": stack.partition,
            "AWS::URLSuffix": stack.url_suffix,
            "AWS::StackName": stack.stack_name,
            "AWS::StackId": (
                f"arn:{stack.partition}:cloudformation:{stack.region}:{stack.account}:stack/"
                f"{stack.stack_name}/{uuid.uuid5(_STANDIN_NAMESPACE, stack.stack_name)}"
            ),
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        parameters = stack.template.get("Parameters", {})
        if name in parameters:
            if "Default" not in parameters[name]:
                raise AssemblyError(f"{where}: parameter {name} has no default to resolve")
            return parameters[name]["Default"]
        return self.attribute(stack, name, "Ref", where)

    def attribute(self, stack: Stack, logical_id: str, attribute: str, where: str) -> Any:
        """Ref (attribute "Ref") or Fn::GetAtt of a resource, from its own properties."""
        key = (id(stack), logical_id, attribute)
        if key not in self._cache:
            self._cache[key] = self._attribute(stack, logical_id, attribute, where)
        return self._cache[key]

    def _attribute(self, stack: Stack, logical_id: str, attribute: str, where: str) -> Any:
        resource = stack.template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise AssemblyError(f"{where}: no resource {logical_id!r} in {stack.path.name}")
        kind = resource["Type"]
        spec = _TYPES.get(kind)
        if spec is None:
            raise AssemblyError(f"{where}: Ref/GetAtt of {kind} ({logical_id}) is not supported")
        values = spec(_Ctx(self, stack, logical_id, resource))
        if attribute not in values:
            raise AssemblyError(f"{where}: {kind} {logical_id} has no attribute {attribute!r} here")
        return values[attribute]


@dataclass
class _Ctx:
    """What a resource type's return values are computed from."""

    assembly: Assembly
    stack: Stack
    logical_id: str
    resource: dict[str, Any]

    def prop(self, name: str) -> Any:
        props = self.resource.get("Properties", {})
        if name not in props:
            return None
        return self.assembly.resolve(
            self.stack, props[name], self.stack.where(self.logical_id, name)
        )

    def name(self, prop: str | None, max_length: int = 64, lower: bool = False) -> str:
        """The physical name: the property when set, else a deterministic stand-in."""
        if prop is not None:
            value = self.prop(prop)
            if value is not None:
                return str(value)
        digest = (
            hashlib.sha256(
                f"{self.stack.account}/{self.stack.stack_name}/{self.logical_id}".encode()
            )
            .hexdigest()[:12]
            .upper()
        )
        stem = f"{self.stack.stack_name}-{self.logical_id}"[: max_length - 13]
        name = f"{stem}-{digest}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        s = self.stack
        return (
            f"arn:{s.partition}:{service}:{s.region if region else ''}:"
            f"{s.account if account else ''}:{resource}"
        )

    def standin_id(self, prefix: str) -> str:
        digest = hashlib.sha256(
            f"{self.stack.account}/{self.stack.stack_name}/{self.logical_id}".encode()
        )
        return f"{prefix}{digest.hexdigest()[:17]}"


def _role(c: _Ctx) -> dict[str, Any]:
    name, path = c.name("RoleName"), c.prop("Path") or "/"
    arn = c.arn("iam", f"role{path}{name}", region=False)
    return {"Ref": name, "Arn": arn, "RoleId": c.standin_id("AROA").upper()}


def _user(c: _Ctx) -> dict[str, Any]:
    name, path = c.name("UserName"), c.prop("Path") or "/"
    return {"Ref": name, "Arn": c.arn("iam", f"user{path}{name}", region=False)}


def _managed_policy(c: _Ctx) -> dict[str, Any]:
    name, path = c.name("ManagedPolicyName", 128), c.prop("Path") or "/"
    arn = c.arn("iam", f"policy{path}{name}", region=False)
    return {"Ref": arn, "PolicyArn": arn}


def _bucket(c: _Ctx) -> dict[str, Any]:
    name = c.name("BucketName", 63, lower=True)
    s = c.stack
    return {
        "Ref": name,
        "Arn": f"arn:{s.partition}:s3:::{name}",
        "DomainName": f"{name}.s3.{s.url_suffix}",
        "RegionalDomainName": f"{name}.s3.{s.region}.{s.url_suffix}",
    }


def _key(c: _Ctx) -> dict[str, Any]:
    key_id = str(
        uuid.uuid5(_STANDIN_NAMESPACE, f"{c.stack.account}/{c.stack.stack_name}/{c.logical_id}")
    )
    return {"Ref": key_id, "KeyId": key_id, "Arn": c.arn("kms", f"key/{key_id}")}


def _topic(c: _Ctx) -> dict[str, Any]:
    name = c.name("TopicName", 256)
    arn = c.arn("sns", name)
    return {"Ref": arn, "TopicArn": arn, "TopicName": name}


def _queue(c: _Ctx) -> dict[str, Any]:
    name = c.name("QueueName", 80)
    url = f"https://sqs.{c.stack.region}.{c.stack.url_suffix}/{c.stack.account}/{name}"
    return {"Ref": url, "QueueUrl": url, "Arn": c.arn("sqs", name), "QueueName": name}


def _named(service: str, prop: str, arn_form: str, ref: str = "name", max_length: int = 64) -> Any:
    """A type whose Ref is its name or ARN and whose ARN attribute(s) follow `arn_form`."""

    def spec(c: _Ctx) -> dict[str, Any]:
        name = c.name(prop, max_length)
        arn = c.arn(service, arn_form.format(name=name))
        return {"Ref": arn if ref == "arn" else name, "Arn": arn, "Name": name}

    return spec


def _with(spec: Any, **aliases: str) -> Any:
    """Another attribute name for a value the spec computes (e.g. ModelPackageGroupArn)."""

    def wrapped(c: _Ctx) -> dict[str, Any]:
        values = dict(spec(c))
        for alias, source in aliases.items():
            values[alias] = values[source]
        return values

    return wrapped


def _standin(prefix: str, **attributes: str) -> Any:
    def spec(c: _Ctx) -> dict[str, Any]:
        value = c.standin_id(prefix)
        return {"Ref": value, **dict.fromkeys(attributes, value)}

    return spec


def _log_group(c: _Ctx) -> dict[str, Any]:
    name = c.name("LogGroupName", 512)
    return {"Ref": name, "Arn": c.arn("logs", f"log-group:{name}:*")}


def _schedule(c: _Ctx) -> dict[str, Any]:
    name = c.name("Name")
    group = c.prop("GroupName") or "default"
    return {"Ref": name, "Arn": c.arn("scheduler", f"schedule/{group}/{name}")}


def _layer(c: _Ctx) -> dict[str, Any]:
    name = c.name("LayerName", 140)
    arn = c.arn("lambda", f"layer:{name}:1")
    return {"Ref": arn, "LayerVersionArn": arn}


_TYPES: dict[str, Any] = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::User": _user,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::S3::Bucket": _bucket,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": lambda c: {"Ref": c.name("AliasName", 256)},
    "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue,
    "AWS::Lambda::Function": _named("lambda", "FunctionName", "function:{name}"),
    "AWS::Lambda::LayerVersion": _layer,
    "AWS::Events::EventBus": _named("events", "Name", "event-bus/{name}"),
    "AWS::Events::Rule": _named("events", "Name", "rule/{name}"),
    "AWS::Logs::LogGroup": _log_group,
    "AWS::CodeBuild::Project": _named("codebuild", "Name", "project/{name}", max_length=150),
    "AWS::CodePipeline::Pipeline": _named("codepipeline", "Name", "{name}", max_length=100),
    "AWS::CloudWatch::Alarm": _named("cloudwatch", "AlarmName", "alarm:{name}", max_length=255),
    "AWS::CloudWatch::Dashboard": _named("cloudwatch", "DashboardName", "dashboard/{name}"),
    "AWS::SageMaker::ModelPackageGroup": _with(
        _named("sagemaker", "ModelPackageGroupName", "model-package-group/{name}", ref="arn"),
        ModelPackageGroupArn="Arn",
        ModelPackageGroupName="Name",
    ),
    "AWS::SageMaker::Pipeline": _with(
        _named("sagemaker", "PipelineName", "pipeline/{name}"), PipelineName="Name"
    ),
    "AWS::SageMaker::Model": _with(
        _named("sagemaker", "ModelName", "model/{name}", ref="arn"), ModelName="Name"
    ),
    "AWS::SageMaker::EndpointConfig": _with(
        _named("sagemaker", "EndpointConfigName", "endpoint-config/{name}", ref="arn"),
        EndpointConfigName="Name",
    ),
    "AWS::SageMaker::Endpoint": _with(
        _named("sagemaker", "EndpointName", "endpoint/{name}", ref="arn"), EndpointName="Name"
    ),
    "AWS::SageMaker::MlflowTrackingServer": _with(
        _named("sagemaker", "TrackingServerName", "mlflow-tracking-server/{name}"),
        TrackingServerArn="Arn",
    ),
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SSM::Parameter": lambda c: {"Ref": c.name("Name", 2048)},
    "AWS::EC2::VPC": _standin("vpc-", VpcId="x", CidrBlock="x"),
    "AWS::EC2::Subnet": _standin("subnet-", SubnetId="x"),
    "AWS::EC2::SecurityGroup": _standin("sg-", GroupId="x"),
    "AWS::EC2::VPCEndpoint": _standin("vpce-", Id="x"),
    "AWS::EC2::RouteTable": _standin("rtb-", RouteTableId="x"),
}
