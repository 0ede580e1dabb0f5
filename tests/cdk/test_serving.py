"""Endpoints (items 8-10) and monitoring (item 17) of stage and prod."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from synth_fixtures import pipeline_steps, single_drift_step

SERVING = ("stage", "prod")


def _one(synth: Any, kind: str, env: str) -> dict[str, Any]:
    (resource,) = [r for *_, r in synth.resources(kind, env)]
    return resource


# --------------------------------------------------------------------------- capacity (8)


def test_prod_endpoint_starts_with_at_least_two_instances(platform: Any, config: Any) -> None:
    count = config.environments.prod.instances.endpoint_count
    assert count >= 2
    platform.template("prod", "Endpoint").has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "InitialInstanceCount": count,
                        "InstanceType": config.environments.prod.instances.endpoint,
                        "VariantName": "AllTraffic",
                    }
                )
            ]
        },
    )


@pytest.mark.parametrize("env", SERVING)
def test_endpoint_scales_between_the_configured_counts(
    platform: Any, config: Any, env: str
) -> None:
    instances = config.environments.by_name(env).instances
    template = platform.template(env, "Endpoint")
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": instances.endpoint_count,
            "MaxCapacity": instances.endpoint_max_count,
            "ResourceId": f"endpoint/credit-risk-{env}/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ServiceNamespace": "sagemaker",
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                    }
                }
            ),
        },
    )


def test_prod_never_scales_below_two_instances(platform: Any) -> None:
    target = _one(platform, "AWS::ApplicationAutoScaling::ScalableTarget", "prod")
    assert target["Properties"]["MinCapacity"] >= 2


# --------------------------------------------------------------------------- endpoint updates


@pytest.mark.parametrize("env", SERVING)
def test_a_promotion_keeps_the_instance_count_autoscaling_reached(platform: Any, env: str) -> None:
    """Every promotion creates a new endpoint config; UpdateEndpoint with
    RetainAllVariantProperties keeps the variant's DesiredInstanceCount instead of resetting it
    to the new config's InitialInstanceCount (API UpdateEndpoint, VariantProperty)."""
    endpoint = _one(platform, "AWS::SageMaker::Endpoint", env)["Properties"]
    assert endpoint["RetainAllVariantProperties"] is True
    assert "DesiredInstanceCount" not in json.dumps(
        endpoint.get("ExcludeRetainedVariantProperties", [])
    )


@pytest.mark.parametrize("env", SERVING)
def test_the_variant_is_registered_for_autoscaling_only_after_the_endpoint_update(
    platform: Any, env: str
) -> None:
    """SageMaker refuses to change the instance type of a variant registered with Application
    Auto Scaling (docs page endpoint-scaling-update): registration must follow the update."""
    template = platform.templates[env]["Endpoint"]
    ((endpoint_id, _),) = [
        (lid, r)
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::SageMaker::Endpoint"
    ]
    ((target_id, target),) = [
        (lid, r)
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    ]
    assert endpoint_id in target.get("DependsOn", [])
    policy = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    )
    assert policy["Properties"]["ScalingTargetId"] == {"Ref": target_id}


def test_autoscaling_off_deregisters_the_variant_so_its_instance_type_can_change(
    variant: Any, config: Any
) -> None:
    """The first of the two deployments of an instance-type change: no scalable target or policy
    (CloudFormation deletes them, which deregisters the variant), and the config's instance count
    applies as it is."""
    assert list(variant.resources("AWS::ApplicationAutoScaling::ScalableTarget", "prod")) == []
    assert list(variant.resources("AWS::ApplicationAutoScaling::ScalingPolicy", "prod")) == []
    endpoint = _one(variant, "AWS::SageMaker::Endpoint", "prod")["Properties"]
    assert endpoint["RetainAllVariantProperties"] is False
    (production,) = _one(variant, "AWS::SageMaker::EndpointConfig", "prod")["Properties"][
        "ProductionVariants"
    ]
    assert production["InitialInstanceCount"] == config.environments.prod.instances.endpoint_count


# --------------------------------------------------------------------------- guardrails (9)


@pytest.mark.parametrize("env", SERVING)
def test_endpoint_updates_shift_a_canary_share_and_bake(
    platform: Any, config: Any, env: str
) -> None:
    deployment = config.deployment
    assert deployment.strategy == "canary"
    platform.template(env, "Endpoint").has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": Match.object_like(
                {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {
                            "Type": "CANARY",
                            "CanarySize": {
                                "Type": "INSTANCE_COUNT",
                                "Value": deployment.step_instances(
                                    config.environments.by_name(env).instances
                                ),
                            },
                            "WaitIntervalInSeconds": deployment.baking_minutes * 60,
                        },
                        "TerminationWaitInSeconds": deployment.wait_minutes * 60,
                        "MaximumExecutionTimeoutInSeconds": Match.any_value(),
                    }
                }
            )
        },
    )


@pytest.mark.parametrize("env", SERVING)
def test_canary_is_at_most_half_of_every_fleet_the_variant_can_have(
    platform: Any, env: str
) -> None:
    """SageMaker: CanarySize must be <= 50 % of the variant's instance count (API reference
    TrafficRoutingConfig). The fleet an update starts from is anything between the endpoint
    config's InitialInstanceCount and the scalable target's MaxCapacity."""
    endpoint = _one(platform, "AWS::SageMaker::Endpoint", env)
    routing = endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing["CanarySize"]["Type"] == "INSTANCE_COUNT"
    (variant_config,) = _one(platform, "AWS::SageMaker::EndpointConfig", env)["Properties"][
        "ProductionVariants"
    ]
    smallest = variant_config["InitialInstanceCount"]
    target = _one(platform, "AWS::ApplicationAutoScaling::ScalableTarget", env)["Properties"]
    assert target["MinCapacity"] == smallest
    assert 1 <= routing["CanarySize"]["Value"] <= smallest / 2


def test_the_endpoint_stack_refuses_a_canary_on_one_instance(config: Any) -> None:
    from finmlops_cdk.endpoint import traffic_routing

    from finmlops.config import ConfigError

    one = config.environments.stage.instances.model_copy(update={"endpoint_count": 1})
    with pytest.raises(ConfigError, match=r"environments\.stage\.instances\.endpoint_count"):
        traffic_routing(config.deployment, one, "stage")


def test_linear_strategy_shifts_in_configured_steps(variant: Any) -> None:
    endpoint = _one(variant, "AWS::SageMaker::Endpoint", "prod")
    policy = endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    # 25 % of prod's two instances, rounded down, at least one: 10-50 % of every fleet size
    # between 2 and 6 (SageMaker TrafficRoutingConfig.LinearStepSize).
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 600,
    }
    # Six steps of one instance (the largest fleet) of ten minutes plus the wait fit.
    assert policy["MaximumExecutionTimeoutInSeconds"] >= (6 * 10 + 5) * 60


@pytest.mark.parametrize("env", SERVING)
def test_rollback_alarms_are_defined_in_the_endpoint_template(platform: Any, env: str) -> None:
    template = platform.templates[env]["Endpoint"]
    endpoint = _one(platform, "AWS::SageMaker::Endpoint", env)
    alarms = endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    metrics = set()
    assert 1 <= len(alarms) <= 10
    for entry in alarms:
        logical_id = entry["AlarmName"]["Ref"]
        alarm = template["Resources"][logical_id]
        assert alarm["Type"] == "AWS::CloudWatch::Alarm"
        props = alarm["Properties"]
        assert props["Namespace"] == "AWS/SageMaker"
        assert {"Name": "EndpointName", "Value": f"credit-risk-{env}"} in props["Dimensions"]
        assert props["AlarmActions"], "rollback alarms also notify people"
        metrics.add(props["MetricName"])
    assert metrics == {"Invocation5XXErrors", "ModelLatency", "InvocationModelErrors"}


def test_latency_alarm_uses_the_configured_limit_in_microseconds(
    platform: Any, config: Any
) -> None:
    platform.template("prod", "Endpoint").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ModelLatency", "Threshold": config.deployment.max_latency_ms * 1000},
    )


# --------------------------------------------------------------------------- capture (10)


@pytest.mark.parametrize("env", SERVING)
def test_data_capture_records_inputs_and_outputs_to_the_capture_bucket(
    platform: Any, env: str
) -> None:
    config_resource = _one(platform, "AWS::SageMaker::EndpointConfig", env)
    capture = config_resource["Properties"]["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    destination = json.dumps(capture["DestinationS3Uri"])
    assert "Capture" in destination and "/capture" in destination


# --------------------------------------------------------------------------- the manifest


def test_endpoint_serves_the_version_the_manifest_names(
    variant: Any, variant_manifest: dict[str, Any]
) -> None:
    model = _one(variant, "AWS::SageMaker::Model", "prod")
    assert model["Properties"]["PrimaryContainer"] == {
        "ModelPackageName": variant_manifest["model_package_arn"]
    }
    tags = {t["Key"]: t["Value"] for t in model["Properties"]["Tags"]}
    assert tags["model-package-version"] == "7"


def test_without_a_manifest_synth_uses_version_one_of_the_group(platform: Any) -> None:
    model = _one(platform, "AWS::SageMaker::Model", "prod")
    assert model["Properties"]["PrimaryContainer"]["ModelPackageName"] == (
        "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/1"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_package_group": "other-group"}, "model_package_group"),
        (
            {"model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/other/7"},
            "names group",
        ),
        ({"version": 8}, "does not match"),
        (
            {
                "model_package_arn": "arn:aws:sagemaker:us-east-1:999999999999:model-package/credit-risk-xgb/7"
            },
            "registry",
        ),
        ({"model_package_arn": "not-an-arn"}, "not a model package ARN"),
    ],
)
def test_a_manifest_for_anything_but_our_registry_is_refused(
    config: Any, variant_manifest: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    from finmlops_cdk.manifest import ManifestError, validate_manifest

    from finmlops.contracts import DeploymentManifest

    manifest = DeploymentManifest.from_json(json.dumps({**variant_manifest, **change}))
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest, config, "m.json")


# --------------------------------------------------------------------------- the baseline seam


def test_drift_baseline_follows_the_definition_to_the_registered_version_and_the_manifest(
    config: Any, registered_baseline: Any
) -> None:
    from finmlops.naming import names

    written = registered_baseline.written
    # One execution's own folder, never a path shared by every build.
    assert written == (
        f"s3://{names(config, 'dev').artifact_bucket}/model-build/exec7x/baseline/baseline"
    )
    assert registered_baseline.manifest.drift_baseline_uri == written


def test_model_monitor_jobs_read_the_baseline_the_manifest_names(
    variant: Any, registered_baseline: Any
) -> None:
    (job,) = [r["Properties"] for *_, r in variant.resources(
        "AWS::SageMaker::DataQualityJobDefinition", "prod"
    )]  # fmt: skip
    folder = registered_baseline.manifest.drift_baseline_uri
    assert job["DataQualityAppSpecification"]["Environment"]["baseline_uri"] == folder
    baseline = job["DataQualityBaselineConfig"]
    assert baseline["StatisticsResource"]["S3Uri"] == f"{folder}/statistics.json"
    assert baseline["ConstraintsResource"]["S3Uri"] == f"{folder}/constraints.json"


@pytest.mark.parametrize("env", SERVING)
def test_pipeline_mode_drift_step_reads_the_baseline_the_manifest_names(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    from finmlops_cdk.manifest import default_manifest

    steps = pipeline_steps(monitoring_definition(platform, env))
    readers = [n for n in steps if n in {"DataDrift", "DriftShards", "DataDriftEmptyWindow"}]
    assert "DataDrift" in readers
    for name in readers:
        inputs = steps[name]["Arguments"]["ProcessingInputs"]
        uris = {i["InputName"]: i["S3Input"]["S3Uri"] for i in inputs}
        assert uris["baseline"] == default_manifest(config).drift_baseline_uri + "/", name


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ("", "drift_baseline_uri is empty"),
        ("s3://someone-elses-bucket/model-build/x/baseline/baseline", "drift_baseline_uri"),
        (
            "s3://credit-risk-artifacts-111111111111-us-east-1/other/x/baseline",
            "not under s3://credit-risk-artifacts-111111111111-us-east-1/model-build/",
        ),
    ],
)
def test_a_manifest_without_a_usable_baseline_stops_synth_naming_the_field(
    config: Any, variant_manifest: dict[str, Any], baseline: str, message: str
) -> None:
    from finmlops_cdk.manifest import ManifestError, validate_manifest

    from finmlops.contracts import DeploymentManifest

    manifest = DeploymentManifest.from_json(
        json.dumps({**variant_manifest, "drift_baseline_uri": baseline})
    )
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest, config, "m.json")


def test_the_monitoring_stack_itself_refuses_a_manifest_without_a_baseline(config: Any) -> None:
    """The stack that reads the value checks it too, whoever builds it (not only the app)."""
    from dataclasses import replace

    from finmlops_cdk.manifest import ManifestError, default_manifest
    from finmlops_cdk.monitoring import baseline_uri

    from finmlops.naming import names

    empty = replace(default_manifest(config), drift_baseline_uri="")
    with pytest.raises(ManifestError, match="manifest: drift_baseline_uri is empty"):
        baseline_uri(empty, names(config, "prod"))


# --------------------------------------------------------------------------- monitoring (17)


@pytest.mark.parametrize("env", SERVING)
def test_pipeline_mode_runs_drift_and_quality_steps_of_the_monitoring_program(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    steps = pipeline_steps(monitoring_definition(platform, env))
    drift, quality = single_drift_step(steps), steps["ModelQuality"]["Arguments"]
    assert drift["AppSpecification"]["ContainerArguments"][:2] == ["drift", "--put-metric-data"]
    assert quality["AppSpecification"]["ContainerArguments"][0] == "quality"
    assert "--put-metric-data" in quality["AppSpecification"]["ContainerArguments"]
    assert drift["AppSpecification"]["ImageUri"] == "TOKEN"  # the project's image asset
    env_vars = drift["Environment"]
    assert env_vars["sagemaker_endpoint_name"] == f"credit-risk-{env}"
    assert env_vars["expected_model_package_arn"].endswith("/credit-risk-xgb/1")
    # The window ends at the execution's start as SageMaker records it, no scheduler keyword.
    assert env_vars["end_time"] == {"Get": "Execution.StartDateTime"}
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in drift["ProcessingInputs"]}
    # Without a manifest, synth uses the default's baseline folder, named after the default.
    assert inputs["baseline"].endswith("/model-build/default-for-synth/baseline/baseline/")
    cutoff = quality["AppSpecification"]["ContainerArguments"]
    assert cutoff[cutoff.index("--cutoff") + 1] == str(config.model.cutoff)


@pytest.mark.parametrize("env", SERVING)
def test_monitoring_pipeline_declares_no_parameter_and_no_experiments_entities(
    platform: Any, env: str, monitoring_definition: Any
) -> None:
    definition = monitoring_definition(platform, env)
    assert definition["Parameters"] == []
    assert definition.get("PipelineExperimentConfig") is None
    used = json.dumps(definition["Steps"])
    assert "Parameters." not in used


@pytest.mark.parametrize("env", SERVING)
def test_each_monitoring_run_writes_its_results_under_its_own_execution(
    platform: Any, env: str, monitoring_definition: Any
) -> None:
    """A fixed output prefix would be overwritten by the next scheduled run, leaving beside the
    new files those an older run wrote: each run's results go under its execution id."""
    for step in pipeline_steps(monitoring_definition(platform, env)).values():
        if step["Type"] != "Processing":
            continue
        (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        uri = output["S3Output"]["S3Uri"]
        assert isinstance(uri, dict), (step["Name"], uri)
        assert {"Get": "Execution.PipelineExecutionId"} in uri["Std:Join"]["Values"], step["Name"]


@pytest.mark.parametrize("env", SERVING)
def test_pipeline_mode_jobs_read_only_the_hours_since_the_last_run_and_survive_empty_prefixes(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    steps = pipeline_steps(monitoring_definition(platform, env))
    drift, quality = single_drift_step(steps), steps["ModelQuality"]["Arguments"]
    # Captures and labels are not processing inputs (an empty prefix would fail the job, a whole
    # prefix would download every hour ever captured): the job fetches the window from S3.
    assert "endpoint" not in {i["InputName"] for i in drift["ProcessingInputs"]}
    assert quality.get("ProcessingInputs", []) == []
    assert drift["Environment"]["dataset_source"].startswith("s3://")
    assert drift["Environment"]["dataset_source"].endswith(
        f"/capture/credit-risk-{env}/AllTraffic/"
    )
    assert quality["Environment"]["ground_truth_source"].endswith(
        f"/ground-truth/credit-risk-{env}/"
    )
    # The drift report's trend reads earlier runs under the prefix each run writes below (the
    # role's MonitoringResults statement already reads and lists the monitoring bucket).
    (output,) = drift["ProcessingOutputConfig"]["Outputs"]
    run_prefix = output["S3Output"]["S3Uri"]["Std:Join"]["Values"][0]
    assert drift["Environment"]["history_uri"] == f"{run_prefix}/"
    hourly = 1  # config.monitoring.schedule is hourly
    assert drift["Environment"]["lookback_hours"] == f"{hourly}"
    assert (
        quality["Environment"]["lookback_hours"]
        == f"{hourly + config.monitoring.label_delay_hours}"
    )


@pytest.mark.parametrize("env", SERVING)
def test_pipeline_mode_is_started_on_the_configured_schedule_with_retries_and_dlq(
    platform: Any, config: Any, env: str
) -> None:
    schedule = _one(platform, "AWS::Scheduler::Schedule", env)["Properties"]
    assert schedule["ScheduleExpression"] == config.monitoring.schedule
    assert schedule["KmsKeyArn"]
    target = schedule["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"]["Arn"]
    # No context-attribute keyword outside the target's Input: EventBridge Scheduler documents
    # its substitution only in the payload (docs page managing-schedule-context-attributes).
    assert "<aws.scheduler." not in json.dumps(target.get("SageMakerPipelineParameters", {}))
    assert "Input" not in target
    assert ":pipeline/credit-risk-" in json.dumps(target["Arn"])


def test_model_monitor_mode_schedules_data_and_model_quality_with_the_image(
    variant: Any, config: Any, registered_baseline: Any
) -> None:
    template = variant.template("prod", "Monitoring")
    template.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "DataQualityAppSpecification": {
                "ImageUri": Match.any_value(),
                "ContainerArguments": ["drift"],
                "Environment": Match.object_like(
                    {
                        "baseline_uri": registered_baseline.written,
                        "expected_model_version": "7",
                        "expected_data_fingerprint": "sha256:0123456789abcdef",
                        "publish_cloudwatch_metrics": "Enabled",
                    }
                ),
            },
            "DataQualityJobInput": {
                "EndpointInput": Match.object_like({"EndpointName": "credit-risk-prod"})
            },
        },
    )
    delay = config.monitoring.label_delay_hours
    template.has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {
            "ModelQualityAppSpecification": Match.object_like(
                {
                    "ProblemType": "BinaryClassification",
                    "ContainerArguments": Match.array_with(["quality"]),
                }
            ),
            "ModelQualityJobInput": {
                "EndpointInput": Match.object_like(
                    {"StartTimeOffset": f"-PT{delay + 1}H", "EndTimeOffset": f"-PT{delay}H"}
                ),
                "GroundTruthS3Input": {"S3Uri": Match.string_like_regexp("ground-truth")},
            },
        },
    )
    schedules = {
        r["Properties"]["MonitoringScheduleConfig"]["MonitoringType"]: r["Properties"]
        for *_, r in variant.resources("AWS::SageMaker::MonitoringSchedule", "prod")
    }
    assert set(schedules) == {"DataQuality", "ModelQuality"}
    for schedule in schedules.values():
        cron = schedule["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
        assert cron == "cron(0 * ? * * *)"  # the config's hourly schedule, Model Monitor style
        assert schedule["EndpointName"] == "credit-risk-prod"


def test_model_monitor_mode_wants_a_cron_schedule() -> None:
    from finmlops_cdk.monitoring import model_monitor_cron

    assert model_monitor_cron("cron(0 2 * * ? *)") == "cron(0 2 ? * * *)"
    with pytest.raises(ValueError, match=r"monitoring\.schedule"):
        model_monitor_cron("rate(1 hour)")


@pytest.mark.parametrize(
    ("synth_name", "drift_namespace", "quality_namespace"),
    [
        ("platform", "finmlops/data-metrics", "finmlops/model-metrics"),
        (
            "variant",
            "aws/sagemaker/Endpoints/data-metrics",
            "aws/sagemaker/Endpoints/model-metrics",
        ),
    ],
)
def test_drift_and_quality_alarms_notify_the_alert_topic(
    request: Any, config: Any, synth_name: str, drift_namespace: str, quality_namespace: str
) -> None:
    synth = request.getfixturevalue(synth_name)
    template = synth.template("prod", "Monitoring")
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "credit-risk-prod-data-drift",
            "Namespace": drift_namespace,
            "MetricName": "dataset_drift_share",
            "Threshold": config.monitoring.dataset_drift_share,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [Match.any_value()],
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "credit-risk-prod-model-quality",
            "Namespace": quality_namespace,
            # Counts AUC below min_auc and AUC not computable (finmlops.monitoring.quality).
            "MetricName": "quality_violations",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "breaching",
            "AlarmActions": [Match.any_value()],
        },
    )


def test_a_silent_monitor_raises_an_alarm(platform: Any) -> None:
    platform.template("prod", "Monitoring").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "credit-risk-prod-monitoring-silent",
            "TreatMissingData": "breaching",
            "AlarmActions": [Match.any_value()],
        },
    )


def test_every_alarm_has_an_action(platform: Any) -> None:
    for env, _, lid, alarm in platform.resources("AWS::CloudWatch::Alarm"):
        assert alarm["Properties"].get("AlarmActions"), (env, lid)


def test_alarms_watch_the_namespaces_and_names_the_monitoring_program_emits() -> None:
    import inspect

    from finmlops_cdk.monitoring import MODEL_MONITOR_METRICS, PIPELINE_METRICS

    from finmlops.monitoring import cloudwatch

    assert PIPELINE_METRICS.namespace_drift == cloudwatch.DATA_NAMESPACE
    assert PIPELINE_METRICS.namespace_quality == cloudwatch.QUALITY_NAMESPACE
    # The emitters name their metrics literally (drift_metrics, quality_metrics).
    emitters = inspect.getsource(cloudwatch.drift_metrics) + inspect.getsource(
        cloudwatch.quality_metrics
    )
    for metrics in (PIPELINE_METRICS, MODEL_MONITOR_METRICS):
        assert f'"{metrics.drift_share}"' in emitters
        assert f'"{metrics.auc}"' in emitters
        assert metrics.quality_violations == cloudwatch.QUALITY_VIOLATIONS
        assert metrics.bad_record_share == cloudwatch.BAD_RECORD_SHARE


@pytest.mark.parametrize("env", SERVING)
def test_each_endpoint_has_a_dashboard_of_traffic_latency_errors_drift_and_auc(
    platform: Any, env: str
) -> None:
    dashboard = _one(platform, "AWS::CloudWatch::Dashboard", env)
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "Invocations",
        "ModelLatency",
        "Invocation5XXErrors",
        "dataset_drift_share",
        "auc",
    ):
        assert metric in body, metric
    assert dashboard["Properties"]["DashboardName"] == f"credit-risk-{env}-model"


def test_monitoring_image_is_a_docker_asset_synthesized_not_built(platform: Any) -> None:
    assets = json.loads(
        next((platform.outdir / "assembly-prod").glob("*Monitoring*.assets.json")).read_text()
    )
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "docker/monitoring/Dockerfile"
    assert image["source"].get("platform") == "linux/amd64"


def test_monitoring_image_is_built_from_the_project_dockerfile(dockerfile: Any) -> None:
    assert dockerfile.is_file(), "docker/monitoring/Dockerfile (the monitoring image) is missing"


def test_drift_alarm_can_start_retraining_in_dev(variant: Any) -> None:
    forwarder = variant.template("prod", "Monitoring")
    forwarder.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {
                    "alarmName": ["credit-risk-prod-data-drift"],
                    "state": {"value": ["ALARM"]},
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": "arn:aws:events:us-east-1:111111111111:event-bus/default",
                        "DeadLetterConfig": Match.any_value(),
                        "RoleArn": Match.any_value(),
                    }
                )
            ],
        },
    )


def test_retraining_is_off_unless_configured(platform: Any) -> None:
    """Serving stacks forward no alarm to dev unless retraining is on; the one rule there sends
    the tier's re-review alarms to tooling (ADR 0030)."""
    for env in SERVING:
        rules = [r["Properties"] for *_, r in platform.resources("AWS::Events::Rule", env)]
        assert [r["Description"] for r in rules] == [
            "Drift or quality alarms -> re-validation record in tooling"
        ]
        assert "444444444444" in json.dumps(rules[0]["Targets"])
