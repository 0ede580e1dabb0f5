"""The offline pipeline executor on small hand-written definitions (moto's S3 and registry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.emulator.aws.executor import ExecutionError, PipelineExecutor, UnsupportedStepError

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
        s3.put_object(Bucket=BUCKET, Key="code/score.py", Body=SCRIPT.encode())
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
