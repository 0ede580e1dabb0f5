"""Model-quality inputs: labels and scores normalised or refused by name, conflicting labels
reported, a metric that cannot be computed is a violation, and every run publishes the values
its alarms watch."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from finmlops.monitoring.cloudwatch import quality_metrics
from finmlops.monitoring.quality import (
    NOT_COMPUTABLE,
    compute_model_quality,
    read_jsonl,
)

RUN = datetime(2026, 11, 29, 11, tzinfo=UTC)


def _capture(capture: Any, n: int, score: Any, hour: int = 10) -> dict[str, Any]:
    record: dict[str, Any] = capture(
        [1.0], event_id=f"e{n}", time=f"2026-11-28T{hour:02d}:{n % 60:02d}:00Z"
    )
    record["captureData"]["endpointOutput"]["data"] = (
        score if isinstance(score, str) else json.dumps(score)
    )
    return record


def _truth(event_id: str, data: Any, encoding: str = "CSV") -> dict[str, Any]:
    return {
        "groundTruthData": {"data": data, "encoding": encoding},
        "eventMetadata": {"eventId": event_id},
        "eventVersion": "0",
    }


def _jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _metric(data: list[dict[str, Any]], name: str) -> float | None:
    return next((d["Value"] for d in data if d["MetricName"] == name), None)


@pytest.fixture
def scored(capture: Any) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    scores = rng.beta(2, 5, 120)
    labels = (rng.random(120) < scores).astype(int)
    return [_capture(capture, i, float(s)) for i, s in enumerate(scores)], scores, labels


@pytest.mark.parametrize(
    ("positive", "negative", "encoding"),
    [
        ("1", "0", "CSV"),
        ("1.0", "0.0", "CSV"),
        ("true", "false", "CSV"),
        ("TRUE", "False", "CSV"),
        ("1", "0", "JSON"),  # JSON numbers
        ("1.0", "0.0", "JSON"),
        ("true", "false", "JSON"),  # JSON booleans
        ("bad", "good", "CSV"),  # the configured class strings
    ],
)
def test_labels_in_any_spelling_of_the_two_classes_give_the_same_auc(
    scored: Any, positive: str, negative: str, encoding: str
) -> None:
    captures, scores, labels = scored
    truth = [_truth(f"e{i}", positive if y else negative, encoding) for i, y in enumerate(labels)]
    report = compute_model_quality(
        captures,
        truth,
        cutoff=0.3,
        positive_labels=("1", "bad"),
        negative_labels=("0", "good"),
        window=None,
    )
    assert report.bad_records["count"] == 0
    assert report.overall.labelled == 120
    assert report.overall.metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))


@pytest.mark.parametrize(
    ("value", "encoding", "shown"),
    [
        ("2", "CSV", "'2'"),
        ("yes", "CSV", "'yes'"),
        ("0.5", "CSV", "'0.5'"),
        ("good", "CSV", "'good'"),  # not configured as a class here: refused, not read as 0
        ("null", "JSON", "null"),
        ('{"y": 1}', "JSON", "is not a class value"),
    ],
)
def test_a_label_outside_the_classes_is_refused_by_file_line_and_value(
    scored: Any, tmp_path: Path, value: str, encoding: str, shown: str
) -> None:
    captures, _, labels = scored
    truth = [_truth(f"e{i}", str(y)) for i, y in enumerate(labels)]
    truth[6] = _truth("e6", value, encoding)
    report = compute_model_quality(
        captures,
        read_jsonl([_jsonl(tmp_path / "labels.jsonl", truth)], tmp_path),
        cutoff=0.3,
        window=None,
    )
    assert report.overall.labelled == 119  # the refused label is left out, the rest joined
    assert report.bad_records["labels"] == 1
    (sample,) = report.bad_records["sample"]
    assert (sample["file"], sample["line"]) == ("labels.jsonl", 7)
    assert shown in sample["reason"]


@pytest.mark.parametrize("score", ["nan", "NaN", "inf", "-Infinity", "high", True])
def test_a_non_finite_or_non_numeric_score_is_a_bad_record_and_auc_is_still_computed(
    scored: Any, capture: Any, tmp_path: Path, score: Any
) -> None:
    captures, scores, labels = scored
    captures = [*captures[:10], _capture(capture, 999, score), *captures[10:]]
    truth = [_truth(f"e{i}", str(y)) for i, y in enumerate(labels)] + [_truth("e999", "1")]
    report = compute_model_quality(
        read_jsonl([_jsonl(tmp_path / "c.jsonl", captures)], tmp_path),
        truth,
        cutoff=0.3,
        window=None,
    )
    auc = report.overall.metrics["auc"]
    assert auc is not None and math.isfinite(auc)
    assert auc == pytest.approx(roc_auc_score(labels, scores))
    assert report.bad_records["captures"] == 1
    (sample,) = report.bad_records["sample"]
    assert (sample["file"], sample["line"]) == ("c.jsonl", 11)
    assert "score" in sample["reason"]


def test_conflicting_labels_for_one_prediction_are_reported_and_left_out(
    scored: Any, tmp_path: Path
) -> None:
    captures, scores, labels = scored
    truth = [_truth(f"e{i}", str(y)) for i, y in enumerate(labels)]
    truth += [_truth("e3", str(1 - labels[3])), _truth("e4", str(labels[4]))]
    report = compute_model_quality(
        captures,
        read_jsonl([_jsonl(tmp_path / "t.jsonl", truth)], tmp_path),
        cutoff=0.3,
        window=None,
    )
    # e3 has two different labels: neither is used; e4 twice the same: counted once.
    assert report.ground_truth["conflicting"] == 1
    assert report.ground_truth["duplicates"] == 1
    assert report.overall.labelled == 119
    keep = np.arange(120) != 3
    assert report.overall.metrics["auc"] == pytest.approx(roc_auc_score(labels[keep], scores[keep]))
    (conflict,) = report.conflicts
    assert conflict == {"id": "e3", "labels": [0, 1], "where": ["t.jsonl:4", "t.jsonl:121"]}
    assert any("conflicting labels" in m and "e3" in m for m in report.messages)
    assert report.to_dict()["conflicting_labels"] == [conflict]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2]", "the record is a JSON list, not an object"),
        (b'{"eventMetadata": [1], "captureData": {}}', "eventMetadata is a JSON list"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"eventMetadata": {"eventId": "\xff"}}', "not UTF-8"),
    ],
)
def test_malformed_quality_lines_are_counted_not_raised(
    scored: Any, tmp_path: Path, line: bytes, reason: str
) -> None:
    captures, _, labels = scored
    path = _jsonl(tmp_path / "c.jsonl", captures)
    path.write_bytes(path.read_bytes() + line + b"\n")
    truth = _jsonl(tmp_path / "t.jsonl", [_truth(f"e{i}", str(y)) for i, y in enumerate(labels)])
    truth.write_bytes(truth.read_bytes() + line + b"\n")
    report = compute_model_quality(
        read_jsonl([path], tmp_path), read_jsonl([truth], tmp_path), cutoff=0.3, window=None
    )
    assert report.overall.labelled == 120
    assert (report.bad_records["captures"], report.bad_records["labels"]) == (1, 1)
    assert [(s["file"], s["line"]) for s in report.bad_records["sample"]] == [
        ("t.jsonl", 121),
        ("c.jsonl", 121),
    ]
    assert all(reason in s["reason"] for s in report.bad_records["sample"])


def test_an_empty_labels_file_is_one_named_bad_record(scored: Any, tmp_path: Path) -> None:
    captures, _, labels = scored
    truth = _jsonl(tmp_path / "t.jsonl", [_truth(f"e{i}", str(y)) for i, y in enumerate(labels)])
    (tmp_path / "empty.jsonl").write_bytes(b"")
    report = compute_model_quality(
        captures,
        read_jsonl([tmp_path / "empty.jsonl", truth], tmp_path),
        cutoff=0.3,
        window=None,
    )
    assert report.overall.labelled == 120
    assert report.bad_records["sample"] == [
        {"file": "empty.jsonl", "line": 0, "reason": "empty file (0 bytes)"}
    ]


def test_too_many_bad_records_are_a_violation_published_with_the_run(
    scored: Any, tmp_path: Path
) -> None:
    captures, _, labels = scored
    truth = [_truth(f"e{i}", "maybe" if i < 10 else str(y)) for i, y in enumerate(labels)]
    report = compute_model_quality(captures, truth, cutoff=0.3, window=None)
    assert report.bad_records["exceeded"]  # 10 of 240 records > 1 %
    assert ("bad_record_share", "GreaterThanThreshold") in {
        (v["metric_name"], v["constraint_check_type"]) for v in report.violations
    }
    data = quality_metrics(report, timestamp=RUN)
    assert _metric(data, "bad_record_share") == pytest.approx(10 / 240)
    assert _metric(data, "quality_violations") == len(report.violations)


def test_a_due_window_without_a_computable_auc_is_a_violation_not_a_silent_none(
    capture: Any,
) -> None:
    # Hour 10 is due (labels arrive within a day); its labels are all of one class.
    captures = [_capture(capture, i, 0.1 * (i % 9)) for i in range(60)]
    truth = [_truth(f"e{i}", "0") for i in range(60)]
    report = compute_model_quality(
        captures,
        truth,
        cutoff=0.3,
        min_auc=0.6,
        labels_due_before=datetime(2026, 11, 28, 11, tzinfo=UTC),
    )
    (window,) = report.windows
    assert window.metrics["auc"] is None
    assert (
        window.due and window.not_computable == "labels of one class only (60 labelled, 0 positive)"
    )
    (violation,) = report.violations
    assert violation["constraint_check_type"] == NOT_COMPUTABLE
    assert "2026-11-28T10:00:00+00:00" in violation["description"]
    data = quality_metrics(report, timestamp=RUN)
    assert _metric(data, "quality_not_computable") == 1
    assert _metric(data, "quality_violations") == 1
    assert _metric(data, "auc") is None


def test_a_window_whose_labels_are_not_due_yet_is_not_a_violation(capture: Any) -> None:
    captures = [_capture(capture, i, 0.5, hour=10) for i in range(30)]
    report = compute_model_quality(
        captures,
        [],
        cutoff=0.3,
        min_auc=0.6,
        labels_due_before=datetime(2026, 11, 28, 10, 30, tzinfo=UTC),
    )
    assert report.violations == ()
    assert not report.windows[0].due
    assert _metric(quality_metrics(report, timestamp=RUN), "quality_violations") == 0


def test_an_idle_run_publishes_zeros_for_every_value_its_alarms_watch() -> None:
    report = compute_model_quality([], [], cutoff=0.3, min_auc=0.6, end=RUN)
    data = quality_metrics(report)
    for name in ("quality_violations", "quality_not_computable", "bad_record_share"):
        assert _metric(data, name) == 0, name
    # Stamped with the run (its end), where the alarms' evaluation range looks.
    assert {d["Timestamp"] for d in data} == {RUN}


def test_labels_that_are_both_positive_and_negative_are_refused() -> None:
    with pytest.raises(ValueError, match=r"both positive and negative"):
        compute_model_quality([], [], cutoff=0.3, positive_labels=("1",), negative_labels=("1",))
