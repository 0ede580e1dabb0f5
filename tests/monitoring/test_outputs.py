"""Outputs: Model Monitor files, the HTML report and CloudWatch metrics (file and PutMetricData)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from finmlops.monitoring.baseline import Baseline
from finmlops.monitoring.cloudwatch import (
    DATA_NAMESPACE,
    METRICS_FILE,
    dimensions,
    drift_metrics,
    put_drift_metrics,
    put_metrics,
    write_metrics_file,
)
from finmlops.monitoring.drift import DriftReport, run_drift
from finmlops.monitoring.report import render_html, write_outputs

WHEN = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def drifted(baseline: Baseline, table) -> DriftReport:
    current = table(8_000, 81)
    current["rate"] += 1.2
    current["term"] = np.random.default_rng(5).choice(("36m", "60m", "84m"), len(current))
    current = current.assign(branch="north")
    return run_drift(baseline, current, window_start="2026-11-28T10:00:00Z", window_end=WHEN)


def test_outputs_are_model_monitor_files_and_a_deterministic_report(
    drifted: DriftReport, tmp_path: Path
) -> None:
    written = write_outputs(drifted, tmp_path / "a")
    again = write_outputs(drifted, tmp_path / "b")
    assert sorted(p.name for p in written.values()) == [
        "constraint_violations.json",
        "drift_report.html",
        "drift_report.json",
        "statistics.json",
    ]
    for name, path in written.items():
        assert path.read_bytes() == again[name].read_bytes()
    violations = json.loads(written["constraint_violations.json"].read_text())["violations"]
    assert all(
        set(v) == {"feature_name", "constraint_check_type", "description"} for v in violations
    )
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert ("branch", "extra_column_check") in kinds
    assert ("rate", "baseline_drift_check") in kinds
    assert ("term", "categorical_values_check") in kinds
    statistics = json.loads(written["statistics.json"].read_text())
    assert statistics["dataset"]["item_count"] == 8_000
    rate = next(f for f in statistics["features"] if f["name"] == "rate")
    assert rate["numerical_statistics"]["common"]["num_present"] == 8_000
    report = json.loads(written["drift_report.json"].read_text())
    assert report["schema"] == "finmlops/drift-report/v1"
    assert report["dataset"]["comparison"] == ">="
    assert report["window"] == {
        "start": "2026-11-28T10:00:00Z",
        "end": "2026-11-28T11:00:00+00:00",
        "rows": 8_000,
        "records": 8_000,
        "shards": None,
        "bad_records": {
            "count": 0,
            "share": 0.0,
            "threshold": 0.01,
            "exceeded": False,
            "sample": [],
        },
    }


def test_html_report_is_self_contained_with_the_summary_first(drifted: DriftReport) -> None:
    page = render_html(drifted)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|@import|https?://", page)
    # Only references to the page's own fragments (the charts' clip paths and markers).
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    assert page.index("DATASET DRIFT") < page.index("<h2>Overview</h2>")
    assert page.index("<h2>Overview</h2>") < page.index("<h2>Features</h2>")
    assert page.index("<h2>Features</h2>") < page.index("<h2>Per feature</h2>")
    # The overview, then one distribution per feature; no trend without earlier windows.
    assert page.count("<svg") == 1 + len(drifted.features)
    assert "Trend over" not in page
    assert "share 0.333 &gt;= threshold 0.300 is true" in page


def test_html_escapes_feature_names_and_values(baseline: Baseline, table) -> None:
    current = table(1_000, 82)
    current["grade"] = "<b>&"
    page = render_html(run_drift(baseline, current))
    assert "<b>&" not in page
    assert "&lt;b&gt;&amp;" in page


def test_metrics_file_has_put_metric_data_lines(drifted: DriftReport, tmp_path: Path) -> None:
    dims = dimensions(endpoint="credit-risk-prod", schedule="credit-risk-drift")
    data = drift_metrics(drifted, timestamp=WHEN, dims=dims)
    path = write_metrics_file(data, tmp_path / "metrics" / "cloudwatch")
    assert path.name == METRICS_FILE
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    names = {line["MetricName"] for line in lines}
    assert {
        "feature_baseline_drift_rate",
        "feature_non_null_rate",
        "feature_data_rate",
        "feature_drift_rate",
        "dataset_drift_share",
        "dataset_drift",
    } <= names
    for line in lines:
        assert line["Timestamp"] == "2026-11-28T11:00:00Z"
        assert line["Dimensions"] == [
            {"Name": "Endpoint", "Value": "credit-risk-prod"},
            {"Name": "MonitoringSchedule", "Value": "credit-risk-drift"},
        ]
        assert ("Value" in line) != ("StatisticValues" in line)
    share = next(line for line in lines if line["MetricName"] == "dataset_drift_share")
    assert share["Value"] == pytest.approx(drifted.drift_share)


def test_put_metric_data_publishes_the_drift_metrics(drifted: DriftReport) -> None:
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        dims = dimensions(model="credit-risk")
        data = drift_metrics(drifted, timestamp=datetime.now(UTC), dims=dims)
        sent = put_metrics(client, data, batch=7)
        assert sent == len(data)
        assert put_drift_metrics(client, drifted, timestamp=WHEN, dims=dims) == len(data)
        listed = client.list_metrics(Namespace=DATA_NAMESPACE)["Metrics"]
        assert {m["MetricName"] for m in listed} == {d["MetricName"] for d in data}
        stats = client.get_metric_statistics(
            Namespace=DATA_NAMESPACE,
            MetricName="dataset_drift_share",
            Dimensions=[{"Name": "Model", "Value": "credit-risk"}],
            StartTime=datetime(2020, 1, 1, tzinfo=UTC),
            EndTime=datetime(2100, 1, 1, tzinfo=UTC),
            Period=60,
            Statistics=["Maximum"],
        )
        assert stats["Datapoints"][0]["Maximum"] == pytest.approx(drifted.drift_share)
