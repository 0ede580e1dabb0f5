"""Model quality with delayed labels: captured predictions joined with ground truth arriving later.

A ground-truth eventId matches a capture's inferenceId, or its eventId when the request had none.
Memory holds the labels and the scores of labelled predictions; captures stream through.

Inputs are checked, never trusted: a label is 1, 0, 1.0, "1", true/false or one of the
configured class strings, anything else is refused by name; a score is a finite number. A
record that fails is counted, sampled (file, line, reason) and skipped; two different labels for
one prediction are a conflict, reported and left out of the join. A window whose labels are due
but whose AUC cannot be computed (no labels, one class) is a violation, not a silent `None`.

Two rules judge a window's AUC: an absolute floor (`monitoring.min_auc`), and a drop against the
deployed version's validated AUC (the test-set figure its approval and promotion gates read)
that exceeds `monitoring.max_auc_drop` beyond sampling noise: the one-sided lower confidence
bound of the drop, from DeLong's standard error of the window's AUC, is above the tolerance.
A floor alone misses a good model that got measurably worse while staying above it.
"""

from __future__ import annotations

import binascii
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
from finmlops.monitoring.readers import (
    MAX_BAD_SAMPLES,
    BadRecord,
    BadRecordError,
    add_samples,
    decode_payload,
    event_time,
    json_lines,
    json_object,
    load_line,
    payload_rows,
)
from finmlops.steps.evaluate import expected_calibration_error

QUALITY_REPORT_SCHEMA = "finmlops/model-quality-report/v1"
QUALITY_JSON = "model_quality.json"
CALIBRATION_BINS = 10
NOT_COMPUTABLE = "NotComputable"  # constraint_check_type of a metric that could not be computed
# Keys read_jsonl adds to each record: where it was read (file, line), or why it is unusable.
FILE_KEY, LINE_KEY, MALFORMED_KEY = "__file__", "__line__", "__malformed__"
_TRUE_WORDS, _FALSE_WORDS = frozenset({"true"}), frozenset({"false"})
_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class AucDropRule:
    """A window's AUC against the deployed version's validated AUC.

    A violation when the drop's one-sided lower confidence bound, `validated - auc -
    z(confidence) * se(auc)`, exceeds `max_drop`: the window's AUC is lower than validated by
    more than the tolerance, and not by the chance of a small window. The validated figure is
    taken as fixed: it is the one the version was approved on.
    """

    validated_auc: float
    max_drop: float
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not 0.5 <= self.validated_auc <= 1.0:
            raise ValueError(f"validated AUC {self.validated_auc} is not in [0.5, 1]")
        if not 0.0 <= self.max_drop < 0.5:
            raise ValueError(f"max AUC drop {self.max_drop} is not in [0, 0.5)")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"AUC drop confidence {self.confidence} is not in [0.5, 1)")

    def lower_bound(self, auc: float, standard_error: float) -> float:
        """The drop's one-sided lower confidence bound."""
        from scipy import stats

        z = float(stats.norm.ppf(self.confidence))
        return self.validated_auc - auc - z * standard_error

    def to_dict(self) -> dict[str, float]:
        return {
            "validated_auc": self.validated_auc,
            "max_drop": self.max_drop,
            "confidence": self.confidence,
        }


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
    due: bool = True  # the window's labels are due by now (its end is past the label delay)
    not_computable: str | None = None  # why AUC could not be computed, when it could not

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
            "labels_due": self.due,
            "not_computable": self.not_computable,
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
    auc_drop: AucDropRule | None = None
    violations: tuple[Mapping[str, str], ...] = ()
    messages: tuple[str, ...] = field(default_factory=tuple)
    bad_records: Mapping[str, Any] = field(default_factory=dict)
    conflicts: tuple[Mapping[str, Any], ...] = ()  # a bounded sample of conflicting labels
    evaluated_at: datetime | None = None  # the run's end: what run-level metrics are stamped with

    @property
    def not_computable(self) -> int:
        """Windows whose labels are due but whose AUC could not be computed."""
        return sum(1 for w in self.windows if w.due and w.not_computable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": QUALITY_REPORT_SCHEMA,
            "cutoff": self.cutoff,
            "cutoff_rule": "score >= cutoff is positive",
            "positive_labels": list(self.positive_labels),
            "window_seconds": self.window_seconds,
            "min_auc": self.min_auc,
            "auc_drop_rule": self.auc_drop.to_dict() if self.auc_drop else None,
            "overall": self.overall.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "ground_truth": dict(self.ground_truth),
            "violations": [dict(v) for v in self.violations],
            "messages": list(self.messages),
            "bad_records": dict(self.bad_records),
            "conflicting_labels": [dict(c) for c in self.conflicts],
            "not_computable_windows": self.not_computable,
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


def read_jsonl(paths: Iterable[Path], root: Path | None = None) -> Iterator[Mapping[str, Any]]:
    """Records of JSON-lines files, each with its file and line (FILE_KEY, LINE_KEY); a line that
    is not a JSON object (not UTF-8, not JSON, too deeply nested, a list) is yielded as
    {MALFORMED_KEY: reason} with its place, for the caller to count. An empty file is one such
    record (line 0)."""
    from finmlops.monitoring.readers import file_label

    for path in paths:
        name = file_label(path, root)
        if not path.stat().st_size:
            yield {MALFORMED_KEY: "empty file (0 bytes)", FILE_KEY: name, LINE_KEY: 0}
            continue
        for _, number, line in json_lines([path]):
            place = {FILE_KEY: name, LINE_KEY: number}
            try:
                record = json_object(load_line(line), "the record")
            except BadRecordError as exc:
                yield {MALFORMED_KEY: str(exc), **place}
                continue
            yield {**record, **place}


def _where(record: Mapping[str, Any], ordinal: int) -> tuple[str, int]:
    """The file and line of a record from read_jsonl; records given in memory are numbered."""
    file = record.get(FILE_KEY)
    line = record.get(LINE_KEY)
    if isinstance(file, str) and isinstance(line, int):
        return file, line
    return "(input)", ordinal


def normalise_label(value: Any, positives: set[str], negatives: set[str]) -> int:
    """1 or 0 from a ground-truth value; BadRecordError naming the value otherwise.

    Accepted: booleans; the numbers 1 and 0 in any spelling (1, 1.0, "1", "1.0", "0"); the
    words true and false (any case); the configured class strings (`positives`, `negatives`).
    Anything else is refused: a label silently read as 0 would lower the AUC with no trace.
    """
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip() if isinstance(value, str | int | float) else None
    if text is None:
        raise BadRecordError(f"label {json.dumps(value)[:60]} is not a class value")
    if text in positives:
        return 1
    if text in negatives:
        return 0
    if text.lower() in _TRUE_WORDS:
        return 1
    if text.lower() in _FALSE_WORDS:
        return 0
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0):
        return int(number)
    raise BadRecordError(
        f"label {text[:60]!r} is not 1/0, true/false or one of {sorted(positives | negatives)}"
    )


def normalise_score(value: Any) -> float:
    """A finite number from a captured score; BadRecordError naming the value otherwise (a NaN score
    would make the AUC of its window undefined without saying why)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRecordError(f"score {json.dumps(value)[:60]} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise BadRecordError(f"score {str(value)[:60]!r} is not a number") from None
    if not math.isfinite(number):
        raise BadRecordError(f"score {str(value)[:60]!r} is not finite")
    return number


def _scores(record: Mapping[str, Any]) -> list[float]:
    scores: list[float] = []
    for row in payload_rows(record, "endpointOutput"):
        if isinstance(row, Mapping):
            value = row.get("score", row.get("probability", row.get("predicted_label")))
            scores.append(normalise_score(value))
        else:
            scores.extend(normalise_score(v) for v in row)
    return scores


def _labels(record: Mapping[str, Any]) -> list[Any]:
    data = json_object(record.get("groundTruthData"), "groundTruthData")
    try:
        rows = decode_payload(data)
    except RecursionError:
        raise BadRecordError("groundTruthData nested too deeply to read") from None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BadRecordError(f"groundTruthData: {exc}") from None
    values = [v for row in rows for v in (row if isinstance(row, list) else [row])]
    if not values:
        raise BadRecordError("groundTruthData holds no label")
    return values


@dataclass
class _Join:
    labels: dict[str, int] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # key -> file:line of its label
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: Counter[str] = field(default_factory=Counter)
    captured: Counter[int | None] = field(default_factory=Counter)
    joined: dict[int | None, list[tuple[float, int]]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)  # records read well, per input
    bad: list[BadRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, kind: str, file: str, line: int, reason: str) -> None:
        self.skipped[kind] += 1
        add_samples(self.bad, [BadRecord(file, line, reason)])

    def note(self, text: str) -> None:
        if len(self.notes) < 10:
            self.notes.append(text)


def _read_labels(
    join: _Join,
    ground_truth: Iterable[Mapping[str, Any]],
    positives: set[str],
    negatives: set[str],
) -> None:
    for ordinal, record in enumerate(ground_truth, start=1):
        file, line = _where(record, ordinal)
        try:
            if MALFORMED_KEY in record:
                raise BadRecordError(str(record[MALFORMED_KEY]))
            meta = json_object(record.get("eventMetadata"), "eventMetadata")
            event = meta.get("eventId")
            if not isinstance(event, str | int) or isinstance(event, bool) or str(event) == "":
                raise BadRecordError("eventMetadata.eventId is missing or not a string")
            values = [normalise_label(v, positives, negatives) for v in _labels(record)]
        except BadRecordError as exc:
            join.truth["malformed"] += 1
            join.reject("labels", file, line, str(exc))
            continue
        join.records["labels"] += 1
        event_id = str(event)
        for i, label in enumerate(values):
            key = event_id if len(values) == 1 else f"{event_id}:{i}"
            if key in join.conflicts:
                join.conflicts[key]["labels"].add(label)
                join.conflicts[key]["where"].append(f"{file}:{line}")
            elif key not in join.labels:
                join.labels[key] = label
                join.origin[key] = f"{file}:{line}"
            elif join.labels[key] == label:
                join.truth["duplicates"] += 1  # the same label again: kept once
            else:
                # Two labels for one prediction: neither is trusted; reported, not resolved.
                join.conflicts[key] = {
                    "labels": {join.labels.pop(key), label},
                    "where": [join.origin.pop(key), f"{file}:{line}"],
                }
    join.truth["labels"] = len(join.labels)
    join.truth["conflicting"] = len(join.conflicts)


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
    for ordinal, record in enumerate(captures, start=1):
        file, line = _where(record, ordinal)
        try:
            if MALFORMED_KEY in record:
                raise BadRecordError(str(record[MALFORMED_KEY]))
            meta, when = event_time(record)
            if when is not None and ((start and when < start) or (end and when >= end)):
                join.skipped["outside_window"] += 1
                continue
            scores = _scores(record)
        except BadRecordError as exc:
            join.skipped["malformed"] += 1
            join.reject("captures", file, line, str(exc))
            continue
        join.records["captures"] += 1
        bucket = _bucket(when, seconds)
        ids = [str(i) for i in (meta.get("inferenceId"), meta.get("eventId")) if i]
        for i, score in enumerate(scores):
            join.captured[bucket] += 1
            suffix = "" if len(scores) == 1 else f":{i}"
            key = next((k + suffix for k in ids if k + suffix in join.labels), None)
            if key is not None:
                join.used.add(key)
                join.joined.setdefault(bucket, []).append((score, join.labels[key]))


def _window_violations(
    windows: Sequence[WindowQuality],
    overall: WindowQuality,
    min_auc: float | None,
    auc_drop: AucDropRule | None,
) -> list[dict[str, str]]:
    """AUC below the floor in any window (and overall); AUC lower than validated by more than
    the tolerance beyond sampling noise; AUC not computable in a window whose labels are due (a
    floor that cannot be checked is a finding, not a pass)."""
    violations = []
    for item in [*windows, overall]:
        auc = item.metrics.get("auc")
        where = item.start.isoformat() if item.start else "all windows"
        if min_auc is not None and auc is not None and auc < min_auc:
            violations.append(
                {
                    "metric_name": "auc",
                    "constraint_check_type": "LessThanThreshold",
                    "description": f"AUC {auc:.4f} < {min_auc} in window {where} "
                    f"({item.labelled} labelled predictions)",
                }
            )
        bound = item.metrics.get("auc_drop_lower_bound")
        if (
            auc_drop is not None
            and auc is not None
            and bound is not None
            and bound > auc_drop.max_drop
        ):
            violations.append(
                {
                    "metric_name": "auc_drop",
                    "constraint_check_type": "GreaterThanThreshold",
                    "description": f"AUC {auc:.4f} in window {where} is "
                    f"{auc_drop.validated_auc - auc:.4f} below the version's validated "
                    f"{auc_drop.validated_auc:.4f}; at {auc_drop.confidence:.0%} confidence "
                    f"the drop is at least {bound:.4f} > {auc_drop.max_drop:g} tolerated "
                    f"(DeLong standard error {item.metrics.get('auc_standard_error') or 0:.4f}, "
                    f"{item.labelled} labelled predictions)",
                }
            )
    for item in windows:
        if item.due and item.not_computable:
            where = item.start.isoformat() if item.start else "without inference time"
            violations.append(
                {
                    "metric_name": "auc",
                    "constraint_check_type": NOT_COMPUTABLE,
                    "description": f"AUC cannot be computed in window {where} although its "
                    f"labels are due: {item.not_computable} ({item.captured} predictions, "
                    f"{item.labelled} labelled)",
                }
            )
    return violations


def compute_model_quality(
    captures: Iterable[Mapping[str, Any]],
    ground_truth: Iterable[Mapping[str, Any]],
    cutoff: float,
    *,
    positive_labels: Sequence[str] = ("1",),
    negative_labels: Sequence[str] = ("0",),
    window: str | int | timedelta | None = "1h",
    start: datetime | None = None,
    end: datetime | None = None,
    min_auc: float | None = None,
    auc_drop: AucDropRule | None = None,
    labels_due_before: datetime | None = None,
    max_bad_record_share: float | None = None,
) -> QualityReport:
    """Join predictions with the labels known so far and compute quality per window.

    Records with several rows (batch requests) pair scores and labels by position under keys
    "<id>:<i>". Unreadable records, refused labels and non-finite scores are counted, sampled
    and skipped, never raised; above `max_bad_record_share` (Config.monitoring's by default) of
    all records they are a violation. A window is due when it ends at or before
    `labels_due_before` (every window when it is None): a due window without a computable AUC
    is a NotComputable violation.
    """
    positives = {str(p) for p in positive_labels}
    negatives = {str(n) for n in negative_labels}
    clash = positives & negatives
    if clash:
        raise ValueError(f"labels {sorted(clash)} are both positive and negative")
    if max_bad_record_share is None:
        from finmlops.config import Monitoring  # pydantic: only when no limit is given

        max_bad_record_share = Monitoring().max_bad_record_share
    bad_limit = max_bad_record_share
    seconds = parse_window(window)
    join = _Join()
    _read_labels(join, ground_truth, positives, negatives)
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
        due = labels_due_before is None or (finish is not None and finish <= labels_due_before)
        pairs = join.joined.get(bucket, [])
        windows.append(
            _window(begin, finish, join.captured[bucket], pairs, cutoff, due=due, drop=auc_drop)
        )
    everything = [pair for pairs in join.joined.values() for pair in pairs]
    overall = _window(
        start, end, sum(join.captured.values()), everything, cutoff, due=False, drop=auc_drop
    )
    violations = _window_violations(windows, overall, min_auc, auc_drop)
    bad_count = join.skipped["malformed"] + join.skipped["labels"]
    total = bad_count + join.records["captures"] + join.records["labels"]
    share = bad_count / total if total else 0.0
    bad = {
        "count": bad_count,
        "captures": join.skipped["malformed"],
        "labels": join.skipped["labels"],
        "share": share,
        "threshold": bad_limit,
        "exceeded": share > bad_limit,
        "sample": [b.to_dict() for b in join.bad],
    }
    messages = list(join.notes)
    if bad_count:
        first = join.bad[0] if join.bad else None
        text = (
            f"{bad_count} record(s) could not be read and were skipped "
            f"({join.skipped['malformed']} capture(s), "
            f"{join.skipped['labels']} label(s)): share {share:.4f} of {total}, the limit is "
            f"{bad_limit:g}" + (f"; first: {first}" if first else "")
        )
        messages.append(text)
        if bad["exceeded"]:
            violations.append(
                {
                    "metric_name": "bad_record_share",
                    "constraint_check_type": "GreaterThanThreshold",
                    "description": text,
                }
            )
    conflicts = [
        {"id": key, "labels": sorted(item["labels"]), "where": item["where"][:MAX_BAD_SAMPLES]}
        for key, item in list(join.conflicts.items())[:MAX_BAD_SAMPLES]
    ]
    if join.conflicts:
        first_conflict = conflicts[0]
        messages.append(
            f"{len(join.conflicts)} prediction(s) have conflicting labels and were left out, "
            f"e.g. {first_conflict['id']}: {first_conflict['labels']} at "
            f"{', '.join(first_conflict['where'])}"
        )
    if join.truth["duplicates"]:
        messages.append(f"{join.truth['duplicates']} identical duplicate label(s) counted once")
    if join.truth["unmatched"]:
        messages.append(f"{join.truth['unmatched']} label(s) match no captured prediction")
    return QualityReport(
        cutoff=cutoff,
        positive_labels=tuple(sorted(positives)),
        window_seconds=seconds,
        windows=tuple(windows),
        overall=overall,
        ground_truth=dict(join.truth)
        | {"captures_skipped": join.skipped["malformed"] + join.skipped["outside_window"]},
        min_auc=min_auc,
        auc_drop=auc_drop,
        violations=tuple(violations),
        messages=tuple(messages),
        bad_records=bad,
        conflicts=tuple(conflicts),
        evaluated_at=end,
    )


def auc_score(y: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> float:
    """ROC AUC as the Mann-Whitney statistic with average ranks for ties."""
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    from scipy import stats  # imported when used: it takes most of a second

    ranks = stats.rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_delong(y: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> tuple[float, float]:
    """(AUC, its standard error) by DeLong, DeLong and Clarke-Pearson (1988), Biometrics 44(3):
    the variance of the Mann-Whitney statistic from its structural components, computed with
    midranks as Sun and Xu (2014, IEEE Signal Processing Letters 21(11)) show, O(n log n).

    No library in the stack gives an AUC's standard error (scikit-learn and scipy give the AUC
    only); tests hold this against the components computed pair by pair from their definition
    and against the spread of scipy.stats.bootstrap.
    """
    from scipy import stats

    positive = score[y == 1]
    negative = score[y == 0]
    m, n = positive.size, negative.size
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs two of each class ({m} positive, {n} negative)")
    ranks = stats.rankdata(np.concatenate([positive, negative]))
    within_pos = stats.rankdata(positive)
    within_neg = stats.rankdata(negative)
    # V10[i]: the share of negatives positive i outranks (ties count half); V01[j]: the share
    # of positives that outrank negative j.
    v10 = (ranks[:m] - within_pos) / n
    v01 = 1.0 - (ranks[m:] - within_neg) / m
    auc = float(v10.mean())
    variance = float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    return auc, math.sqrt(max(variance, 0.0))


def _window(
    begin: datetime | None,
    finish: datetime | None,
    captured: int,
    pairs: Sequence[tuple[float, int]],
    cutoff: float,
    *,
    due: bool,
    drop: AucDropRule | None = None,
) -> WindowQuality:
    y = np.array([p[1] for p in pairs], dtype=np.int64)
    score = np.array([p[0] for p in pairs], dtype=np.float64)
    n = y.size
    pos = int(y.sum())
    notes: list[str] = []
    not_computable: str | None = None
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
        "auc_standard_error": None,
        "auc_drop_lower_bound": None,
    }
    if n and 0 < pos < n:
        auc = auc_score(y, score)
        metrics["auc"] = auc
        metrics["gini"] = 2 * auc - 1
        if min(pos, n - pos) >= 2:
            standard_error = auc_delong(y, score)[1]
            metrics["auc_standard_error"] = standard_error
            if drop is not None:
                metrics["auc_drop_lower_bound"] = drop.lower_bound(auc, standard_error)
        elif drop is not None:
            notes.append(
                f"AUC drop not judged: its standard error needs two of each class ({pos} "
                f"positive, {n - pos} negative)"
            )
        from scipy import stats

        metrics["ks"] = float(stats.ks_2samp(score[y == 1], score[y == 0]).statistic)
    elif n:
        not_computable = f"labels of one class only ({n} labelled, {pos} positive)"
        notes.append("labels of one class only: AUC and KS are undefined")
    else:
        not_computable = "no labelled predictions"
        notes.append("no labelled predictions yet")
    calibration = []
    if n:
        index = np.minimum((score * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
        index = np.clip(index, 0, CALIBRATION_BINS - 1)
        for b in range(CALIBRATION_BINS):
            mask = index == b
            count = int(mask.sum())
            if not count:
                continue
            mean_predicted = float(score[mask].mean())
            observed = float(y[mask].mean())
            calibration.append(
                {
                    "lower": b / CALIBRATION_BINS,
                    "upper": (b + 1) / CALIBRATION_BINS,
                    "count": count,
                    "mean_predicted": mean_predicted,
                    "observed_rate": observed,
                }
            )
        # The platform's one ECE (score deciles, finmlops.steps.evaluate), the figure the
        # validation report shows for the test rows; the table above stays equal-width on [0, 1]
        # so windows plot on the same axis.
        metrics["expected_calibration_error"] = expected_calibration_error(
            y, score, CALIBRATION_BINS
        )
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
        due=due,
        not_computable=not_computable,
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
