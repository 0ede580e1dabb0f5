"""A small reader of the synthesized IAM policies: which statements apply to a request, and the
decision IAM's evaluation logic gives them (explicit Deny, then Allow, else implicit deny).

It implements what the platform's policies use, from the IAM User Guide ("Policy evaluation
logic", "IAM JSON policy elements: Condition operators", "Single-valued vs. multivalued context
keys", "Policy variables"): wildcards in actions (case-insensitive) and resources; String*,
Arn*, Bool and Null operators with `IfExists`, `ForAnyValue:` and `ForAllValues:`; a negated
operator matches a request without the key; condition key names are case-insensitive; a policy
variable whose key the request lacks matches nothing. An operator it does not know fails the
test instead of guessing. moto does not evaluate `sagemaker:` or `sts:` condition keys, so the
attack tests decide access here, from the templates; this is a reading aid for the policies,
not a substitute for IAM (nothing here was deployed to AWS).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

ALLOW, DENY, IMPLICIT = "Allow", "Deny", "implicit deny"
_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_NEGATED = {
    "StringNotEquals",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "StringNotEqualsIgnoreCase",
}
# Keys the Service Authorization Reference defines for the STS actions a trust policy judges
# (plus global aws: keys): a key an action does not define is absent from its request context.
STS_ACTION_KEYS = {
    "sts:assumerole": {"sts:rolesessionname", "sts:sourceidentity", "sts:externalid"},
    "sts:setsourceidentity": {"sts:sourceidentity"},
    "sts:tagsession": set(),
}

Context = Mapping[str, str | list[str]]


def render(
    value: Any, *, partition: str = "aws", region: str = "us-east-1", account: str = ""
) -> Any:
    """A template value with CloudFormation's pseudo parameters filled and references as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [render(v, partition=partition, region=region, account=account) for v in value]
    if isinstance(value, dict):
        if "Ref" in value:
            pseudo = {
                "AWS::Partition": partition,
                "AWS::Region": region,
                "AWS::AccountId": account,
                "AWS::URLSuffix": "amazonaws.com",
            }
            return pseudo.get(value["Ref"], f"<ref:{value['Ref']}>")
        if "Fn::GetAtt" in value:
            return "<getatt:{}>".format(".".join(value["Fn::GetAtt"]))
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            rendered = render(parts, partition=partition, region=region, account=account)
            return str(separator).join(str(p) for p in rendered)
        return {
            k: render(v, partition=partition, region=region, account=account)
            for k, v in value.items()
        }
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _lookup(context: Context, key: str) -> list[str] | None:
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(v) for v in _as_list(value)]
    return None


def _fill(value: str, context: Context) -> str | None:
    """Policy variables filled from the request; None when one is missing (matches nothing)."""
    missing = False

    def one(match: re.Match[str]) -> str:
        nonlocal missing
        found = _lookup(context, match.group(1))
        if found is None:
            missing = True
            return ""
        return found[0]

    filled = _VARIABLE.sub(one, value)
    return None if missing else filled


def _match_one(base: str, have: str, want: str) -> bool:
    if base in {"StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"}:
        return have == want
    if base in {"StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}:
        return have.lower() == want.lower()
    if base in {"StringLike", "StringNotLike", "ArnLike", "ArnNotLike"}:
        return fnmatch.fnmatchcase(have, want)
    if base == "Bool":
        return have.lower() == want.lower()
    raise AssertionError(f"condition operator {base} is not modelled here")


def _condition(operator: str, key: str, expected: Any, context: Context) -> bool:
    values = _lookup(context, key)
    if operator == "Null":
        return (values is None) == (str(expected).lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    wanted = [w for w in (_fill(str(e), context) for e in _as_list(expected)) if w is not None]
    negated = base in _NEGATED

    def holds(have: str) -> bool:
        hit = any(_match_one(base, have, want) for want in wanted)
        return not hit if negated else hit

    if qualifier == "ForAnyValue":
        return values is not None and any(holds(v) for v in values)
    if qualifier == "ForAllValues":
        return values is None or all(holds(v) for v in values)
    if qualifier:
        raise AssertionError(f"set operator {qualifier} is not modelled here")
    if values is None:
        return negated or if_exists
    return holds(values[0])


def _conditions_hold(statement: Mapping[str, Any], context: Context) -> bool:
    return all(
        _condition(operator, key, expected, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        raise AssertionError("NotAction is not modelled here")
    return any(fnmatch.fnmatch(action.lower(), a.lower()) for a in _as_list(statement["Action"]))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" not in statement:  # a trust policy's statements name no resource
        return True
    return any(fnmatch.fnmatchcase(resource, str(r)) for r in _as_list(statement["Resource"]))


def decide(
    statements: Iterable[Mapping[str, Any]], action: str, resource: str, context: Context
) -> str:
    """IAM's decision for one request under these (identity or trust) statements."""
    effects = {
        s["Effect"]
        for s in statements
        if _action_matches(s, action)
        and _resource_matches(s, resource)
        and _conditions_hold(s, context)
    }
    return DENY if DENY in effects else ALLOW if ALLOW in effects else IMPLICIT


def _principal_matches(statement: Mapping[str, Any], caller: str) -> bool:
    """An account root trusts every principal of the account (whose own identity policy must
    also allow the call, assumed here: the insider administers their own identity); a role or
    user ARN trusts that principal only."""
    principal = statement.get("Principal", {})
    account = caller.split(":")[4]
    for arn in _as_list(principal.get("AWS", [])) if isinstance(principal, dict) else []:
        if arn == caller or arn in {account, f"arn:aws:iam::{account}:root"}:
            return True
    return False


def can_assume(
    trust: Mapping[str, Any],
    caller: str,
    *,
    session_name: str,
    source_identity: str | None = None,
    mfa: bool = False,
    username: str | None = None,
) -> bool:
    """Whether the trust policy admits this AssumeRole call (and, with a source identity, the
    sts:SetSourceIdentity it implies, which STS authorizes on the same call)."""
    statements = [s for s in trust["Statement"] if _principal_matches(s, caller)]
    request: dict[str, str] = {
        "aws:PrincipalArn": caller,
        "aws:MultiFactorAuthPresent": str(mfa).lower(),
    }
    if username is not None:
        request["aws:username"] = username
    asked = {"sts:RoleSessionName": session_name}
    if source_identity is not None:
        asked["sts:SourceIdentity"] = source_identity
    actions = ["sts:AssumeRole"] + (
        ["sts:SetSourceIdentity"] if source_identity is not None else []
    )
    for action in actions:
        defined = STS_ACTION_KEYS[action.lower()]
        context = request | {k: v for k, v in asked.items() if k.lower() in defined}
        if decide(statements, action, "*", context) != ALLOW:
            return False
    return True


def role(synth: Any, env: str, role_name: str) -> tuple[dict[str, Any], str]:
    """(template, logical id) of the role with this name in one environment's stacks."""
    for template in synth.templates[env].values():
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Role" and props.get("RoleName") == role_name:
                return template, logical_id
    raise AssertionError(f"no role {role_name} in {env}")


def identity_statements(synth: Any, env: str, role_name: str, account: str) -> list[dict[str, Any]]:
    """Every statement of the managed policies attached to the role, rendered."""
    template, logical_id = role(synth, env, role_name)
    return [
        render(statement, account=account)
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        and {"Ref": logical_id} in resource["Properties"].get("Roles", [])
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def trust_policy(synth: Any, env: str, role_name: str) -> dict[str, Any]:
    template, logical_id = role(synth, env, role_name)
    document: dict[str, Any] = render(
        template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"]
    )
    return document
