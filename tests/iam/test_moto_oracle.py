"""moto's IAM evaluator as an oracle where it is right, and a pin where it is wrong.

moto 5.2.5 (`moto.iam.access_control.IAMPolicy`, the evaluator behind its IAM enforcement)
agrees with IAM on unconditional identity policies: Action/NotAction and Resource with `*`,
several statements, Deny over Allow. On those, finmlops.iam must answer as moto does.

With conditions it does not (moto/iam/policy_conditions.py): it knows StringEquals only and
ignores every other operator, a missing key passes, and an Allow whose condition fails answers
DENIED (IAM: the statement does not apply). The last tests pin those answers, so the claim in
docs/decisions/0010-iam-evaluation.md ("moto cannot judge our conditional policies") fails here
the day a moto upgrade changes it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from finmlops.iam import Caller, Policy, Request, RequestContext, evaluate

ACCOUNT = "111122223333"
CALLER = Caller.parse(f"arn:aws:sts::{ACCOUNT}:assumed-role/Analyst/carlos")
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"

STATEMENTS: dict[str, dict[str, Any]] = {
    "allow-get-bucket-objects": {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET}/*",
    },
    "allow-s3-star": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    "allow-list-bucket": {
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
        "Resource": BUCKET,
    },
    "allow-all-but-iam": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    "deny-put": {"Effect": "Deny", "Action": "s3:Put*", "Resource": "*"},
    "deny-logs-prefix": {"Effect": "Deny", "Action": "s3:*", "Resource": f"{BUCKET}/logs/*"},
    "allow-create-user": {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"},
}
REQUESTS = [
    ("s3:GetObject", f"{BUCKET}/data/a.csv"),
    ("s3:GetObject", f"{BUCKET}/logs/a.log"),
    ("s3:PutObject", f"{BUCKET}/data/a.csv"),
    ("s3:ListBucket", BUCKET),
    ("s3:GetObject", "arn:aws:s3:::other-bucket/a"),
    ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x"),
    ("sagemaker:UpdateModelPackage", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/g/1"),
]
OUTCOMES = {
    PermissionResult.PERMITTED: "allow",
    PermissionResult.DENIED: "explicit-deny",
    PermissionResult.NEUTRAL: "implicit-deny",
}


def ours(
    document: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None
) -> str:
    request = Request(CALLER, action, resource, ACCOUNT, RequestContext(context or {}))
    return evaluate(request, identity=[Policy.parse(document, name="oracle")]).outcome


def moto(
    document: dict[str, Any], action: str, resource: str, context: dict[str, str] | None = None
) -> str:
    result = IAMPolicy(json.dumps(document)).is_action_permitted(
        action, resource, incoming_condition_values=context
    )
    return OUTCOMES[result]


POLICIES = [
    [STATEMENTS[a], STATEMENTS[b]] for a, b in itertools.combinations(sorted(STATEMENTS), 2)
] + [[s] for s in STATEMENTS.values()]


@pytest.mark.parametrize("statements", POLICIES)
def test_unconditional_policies_decide_as_moto_does(statements: list[dict[str, Any]]) -> None:
    document = {"Version": "2012-10-17", "Statement": statements}
    for action, resource in REQUESTS:
        assert ours(document, action, resource) == moto(document, action, resource), (
            action,
            resource,
        )


CONDITIONAL_ALLOW = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sagemaker:UpdateModelPackage",
            "Resource": "*",
            "Condition": {"StringEquals": {"sagemaker:ModelLifeCycle:stage": "Production"}},
        }
    ],
}
VERSION = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/g/1"


def test_moto_turns_a_failed_allow_condition_into_an_explicit_deny() -> None:
    context = {"sagemaker:ModelLifeCycle:stage": "Staging"}
    assert (
        moto(CONDITIONAL_ALLOW, "sagemaker:UpdateModelPackage", VERSION, context) == "explicit-deny"
    )
    assert (
        ours(CONDITIONAL_ALLOW, "sagemaker:UpdateModelPackage", VERSION, context) == "implicit-deny"
    )


def test_moto_lets_a_missing_condition_key_pass() -> None:
    assert moto(CONDITIONAL_ALLOW, "sagemaker:UpdateModelPackage", VERSION, {}) == "allow"
    assert ours(CONDITIONAL_ALLOW, "sagemaker:UpdateModelPackage", VERSION, {}) == "implicit-deny"


def test_moto_ignores_operators_other_than_string_equals() -> None:
    null_guard = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:UpdateModelPackage", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "sagemaker:UpdateModelPackage",
                "Resource": "*",
                "Condition": {"Null": {"sagemaker:ModelApprovalStatus": "false"}},
            },
        ],
    }
    status = {"sagemaker:ModelApprovalStatus": "Approved"}
    # The Deny that keeps the lifecycle role from approving: moto reads it as unconditional.
    assert moto(null_guard, "sagemaker:UpdateModelPackage", VERSION, {}) == "explicit-deny"
    assert ours(null_guard, "sagemaker:UpdateModelPackage", VERSION, {}) == "allow"
    assert ours(null_guard, "sagemaker:UpdateModelPackage", VERSION, status) == "explicit-deny"


def test_moto_matches_actions_case_sensitively_iam_does_not() -> None:
    document = {"Version": "2012-10-17", "Statement": [STATEMENTS["allow-get-bucket-objects"]]}
    assert moto(document, "s3:getobject", f"{BUCKET}/a") == "implicit-deny"
    assert ours(document, "s3:getobject", f"{BUCKET}/a") == "allow"
