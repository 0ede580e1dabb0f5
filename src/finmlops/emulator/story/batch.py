"""A batch model's scoring run, offline: the batch pipeline of a serving stage as CloudFormation
creates it (cdk/batch.py), run step by step by the executor as its schedule would start it.

What the story hands over, as for monitoring (finmlops.emulator.story.monitoring): the time the
schedule starts the execution (moto runs no scheduler), and the input files, which the story
writes under the stage's input prefix (`BatchPipeline.input_uri`) as the upstream would.

    pipeline = batch_pipeline(Assembly.load(cdk_out), "prod")
    put_input(s3, pipeline, {"book.csv": frame})
    run = run_batch(pipeline, s3=s3, sagemaker=sm, work_dir=..., network=network_of(...),
                    at=datetime(2026, 12, 1, 2, tzinfo=UTC))

The job reads the manifest's archive and the input prefix, and writes scores under
`<output prefix>/<execution id>/` and captures under `capture/<model>-<stage>/AllTraffic/`,
where the monitoring pipeline's drift and quality steps read them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.emulator.aws.executor import Execution, Network, PipelineExecutor
from finmlops.emulator.story.seams import _stacks, image_entrypoints
from finmlops.iam.cloudformation import Assembly, AssemblyError

if TYPE_CHECKING:
    import pandas as pd

STEP = "BatchScore"


@dataclass(frozen=True)
class BatchPipeline:
    """The batch pipeline of one serving stage, resolved, with what its step reads and writes."""

    name: str
    definition: str  # PipelineDefinitionBody with every intrinsic function resolved
    role_arn: str
    schedule_expression: str
    image_entrypoints: dict[str, list[str]]
    input_uri: str  # s3://<capture bucket>/batch/<model>/input/
    output_uri: str  # s3://<capture bucket>/batch/<model>/output (then /<execution id>)
    capture_uri: str  # s3://<capture bucket>/capture/<model>-<stage>/AllTraffic
    model_uri: str  # the approved archive the manifest names
    source: str

    @property
    def step(self) -> dict[str, Any]:
        (only,) = json.loads(self.definition)["Steps"]
        return dict(only)


def batch_pipeline(
    assembly: Assembly,
    environment: str,
    component: str = "Batch",
    stack_name: str | None = None,
) -> BatchPipeline:
    """The `AWS::SageMaker::Pipeline` of the environment's batch stack, resolved, with the
    `AWS::Scheduler::Schedule` that starts it; with several batch models, the one of the stack
    named `stack_name` (the model's own)."""
    found = [
        (stack, logical_id, resource)
        for stack in _stacks(assembly, environment)
        if stack.component == component and stack_name in (None, stack.stack_name)
        for logical_id, resource in stack.resources("AWS::SageMaker::Pipeline")
    ]
    if len(found) != 1:
        raise AssemblyError(
            f"{assembly.root}: {len(found)} pipelines in the {environment} {component} stack, "
            "expected one"
        )
    ((stack, logical_id, resource),) = found
    properties = resource["Properties"]
    where = stack.where(logical_id, "PipelineDefinition.PipelineDefinitionBody")
    definition = assembly.resolve_str(
        stack, properties["PipelineDefinition"]["PipelineDefinitionBody"], where
    )
    name = assembly.resolve_str(stack, properties["PipelineName"], stack.where(logical_id))
    schedules = [
        assembly.resolve_str(
            stack, s["Properties"]["ScheduleExpression"], stack.where(sid, "ScheduleExpression")
        )
        for sid, s in stack.resources("AWS::Scheduler::Schedule")
        if assembly.resolve_str(
            stack, s["Properties"]["Target"]["Arn"], stack.where(sid, "Target")
        ).endswith(f":pipeline/{name.lower()}")
    ]
    if len(schedules) != 1:
        raise AssemblyError(f"{stack.path.name}: {len(schedules)} schedules start {name}")
    (step,) = json.loads(definition)["Steps"]
    arguments = step["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in arguments["ProcessingInputs"]}
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for o in arguments["ProcessingOutputConfig"]["Outputs"]
    }
    scores = outputs["scores"]
    return BatchPipeline(
        name=name,
        definition=definition,
        role_arn=assembly.resolve_str(
            stack, properties["RoleArn"], stack.where(logical_id, "RoleArn")
        ),
        schedule_expression=schedules[0],
        image_entrypoints=image_entrypoints(assembly, environment),
        input_uri=inputs["input"],
        output_uri=scores["Std:Join"]["Values"][0] if isinstance(scores, dict) else str(scores),
        capture_uri=str(outputs["capture"]),
        model_uri=inputs["model"],
        source=stack.where(logical_id),
    )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def put_input(
    s3: Any, pipeline: BatchPipeline, files: Mapping[str, pd.DataFrame | str]
) -> list[str]:
    """Write input files under the stage's input prefix, as the upstream delivers them (a frame
    as CSV with its header, no index); returns the keys."""
    bucket, prefix = _split(pipeline.input_uri)
    keys = []
    for name, content in files.items():
        text = content if isinstance(content, str) else content.to_csv(index=False)
        key = f"{prefix}{name}"
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
        keys.append(key)
    return keys


@dataclass(frozen=True)
class BatchRun:
    execution: Execution
    scores_uri: str  # where this execution's scores and report are
    report: dict[str, Any] | None  # batch_report.json, when the run wrote one


def run_batch(
    pipeline: BatchPipeline,
    *,
    s3: Any,
    sagemaker: Any,
    work_dir: Path,
    network: Network,
    at: datetime,
    execution_id: str,
    pipeline_arn: str | None = None,
    job_environment: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> BatchRun:
    """Run the batch pipeline's definition as an execution its schedule started at `at`.

    `s3` and `sagemaker` are the clients the job runs with (on the world: the pipeline's role, as
    `MonitoringStory.run` builds them); the executor checks the job's VPC against `network`."""
    executor = PipelineExecutor(
        pipeline.definition,
        s3=s3,
        sagemaker=sagemaker,
        work_dir=work_dir,
        progress=progress,
        image_entrypoints=pipeline.image_entrypoints,
        job_environment=job_environment,
        network=network,
    )
    execution = executor.run(execution_id, pipeline_arn=pipeline_arn, started_at=at)
    scores_uri = f"{pipeline.output_uri}/{execution_id}"
    report = None
    if execution.status == "Succeeded":
        bucket, key = _split(f"{scores_uri}/batch_report.json")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        report = json.load(io.BytesIO(body))
    return BatchRun(execution, scores_uri, report)
