"""Helpers for the evaluator's tests: one identity policy, one request, one decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from finmlops.iam.context import ContextValue, RequestContext
from finmlops.iam.evaluate import Decision, Request, evaluate
from finmlops.iam.policy import Policy
from finmlops.iam.principals import Caller

ACCOUNT = "111122223333"
OTHER = "444455556666"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Analyst/carlos"


def statement_decision(
    statement: Mapping[str, Any],
    context: Mapping[str, ContextValue] | None = None,
    *,
    action: str | None = None,
    resource: str | None = None,
    version: str = "2012-10-17",
) -> Decision:
    """One identity-policy statement judging one same-account request."""
    document = {"Version": version, "Statement": [dict(statement)]}
    actions = statement.get("Action", "s3:GetObject")
    first = actions[0] if isinstance(actions, list) else actions
    request = Request(
        caller=Caller.parse(SESSION),
        action=action or (first if "*" not in first else "s3:GetObject"),
        resource=resource or "arn:aws:s3:::amzn-s3-demo-bucket/key",
        resource_account=ACCOUNT,
        context=RequestContext(context or {}),
    )
    return evaluate(request, identity=[Policy.parse(document, name="test")])


def holds(operator: str, key: str, policy_value: Any, context: Mapping[str, ContextValue]) -> bool:
    """Whether a condition holds, read through an Allow statement."""
    decision = statement_decision(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {operator: {key: policy_value}},
        },
        context,
    )
    return decision.allowed


@pytest.fixture
def decide() -> Any:
    """statement_decision, for tests (helpers reach test modules as fixtures)."""
    return statement_decision


@pytest.fixture(name="holds")
def holds_fixture() -> Any:
    return holds
