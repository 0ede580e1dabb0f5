"""Policy documents, parsed once and matched against requests.

Sources (IAM User Guide, "IAM JSON policy element reference"): Version (policy variables only
under 2012-10-17), Statement, Sid, Effect (Allow or Deny), Action/NotAction (case-insensitive,
wildcards), Resource/NotResource (case-sensitive, wildcards, variables), Principal/NotPrincipal
(resource-based policies and trust policies only), Condition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from finmlops.iam.conditions import Condition, Operator, PolicyError
from finmlops.iam.context import RequestContext, Template, parse_template, scalar_text
from finmlops.iam.principals import Caller, MatchLevel, PrincipalSpec
from finmlops.iam.wildcards import action_matches, arn_matches

PolicyKind = Literal["identity", "resource"]
VARIABLES_VERSION = "2012-10-17"


@dataclass(frozen=True)
class Statement:
    policy: str  # the policy's name, for reports
    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[Template, ...] | None  # None: the element is absent
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"{self.policy} {self.sid or f'Statement[{self.index}]'}"

    def matches_action(self, action: str) -> bool:
        hit = any(action_matches(pattern, action) for pattern in self.actions)
        return not hit if self.not_action else hit

    def matches_resource(self, resource: str, context: RequestContext) -> bool:
        if self.resources is None:
            return True  # a resource-based policy may leave it out: its resource is implied
        hit = False
        for template in self.resources:
            pattern = template.render(context)
            if pattern is not None and arn_matches(pattern, resource):
                hit = True
                break
        return not hit if self.not_resource else hit

    def principal_level(self, caller: Caller) -> MatchLevel | None:
        """How the statement's Principal/NotPrincipal covers the caller (resource policies)."""
        if self.principal is None:
            return "exact"  # identity-based: the caller is the holder
        if self.not_principal:
            return None if self.principal.excludes(caller) else "exact"
        return self.principal.match(caller)

    def conditions_hold(self, context: RequestContext) -> bool:
        return all(condition.holds(context) for condition in self.conditions)


@dataclass(frozen=True)
class Policy:
    name: str
    kind: PolicyKind
    statements: tuple[Statement, ...]
    document: Mapping[str, Any]

    @classmethod
    def parse(
        cls, document: Mapping[str, Any] | str, *, name: str, kind: PolicyKind = "identity"
    ) -> Policy:
        """A policy document (dict or JSON text); PolicyError names the policy and statement."""
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError as error:
                raise PolicyError(f"{name}: not JSON: {error}") from error
        if not isinstance(document, Mapping):
            raise PolicyError(f"{name}: a policy document is a JSON object")
        variables = document.get("Version") == VARIABLES_VERSION
        raw = document.get("Statement")
        if raw is None:
            raise PolicyError(f"{name}: no Statement")
        items = raw if isinstance(raw, list) else [raw]
        statements = tuple(
            _statement(item, name, index, kind, variables) for index, item in enumerate(items)
        )
        return cls(name=name, kind=kind, statements=statements, document=document)


def _as_strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"{where}: expected strings, found {item!r}")
        out.append(item)
    return tuple(out)


def _statement(item: Any, policy: str, index: int, kind: PolicyKind, variables: bool) -> Statement:
    where = f"{policy}: Statement[{index}]"
    if not isinstance(item, Mapping):
        raise PolicyError(f"{where}: a statement is a JSON object")
    sid = item.get("Sid")
    if sid is not None:
        where = f"{policy}: Statement[{index}] ({sid})"
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be Allow or Deny, not {effect!r}")

    actions, not_action = _one_of(item, "Action", "NotAction", where, required=True)
    resources, not_resource = _one_of(
        item, "Resource", "NotResource", where, required=kind == "identity"
    )
    has_principal = "Principal" in item or "NotPrincipal" in item
    if kind == "identity" and has_principal:
        raise PolicyError(f"{where}: an identity-based policy has no Principal")
    if kind == "resource" and not has_principal:
        raise PolicyError(f"{where}: a resource-based policy needs a Principal or NotPrincipal")
    principal = None
    not_principal = "NotPrincipal" in item
    if has_principal:
        if "Principal" in item and not_principal:
            raise PolicyError(f"{where}: both Principal and NotPrincipal")
        principal = PrincipalSpec.parse(
            item["NotPrincipal" if not_principal else "Principal"], where
        )

    conditions = _conditions(item.get("Condition", {}), where, variables)
    return Statement(
        policy=policy,
        index=index,
        sid=sid,
        effect=effect,
        actions=actions or (),
        not_action=not_action,
        resources=(
            None if resources is None else tuple(parse_template(r, variables) for r in resources)
        ),
        not_resource=not_resource,
        principal=principal,
        not_principal=not_principal,
        conditions=conditions,
    )


def _one_of(
    item: Mapping[str, Any], name: str, negated: str, where: str, *, required: bool
) -> tuple[tuple[str, ...] | None, bool]:
    if name in item and negated in item:
        raise PolicyError(f"{where}: both {name} and {negated}")
    if negated in item:
        return _as_strings(item[negated], f"{where}.{negated}"), True
    if name in item:
        return _as_strings(item[name], f"{where}.{name}"), False
    if required:
        raise PolicyError(f"{where}: needs {name} or {negated}")
    return None, False


def _conditions(block: Any, where: str, variables: bool) -> tuple[Condition, ...]:
    if not isinstance(block, Mapping):
        raise PolicyError(f"{where}: Condition must be an object")
    out: list[Condition] = []
    for operator_text, keys in block.items():
        try:
            operator = Operator.parse(operator_text)
        except PolicyError as error:
            raise PolicyError(f"{where}: {error}") from error
        if not isinstance(keys, Mapping):
            raise PolicyError(f"{where}: Condition.{operator_text} must map keys to values")
        for key, raw in keys.items():
            values = raw if isinstance(raw, list) else [raw]
            try:
                texts = tuple(scalar_text(v) for v in values)
            except TypeError as error:
                raise PolicyError(f"{where}: Condition.{operator_text}.{key}: {error}") from error
            out.append(Condition.build(operator, key, texts, variables))
    return tuple(out)


def parse_policies(
    documents: Sequence[Mapping[str, Any] | str | Policy], *, kind: PolicyKind, name: str
) -> tuple[Policy, ...]:
    """Policies from documents or already-parsed Policy objects."""
    return tuple(
        d if isinstance(d, Policy) else Policy.parse(d, name=f"{name}[{i}]", kind=kind)
        for i, d in enumerate(documents)
    )
