"""The model inventory (SR 26-2): every model of a two-model portfolio with its people, its
versions in each environment, its last validation, open findings, open re-validations and
alarms, each read from what the platform records (moto: registry, audit trail, state bucket,
CloudWatch), and the `finmlops inventory export` command over it."""

from __future__ import annotations

import csv
import io
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from portfolio_world import SECOND, add_group, inventory_metadata, sign_off, write_two_models

from finmlops.cli import ExitCode, main
from finmlops.config import Portfolio
from finmlops.contracts import AuditAction
from finmlops.naming import names
from finmlops.registry.approval import approve
from finmlops.registry.inventory import MISSING, model_inventory, to_csv, to_json
from finmlops.registry.promotion import record_deployment, resolve
from finmlops.registry.signoff import Finding, open_revalidation

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def _alarm(cloudwatch: Any, name: str, state: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="finmlops", MetricName="psi_max", Statistic="Maximum",
        Period=3600, EvaluationPeriods=1, Threshold=0.25,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: {state}")


@pytest.fixture
def portfolio(world: Any, register: Any, pipeline: Any, tmp_path: Path) -> Portfolio:
    """Two models on one platform, as the platform would have recorded them:

    - credit-risk: v1 signed off with a medium finding, approved and serving in prod; v2
      pending; a drift alarm in prod firing, which opened a re-validation; no quality alarm in
      prod (a deployment that lost it);
    - provisions (batch): v1 signed off with a high finding, then again without it (closed).
    """
    _, loaded = write_two_models(tmp_path)
    first, second = loaded.configs
    add_group(world, second)
    carol = world.carol

    v1 = register()
    sign_off(world, v1, carol, findings=(Finding("medium", "thin-file applicants are few"),))
    bob = world.approver()
    approve(
        bob.client("sagemaker"), bob.client("sts"), world.audit(),
        arn=v1, reason="MRM-2026-114", gates=world.gates,
    )  # fmt: skip
    assert world.deliver(v1, pipeline, event_id="evt-a1").result == "started"
    manifest = resolve(
        world.sm, world.s3, world.audit(), world.history(),
        arn=v1, environment="prod", actor="promotion-build", gates=world.gates,
    )  # fmt: skip
    record_deployment(
        world.sm, world.audit(), world.history(), manifest=manifest, actor="promotion-build",
        serving=world.sm, endpoint_name=world.serve("prod", v1),
    )  # fmt: skip
    register()  # v2, pending
    prod = names(first, "prod")
    _alarm(world.client("cloudwatch"), prod.drift_alarm, "ALARM")
    open_revalidation(
        world.audit(), group=first.model.package_group, actor="approval-event-handler",
        alarm=prod.drift_alarm, environment="prod", kind="drift", reason="drift in prod",
        event_id="evt-alarm-1",
    )  # fmt: skip

    b1 = register(group=second.model.package_group, metadata=inventory_metadata(second))
    sign_off(world, b1, carol, findings=(Finding("high", "PD not calibrated on 2020 vintage"),))
    sign_off(world, b1, carol, summary="recalibrated; finding closed")
    return loaded


def _inventory(world: Any, portfolio: Portfolio, markers: bool = True) -> Any:
    cloudwatch = world.client("cloudwatch")
    return model_inventory(
        portfolio.configs,
        sagemaker=world.sm,
        audit=world.audit(),
        s3=world.s3,
        state_bucket=world.state_bucket,
        cloudwatch={"stage": cloudwatch, "prod": cloudwatch},
        now=NOW,
        trust_markers=markers,
    )


def test_inventory_lists_every_model_with_its_people_versions_validation_findings_and_alarms(
    world, portfolio
):
    inventory = _inventory(world, portfolio)

    credit, provisions = inventory.models
    assert (inventory.project, inventory.generated_at) == (
        "credit-risk",
        "2026-12-07T07:00:00.000000Z",
    )
    # Who and what: each model's own block.
    assert (credit.model, credit.group, credit.risk_tier, credit.serving) == (
        "credit-risk", "credit-risk-xgb", "high", "realtime",
    )  # fmt: skip
    assert (credit.owner, credit.validator, credit.approver_role) == (
        "credit-risk-analytics", "model-validation-team", "ModelRiskApprover",
    )  # fmt: skip
    assert (provisions.model, provisions.group, provisions.risk_tier) == (
        SECOND, "provisions-xgb", "medium",
    )  # fmt: skip
    assert (provisions.serving, provisions.schedule) == ("batch", "cron(0 2 1 * ? *)")
    assert (provisions.owner, provisions.approver_role) == (
        "provisioning-analytics",
        "ProvisionsApprover",
    )
    # Versions in dev (the registry), and what serves in stage and prod (the history).
    assert [(v.version, v.status) for v in credit.versions] == [
        (1, "Approved"), (2, "PendingManualApproval"),
    ]  # fmt: skip
    assert credit.versions[0].lifecycle == "Production/Deployed"
    stage, prod = credit.serving_now
    assert (stage.environment, stage.version) == ("stage", None)
    assert (prod.environment, prod.version, prod.registry_status, prod.action) == (
        "prod", 1, "Approved", "deploy",
    )  # fmt: skip
    assert [(v.version, v.status) for v in provisions.versions] == [(1, "PendingManualApproval")]
    assert [s.version for s in provisions.serving_now] == [None, None]  # its own history only
    # Last validation: the handler's observed sign-off, the person SageMaker recorded.
    assert credit.last_validation is not None
    assert (credit.last_validation.version, credit.last_validation.validator) == (1, "carol-mrm")
    assert credit.last_validation.outcome == "SignedOff"
    assert provisions.last_validation is not None
    assert provisions.last_validation.summary == "recalibrated; finding closed"
    # Findings: open until a later sign-off of the version no longer lists it.
    assert [(f.severity, f.text, f.status) for f in credit.findings] == [
        ("medium", "thin-file applicants are few", "open")
    ]
    assert [(f.severity, f.status) for f in provisions.findings] == [("high", "closed")]
    assert provisions.open_findings == ()
    # The re-validation the drift alarm opened, and the alarms' states in CloudWatch.
    [reopened] = credit.open_revalidations
    assert (reopened.alarm, reopened.environment, reopened.kind) == (
        names(portfolio.config("credit-risk"), "prod").drift_alarm, "prod", "drift",
    )  # fmt: skip
    assert provisions.open_revalidations == ()
    states = {(a.environment, a.kind): a.state for a in credit.alarms}
    assert states == {
        ("stage", "drift"): MISSING, ("stage", "quality"): MISSING,
        ("prod", "drift"): "ALARM", ("prod", "quality"): MISSING,
    }  # fmt: skip
    # A model serving in prod without its quality alarm is a problem the examiner sees.
    assert credit.problems == (
        f"alarm: {names(portfolio.config('credit-risk'), 'prod').quality_alarm} (quality, prod) "
        "is not defined in CloudWatch",
    )
    assert provisions.problems == ()


def test_the_csv_has_one_row_per_model_and_the_json_every_detail(world, portfolio):
    inventory = _inventory(world, portfolio)

    rows = list(csv.DictReader(io.StringIO(to_csv(inventory))))
    data = json.loads(to_json(inventory))

    assert [r["model"] for r in rows] == ["credit-risk", SECOND]
    credit, provisions = rows
    assert credit["dev_versions"] == "1:Approved 2:PendingManualApproval"
    assert (credit["stage_version"], credit["prod_version"]) == ("", "1")
    assert credit["open_findings"] == "v1 medium: thin-file applicants are few"
    assert "prod drift ALARM" in credit["alarms"]
    assert (credit["last_validation_by"], credit["last_validation_outcome"]) == (
        "carol-mrm",
        "SignedOff",
    )
    assert (provisions["risk_tier"], provisions["serving"], provisions["open_findings"]) == (
        "medium", "batch", "",
    )  # fmt: skip
    assert [m["open_findings"] for m in data["models"]] == [1, 0]
    assert data["models"][1]["findings"][0]["text"] == "PD not calibrated on 2020 vintage"


def test_a_forged_validation_record_is_left_out_when_the_markers_are_read(world, portfolio):
    """An audit writer appends a `validation-observed` record the handler never wrote: the
    inventory keeps to the handler's (its marker in the state bucket) and says what it left."""
    second = portfolio.config(SECOND)
    [b1] = world.sm.list_model_packages(ModelPackageGroupName=second.model.package_group)[
        "ModelPackageSummaryList"
    ]
    from finmlops.registry.versions import describe_version

    version = describe_version(world.sm, b1["ModelPackageArn"])
    forged = world.audit().append(
        AuditAction.VALIDATION_OBSERVED, "mallory", version=version, reason="all fine",
        details={"document": json.dumps({"summary": "all fine", "findings": []}),
                 "digest": "sha256:00", "validator": "[]"},
    )  # fmt: skip

    kept = _inventory(world, portfolio).models[1]
    trusting = _inventory(world, portfolio, markers=False).models[1]

    assert kept.last_validation is not None
    assert kept.last_validation.summary == "recalibrated; finding closed"
    assert kept.problems == (
        f"sign-off: validation-observed record {forged.record_id} was not written by the "
        "approval-event handler (no marker); it is left out",
    )
    assert trusting.last_validation is not None
    assert trusting.last_validation.audit_record == forged.record_id


def test_inventory_export_writes_csv_and_json_and_model_narrows_it(
    world, portfolio, capsys, tmp_path
):
    config = str(portfolio.config(SECOND).source_file)
    out = tmp_path / "inventory.csv"

    code = main(["inventory", "export", "--format", "csv", "--out", str(out), "--config", config])

    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    assert f"2 models -> {out}" in captured.err
    # What the inventory found wrong is said on stderr too, by model.
    assert "finmlops: credit-risk: alarm: " in captured.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["model"], r["risk_tier"], r["prod_version"]) for r in rows] == [
        ("credit-risk", "high", "1"), (SECOND, "medium", ""),
    ]  # fmt: skip

    code = main(["inventory", "export", "--model", SECOND, "--config", config])
    data = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert [m["model"] for m in data["models"]] == [SECOND]


def test_inventory_export_refuses_a_bad_alarm_role_naming_the_option(world, portfolio, capsys):
    config = str(portfolio.config(SECOND).source_file)
    code = main(["inventory", "export", "--alarm-role-arn", "dev=x", "--config", config])
    assert code == ExitCode.USAGE
    assert "--alarm-role-arn 'dev=x': expected ENV=ARN" in capsys.readouterr().err


def test_the_commands_docs_show_for_the_portfolio_run(world, portfolio, capsys, monkeypatch):
    """Each `$ finmlops ...` line of registry.md's "Portfolio and inventory" and cli.md's
    "--model" section, run as written (with the test's config) against the portfolio."""
    root = Path(__file__).resolve().parents[2]
    sections = [
        (root / "docs" / "registry.md").read_text().split("## Portfolio and inventory", 1)[1],
        (root / "docs" / "cli.md").read_text().split("## One model or the portfolio", 1)[1],
    ]
    lines = [
        line.removeprefix("$ ")
        for section in sections
        for line in section.split("\n## ", 1)[0].splitlines()
        if line.startswith("$ finmlops ")
    ]
    config = str(portfolio.config(SECOND).source_file)
    monkeypatch.chdir(Path(config).parent)
    assert len(lines) >= 4
    for line in lines:
        code = main([*shlex.split(line)[1:], "--config", config])
        assert code == ExitCode.OK, (line, capsys.readouterr().err)
    rows = list(csv.DictReader(io.StringIO((Path(config).parent / "inventory.csv").read_text())))
    assert [r["model"] for r in rows] == ["credit-risk", SECOND]
