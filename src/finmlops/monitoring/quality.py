"""Model quality with delayed labels: captured predictions joined with ground truth arriving later.

A ground-truth eventId matches a capture's inferenceId, or its eventId when the request had none.
Memory holds the labels and the scores of labelled predictions; captures stream through.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from finmlops.monitoring import formats
from finmlops.monitoring.readers import decode_payload, parse_time

QUALITY_REPORT_SCHEMA = "finmlops/model-quality-report/v1"
QUALITY_JSON = "model_quality.json"
CALIBRATION_BINS = 10
_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class WindowQuality:
    start: datetime | None  # None: predictions without an inference time
    end: datetime | None
    captured: int
    labelled: int
    positives: int
    metrics: Mapping[str, float | None]
    confusion_matrix: Mapping[str, int]
    calibration: tuple[Mapping[str, float], ...]
    notes: tuple[str, ...] = ()

    @property
    def label_coverage(self) -> float:
        return self.labelled / self.captured if self.captured else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "captured": self.captured,
            "labelled": self.labelled,
            "label_coverage": self.label_coverage,
            "positives": self.positives,
            "metrics": dict(self.metrics),
            "confusion_matrix": dict(self.confusion_matrix),
            "calibration": [dict(c) for c in self.calibration],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class QualityReport:
    cutoff: float
    positive_labels: tuple[str, ...]
    window_seconds: int | None
    windows: tuple[WindowQuality, ...]
    overall: WindowQuality
    ground_truth: Mapping[str, int]
    min_auc: float | None = None
    violations: tuple[Mapping[str, str], ...] = ()
    messages: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": QUALITY_REPORT_SCHEMA,
            "cutoff": self.cutoff,
            "cutoff_rule": "score >= cutoff is positive",
            "positive_labels": list(self.positive_labels),
            "window_seconds": self.window_seconds,
            "min_auc": self.min_auc,
            "overall": self.overall.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "ground_truth": dict(self.ground_truth),
            "violations": [dict(v) for v in self.violations],
            "messages": list(self.messages),
        }

    def to_json(self) -> str:
        return formats.canonical_json(self.to_dict())


def parse_window(value: str | int | timedelta | None) -> int | None:
    """Window length in seconds from "1h", "15min", "1d", 3600 or a timedelta; None = one window."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
    elif isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(number) :] or "s"
        if unit not in _UNITS or not number:
            raise ValueError(f"window {value!r}: use a number and one of {sorted(_UNITS)}")
        seconds = int(float(number) * _UNITS[unit])
    if seconds <= 0:
        raise ValueError(f"window must be positive, got {value!r}")
    return seconds


def read_jsonl(paths: Iterable[Path]) -> Iterator[Mapping[str, Any]]:
    """Records of JSON-lines files; an unreadable line is yielded as {"__malformed__": reason}."""
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    yield {"__malformed__": f"{path.name}:{number}: {exc}"}
                    continue
                yield (
                    record
                    if isinstance(record, Mapping)
                    else {"__malformed__": f"{path.name}:{number}"}
                )


def _scores(payload: Mapping[str, Any]) -> list[float]:
    scores: list[float] = []
    for row in decode_payload(payload):
        if isinstance(row, Mapping):
            value = row.get("score", row.get("probability", row.get("predicted_label")))
            scores.append(float(value))
        else:
            scores.extend(float(v) for v in row)
    return scores


def _labels(record: Mapping[str, Any]) -> list[str]:
    data = record["groundTruthData"]
    return [
        str(v).strip()
        for row in decode_payload(data)
        for v in (row if isinstance(row, list) else [row])
    ]


@dataclass
class _Join:
    labels: dict[str, int] = field(default_factory=dict)
    truth: Counter[str] = field(default_factory=Counter)
    captured: Counter[int | None] = field(default_factory=Counter)
    joined: dict[int | None, list[tuple[float, int]]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < 10:
            self.notes.append(text)


def _read_labels(
    join: _Join, ground_truth: Iterable[Mapping[str, Any]], positives: set[str]
) -> None:
    for record in ground_truth:
        try:
            event_id = str(record["eventMetadata"]["eventId"])
            values = _labels(record)
        except (KeyError, TypeError, ValueError) as exc:
            join.truth["malformed"] += 1
            join.note(f"unreadable ground-truth record: {record.get('__malformed__', exc)}")
            continue
        for i, value in enumerate(values):
            key = event_id if len(values) == 1 else f"{event_id}:{i}"
            join.truth["duplicates"] += key in join.labels
            join.labels[key] = int(value in positives)
    join.truth["labels"] = len(join.labels)


def _bucket(when: datetime | None, seconds: int | None) -> int | None:
    if when is None:
        return None
    return 0 if seconds is None else int(when.timestamp()) // seconds


def _join_captures(
    join: _Join,
    captures: Iterable[Mapping[str, Any]],
    seconds: int | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    for record in captures:
        try:
            meta = record["eventMetadata"]
            when = parse_time(meta.get("inferenceTime"))
            scores = _scores(record["captureData"]["endpointOutput"])
        except (KeyError, TypeError, ValueError) as exc:
            join.skipped["malformed"] += 1
            join.note(f"unreadable capture record: {record.get('__malformed__', exc)}")
            continue
        if when is not None and ((start and when < start) or (end and when >= end)):
            join.skipped["outside_window"] += 1
            continue
        bucket = _bucket(when, seconds)
        ids = [str(i) for i in (meta.get("inferenceId"), meta.get("eventId")) if i]
        for i, score in enumerate(scores):
            join.captured[bucket] += 1
            suffix = "" if len(scores) == 1 else f":{i}"
            key = next((k + suffix for k in ids if k + suffix in join.labels), None)
            if key is not None:
                join.used.add(key)
                join.joined.setdefault(bucket, []).append((score, join.labels[key]))


def _auc_violations(
    windows: Sequence[WindowQuality], min_auc: float | None
) -> list[dict[str, str]]:
    violations = []
    for item in windows:
        auc = item.metrics.get("auc")
        if min_auc is not None and auc is not None and auc < min_auc:
            where = item.start.isoformat() if item.start else "all windows"
            violations.append(
                {
                    "metric_name": "auc",
                    "constraint_check_type": "LessThanThreshold",
                    "description": f"AUC {auc:.4f} < {min_auc} in window {where} "
                    f"({item.labelled} labelled predictions)",
                }
            )
    return violations


def compute_model_quality(
    captures: Iterable[Mapping[str, Any]],
    ground_truth: Iterable[Mapping[str, Any]],
    cutoff: float,
    *,
    positive_labels: Sequence[str] = ("1",),
    window: str | int | timedelta | None = "1h",
    start: datetime | None = None,
    end: datetime | None = None,
    min_auc: float | None = None,
) -> QualityReport:
    """Join predictions with the labels known so far and compute quality per window.

    Records with several rows (batch requests) pair scores and labels by position under keys
    "<id>:<i>". Unreadable records are counted and reported, never raised.
    """
    positives = {str(p) for p in positive_labels}
    seconds = parse_window(window)
    join = _Join()
    _read_labels(join, ground_truth, positives)
    _join_captures(join, captures, seconds, start, end)
    join.truth["unmatched"] = len(join.labels) - len(join.used)
    windows = []
    for bucket in sorted(join.captured, key=lambda b: (b is None, b or 0)):
        begin: datetime | None = None
        finish: datetime | None = None
        if bucket is not None and seconds is None:
            begin, finish = start, end
        elif bucket is not None and seconds is not None:
            begin = datetime.fromtimestamp(bucket * seconds, UTC)
            finish = begin + timedelta(seconds=seconds)
        pairs = join.joined.get(bucket, [])
        windows.append(_window(begin, finish, join.captured[bucket], pairs, cutoff))
    everything = [pair for pairs in join.joined.values() for pair in pairs]
    overall = _window(start, end, sum(join.captured.values()), everything, cutoff)
    messages = list(join.notes)
    if join.skipped["malformed"]:
        messages.append(f"{join.skipped['malformed']} capture record(s) could not be read")
    if join.truth["unmatched"]:
        messages.append(f"{join.truth['unmatched']} label(s) match no captured prediction")
    return QualityReport(
        cutoff=cutoff,
        positive_labels=tuple(sorted(positives)),
        window_seconds=seconds,
        windows=tuple(windows),
        overall=overall,
        ground_truth=dict(join.truth) | {"captures_skipped": sum(join.skipped.values())},
        min_auc=min_auc,
        violations=tuple(_auc_violations([*windows, overall], min_auc)),
        messages=tuple(messages),
    )


def auc_score(y: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> float:
    """ROC AUC as the Mann-Whitney statistic with average ranks for ties."""
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    from scipy import stats  # imported when used: it takes most of a second

    ranks = stats.rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _window(
    begin: datetime | None,
    finish: datetime | None,
    captured: int,
    pairs: Sequence[tuple[float, int]],
    cutoff: float,
) -> WindowQuality:
    y = np.array([p[1] for p in pairs], dtype=np.int64)
    score = np.array([p[0] for p in pairs], dtype=np.float64)
    n = y.size
    pos = int(y.sum())
    notes: list[str] = []
    predicted = score >= cutoff
    tp = int(np.count_nonzero(predicted & (y == 1)))
    fp = int(np.count_nonzero(predicted & (y == 0)))
    fn = pos - tp
    tn = n - pos - fp
    metrics: dict[str, float | None] = {
        "auc": None,
        "gini": None,
        "ks": None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / pos if pos else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "accuracy": (tp + tn) / n if n else None,
        "false_positive_rate": fp / (n - pos) if n - pos else None,
        "brier_score": float(np.mean((score - y) ** 2)) if n else None,
        "positive_rate": pos / n if n else None,
        "mean_score": float(np.mean(score)) if n else None,
        "expected_calibration_error": None,
    }
    if n and 0 < pos < n:
        auc = auc_score(y, score)
        metrics["auc"] = auc
        metrics["gini"] = 2 * auc - 1
        from scipy import stats

        metrics["ks"] = float(stats.ks_2samp(score[y == 1], score[y == 0]).statistic)
    elif n:
        notes.append("labels of one class only: AUC and KS are undefined")
    else:
        notes.append("no labelled predictions yet")
    calibration = []
    if n:
        index = np.minimum((score * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
        index = np.clip(index, 0, CALIBRATION_BINS - 1)
        ece = 0.0
        for b in range(CALIBRATION_BINS):
            mask = index == b
            count = int(mask.sum())
            if not count:
                continue
            mean_predicted = float(score[mask].mean())
            observed = float(y[mask].mean())
            ece += count / n * abs(mean_predicted - observed)
            calibration.append(
                {
                    "lower": b / CALIBRATION_BINS,
                    "upper": (b + 1) / CALIBRATION_BINS,
                    "count": count,
                    "mean_predicted": mean_predicted,
                    "observed_rate": observed,
                }
            )
        metrics["expected_calibration_error"] = ece
    return WindowQuality(
        start=begin,
        end=finish,
        captured=captured,
        labelled=n,
        positives=pos,
        metrics={k: (None if v is None or math.isnan(v) else float(v)) for k, v in metrics.items()},
        confusion_matrix={"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        calibration=tuple(calibration),
        notes=tuple(notes),
    )


def _mm(value: float | None) -> dict[str, Any]:
    return {"value": value, "standard_deviation": None}


def model_monitor_statistics(report: QualityReport) -> dict[str, Any]:
    """Model Monitor's model-quality statistics.json (binary classification) of the overall window."""
    window = report.overall
    m = window.metrics
    cm = window.confusion_matrix
    return {
        "version": 0,
        "dataset": {
            "item_count": window.labelled,
            "evaluation_time": window.end.isoformat() if window.end else None,
        },
        "binary_classification_metrics": {
            "confusion_matrix": {
                "0": {"0": cm["tn"], "1": cm["fp"]},
                "1": {"0": cm["fn"], "1": cm["tp"]},
            },
            "recall": _mm(m["recall"]),
            "precision": _mm(m["precision"]),
            "accuracy": _mm(m["accuracy"]),
            "f1": _mm(m["f1"]),
            "auc": _mm(m["auc"]),
            "false_positive_rate": _mm(m["false_positive_rate"]),
            "true_positive_rate": _mm(m["recall"]),
        },
    }


def write_quality_outputs(report: QualityReport, out_dir: str | Path) -> dict[str, Path]:
    """model_quality.json, Model Monitor statistics.json and constraint_violations.json."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / QUALITY_JSON
    path.write_text(report.to_json(), encoding="utf-8")
    return {
        QUALITY_JSON: path,
        formats.STATISTICS_FILE: formats.write_json(
            root / formats.STATISTICS_FILE, model_monitor_statistics(report)
        ),
        formats.VIOLATIONS_FILE: formats.write_json(
            root / formats.VIOLATIONS_FILE, {"violations": list(report.violations)}
        ),
    }
