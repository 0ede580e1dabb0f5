"""Insiders against the evidence reader (ADR 0016): dev's read-only role that tooling's
promotion gate assumes to read the registry, the build's execution and its evidence.

The reader is a new path into dev, open to code the promotion roles run (repository code, with
their environment's rights). IAM keeps it read-only: tests/cdk/test_iam_platform.py decides on the
synthesized templates that, as the reader, nobody approves, writes the audit trail, starts a
build, plants evidence or chains on. Here the second line: were a grant ever added by mistake,
what the reader could do still names nobody, and reading through it changes no one the gate
judges, because the gate judges what AWS recorded on the version and the execution, not who
reads them.
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
