"""The audit trail's hash chain: canonical form, sealing, linking, races between writers, and
readers that refuse a record that is not the one version ever written."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from typing import Any

import pytest
import rfc8785
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from finmlops.contracts import AuditAction, AuditRecord
from finmlops.registry.audit import (
    UNGROUPED,
    AuditFilter,
    AuditIntegrityError,
    AuditTrail,
    genesis_hash,
    record_hash,
)
from finmlops.registry.canonical import CanonicalizationError, canonical_json
from finmlops.registry.errors import InvalidInputError

# ----------------------------------------------------------------------- canonical form


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    alphabet = ["a", "Z", '"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "€", "\u2028",
                "\ue000", "\uffff", "\U0001f600", "\U00010000", "/", "<"]  # fmt: skip

    def text() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6)))

    roll = rnd.random()
    if depth > 2 or roll < 0.3:
        return text()
    if roll < 0.4:
        return rnd.randint(-(2**53) + 1, 2**53 - 1)
    if roll < 0.45:
        return rnd.choice([None, True, False])
    if roll < 0.75:
        return {text(): _random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]


def test_canonical_form_is_rfc8785_as_the_reference_library_writes_it():
    """Oracle: the `rfc8785` package on random values, with the characters whose escaping or
    ordering differs between naive serialisers (controls, U+2028, keys beyond U+FFFF)."""
    rnd = random.Random(20261128)
    for _ in range(3000):
        value = _random_value(rnd)
        assert canonical_json(value) == rfc8785.dumps(value), value


@pytest.mark.parametrize("value", [1.5, 2**53, "\ud800", {1: "x"}, b"bytes"])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


def test_a_records_hash_covers_every_field_but_itself():
    record = AuditRecord("g/000000000001", "2026-11-28T10:00:00.000000Z", "approve", "bob", "g")
    data = asdict(record)
    base = record_hash(data)
    assert base.startswith("sha256:") and len(base) == 71
    assert record_hash({**data, "hash": "anything"}) == base
    for name, value in data.items():
        if name == "hash":
            continue
        changed = {**data, name: "x" if value != "x" else "y"}
        assert record_hash(changed) != base, name


# ----------------------------------------------------------------------- writing


def test_records_of_a_group_form_a_hash_chain_from_its_genesis(world):
    trail = world.audit()
    first = trail.append(AuditAction.APPROVE, "bob", group=world.group, reason="ok")
    second = trail.append(AuditAction.DEPLOY, "pipeline", group=world.group, environment="stage")
    other = trail.append(AuditAction.ROLLBACK_REFUSED, "ops", reason="nothing to roll back")

    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)
    assert first.record_id == f"{world.group}/000000000001"
    assert other.record_id == f"{UNGROUPED}/000000000001"
    assert first.previous_hash == genesis_hash(world.group)
    assert other.previous_hash == genesis_hash(UNGROUPED) != genesis_hash(world.group)
    assert second.previous_hash == first.hash == record_hash(asdict(first))
    stored = json.loads(
        world.s3.get_object(Bucket=world.audit_bucket, Key=trail.key_of(second.record_id))[
            "Body"
        ].read()
    )
    assert stored["hash"] == record_hash(stored) == second.hash
    assert trail.records() == [first, second, other]


def test_a_group_name_that_cannot_name_a_chain_is_refused_and_nothing_is_written(world):
    trail = world.audit()
    with pytest.raises(InvalidInputError, match="model package group name"):
        trail.append(AuditAction.APPROVE, "bob", group="../other")
    assert world.s3.list_object_versions(Bucket=world.audit_bucket).get("Versions") is None


def _interleave(client: Any, action: Any) -> None:
    """Run `action` once, just before this client's first PutObject goes out."""
    done: list[bool] = []

    def before_put(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    client.meta.events.register("before-call.s3.PutObject", before_put)


def test_a_writer_that_loses_the_race_rereads_the_head_and_takes_the_next_number(world):
    handler_s3 = world.new_client("s3")
    handler = AuditTrail(handler_s3, world.audit_bucket)
    approver = world.audit()
    approver.append(AuditAction.APPROVE, "bob", group=world.group)
    # The approver writes record 2 between the handler's read of the head and its create.
    won: list[AuditRecord] = []
    _interleave(
        handler_s3,
        lambda: won.append(approver.append(AuditAction.REJECT, "carol", group=world.group)),
    )

    late = handler.append(AuditAction.APPROVAL_OBSERVED, "handler", group=world.group)

    assert [won[0].sequence, late.sequence] == [2, 3]
    assert late.previous_hash == won[0].hash
    assert [r.actor for r in approver.records()] == ["bob", "carol", "handler"]


def test_a_writer_whose_create_landed_but_whose_answer_was_lost_writes_no_duplicate(world):
    """S3 created the record, then the writer saw a conflict (a retry after a lost response
    answers 412): the record at that number is its own, by its hash, so it is done."""
    s3 = world.new_client("s3")
    trail = AuditTrail(s3, world.audit_bucket)

    def conflict_after_the_create(request: Any, **_: Any) -> AWSResponse:
        class _Raw:
            def stream(self, **_: Any) -> Any:
                yield b"<Error><Code>PreconditionFailed</Code><Message>x</Message></Error>"

        return AWSResponse(request.url, 412, {}, _Raw())

    # moto's own before-send handler has created the object by the time this answer is used.
    s3.meta.events.register("before-send.s3.PutObject", conflict_after_the_create)

    record = trail.append(AuditAction.APPROVE, "bob", group=world.group)

    assert record.sequence == 1
    assert world.audit().records() == [record]


def test_a_writer_whose_rival_create_is_in_flight_waits_and_retries_the_same_number(world):
    """moto never answers 409, so botocore's Stubber plays S3: ConditionalRequestConflict is
    S3's answer while another conditional write to the key is in flight (API reference,
    PutObject); here the rival's write then failed, so the number is still free."""
    s3 = world.new_client("s3")
    naps: list[float] = []
    trail = AuditTrail(s3, world.audit_bucket, sleep=naps.append)
    prefix = {"Bucket": world.audit_bucket, "Prefix": f"audit/{world.group}/"}
    key = f"audit/{world.group}/000000000001.json"
    with Stubber(s3) as stub:
        stub.add_response("list_object_versions", {"IsTruncated": False}, prefix)
        stub.add_client_error(
            "put_object", service_error_code="ConditionalRequestConflict", http_status_code=409
        )
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404,
                              expected_params={"Bucket": world.audit_bucket, "Key": key})  # fmt: skip
        stub.add_response("list_object_versions", {"IsTruncated": False}, prefix)
        stub.add_response("put_object", {"VersionId": "v1"})

        record = trail.append(AuditAction.APPROVE, "bob", group=world.group)

        stub.assert_no_pending_responses()
    assert record.sequence == 1 and naps == [0.05]


# ----------------------------------------------------------------------- reading


def _overwrite(world: Any, trail: AuditTrail, record: AuditRecord, **changes: Any) -> None:
    """What the bucket policy denies on AWS and moto lets through: a plain PutObject."""
    forged = AuditRecord(**{**asdict(record), **changes}).to_json()
    world.s3.put_object(Bucket=world.audit_bucket, Key=trail.key_of(record.record_id), Body=forged)


def test_reading_a_record_overwritten_through_a_plain_put_raises_naming_it(world):
    trail = world.audit()
    approval = trail.append(AuditAction.APPROVE, "bob", group=world.group, reason="independent")
    trail.append(AuditAction.DEPLOY, "pipeline", group=world.group)
    _overwrite(world, trail, approval, actor="mallory")

    with pytest.raises(AuditIntegrityError) as refused:
        trail.records()

    [problem] = refused.value.problems
    assert problem.startswith(f"{approval.record_id}: 2 object versions")
    assert "overwritten" in problem
    # Export and the report read through the same function: neither shows the forged actor.
    with pytest.raises(AuditIntegrityError):
        trail.records(AuditFilter(actions=frozenset({AuditAction.APPROVE})))


def test_reading_a_record_hidden_by_a_delete_marker_raises_naming_it(world):
    trail = world.audit()
    refused = trail.append(AuditAction.APPROVAL_REFUSED, "alice", group=world.group)
    world.s3.delete_object(Bucket=world.audit_bucket, Key=trail.key_of(refused.record_id))

    with pytest.raises(AuditIntegrityError, match=f"{refused.record_id}: deleted"):
        trail.records()


def test_reading_a_record_edited_in_place_raises_naming_it(world):
    """Even with the original version gone (an administrator on a bucket without retention),
    the content no longer matches its seal."""
    trail = world.audit()
    record = trail.append(AuditAction.APPROVE, "bob", group=world.group)
    key = trail.key_of(record.record_id)
    [version] = world.s3.list_object_versions(Bucket=world.audit_bucket)["Versions"]
    world.s3.delete_object(Bucket=world.audit_bucket, Key=key, VersionId=version["VersionId"])
    _overwrite(world, trail, record, actor="mallory")

    with pytest.raises(AuditIntegrityError, match="content does not match its hash"):
        trail.records()


def test_a_writer_refuses_to_extend_a_chain_whose_head_was_overwritten(world):
    trail = world.audit()
    head = trail.append(AuditAction.APPROVE, "bob", group=world.group)
    _overwrite(world, trail, head, actor="mallory")

    with pytest.raises(AuditIntegrityError) as refused:
        trail.append(AuditAction.DEPLOY, "pipeline", group=world.group)

    assert any("nothing is appended after it" in p for p in refused.value.problems)
    keys = {v["Key"] for v in world.s3.list_object_versions(Bucket=world.audit_bucket)["Versions"]}
    assert keys == {trail.key_of(head.record_id)}


def test_an_object_under_the_prefix_that_is_no_chain_record_is_refused(world):
    trail = world.audit()
    trail.append(AuditAction.APPROVE, "bob", group=world.group)
    world.s3.put_object(Bucket=world.audit_bucket, Key="audit/2026/11/28/x.json", Body=b"{}")

    with pytest.raises(AuditIntegrityError, match=r"audit/2026/11/28/x\.json: not an audit chain"):
        trail.records()
    # A reader of one group lists only that chain.
    assert len(trail.records(AuditFilter(group=world.group))) == 1


def test_from_json_takes_records_written_before_the_chain_and_fields_it_does_not_know():
    old = {"record_id": "r", "at": "2026-11-28T10:00:00Z", "action": "approve", "actor": "bob",
           "model_package_group": "g"}  # fmt: skip
    record = AuditRecord.from_json(json.dumps({**old, "signature": "from a newer writer"}))
    assert (record.sequence, record.previous_hash, record.hash) == (None, "", "")
    assert record.actor == "bob"


def test_the_handler_and_the_chain_import_nothing_the_lambda_bundle_lacks():
    """The Lambda bundle is src/ alone, on a runtime with the standard library and boto3: why
    the canonical form is written here rather than imported from `rfc8785`."""
    import subprocess
    import sys

    probe = (
        "import json, sys; before = set(sys.modules); "
        "import finmlops.registry.handler, finmlops.registry.audit_verify; "
        "std = set(sys.stdlib_module_names); "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before} - std)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    imported = {m for m in json.loads(done.stdout) if not m.startswith("_")}
    assert imported <= {"finmlops", "botocore", "boto3"}, imported
