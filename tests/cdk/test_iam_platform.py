"""Decisions today's synthesized templates make, read by the IAM evaluator (finmlops.iam).

Each test loads the session's synthesized assembly (the `platform` fixture) into
finmlops.iam.Platform and asks what IAM would answer for one request, with the request context
a real call would carry. The evaluator's own rules are tested against the IAM documentation in
tests/iam/. (This file sits in tests/cdk/ because the session's synth fixtures live here.)
"""

from __future__ import annotations

from typing import Any, get_args

import pytest

from finmlops.iam import Platform
from finmlops.iam.platform import ResourceKind

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
    # Every kind of resource policy the loader reads appears in the platform.
    assert set(get_args(ResourceKind)) <= kinds
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
    # As themselves (ADR 0012): the session's source identity and name are the user's name.
    bob = {"sts:SourceIdentity": "bob", "sts:RoleSessionName": "bob"}
    assert iam.can_assume(person, approver, {"aws:MultiFactorAuthPresent": True, **bob}).allowed
    assert not iam.can_assume(
        person, approver, {"aws:MultiFactorAuthPresent": False, **bob}
    ).allowed
    assert not iam.can_assume(person, approver, {"aws:MultiFactorAuthPresent": True}).allowed
    assert not iam.can_assume(person, approver).allowed
    outsider = f"arn:aws:iam::{STAGE}:user/bob"
    assert not iam.can_assume(
        outsider, approver, {"aws:MultiFactorAuthPresent": True, **bob}
    ).allowed


def test_only_the_promotions_assume_the_dev_registry_lifecycle_role(iam: Platform) -> None:
    lifecycle = iam.role("credit-risk-dev-registry-lifecycle").arn
    for env in ("stage", "prod"):
        build = session(iam, f"credit-risk-tooling-promote-{env}", "codebuild")
        allowed = iam.can_assume(build, lifecycle)
        assert allowed.allowed, allowed.reason
    handler = session(iam, "credit-risk-tooling-promotion-handler", "lambda")
    assert not iam.can_assume(handler, lifecycle).allowed
    dev_deploy = session(iam, "credit-risk-tooling-deploy-dev", "codebuild")
    assert not iam.can_assume(dev_deploy, lifecycle).allowed
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


# --------------------------------------------------------------------------- cross-account reads
# The promotion gate runs in tooling (the approval handler, `promote resolve` in each promotion)
# and judges what dev recorded. Dev's evidence reader carries the reads across (ADR 0016).

READER = "credit-risk-dev-evidence-reader"
PIPELINE = f"arn:aws:sagemaker:us-east-1:{DEV}:pipeline/credit-risk-model-build"
EXECUTION = f"{PIPELINE}/execution/0a1b2c3d4e5f"
EVALUATION = f"{ARTIFACTS}/model-build/0a1b2c3d4e5f/evaluation/evaluation.json"
TLS = {"aws:SecureTransport": True}
VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
GATE_CALLERS = (
    "credit-risk-tooling-promotion-handler",
    "credit-risk-tooling-promote-stage",
    "credit-risk-tooling-promote-prod",
)


def _data_key(iam: Platform, env: str = "dev") -> str:
    (key,) = [
        r
        for r in iam.resources
        if r.kind == "kms-key" and f"alias/credit-risk-{env}-data" in r.aliases
    ]
    return key.arn


def _gate_reads(iam: Platform) -> list[tuple[str, str, dict[str, Any]]]:
    """Every call the gate makes in dev (finmlops.registry.authorship, gatecheck, versions;
    tests/registry/test_handler.py records the same set signed by the reader at run time)."""
    return [
        ("sagemaker:DescribeModelPackage", VERSION, {}),
        ("sagemaker:ListModelPackages", GROUP, {}),  # `promote resolve` without a version
        ("sagemaker:DescribeModelPackageGroup", GROUP, {}),
        ("sagemaker:ListPipelineExecutionSteps", EXECUTION, {}),
        ("sagemaker:DescribePipelineExecution", EXECUTION, {}),
        ("sagemaker:ListPipelineParametersForExecution", EXECUTION, {}),
        ("sagemaker:DescribePipelineDefinitionForExecution", EXECUTION, {}),
        ("s3:GetObject", EVALUATION, TLS),
        ("s3:ListBucket", ARTIFACTS, {**TLS, "s3:prefix": "model-build/0a1b2c3d4e5f/"}),
        ("kms:Decrypt", _data_key(iam), VIA_S3),
    ]


@pytest.mark.parametrize("caller", GATE_CALLERS)
def test_the_handler_and_each_promotion_read_what_the_gate_reads_in_dev_as_the_evidence_reader(
    iam: Platform, caller: str
) -> None:
    reader = iam.role(READER)
    assumed = iam.can_assume(session(iam, caller, "gate"), reader.arn)
    assert assumed.allowed, assumed.reason
    as_reader = reader.session_arn("gate")
    for action, resource, context in _gate_reads(iam):
        decision = iam.decide(as_reader, action, resource, context)
        assert decision.allowed, (action, decision.reason)
    # Without the reader, the tooling role itself reads none of dev's executions or evidence:
    # SageMaker pipelines have no resource policy, and the bucket and key admit serving roles.
    for action, resource, context in _gate_reads(iam)[3:]:
        assert not iam.decide(session(iam, caller), action, resource, context).allowed, action


@pytest.mark.parametrize(
    ("caller", "context"),
    [
        (f"arn:aws:iam::{DEV}:user/alice", {"aws:MultiFactorAuthPresent": True}),
        ("data-scientist", {"aws:SourceIdentity": "alice"}),
        ("approver", {"aws:SourceIdentity": "bob"}),
        ("credit-risk-dev-sagemaker-build", {}),
        ("credit-risk-tooling-deploy-dev", {}),
        ("credit-risk-tooling-start-build", {}),
        ("credit-risk-tooling-operator", {"aws:SourceIdentity": "carol"}),
        ("credit-risk-prod-model", {}),
        ("credit-risk-stage-smoke-test", {}),
        (f"arn:aws:iam::{TOOLING}:root", {}),
        (f"arn:aws:iam::{STAGE}:user/mallory", {"aws:MultiFactorAuthPresent": True}),
        ("arn:aws:iam::999999999999:role/credit-risk-tooling-promotion-handler", {}),
    ],
)
def test_nobody_else_assumes_the_evidence_reader(
    iam: Platform, caller: str, context: dict[str, Any]
) -> None:
    """People (as themselves or in their roles), the build, the role that runs a commit's CDK
    app, the build starter's caller, operators, serving roles, the tooling account as a whole,
    and a role of the handler's name in another account."""
    by_name = {"data-scientist": "credit-risk-dev-data-scientist", "approver": "ModelRiskApprover"}
    principal = (
        caller if caller.startswith("arn:") else session(iam, by_name.get(caller, caller), "x")
    )
    decision = iam.can_assume(principal, iam.role(READER).arn, context)
    assert not decision.allowed, decision.reason


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("sagemaker:UpdateModelPackage", VERSION, {APPROVAL: "Approved"}),
        ("sagemaker:UpdateModelPackage", VERSION, {STAGE_KEY: "Production", STATUS: "Deployed"}),
        ("sagemaker:CreateModelPackage", GROUP, {APPROVAL: "PendingManualApproval"}),
        ("sagemaker:DeleteModelPackage", VERSION, {}),
        ("sagemaker:PutModelPackageGroupPolicy", GROUP, {}),
        ("sagemaker:StartPipelineExecution", PIPELINE, {}),
        ("sagemaker:StopPipelineExecution", EXECUTION, {}),
        ("sagemaker:RetryPipelineExecution", EXECUTION, {}),
        ("sagemaker:UpdatePipeline", PIPELINE, {}),
        ("s3:PutObject", EVALUATION, TLS),
        ("s3:DeleteObject", EVALUATION, TLS),
        ("kms:Encrypt", "dev-data-key", VIA_S3),
        ("kms:GenerateDataKey", "dev-data-key", VIA_S3),
    ],
)
def test_the_evidence_reader_writes_nothing(
    iam: Platform, action: str, resource: str, context: dict[str, Any]
) -> None:
    resource = _data_key(iam) if resource == "dev-data-key" else resource
    decision = iam.decide(iam.role(READER).session_arn("gate"), action, resource, context)
    assert not decision.allowed, decision.reason
    if action == "sagemaker:UpdateModelPackage":
        assert decision.sids == {"DenyApprovalStatusChanges"}  # the repository's guardrail


@pytest.mark.parametrize(
    ("role", "person"), [("ModelRiskApprover", "bob"), ("credit-risk-dev-data-scientist", "alice")]
)
def test_people_in_dev_make_the_gates_reads_as_themselves(
    iam: Platform, role: str, person: str
) -> None:
    """`registry approve` (the approver) and `registry show` run the same gate in dev with the
    person's own role: the build's execution, and for the approver the evidence JSON too. (Data
    scientists are given no read of model-build/, which also holds data splits: their `show`
    lists the evidence references but cannot re-check the recorded metrics.)"""
    as_person = session(iam, role, person)
    for action, resource, context in _gate_reads(iam):
        if role != "ModelRiskApprover" and not action.startswith("sagemaker:"):
            continue
        decision = iam.decide(as_person, action, resource, context)
        assert decision.allowed, (action, decision.reason)


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_promote_record_reads_what_its_endpoint_serves_as_its_own_smoke_test_role(
    iam: Platform, env: str
) -> None:
    """`promote record --serving-role-arn` (the buildspec passes the environment's smoke-test
    role): DescribeEndpoint -> DescribeEndpointConfig -> DescribeModel in that account."""
    account = {"stage": STAGE, "prod": PROD}[env]
    smoke = iam.role(f"credit-risk-{env}-smoke-test")
    promote = session(iam, f"credit-risk-tooling-promote-{env}", "build")
    assert iam.can_assume(promote, smoke.arn).allowed
    other = "prod" if env == "stage" else "stage"
    assert not iam.can_assume(promote, iam.role(f"credit-risk-{other}-smoke-test").arn).allowed
    sagemaker = f"arn:aws:sagemaker:us-east-1:{account}"
    as_smoke = smoke.session_arn("serving-check")
    for action, resource in (
        ("sagemaker:DescribeEndpoint", f"{sagemaker}:endpoint/credit-risk-{env}"),
        ("sagemaker:DescribeEndpointConfig", f"{sagemaker}:endpoint-config/credit-risk-{env}-1"),
        ("sagemaker:DescribeModel", f"{sagemaker}:model/credit-risk-{env}-1"),
    ):
        assert iam.decide(as_smoke, action, resource).allowed, action
    assert not iam.decide(
        as_smoke, "sagemaker:UpdateEndpoint", f"{sagemaker}:endpoint/credit-risk-{env}"
    ).allowed


def test_the_start_build_step_makes_every_call_of_buildrun_start_with_the_right_role(
    iam: Platform,
) -> None:
    """`finmlops.buildrun start --starter-role-arn <dev starter> --provenance-from-git`: AssumeRole
    as the start-build role; DescribePipeline (the declared parameters) and
    StartPipelineExecution as dev's starter; the build-started record (ListObjectVersions of its
    chain, GetObject of the head, a conditional PutObject) as the start-build role itself.
    sts:GetCallerIdentity needs no permission (STS API reference, GetCallerIdentity)."""
    start = session(iam, "credit-risk-tooling-start-build", "build")
    starter = iam.role("credit-risk-dev-build-starter")
    assert iam.can_assume(start, starter.arn).allowed
    as_starter = starter.session_arn("finmlops-start-build")
    for action in ("sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution"):
        decision = iam.decide(as_starter, action, PIPELINE)
        assert decision.allowed, (action, decision.reason)
    # The champion, from the registry's ModelLifeCycle (ADR 0029): list and describe versions.
    for action, resource in (
        ("sagemaker:ListModelPackages", GROUP), ("sagemaker:DescribeModelPackage", VERSION),
    ):  # fmt: skip
        decision = iam.decide(as_starter, action, resource)
        assert decision.allowed, (action, decision.reason)
    audit = f"arn:aws:s3:::credit-risk-audit-{TOOLING}-us-east-1"
    record = f"{audit}/audit/credit-risk-xgb/000000000007.json"
    for action, resource, context in (
        ("s3:ListBucketVersions", audit, {**TLS, "s3:prefix": "audit/credit-risk-xgb/"}),
        ("s3:GetObject", record, TLS),
        ("s3:GetObjectVersion", record, TLS),
        ("s3:PutObject", record, {**TLS, "s3:if-none-match": "*"}),
    ):
        decision = iam.decide(start, action, resource, context)
        assert decision.allowed, (action, decision.reason)
    # The starter starts builds and nothing else: no registration, no approval, no audit trail.
    for action, resource, context in (
        ("sagemaker:CreateModelPackage", GROUP, {APPROVAL: "PendingManualApproval"}),
        ("sagemaker:UpdateModelPackage", VERSION, {APPROVAL: "Approved"}),
        ("s3:PutObject", record, {**TLS, "s3:if-none-match": "*"}),
    ):
        assert not iam.decide(as_starter, action, resource, context).allowed, action
