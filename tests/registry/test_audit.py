"""The audit trail: complete records, time order, write-once, retention, examiner exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops.contracts import AuditAction, AuditRecord
from finmlops.registry.approval import approve, reject
from finmlops.registry.audit import CSV_COLUMNS, AuditFilter, AuditTrail, to_csv, to_json
from finmlops.registry.errors import ConflictError, RefusedError
from finmlops.registry.storage import ObjectLock, put_new


def _decisions(world: Any, register: Any) -> None:
    """Alice is refused on her own version, Bob approves it, then Bob rejects a second one."""
    first, second = register(), register()
    alice, bob = world.alice, world.bob
    with pytest.raises(RefusedError):
        approve(
            alice.client("sagemaker"),
            alice.client("sts"),
            world.audit(),
            arn=first,
            reason="reviewed by the author",
            gates=world.gates,
        )
    approve(
        bob.client("sagemaker"),
        bob.client("sts"),
        world.audit(),
        arn=first,
        reason="reviewed by validation",
        gates=world.gates,
    )
    reject(
        world.bob.client("sagemaker"),
        world.bob.client("sts"),
        world.audit(),
        arn=second,
        reason='=HYPERLINK("http://x") unstable',
    )


def test_every_decision_leaves_a_complete_record_in_time_order(world, register):
    _decisions(world, register)

    records = world.audit().records()

    assert [r.action for r in records] == [
        AuditAction.APPROVAL_REFUSED,
        AuditAction.APPROVE,
        AuditAction.REJECT,
    ]
    assert [r.actor for r in records] == [world.alice.arn, world.bob.arn, world.bob.arn]
    assert [r.at for r in records] == sorted(r.at for r in records)
    for record in records:
        assert record.record_id and record.at.endswith("Z")
        assert record.model_package_group == world.group
        assert record.model_package_arn.startswith("arn:aws:sagemaker:")
        assert record.reason
        assert record.previous_state["status"] == "PendingManualApproval"
        assert "ModelMetrics.ModelQuality.Statistics" in record.evidence
        assert "DriftCheckBaselines.ModelDataQuality.Constraints" in record.evidence


def test_an_audit_record_cannot_be_overwritten(world, register):
    _decisions(world, register)
    trail = world.audit()
    first = trail.records()[0]
    key = trail.key_of(first.record_id)
    forged = AuditRecord(**{**first.__dict__, "actor": "someone-else"}).to_json()

    with pytest.raises(ConflictError, match="never overwritten"):
        put_new(world.s3, world.audit_bucket, key, forged)
    # Nor through the plain API with the same condition the trail uses.
    with pytest.raises(ClientError) as raw:
        world.s3.put_object(Bucket=world.audit_bucket, Key=key, Body=forged, IfNoneMatch="*")
    assert raw.value.response["Error"]["Code"] == "PreconditionFailed"
    assert trail.records()[0] == first


def test_records_get_compliance_retention_when_configured(world):
    trail = AuditTrail(world.s3, world.audit_bucket, lock=ObjectLock(days=2557))

    record = trail.append(AuditAction.ROLLBACK_REFUSED, "ops", group="g", reason="test")

    head = world.s3.head_object(Bucket=world.audit_bucket, Key=trail.key_of(record.record_id))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert until - datetime.now(UTC) > timedelta(days=2556)
    with pytest.raises(ClientError):
        world.s3.delete_object(
            Bucket=world.audit_bucket,
            Key=trail.key_of(record.record_id),
            VersionId=head["VersionId"],
        )


def test_export_to_csv_and_json_for_an_examiner(world, register):
    _decisions(world, register)
    records = world.audit().records()

    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    exported = json.loads(to_json(records))

    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["action"] for r in rows] == [r.action for r in records]
    assert json.loads(rows[1]["evidence"]) == records[1].evidence
    assert rows[1]["version"] == "1"
    # A reason that a spreadsheet would run as a formula is exported inert.
    assert rows[2]["reason"].startswith("'=HYPERLINK")
    assert [AuditRecord(**r) for r in exported] == records


def test_records_can_be_filtered_by_group_action_and_time(world, register):
    _decisions(world, register)
    trail = world.audit()
    trail.append(AuditAction.ROLLBACK_REFUSED, "ops", group="other-group", reason="x")
    now = datetime.now(UTC)

    assert len(trail.records(AuditFilter(group=world.group))) == 3
    only = trail.records(AuditFilter(actions=frozenset({AuditAction.REJECT})))
    assert [r.action for r in only] == [AuditAction.REJECT]
    assert trail.records(AuditFilter(since=now + timedelta(days=1))) == []
    assert trail.records(AuditFilter(until=now - timedelta(days=1))) == []
    assert len(trail.records(AuditFilter(since=now - timedelta(hours=1)))) == 4
