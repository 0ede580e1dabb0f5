"""`finmlops registry|promote|audit`: tables, --json, exit codes, config defaults, --endpoint-url."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
import yaml
from moto.server import ThreadedMotoServer
from portfolio_world import (
    SECOND,
    add_group,
    inventory_metadata,
    two_model_data,
    validator_of,
    write_two_models,
)

from finmlops.cli import ExitCode, main
from finmlops.contracts import AuditAction, DeploymentManifest, Meta, Promotion
from finmlops.registry.signoff import submit_signoff

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")
_LOADER = botocore.loaders.create_loader()


@pytest.fixture(autouse=True)
def _shared_service_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each CLI run builds a fresh session, as a real process does; sharing the loader of service
    models between the runs of this module only saves parsing the same JSON files again."""
    make_session = boto3.session.Session

    def session(*args: Any, **kwargs: Any) -> boto3.session.Session:
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        return make_session(*args, botocore_session=core, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", session)


def run(capsys: Any, *argv: str, model: str | None = "credit-risk") -> tuple[int, str, str]:
    """Run the CLI in-process (inside the test's moto) on the shipped config's real-time model,
    or with `model=None` across the portfolio; returns exit code, stdout, stderr."""
    code = main([*argv, "--config", CONFIG, *(["--model", model] if model else [])])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: Any, *argv: str, model: str | None = "credit-risk") -> tuple[int, Any]:
    code, out, _ = run(capsys, *argv, "--json", model=model)
    return code, json.loads(out)


def test_approver_approves_from_the_cli_and_the_list_shows_it(
    world, register, pipeline, capsys, monkeypatch
):
    arn = register()
    _sign_off(world, arn)  # the tier (high) requires Carol's sign-off before approval
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)

    code, decision = run_json(
        capsys, "registry", "approve", "1", "--reason", "validation report MRM-2026-114 signed"
    )

    assert code == ExitCode.OK
    assert decision["status"] == "Approved"
    assert decision["previous_status"] == "PendingManualApproval"
    assert decision["actor"] == bob.arn
    assert world.deliver(arn, pipeline).result == "started"  # SageMaker's event, to the handler
    code, listing = run_json(capsys, "registry", "list")
    assert code == ExitCode.OK
    [version] = listing["versions"]
    assert (version["group"], version["version"], version["status"]) == (world.group, 1, "Approved")
    # Who approved: the handler's record of what SageMaker recorded; who registered: CreatedBy.
    assert version["approved_by"] == world.bob.name
    assert version["registered_by"] == world.alice.name
    assert version["missing_evidence"] == []
    code, table, _ = run(capsys, "registry", "list", "--metrics")
    assert "Approved" in table and "complete" in table and "auc.value=0.81" in table
    assert table.splitlines()[0].split()[:5] == ["MODEL", "GROUP", "TIER", "VERSION", "STATUS"]
    assert table.splitlines()[1].split()[:5] == [
        "credit-risk",
        world.group,
        "high",
        "1",
        "Approved",
    ]


def test_self_approval_exits_1_with_the_reasons(world, register, capsys, monkeypatch):
    register()
    world.alice.use_in_env(monkeypatch)

    code, out, err = run(capsys, "registry", "approve", "1", "--reason", "mine", "--json")

    assert code == ExitCode.REFUSED == 1
    error = json.loads(out)
    assert error["error"] == "refused"
    assert any("segregation of duties" in p for p in error["problems"])
    assert "segregation of duties" in err
    assert world.describe(world.sm.list_model_packages(ModelPackageGroupName=world.group)[
        "ModelPackageSummaryList"][0]["ModelPackageArn"])["ModelApprovalStatus"] == (
        "PendingManualApproval"
    )  # fmt: skip


def test_show_lists_evidence_missing_evidence_and_metrics(world, register, capsys):
    register(without=("drift-baselines",))

    code, out, _ = run(capsys, "registry", "show", "1")

    assert code == ExitCode.OK
    assert "PendingManualApproval" in out
    assert "ModelMetrics.ModelQuality.Statistics: s3://" in out
    assert "- drift baselines: DriftCheckBaselines.ModelDataQuality.Statistics is missing" in out
    assert "binary_classification_metrics.auc.value = 0.81" in out
    assert (
        f"  {world.alice.name} (IAM user, via {world.alice.arn}; AWS DescribeModelPackage.CreatedBy)"
        in out
    )
    assert "min-auc >= 0.65" in out and "min-auc 0.81" in out
    assert "would be refused:" in out
    code, out, _ = run(capsys, "registry", "show", f"{world.group}/1", "--drift-baselines-optional")
    assert "missing evidence: none" in out


def test_reason_is_required(world, register, capsys):
    register()
    with pytest.raises(SystemExit) as exited:
        main(["registry", "approve", "1", "--config", CONFIG])
    assert exited.value.code == ExitCode.USAGE
    assert "--reason" in capsys.readouterr().err
    code, _, err = run(capsys, "registry", "reject", "1", "--reason", "  ")
    assert code == ExitCode.USAGE
    assert "reason:" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("registry", "show", "7"),
        ("registry", "show", "no-such-group/1"),
        ("registry", "list", "--group", "no-such-group"),
    ],
)
def test_unknown_versions_and_groups_exit_3(world, register, capsys, argv):
    register()
    # --group names a group outside the config's models, so not with --model.
    code, error = run_json(capsys, *argv, model=None if "--group" in argv else "credit-risk")
    assert code == ExitCode.NOT_FOUND == 3
    assert error["error"] == "not_found"


def test_bad_version_reference_and_bad_config_exit_2_naming_the_field(world, capsys, tmp_path):
    code, _, err = run(capsys, "registry", "show", "latest!")
    assert code == ExitCode.USAGE
    assert "version:" in err
    bad = tmp_path / "platform.yaml"
    bad.write_text(Path(CONFIG).read_text().replace("risk_tier: high", "risk_tier: extreme"))
    code = main(["registry", "show", "1", "--config", str(bad)])
    assert code == ExitCode.USAGE
    assert "governance.risk_tier" in capsys.readouterr().err


def test_command_group_without_subcommand_shows_its_help(capsys):
    assert main(["promote"]) == ExitCode.USAGE
    assert "rollback" in capsys.readouterr().err


def test_promotion_from_resolve_to_rollback(
    world, register, pipeline, capsys, monkeypatch, tmp_path
):
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    for number in ("1", "2"):
        # Each built while its predecessor serves: v2 is compared with v1 (ADR 0029).
        arn = register()
        _sign_off(world, arn)
        assert run(capsys, "registry", "approve", number, "--reason", "ok")[0] == ExitCode.OK
        assert world.deliver(arn, pipeline, event_id=f"evt-{number}").result == "started"
        manifest = tmp_path / f"v{number}.json"
        code, out, _ = run(
            capsys, "promote", "resolve", number, "--environment", "prod", "--out", str(manifest)
        )
        assert code == ExitCode.OK and str(manifest) in out
        world.serve("prod", arn)  # the deploy
        assert run(capsys, "promote", "record", "--manifest", str(manifest))[0] == ExitCode.OK
    # Without a version, resolve takes the latest approved one.
    code, latest = run_json(capsys, "promote", "resolve", "--environment", "stage")
    assert (code, latest["version"], latest["environment"]) == (ExitCode.OK, 2, "stage")

    code, status = run_json(capsys, "promote", "status", "--environment", "prod")
    assert [(d["environment"], d["version"], d["deployments"]) for d in status["deployments"]] == [
        ("prod", 2, 2)
    ]

    rolled = tmp_path / "rollback.json"
    code, result = run_json(
        capsys, "promote", "rollback", "--environment", "prod", "--reason", "AUC alarm",
        "--out", str(rolled), "--start-pipeline", pipeline.name,
    )  # fmt: skip
    assert code == ExitCode.OK
    assert result["version"] == 1 and result["action"] == "rollback"
    manifest = DeploymentManifest.from_json(rolled.read_text())
    assert (manifest.version, manifest.environment) == (1, "prod")
    assert pipeline.executions()[-1] == {
        Promotion.ARN_VARIABLE: manifest.model_package_arn,
        Promotion.ENVIRONMENT_VARIABLE: "prod",
    }
    code, table, _ = run(capsys, "promote", "status")
    assert "rollback" in table

    code, error = run_json(capsys, "promote", "rollback", "--environment", "stage", "--reason", "x")
    assert code == ExitCode.REFUSED
    assert error["problems"] == ["rollback: no deployment is recorded in stage"]


def test_status_flags_a_rejected_version_that_still_serves_and_one_command_rolls_it_back(
    world, register, pipeline, capsys, monkeypatch, tmp_path
):
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    for number in ("1", "2"):
        arn = register()  # built while its predecessor serves (ADR 0029)
        _sign_off(world, arn)
        run(capsys, "registry", "approve", number, "--reason", "ok")
        world.deliver(arn, pipeline, event_id=f"evt-{number}")
        manifest = tmp_path / f"v{number}.json"
        run(capsys, "promote", "resolve", number, "--environment", "prod", "--out", str(manifest))
        world.serve("prod", arn)
        run(capsys, "promote", "record", "--manifest", str(manifest))
    assert run(capsys, "registry", "reject", "2", "--reason", "bias found")[0] == ExitCode.OK

    code, out, _ = run(capsys, "promote", "status", "--environment", "prod")

    assert code == ExitCode.OK
    assert "Rejected" in out
    assert (
        "WARNING: model credit-risk: version 2 is Rejected and still serves in prod: "
        "`finmlops promote rollback --environment prod --reason ...`"
    ) in out
    code, rolled = run_json(
        capsys, "promote", "rollback", "--environment", "prod", "--reason", "v2 rejected"
    )
    assert (code, rolled["version"]) == (ExitCode.OK, 1)
    code, status = run_json(capsys, "promote", "status", "--environment", "prod")
    assert status["warnings"] == []


def test_record_writes_the_lifecycle_as_the_named_registry_role_and_nothing_else(
    world, register, pipeline, capsys, monkeypatch, tmp_path
):
    """The promotion pipeline runs `promote record --registry-role-arn`: the one registry write is
    signed with that role's temporary credentials and carries the lifecycle alone, which is all
    the role's IAM policy allows (tests/cdk/test_security.py)."""
    arn = register()
    _sign_off(world, arn)
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    assert run(capsys, "registry", "approve", "1", "--reason", "ok")[0] == ExitCode.OK
    assert world.deliver(arn, pipeline).result == "started"
    manifest = tmp_path / "stage.json"
    resolved = ("promote", "resolve", "1", "--environment", "stage", "--out", str(manifest))
    assert run(capsys, *resolved)[0] == ExitCode.OK
    world.serve("stage", arn)
    role = world.new_client("iam").create_role(
        RoleName="credit-risk-dev-registry-lifecycle",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": world.bob.arn}, "Action": "sts:*"}
                ],
            }
        ),
    )["Role"]["Arn"]
    writes: list[tuple[str, dict[str, Any]]] = []
    make_session = boto3.session.Session

    def watched(*args: Any, **kwargs: Any) -> boto3.session.Session:
        session = make_session(*args, **kwargs)

        def seen(request: Any, **_: Any) -> None:
            signer = request.headers["Authorization"].decode().split("Credential=")[1]
            writes.append((signer.split("/")[0], json.loads(request.body)))

        session.events.register("before-send.sagemaker.UpdateModelPackage", seen)
        return session

    monkeypatch.setattr(boto3.session, "Session", watched)
    before = world.describe(_arn(world, 1))

    code, _, err = run(
        capsys, "promote", "record", "--manifest", str(manifest), "--registry-role-arn", role
    )

    assert code == ExitCode.OK, err
    ((key, body),) = writes
    assert key.startswith("ASIA") and key != bob.access_key_id  # the role's, not Bob's
    assert set(body) == {"ModelPackageArn", "ModelLifeCycle"}
    after = world.describe(_arn(world, 1))
    assert after["ModelLifeCycle"]["Stage"] == "Staging"
    for kept in ("ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties"):
        assert after[kept] == before[kept]


def test_record_takes_a_registry_role_or_no_lifecycle_not_both(world, capsys, tmp_path):
    with pytest.raises(SystemExit) as exited:
        run(
            capsys, "promote", "record", "--manifest", str(tmp_path / "m.json"),
            "--no-lifecycle", "--registry-role-arn", "arn:aws:iam::111111111111:role/x",
        )  # fmt: skip
    assert exited.value.code == ExitCode.USAGE
    assert "not allowed with" in capsys.readouterr().err


def _arn(world: Any, version: int) -> str:
    summaries = world.sm.list_model_packages(ModelPackageGroupName=world.group)
    (arn,) = [
        s["ModelPackageArn"]
        for s in summaries["ModelPackageSummaryList"]
        if s["ModelPackageVersion"] == version
    ]
    return str(arn)


def _stored_report(world: Any) -> str:
    """A pending validation report, as the evidence step stores it."""
    from finmlops.governance.bundle import EvidenceBundle
    from finmlops.governance.report import render_validation_report

    html = render_validation_report(world.config, EvidenceBundle())
    world.s3.put_object(Bucket="evidence-bucket", Key="v/validation_report.html", Body=html)
    return "s3://evidence-bucket/v/validation_report.html"


def test_report_fills_the_stored_validation_report_with_the_decision_and_its_record(
    world, register, capsys, monkeypatch, tmp_path
):
    stored = _stored_report(world)
    _sign_off(world, register(metadata={Meta.VALIDATION_REPORT: stored}))
    out = tmp_path / "report.html"

    code, pending = run_json(capsys, "registry", "report", "1", "--out", str(out))
    assert (code, pending["status"], pending["audit_record"]) == (
        ExitCode.OK,
        "PendingManualApproval",
        "",
    )
    assert "No decision yet" in out.read_text()

    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    code, decided = run_json(capsys, "registry", "approve", "1", "--reason", "MRM-114 signed")
    code, report = run_json(capsys, "registry", "report", "1", "--out", str(out))

    assert code == ExitCode.OK
    assert report["audit_record"] == decided["audit_record"]
    assert report["decided_by"] == bob.arn
    html = out.read_text()
    assert "No decision yet" not in html
    for shown in ("MRM-114 signed", bob.arn, decided["audit_record"]):
        assert shown in html
    # The stored evidence itself is left as the step wrote it.
    stored_html = world.s3.get_object(Bucket="evidence-bucket", Key="v/validation_report.html")
    assert "No decision yet" in stored_html["Body"].read().decode()


def test_report_names_the_registered_version_and_its_author_before_and_after_the_decision(
    world, register, capsys, monkeypatch, tmp_path
):
    stored = _stored_report(world)  # written before the version existed
    _sign_off(world, register(metadata={Meta.VALIDATION_REPORT: stored}))
    arn = _arn(world, 1)
    out = tmp_path / "report.html"
    for decide in (False, True):
        if decide:
            world.approver().use_in_env(monkeypatch)
            run_json(capsys, "registry", "approve", "1", "--reason", "MRM-115 signed")
        code, _ = run_json(capsys, "registry", "report", "1", "--out", str(out))
        html = out.read_text()
        assert code == ExitCode.OK
        assert "not registered yet" not in html
        assert f"version <code>{arn}</code>" in html
        assert f"<tr><th>Model package</th><td><code>{arn}</code></td></tr>" in html
        assert world.alice.arn in html  # who AWS recorded as CreatedBy


def test_report_of_a_version_without_one_exits_3(world, register, capsys, tmp_path):
    register()
    code, error = run_json(capsys, "registry", "report", "1", "--out", str(tmp_path / "r.html"))
    assert code == ExitCode.NOT_FOUND
    assert "validation-report" in error["message"]


def test_bad_manifest_file_exits_2(world, capsys, tmp_path):
    broken = tmp_path / "m.json"
    broken.write_text('{"model_package_arn": "x"}')
    code, _, err = run(capsys, "promote", "record", "--manifest", str(broken))
    assert code == ExitCode.USAGE
    assert "manifest:" in err
    code, _, err = run(capsys, "promote", "record", "--manifest", str(tmp_path / "none.json"))
    assert code == ExitCode.USAGE


def test_audit_export_and_history_for_an_examiner(world, register, capsys, monkeypatch, tmp_path):
    _sign_off(world, register())
    world.alice.use_in_env(monkeypatch)
    assert run(capsys, "registry", "approve", "1", "--reason", "mine")[0] == ExitCode.REFUSED
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    assert run(capsys, "registry", "approve", "1", "--reason", "independent")[0] == ExitCode.OK
    assert run(capsys, "registry", "reject", "1", "--reason", "revoked")[0] == ExitCode.OK

    out_file = tmp_path / "audit.csv"
    code, _, err = run(capsys, "audit", "export", "--out", str(out_file))
    assert code == ExitCode.OK and "5 records" in err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert [r["action"] for r in rows] == [
        AuditAction.VALIDATION_SUBMITTED, AuditAction.VALIDATION_OBSERVED,
        AuditAction.APPROVAL_REFUSED, AuditAction.APPROVE, AuditAction.REJECT,
    ]  # fmt: skip
    handler = world.handler_settings().actor
    assert [r["actor"] for r in rows] == [
        validator_of(world, world.config, world.carol).arn, handler, world.alice.arn, bob.arn,
        bob.arn,
    ]  # fmt: skip

    code, out, _ = run(capsys, "audit", "export", "--format", "json", "--action", "approve")
    assert [r["reason"] for r in json.loads(out)] == ["independent"]

    code, history = run_json(capsys, "registry", "history")
    assert [e["event"] for e in history["events"]] == [
        "registered", AuditAction.VALIDATION_SUBMITTED, AuditAction.VALIDATION_OBSERVED,
        AuditAction.APPROVAL_REFUSED, AuditAction.APPROVE, AuditAction.REJECT,
    ]  # fmt: skip
    code, _, err = run(capsys, "audit", "list", "--since", "yesterday")
    assert code == ExitCode.USAGE and "--since" in err


def test_missing_audit_bucket_is_reported_as_not_found(world, register, capsys, monkeypatch):
    register()
    bob = world.approver()  # Bob in the approver role, as himself
    bob.use_in_env(monkeypatch)
    code, _, err = run(capsys, "registry", "approve", "1", "--reason", "ok",
                       "--audit-bucket", "no-such-bucket")  # fmt: skip
    assert code == ExitCode.NOT_FOUND
    assert "no-such-bucket" in err


def test_endpoint_url_points_every_call_at_the_emulator(capsys):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
        sm.create_model_package_group(ModelPackageGroupName="served-group")

        code, listing = run_json(capsys, "registry", "list", "--endpoint-url", url, model=None)
    finally:
        server.stop()

    assert code == ExitCode.OK
    # The config's models first (their first builds have not created their groups), then the
    # others.
    assert listing["groups"] == ["credit-risk-xgb", "credit-scoring-xgb", "served-group"]
    assert [(m["model"], m["in_registry"]) for m in listing["models"]] == [
        ("credit-risk", False),
        ("credit-scoring", False),
        ("", True),
    ]


def test_installed_entry_point_runs():
    script = Path(sys.executable).with_name("finmlops")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0
    assert "registry" in result.stdout and "exit codes" in result.stdout


def test_validator_signs_off_from_the_cli_and_show_names_them_with_the_findings(
    world, register, capsys, monkeypatch
):
    arn = register()
    carol = validator_of(world, world.config, world.carol)  # in the model's validator role
    carol.use_in_env(monkeypatch)

    code, signed = run_json(
        capsys, "registry", "validate", "1", "--summary", "MRM-2026-114: sound",
        "--finding", "high: KS unstable on thin-file applicants",
    )  # fmt: skip

    assert code == ExitCode.OK
    assert (signed["outcome"], signed["actor"]) == ("FindingsOpen", carol.arn)
    assert signed["findings"] == [
        {"severity": "high", "text": "KS unstable on thin-file applicants"}
    ]
    assert world.observe(arn).result == "recorded"  # the handler binds Carol
    code, shown = run_json(capsys, "registry", "show", "1", "--no-metrics")
    assert carol.arn in shown["signoff"]["validator"]
    assert any("open high-severity finding" in p for p in shown["promotion_problems"])
    code, _, err = run(capsys, "registry", "validate", "1", "--summary", "x", "--finding", "bad")
    assert code == ExitCode.USAGE and "SEVERITY: TEXT" in err


# --------------------------------------------------------------------------- a portfolio


@pytest.fixture
def two_models(world, register, tmp_path):
    """The shipped model and a second, batch model (tests/portfolio_world.py), a version each."""
    path, portfolio = write_two_models(tmp_path)
    second = portfolio.config(SECOND)
    add_group(world, second)
    register()
    register(group=second.model.package_group, metadata=inventory_metadata(second))
    return str(path)


def run_in(capsys: Any, config: str, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", config])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_with_several_models_a_command_on_one_model_needs_model_and_names_them(
    world, two_models, capsys, monkeypatch
):
    for argv in (("registry", "history"), ("registry", "show", "1"), ("promote", "rollback",
                 "--environment", "prod", "--reason", "x")):  # fmt: skip
        code, _, err = run_in(capsys, two_models, *argv)
        assert code == ExitCode.USAGE, argv
        assert f"invalid configuration {two_models}:" in err
        assert "models: 2 models (credit-risk, provisions): name one (--model NAME)" in err
    code, _, err = run_in(capsys, two_models, "registry", "history", "--model", "fraud")
    assert code == ExitCode.USAGE
    assert "models: no model 'fraud'; the models are credit-risk, provisions" in err
    # A version named by its group needs no --model: the group says whose it is.
    code, out, _ = run_in(capsys, two_models, "registry", "show", "provisions-xgb/1", "--json")
    assert code == ExitCode.OK
    assert (json.loads(out)["model"], json.loads(out)["tier"]) == (SECOND, "medium")
    # $FINMLOPS_MODEL names the model for a shell session, as AWS_PROFILE the profile; --model
    # wins over it.
    monkeypatch.setenv("FINMLOPS_MODEL", SECOND)
    code, out, _ = run_in(capsys, two_models, "registry", "show", "1", "--json")
    assert (code, json.loads(out)["model"]) == (ExitCode.OK, SECOND)
    argv = ("registry", "show", "1", "--json", "--model", "credit-risk")
    code, out, _ = run_in(capsys, two_models, *argv)
    assert (code, json.loads(out)["model"]) == (ExitCode.OK, "credit-risk")


def test_registry_list_shows_every_models_group_and_model_narrows_it(world, two_models, capsys):
    code, out, _ = run_in(capsys, two_models, "registry", "list", "--json")
    listing = json.loads(out)

    assert code == ExitCode.OK
    assert [(m["model"], m["group"], m["tier"], m["serving"], m["versions"])
            for m in listing["models"]] == [
        ("credit-risk", "credit-risk-xgb", "high", "realtime", 1),
        (SECOND, "provisions-xgb", "medium", "batch", 1),
    ]  # fmt: skip
    assert [(v["model"], v["group"], v["version"], v["status"], v["tier"])
            for v in listing["versions"]] == [
        ("credit-risk", "credit-risk-xgb", 1, "PendingManualApproval", "high"),
        (SECOND, "provisions-xgb", 1, "PendingManualApproval", "medium"),
    ]  # fmt: skip
    code, table, _ = run_in(capsys, two_models, "registry", "list")
    assert [line.split()[:5] for line in table.splitlines()[1:]] == [
        ["credit-risk", "credit-risk-xgb", "high", "1", "PendingManualApproval"],
        [SECOND, "provisions-xgb", "medium", "1", "PendingManualApproval"],
    ]
    # --model narrows it, after the command or before it.
    for argv in (["registry", "list", "--model", SECOND], ["--model", SECOND, "registry", "list"]):
        code, out, _ = run_in(capsys, two_models, *argv, "--json")
        assert code == ExitCode.OK
        assert json.loads(out)["groups"] == ["provisions-xgb"]


def test_promote_status_and_audit_list_across_the_portfolio_and_per_model(
    world, two_models, capsys
):
    code, out, _ = run_in(capsys, two_models, "promote", "status", "--json")
    assert code == ExitCode.OK
    assert [(d["model"], d["environment"]) for d in json.loads(out)["deployments"]] == [
        ("credit-risk", "stage"), ("credit-risk", "prod"), (SECOND, "stage"), (SECOND, "prod"),
    ]  # fmt: skip
    code, out, _ = run_in(capsys, two_models, "promote", "status", "--model", SECOND, "--json")
    assert {d["model"] for d in json.loads(out)["deployments"]} == {SECOND}
    carol = validator_of(world, world.config, world.carol)
    submit_signoff(
        carol.client("sagemaker"), carol.client("sts"), world.audit(),
        arn=_arn(world, 1), summary="sound", findings=(),
    )  # fmt: skip
    code, out, _ = run_in(capsys, two_models, "audit", "list", "--model", SECOND, "--json")
    assert (code, json.loads(out)["records"]) == (ExitCode.OK, [])
    code, out, _ = run_in(capsys, two_models, "audit", "list", "--json")
    assert [r["model_package_group"] for r in json.loads(out)["records"]] == ["credit-risk-xgb"]


def _sign_off(world: Any, arn: str) -> Any:
    """Carol's sign-off in the model's validator role, as `registry approve` requires of the
    sign-off it relies on (observed by the handler)."""
    return world.sign_off(arn, by=validator_of(world, world.config, world.carol))


def test_check_portfolio_refuses_dropping_a_serving_model_until_it_is_decommissioned(
    world, register, pipeline, capsys, monkeypatch, tmp_path
):
    """Issue 17: removing a model is refused while it serves, nothing changed; a decommission
    with its reason (audited) lets it go (finmlops.registry.retirement)."""
    bob = world.approver()
    bob.use_in_env(monkeypatch)
    arn = register()
    _sign_off(world, arn)
    assert run(capsys, "registry", "approve", "1", "--reason", "ok")[0] == ExitCode.OK
    assert world.deliver(arn, pipeline, event_id="evt-1").result == "started"
    manifest = tmp_path / "v1.json"
    assert (
        run(capsys, "promote", "resolve", "1", "--environment", "prod", "--out", str(manifest))[0]
        == ExitCode.OK
    )
    world.serve("prod", arn)
    assert run(capsys, "promote", "record", "--manifest", str(manifest))[0] == ExitCode.OK

    without = two_model_data()
    del without["models"]["credit-risk"]
    smaller = tmp_path / "without.yaml"
    smaller.write_text(yaml.safe_dump(without, sort_keys=False))
    code, _, err = run_in(capsys, str(smaller), "promote", "check-portfolio")
    assert code == ExitCode.USAGE
    assert f"invalid configuration {smaller}:" in err
    assert (
        "models: model group 'credit-risk-xgb' (no block in this file) serves version 1 in prod"
        in err
    )
    code, out, _ = run(capsys, "promote", "check-portfolio")
    assert code == ExitCode.OK and "credit-risk-xgb  prod" in out.replace("   ", "  ")

    actions = world.audit_actions()
    code, _, err = run(capsys, "promote", "decommission", "--environment", "stage", "--reason", "x")
    assert code == ExitCode.USAGE and "does not serve in stage" in err
    assert world.audit_actions() == actions  # a refused decommission writes nothing
    code, out, _ = run(
        capsys, "promote", "decommission", "--environment", "prod", "--reason", "replaced"
    )
    assert code == ExitCode.OK and "no longer serves" in out
    assert world.audit_actions() == [*actions, AuditAction.DECOMMISSION]
    assert run_in(capsys, str(smaller), "promote", "check-portfolio")[0] == ExitCode.OK


def test_record_of_a_batch_deployment_checks_the_named_batch_pipeline(
    world, register, pipeline, capsys, monkeypatch, tmp_path
):
    """`promote record --batch-pipeline NAME`: recorded only when that pipeline's scoring step
    reads the manifest's archive; the endpoint and the pipeline are never both named."""
    import json

    bob = world.approver()
    bob.use_in_env(monkeypatch)
    arn = register()
    _sign_off(world, arn)
    assert run(capsys, "registry", "approve", "1", "--reason", "ok")[0] == ExitCode.OK
    assert world.deliver(arn, pipeline).result == "started"
    manifest = tmp_path / "stage.json"
    code, _, _ = run(
        capsys, "promote", "resolve", "1", "--environment", "stage", "--out", str(manifest)
    )
    assert code == ExitCode.OK
    archive = json.loads(manifest.read_text())["model_data_url"]

    def batch(name: str, uri: str) -> None:
        step = {
            "Name": "BatchScore",
            "Type": "Processing",
            "Arguments": {"ProcessingInputs": [{"InputName": "model", "S3Input": {"S3Uri": uri}}]},
        }
        world.sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [step]}),
            RoleArn="arn:aws:iam::111111111111:role/batch",
        )

    batch("old-batch", "s3://artifacts/older/model.tar.gz")
    batch("new-batch", archive)
    code, _, err = run(
        capsys, "promote", "record", "--manifest", str(manifest), "--batch-pipeline", "old-batch"
    )
    assert code == ExitCode.REFUSED
    assert "batch pipeline old-batch scores with s3://artifacts/older/model.tar.gz" in err
    code, _, err = run(
        capsys, "promote", "record", "--manifest", str(manifest),
        "--batch-pipeline", "new-batch", "--endpoint-name", "x",
    )  # fmt: skip
    assert code == ExitCode.USAGE and "name one of them" in err
    assert (
        run(
            capsys,
            "promote",
            "record",
            "--manifest",
            str(manifest),
            "--batch-pipeline",
            "new-batch",
        )[0]
        == ExitCode.OK
    )
