"""The story's monitoring runs prod's synthesized monitoring pipeline: its definition, schedule,
image entry point and network read from the templates (the session's synthesized platform),
and a run started at a scheduled time hands the job the template's arguments with the window
ending at that time. The whole story runs it in tests/emulator/test_lifecycle_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from synth_fixtures import pipeline_steps

from finmlops.emulator.aws.executor import Network, PipelineExecutor, Vpc
from finmlops.emulator.story.monitoring import scheduled_time
from finmlops.emulator.story.seams import (
    MonitoringPipeline,
    assembly_root,
    dockerfile_entrypoint,
    monitoring_pipeline,
    network_of,
)
from finmlops.iam.cloudformation import Assembly, AssemblyError
from finmlops.naming import Role, names

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED = datetime(2026, 11, 28, 13, tzinfo=UTC)

# Stands in for the monitoring program: records what the job was given (arguments, the
# environment the template sets, the files of its inputs) in its results output.
RECORDER = """
import json, os, sys
from pathlib import Path
root = Path(os.environ["FINMLOPS_CONTAINER_ROOT"])
inputs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
out = Path(os.environ["output_path"])
out.mkdir(parents=True, exist_ok=True)
if sys.argv[1:2] == ["manifest"]:  # a window without captures: the single drift step judges it
    (out / "window.json").write_text(json.dumps({"objects": 0}))
(out / "job.json").write_text(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ), "files": inputs}))
"""


@pytest.fixture(scope="module")
def assembly(platform: Any) -> Assembly:
    return Assembly.load(platform.outdir)


@pytest.fixture(scope="module")
def pipeline(assembly: Assembly) -> MonitoringPipeline:
    return monitoring_pipeline(assembly, "prod")


def steps(pipeline: MonitoringPipeline) -> dict[str, dict[str, Any]]:
    """Each step's arguments, the steps of condition branches included; `drift` is the step
    that runs the drift command on one instance (DataDriftEmptyWindow when prod is sharded)."""
    found = {n: s["Arguments"] for n, s in pipeline_steps(json.loads(pipeline.definition)).items()}
    found["drift"] = found.get("DataDriftEmptyWindow", found["DataDrift"])
    return found


def test_the_monitoring_definition_is_the_templates_with_every_reference_resolved(
    pipeline: MonitoringPipeline, config: Any
) -> None:
    from finmlops_cdk.manifest import default_manifest

    prod = names(config, "prod")
    assert pipeline.name == f"{prod.endpoint_name}-monitoring"
    assert "Fn::" not in pipeline.definition and '{"Ref"' not in pipeline.definition
    drift, quality = steps(pipeline)["drift"], steps(pipeline)["ModelQuality"]
    # The baseline of the version the stage was synthesized for (its deployment manifest).
    (baseline,) = drift["ProcessingInputs"]
    assert baseline["S3Input"]["S3Uri"] == default_manifest(config).drift_baseline_uri + "/"
    captures = f"s3://{prod.bucket('capture')}/capture/{prod.endpoint_name}/AllTraffic/"
    assert drift["Environment"]["dataset_source"] == quality["Environment"]["dataset_source"]
    assert drift["Environment"]["dataset_source"] == captures
    assert drift["Environment"]["end_time"] == {"Get": "Execution.StartDateTime"}
    account = config.environments.prod.account
    assert drift["RoleArn"] == f"arn:aws:iam::{account}:role/{prod.role(Role.MONITORING)}"
    (group,) = drift["NetworkConfig"]["VpcConfig"]["SecurityGroupIds"]
    assert group.startswith("sg-")  # the network stack's group, through Fn::GetStackOutput
    assert pipeline.role_arn == drift["RoleArn"]
    assert (pipeline.schedule_expression, pipeline.flexible_window) == (
        config.monitoring.schedule,
        "OFF",
    )


def test_the_monitoring_image_runs_the_entry_point_of_its_dockerfile(
    pipeline: MonitoringPipeline,
) -> None:
    image = steps(pipeline)["DataDrift"]["AppSpecification"]["ImageUri"]
    assert "container-assets" in image
    assert pipeline.image_entrypoints[image] == dockerfile_entrypoint(
        ROOT / "docker" / "monitoring" / "Dockerfile"
    )
    assert pipeline.image_entrypoints[image][-2:] == ["-m", "finmlops.monitoring"]


def test_each_stages_network_comes_from_its_network_template(
    assembly: Assembly, config: Any
) -> None:
    dev, prod = network_of(assembly, "dev"), network_of(assembly, "prod")
    dev_vpc, prod_vpc = config.environments.dev.vpc, config.environments.prod.vpc
    assert {dev.subnets[s] for s in dev_vpc.subnet_ids} == {dev_vpc.vpc_id}
    assert {prod.subnets[s] for s in prod_vpc.subnet_ids} == {prod_vpc.vpc_id}
    dev_services = dev.vpcs[dev_vpc.vpc_id].endpoint_services
    prod_services = prod.vpcs[prod_vpc.vpc_id].endpoint_services
    assert {"com.amazonaws.us-east-1.s3", "aws.sagemaker.us-east-1.experiments"} <= dev_services
    # MLflow is dev's (the Track step); prod's jobs do not call it.
    assert "aws.sagemaker.us-east-1.experiments" not in prod_services
    assert "com.amazonaws.us-east-1.monitoring" in prod_services


def _assembly(tmp_path: Path, resources: dict[str, Any]) -> Path:
    """A one-stack cloud assembly (the layout `cdk synth` writes), for the network reader."""
    stage = tmp_path / "cdk.out" / "assembly-prod"
    stage.mkdir(parents=True)
    (stage / "Net.template.json").write_text(json.dumps({"Resources": resources}))
    (stage / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Net": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://333333333333/us-east-1",
                        "properties": {"templateFile": "Net.template.json", "stackName": "net"},
                        "displayName": "prod/Network",
                    }
                }
            }
        )
    )
    (stage.parent / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "assembly-prod": {
                        "type": "cdk:cloud-assembly",
                        "properties": {"directoryName": "assembly-prod", "displayName": "prod"},
                    }
                }
            }
        )
    )
    return stage / "Net.template.json"


def test_a_gateway_endpoint_on_no_route_table_serves_no_subnet(tmp_path: Path) -> None:
    interface = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcEndpointType": "Interface",
            "ServiceName": "com.amazonaws.us-east-1.logs",
            "VpcId": "vpc-9",
            "SubnetIds": ["subnet-9"],
        },
    }
    gateway = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {"ServiceName": "com.amazonaws.us-east-1.s3", "VpcId": "vpc-9"},
    }
    template = _assembly(tmp_path, {"Logs": interface, "S3": gateway})
    assert assembly_root(template) == tmp_path / "cdk.out"
    network = network_of(Assembly.load(assembly_root(template)), "prod")
    assert network.subnets == {"subnet-9": "vpc-9"}
    assert network.vpcs["vpc-9"].endpoint_services == {"com.amazonaws.us-east-1.logs"}
    with pytest.raises(AssemblyError, match="no dev stage"):
        network_of(Assembly.load(assembly_root(template)), "dev")


@pytest.mark.parametrize(
    ("expression", "window"),
    [("cron(15 * * * ? *)", "OFF"), ("cron(0 */6 * * ? *)", "OFF"), ("cron(0 * * * ? *)", "")],
)
def test_the_story_refuses_a_schedule_that_does_not_fire_at_the_top_of_each_hour(
    pipeline: MonitoringPipeline, expression: str, window: str
) -> None:
    other = replace(pipeline, schedule_expression=expression, flexible_window=window)
    with pytest.raises(RuntimeError, match="needs cron"):
        scheduled_time(other, SCHEDULED)
    assert scheduled_time(pipeline, SCHEDULED.replace(hour=12)) == SCHEDULED


@pytest.fixture
def emulated(config: Any, pipeline: MonitoringPipeline) -> Iterator[dict[str, Any]]:
    """The buckets the template's jobs read, with the baseline folder the manifest names."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        (baseline,) = steps(pipeline)["drift"]["ProcessingInputs"]
        bucket, _, prefix = baseline["S3Input"]["S3Uri"].removeprefix("s3://").partition("/")
        prod = names(config, "prod")
        for name in (bucket, prod.bucket("monitoring"), prod.bucket("capture")):
            s3.create_bucket(Bucket=name)
        for name in ("statistics.json", "constraints.json"):
            s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=b"{}")
        # The deployed model the explanation step explains windows with (the manifest's).
        model = {i["InputName"]: i for i in steps(pipeline)["ExplanationDrift"]["ProcessingInputs"]}
        model_bucket, _, key = (
            model["model"]["S3Input"]["S3Uri"].removeprefix("s3://").partition("/")
        )
        s3.put_object(Bucket=model_bucket, Key=key, Body=b"model")
        yield {"s3": s3, "sagemaker": boto3.client("sagemaker", region_name="us-east-1")}


def run_template(
    emulated: dict[str, Any], pipeline: MonitoringPipeline, network: Network, tmp_path: Path
) -> Any:
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    executor = PipelineExecutor(
        pipeline.definition,
        s3=emulated["s3"],
        sagemaker=emulated["sagemaker"],
        work_dir=tmp_path / "runs",
        image_entrypoints={uri: ["python3", str(recorder)] for uri in pipeline.image_entrypoints},
        network=network,
    )
    return executor, executor.run("exec-s", started_at=SCHEDULED)


def test_a_run_started_at_the_scheduled_time_gets_the_templates_arguments_and_window_end(
    emulated: dict[str, Any],
    pipeline: MonitoringPipeline,
    assembly: Assembly,
    config: Any,
    tmp_path: Path,
) -> None:
    executor, execution = run_template(emulated, pipeline, network_of(assembly, "prod"), tmp_path)
    assert execution.status == "Succeeded", execution.failure_reason
    # An empty window (the recorder lists no capture): the single drift step judges it.
    single = "DataDriftEmptyWindow" if "DataDriftEmptyWindow" in steps(pipeline) else "DataDrift"
    jobs = {
        step: json.loads((executor.output_dir(execution, step, "results") / "job.json").read_text())
        for step in (single, "ModelQuality", "ExplanationDrift")
    }
    drift, quality = jobs[single], jobs["ModelQuality"]
    explain = jobs["ExplanationDrift"]
    assert explain["argv"] == ["explain", "--put-metric-data", "--region", "us-east-1"]
    assert explain["env"]["end_time"] == "2026-11-28T13:00:00Z"
    assert explain["env"]["lookback_hours"] == drift["env"]["lookback_hours"]
    assert {
        "opt/ml/processing/model/model.tar.gz",
        "opt/ml/processing/baseline/statistics.json",
    } <= set(explain["files"])
    assert drift["argv"] == ["drift", "--put-metric-data", "--region", "us-east-1"]
    assert quality["argv"][0] == "quality"
    for job in (drift, quality):
        assert job["env"]["end_time"] == "2026-11-28T13:00:00Z"
        assert job["env"]["sagemaker_monitoring_schedule_name"] == pipeline.name
    assert drift["env"]["lookback_hours"] == "1"
    assert quality["env"]["lookback_hours"] == str(1 + config.monitoring.label_delay_hours)
    assert drift["env"]["expected_model_version"] == "1"
    assert {"opt/ml/processing/baseline/statistics.json"} <= set(drift["files"])


def test_the_templates_run_fails_when_prods_vpc_loses_its_s3_endpoint(
    emulated: dict[str, Any], pipeline: MonitoringPipeline, assembly: Assembly, tmp_path: Path
) -> None:
    network = network_of(assembly, "prod")
    vpcs = {
        vpc_id: Vpc(vpc_id, vpc.region, vpc.endpoint_services - {"com.amazonaws.us-east-1.s3"})
        for vpc_id, vpc in network.vpcs.items()
    }
    _, execution = run_template(emulated, pipeline, replace(network, vpcs=vpcs), tmp_path)
    assert execution.status == "Failed"
    reason = execution.failure_reason or ""
    assert "job pipelines-exec-s-" in reason and "(processing:finmlops.monitoring)" in reason
    assert "has no VPC endpoint com.amazonaws.us-east-1.s3" in reason
    # Nothing ran: no results were uploaded.
    monitoring = [
        b["Name"] for b in emulated["s3"].list_buckets()["Buckets"] if "monitoring" in b["Name"]
    ]
    assert "Contents" not in emulated["s3"].list_objects_v2(Bucket=monitoring[0])
