"""`finmlops audit verify` against moto: an intact trail passes; each way of changing a record
afterwards is detected and the first broken link is named.

moto does not evaluate the bucket policy that denies writes without If-None-Match (asserted on
the templates in tests/cdk/test_audit_trail.py), so here the insider's plain PutObject and
DeleteObject go through, as they would for an administrator who removed the policy first.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from finmlops.cli import ExitCode, main
from finmlops.contracts import AuditAction, AuditRecord
from finmlops.registry.audit import CSV_COLUMNS, AuditTrail, record_hash, seal
from finmlops.registry.audit_verify import _retention_problems, verify_trail
from finmlops.registry.errors import NotFoundError
from finmlops.registry.storage import ObjectLock, Retention

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")
DEFAULT_DAYS = 2557
RETENTION = {"retention", "no-default-retention"}


@pytest.fixture
def locked(world: Any) -> AuditTrail:
    """The tooling audit bucket as the template makes it: Object Lock, COMPLIANCE by default."""
    world.s3.put_object_lock_configuration(
        Bucket=world.audit_bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": DEFAULT_DAYS}},
        },
    )
    return world.audit()


@pytest.fixture
def lenient(world: Any) -> AuditTrail:
    """A versioned bucket without Object Lock, where an administrator can remove versions: what
    is left to catch a change is the chain itself."""
    name = "lenient-audit-bucket"
    world.s3.create_bucket(Bucket=name)
    world.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return AuditTrail(world.s3, name)


def _story(trail: AuditTrail, group: str) -> list[AuditRecord]:
    return [
        trail.append(AuditAction.APPROVAL_REFUSED, "alice", group=group, reason="own version"),
        trail.append(AuditAction.APPROVE, "bob", group=group, reason="independent"),
        trail.append(AuditAction.PROMOTION_STARTED, "handler", group=group),
        trail.append(AuditAction.DEPLOY, "pipeline", group=group, environment="stage"),
    ]


def _put(trail: AuditTrail, record_id: str, body: str) -> None:
    trail.s3.put_object(Bucket=trail.bucket, Key=trail.key_of(record_id), Body=body.encode())


def _purge(trail: AuditTrail, record_id: str) -> None:
    """Remove every version of a record (possible only where no retention holds it)."""
    key = trail.key_of(record_id)
    for version in trail.s3.list_object_versions(Bucket=trail.bucket, Prefix=key)["Versions"]:
        trail.s3.delete_object(Bucket=trail.bucket, Key=key, VersionId=version["VersionId"])


def _chain_problems(report: Any) -> list[Any]:
    return [p for p in report.problems if p.kind not in RETENTION]


def test_an_intact_trail_passes_with_every_chain_and_the_retention_reported(world, locked):
    _story(locked, world.group)
    locked.append(AuditAction.ROLLBACK_REFUSED, "ops", reason="nothing to roll back")

    report = verify_trail(world.s3, world.audit_bucket)

    assert report.ok and report.problems == [] and report.first_broken is None
    assert [(c.chain, c.records) for c in report.chains] == [
        ("_ungrouped", 1), (world.group, 4)
    ]  # fmt: skip
    assert report.chains[1].head == f"{world.group}/000000000004"
    assert report.default_retention.mode == "COMPLIANCE"
    assert report.default_retention.days == DEFAULT_DAYS


def test_a_record_overwritten_through_a_plain_put_is_named_with_its_versions(world, locked):
    records = _story(locked, world.group)
    approval = records[1]
    forged = AuditRecord(**{**asdict(approval), "actor": "mallory"}).to_json()
    _put(locked, approval.record_id, forged)

    report = verify_trail(world.s3, world.audit_bucket)

    assert not report.ok
    assert report.first_broken.record == approval.record_id
    assert report.first_broken.kind == "versions"
    assert "2 object versions" in report.first_broken.detail
    assert report.first_broken.detail.endswith("the latest version changes actor")
    assert [p.record for p in report.problems] == [approval.record_id], report.problems


def test_a_record_hidden_by_a_delete_marker_is_named(world, locked):
    records = _story(locked, world.group)
    locked.s3.delete_object(Bucket=world.audit_bucket, Key=locked.key_of(records[0].record_id))

    report = verify_trail(world.s3, world.audit_bucket)

    assert (report.first_broken.record, report.first_broken.kind) == (
        records[0].record_id,
        "deleted",
    )


def test_a_record_removed_with_its_versions_is_named_as_the_gap_it_leaves(world, lenient):
    records = _story(lenient, world.group)
    _purge(lenient, records[1].record_id)

    report = verify_trail(world.s3, lenient.bucket)

    [gap] = _chain_problems(report)
    assert (gap.record, gap.kind) == (records[1].record_id, "missing")


def test_the_removed_head_of_a_chain_is_caught_only_by_retention(world, lenient):
    """A hash chain cannot show that its last records were cut off: Object Lock is what
    prevents it, and verify reports every record that lacks it."""
    records = _story(lenient, world.group)
    _purge(lenient, records[-1].record_id)

    report = verify_trail(world.s3, lenient.bucket)

    assert _chain_problems(report) == []
    assert {p.record for p in report.problems if p.kind == "retention"} == {
        r.record_id for r in records[:-1]
    }
    assert not report.ok


def test_swapped_records_are_named_where_the_order_breaks(world, lenient):
    records = _story(lenient, world.group)
    second, third = records[1], records[2]
    for record in (second, third):
        _purge(lenient, record.record_id)
    _put(lenient, second.record_id, third.to_json())
    _put(lenient, third.record_id, second.to_json())

    report = verify_trail(world.s3, lenient.bucket)

    problems = _chain_problems(report)
    assert problems[0].record == second.record_id
    assert {p.kind for p in problems if p.record == second.record_id} == {"sequence", "link"}
    # Record 2, now at number 3, links to record 1, which the record at number 2 follows.
    assert {p.kind for p in problems if p.record == third.record_id} == {"sequence", "fork"}


def test_a_record_edited_in_place_is_named_whether_or_not_its_hash_was_redone(world, lenient):
    records = _story(lenient, world.group)
    approval = records[1]
    _purge(lenient, approval.record_id)
    _put(
        lenient,
        approval.record_id,
        AuditRecord(**{**asdict(approval), "actor": "mallory"}).to_json(),
    )

    [problem] = _chain_problems(verify_trail(world.s3, lenient.bucket))
    assert (problem.record, problem.kind) == (approval.record_id, "hash")
    assert "edited" in problem.detail

    # Resealed by the forger: the record is self-consistent, the next link is not.
    _purge(lenient, approval.record_id)
    _put(
        lenient,
        approval.record_id,
        seal(AuditRecord(**{**asdict(approval), "actor": "mallory"})).to_json(),
    )

    [problem] = _chain_problems(verify_trail(world.s3, lenient.bucket))
    assert (problem.record, problem.kind) == (records[2].record_id, "link")


def test_a_forked_chain_is_named_at_the_record_that_forks(world, locked):
    """A writer that did not re-read the head links its record to one that already has a
    successor: both are sealed and created conditionally, and still the chain forks."""
    records = _story(locked, world.group)
    stale = seal(
        AuditRecord(
            **{
                **asdict(records[-1]),
                "record_id": f"{world.group}/000000000005",
                "sequence": 5,
                "actor": "stale-writer",
                "previous_hash": records[1].hash,  # the head it read two records ago
                "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        )
    )
    locked.s3.put_object(
        Bucket=world.audit_bucket,
        Key=locked.key_of(stale.record_id),
        Body=stale.to_json().encode(),
        IfNoneMatch="*",
    )

    report = verify_trail(world.s3, world.audit_bucket)

    assert (report.first_broken.record, report.first_broken.kind) == (stale.record_id, "fork")
    assert records[1].record_id in report.first_broken.detail


def test_a_record_without_retention_is_named_with_what_the_bucket_default_gives(world):
    trail = world.audit()  # Object Lock on, but no default retention: nothing holds the record
    first = trail.append(AuditAction.APPROVE, "bob", group=world.group)

    report = verify_trail(world.s3, world.audit_bucket)

    kinds = [(p.record, p.kind) for p in report.problems]
    assert kinds == [
        (f"s3://{world.audit_bucket}", "no-default-retention"), (first.record_id, "retention")
    ]  # fmt: skip
    assert "and the bucket has no default retention" in report.first_broken.detail
    # With a default set after the record was written (moto refuses to set one on a bucket
    # that has objects; S3 allows it), the record is still unprotected, and verify says why.
    [problem] = _retention_problems(
        first.record_id,
        None,
        written=datetime.now(UTC),
        default=Retention("COMPLIANCE", days=DEFAULT_DAYS),
        now=datetime.now(UTC),
    )
    assert problem.detail == (
        "has no Object Lock retention, so it can be deleted: the bucket's default "
        f"(COMPLIANCE, {DEFAULT_DAYS} days) applies only to objects written while it is set"
    )


def test_a_record_written_with_a_shortened_retention_is_named(world, locked):
    """A writer may pass its own retain-until date; the bucket policy denies less than the
    default on AWS, and verify names any record retained for less."""
    short = AuditTrail(world.s3, world.audit_bucket, lock=ObjectLock(days=30))
    _story(locked, world.group)
    brief = short.append(AuditAction.DEPLOY, "pipeline", group=world.group, environment="prod")

    report = verify_trail(world.s3, world.audit_bucket)

    assert (report.first_broken.record, report.first_broken.kind) == (brief.record_id, "retention")
    assert "shorter than the bucket's default" in report.first_broken.detail


def test_a_backdated_record_is_named(world, lenient):
    past = AuditTrail(world.s3, lenient.bucket, clock=lambda: datetime.now(UTC) - timedelta(days=3))
    record = past.append(AuditAction.APPROVE, "bob", group=world.group)

    [problem] = _chain_problems(verify_trail(world.s3, lenient.bucket))
    assert (problem.record, problem.kind) == (record.record_id, "time")


def test_verify_of_one_group_and_of_a_group_without_records(world, locked):
    _story(locked, world.group)
    locked.append(AuditAction.APPROVE, "bob", group="other-group")

    report = verify_trail(world.s3, world.audit_bucket, group="other-group")

    assert [c.chain for c in report.chains] == ["other-group"] and report.ok
    with pytest.raises(NotFoundError, match="no audit records of group 'no-such-group'"):
        verify_trail(world.s3, world.audit_bucket, group="no-such-group")


# ----------------------------------------------------------------------- the command


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", CONFIG])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_audit_verify_exits_0_on_an_intact_trail_and_1_naming_the_first_broken_link(
    world, locked, capsys
):
    records = _story(locked, world.group)

    code, out, _ = _run(capsys, "audit", "verify")
    assert code == ExitCode.OK
    assert f"{world.group}: 4 records" in out and "audit trail intact: 4 records" in out

    _put(
        locked, records[2].record_id, AuditRecord(**{**asdict(records[2]), "actor": "x"}).to_json()
    )
    code, out, err = _run(capsys, "audit", "verify", "--json")
    report = json.loads(out)
    assert code == ExitCode.REFUSED
    assert report["ok"] is False
    assert report["first_broken"]["record"] == records[2].record_id
    assert report["chains"][0]["first_broken"] == records[2].record_id
    assert f"{records[2].record_id}: 2 object versions" in err


def test_audit_verify_usage_and_not_found_exit_codes(world, locked, capsys):
    _story(locked, world.group)

    assert _run(capsys, "audit", "verify", "--group", "bad_name")[0] == ExitCode.USAGE
    code, _, err = _run(capsys, "audit", "verify", "--group", "no-such-group")
    assert code == ExitCode.NOT_FOUND and "no-such-group" in err
    code, _, err = _run(capsys, "audit", "verify", "--audit-bucket", "no-such-bucket")
    assert code == ExitCode.NOT_FOUND and "no-such-bucket" in err


def test_export_carries_each_records_version_id_hash_and_retain_until(world, locked, capsys):
    records = _story(locked, world.group)

    code, out, _ = _run(capsys, "audit", "export", "--format", "json")

    exported = json.loads(out)
    assert code == ExitCode.OK
    versions = {
        v["Key"]: v["VersionId"]
        for v in world.s3.list_object_versions(Bucket=world.audit_bucket)["Versions"]
    }
    for row, record in zip(exported, records, strict=True):
        assert row["hash"] == record.hash == record_hash({k: row[k] for k in CSV_COLUMNS})
        assert row["version_id"] == versions[locked.key_of(record.record_id)]
        assert row["retention_mode"] == "COMPLIANCE"
        until = datetime.fromisoformat(row["retain_until"].replace("Z", "+00:00"))
        assert until - datetime.now(UTC) > timedelta(days=DEFAULT_DAYS - 1)

    code, out, _ = _run(capsys, "audit", "export")
    header = out.splitlines()[0].split(",")
    assert header[-3:] == ["version_id", "retention_mode", "retain_until"] and "hash" in header
