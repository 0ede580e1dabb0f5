"""A batch scoring run offline: prod's synthesized batch pipeline, its processing step run by the
executor against moto with the approved archive and the input prefix, and what it wrote read by
the monitoring job's own source and readers, labels joined by inference id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws
from reasons_support import FEATURES, TEXTS, model_block, synthetic, train_tiny

from finmlops.config import Serving
from finmlops.contracts import DeploymentManifest
from finmlops.emulator.story.batch import batch_pipeline, put_input, run_batch
from finmlops.emulator.story.seams import network_of
from finmlops.iam.cloudformation import Assembly
from finmlops.monitoring.quality import compute_model_quality, read_jsonl
from finmlops.monitoring.readers import open_dataset, parse_dataset_format
from finmlops.monitoring.sources import fetch
from finmlops.serving.package_step import served_archive
from finmlops.serving.source import source_archive
from finmlops.steps.train import pack_model, save_model

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ARCHIVE = (
    "s3://credit-risk-artifacts-111111111111-us-east-1/model-build/exec-1/package/model.tar.gz"
)


@pytest.fixture(scope="module")
def batch_config(config: Any) -> Any:
    model = model_block(config.model, FEATURES, TEXTS, top_k=2).model_copy(
        update={"name": "provisions"}
    )
    return config.model_copy(
        update={"model": model, "serving": Serving(mode="batch", schedule="cron(0 2 * * ? *)")}
    )


@pytest.fixture(scope="module")
def assembly(batch_config: Any, root: Path, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """Prod's data, network and batch stacks, synthesized with an approved version's manifest."""
    from aws_cdk import App, Stage
    from aws_cdk import Environment as CdkEnvironment
    from finmlops_cdk.batch import BatchStack
    from finmlops_cdk.data_stack import DataStack
    from finmlops_cdk.feature_flags import FEATURE_FLAGS
    from finmlops_cdk.stages import NetworkStack

    manifest = DeploymentManifest.from_json(
        json.dumps(
            {
                "model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/3",
                "model_package_group": "credit-risk-xgb",
                "version": 3,
                "image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
                "model_data_url": ARCHIVE,
                "data_fingerprint": "sha256:0",
                "approval": {"approved_by": "bob", "approved_at": "2026-11-30T10:00:00Z", "reason": "ok"},
                "environment": "prod",
                "drift_baseline_uri": "s3://credit-risk-artifacts-111111111111-us-east-1/model-build/exec-1/baseline/baseline",
                "validated_auc": 0.71,
            }
        )
    )  # fmt: skip
    outdir = tmp_path_factory.mktemp("batch-emulator") / "cdk.out"
    app = App(outdir=str(outdir), context=dict(FEATURE_FLAGS))
    env = batch_config.environments.prod
    stage = Stage(app, "prod", env=CdkEnvironment(account=env.account, region=env.region))
    data = DataStack(stage, "Data", config=batch_config, environment="prod", root=root)
    network = NetworkStack(stage, "Network", config=batch_config, environment="prod")
    BatchStack(
        stage,
        "Batch",
        config=batch_config,
        environment="prod",
        data=data,
        network=network.network,
        manifest=manifest,
        root=root,
    )
    app.synth()
    return Assembly.load(outdir)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, batch_config: Any) -> bytes:
    folder = tmp_path_factory.mktemp("served")
    save_model(train_tiny(), folder / "trained")
    trained = pack_model(folder / "trained", folder / "trained.tar.gz")
    source = folder / "sourcedir.tar.gz"
    source.write_bytes(source_archive(batch_config.model))
    return served_archive(trained, source)


def frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = synthetic(rows=rows, seed=seed)
    data = pd.DataFrame(x, columns=list(FEATURES))
    data.insert(0, "account", [f"A{i:05d}" for i in range(rows)])
    return data, y


@pytest.fixture
def aws(archive: bytes, batch_config: Any) -> Any:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sm = boto3.client("sagemaker", region_name="us-east-1")
        for bucket in (
            "credit-risk-artifacts-111111111111-us-east-1",
            "credit-risk-capture-333333333333-us-east-1",
        ):
            s3.create_bucket(Bucket=bucket)
        bucket, key = ARCHIVE.removeprefix("s3://").split("/", 1)
        s3.put_object(Bucket=bucket, Key=key, Body=archive)
        yield s3, sm


def test_the_batch_pipeline_is_read_from_the_template_as_deployed(assembly: Assembly) -> None:
    pipeline = batch_pipeline(assembly, "prod")
    assert pipeline.name == "provisions-prod-batch"
    assert pipeline.schedule_expression == "cron(0 2 * * ? *)"
    assert pipeline.model_uri == ARCHIVE
    assert (
        pipeline.input_uri
        == "s3://credit-risk-capture-333333333333-us-east-1/batch/provisions/input/"
    )
    assert pipeline.capture_uri.endswith("/capture/provisions-prod/AllTraffic")


def test_a_scheduled_run_scores_the_input_and_monitoring_reads_its_captures(
    assembly: Assembly, aws: Any, tmp_path: Path
) -> None:
    s3, sm = aws
    pipeline = batch_pipeline(assembly, "prod")
    book, labels = frame(150, seed=11)
    put_input(s3, pipeline, {"2026-12/book.csv": book})
    run = run_batch(
        pipeline,
        s3=s3,
        sagemaker=sm,
        work_dir=tmp_path / "work",
        network=network_of(assembly, "prod"),
        at=AT,
        execution_id="exec-1",
    )
    assert run.execution.status == "Succeeded", run.execution.failure_reason
    assert run.report is not None and run.report["scored"] == 150
    assert run.report["model"]["version"] == "3"
    # The drift job's own fetch of the window (hour folders in [end - lookback, end)).
    window = fetch(
        s3,
        pipeline.capture_uri + "/",
        tmp_path / "window",
        end=AT.replace(hour=3),
        lookback_hours=1,
    )
    assert window.objects == 1
    chunks = list(
        open_dataset(window.path, parse_dataset_format("capture"), feature_order=FEATURES)
    )
    assert sum(c.rows for c in chunks) == 150 and sum(c.malformed for c in chunks) == 0
    # The quality job's join: labels arrive later, keyed by the inference ids of the scores.
    bucket = pipeline.capture_uri.removeprefix("s3://").split("/", 1)[0]
    scores_key = f"{run.scores_uri.split('/', 3)[3]}/2026-12/book.csv.scores.jsonl"
    scores = [
        json.loads(line)
        for line in s3.get_object(Bucket=bucket, Key=scores_key)["Body"].read().splitlines()
    ]
    truth = tmp_path / "labels.jsonl"
    truth.write_text(
        "".join(
            json.dumps(
                {
                    "groundTruthData": {"data": str(int(labels[s["line"] - 2])), "encoding": "CSV"},
                    "eventMetadata": {"eventId": s["inference_id"]},
                    "eventVersion": "0",
                }
            )
            + "\n"
            for s in scores
        )
    )
    report = compute_model_quality(
        read_jsonl(sorted(window.path.rglob("*.jsonl")), window.path),
        read_jsonl([truth]),
        cutoff=0.5,
        window=None,
    )
    assert report.overall.labelled == 150
    assert report.overall.metrics["auc"] is not None


def test_a_run_with_too_many_bad_records_fails_and_writes_nothing(
    assembly: Assembly, aws: Any, tmp_path: Path
) -> None:
    s3, sm = aws
    pipeline = batch_pipeline(assembly, "prod")
    book, _ = frame(20, seed=12)
    put_input(s3, pipeline, {"book.csv": book, "broken.csv": "account,debt_ratio\nA1,2\n"})
    run = run_batch(
        pipeline,
        s3=s3,
        sagemaker=sm,
        work_dir=tmp_path / "work",
        network=network_of(assembly, "prod"),
        at=AT,
        execution_id="exec-2",
    )
    assert run.execution.status == "Failed"
    assert "broken.csv:1: header lacks the model's feature column(s)" in str(
        run.execution.failure_reason
    )
    bucket = pipeline.capture_uri.removeprefix("s3://").split("/", 1)[0]
    written = s3.list_objects_v2(Bucket=bucket, Prefix="capture/")
    assert written.get("KeyCount", 0) == 0
    assert s3.list_objects_v2(Bucket=bucket, Prefix="batch/provisions/output/").get("KeyCount") == 0


def test_a_run_with_no_input_fails_as_sagemaker_fails_an_empty_prefix(
    assembly: Assembly, aws: Any, tmp_path: Path
) -> None:
    s3, sm = aws
    run = run_batch(
        batch_pipeline(assembly, "prod"),
        s3=s3,
        sagemaker=sm,
        work_dir=tmp_path / "work",
        network=network_of(assembly, "prod"),
        at=AT,
        execution_id="exec-3",
    )
    assert run.execution.status == "Failed"
    assert "holds no object" in str(run.execution.failure_reason)
