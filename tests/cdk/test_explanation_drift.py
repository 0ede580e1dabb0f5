"""Explanation drift on the synthesized templates of every serving environment: its own step
of the monitoring pipeline (the deployed model and the version's baseline folder as processing
inputs), its own alarm with an action, and a monitoring role that reads the model artifact
through the existing registry grant and nothing beyond it.

AWS rules relied on: SageMaker API Reference, ProcessingS3Input (`S3DataType` S3Prefix: every
object whose key starts with `S3Uri` is downloaded to `LocalPath`); Amazon CloudWatch User
Guide, "Configuring how CloudWatch alarms treat missing data"; the Service Authorization
Reference for Amazon S3 (s3:GetObject on the object ARN) and CloudWatch (`cloudwatch:namespace`
condition key of PutMetricData).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from synth_fixtures import pipeline_steps, single_drift_step

from finmlops.iam import Platform

SERVING = ("stage", "prod")
ACCOUNTS = {"stage": "222222222222", "prod": "333333333333"}
ARTIFACTS = "credit-risk-artifacts-111111111111-us-east-1"
NAMESPACE = "finmlops/explainability-metrics"


@pytest.fixture(scope="module")
def iam(platform: Any) -> Platform:
    return Platform.load(platform.outdir)


def _steps(platform: Any, env: str, monitoring_definition: Any) -> dict[str, Any]:
    """Each step's arguments (condition branches included); `DataDrift` is the step that runs
    `drift` on the window, the single-instance one when the run is sharded (ADR 0027)."""
    steps = pipeline_steps(monitoring_definition(platform, env))
    found = {name: step["Arguments"] for name, step in steps.items()}
    found["DataDrift"] = single_drift_step(steps)
    return found


@pytest.mark.parametrize("env", SERVING)
def test_explanation_drift_is_a_step_of_its_own_on_the_deployed_model_and_baseline(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    from finmlops_cdk.manifest import default_manifest

    steps = _steps(platform, env, monitoring_definition)
    explain, drift = steps["ExplanationDrift"], steps["DataDrift"]
    arguments = explain["AppSpecification"]["ContainerArguments"]
    assert arguments[:2] == ["explain", "--put-metric-data"]
    inputs = {i["InputName"]: i["S3Input"] for i in explain["ProcessingInputs"]}
    drift_inputs = {i["InputName"]: i["S3Input"] for i in drift["ProcessingInputs"]}
    # The same baseline folder as the drift step: the version's registered one.
    assert inputs["baseline"] == drift_inputs["baseline"]
    assert inputs["baseline"]["S3Uri"] == default_manifest(config).drift_baseline_uri + "/"
    model = inputs["model"]
    # Without a resolved manifest, a model under the default's never-written prefix.
    assert model["S3Uri"] == (
        f"s3://{ARTIFACTS}/model-build/default-for-synth/package/package/model.tar.gz"
    )
    assert (model["S3DataType"], model["LocalPath"]) == ("S3Prefix", "/opt/ml/processing/model")
    environment = explain["Environment"]
    assert environment["model_source"] == model["LocalPath"]
    assert environment["baseline_uri"] == inputs["baseline"]["LocalPath"]
    assert environment["dataset_source"] == drift["Environment"]["dataset_source"]
    assert json.loads(environment["explanation_thresholds"]) == (
        config.monitoring.explanation.model_dump()
    )
    # Encrypted, in the VPC, with the same role as the other steps.
    assert explain["NetworkConfig"] == drift["NetworkConfig"]
    assert explain["ProcessingOutputConfig"]["KmsKeyId"] == "TOKEN"
    assert explain["RoleArn"] == drift["RoleArn"]


@pytest.mark.parametrize("env", SERVING)
def test_the_monitoring_role_reads_the_model_artifact_through_the_registry_grant_only(
    iam: Platform, config: Any, env: str
) -> None:
    role = iam.role(f"{config.project}-{env}-monitoring", env).session_arn("SageMaker")
    model = f"arn:aws:s3:::{ARTIFACTS}/model-build/exec-1/package/package/model.tar.gz"
    assert iam.decide(role, "s3:GetObject", model).allowed
    # Nothing of the registry's bucket outside the model build's outputs, and no writes there.
    outside = f"arn:aws:s3:::{ARTIFACTS}/data/raw.csv"
    assert not iam.decide(role, "s3:GetObject", outside).allowed
    assert not iam.decide(role, "s3:PutObject", model).allowed


@pytest.mark.parametrize("env", SERVING)
def test_each_serving_environment_has_an_explanation_drift_alarm_with_an_action(
    platform: Any, config: Any, env: str
) -> None:
    alarms = {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for *_, alarm in platform.resources("AWS::CloudWatch::Alarm", env)
        if "AlarmName" in alarm["Properties"]  # generated names are not monitoring alarms
    }
    alarm = alarms[f"{config.project}-{env}-explanation-drift"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, "explanation_violations")
    assert alarm["TreatMissingData"] == "breaching"  # every run publishes the count
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"]
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dims == {
        "Endpoint": f"credit-risk-{env}",
        "MonitoringSchedule": f"credit-risk-{env}-monitoring",
    }


@pytest.mark.parametrize("env", SERVING)
def test_the_monitoring_role_may_publish_the_explanation_metrics_and_no_other_namespace(
    iam: Platform, config: Any, env: str
) -> None:
    role = iam.role(f"{config.project}-{env}-monitoring", env).session_arn("SageMaker")

    def put(namespace: str) -> bool:
        return iam.decide(
            role, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace},
            resource_account=ACCOUNTS[env],
        ).allowed  # fmt: skip

    assert put(NAMESPACE)
    assert not put("AWS/SageMaker")


def test_model_monitor_mode_has_no_explanation_step_and_no_alarm_waiting_for_one(
    variant: Any, config: Any
) -> None:
    names = {
        alarm["Properties"]["AlarmName"]
        for *_, alarm in variant.resources("AWS::CloudWatch::Alarm", "prod")
        if "AlarmName" in alarm["Properties"]
    }
    assert f"{config.project}-prod-explanation-drift" not in names
    assert not list(variant.resources("AWS::SageMaker::Pipeline", "prod"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "model_data_url ''"),
        ("s3://someone-elses-bucket/model-build/x/model.tar.gz", "not an object under"),
        (f"s3://{ARTIFACTS}/other/model.tar.gz", "not an object under"),
    ],
)
def test_a_resolved_manifest_without_a_readable_model_stops_synth_naming_the_field(
    config: Any, url: str, message: str
) -> None:
    from finmlops_cdk.manifest import ManifestError, default_manifest
    from finmlops_cdk.monitoring import model_artifact_uri

    from finmlops.naming import names

    resolved = replace(default_manifest(config), model_data_url=url, extra={})
    with pytest.raises(ManifestError, match=message):
        model_artifact_uri(resolved, names(config, "prod"))
    good = f"s3://{ARTIFACTS}/model-build/e/package/package/model.tar.gz"
    assert model_artifact_uri(replace(resolved, model_data_url=good), names(config, "prod")) == good
