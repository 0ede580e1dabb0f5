"""The synthesized platform as IAM sees it: roles with their policies, resources with theirs,
and the decision for a request made by one of those roles (or by a person) in any account.

    platform = Platform.load("cdk.out")
    platform.decide(
        principal="arn:aws:sts::111111111111:assumed-role/ModelRiskApprover/jane",
        action="sagemaker:UpdateModelPackage",
        resource="arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/3",
        context={"sagemaker:ModelApprovalStatus": "Approved"},
    )

The request context: keys AWS derives from who calls and what is called are set here and
cannot be passed in (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:username,
aws:PrincipalTag/*, aws:ResourceAccount, aws:ResourceTag/*, kms:ResourceAliases). Everything
else comes from `context`, and must be what the caller's request carries (the request's
parameters as the service's condition keys, aws:SecureTransport, sts:RoleSessionName, ...) or
what AWS recorded for the caller's session (aws:SourceIdentity, aws:MultiFactorAuthPresent):
never from a parameter, tag or metadata the caller chooses in place of those.

Roles (trust policy, inline `Policies`, `ManagedPolicyArns`, AWS::IAM::ManagedPolicy and
AWS::IAM::Policy attached through `Roles`, `PermissionsBoundary`) and resource-based policies
(S3 bucket policies, KMS key policies, SageMaker model package group policies, SQS queue
policies, SNS topic policies, EventBridge bus policies, Lambda permissions) are read from every
stack. A managed policy that is not in the assembly (an AWS managed policy) is listed in
`Role.unknown_policies` and left out of decisions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finmlops.iam.cloudformation import Assembly, AssemblyError, Stack
from finmlops.iam.context import ContextValue, RequestContext
from finmlops.iam.evaluate import Decision, Request, ResourceRule, evaluate
from finmlops.iam.policy import Policy, parse_policies
from finmlops.iam.principals import Caller

ResourceKind = Literal[
    "s3-bucket",
    "kms-key",
    "model-package-group",
    "sqs-queue",
    "sns-topic",
    "event-bus",
    "lambda-function",
    "iam-role",
]

# Keys AWS fills in from the authenticated principal and the resource, never from the caller.
DERIVED_KEYS = (
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principaltype",
    "aws:username",
    "aws:userid",
    "aws:principaltag/",
    "aws:principalisawsservice",
    "aws:resourceaccount",
    "aws:resourcetag/",
    "kms:resourcealiases",
)

# The identity policy given to a caller from outside the assembly (a person's IAM user, an SSO
# role) when the test names none: everything sts:AssumeRole needs on every role. The decision
# then shows what the role's trust policy alone enforces.
ANY_ROLE_CALLER: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "CallerMayAssumeAnyRole",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class Role:
    arn: str
    name: str
    path: str
    account: str
    environment: str
    source: str  # template file and logical id
    trust: Policy
    policies: tuple[Policy, ...]
    boundary: Policy | None
    tags: Mapping[str, str]
    unknown_policies: tuple[str, ...] = ()

    def session_arn(self, session_name: str) -> str:
        partition = self.arn.split(":")[1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{self.name}/{session_name}"


@dataclass(frozen=True)
class Resource:
    """A resource that carries a resource-based policy."""

    arn: str
    kind: ResourceKind
    account: str
    environment: str
    policy: Policy | None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    versions_prefix: str | None = None  # model packages of a group are governed by its policy

    def covers(self, arn: str) -> bool:
        if arn == self.arn:
            return True
        if self.kind == "s3-bucket":
            return arn.startswith(self.arn + "/")
        if self.kind == "lambda-function":
            return arn.startswith(self.arn + ":")
        return self.versions_prefix is not None and arn.startswith(self.versions_prefix)


class Platform:
    """Roles and resource policies of a synthesized assembly; decisions on requests."""

    def __init__(
        self, assembly: Assembly, roles: Mapping[str, Role], resources: Sequence[Resource]
    ):
        self.assembly = assembly
        self.roles: dict[str, Role] = dict(roles)
        self.resources: list[Resource] = list(resources)
        self._roles_by_name = {(r.account, r.name): r for r in self.roles.values()}
        self._resources_by_arn = {r.arn: r for r in self.resources}
        self.accounts: dict[str, str] = {s.environment: s.account for s in assembly.stacks}

    @classmethod
    def load(cls, cdk_out: str | Path) -> Platform:
        """Read a cloud assembly; AssemblyError or PolicyError names what cannot be read."""
        assembly = Assembly.load(cdk_out)
        return _Loader(assembly).platform()

    # ------------------------------------------------------------------ lookups

    def role(self, name_or_arn: str, environment: str | None = None) -> Role:
        """A role by ARN, or by name (in one environment when several share it)."""
        if name_or_arn in self.roles:
            return self.roles[name_or_arn]
        found = [
            r
            for r in self.roles.values()
            if r.name == name_or_arn and (environment is None or r.environment == environment)
        ]
        if len(found) != 1:
            where = f" in {environment}" if environment else ""
            raise KeyError(f"{len(found)} roles named {name_or_arn!r}{where} in the assembly")
        return found[0]

    def resource(self, arn: str) -> Resource | None:
        """The resource whose resource-based policy governs `arn`, if the assembly has one."""
        if arn in self._resources_by_arn:
            return self._resources_by_arn[arn]
        for resource in self.resources:
            if resource.covers(arn):
                return resource
        return None

    def caller(self, principal: str) -> tuple[Caller, Role | None]:
        caller = Caller.parse(principal)
        if caller.kind == "role-session":
            name = caller.arn.split("/")[1]
            role = self._roles_by_name.get((str(caller.account), name))
            if role is not None:
                caller = Caller.parse(principal, role_path=role.path)
            return caller, role
        if caller.kind == "role":
            return caller, self.roles.get(caller.arn)
        return caller, None

    # ------------------------------------------------------------------ decisions

    def decide(
        self,
        principal: str,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        *,
        resource_account: str | None = None,
        principal_policies: Sequence[Mapping[str, Any] | Policy] | None = None,
        session_policies: Sequence[Mapping[str, Any] | Policy] | None = None,
    ) -> Decision:
        """IAM's decision for `principal` calling `action` on `resource`.

        `principal` is what AWS authenticated: an assumed-role session ARN, a role ARN (any
        session of it), an IAM user ARN or a service principal. A role of the assembly brings
        its own policies; any other principal has `principal_policies` (none by default).
        `resource_account` is needed only for a resource outside the assembly whose ARN has no
        account (an S3 bucket). `session_policies` are those the session was created with
        (AssumeRole's `Policy`/`PolicyArns`)."""
        caller, role = self.caller(principal)
        identity = (
            role.policies
            if role
            else parse_policies(
                principal_policies or [], kind="identity", name=f"policies of {principal}"
            )
        )
        target = self.resource(resource)
        rule: ResourceRule = "default"
        resource_policy = target.policy if target else None
        if target is not None and target.kind == "kms-key":
            rule = "key"
        elif target is not None and target.kind == "iam-role":
            # A trust policy governs the sts: actions on the role; iam:PassRole, iam:GetRole and
            # the like are the caller's identity policies' alone (IAM has no other resource policy).
            if action.lower().startswith("sts:"):
                rule = "trust"
            else:
                resource_policy = None
        account = target.account if target else resource_account or _arn_account(resource)
        if account is None:
            raise ValueError(
                f"{resource}: the assembly does not hold this resource and its ARN names no "
                "account: pass resource_account="
            )
        request = Request(
            caller=caller,
            action=action,
            resource=resource,
            resource_account=account,
            context=self._context(caller, role, target, account, context or {}),
        )
        return evaluate(
            request,
            identity=identity,
            resource_policy=resource_policy,
            rule=rule,
            boundary=role.boundary if role else None,
            session_policies=(
                None
                if session_policies is None
                else parse_policies(
                    session_policies, kind="identity", name=f"session of {principal}"
                )
            ),
        )

    def can_assume(
        self,
        caller: str,
        role_arn: str,
        context: Mapping[str, ContextValue] | None = None,
        *,
        caller_policies: Sequence[Mapping[str, Any] | Policy] | None = None,
    ) -> Decision:
        """Whether `caller` may call sts:AssumeRole on a role of the assembly.

        `context` carries what the AssumeRole request sends (`sts:SourceIdentity`,
        `sts:RoleSessionName`, `sts:ExternalId`, `aws:RequestTag/...`) and what AWS recorded for
        the caller's own session (`aws:SourceIdentity`, `aws:MultiFactorAuthPresent`). Rules of
        the STS docs ("Monitor and control actions taken with assumed roles"): a source identity
        once set cannot be changed, it follows role chaining (so the caller's `aws:SourceIdentity`
        becomes the request's `sts:SourceIdentity`), and setting it needs `sts:SetSourceIdentity`
        in the trust policy (and in the caller's identity policy); tags need `sts:TagSession`.

        A caller that is not a role of the assembly gets `caller_policies`, by default
        ANY_ROLE_CALLER, so that the decision is the trust policy's."""
        role = self.roles.get(role_arn)
        if role is None:
            raise KeyError(f"no role {role_arn!r} in the assembly")
        values = dict(context or {})
        lowered = {k.lower(): k for k in values}
        session_identity = values.get(lowered.get("aws:sourceidentity", ""))
        requested = values.get(lowered.get("sts:sourceidentity", ""))
        if session_identity is not None and requested is not None and requested != session_identity:
            parsed, _ = self.caller(caller)
            request = Request(
                parsed, "sts:AssumeRole", role_arn, role.account, RequestContext(values)
            )
            return Decision(
                "explicit-deny",
                f"the caller's session has source identity {session_identity!r}, which cannot be "
                f"changed to {requested!r}",
                request,
            )
        if session_identity is not None and requested is None:
            values["sts:SourceIdentity"] = session_identity
        known = self.caller(caller)[1] is not None
        policies = None if known else (caller_policies or [ANY_ROLE_CALLER])
        actions = ["sts:AssumeRole"]
        if any(k.lower() == "sts:sourceidentity" for k in values):
            actions.append("sts:SetSourceIdentity")
        if any(
            k.lower().startswith("aws:requesttag/") or k.lower() == "aws:tagkeys" for k in values
        ):
            actions.append("sts:TagSession")
        decisions = [
            self.decide(caller, action, role_arn, values, principal_policies=policies)
            for action in actions
        ]
        for decision in decisions:
            if not decision.allowed:
                return decision
        first = decisions[0]
        matches = tuple(m for d in decisions for m in d.statements)
        return Decision(
            first.outcome, "; ".join(d.reason for d in decisions), first.request, matches
        )

    # ------------------------------------------------------------------ context

    def _context(
        self,
        caller: Caller,
        role: Role | None,
        target: Resource | None,
        resource_account: str,
        given: Mapping[str, ContextValue],
    ) -> RequestContext:
        for key in given:
            lowered = key.lower()
            if any(
                lowered == d or (d.endswith("/") and lowered.startswith(d)) for d in DERIVED_KEYS
            ):
                raise ValueError(
                    f"context key {key!r} is set by AWS from the authenticated principal or the "
                    "resource, not by the caller: leave it out"
                )
        derived: dict[str, ContextValue] = {
            "aws:PrincipalType": caller.principal_type,
            "aws:PrincipalIsAWSService": caller.kind == "service",
            "aws:ResourceAccount": resource_account,
        }
        if caller.kind != "service":
            derived["aws:PrincipalArn"] = caller.principal_arn
            derived["aws:PrincipalAccount"] = str(caller.account)
        if caller.kind == "user" and caller.user_name:
            derived["aws:username"] = caller.user_name
        if role is not None:
            for key, value in role.tags.items():
                derived[f"aws:PrincipalTag/{key}"] = value
        if target is not None:
            for key, value in target.tags.items():
                derived[f"aws:ResourceTag/{key}"] = value
            if target.kind == "kms-key":
                derived["kms:ResourceAliases"] = list(target.aliases)
        return RequestContext(derived).with_values(given)


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {str(t["Key"]): str(t["Value"]) for t in value if isinstance(t, Mapping)}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {}


def _document(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise AssemblyError(f"{where}: policy is not JSON: {error}") from error
    return value


class _Loader:
    """Builds the Platform: roles first (every stack), then the policies attached to them."""

    def __init__(self, assembly: Assembly):
        self.a = assembly
        self.roles: dict[str, dict[str, Any]] = {}  # arn -> parts being assembled
        self.by_name: dict[tuple[str, str], str] = {}
        self.policies_by_arn: dict[str, Policy] = {}
        self.resources: dict[str, dict[str, Any]] = {}

    def platform(self) -> Platform:
        for stack in self.a.stacks:
            self._managed_policies(stack)
        for stack in self.a.stacks:
            self._roles(stack)
        for stack in self.a.stacks:
            self._attachments(stack)
            self._resource_policies(stack)
        roles = {
            arn: Role(
                arn=arn,
                name=p["name"],
                path=p["path"],
                account=p["account"],
                environment=p["environment"],
                source=p["source"],
                trust=p["trust"],
                policies=tuple(p["policies"]),
                boundary=p["boundary"],
                tags=p["tags"],
                unknown_policies=tuple(p["unknown"]),
            )
            for arn, p in self.roles.items()
        }
        resources = [
            Resource(
                arn=arn,
                kind=p["kind"],
                account=p["account"],
                environment=p["environment"],
                policy=(
                    Policy(
                        name=p["name"],
                        kind="resource",
                        statements=tuple(s for pol in p["policies"] for s in pol.statements),
                        document={
                            "Statement": [d for pol in p["policies"] for d in _statements(pol)]
                        },
                    )
                    if p["policies"]
                    else None
                ),
                tags=p["tags"],
                aliases=tuple(sorted(p["aliases"])),
                versions_prefix=p.get("versions_prefix"),
            )
            for arn, p in self.resources.items()
        ]
        for role in roles.values():
            resources.append(
                Resource(
                    arn=role.arn,
                    kind="iam-role",
                    account=role.account,
                    environment=role.environment,
                    policy=role.trust,
                    tags=role.tags,
                )
            )
        return Platform(self.a, roles, resources)

    def _policy(self, stack: Stack, logical_id: str, prop: str, document: Any, kind: str) -> Policy:
        where = stack.where(logical_id, prop)
        resolved = _document(self.a.resolve(stack, document, where), where)
        return Policy.parse(
            resolved,
            name=f"{stack.environment or stack.stack_name}/{stack.component} {logical_id}",
            kind="resource" if kind == "resource" else "identity",
        )

    def _managed_policies(self, stack: Stack) -> None:
        for logical_id, resource in stack.resources("AWS::IAM::ManagedPolicy"):
            props = resource.get("Properties", {})
            arn = self.a.attribute(stack, logical_id, "PolicyArn", stack.where(logical_id))
            self.policies_by_arn[arn] = self._policy(
                stack, logical_id, "PolicyDocument", props["PolicyDocument"], "identity"
            )

    def _roles(self, stack: Stack) -> None:
        for logical_id, resource in stack.resources("AWS::IAM::Role"):
            props = resource.get("Properties", {})
            where = stack.where(logical_id)
            arn = self.a.attribute(stack, logical_id, "Arn", where)
            name = self.a.attribute(stack, logical_id, "Ref", where)
            trust = self._policy(
                stack,
                logical_id,
                "AssumeRolePolicyDocument",
                props["AssumeRolePolicyDocument"],
                "resource",
            )
            policies: list[Policy] = []
            for index, inline in enumerate(props.get("Policies", [])):
                policies.append(
                    self._policy(
                        stack,
                        logical_id,
                        f"Policies[{index}]",
                        inline["PolicyDocument"],
                        "identity",
                    )
                )
            unknown: list[str] = []
            for managed in self.a.resolve(stack, props.get("ManagedPolicyArns", []), where) or []:
                if managed in self.policies_by_arn:
                    policies.append(self.policies_by_arn[managed])
                else:
                    unknown.append(managed)
            boundary = None
            if "PermissionsBoundary" in props:
                boundary_arn = self.a.resolve_str(stack, props["PermissionsBoundary"], where)
                boundary = self.policies_by_arn.get(boundary_arn)
                if boundary is None:
                    raise AssemblyError(
                        f"{where}.PermissionsBoundary: {boundary_arn} is not in the assembly"
                    )
            self.roles[arn] = {
                "name": name,
                "path": self.a.resolve(stack, props.get("Path", "/"), where),
                "account": stack.account,
                "environment": stack.environment,
                "source": where,
                "trust": trust,
                "policies": policies,
                "boundary": boundary,
                "tags": _tags(self.a.resolve(stack, props.get("Tags", []), where)),
                "unknown": unknown,
            }
            self.by_name[(stack.account, name)] = arn

    def _attachments(self, stack: Stack) -> None:
        for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for logical_id, resource in stack.resources(kind):
                props = resource.get("Properties", {})
                where = stack.where(logical_id, "Roles")
                if kind == "AWS::IAM::ManagedPolicy":
                    arn = self.a.attribute(stack, logical_id, "PolicyArn", where)
                    policy = self.policies_by_arn[arn]
                else:
                    policy = self._policy(
                        stack, logical_id, "PolicyDocument", props["PolicyDocument"], "identity"
                    )
                for role_name in self.a.resolve(stack, props.get("Roles", []), where) or []:
                    self._attach(stack, str(role_name), policy, where)
        for logical_id, resource in stack.resources("AWS::IAM::RolePolicy"):
            props = resource.get("Properties", {})
            where = stack.where(logical_id, "RoleName")
            policy = self._policy(
                stack, logical_id, "PolicyDocument", props["PolicyDocument"], "identity"
            )
            self._attach(stack, self.a.resolve_str(stack, props["RoleName"], where), policy, where)

    def _attach(self, stack: Stack, role_name: str, policy: Policy, where: str) -> None:
        # Roles lists names; a role of another stack of the same account is named the same way.
        arn = self.by_name.get((stack.account, role_name.rsplit("/", 1)[-1]))
        if arn is None:
            raise AssemblyError(f"{where}: no role {role_name!r} in account {stack.account}")
        if policy not in self.roles[arn]["policies"]:
            self.roles[arn]["policies"].append(policy)

    def _holder(
        self,
        stack: Stack,
        arn: str,
        kind: ResourceKind,
        *,
        logical_id: str | None = None,
    ) -> dict[str, Any]:
        if arn not in self.resources:
            tags: dict[str, str] = {}
            if logical_id is not None:
                props = stack.template["Resources"][logical_id].get("Properties", {})
                tags = _tags(self.a.resolve(stack, props.get("Tags", []), stack.where(logical_id)))
            self.resources[arn] = {
                "kind": kind,
                "account": stack.account,
                "environment": stack.environment,
                "name": f"{kind} {arn}",
                "policies": [],
                "tags": tags,
                "aliases": set(),
            }
        return self.resources[arn]

    def _find(self, stack: Stack, kind: str, attribute: str, value: str) -> str | None:
        """The logical id of the stack's resource of `kind` whose attribute equals `value`."""
        for logical_id, _ in stack.resources(kind):
            if self.a.attribute(stack, logical_id, attribute, stack.where(logical_id)) == value:
                return logical_id
        return None

    def _resource_policies(self, stack: Stack) -> None:  # noqa: PLR0912 - one branch a type
        a = self.a
        for logical_id, resource in stack.resources():
            kind = resource["Type"]
            props = resource.get("Properties", {})
            where = stack.where(logical_id)
            if kind == "AWS::S3::Bucket":
                self._holder(
                    stack,
                    a.attribute(stack, logical_id, "Arn", where),
                    "s3-bucket",
                    logical_id=logical_id,
                )
            elif kind == "AWS::S3::BucketPolicy":
                bucket = a.resolve_str(stack, props["Bucket"], f"{where}.Bucket")
                arn = f"arn:{stack.partition}:s3:::{bucket}"
                owner = self._find(stack, "AWS::S3::Bucket", "Ref", bucket)
                holder = self._holder(stack, arn, "s3-bucket", logical_id=owner)
                holder["policies"].append(
                    self._policy(
                        stack, logical_id, "PolicyDocument", props["PolicyDocument"], "resource"
                    )
                )
            elif kind == "AWS::KMS::Key":
                arn = a.attribute(stack, logical_id, "Arn", where)
                holder = self._holder(stack, arn, "kms-key", logical_id=logical_id)
                if "KeyPolicy" in props:
                    holder["policies"].append(
                        self._policy(stack, logical_id, "KeyPolicy", props["KeyPolicy"], "resource")
                    )
            elif kind == "AWS::KMS::Alias":
                target = a.resolve_str(stack, props["TargetKeyId"], f"{where}.TargetKeyId")
                key_arn = (
                    target
                    if target.startswith("arn:")
                    else (f"arn:{stack.partition}:kms:{stack.region}:{stack.account}:key/{target}")
                )
                holder = self._holder(stack, key_arn, "kms-key")
                holder["aliases"].add(
                    a.resolve_str(stack, props["AliasName"], f"{where}.AliasName")
                )
            elif kind == "AWS::SageMaker::ModelPackageGroup":
                arn = a.attribute(stack, logical_id, "ModelPackageGroupArn", where)
                holder = self._holder(stack, arn, "model-package-group", logical_id=logical_id)
                name = a.attribute(stack, logical_id, "ModelPackageGroupName", where)
                holder["versions_prefix"] = arn.replace(
                    f"model-package-group/{name}", f"model-package/{name}/"
                )
                if "ModelPackageGroupPolicy" in props:
                    holder["policies"].append(
                        self._policy(
                            stack,
                            logical_id,
                            "ModelPackageGroupPolicy",
                            props["ModelPackageGroupPolicy"],
                            "resource",
                        )
                    )
            elif kind == "AWS::SQS::QueuePolicy":
                policy = self._policy(
                    stack, logical_id, "PolicyDocument", props["PolicyDocument"], "resource"
                )
                for url in a.resolve(stack, props["Queues"], f"{where}.Queues"):
                    host, account, name = str(url).rsplit("/", 2)
                    region = host.split(".")[1]
                    arn = f"arn:{stack.partition}:sqs:{region}:{account}:{name}"
                    self._holder(stack, arn, "sqs-queue")["policies"].append(policy)
            elif kind == "AWS::SNS::TopicPolicy":
                policy = self._policy(
                    stack, logical_id, "PolicyDocument", props["PolicyDocument"], "resource"
                )
                for arn in a.resolve(stack, props["Topics"], f"{where}.Topics"):
                    self._holder(stack, str(arn), "sns-topic")["policies"].append(policy)
            elif kind == "AWS::Events::EventBusPolicy":
                self._bus_policy(stack, logical_id, props)
            elif kind == "AWS::Lambda::Permission":
                self._lambda_permission(stack, logical_id, props)

    def _bus_policy(self, stack: Stack, logical_id: str, props: Mapping[str, Any]) -> None:
        where = stack.where(logical_id)
        bus = self.a.resolve_str(stack, props.get("EventBusName", "default"), where)
        arn = (
            bus
            if bus.startswith("arn:")
            else (f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/{bus}")
        )
        if "Statement" in props:
            statement = props["Statement"]
        else:  # the older form: one permission given by its parts
            principal = self.a.resolve_str(stack, props["Principal"], where)
            statement = {
                "Sid": props.get("StatementId"),
                "Effect": "Allow",
                "Principal": {
                    "AWS": principal
                    if principal == "*"
                    else f"arn:{stack.partition}:iam::{principal}:root"
                },
                "Action": props.get("Action", "events:PutEvents"),
                "Resource": arn,
                **({"Condition": props["Condition"]} if "Condition" in props else {}),
            }
        document = {"Version": "2012-10-17", "Statement": [statement]}
        self._holder(stack, arn, "event-bus")["policies"].append(
            self._policy(stack, logical_id, "Statement", document, "resource")
        )

    def _lambda_permission(self, stack: Stack, logical_id: str, props: Mapping[str, Any]) -> None:
        # Lambda turns AddPermission into a statement of the function's resource-based policy
        # (Lambda Developer Guide, "Viewing resource-based IAM policies in Lambda").
        where = stack.where(logical_id)
        function = self.a.resolve_str(stack, props["FunctionName"], f"{where}.FunctionName")
        arn = (
            function
            if function.startswith("arn:")
            else (
                f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:function:{function}"
            )
        )
        principal = self.a.resolve_str(stack, props["Principal"], f"{where}.Principal")
        if principal.endswith(".amazonaws.com"):
            who: dict[str, Any] = {"Service": principal}
        elif principal == "*" or principal.startswith("arn:"):
            who = {"AWS": principal}
        else:
            who = {"AWS": f"arn:{stack.partition}:iam::{principal}:root"}
        condition: dict[str, dict[str, Any]] = {}
        if "SourceArn" in props:
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = props["SourceArn"]
        if "SourceAccount" in props:
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = props["SourceAccount"]
        if "PrincipalOrgID" in props:
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = props["PrincipalOrgID"]
        statement = {
            "Sid": logical_id,
            "Effect": "Allow",
            "Principal": who,
            "Action": props["Action"],
            "Resource": arn,
            **({"Condition": condition} if condition else {}),
        }
        document = {"Version": "2012-10-17", "Statement": [statement]}
        self._holder(
            stack,
            arn.split(":function:")[0] + ":function:" + arn.split(":function:")[1].split(":")[0],
            "lambda-function",
        )["policies"].append(self._policy(stack, logical_id, "FunctionName", document, "resource"))


def _statements(policy: Policy) -> list[Any]:
    raw = policy.document.get("Statement", [])
    return list(raw) if isinstance(raw, list) else [raw]
