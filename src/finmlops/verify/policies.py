"""Resource policies read as IAM reads them: compared as policies, not as strings, and probed for
the one statement the audit bucket relies on.

Two policies are equal when they have the same statements, each with the same effect,
principals, actions, resources and conditions, whatever the order, the single-value-or-list
spelling, the case of action names, or the `Sid`s (IAM User Guide, "IAM JSON policy element
reference": Action names are case-insensitive, a single value may be given without a list;
condition keys are case-insensitive; a 12-digit account id as AWS principal stands for the
account's root ARN, "AWS JSON policy elements: Principal"). Written here because the policy
libraries on PyPI lint or generate policies but do not compare them; the rules are those above.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_ACCOUNT = re.compile(r"^\d{12}$")


class PolicyReadError(ValueError):
    """A policy (or a synthesized value in it) that cannot be read; the message says where."""


# --------------------------------------------------------------------------- intrinsic values


def resolve(value: Any, pseudo: Mapping[str, str], where: str = "policy") -> Any:
    """A synthesized value with CloudFormation's pseudo parameters filled in (`Ref` to
    `AWS::Partition`, `AWS::AccountId`, `AWS::Region`, `AWS::URLSuffix`; `Fn::Join`; `Fn::Sub`
    over them). Any other intrinsic names a resource created at deploy time: PolicyReadError."""
    if isinstance(value, list):
        return [resolve(v, pseudo, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (name, arg), *_ = value.items()
        if name == "Ref" and isinstance(arg, str) and arg in pseudo:
            return pseudo[arg]
        if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = resolve(arg[1], pseudo, where)
            if all(isinstance(p, str) for p in parts):
                return str(arg[0]).join(parts)
        if name == "Fn::Sub" and isinstance(arg, str):
            slots = set(re.findall(r"\$\{([^}!]+)\}", arg))
            if slots <= set(pseudo):
                return re.sub(r"\$\{([^}!]+)\}", lambda m: pseudo[m.group(1)], arg)
        if name.startswith("Fn::") or name == "Ref":
            raise PolicyReadError(
                f"{where}: {json.dumps(value)[:120]} is set at deploy time; verify compares "
                "policies whose values the template states"
            )
    return {k: resolve(v, pseudo, where) for k, v in value.items()}


# --------------------------------------------------------------------------- normal form


@dataclass(frozen=True)
class Statement:
    """One statement in normal form (sets of lower-cased actions, canonical principals)."""

    sid: str
    effect: str
    principals: frozenset[tuple[str, str]]  # (kind, value): ("AWS", "arn:aws:iam::1:root")
    not_principals: frozenset[tuple[str, str]]
    actions: frozenset[str]
    not_actions: frozenset[str]
    resources: frozenset[str]
    not_resources: frozenset[str]
    conditions: frozenset[tuple[str, str, frozenset[str]]]  # (operator, key, values)

    @property
    def key(self) -> tuple[Any, ...]:
        """Everything but the Sid: what IAM evaluates."""
        return (
            self.effect,
            self.principals,
            self.not_principals,
            self.actions,
            self.not_actions,
            self.resources,
            self.not_resources,
            self.conditions,
        )

    @property
    def label(self) -> str:
        if self.sid:
            return f"statement {self.sid!r}"
        shown = sorted(self.actions or self.not_actions)[:3]
        return f"{self.effect} statement on {', '.join(shown)}"


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [_text(v) for v in items]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _principals(value: Any, partition: str) -> frozenset[tuple[str, str]]:
    if value is None:
        return frozenset()
    if value == "*":
        return frozenset({("AWS", "*")})
    if not isinstance(value, dict):
        raise PolicyReadError(f"Principal {value!r} is neither '*' nor a map of principal types")
    found = set()
    for kind, values in value.items():
        for v in _strings(values):
            canonical = (
                f"arn:{partition}:iam::{v}:root" if kind == "AWS" and _ACCOUNT.match(v) else v
            )
            found.add((str(kind), canonical))
    return frozenset(found)


def _conditions(value: Any) -> frozenset[tuple[str, str, frozenset[str]]]:
    if value is None:
        return frozenset()
    if not isinstance(value, dict):
        raise PolicyReadError(f"Condition {value!r} is not a map of operators")
    found = set()
    for operator, keys in value.items():
        if not isinstance(keys, dict):
            raise PolicyReadError(f"Condition operator {operator} does not map keys to values")
        for key, values in keys.items():
            found.add((str(operator), str(key).lower(), frozenset(_strings(values))))
    return frozenset(found)


def statements(policy: Any, partition: str = "aws") -> list[Statement]:
    """A policy document (JSON text or parsed) as statements in normal form."""
    if isinstance(policy, str | bytes):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError as exc:
            raise PolicyReadError(f"not JSON: {exc}") from None
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise PolicyReadError("not a policy document (no Statement)")
    raw = policy["Statement"]
    raw = raw if isinstance(raw, list) else [raw]
    found = []
    for item in raw:
        if not isinstance(item, dict):
            raise PolicyReadError(f"statement {item!r} is not an object")
        found.append(
            Statement(
                sid=str(item.get("Sid", "")),
                effect=str(item.get("Effect", "")),
                principals=_principals(item.get("Principal"), partition),
                not_principals=_principals(item.get("NotPrincipal"), partition),
                actions=frozenset(a.lower() for a in _strings(item.get("Action"))),
                not_actions=frozenset(a.lower() for a in _strings(item.get("NotAction"))),
                resources=frozenset(_strings(item.get("Resource"))),
                not_resources=frozenset(_strings(item.get("NotResource"))),
                conditions=_conditions(item.get("Condition")),
            )
        )
    return found


# --------------------------------------------------------------------------- comparison

_ELEMENTS = (
    ("effect", "effect"),
    ("principals", "principals"),
    ("not_principals", "NotPrincipal"),
    ("actions", "actions"),
    ("not_actions", "NotAction"),
    ("resources", "resources"),
    ("not_resources", "NotResource"),
    ("conditions", "conditions"),
)


def _shown(values: Iterable[Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, tuple) and len(v) == 2:
            return f"{v[0]}:{v[1]}"
        if isinstance(v, tuple) and len(v) == 3:
            return f"{v[0]} {v[1]} {sorted(v[2])}"
        return str(v)

    return ", ".join(sorted(one(v) for v in values))


def _element_differences(expected: Statement, actual: Statement) -> list[str]:
    out = []
    for attribute, label in _ELEMENTS:
        want, have = getattr(expected, attribute), getattr(actual, attribute)
        if want == have:
            continue
        if isinstance(want, frozenset):
            missing, extra = want - have, have - want
            parts = []
            if missing:
                parts.append(f"missing {_shown(missing)}")
            if extra:
                parts.append(f"extra {_shown(extra)}")
            out.append(f"{label}: {'; '.join(parts)}")
        else:
            out.append(f"{label}: {have!r} instead of {want!r}")
    return out


def _likeness(a: Statement, b: Statement) -> int:
    same = sum(int(getattr(a, attr) == getattr(b, attr)) for attr, _ in _ELEMENTS)
    return same + (3 if a.sid and a.sid == b.sid else 0)


def policy_differences(expected: Any, actual: Any, partition: str = "aws") -> list[str]:
    """How `actual` differs from `expected`, as IAM would evaluate them; [] when equal."""
    want = statements(expected, partition)
    have = statements(actual, partition)
    have_keys = {s.key for s in have}
    want_keys = {s.key for s in want}
    missing = [s for s in want if s.key not in have_keys]
    extra = [s for s in have if s.key not in want_keys]
    out: list[str] = []
    for statement in missing:
        if extra:
            nearest = max(extra, key=lambda s: _likeness(statement, s))
            if _likeness(statement, nearest) >= 4:
                extra.remove(nearest)
                details = "; ".join(_element_differences(statement, nearest))
                out.append(f"{statement.label} differs: {details}")
                continue
        out.append(f"{statement.label} is missing")
    out += [f"{statement.label} is not in the synthesized policy" for statement in extra]
    return out


def duplicate_principals(policy: Any, partition: str = "aws") -> list[str]:
    """Principals listed more than once in one statement (as IAM canonicalizes them)."""
    if isinstance(policy, str | bytes):
        policy = json.loads(policy)
    raw = policy.get("Statement", []) if isinstance(policy, dict) else []
    raw = raw if isinstance(raw, list) else [raw]
    found = []
    for item in raw:
        for element in ("Principal", "NotPrincipal"):
            value = item.get(element) if isinstance(item, dict) else None
            if not isinstance(value, dict):
                continue
            for kind, values in value.items():
                seen: set[str] = set()
                for v in _strings(values):
                    canonical = (
                        f"arn:{partition}:iam::{v}:root"
                        if kind == "AWS" and _ACCOUNT.match(v)
                        else v
                    )
                    if canonical in seen:
                        found.append(f"{kind} {canonical}")
                    seen.add(canonical)
    return found


# --------------------------------------------------------------------------- probing one request

# A writer no statement names: only a statement for every principal (`*`) covers it.
_ANY_WRITER = "arn:{partition}:sts::000000000000:assumed-role/any-writer/session"


def create_only_statement(policy: Any, bucket: str, key: str, partition: str = "aws") -> str | None:
    """The statement that makes writes to `bucket/key` create-only, or None.

    Such a statement denies, to every principal, a PutObject without `If-None-Match` and does not
    deny one with `If-None-Match: *` (S3 User Guide, "Enforce conditional writes on Amazon S3
    buckets": condition key `s3:if-none-match`). The probe requests carry what every legitimate
    write carries (TLS, `s3:ObjectCreationOperation`), and each Deny statement is judged by the
    project's IAM evaluator (finmlops.iam: actions, resources, principals, every condition
    operator with the IAM User Guide's rules for missing keys)."""
    from finmlops.iam.conditions import PolicyError
    from finmlops.iam.context import RequestContext
    from finmlops.iam.policy import Policy
    from finmlops.iam.principals import Caller

    try:
        parsed = Policy.parse(policy, name=f"bucket policy of {bucket}", kind="resource")
    except PolicyError as exc:
        raise PolicyReadError(str(exc)) from None
    writer = Caller.parse(_ANY_WRITER.format(partition=partition))
    resource = f"arn:{partition}:s3:::{bucket}/{key}"
    base = RequestContext({"aws:SecureTransport": True, "s3:ObjectCreationOperation": True})
    with_header = base.with_values({"s3:if-none-match": "*"})
    for statement in parsed.statements:
        if statement.effect != "Deny" or statement.principal_level(writer) is None:
            continue
        if not (
            statement.matches_action("s3:PutObject") and statement.matches_resource(resource, base)
        ):
            continue
        if statement.conditions_hold(base) and not statement.conditions_hold(with_header):
            return statement.sid or statement.label
    return None
