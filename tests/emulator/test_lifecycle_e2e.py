"""The whole lifecycle end to end against the embedded AWS: the story `make demo` tells, on the
default config (Lending Club) and on the second data set by its config alone (credit_data).

One run of the default story for the session (`story`, tests/emulator/conftest.py); each test
asserts one stage's outcome. tests/emulator/test_story_on_credit_data.py runs every test of this
module again on the credit_data story. The stories branch honestly on what the data and the
monitors say (docs/emulator.md): on Lending Club the retrained v2 loses the comparison and is
rejected; on credit_data it wins, is promoted, and prod rolls back with the stated reason, so
both branches are asserted.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from synth_fixtures import pipeline_steps

from finmlops.emulator.story import Lifecycle, Summary
from finmlops.registry.promotion import observed_approval
from finmlops.registry.versions import describe_version

pytestmark = pytest.mark.slow

ENVIRONMENTS = ("tooling", "dev", "stage", "prod")


def full_path(lifecycle: Lifecycle) -> bool:
    """The credit_data story: every alarm fires and v2 goes to prod and back."""
    return lifecycle.config.project == "credit-scoring"


def package(lifecycle: Lifecycle, label: str) -> dict[str, Any]:
    arn = lifecycle.summary.versions[label]
    described: dict[str, Any] = lifecycle.client("sagemaker").describe_model_package(
        ModelPackageName=arn
    )
    return described


def test_pipeline_from_the_synthesized_template_registers_two_versions(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    assert [arn.rsplit("/", 1)[-1] for arn in summary.versions.values()] == ["1", "2"]
    execution = lifecycle.executions[0]
    assert execution.status == "Succeeded"
    ran = {s.name for s in execution.steps if s.status == "Succeeded"}
    assert {
        "Preprocess",
        "Train",
        "Evaluate",
        "Baseline",
        "Evidence",
        "Track",
        "RegisterModel",
    } <= ran
    assert all(s.status == "NotExecuted" for s in execution.steps if s.type == "Fail")
    gates = [s for s in execution.steps if s.name.startswith("Gate-")]
    assert len(gates) == 8 and all(s.outcome == "true" for s in gates)


def test_v2_is_compared_with_v1_serving_in_prod_and_v1_with_no_champion(
    story: tuple[Lifecycle, Summary],
) -> None:
    """The build reads the champion from the registry (ADR 0029): v1's build ran while nothing
    served in prod; v2's scored v1 on v2's test rows, with a paired interval."""
    _, summary = story
    assert summary.champions["v1"]["status"] == "none"
    v2 = summary.champions["v2"]
    assert v2["status"] == "compared" and v2["model_package_arn"] == summary.versions["v1"]
    auc = v2["difference"]["auc"]
    assert auc["lower"] <= auc["value"] <= auc["upper"]
    assert v2["auc_drop"] == pytest.approx(
        v2["champion"]["auc"] - v2["challenger"]["auc"], abs=2e-6
    )
    # v1's training rows (their digests, beside v1's registered evaluation) were left out.
    assert isinstance(v2["excluded_training_rows"], int)
    assert v2["rows"] + v2["excluded_training_rows"] == v2["test_rows"]
    lines = {s.name: s.line for s in summary.stages}
    assert "the build on its test rows: champion 1 AUC" in lines["comparison"]
    # v2's validation report, as its evidence step rendered it, shows the comparison.
    report = summary.paths["validation report v2"].read_text(encoding="utf-8")
    section = report.split('<section id="champion">', 1)[1].split("</section>", 1)[0]
    assert summary.versions["v1"] in section and "paired percentile bootstrap" in section


def test_registry_status_history_ends_approved_with_identities(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    sm = lifecycle.client("sagemaker")
    for label in ("v1", "v2"):
        described = package(lifecycle, label)
        metadata = described["CustomerMetadataProperties"]
        assert described["ModelApprovalStatus"] == summary.decisions.get(label, "Approved")
        assert metadata["mlflow-run-id"] not in {"", "not-logged"}
        # Who AWS recorded: the execution that registered it (bound by its steps), its starter,
        # and the approver's source identity for the status change.
        execution = described["MetadataProperties"]["GeneratedBy"]
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)
        registered = [
            s["Metadata"]["RegisterModel"]["Arn"]
            for s in steps["PipelineExecutionSteps"]
            if "RegisterModel" in s.get("Metadata", {})
        ]
        assert registered == [described["ModelPackageArn"]]
        starter = sm.describe_pipeline_execution(PipelineExecutionArn=execution)["CreatedBy"]
        # alice started it in the data scientists' role, as herself (MFA, source identity).
        assert starter["IamIdentity"]["Arn"].endswith(
            f":assumed-role/{lifecycle.config.project}-dev-data-scientist/alice-data-scientist"
        )
        assert starter["IamIdentity"]["SourceIdentity"] == "alice-data-scientist"
        # SageMaker registered it with the pipeline's execution role (the template's).
        assert (
            f":assumed-role/{lifecycle.config.project}-dev-sagemaker-build/"
            in described["CreatedBy"]["IamIdentity"]["Arn"]
        )
        assert described["CreatedBy"]["IamIdentity"]["Arn"] != starter["IamIdentity"]["Arn"]
        if described["ModelApprovalStatus"] != "Approved":
            continue  # a rejected v2 has no approver to observe
        # The approver SageMaker recorded at event time, as the handler bound it.
        version = describe_version(sm, described["ModelPackageArn"])
        observed, problems = observed_approval(lifecycle.audit(), version)
        assert observed is not None, problems
        assert observed.approver.source_identity == "bob-model-risk"
        assert observed.approver.arn.endswith(":assumed-role/ModelRiskApprover/bob-model-risk")


def test_author_cannot_approve_their_own_version(story: tuple[Lifecycle, Summary]) -> None:
    _, summary = story
    assert "segregation of duties" in summary.refused_self_approval
    assert "approval-refused" in summary.audit_actions


def test_the_author_under_the_approvers_session_name_is_refused_by_sts(
    story: tuple[Lifecycle, Summary],
) -> None:
    """The approver role's synthesized trust policy requires the session name to be the
    caller's user name: the emulated STS, deciding with it, refuses the disguise."""
    lifecycle, summary = story
    assert summary.refused_disguise.startswith("sts:AssumeRole refused by the trust policy")
    refused = [
        d
        for d in lifecycle.w.rules.refused()
        if d.action == "sts:AssumeRole" and d.caller.endswith(":user/alice-data-scientist")
    ]
    assert [d.resource.rsplit("/", 1)[-1] for d in refused] == ["ModelRiskApprover"]
    assert "copy" not in summary.versions


def test_each_approval_starts_exactly_one_promotion(story: tuple[Lifecycle, Summary]) -> None:
    _, summary = story
    approvals = 1 + (summary.decisions.get("v2") == "Approved")
    assert summary.handler_outcomes == ["started", "duplicate"] * approvals
    assert summary.audit_actions.count("promotion-started") == approvals


def test_the_validator_signs_off_before_approval_and_the_handler_binds_who_aws_recorded(
    story: tuple[Lifecycle, Summary],
) -> None:
    """ADR 0030: the high tier requires the validator's sign-off. Dana signs off in dev's
    validator role as herself; the handler binds SageMaker's LastModifiedBy of the lifecycle
    write; the approval names that record; a drift alarm's re-validation is closed by v2's."""
    lifecycle, summary = story
    records = lifecycle.audit().records()
    v1 = summary.versions["v1"]
    order = [r.action for r in records if r.model_package_arn == v1]
    assert order.index("validation-observed") < order.index("approve")
    (observed,) = [
        r for r in records if r.model_package_arn == v1 and r.action == "validation-observed"
    ]
    (validator,) = json.loads(observed.details["validator"])
    assert validator["source_identity"] == "dana-validation"
    assert validator["arn"].endswith(
        f":assumed-role/{lifecycle.config.project}-dev-validator/dana-validation"
    )
    (approval,) = [r for r in records if r.model_package_arn == v1 and r.action == "approve"]
    assert approval.details["validation_record"] == observed.record_id
    if summary.alarm is not None and summary.alarm.new == "ALARM":
        opened = summary.revalidation["record"]
        assert summary.signoffs["v2"]["closes"] == opened
        closed = [
            r
            for r in records
            if r.action == "approval-observed"
            and opened in r.details.get("closes_revalidation", "")
        ]
        assert len(closed) == (summary.decisions.get("v2") == "Approved")


def test_prod_leaves_a_version_only_with_a_stated_reason(story: tuple[Lifecycle, Summary]) -> None:
    """v2 reaches prod only when the approver approved it on the comparison; prod rolls back
    only with the story's stated reason, which the audit trail records."""
    lifecycle, summary = story
    prod = lifecycle.w.names["prod"].endpoint_name
    assert lifecycle.w.endpoints.deployed(prod) == summary.deployed["prod"]
    rollbacks = [r for r in lifecycle.audit().records() if r.action == "rollback"]
    if summary.decisions.get("v2") != "Approved":
        assert not full_path(lifecycle)
        assert summary.deployed["prod"] == summary.versions["v1"]
        assert not summary.rollback and not rollbacks
        return
    assert summary.rollback, "v2 reached prod on labels younger than the label delay"
    if summary.rollback:
        assert summary.deployed["prod"] == summary.versions["v1"]
        assert summary.deployed["stage"] == summary.versions["v2"]
        (record,) = rollbacks
        assert record.reason == " ".join(summary.rollback["reason"].split())
        assert "label delay" in record.reason
        v1, v2 = package(lifecycle, "v1"), package(lifecycle, "v2")
        assert v1["ModelLifeCycle"]["StageDescription"].startswith("restored by rollback")
        assert v2["ModelLifeCycle"]["StageStatus"] == "RolledBack"


def test_registry_shows_where_v1_runs_and_keeps_its_approval(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, _ = story
    v1 = package(lifecycle, "v1")
    assert v1["ModelLifeCycle"]["Stage"] == "Production"
    # The promotion's lifecycle writes left the approval decision as the approver made it.
    assert v1["ModelApprovalStatus"] == "Approved"
    assert v1["ApprovalDescription"].startswith("Approved by ")


def test_reference_window_is_quiet_and_shifted_window_drifts_on_the_shifted_features(
    story: tuple[Lifecycle, Summary],
) -> None:
    _, summary = story
    quiet, shifted = summary.drift["window-0"], summary.drift["window-1"]
    assert quiet["dataset"]["drifted"] is False
    assert shifted["dataset"]["drifted"] is True
    planned = {s["feature"] for s in summary.shift["shifts"]}
    # The features the plan moved (v1's most important) are among those the monitor names.
    assert len(planned & set(shifted["drifted"])) >= len(planned) / 2
    violations = json.loads((shifted["results"] / "constraint_violations.json").read_text())[
        "violations"
    ]
    assert planned & {v["feature_name"] for v in violations}
    # The shifted window's report shows the trend over the runs before it, read from the
    # monitoring bucket where each earlier run wrote its drift_report.json.
    page = (shifted["results"] / "drift_report.html").read_text()
    assert "<h2>Overview</h2>" in page
    assert "Trend over the last 2 windows" in page
    earlier = json.loads((quiet["results"] / "drift_report.json").read_text())
    assert (
        f"<tr><td>{earlier['window']['end']}</td><td class=n>{earlier['window']['rows']}</td>"
        f"<td class=n>{earlier['dataset']['drift_share']:.3f}</td>"
    ) in page


def test_explanation_drift_is_raised_on_the_shifted_window_only(
    story: tuple[Lifecycle, Summary],
) -> None:
    """The template's ExplanationDrift step, run by the executor on each captured window, with
    the deployed model and the profile its baseline step recorded (docs/decisions/0028)."""
    _, summary = story
    quiet, shifted = (summary.drift[w]["explanation"] for w in ("window-0", "window-1"))
    assert quiet["evaluated"] and not quiet["drifted"] and quiet["violations"] == []
    assert shifted["evaluated"] and shifted["drifted"]
    assert {v["constraint_check_type"] for v in shifted["violations"]} == {
        "feature_attribution_drift_check"
    }
    # One model, one profile: the deployed model is the one the baseline step explained.
    assert shifted["window_profile"]["model_sha256"] == shifted["baseline_profile"]["model_sha256"]
    assert Path(summary.paths["explanation report"]).read_text().count("EXPLANATION DRIFT") == 1


def test_the_shift_is_derived_from_v1s_importances_and_recorded(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    plan = json.loads(Path(summary.paths["production shift"]).read_text())
    assert plan["shifts"] == json.loads(json.dumps(summary.shift["shifts"]))
    gains = [s["gain_share"] for s in plan["shifts"]]
    assert gains == sorted(gains, reverse=True) and all(g > 0 for g in gains)
    model = lifecycle.config.model
    features = {*model.numeric_features, *model.categorical_features}
    assert {s["feature"] for s in plan["shifts"]} <= features


def test_monitoring_runs_prods_synthesized_pipeline_at_each_scheduled_hour(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    runs = lifecycle.monitoring.runs
    assert [r.at for r in runs] == [hour + timedelta(hours=1) for hour in lifecycle.hours]
    assert summary.drift["window-1"]["window_end"] == lifecycle.hours[2]
    sm = lifecycle.client("sagemaker")
    name = f"{lifecycle.w.names['prod'].endpoint_name}-monitoring"
    # The pipeline SageMaker holds is the template's, reading the baseline prod's manifest names.
    definition = json.loads(sm.describe_pipeline(PipelineName=name)["PipelineDefinition"])
    drift = pipeline_steps(definition)["DataDrift"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in drift["ProcessingInputs"]}
    assert inputs["baseline"] == lifecycle.manifests["prod"].drift_baseline_uri + "/"
    started = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert len(started) == len(runs)
    # prod spreads each drift run over its instances (ADR 0027): the windows with traffic go
    # through the shards and the merge, an hour without traffic through the single step.
    assert lifecycle.config.environments.prod.instances.monitoring_count >= 2
    common = {"CaptureManifest", "WindowHasCaptures", "ModelQuality", "ExplanationDrift"}
    branches = []
    for run in runs:
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=run.execution.arn)
        ran = {s["StepName"]: s["StepStatus"] for s in steps["PipelineExecutionSteps"]}
        assert set(ran.values()) == {"Succeeded"}, ran
        branch = set(ran) - common
        assert set(ran) >= common and branch in (
            {"DriftShards", "DataDrift"},
            {"DataDriftEmptyWindow"},
        )
        branches.append(branch)
    assert branches[0] == branches[1] == {"DriftShards", "DataDrift"}  # the two drift windows


def test_drift_alarm_fires_and_the_alert_reaches_the_sqs_subscriber(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    assert summary.alarm is not None and summary.alarm.new == "ALARM"
    alarm = lifecycle.w.names["prod"].drift_alarm
    state = lifecycle.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0][
        "StateValue"
    ]
    assert state == "ALARM"
    assert [m["AlarmName"] for m in summary.alert_messages] == [alarm]
    # The chat notifier posted the same alert to the (loopback) webhook named by the parameter.
    (post,) = summary.chat_posts
    assert post.startswith(f"[prod] ALARM {alarm} (OK -> ALARM)")


def _recorded_auc(lifecycle: Lifecycle, arn: str) -> float:
    """The test-set AUC in the evaluation a version registered as its ModelMetrics."""
    package = lifecycle.client("sagemaker").describe_model_package(ModelPackageName=arn)
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = lifecycle.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return float(json.loads(body)["binary_classification_metrics"]["auc"]["value"])


def test_labels_for_both_windows_drop_quality_on_the_shifted_one_and_its_alarm_fires(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    windows = {w["start"]: w for w in summary.quality["windows"]}
    reference = windows[lifecycle.hours[0].isoformat()]
    shifted = windows[lifecycle.hours[1].isoformat()]
    assert reference["label_coverage"] == shifted["label_coverage"] == 1.0
    threshold = lifecycle.config.monitoring.min_auc
    # Measurably lower on the shifted hour: the resampled, moved rows with their real outcomes.
    assert shifted["metrics"]["auc"] < reference["metrics"]["auc"] - 0.03
    assert reference["metrics"]["auc"] >= threshold
    # Judged against the AUC prod's version was validated on, carried by its manifest: the
    # shifted hour's drop is beyond the tolerance and beyond its DeLong noise, the reference
    # hour's is not; the floor alone (0.6) would have let the shifted hour pass.
    rule = summary.quality["auc_drop_rule"]
    assert rule["validated_auc"] == pytest.approx(_recorded_auc(lifecycle, summary.versions["v1"]))
    assert shifted["metrics"]["auc_drop_lower_bound"] > rule["max_drop"]
    assert reference["metrics"]["auc_drop_lower_bound"] <= rule["max_drop"]
    assert summary.quality_verdicts == {
        lifecycle.hours[0].isoformat(): "ok",
        lifecycle.hours[1].isoformat(): "violation",
    }
    alarm = lifecycle.w.names["prod"].quality_alarm
    state = lifecycle.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state[0]["StateValue"] == summary.quality_alarm_state == "ALARM"


def test_retraining_ran_because_the_drift_alarm_fired_on_the_labelled_windows(
    story: tuple[Lifecycle, Summary],
) -> None:
    """v2's execution read the table the story put in the artifact bucket (its InputDataUri):
    v1's training rows plus the labelled production rows outside the comparison."""
    lifecycle, summary = story
    assert summary.alarm is not None and summary.alarm.new == "ALARM"
    retraining = summary.retraining
    assert retraining["ran"] is True
    sm = lifecycle.client("sagemaker")
    execution = package(lifecycle, "v2")["MetadataProperties"]["GeneratedBy"]
    parameters = {
        p["Name"]: p["Value"]
        for p in sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution)[
            "PipelineParameters"
        ]
    }
    assert parameters["InputDataUri"] == retraining["input"]
    bucket, _, key = retraining["input"].removeprefix("s3://").partition("/")
    body = lifecycle.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(pd.read_csv(io.BytesIO(body))) == retraining["rows"]
    assert retraining["rows"] == (
        retraining["v1_training_rows"] + retraining["labelled_production_rows"]
    )
    assert retraining["labelled_production_rows"] > 0


def test_v2_decision_follows_the_comparison_on_the_same_rows_and_is_audited(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    found = summary.comparison
    assert [w["window"] for w in found["windows"]] == [0, 1]
    assert all(set(w["auc"]) == {"v1", "v2"} and w["rows"] > 0 for w in found["windows"])
    assert summary.decisions["v2"] == ("Approved" if found["recommended"] else "Rejected")
    v2 = summary.versions["v2"]
    (decision,) = [
        r
        for r in lifecycle.audit().records()
        if r.model_package_arn == v2 and r.action in {"approve", "reject"}
    ]
    shifted = found["windows"][1]["auc"]
    assert f"v1 {shifted['v1']:.3f}, v2 {shifted['v2']:.3f}" in decision.reason


def test_audit_records_are_complete_and_exported(story: tuple[Lifecycle, Summary]) -> None:
    _, summary = story
    assert {
        "approve",
        "approval-refused",
        "promotion-started",
        "promotion-resolved",
        "deploy",
    } <= set(summary.audit_actions)
    assert ("rollback" in summary.audit_actions) == bool(summary.rollback)
    exported = json.loads(Path(summary.paths["audit export (JSON)"]).read_text())
    assert len(exported) == len(summary.audit_actions)
    assert all(record["actor"] and record["at"] for record in exported)
    # Each record with its object version and COMPLIANCE retention; the trail verifies.
    assert all(r["version_id"] and r["retention_mode"] == "COMPLIANCE" for r in exported)
    assert summary.audit_verified.startswith(f"intact: {len(exported)} records")


def test_validation_report_is_attached_to_the_version_and_complete(
    story: tuple[Lifecycle, Summary],
) -> None:
    lifecycle, summary = story
    html = Path(summary.paths["validation report"]).read_text()
    assert "INCOMPLETE EVIDENCE" not in html
    assert "min-auc" in html
    # The examiner's copy carries the decision; the approver and their audit record are named.
    assert "No decision yet" not in html
    # Bob approved in the approver role, as himself (session name and source identity).
    assert f"assumed-role/ModelRiskApprover/{lifecycle.w.approver.name}" in html
    v1 = summary.versions["v1"]
    approval = next(
        r
        for r in lifecycle.audit().records()
        if r.action == "approve" and r.model_package_arn == v1
    )
    assert approval.record_id in html
    # The sign-off the approval checked, named by the approval's own audit record: the
    # validator the handler observed from SageMaker's LastModifiedBy, and the binding record.
    observed = next(
        r
        for r in lifecycle.audit().records()
        if r.action == "validation-observed" and r.model_package_arn == v1
    )
    assert approval.details["validation_record"] == observed.record_id
    signoff = f"{lifecycle.w.validator.name}"
    assert "Validator sign-off" in html and f"audit record {observed.record_id})" in html
    assert signoff in html.split("Validator sign-off", 1)[1].split("</tr>", 1)[0]
    # The model card as a document, beside it: the same version, approver and audit record.
    card = Path(summary.paths["model card"]).read_text()
    assert card.startswith("<!DOCTYPE html>") and "Model card: " in card
    assert f"version <code>{v1}</code>" in card
    assert f"assumed-role/ModelRiskApprover/{lifecycle.w.approver.name}" in card
    assert approval.record_id in card
    assert f"audit record {observed.record_id})" in card
    assert '<section id="explanations">' in card
    # The registry's own card is the whole card of v1's build, from its Evidence step through
    # the RegisterModel step's JsonGet; the approval binds it by hash (ADR 0032).
    described = lifecycle.client("sagemaker").describe_model_package(ModelPackageName=v1)
    content = described["ModelCard"]["ModelCardContent"]
    names = [e["name"] for e in json.loads(content)["evaluation_details"]]
    assert "test split evaluation" in names and "training data quality" in names
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    assert approval.evidence["ModelCard.ModelCardContent.sha256"] == digest


ARN = re.compile(r"arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12}):([A-Za-z0-9/_.:+=@-]+)")
ECR = re.compile(r"(\d{12})\.dkr\.ecr\.")


def test_each_account_id_in_the_evidence_belongs_to_its_environment(
    story: tuple[Lifecycle, Summary],
) -> None:
    """Every account id in an ARN or image URI of the evidence and the audit export is the
    configured account of the environment it names (or of one of the four environments when
    it names none), or the registry account of an image the registry records for a version
    (AWS's, for the built-in XGBoost image); moto's default account appears nowhere."""
    lifecycle, summary = story
    environments = lifecycle.config.environments
    accounts = {name: getattr(environments, name).account for name in ENVIRONMENTS}
    images = {
        ECR.match(c["Image"]).group(1)  # type: ignore[union-attr]
        for label in summary.versions
        for c in package(lifecycle, label)["InferenceSpecification"]["Containers"]
        if ECR.match(c["Image"])
    }
    work = lifecycle.work_dir
    files = [work / "audit.json", work / "audit.csv", *(work / "evidence").iterdir()]
    files += [*(work / "manifests").iterdir(), *(work / "monitoring").rglob("*.json")]
    texts = {str(f.relative_to(work)): f.read_text(errors="replace") for f in files}
    texts["alerts"] = json.dumps(summary.alert_messages) + "\n".join(summary.chat_posts)
    seen: set[str] = set()
    for where, text in texts.items():
        assert "123456789012" not in text, where
        for match in ARN.finditer(text):
            account, resource = match.group(3), match.group(4)
            named = [e for e in ENVIRONMENTS if re.search(rf"(^|[-/:]){e}([-/]|$)", resource)]
            allowed = {accounts[e] for e in named} if len(named) == 1 else set(accounts.values())
            assert account in allowed, f"{where}: {match.group(0)}"
            seen.add(account)
        for match in ECR.finditer(text):
            assert match.group(1) in images | set(accounts.values()), f"{where}: {match.group(0)}"
    assert accounts["dev"] in seen and accounts["prod"] in seen
