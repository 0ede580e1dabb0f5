"""The validator role on today's synthesized templates, tried by insiders (ADR 0030).

What IAM decides is read by the evaluator (finmlops.iam) from the session's synthesized
assembly; the condition keys are UpdateModelPackage's in the Service Authorization Reference
(`sagemaker:ModelApprovalStatus`, `sagemaker:ModelLifeCycle:Stage`, `...:StageStatus`,
`sagemaker:CustomerMetadataProperties/${MetadataKey}`, `...ToRemove`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from finmlops.contracts import Validation

DEV, TOOLING = "111111111111", "444444444444"
VERSION = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/credit-risk-xgb/3"
STATUS = "sagemaker:ModelApprovalStatus"
STAGE, STAGE_STATUS = "sagemaker:ModelLifeCycle:Stage", "sagemaker:ModelLifeCycle:StageStatus"
META = "sagemaker:CustomerMetadataProperties/"
VALIDATOR, APPROVER = "credit-risk-dev-validator", "ModelRiskApprover"
SIGNOFF = {STAGE: Validation.STAGE, STAGE_STATUS: Validation.SIGNED_OFF}


def _update(iam: Any, role: str, context: dict[str, Any], name: str = "carol") -> Any:
    person = iam.role(role).session_arn(name)
    return iam.decide(person, "sagemaker:UpdateModelPackage", VERSION, context)


def test_validator_role_exists_only_in_dev_and_people_assume_it_as_themselves(platform: Any):
    found = {
        env: [
            r
            for stack in stacks.values()
            for r in stack["Resources"].values()
            if r["Type"] == "AWS::IAM::Role"
            and r["Properties"].get("RoleName") == VALIDATOR.replace("dev", env)
        ]
        for env, stacks in platform.templates.items()
    }
    assert {env for env, roles in found.items() if roles} == {"dev"}
    (role,) = found["dev"]
    trust = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    for required in (
        "sts:SetSourceIdentity",
        "sts:SourceIdentity",
        "${aws:username}",
        "MultiFactor",
    ):
        assert required in trust


@pytest.mark.parametrize("status", Validation.STATUSES)
def test_validator_may_write_a_signoff_lifecycle(iam_platform: Any, status: str) -> None:
    result = _update(iam_platform, VALIDATOR, {STAGE: Validation.STAGE, STAGE_STATUS: status})
    assert result.allowed, result.reason


@pytest.mark.parametrize(
    ("attempt", "context"),
    [
        ("approve", {STATUS: "Approved"}),
        ("approve while signing off", {STATUS: "Approved", **SIGNOFF}),
        ("reject", {STATUS: "Rejected"}),
        ("claim production", {STAGE: "Production", STAGE_STATUS: "Deployed"}),
        ("rewrite lineage", {**SIGNOFF, META + "git-commit": "someone-elses"}),
        ("write the approver's keys", {**SIGNOFF, META + "approved-by": "carol"}),
        (
            "remove inventory",
            {**SIGNOFF, "sagemaker:CustomerMetadataPropertiesToRemove": ["owner"]},
        ),
        ("a sign-off status of its own", {STAGE: Validation.STAGE, STAGE_STATUS: "Approved"}),
        ("metadata alone", {META + "validator": "carol"}),
    ],
)
def test_validator_cannot_approve_or_change_anything_but_the_signoff(
    iam_platform: Any, attempt: str, context: dict[str, Any]
) -> None:
    """The insider with the validator role tries to decide, or to rewrite the record."""
    result = _update(iam_platform, VALIDATOR, context)
    assert not result.allowed, (attempt, result.reason)


def test_approver_cannot_sign_off(iam_platform: Any) -> None:
    """The insider with the approver role writes the sign-off lifecycle, with or without a
    decision: denied (the lifecycle is never the approver's)."""
    for context in (SIGNOFF, {**SIGNOFF, STATUS: "Approved"}):
        result = _update(iam_platform, APPROVER, context, name="bob")
        assert result.outcome == "explicit-deny", result.reason


@pytest.mark.parametrize(
    "role", ["credit-risk-dev-data-scientist", "credit-risk-dev-sagemaker-build"]
)
def test_authors_roles_cannot_sign_off(iam_platform: Any, role: str) -> None:
    result = _update(iam_platform, role, SIGNOFF, name="alice")
    assert not result.allowed, result.reason


def test_validators_append_findings_to_the_one_tooling_audit_trail(platform: Any) -> None:
    template = platform.templates["tooling"]["Data"]
    (bucket_policy,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"
        and any(s.get("Sid") == "ApproversAppendDecisions"
                for s in r["Properties"]["PolicyDocument"]["Statement"])
    ]  # fmt: skip
    (append,) = [
        s for s in bucket_policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ApproversAppendDecisions"
    ]  # fmt: skip
    assert (
        f"arn:aws:iam::{DEV}:role/{VALIDATOR}" in append["Condition"]["ArnLike"]["aws:PrincipalArn"]
    )


def test_signoffs_and_alarms_reach_the_handler(platform: Any, config: Any) -> None:
    """Pending versions' state changes leave dev for tooling; stage's and prod's drift and
    quality alarms (the high tier's re-review triggers) are forwarded to tooling and routed to
    the approval handler, whose settings carry the tier's requirements."""
    from finmlops.naming import revalidation_alarms

    forwarder = _rules(platform.templates["dev"]["ModelBuild"], "Approval decisions and sign-offs")
    assert "PendingManualApproval" in json.dumps(forwarder[0]["EventPattern"])
    alarms = revalidation_alarms(config)
    assert sorted(alarms) == [
        "credit-risk-prod-data-drift", "credit-risk-prod-model-quality",
        "credit-risk-stage-data-drift", "credit-risk-stage-model-quality",
    ]  # fmt: skip
    for env in ("stage", "prod"):
        (rule,) = _rules(platform.templates[env]["Monitoring"], "re-validation record in tooling")
        assert rule["EventPattern"]["detail"]["state"] == {"value": ["ALARM"]}
        assert TOOLING in json.dumps(rule["Targets"])
    tooling = platform.templates["tooling"]["ModelPromotion"]
    (routed,) = _rules(tooling, "re-validation record")
    assert sorted(routed["EventPattern"]["detail"]["alarmName"]) == sorted(alarms)
    (signoffs,) = _rules(tooling, "validator sign-offs")
    assert signoffs["EventPattern"]["detail"]["ModelApprovalStatus"] == ["PendingManualApproval"]
    (function,) = [
        r for r in tooling["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
        and Validation.ENV_REQUIRE_SIGNOFF in json.dumps(r["Properties"])
    ]  # fmt: skip
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables[Validation.ENV_REQUIRE_SIGNOFF] == "true"
    assert json.loads(variables[Validation.ENV_REVALIDATION_ALARMS]) == alarms
    # The bus admits every model's forwarders: the platform's promotion stack.
    statements = json.dumps([
        r for r in platform.templates["tooling"]["Promotion"]["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
    ])  # fmt: skip
    assert "credit-risk-prod-revalidation-forwarder" in statements


def _rules(template: dict[str, Any], description: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and description in r["Properties"].get("Description", "")
    ]


TLS = {"aws:SecureTransport": True}


@pytest.mark.parametrize(
    ("role", "environment", "may_write"),
    [
        ("credit-risk-tooling-promotion-handler", "tooling", True),
        ("credit-risk-tooling-promote-stage", "tooling", False),
        ("credit-risk-tooling-promote-prod", "tooling", False),
        ("credit-risk-tooling-operator", "tooling", False),
        (APPROVER, "dev", False),
        (VALIDATOR, "dev", False),
    ],
)
def test_only_the_handler_writes_the_signoff_markers(
    iam_platform: Any, role: str, environment: str, may_write: bool
) -> None:
    """A `validation-observed` record counts only with its marker (ADR 0030): the insiders who
    may append audit records (approvers, validators, promotions, operators) cannot write one."""
    marker = (
        f"arn:aws:s3:::credit-risk-promotion-{TOOLING}-us-east-1/"
        f"{Validation.MARKERS_PREFIX}credit-risk-xgb/3/{'0' * 64}.json"
    )
    caller = iam_platform.role(role, environment).session_arn("someone")
    decision = iam_platform.decide(caller, "s3:PutObject", marker, TLS)
    assert decision.allowed == may_write, decision.reason
