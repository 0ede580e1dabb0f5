"""Model quality with delayed labels: join, coverage, metrics against scikit-learn, windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from finmlops.monitoring.cloudwatch import (
    QUALITY_NAMESPACE,
    dimensions,
    put_metrics,
    quality_metrics,
)
from finmlops.monitoring.quality import (
    compute_model_quality,
    parse_window,
    read_jsonl,
    write_quality_outputs,
)

HOURS = 3
PER_HOUR = 400


def _truth(event_id: str, label: int) -> dict[str, Any]:
    return {
        "groundTruthData": {"data": str(label), "encoding": "CSV"},
        "eventMetadata": {"eventId": event_id},
        "eventVersion": "0",
    }


@pytest.fixture(scope="module")
def traffic(capture) -> dict[str, Any]:
    """3 hours of scored requests; labels so far: all of hour 1, half of hour 2, none of hour 3."""
    rng = np.random.default_rng(9)
    captures, truth = [], []
    scores, labels, hours = [], [], []
    for hour in range(HOURS):
        for i in range(PER_HOUR):
            score = float(rng.beta(2, 5))
            label = int(rng.random() < score)
            n = hour * PER_HOUR + i
            # Half the requests carry an inference id (the join key then), half only an event id.
            inference_id = f"inf-{n}" if n % 2 else None
            captures.append(
                capture(
                    [1.0, 2.0],
                    event_id=f"evt-{n}",
                    inference_id=inference_id,
                    time=f"2026-11-28T{10 + hour:02d}:{i % 60:02d}:{i % 59:02d}Z",
                    score=score,
                )
            )
            if hour == 0 or (hour == 1 and i % 2 == 0):
                truth.append(_truth(inference_id or f"evt-{n}", label))
                scores.append(score)
                labels.append(label)
                hours.append(hour)
    truth.append(_truth("never-captured", 1))
    return {
        "captures": captures,
        "truth": truth,
        "scores": np.array(scores),
        "labels": np.array(labels),
        "hours": np.array(hours),
    }


def test_labels_join_captures_by_inference_id_and_report_coverage_per_window(
    traffic: dict[str, Any],
) -> None:
    report = compute_model_quality(traffic["captures"], traffic["truth"], cutoff=0.3)
    assert [w.start for w in report.windows] == [
        datetime(2026, 11, 28, 10 + h, tzinfo=UTC) for h in range(HOURS)
    ]
    assert [w.captured for w in report.windows] == [PER_HOUR] * HOURS
    assert [w.label_coverage for w in report.windows] == [1.0, 0.5, 0.0]
    assert report.overall.labelled == PER_HOUR + PER_HOUR // 2
    assert report.ground_truth["unmatched"] == 1
    assert report.windows[2].metrics["auc"] is None
    assert "no labelled predictions yet" in report.windows[2].notes


def test_auc_ks_precision_and_recall_equal_scikit_learn(traffic: dict[str, Any]) -> None:
    report = compute_model_quality(traffic["captures"], traffic["truth"], cutoff=0.3)
    y, s = traffic["labels"], traffic["scores"]
    metrics = report.overall.metrics
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics["precision"] == pytest.approx(precision_score(y, s >= 0.3))
    assert metrics["recall"] == pytest.approx(recall_score(y, s >= 0.3))
    tpr_minus_fpr = [np.mean(s[y == 1] >= t) - np.mean(s[y == 0] >= t) for t in np.unique(s)]
    assert metrics["ks"] == pytest.approx(max(tpr_minus_fpr), abs=1e-12)
    first = report.windows[0].metrics
    in_first = traffic["hours"] == 0
    assert first["auc"] == pytest.approx(roc_auc_score(y[in_first], s[in_first]), abs=1e-12)
    assert metrics["brier_score"] == pytest.approx(np.mean((s - y) ** 2))
    bins = report.overall.calibration
    assert sum(b["count"] for b in bins) == report.overall.labelled
    assert 0 <= metrics["expected_calibration_error"] <= 1


def test_auc_below_the_minimum_is_a_violation(traffic: dict[str, Any]) -> None:
    flipped = [
        _truth(t["eventMetadata"]["eventId"], 1 - int(t["groundTruthData"]["data"]))
        for t in traffic["truth"]
    ]
    report = compute_model_quality(traffic["captures"], flipped, cutoff=0.3, min_auc=0.6)
    assert report.overall.metrics["auc"] < 0.5
    kinds = {(v["metric_name"], v["constraint_check_type"]) for v in report.violations}
    # Hour 3 has no labels: with no label delay given every window is due, so it is reported too.
    assert kinds == {("auc", "LessThanThreshold"), ("auc", "NotComputable")}
    late = compute_model_quality(
        traffic["captures"],
        flipped,
        cutoff=0.3,
        min_auc=0.6,
        labels_due_before=datetime(2026, 11, 28, 11, tzinfo=UTC),
    )
    assert all(v["constraint_check_type"] == "LessThanThreshold" for v in late.violations)


def test_labels_of_one_class_leave_auc_undefined_and_say_so(traffic: dict[str, Any]) -> None:
    ones = [_truth(t["eventMetadata"]["eventId"], 1) for t in traffic["truth"]]
    report = compute_model_quality(traffic["captures"], ones, cutoff=0.3)
    assert report.overall.metrics["auc"] is None
    assert "one class only" in report.overall.notes[0]
    assert report.overall.metrics["recall"] is not None


def test_unreadable_records_are_counted_not_raised(traffic: dict[str, Any], tmp_path: Path) -> None:
    captures = tmp_path / "captures.jsonl"
    captures.write_text(
        "".join(json.dumps(c) + "\n" for c in traffic["captures"][:50]) + "{broken\n"
    )
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        "".join(json.dumps(t) + "\n" for t in traffic["truth"][:50]) + '{"eventMetadata": {}}\n'
    )
    report = compute_model_quality(
        read_jsonl([captures]), read_jsonl([truth]), cutoff=0.3, window=None
    )
    assert report.ground_truth["malformed"] == 1
    assert report.ground_truth["captures_skipped"] == 1
    assert report.overall.labelled == 50
    assert any("could not be read" in m for m in report.messages)


def test_quality_outputs_and_metrics(traffic: dict[str, Any], tmp_path: Path) -> None:
    report = compute_model_quality(traffic["captures"], traffic["truth"], cutoff=0.3)
    written = write_quality_outputs(report, tmp_path)
    statistics = json.loads(written["statistics.json"].read_text())
    binary = statistics["binary_classification_metrics"]
    assert binary["auc"]["value"] == pytest.approx(report.overall.metrics["auc"])
    assert written["model_quality.json"].read_text() == report.to_json()
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        data = quality_metrics(report, dims=dimensions(model="credit-risk"))
        put_metrics(client, data, namespace=QUALITY_NAMESPACE)
        names = {
            m["MetricName"] for m in client.list_metrics(Namespace=QUALITY_NAMESPACE)["Metrics"]
        }
        assert {"auc", "ks", "precision", "recall", "label_coverage"} <= names


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("15min", 900), ("1d", 86400), ("90", 90), (None, None)]
)
def test_window_lengths_parse(text: str | None, seconds: int | None) -> None:
    assert parse_window(text) == seconds


def test_a_bad_window_length_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window("1 fortnight")
