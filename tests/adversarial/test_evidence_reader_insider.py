"""Insiders against the evidence reader (ADR 0016): dev's read-only role that tooling's
promotion gate assumes to read the registry, the build's execution and its evidence.

The reader is a new path into dev, open to code the promotion roles run (repository code, with
their environment's rights). The first line is IAM: decided by `finmlops.iam` on the synthesized
templates (below), as the reader nobody approves, writes the audit trail, starts a build, plants
evidence, chains on, or reads evidence anywhere but where the build writes it. The second line
is the code, at run time in the emulated account: were a grant ever added by mistake, what the
reader could do still names nobody, and reading through it changes no one the gate judges,
because the gate judges what AWS recorded on the version and the execution, not who reads them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from finmlops.contracts import Approval, AuditAction
from finmlops.registry.approval import approve
from finmlops.registry.errors import RefusedError
from finmlops.registry.handler import handle_state_change

READER_NAME = "credit-risk-dev-evidence-reader"
# The synthesized platform's accounts and resources (config/platform.yaml).
DEV, TOOLING = "111111111111", "444444444444"
GROUP = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package-group/credit-risk-xgb"
VERSION = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/credit-risk-xgb/3"
PIPELINE = f"arn:aws:sagemaker:us-east-1:{DEV}:pipeline/credit-risk-model-build"
ARTIFACTS = f"arn:aws:s3:::credit-risk-artifacts-{DEV}-us-east-1"
EVALUATION = f"{ARTIFACTS}/model-build/0a1b2c3d4e5f/evaluation/evaluation.json"
APPROVAL = "sagemaker:ModelApprovalStatus"
TLS = {"aws:SecureTransport": True}


def _reader(world: Any) -> Any:
    """The reader's session, as the approval handler's role (no person behind it) assumes it."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "sts:AssumeRole"}
        ],
    }  # fmt: skip
    role = world.client("iam").create_role(
        RoleName=READER_NAME, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    # The emulator's default keys stand for the handler's own role (a Person of the world).
    handler_role = type(world.alice)("promotion-handler", "", "testing", "testing")
    return handler_role.assume(role, "credit-risk-tooling-promotion-handler")


def _deliver_reading_as(world: Any, pipeline: Any, arn: str, reader: Any) -> Any:
    """The approval event, handled with dev read through `reader` (as EVIDENCE_ROLE_ARN does)."""
    described = world.describe(arn)
    event = {
        "id": "evt-reader",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "detail": {
            "ModelPackageGroupName": described["ModelPackageGroupName"],
            "ModelPackageVersion": described["ModelPackageVersion"],
            "ModelPackageArn": arn,
            "ModelApprovalStatus": described["ModelApprovalStatus"],
        },
    }
    return handle_state_change(
        event,
        sagemaker=reader.client("sagemaker"),
        s3=world.s3,
        evidence_s3=reader.client("s3"),
        codepipeline=pipeline.client,
        cloudwatch=world.client("cloudwatch"),
        settings=world.handler_settings(pipeline.name),
    )


def test_a_build_started_through_the_evidence_reader_names_nobody_and_is_never_approved(
    world, build
):
    """The insider runs code in a promotion role and chains into the reader to start a build
    that no person is recorded as starting (IAM denies the reader StartPipelineExecution). Were it
    allowed, SageMaker records the reader's session as the starter, which names no person, and
    only the fixed start step writes the build-started record that would name Git's people:
    the version's author is unknown, and no approver can approve it."""
    reader = _reader(world)
    built = build(starter=reader)
    carol = world.person("carol-validator")

    with pytest.raises(RefusedError) as refused:
        approve(
            world.approver(carol).client("sagemaker"), world.approver(carol).client("sts"),
            world.audit(), arn=built.package_arn, reason="ok", gates=world.gates,
        )  # fmt: skip

    assert refused.value.problems[0].startswith("authorship:")
    assert f"assumed-role/{READER_NAME}/" in refused.value.problems[0]
    assert "names no person" in refused.value.problems[0]
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.PENDING


def test_reading_through_the_evidence_reader_changes_no_one_the_gate_judges(world, build, pipeline):
    """Alice built the version and approves it herself in the console, through the approver
    role as herself. The handler reads the version and the execution as the reader, whose
    session is neither Alice nor an approver: the approver is still who SageMaker recorded for
    the status change, the author who it recorded starting the build, and the approval is
    refused and recorded, with the handler as the record's actor."""
    built = build(starter=world.alice)
    world.console_approve(built.package_arn, world.approver(world.alice))

    outcome = _deliver_reading_as(world, pipeline, built.package_arn, _reader(world))

    assert outcome.result == "refused"
    assert outcome.reason.startswith(f"segregation of duties: {world.alice.name}")
    assert pipeline.executions() == []
    record = world.audit().records()[-1]
    assert record.action == AuditAction.PROMOTION_REFUSED
    assert READER_NAME not in record.actor


# --------------------------------------------------------------------------- IAM, the first line
# Decided by finmlops.iam on the synthesized templates (the session's `iam_platform`).


def _data_key(iam: Any) -> str:
    (key,) = [
        r
        for r in iam.resources
        if r.kind == "kms-key" and "alias/credit-risk-dev-data" in r.aliases
    ]
    return str(key.arn)


def test_an_insider_in_a_promotion_role_gains_no_write_through_the_evidence_reader(
    iam_platform: Any,
) -> None:
    """The promotion roles run the repository's code (docs/cdk.md, residual risk). Such code,
    chaining into dev's evidence reader, tries what would get a version to prod without an
    independent approval or rewrite the record: approve it, forge a build-started record or an
    approval-observed record in the audit trail, start a build that the reader (not a person)
    would be recorded as starting, plant evidence, or chain on into the roles that can write."""
    iam = iam_platform
    promote = iam.role("credit-risk-tooling-promote-prod").session_arn("build")
    reader = iam.role(READER_NAME)
    assert iam.can_assume(promote, reader.arn).allowed
    as_reader = reader.session_arn("gate")
    audit = f"arn:aws:s3:::credit-risk-audit-{TOOLING}-us-east-1/audit/credit-risk-xgb/000000000009.json"
    create_only = {**TLS, "s3:if-none-match": "*"}
    for action, resource, context in (
        ("sagemaker:UpdateModelPackage", VERSION, {APPROVAL: "Approved"}),
        ("s3:PutObject", audit, create_only),  # a forged build-started / approval-observed
        ("sagemaker:StartPipelineExecution", PIPELINE, {}),
        ("s3:PutObject", EVALUATION, TLS),  # evidence with better numbers
        ("sagemaker:CreateModelPackage", GROUP, {APPROVAL: "PendingManualApproval"}),
    ):
        decision = iam.decide(as_reader, action, resource, context)
        assert not decision.allowed, (action, decision.reason)
    for target in (
        "credit-risk-dev-build-starter",
        "credit-risk-dev-registry-lifecycle",
        "ModelRiskApprover",
        "credit-risk-dev-sagemaker-build",
    ):
        assert not iam.can_assume(as_reader, iam.role(target).arn).allowed, target


def test_the_gate_reads_evidence_only_where_the_build_writes_it(iam_platform: Any) -> None:
    """An author who points a version's ModelMetrics at JSON of their own choosing (another
    bucket, their own account's public object, another prefix of the artifact bucket) gets
    nothing read through the reader: the gate fails on AccessDenied (the handler raises, so
    EventBridge retries and dead-letters) instead of judging forged numbers."""
    iam = iam_platform
    as_reader = iam.role(READER_NAME).session_arn("gate")
    # Another account's bucket: across accounts the reader's own policy must allow as well,
    # whatever the bucket's policy says (IAM User Guide, "Cross-account policy evaluation logic").
    outside = iam.decide(
        as_reader,
        "s3:GetObject",
        "arn:aws:s3:::mallory-public-bucket/evaluation.json",
        TLS,
        resource_account="999999999999",
    )
    assert not outside.allowed
    for resource in (
        f"{ARTIFACTS}/mlflow/1/run/artifacts/evaluation.json",
        f"{ARTIFACTS}/code/evaluate.py",
        f"{ARTIFACTS}/data/lending_club.csv",
    ):
        assert not iam.decide(as_reader, "s3:GetObject", resource, TLS).allowed, resource
    # Nor can the key be used outside S3, for ciphertext the reader was handed some other way.
    assert not iam.decide(as_reader, "kms:Decrypt", _data_key(iam)).allowed
    # Nor the executions of another pipeline in dev.
    other = f"arn:aws:sagemaker:us-east-1:{DEV}:pipeline/mallory/execution/1"
    assert not iam.decide(as_reader, "sagemaker:DescribePipelineExecution", other).allowed
