"""Decisions today's synthesized templates make, read by the IAM evaluator (finmlops.iam).

Each test loads the session's synthesized assembly (the `platform` fixture) into
finmlops.iam.Platform and asks what IAM would answer for one request, with the request context
a real call would carry. The evaluator's own rules are tested against the IAM documentation in
tests/iam/. (This file sits in tests/cdk/ because the session's synth fixtures live here.)
"""

from __future__ import annotations

from typing import Any

import pytest

from finmlops.iam import Platform

DEV, STAGE, PROD, TOOLING = "111111111111", "222222222222", "333333333333", "444444444444"
GROUP = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package-group/credit-risk-xgb"
VERSION = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/credit-risk-xgb/3"
ARTIFACTS = "arn:aws:s3:::credit-risk-artifacts-111111111111-us-east-1"
STAGE_KEY, STATUS, APPROVAL = (
    "sagemaker:ModelLifeCycle:stage",
    "sagemaker:ModelLifeCycle:stageStatus",
    "sagemaker:ModelApprovalStatus",
)


@pytest.fixture(scope="module")
def iam(platform: Any) -> Platform:
    return Platform.load(platform.outdir)


def session(iam: Platform, role: str, name: str = "someone", environment: str | None = None) -> str:
    return iam.role(role, environment).session_arn(name)


def test_every_role_and_resource_policy_of_every_stage_is_read(iam: Platform) -> None:
    assert {r.environment for r in iam.roles.values()} == {"tooling", "dev", "stage", "prod"}
    assert all(not r.unknown_policies for r in iam.roles.values())
    kinds = {r.kind for r in iam.resources}
    assert {
        "s3-bucket",
        "kms-key",
        "model-package-group",
        "sqs-queue",
        "sns-topic",
        "event-bus",
        "lambda-function",
        "iam-role",
    } <= kinds
    group = iam.resource(VERSION)
    assert group is not None and group.arn == GROUP and group.policy is not None


def test_the_dev_data_scientist_is_explicitly_denied_changing_a_version(iam: Platform) -> None:
    decision = iam.decide(
        session(iam, "credit-risk-dev-data-scientist", "alice"),
        "sagemaker:UpdateModelPackage",
        VERSION,
        {APPROVAL: "Approved"},
    )
    assert decision.explicitly_denied
    assert decision.sids == {"DenyApprovalStatusChanges"}


def test_the_approver_role_is_allowed_to_change_approval_status(iam: Platform) -> None:
    decision = iam.decide(
        session(iam, "ModelRiskApprover", "bob"),
        "sagemaker:UpdateModelPackage",
        VERSION,
        {APPROVAL: "Approved"},
    )
    assert decision.allowed and decision.sids == {"DecideApproval"}


@pytest.mark.parametrize(
    ("request_keys", "outcome"),
    [
        ({STAGE_KEY: "Production", STATUS: "Deployed"}, "allow"),
        ({STAGE_KEY: "Staging", STATUS: "Replaced"}, "allow"),
        ({STAGE_KEY: "Production", STATUS: "Deployed", APPROVAL: "Approved"}, "explicit-deny"),
        ({APPROVAL: "Rejected"}, "explicit-deny"),
        ({STAGE_KEY: "Development", STATUS: "Deployed"}, "implicit-deny"),
        ({STAGE_KEY: "Production"}, "implicit-deny"),
        ({}, "implicit-deny"),
    ],
)
def test_the_registry_lifecycle_role_may_set_a_lifecycle_and_never_a_status(
    iam: Platform, request_keys: dict[str, str], outcome: str
) -> None:
    lifecycle = session(iam, "credit-risk-dev-registry-lifecycle", "finmlops-lifecycle")
    decision = iam.decide(lifecycle, "sagemaker:UpdateModelPackage", VERSION, request_keys)
    assert decision.outcome == outcome, decision.reason


def test_condition_keys_are_matched_whatever_their_case_in_the_request(iam: Platform) -> None:
    # sagemaker:ModelLifeCycle:Stage (Service Authorization Reference) and :stage (the policy)
    lifecycle = session(iam, "credit-risk-dev-registry-lifecycle")
    keys = {
        "sagemaker:ModelLifeCycle:Stage": "Production",
        "sagemaker:ModelLifeCycle:StageStatus": "Deployed",
    }
    assert iam.decide(lifecycle, "sagemaker:UpdateModelPackage", VERSION, keys).allowed


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_stage_and_prod_model_roles_read_the_dev_registry_across_accounts(
    iam: Platform, env: str
) -> None:
    model = session(iam, f"credit-risk-{env}-model")
    for action, resource in (
        ("sagemaker:DescribeModelPackage", VERSION),
        ("sagemaker:DescribeModelPackageGroup", GROUP),
    ):
        decision = iam.decide(model, action, resource)
        assert decision.allowed, decision.reason
        assert {m.role for m in decision.statements} == {"identity", "resource"}
    assert iam.decide(
        model, "sagemaker:UpdateModelPackage", VERSION, {APPROVAL: "Approved"}
    ).explicitly_denied
    assert not iam.decide(model, "sagemaker:DeleteModelPackage", VERSION).allowed
    # The group grants ListModelPackages to these accounts; the role itself does not ask for it.
    assert iam.decide(model, "sagemaker:ListModelPackages", GROUP).outcome == "implicit-deny"


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_serving_roles_read_model_build_outputs_and_nothing_else_of_the_dev_bucket(
    iam: Platform, env: str
) -> None:
    model = session(iam, f"credit-risk-{env}-model")
    tls = {"aws:SecureTransport": True}
    assert iam.decide(
        model, "s3:GetObject", f"{ARTIFACTS}/model-build/run/model.tar.gz", tls
    ).allowed
    outside = iam.decide(model, "s3:GetObject", f"{ARTIFACTS}/mlflow/x", tls)
    assert not outside.allowed
    plain = iam.decide(
        model, "s3:GetObject", f"{ARTIFACTS}/model-build/x", {"aws:SecureTransport": False}
    )
    assert plain.explicitly_denied  # the bucket's TLS-only statement


def test_serving_roles_decrypt_the_dev_data_key_only_through_s3(iam: Platform) -> None:
    (key,) = [
        r
        for r in iam.resources
        if r.kind == "kms-key" and "alias/credit-risk-dev-data" in r.aliases
    ]
    model = session(iam, "credit-risk-prod-model")
    via_s3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert iam.decide(model, "kms:Decrypt", key.arn, via_s3).allowed
    assert not iam.decide(model, "kms:Decrypt", key.arn).allowed
    assert not iam.decide(
        session(iam, "credit-risk-prod-smoke-test"), "kms:Decrypt", key.arn, via_s3
    ).allowed


def test_people_assume_the_approver_role_only_with_mfa_from_its_own_account(iam: Platform) -> None:
    approver = iam.role("ModelRiskApprover").arn
    person = f"arn:aws:iam::{DEV}:user/bob"
    assert iam.can_assume(person, approver, {"aws:MultiFactorAuthPresent": True}).allowed
    assert not iam.can_assume(person, approver, {"aws:MultiFactorAuthPresent": False}).allowed
    assert not iam.can_assume(person, approver).allowed
    outsider = f"arn:aws:iam::{STAGE}:user/bob"
    assert not iam.can_assume(outsider, approver, {"aws:MultiFactorAuthPresent": True}).allowed


def test_only_tooling_promotion_build_assumes_the_dev_registry_lifecycle_role(
    iam: Platform,
) -> None:
    lifecycle = iam.role("credit-risk-dev-registry-lifecycle").arn
    build = session(iam, "credit-risk-tooling-promotion-build", "codebuild")
    handler = session(iam, "credit-risk-tooling-promotion-handler", "lambda")
    allowed = iam.can_assume(build, lifecycle)
    assert allowed.allowed, allowed.reason
    assert not iam.can_assume(handler, lifecycle).allowed
    assert not iam.can_assume(f"arn:aws:iam::{DEV}:user/alice", lifecycle).allowed


def test_sagemaker_assumes_the_build_role_only_for_its_own_account(iam: Platform) -> None:
    build = iam.role("credit-risk-dev-sagemaker-build").arn
    assert iam.can_assume("sagemaker.amazonaws.com", build, {"aws:SourceAccount": DEV}).allowed
    assert not iam.can_assume(
        "sagemaker.amazonaws.com", build, {"aws:SourceAccount": STAGE}
    ).allowed


def test_the_dev_event_forwarder_alone_puts_events_on_the_tooling_bus(iam: Platform) -> None:
    bus = f"arn:aws:events:us-east-1:{TOOLING}:event-bus/default"
    forwarder = session(iam, "credit-risk-dev-event-forwarder", "events")
    assert iam.decide(forwarder, "events:PutEvents", bus).allowed
    scientist = session(iam, "credit-risk-dev-data-scientist")
    assert not iam.decide(scientist, "events:PutEvents", bus).allowed


def test_the_example_of_docs_iam_runs_on_the_synthesized_platform(platform: Any) -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "iam.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    assert 'Platform.load("cdk.out")' in code
    namespace: dict[str, Any] = {}
    exec(code.replace('"cdk.out"', repr(str(platform.outdir))), namespace)
    assert namespace["decision"].allowed
    assert namespace["decision"].sids == {"DecideApproval"}
