"""The emulator runs prod's sharded monitoring pipeline, from its template, with the real
monitoring program on every instance (docs/decisions/0027).

prod's config spreads a drift run over `monitoring_count` instances. The executor runs
DriftShards as that many processes, each with its own resourceconfig.json (algo-1..algo-N) and
a disjoint share of the manifest's objects (ShardedByS3Key); DataDrift merges their partials.
Its report, statistics and violations equal those of the template's own single-instance step
(DataDriftEmptyWindow, run alone on the same window): the shipped data with a planted shift.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from shipped_baseline import build_shipped_baseline, int_rate_shifted
from synth_fixtures import pipeline_steps

from finmlops.emulator.aws.executor import Execution, PipelineExecutor
from finmlops.emulator.aws.server import EmbeddedAws, embedded_aws
from finmlops.emulator.story.seams import MonitoringPipeline, monitoring_pipeline, network_of
from finmlops.iam.cloudformation import Assembly
from finmlops.naming import names

SCHEDULED = datetime(2026, 11, 28, 13, tzinfo=UTC)
HOUR = "2026/11/28/12"


@pytest.fixture(scope="module")
def assembly(platform: Any) -> Assembly:
    return Assembly.load(platform.outdir)


@pytest.fixture(scope="module")
def pipeline(assembly: Assembly) -> MonitoringPipeline:
    return monitoring_pipeline(assembly, "prod")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A baseline of the shipped data, and the test rows with int_rate shifted by 30 %."""
    root = tmp_path_factory.mktemp("built")
    config, rows = build_shipped_baseline(root, thresholds=False)
    return {"baseline": root / "baseline", "rows": int_rate_shifted(config, rows)}


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as server:
        yield server


def _steps(pipeline: MonitoringPipeline) -> dict[str, dict[str, Any]]:
    return pipeline_steps(json.loads(pipeline.definition))


def _drift_definition(pipeline: MonitoringPipeline) -> dict[str, Any]:
    """The template's definition without ExplanationDrift: an independent step (ADR 0028) that
    needs the deployed model, which this test has no use for."""
    definition: dict[str, Any] = json.loads(pipeline.definition)
    definition["Steps"] = [s for s in definition["Steps"] if s["Name"] != "ExplanationDrift"]
    return definition


def _seed(
    aws: EmbeddedAws, pipeline: MonitoringPipeline, built: dict[str, Any], config: Any, files: int
) -> int:
    """The template's buckets, the baseline where the manifest names it, and `files` capture
    files of the shifted rows in the hour before the scheduled run."""
    s3 = aws.client("s3")
    prod = names(config, "prod")
    baseline_uri = next(
        i["S3Input"]["S3Uri"]
        for i in _steps(pipeline)["DataDrift"]["Arguments"]["ProcessingInputs"]
        if i["InputName"] == "baseline"
    )
    bucket, _, prefix = baseline_uri.removeprefix("s3://").partition("/")
    for name in (bucket, prod.bucket("monitoring"), prod.bucket("capture")):
        s3.create_bucket(Bucket=name)
    for path in sorted(p for p in built["baseline"].rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, prefix + path.relative_to(built["baseline"]).as_posix())
    rows: pd.DataFrame = built["rows"]
    bounds = [len(rows) * k // max(files, 1) for k in range(files + 1)]
    capture = f"capture/{prod.endpoint_name}/AllTraffic/{HOUR}"
    for index in range(files):
        lines = []
        for i, row in enumerate(
            rows.iloc[bounds[index] : bounds[index + 1]].itertuples(index=False)
        ):
            text = ",".join(
                "" if pd.isna(v) else repr(v) if isinstance(v, float) else str(v) for v in row
            )
            lines.append(
                json.dumps(
                    {
                        "captureData": {
                            "endpointInput": {
                                "observedContentType": "text/csv",
                                "mode": "INPUT",
                                "data": text,
                                "encoding": "CSV",
                            },
                            "endpointOutput": {
                                "observedContentType": "text/csv; charset=utf-8",
                                "mode": "OUTPUT",
                                "data": "0.5",
                                "encoding": "CSV",
                            },
                        },
                        "eventMetadata": {
                            "eventId": f"e{index}-{i}",
                            "inferenceTime": "2026-11-28T12:30:00Z",
                        },
                        "eventVersion": "0",
                    }
                )
            )
        key = f"{capture}/part-{index:02d}.jsonl"
        s3.put_object(Bucket=prod.bucket("capture"), Key=key, Body="\n".join(lines) + "\n")
    return len(rows)


def _run(
    aws: EmbeddedAws,
    definition: dict[str, Any],
    assembly: Assembly,
    pipeline: MonitoringPipeline,
    work: Path,
    execution_id: str,
) -> tuple[PipelineExecutor, Execution]:
    executor = PipelineExecutor(
        definition,
        s3=aws.client("s3"),
        sagemaker=aws.client("sagemaker"),
        work_dir=work,
        image_entrypoints=pipeline.image_entrypoints,
        job_environment={
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": aws.region,
            "OMP_NUM_THREADS": "1",
        },
        network=network_of(assembly, "prod"),
    )
    return executor, executor.run(execution_id, started_at=SCHEDULED)


def _results(folder: Path) -> dict[str, Any]:
    report = json.loads((folder / "drift_report.json").read_text())
    report["window"]["shards"] = None
    return {
        "report": report,
        "statistics": json.loads((folder / "statistics.json").read_text()),
        "violations": json.loads((folder / "constraint_violations.json").read_text()),
    }


def test_the_emulator_runs_prods_sharded_drift_and_the_merge_equals_one_instance(
    aws: EmbeddedAws,
    pipeline: MonitoringPipeline,
    assembly: Assembly,
    built: dict[str, Any],
    config: Any,
    tmp_path: Path,
) -> None:
    shards = config.environments.prod.instances.monitoring_count
    assert shards >= 2
    files = 2 * shards + 1  # uneven shares
    rows = _seed(aws, pipeline, built, config, files)
    definition = _drift_definition(pipeline)
    executor, execution = _run(aws, definition, assembly, pipeline, tmp_path / "sharded", "exec-n")
    assert execution.status == "Succeeded", execution.failure_reason
    ran = {s.name for s in execution.steps if s.status == "Succeeded"}
    assert ran == {
        "CaptureManifest",
        "WindowHasCaptures",
        "DriftShards",
        "DataDrift",
        "ModelQuality",
    }

    # Each instance: its own host name, and a disjoint share of the objects; together all.
    shares = []
    for instance in range(1, shards + 1):
        root = tmp_path / "sharded" / "exec-n" / "DriftShards" / f"algo-{instance}"
        resource = json.loads((root / "opt/ml/config/resourceconfig.json").read_text())
        assert resource == {
            "current_host": f"algo-{instance}",
            "hosts": [f"algo-{i}" for i in range(1, shards + 1)],
        }
        inputs = root / "opt/ml/processing/input/endpoint"
        shares.append({p.name for p in inputs.rglob("*.jsonl")})
        partial = executor.output_dir(execution, "DriftShards", "results", instance)
        assert (partial / "partials" / f"algo-{instance}" / "partial.json").is_file()
    assert all(shares) and sum(len(s) for s in shares) == files
    assert set().union(*shares) == {f"part-{i:02d}.jsonl" for i in range(files)}

    merged = executor.output_dir(execution, "DataDrift", "results")
    report = json.loads((merged / "drift_report.json").read_text())
    assert report["window"]["rows"] == rows and report["window"]["shards"] == shards
    assert report["dataset"]["drifted_feature_names"] == ["int_rate"]

    # The template's single-instance step on the same window, alone.
    single_step = dict(_steps(pipeline)["DataDriftEmptyWindow"], Name="DataDrift")
    alone = dict(definition, Steps=[single_step])
    single, done = _run(aws, alone, assembly, pipeline, tmp_path / "single", "exec-1")
    assert done.status == "Succeeded", done.failure_reason
    assert _results(merged) == _results(single.output_dir(done, "DataDrift", "results"))


def test_an_hour_without_captures_takes_the_single_step_and_no_manifest_is_written(
    aws: EmbeddedAws,
    pipeline: MonitoringPipeline,
    assembly: Assembly,
    built: dict[str, Any],
    config: Any,
    tmp_path: Path,
) -> None:
    _seed(aws, pipeline, built, config, files=0)
    definition = _drift_definition(pipeline)
    executor, execution = _run(aws, definition, assembly, pipeline, tmp_path, "exec-idle")
    assert execution.status == "Succeeded", execution.failure_reason
    ran = {s.name for s in execution.steps if s.status == "Succeeded"}
    assert ran == {"CaptureManifest", "WindowHasCaptures", "DataDriftEmptyWindow", "ModelQuality"}
    assert execution.step("DriftShards").status == "NotExecuted"
    window = executor.output_dir(execution, "CaptureManifest", "results")
    assert json.loads((window / "window.json").read_text())["objects"] == 0
    assert not (window / "captures.manifest").exists()
    report = executor.output_dir(execution, "DataDriftEmptyWindow", "results")
    assert json.loads((report / "drift_report.json").read_text())["window"]["rows"] == 0
