"""Condition operators, as the IAM User Guide defines them.

Sources (IAM User Guide): "IAM JSON policy elements: Condition operators",
"Conditions with multiple context keys or values", "Single-valued vs. multivalued context keys",
"IAM policy elements: Variables and tags".

- Several operators in one Condition, and several keys under one operator: all must hold (AND).
- Several policy values for one key: any may match (OR); for a negated operator
  (StringNotEquals, NotIpAddress, ArnNotLike, ...) none may match (NOR).
- A key missing from the request: the condition is false, except for a negated operator
  (true), `...IfExists` (true), `ForAllValues:` (true), and `Null` (which tests presence).
- `ForAllValues:` holds when every request value matches (vacuously for an empty or missing
  set); `ForAnyValue:` when at least one does (never for an empty or missing set).
- A multivalued key compared without a set operator does not match: IAM needs
  `ForAllValues:`/`ForAnyValue:` to read a set (also what @cloud-copilot/iam-simulate does).
- Policy variables: supported in String, Bool and ARN operators; not in Numeric, Date,
  Binary or IP operators (the operator tables of the page above).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from finmlops.iam.context import RequestContext, Template, parse_template
from finmlops.iam.wildcards import arn_matches, glob_match, literal


class PolicyError(ValueError):
    """A policy document IAM would refuse or that this evaluator cannot read; the message names
    the policy, the statement and the field."""


# Positive base operator -> (its negation, whether policy variables are resolved).
_POSITIVE: dict[str, bool] = {
    "StringEquals": True,
    "StringEqualsIgnoreCase": True,
    "StringLike": True,
    "NumericEquals": False,
    "NumericLessThan": False,
    "NumericLessThanEquals": False,
    "NumericGreaterThan": False,
    "NumericGreaterThanEquals": False,
    "DateEquals": False,
    "DateLessThan": False,
    "DateLessThanEquals": False,
    "DateGreaterThan": False,
    "DateGreaterThanEquals": False,
    "Bool": True,
    "BinaryEquals": False,
    "IpAddress": False,
    "ArnEquals": True,
    "ArnLike": True,
}
_NEGATED: dict[str, str] = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_CANONICAL = {name.lower(): name for name in [*_POSITIVE, *_NEGATED, "Null"]}

SetOperator = Literal["ForAllValues", "ForAnyValue"] | None


@dataclass(frozen=True)
class Operator:
    """A parsed operator name, e.g. `ForAnyValue:StringNotLikeIfExists`."""

    text: str
    base: str  # the canonical base operator, e.g. StringNotLike
    positive: str  # the positive operator it is evaluated with, e.g. StringLike
    negated: bool
    if_exists: bool
    set_operator: SetOperator

    @classmethod
    def parse(cls, text: str) -> Operator:
        rest = text
        set_operator: SetOperator = None
        if ":" in rest:
            prefix, rest = rest.split(":", 1)
            if prefix.lower() == "forallvalues":
                set_operator = "ForAllValues"
            elif prefix.lower() == "foranyvalue":
                set_operator = "ForAnyValue"
            else:
                raise PolicyError(f"unknown set operator {prefix!r} in {text!r}")
        if_exists = rest.lower().endswith("ifexists") and rest.lower() != "ifexists"
        if if_exists:
            rest = rest[: -len("IfExists")]
        base = _CANONICAL.get(rest.lower())
        if base is None:
            raise PolicyError(f"unknown condition operator {text!r}")
        if base == "Null" and (if_exists or set_operator):
            raise PolicyError(f"{text!r}: Null takes neither IfExists nor a set operator")
        negated = base in _NEGATED
        return cls(
            text=text,
            base=base,
            positive=_NEGATED.get(base, base),
            negated=negated,
            if_exists=if_exists,
            set_operator=set_operator,
        )

    @property
    def variables(self) -> bool:
        return _POSITIVE.get(self.positive, False)


@dataclass(frozen=True)
class Condition:
    """One operator applied to one key with its policy values."""

    operator: Operator
    key: str  # as written; matched case-insensitively
    values: tuple[str, ...]
    templates: tuple[Template, ...]

    @classmethod
    def build(
        cls, operator: Operator, key: str, values: tuple[str, ...], variables: bool
    ) -> Condition:
        resolve = variables and operator.variables
        return cls(
            operator=operator,
            key=key,
            values=values,
            templates=tuple(parse_template(v, resolve) for v in values),
        )

    def holds(self, context: RequestContext) -> bool:  # noqa: PLR0911 - the missing-key table
        operator = self.operator
        entry = context.get(self.key)
        if operator.base == "Null":
            wanted = "true" if entry is None else "false"
            return any(v.lower() == wanted for v in self.values)
        if entry is None:
            if operator.if_exists or operator.set_operator == "ForAllValues":
                return True
            if operator.set_operator == "ForAnyValue":
                return False
            return operator.negated
        if operator.set_operator is None:
            if entry.multivalued:
                return False
            return self._value_holds(entry.values[0], context)
        results = (self._value_holds(v, context) for v in entry.values)
        if operator.set_operator == "ForAllValues":
            return all(results)
        return any(results)

    def _value_holds(self, request_value: str, context: RequestContext) -> bool:
        """One request value against every policy value: OR, or NOR for a negated operator."""
        compare = _COMPARE[self.operator.positive]
        matched = False
        for template in self.templates:
            policy_value = template.render(context)
            if policy_value is None:
                # An unresolvable variable matches nothing; under a negation it cannot make the
                # condition hold either.
                if self.operator.negated:
                    return False
                continue
            outcome = compare(policy_value, request_value)
            if outcome is None:  # a value the operator cannot read: never satisfies it
                return False
            if outcome:
                matched = True
                break
        return not matched if self.operator.negated else matched


def _number(text: str) -> float:
    return float(literal(text))


def _date(text: str) -> datetime:
    text = literal(text).strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _numeric(test: Callable[[float, float], bool]) -> Callable[[str, str], bool | None]:
    def compare(policy: str, request: str) -> bool | None:
        try:
            return test(_number(request), _number(policy))
        except ValueError:
            return None

    return compare


def _dated(test: Callable[[datetime, datetime], bool]) -> Callable[[str, str], bool | None]:
    def compare(policy: str, request: str) -> bool | None:
        try:
            return test(_date(request), _date(policy))
        except ValueError:
            return None

    return compare


def _bool(policy: str, request: str) -> bool | None:
    return literal(policy).lower() == request.lower()


def _binary(policy: str, request: str) -> bool | None:
    try:
        return base64.b64decode(literal(policy), validate=True) == base64.b64decode(
            request, validate=True
        )
    except (binascii.Error, ValueError):
        return None


def _ip(policy: str, request: str) -> bool | None:
    try:
        return ipaddress.ip_address(request) in ipaddress.ip_network(literal(policy), strict=False)
    except ValueError:
        return None


def _arn(policy: str, request: str) -> bool | None:
    # ArnEquals and ArnLike behave alike: each of the six parts is matched on its own, with
    # wildcards ("ARN condition operators"). A request value that is no ARN never matches.
    if len(request.split(":", 5)) != 6:
        return False
    return arn_matches(policy, request)


_COMPARE: dict[str, Callable[[str, str], bool | None]] = {
    "StringEquals": lambda p, r: literal(p) == r,
    "StringEqualsIgnoreCase": lambda p, r: literal(p).casefold() == r.casefold(),
    "StringLike": glob_match,
    "NumericEquals": _numeric(lambda r, p: r == p),
    "NumericLessThan": _numeric(lambda r, p: r < p),
    "NumericLessThanEquals": _numeric(lambda r, p: r <= p),
    "NumericGreaterThan": _numeric(lambda r, p: r > p),
    "NumericGreaterThanEquals": _numeric(lambda r, p: r >= p),
    "DateEquals": _dated(lambda r, p: r == p),
    "DateLessThan": _dated(lambda r, p: r < p),
    "DateLessThanEquals": _dated(lambda r, p: r <= p),
    "DateGreaterThan": _dated(lambda r, p: r > p),
    "DateGreaterThanEquals": _dated(lambda r, p: r >= p),
    "Bool": _bool,
    "BinaryEquals": _binary,
    "IpAddress": _ip,
    "ArnEquals": _arn,
    "ArnLike": _arn,
}
