"""The seam with the build pipeline: preprocess's baseline folder -> baseline step -> drift on the
encoded rows the endpoint captures (no header, categorical codes as numbers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from shipped_baseline import build_shipped_baseline

from finmlops.monitoring import entrypoint
from finmlops.monitoring.baseline import load_baseline
from finmlops.monitoring.cloudwatch import METRICS_FILE


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("seam")
    config, features = build_shipped_baseline(root)
    return {"root": root, "config": config, "features": features}


def _capture(folder: Path, rows: pd.DataFrame, capture: Callable[..., dict[str, Any]]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "capture.jsonl").open("w") as handle:
        for i, row in enumerate(rows.itertuples(index=False)):
            values = ["" if pd.isna(v) else v for v in row]
            record = capture(values, event_id=f"e{i}", time="2026-11-28T10:00:00Z")
            handle.write(json.dumps(record) + "\n")
    return folder


def _drift(built: dict[str, Any], source: Path, name: str) -> dict[str, Any]:
    out = built["root"] / name
    args = ["drift", "--dataset-source", str(source), "--baseline", str(built["root"] / "baseline")]
    assert entrypoint.main([*args, "--output-path", str(out)], environ={}) == 0
    report: dict[str, Any] = json.loads((out / "drift_report.json").read_text())
    return report


def test_captured_test_rows_match_the_training_baseline(built: dict[str, Any], capture) -> None:
    baseline = load_baseline(built["root"] / "baseline")
    assert baseline.categorical["term"].categories == ("0", "1")
    assert baseline.thresholds() == built["config"].monitoring.drift
    source = _capture(built["root"] / "same", built["features"], capture)
    report = _drift(built, source, "same-out")
    assert report["violations"] == []
    assert not report["dataset"]["drifted"]


def test_a_shift_in_the_captured_encoded_rows_is_found(built: dict[str, Any], capture) -> None:
    shifted = built["features"].copy()
    rate = built["config"].model.numeric_features.index("int_rate")
    shifted.iloc[:, rate] = shifted.iloc[:, rate] * 1.3
    source = _capture(built["root"] / "shifted", shifted, capture)
    report = _drift(built, source, "shifted-out")
    assert report["dataset"]["drifted_feature_names"] == ["int_rate"]


def test_an_hour_without_captures_is_an_empty_window_not_a_failed_job(
    built: dict[str, Any], tmp_path: Path
) -> None:
    """The monitoring pipeline's drift step reads captures from S3 itself (sources.fetch); the
    scheduled run of an hour without traffic reports the window as not evaluated, and gives
    no drift value (the monitor-silent alarm counts those)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="capture")
        out = tmp_path / "idle"
        arguments = [
            "drift",
            "--dataset-source",
            "s3://capture/capture/credit-risk-prod/AllTraffic/",
            "--baseline",
            str(built["root"] / "baseline"),
            "--end-time",
            "2026-11-28T13:00:00Z",
            "--lookback-hours",
            "1",
            "--region",
            "us-east-1",
            "--output-path",
            str(out),
            "--publish-cloudwatch-metrics",
            "Enabled",
            "--metrics-dir",
            str(tmp_path / "metrics"),
        ]
        assert entrypoint.main(arguments, environ={}) == 0
    report = json.loads((out / "drift_report.json").read_text())
    assert report["window"]["rows"] == 0
    assert report["dataset"]["evaluated"] is False and report["dataset"]["drifted"] is False
    assert any("no rows" in m for m in report["messages"])
    lines = (tmp_path / "metrics" / METRICS_FILE).read_text().splitlines()
    names = {json.loads(line)["MetricName"] for line in lines}
    assert {"dataset_item_count", "constraint_violations"} <= names
    assert not names & {"dataset_drift_share", "dataset_drift", "dataset_drifted_features"}
