"""The promotion gate reads dev as dev's evidence reader when one is named (ADR 0016).

On AWS the approval handler and the promotion builds run in tooling, while the registry, the
model-build pipeline's executions and the evidence JSON are dev's. The handler (with
`EVIDENCE_ROLE_ARN`) and `promote resolve --evidence-role-arn` make those reads with the
reader's session and everything else (audit trail, claims, history, pipeline start) with their
own. Each request is observed as signed: the access key in its SigV4 `Authorization` header,
mapped to the principal moto issued it to (`finmlops.emulator.aws.identity.caller_of`). What
the reader may do on AWS is decided on the synthesized templates
(tests/cdk/test_iam_platform.py, the same list of calls).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from finmlops.cli import ExitCode, main
from finmlops.contracts import Approval, AuditAction, Promotion
from finmlops.emulator.aws.identity import caller_of
from finmlops.registry import handler as handler_module
from finmlops.registry.approval import approve
from finmlops.registry.gatecheck import gates_to_json

ACCOUNT = "123456789012"
READER = f"arn:aws:iam::{ACCOUNT}:role/credit-risk-dev-evidence-reader"
READER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/credit-risk-dev-evidence-reader/"
CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")

# What the gate reads in dev of a version a pipeline execution registered (authorship.py,
# gatecheck.py, versions.py); tests/cdk/test_iam_platform.py decides the same calls as the reader.
GATE_READS = {
    ("sagemaker", "DescribeModelPackage"),
    ("sagemaker", "ListPipelineExecutionSteps"),
    ("sagemaker", "DescribePipelineExecution"),
    ("sagemaker", "ListPipelineParametersForExecution"),
    ("sagemaker", "DescribePipelineDefinitionForExecution"),
    ("s3", "GetObject"),  # the evaluation JSON the version names
}
# At approval the gate also finds the champion serving in prod (registry.champion, ADR 0029).
APPROVAL_READS = GATE_READS | {("sagemaker", "ListModelPackages")}


@dataclass(frozen=True)
class Signed:
    service: str
    operation: str
    principal: str  # the ARN of whoever holds the signing key
    url: str


@pytest.fixture
def signed(world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Signed]]:
    """Every request made through a boto3 session created during the test, with its signer.
    (The world's own clients were built before, so only the code under test is watched.)"""
    calls: list[Signed] = []
    make_session = boto3.session.Session

    def watched(*args: Any, **kwargs: Any) -> boto3.session.Session:
        session = make_session(*args, **kwargs)

        def seen(request: Any, event_name: str, **_: Any) -> None:
            _, service, operation = event_name.split(".", 2)
            header = request.headers.get("Authorization", b"")
            text = header.decode() if isinstance(header, bytes) else str(header)
            key = text.split("Credential=")[1].split("/")[0]
            calls.append(Signed(service, operation, caller_of(key, ACCOUNT).arn, request.url))

        session.events.register("before-send", seen)
        return session

    monkeypatch.setattr(boto3.session, "Session", watched)
    yield calls


def _role(world: Any, name: str) -> str:
    """A role of the emulated account that its principals may assume."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "sts:AssumeRole"}
        ],
    }  # fmt: skip
    role = world.client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(role["Role"]["Arn"])


def _reader_role(world: Any) -> str:
    role = _role(world, "credit-risk-dev-evidence-reader")
    assert role == READER
    return role


@pytest.fixture
def approved(world: Any, build: Any) -> Any:
    """A version a pipeline execution registered (Alice started it), approved by Bob."""
    built = build(starter=world.alice)
    world.sign_off(built.package_arn)  # Carol's, as the high tier requires
    approve(
        world.bob.client("sagemaker"), world.bob.client("sts"), world.audit(),
        arn=built.package_arn, reason="validated", gates=world.gates,
    )  # fmt: skip
    return built


def _handler_env(world: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        Promotion.ENV_GROUPS: world.group,
        Promotion.ENV_PIPELINE: pipeline.name,
        Promotion.ENV_AUDIT_BUCKET: world.audit_bucket,
        Promotion.ENV_STATE_BUCKET: world.state_bucket,
        Promotion.ENV_GATES: gates_to_json(world.gates),
    }.items():
        monkeypatch.setenv(name, value)


def _invoke(event: dict[str, Any]) -> dict[str, str]:
    handler_module._clients.cache_clear()  # a fresh Lambda container
    try:
        return handler_module.handler(event, None)
    finally:
        handler_module._clients.cache_clear()


def _reads(calls: list[Signed], by: str) -> set[tuple[str, str]]:
    return {(c.service, c.operation) for c in calls if c.principal.startswith(by)}


def test_the_handler_reads_dev_as_the_evidence_reader_and_writes_as_itself(
    world, approved, pipeline, event, signed, monkeypatch
):
    _handler_env(world, pipeline, monkeypatch)
    monkeypatch.setenv(Promotion.ENV_EVIDENCE_ROLE, _reader_role(world))

    result = _invoke(event(approved.package_arn, Approval.APPROVED, group=world.group, version=1))

    assert result["result"] == "started", result
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: approved.package_arn}]
    # Every read the gate makes in dev went through the reader's session, and only those.
    assert _reads(signed, READER_SESSION) == APPROVAL_READS
    evidence = [c for c in signed if c.operation == "GetObject" and "evidence-bucket" in c.url]
    assert evidence and all(c.principal.startswith(READER_SESSION) for c in evidence)
    # The handler's own role: the AssumeRole, the audit trail, the claims, the pipeline start.
    own = [c for c in signed if not c.principal.startswith(READER_SESSION)]
    assert {c.service for c in own} == {"sts", "s3", "codepipeline"}
    assert all("evidence-bucket" not in c.url for c in own)
    assert [c.operation for c in own if c.service == "sts"] == ["AssumeRole"]
    writes = [c for c in signed if c.operation in {"PutObject", "StartPipelineExecution"}]
    assert writes and all(not c.principal.startswith(READER_SESSION) for c in writes)
    actions = world.audit_actions()
    assert actions[-2:] == [AuditAction.APPROVAL_OBSERVED, AuditAction.PROMOTION_STARTED]


def test_without_the_setting_the_handler_reads_with_its_own_role(
    world, approved, pipeline, event, signed, monkeypatch
):
    """A single-account deployment, or the emulator without the role: nothing is assumed, and
    DescribeModelPackage (through the group's policy on AWS) and the other reads are its own."""
    _handler_env(world, pipeline, monkeypatch)
    monkeypatch.delenv(Promotion.ENV_EVIDENCE_ROLE, raising=False)

    result = _invoke(event(approved.package_arn, Approval.APPROVED, group=world.group, version=1))

    assert result["result"] == "started", result
    assert not [c for c in signed if c.operation == "AssumeRole"]
    assert {c.principal for c in signed} == {caller_of("testing", ACCOUNT).arn}
    assert _reads(signed, caller_of("testing", ACCOUNT).arn) >= GATE_READS


def test_junk_and_foreign_events_assume_nothing(world, pipeline, event, signed, monkeypatch):
    """Only an event the handler acts on reads dev: a malformed event, another group or an
    alarm is handled without an AssumeRole (which could fail and raise). A pending version's
    event may be a validator's sign-off, which the handler must read (ADR 0030)."""
    _handler_env(world, pipeline, monkeypatch)
    monkeypatch.setenv(Promotion.ENV_EVIDENCE_ROLE, _reader_role(world))
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{world.group}/1"

    results = [
        _invoke({"junk": True}),
        _invoke(event(arn, Approval.APPROVED, group="someone-elses-group", version=1)),
        _invoke(
            {"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
             "detail": {"alarmName": "not-ours", "state": {"value": "ALARM"}}}
        ),
    ]  # fmt: skip

    assert [r["result"] for r in results] == ["ignored"] * 3
    assert signed == []


def _cli(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = main([*argv, "--config", CONFIG, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


@pytest.mark.parametrize("configured", [True, False])
def test_promote_resolve_reads_dev_as_the_named_reader_and_records_as_the_caller(
    world, approved, pipeline, signed, capsys, tmp_path, configured
):
    assert world.deliver(approved.package_arn, pipeline).result == "started"
    role = ["--evidence-role-arn", _reader_role(world)] if configured else []
    manifest = tmp_path / "manifest.json"
    signed.clear()

    code, result, err = _cli(
        capsys, "promote", "resolve", approved.package_arn, "--environment", "stage",
        "--out", str(manifest), *role,
    )  # fmt: skip

    assert code == ExitCode.OK, err
    assert result["model_package_arn"] == approved.package_arn
    own = caller_of("testing", ACCOUNT).arn
    if configured:
        assert _reads(signed, READER_SESSION) == GATE_READS
        assert all(
            c.principal == own for c in signed if c.service == "s3" and "evidence" not in c.url
        )
    else:
        assert not [c for c in signed if c.operation == "AssumeRole"]
        assert _reads(signed, READER_SESSION) == set()
    # The record is the caller's: its actor, signed with its own key.
    record = world.audit().records()[-1]
    assert record.action == AuditAction.PROMOTION_RESOLVED
    assert record.actor == own
    (put,) = [c for c in signed if c.operation == "PutObject"]
    assert put.principal == own


def test_promote_record_reads_what_serves_as_the_serving_role_and_records_as_the_caller(
    world, approved, pipeline, signed, capsys, tmp_path
):
    """The buildspec passes the environment's smoke-test role: DescribeEndpoint ->
    DescribeEndpointConfig -> DescribeModel in the serving account, as that role; the audit
    record and the history entry with the promotion's own role."""
    assert world.deliver(approved.package_arn, pipeline).result == "started"
    manifest = tmp_path / "manifest.json"
    code, _, err = _cli(
        capsys, "promote", "resolve", approved.package_arn, "--environment", "stage",
        "--out", str(manifest),
    )  # fmt: skip
    assert code == ExitCode.OK, err
    world.serve("stage", approved.package_arn)
    smoke = _role(world, "credit-risk-stage-smoke-test")
    signed.clear()

    code, entry, err = _cli(
        capsys, "promote", "record", "--manifest", str(manifest), "--serving-role-arn", smoke,
        "--no-lifecycle",
    )  # fmt: skip

    assert code == ExitCode.OK, err
    assert (entry["environment"], entry["version"]) == ("stage", 1)
    serving = f"arn:aws:sts::{ACCOUNT}:assumed-role/credit-risk-stage-smoke-test/"
    assert _reads(signed, serving) == {
        ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "DescribeEndpointConfig"),
        ("sagemaker", "DescribeModel"),
    }
    own = caller_of("testing", ACCOUNT).arn
    puts = [c for c in signed if c.operation == "PutObject"]
    assert len(puts) == 2 and {c.principal for c in puts} == {own}  # audit record, history
