"""The offline pipeline executor on small hand-written definitions (moto's S3 and registry):
steps, conditions, execution variables, parallel steps, and jobs in a VPC checked against the
endpoints of their VPC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.emulator.aws.executor import (
    Execution,
    ExecutionError,
    Network,
    PipelineExecutor,
    UnsupportedStepError,
    Vpc,
)

BUCKET = "artifacts"
SCRIPT = """
import json, os, sys
from pathlib import Path
root = Path(os.environ.get("FINMLOPS_CONTAINER_ROOT", "/"))
score = float(sys.argv[1])
if score < 0:
    sys.exit("negative score refused")
out = root / "opt/ml/processing/output"
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({"metrics": {"score": score}}))
"""


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sm = boto3.client("sagemaker", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for script in ("score.py", "evaluate.py"):
            s3.put_object(Bucket=BUCKET, Key=f"code/{script}", Body=SCRIPT.encode())
        sm.create_model_package_group(ModelPackageGroupName="g")
        yield {"s3": s3, "sagemaker": sm}


def processing(name: str, argument: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/score.py"],
                "ContainerArguments": [argument],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"s3://{BUCKET}/code/score.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        f"s3://{BUCKET}/runs",
                                        {"Get": "Execution.PipelineExecutionId"},
                                        name,
                                    ],
                                }
                            },
                            "LocalPath": "/opt/ml/processing/output",
                        },
                    }
                ]
            },
        },
        "PropertyFiles": [
            {"PropertyFileName": "Result", "OutputName": "result", "FilePath": "result.json"}
        ],
    }


def definition(extra_steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    score = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Score.PropertyFiles.Result"},
            "Path": "metrics.score",
        }
    }
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "g",
            "ModelApprovalStatus": "PendingManualApproval",
            "CustomerMetadataProperties": {"score": {"Std:Join": {"On": "", "Values": [score]}}},
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "img",
                        "ModelDataUrl": {
                            "Std:Join": {
                                "On": "/",
                                "Values": [
                                    f"s3://{BUCKET}/runs",
                                    {"Get": "Execution.PipelineExecutionId"},
                                    "m.tar.gz",
                                ],
                            }
                        },
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
    }
    fail = {
        "Name": "TooLow",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {
                    "On": " ",
                    "Values": ["score", score, "below", {"Get": "Parameters.MinScore"}],
                }
            }
        },
    }
    gate = {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": score,
                    "RightValue": {"Get": "Parameters.MinScore"},
                }
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": "Score", "Type": "String", "DefaultValue": "0.8"},
            {"Name": "MinScore", "Type": "Float", "DefaultValue": 0.5},
        ],
        "Steps": [gate, processing("Score", {"Get": "Parameters.Score"}), *(extra_steps or [])],
    }


def run(aws: dict[str, Any], tmp_path: Path, body: dict[str, Any], **overrides: Any):  # type: ignore[no-untyped-def]
    executor = PipelineExecutor(
        json.dumps(body), s3=aws["s3"], sagemaker=aws["sagemaker"], work_dir=tmp_path
    )
    return executor.run("exec-1", overrides)


def test_steps_run_in_data_order_and_the_passing_gate_registers(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    execution = run(aws, tmp_path, definition())
    assert execution.status == "Succeeded", execution.failure_reason
    order = sorted((s for s in execution.steps if s.started), key=lambda s: s.started or 0)
    assert [s.name for s in order] == ["Score", "Gate", "Register"]
    assert execution.step("Gate").outcome == "true"
    assert execution.step("TooLow").status == "NotExecuted"
    package = aws["sagemaker"].describe_model_package(
        ModelPackageName=execution.step("Register").outcome
    )
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {"score": "0.8"}
    stored = aws["s3"].get_object(Bucket=BUCKET, Key="runs/exec-1/Score/result.json")["Body"].read()
    assert json.loads(stored) == {"metrics": {"score": 0.8}}


def test_failing_gate_fails_with_the_fail_step_message(aws: dict[str, Any], tmp_path: Path) -> None:
    execution = run(aws, tmp_path, definition(), MinScore=0.9)
    assert execution.status == "Failed"
    assert execution.failure_reason == "TooLow: score 0.8 below 0.9"
    assert execution.step("TooLow").status == "Failed"
    assert execution.step("Register").status == "NotExecuted"
    assert (
        aws["sagemaker"].list_model_packages(ModelPackageGroupName="g")["ModelPackageSummaryList"]
        == []
    )


def test_step_code_failure_is_recorded_with_its_reason(aws: dict[str, Any], tmp_path: Path) -> None:
    execution = run(aws, tmp_path, definition(), Score="-1")
    assert execution.status == "Failed"
    assert "negative score refused" in (execution.step("Score").failure_reason or "")


def test_unsupported_step_type_is_named_and_nothing_runs(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    body = definition([{"Name": "Notify", "Type": "Lambda", "Arguments": {}}])
    executor = PipelineExecutor(
        json.dumps(body), s3=aws["s3"], sagemaker=aws["sagemaker"], work_dir=tmp_path
    )
    with pytest.raises(UnsupportedStepError, match="Lambda"):
        executor.run("exec-1")
    assert not (tmp_path / "exec-1").exists()


def test_unknown_parameter_override_is_refused(aws: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="MinScroe"):
        run(aws, tmp_path, definition(), MinScroe=0.1)


def test_depends_on_orders_steps_without_data_references(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    later = processing("Later", "0.3") | {"DependsOn": ["Score"]}
    body = definition()
    body["Steps"] = [later, *body["Steps"]]
    execution = run(aws, tmp_path, body)
    assert execution.status == "Succeeded"
    assert (execution.step("Later").started or 0) >= (execution.step("Score").ended or 0)


def test_reference_to_a_step_that_never_runs_is_an_error(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    body = definition()
    body["Steps"].append(
        processing(
            "Orphan", {"Get": "Steps.Ghost.ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri"}
        )
    )
    execution = run(aws, tmp_path, body)
    assert execution.status == "Failed"
    assert "Ghost" in (execution.failure_reason or "")


def test_an_execution_started_in_sagemaker_lists_the_steps_it_ran(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    sm = aws["sagemaker"]
    body = definition()
    sm.create_pipeline(
        PipelineName="build",
        PipelineDefinition=json.dumps(body),
        RoleArn="arn:aws:iam::123456789012:role/build",
    )
    arn = sm.start_pipeline_execution(PipelineName="build")["PipelineExecutionArn"]
    executor = PipelineExecutor(json.dumps(body), s3=aws["s3"], sagemaker=sm, work_dir=tmp_path)
    execution = executor.run(arn.rsplit("/", 1)[-1], pipeline_arn=arn.split("/execution/")[0])

    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")[
        "PipelineExecutionSteps"
    ]
    assert [s["StepName"] for s in steps] == ["Score", "Gate", "Register"]  # TooLow never ran
    by_name = {s["StepName"]: s for s in steps}
    assert by_name["Register"]["Metadata"] == {
        "RegisterModel": {"Arn": execution.step("Register").outcome}
    }
    assert by_name["Gate"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert all(s["StepStatus"] == "Succeeded" for s in steps)


# --- Execution variables and parallel steps ---------------------------------------------------

ECHO = """
import json, os, sys
from pathlib import Path
root = Path(os.environ.get("FINMLOPS_CONTAINER_ROOT", "/"))
out = root / "opt/ml/processing/output"
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({"argv": sys.argv[1:]}))
"""

# Each of two steps leaves its mark and waits for the other's: both finish only when they run
# at the same time (a sequential run fails the first one after its wait).
RENDEZVOUS = """
import os, sys, time
from pathlib import Path
me, other, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
(folder / me).touch()
deadline = time.monotonic() + 30
while not (folder / other).exists():
    if time.monotonic() > deadline:
        sys.exit(f"{me}: {other} never ran beside me")
    time.sleep(0.05)
root = Path(os.environ["FINMLOPS_CONTAINER_ROOT"])
(root / "opt/ml/processing/output").mkdir(parents=True, exist_ok=True)
(root / "opt/ml/processing/output/result.json").write_text('{"metrics": {"score": 1}}')
"""


def script_step(name: str, script: str, arguments: list[Any]) -> dict[str, Any]:
    step = processing(name, "0")
    app = step["Arguments"]["AppSpecification"]
    app["ContainerEntrypoint"] = ["python3", f"/opt/ml/processing/input/code/{script}"]
    app["ContainerArguments"] = arguments
    step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = f"s3://{BUCKET}/code/{script}"
    step.pop("PropertyFiles")
    return step


def test_start_date_time_is_the_time_the_execution_started_and_current_time_follows_it(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key="code/echo.py", Body=ECHO.encode())
    body = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [
            script_step(
                "Echo",
                "echo.py",
                [{"Get": "Execution.StartDateTime"}, {"Get": "Execution.CurrentDateTime"}],
            )
        ],
    }
    executor = PipelineExecutor(body, s3=aws["s3"], sagemaker=aws["sagemaker"], work_dir=tmp_path)
    scheduled = datetime(2026, 11, 28, 13, tzinfo=UTC)
    execution = executor.run("exec-9", started_at=scheduled)
    assert execution.status == "Succeeded", execution.failure_reason
    stored = aws["s3"].get_object(Bucket=BUCKET, Key="runs/exec-9/Echo/result.json")
    start, current = json.loads(stored["Body"].read())["argv"]
    assert start == "2026-11-28T13:00:00Z"
    # The wall clock moved on while the step waited to run; the execution's clock with it.
    assert scheduled <= datetime.fromisoformat(current) < scheduled + timedelta(minutes=10)


def test_steps_without_dependencies_between_them_run_at_the_same_time(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key="code/meet.py", Body=RENDEZVOUS.encode())
    marks = tmp_path / "marks"
    marks.mkdir()
    body = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [
            script_step("Left", "meet.py", ["left", "right", str(marks)]),
            script_step("Right", "meet.py", ["right", "left", str(marks)]),
        ],
    }
    executor = PipelineExecutor(
        body, s3=aws["s3"], sagemaker=aws["sagemaker"], work_dir=tmp_path, max_parallel=2
    )
    execution = executor.run("exec-2")
    assert execution.status == "Succeeded", execution.failure_reason
    assert {s.status for s in execution.steps} == {"Succeeded"}


# --- A job in a VPC reaches only the services its VPC has endpoints for -----------------------

REGION = "us-east-1"
EVERY_ENDPOINT = frozenset(
    {
        f"com.amazonaws.{REGION}.{name}"
        for name in ("s3", "ecr.api", "ecr.dkr", "logs", "monitoring", "sts", "sagemaker.api")
    }
    | {f"aws.sagemaker.{REGION}.experiments"}
)


def network(*, without: str = "", second: str = "") -> Network:
    services = frozenset(s for s in EVERY_ENDPOINT if not without or not s.endswith(without))
    vpcs = {"vpc-1": Vpc("vpc-1", REGION, services)}
    subnets = {"subnet-a": "vpc-1", "subnet-b": "vpc-1"}
    if second:
        vpcs[second] = Vpc(second, REGION, EVERY_ENDPOINT)
        subnets["subnet-z"] = second
    return Network(subnets=subnets, vpcs=vpcs)


def in_vpc(step: dict[str, Any], *subnets: str) -> dict[str, Any]:
    step["Arguments"]["NetworkConfig"] = {
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": list(subnets)}
    }
    return step


def vpc_run(
    aws: dict[str, Any], tmp_path: Path, body: dict[str, Any], net: Network | None
) -> Execution:
    executor = PipelineExecutor(
        json.dumps(body),
        s3=aws["s3"],
        sagemaker=aws["sagemaker"],
        work_dir=tmp_path,
        network=net,
    )
    return executor.run("exec-v")


def vpc_definition(*subnets: str, script: str = "evaluate.py") -> dict[str, Any]:
    """The gate definition with its Score job in a VPC, running the scoring code as `script`
    (evaluate.py: the model build's Evaluate step, a workload finmlops.service_calls declares)."""
    body = definition()
    score = in_vpc(body["Steps"][1], *subnets)
    score["Arguments"]["AppSpecification"]["ContainerEntrypoint"][1] = (
        f"/opt/ml/processing/input/code/{script}"
    )
    score["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = f"s3://{BUCKET}/code/{script}"
    body["Steps"][1] = score
    return body


def test_a_job_in_a_vpc_with_every_endpoint_runs(aws: dict[str, Any], tmp_path: Path) -> None:
    execution = vpc_run(aws, tmp_path, vpc_definition("subnet-a", "subnet-b"), network())
    assert execution.status == "Succeeded", execution.failure_reason
    assert execution.step("Register").status == "Succeeded"


def test_a_job_whose_vpc_has_no_s3_endpoint_fails_naming_the_job_service_and_endpoint(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    execution = vpc_run(aws, tmp_path, vpc_definition("subnet-a"), network(without=".s3"))
    assert execution.status == "Failed"
    reason = execution.step("Score").failure_reason or ""
    assert "job pipelines-exec-v-Score (processing:evaluate) runs in VPC vpc-1" in reason
    assert "S3 (SageMaker downloads the job's inputs" in reason
    assert "has no VPC endpoint com.amazonaws.us-east-1.s3" in reason
    assert execution.failure_reason == reason
    # The job never ran: nothing written, nothing registered.
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix="runs/")
    assert execution.step("Register").status == "NotExecuted"


def test_the_track_step_without_the_mlflow_endpoint_fails_naming_it(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    track = in_vpc(processing("Track", "0"), "subnet-a")
    track["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "python3",
        "-m",
        "finmlops.tracking.track_step",
    ]
    track.pop("PropertyFiles")
    body = {"Version": "2020-12-01", "Parameters": [], "Steps": [track]}
    execution = vpc_run(aws, tmp_path, body, network(without=".experiments"))
    assert execution.status == "Failed"
    reason = execution.failure_reason or ""
    assert "(processing:finmlops.tracking.track_step)" in reason
    assert "MLFLOW (finmlops.tracking.runs logs the run" in reason
    assert "aws.sagemaker.us-east-1.experiments" in reason
    assert "com.amazonaws.us-east-1.s3" not in reason  # only what is missing is named


def test_a_training_job_in_a_vpc_is_checked_before_it_runs(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
                "TrainingInputMode": "File",
            },
            "InputDataConfig": [],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/train"},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-b"]},
        },
    }
    body = {"Version": "2020-12-01", "Parameters": [], "Steps": [train]}
    execution = vpc_run(aws, tmp_path, body, network(without=".ecr.dkr"))
    assert execution.status == "Failed"
    reason = execution.failure_reason or ""
    assert "job train-exec-v (training:sagemaker-xgboost)" in reason
    assert "ECR_DKR" in reason and "com.amazonaws.us-east-1.ecr.dkr" in reason
    assert not (tmp_path / "exec-v" / "Train" / "opt").exists()


def test_a_job_outside_any_vpc_is_not_checked(aws: dict[str, Any], tmp_path: Path) -> None:
    empty = Network(subnets={}, vpcs={})
    for net in (None, empty):
        execution = vpc_run(aws, tmp_path / str(net is None), definition(), net)
        assert execution.status == "Succeeded", execution.failure_reason


def test_a_vpc_job_without_a_network_to_check_is_refused(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    execution = vpc_run(aws, tmp_path, vpc_definition("subnet-a"), None)
    assert execution.status == "Failed"
    assert "given no network" in (execution.failure_reason or "")


@pytest.mark.parametrize(
    ("subnets", "expected"),
    [
        (("subnet-x",), "subnet(s) subnet-x belong to no VPC"),
        (("subnet-a", "subnet-z"), "span VPCs vpc-1, vpc-2"),
    ],
)
def test_subnets_of_no_known_vpc_or_of_two_vpcs_are_refused(
    aws: dict[str, Any], tmp_path: Path, subnets: tuple[str, ...], expected: str
) -> None:
    execution = vpc_run(aws, tmp_path, vpc_definition(*subnets), network(second="vpc-2"))
    assert execution.status == "Failed"
    assert expected in (execution.failure_reason or "")


def test_a_vpc_job_whose_calls_are_not_declared_is_refused(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    body = vpc_definition("subnet-a", script="score.py")
    execution = vpc_run(aws, tmp_path, body, network())
    assert execution.status == "Failed"
    assert "declares no services for its workload processing:score" in (
        execution.failure_reason or ""
    )
