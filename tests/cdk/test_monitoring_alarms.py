"""Every monitoring alarm, in every serving environment and both monitoring modes, decides what
a period without data means, and the jobs publish what makes that decision right: an idle hour
raises no alarm, a run that never finished or could not judge the model does.

AWS rule relied on: Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat
missing data" (alarms-and-missing-data): `breaching` counts a missing datapoint as over the
threshold, `notBreaching` as within it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from synth_fixtures import pipeline_steps

from finmlops.emulator.aws.alarms import evaluate_alarms
from finmlops.monitoring import cloudwatch
from finmlops.monitoring.baseline import ModelIdentity, build_baseline
from finmlops.monitoring.drift import run_drift
from finmlops.monitoring.explanation import ExplanationReport, Profile
from finmlops.monitoring.quality import compute_model_quality

SERVING = ("stage", "prod")
MONITORING_NAMESPACES = {
    "finmlops/data-metrics",
    "finmlops/model-metrics",
    "aws/sagemaker/Endpoints/data-metrics",
    "aws/sagemaker/Endpoints/model-metrics",
    "finmlops/explainability-metrics",
}
# alarm name suffix -> (metric, TreatMissingData, why)
DECIDED = {
    "data-drift": ("dataset_drift_share", "notBreaching"),  # idle: no drift to measure
    "model-quality": ("quality_violations", "breaching"),  # every run publishes it
    "monitoring-silent": ("dataset_drift_share", "breaching"),  # six hours without a verdict
    "drift-bad-records": ("bad_record_share", "breaching"),  # every drift run publishes it
    "quality-bad-records": ("bad_record_share", "breaching"),  # every quality run publishes it
}
# Pipeline mode only (its ExplanationDrift step; Model Monitor's explainability jobs are Clarify's).
PIPELINE_ONLY = {
    "explanation-drift": ("explanation_violations", "breaching"),  # every explain run publishes it
}
T = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _monitoring_alarms(synth: Any, env: str) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for _, stack, _, alarm in synth.resources("AWS::CloudWatch::Alarm", env)
        if alarm["Properties"].get("Namespace") in MONITORING_NAMESPACES
    }


@pytest.mark.parametrize("synth_name", ["platform", "variant"])
def test_every_monitoring_alarm_of_every_environment_decides_missing_data_by_design(
    request: Any, config: Any, synth_name: str
) -> None:
    synth = request.getfixturevalue(synth_name)
    for env in synth.templates:
        alarms = _monitoring_alarms(synth, env)
        if env not in SERVING:
            assert alarms == {}, env  # nothing is served, nothing is monitored
            continue
        prefix = f"{config.project}-{env}-"
        decided = DECIDED | (PIPELINE_ONLY if synth_name == "platform" else {})
        # Exactly the decided alarms: a new one without a decision here fails this test.
        assert set(alarms) == {prefix + suffix for suffix in decided}, env
        for suffix, (metric, missing) in decided.items():
            alarm = alarms[prefix + suffix]
            assert alarm["MetricName"] == metric, (env, suffix)
            assert alarm["TreatMissingData"] == missing, (env, suffix)
            assert alarm["AlarmActions"], (env, suffix)


@pytest.mark.parametrize("synth_name", ["platform", "variant"])
def test_the_bad_records_alarms_fire_over_the_configured_share_of_each_job(
    request: Any, config: Any, synth_name: str
) -> None:
    synth = request.getfixturevalue(synth_name)
    alarms = _monitoring_alarms(synth, "prod")
    share = config.monitoring.max_bad_record_share
    drift = alarms[f"{config.project}-prod-drift-bad-records"]
    quality = alarms[f"{config.project}-prod-quality-bad-records"]
    assert drift["Namespace"].endswith("data-metrics")
    assert quality["Namespace"].endswith("model-metrics")
    for alarm in (drift, quality):
        assert alarm["Threshold"] == share
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Statistic"] == "Maximum"
    # Each watches the dimensions its own job publishes with.
    drift_alarm = alarms[f"{config.project}-prod-data-drift"]
    quality_alarm = alarms[f"{config.project}-prod-model-quality"]
    assert drift["Dimensions"] == drift_alarm["Dimensions"]
    assert quality["Dimensions"] == quality_alarm["Dimensions"]


@pytest.mark.parametrize("env", SERVING)
def test_the_jobs_are_told_the_bad_record_limit_and_the_label_delay(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    steps = pipeline_steps(monitoring_definition(platform, env))
    for name in ("DataDrift", "DataDriftEmptyWindow"):
        if name in steps:
            drift = steps[name]["Arguments"]["Environment"]
            assert drift["max_bad_record_share"] == str(config.monitoring.max_bad_record_share)
    arguments = steps["ModelQuality"]["Arguments"]["AppSpecification"]["ContainerArguments"]

    def value(flag: str) -> str:
        return str(arguments[arguments.index(flag) + 1])

    assert value("--label-delay-hours") == str(config.monitoring.label_delay_hours)
    assert value("--max-bad-record-share") == str(config.monitoring.max_bad_record_share)


def test_a_resolved_version_is_judged_against_the_auc_its_manifest_carries(
    variant: Any, config: Any, variant_manifest: dict[str, Any]
) -> None:
    """The quality job's second AUC rule reads the validated AUC from the manifest promotion
    resolved (never the config, never a run-time parameter)."""
    (job,) = [
        r["Properties"]["ModelQualityAppSpecification"]["ContainerArguments"]
        for *_, r in variant.resources("AWS::SageMaker::ModelQualityJobDefinition", "prod")
    ]

    def value(flag: str) -> str:
        return str(job[job.index(flag) + 1])

    assert float(value("--validated-auc")) == variant_manifest["validated_auc"]
    assert value("--max-auc-drop") == str(config.monitoring.max_auc_drop)
    assert value("--auc-drop-confidence") == str(config.monitoring.auc_drop_confidence)


@pytest.mark.parametrize("env", SERVING)
def test_the_default_manifest_judges_no_drop_it_has_no_version_to_judge_against(
    platform: Any, env: str, monitoring_definition: Any
) -> None:
    steps = {s["Name"]: s["Arguments"] for s in monitoring_definition(platform, env)["Steps"]}
    arguments = steps["ModelQuality"]["AppSpecification"]["ContainerArguments"]
    assert "--validated-auc" not in arguments and "--min-auc" in arguments


@pytest.mark.parametrize(("auc", "shown"), [(None, "None"), (1.4, "1.4"), (0.2, "0.2")])
def test_a_resolved_manifest_without_a_usable_validated_auc_stops_synth(
    config: Any, variant_manifest: dict[str, Any], auc: float | None, shown: str
) -> None:
    import json

    from finmlops_cdk.manifest import ManifestError, validate_manifest

    from finmlops.contracts import DeploymentManifest

    manifest = DeploymentManifest.from_json(json.dumps({**variant_manifest, "validated_auc": auc}))
    with pytest.raises(ManifestError, match=f"m.json: validated_auc is {shown}"):
        validate_manifest(manifest, config, "m.json")


# --------------------------------------------------------------------------------------------
# The decisions, played on prod's synthesized alarms with the jobs' own metrics.


def _dims(alarm: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Name": d["Name"], "Value": d["Value"]} for d in alarm["Dimensions"]]


@pytest.fixture
def world(platform: Any, config: Any) -> Any:
    """prod's monitoring alarms in moto's CloudWatch, and a way to run both jobs into them."""
    alarms = _monitoring_alarms(platform, "prod")
    reference = pd.DataFrame({"x": [float(i % 17) for i in range(400)]})
    baseline = build_baseline(
        reference, ["x"], [], identity=ModelIdentity(model_id="credit-risk", model_version="1")
    ).prepare()
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        for name, p in alarms.items():
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace=p["Namespace"],
                MetricName=p["MetricName"],
                Dimensions=_dims(p),
                Statistic=p["Statistic"],
                Period=p["Period"],
                EvaluationPeriods=p["EvaluationPeriods"],
                Threshold=p["Threshold"],
                ComparisonOperator=p["ComparisonOperator"],
                TreatMissingData=p["TreatMissingData"],
                AlarmActions=[topic],
            )
        drift_alarm = alarms[f"{config.project}-prod-data-drift"]
        quality_alarm = alarms[f"{config.project}-prod-model-quality"]
        explain_alarm = alarms[f"{config.project}-prod-explanation-drift"]
        # The explanation step's verdict on a window without the rows to rank features (the
        # only kind these runs have: the profile comparison itself is tested in
        # tests/monitoring/test_explanation.py).
        profile = Profile(("x",), (0.5,), 400, 400, 0, "sha256:m", 0.0, 0.0)

        class World:
            def run(self, at: datetime, rows: int, captures: list[Any], truth: list[Any]) -> None:
                """One scheduled run of both jobs at `at`, published as the pipeline does."""
                drift = run_drift(baseline, reference.head(rows))
                data = cloudwatch.drift_metrics(drift, timestamp=at, dims=_dims(drift_alarm))
                cloudwatch.put_metrics(cw, data, namespace=drift_alarm["Namespace"])
                quality = compute_model_quality(
                    captures,
                    truth,
                    cutoff=0.5,
                    min_auc=config.monitoring.min_auc,
                    end=at,
                    labels_due_before=at - timedelta(hours=config.monitoring.label_delay_hours),
                )
                data = cloudwatch.quality_metrics(quality, dims=_dims(quality_alarm))
                cloudwatch.put_metrics(cw, data, namespace=quality_alarm["Namespace"])
                explained = ExplanationReport(
                    evaluated=False, baseline=profile, thresholds={}, window_rows=0
                )
                data = cloudwatch.explanation_metrics(
                    explained, timestamp=at, dims=_dims(explain_alarm)
                )
                cloudwatch.put_metrics(cw, data, namespace=explain_alarm["Namespace"])

            def states(self, at: datetime) -> dict[str, str]:
                evaluate_alarms(cw, sns, now=at)
                prefix = f"{config.project}-prod-"
                return {
                    a["AlarmName"].removeprefix(prefix): a["StateValue"]
                    for a in cw.describe_alarms(AlarmNames=list(alarms))["MetricAlarms"]
                }

        yield World()


def _hour_of_traffic(start: datetime, labels: str | None) -> tuple[list[Any], list[Any]]:
    captures, truth = [], []
    for i in range(40):
        score = (i % 10) / 10
        stamp = (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        captures.append(capture([1.0], event_id=f"e{i}", time=stamp, score=score))
        if labels is not None:
            value = labels if labels != "good" else str(int(score >= 0.5))
            truth.append(
                {
                    "groundTruthData": {"data": value, "encoding": "CSV"},
                    "eventMetadata": {"eventId": f"e{i}"},
                    "eventVersion": "0",
                }
            )
    return captures, truth


def capture(values: list[float], *, event_id: str, time: str, score: float) -> dict[str, Any]:
    """One SageMaker data-capture record with its score."""
    csv = {"observedContentType": "text/csv", "encoding": "CSV"}
    return {
        "captureData": {
            "endpointInput": {**csv, "mode": "INPUT", "data": ",".join(map(str, values))},
            "endpointOutput": {**csv, "mode": "OUTPUT", "data": str(score)},
        },
        "eventMetadata": {"eventId": event_id, "inferenceTime": time},
        "eventVersion": "0",
    }


def test_an_idle_hour_after_a_judged_one_raises_no_alarm(world: Any) -> None:
    due = T - timedelta(hours=25)
    world.run(T - timedelta(hours=2), 400, *_hour_of_traffic(due, "good"))
    world.run(T, 0, [], [])  # nobody called the endpoint: empty window, no labels due
    assert world.states(T + timedelta(minutes=5)) == {
        "data-drift": "OK",
        "model-quality": "OK",
        "monitoring-silent": "OK",  # a verdict two hours ago
        "drift-bad-records": "OK",
        "quality-bad-records": "OK",
        "explanation-drift": "OK",  # not evaluated, no violation: the report says which
    }


def test_a_run_that_never_finished_raises_the_alarms_that_count_on_every_run(world: Any) -> None:
    world.run(T - timedelta(hours=2), 400, [], [])
    states = world.states(T + timedelta(minutes=5))  # no run at T
    assert states["model-quality"] == "ALARM"
    assert states["drift-bad-records"] == "ALARM"
    assert states["quality-bad-records"] == "ALARM"
    assert states["explanation-drift"] == "ALARM"
    assert states["data-drift"] == "OK"  # silence is not drift (no retraining on it)


def test_a_due_window_whose_auc_cannot_be_computed_raises_the_quality_alarm(world: Any) -> None:
    due = T - timedelta(hours=25)
    world.run(T, 400, *_hour_of_traffic(due, "0"))  # labels of one class only
    states = world.states(T + timedelta(minutes=5))
    assert states["model-quality"] == "ALARM"
    assert states["quality-bad-records"] == "OK"


def test_unreadable_labels_over_the_limit_raise_the_quality_inputs_alarm(world: Any) -> None:
    due = T - timedelta(hours=25)
    world.run(T, 400, *_hour_of_traffic(due, "maybe"))  # no label is a class value
    states = world.states(T + timedelta(minutes=5))
    assert states["quality-bad-records"] == "ALARM"
    assert states["model-quality"] == "ALARM"  # and the AUC of the due window is not computable
