"""Malformed monitoring inputs never lose a window: each bad record is counted, sampled (file,
line, reason) and skipped; too many of them are a violation with its own metric; an empty file
is a named bad record in a window and a fatal error in a baseline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from finmlops.monitoring import baseline_step
from finmlops.monitoring.baseline import Baseline
from finmlops.monitoring.cloudwatch import drift_metrics
from finmlops.monitoring.drift import run_drift
from finmlops.monitoring.readers import (
    MAX_BAD_SAMPLES,
    DatasetError,
    DatasetFormat,
    open_dataset,
)
from finmlops.monitoring.window import (
    accumulate,
    load_partial,
    merge_partials,
    save_partial,
)

GOOD = 50
# Python's JSON decoder recurses once per nesting level: this line exhausts the stack.
DEEP = "[" * 100_000 + "]" * 100_000


def _good_lines(table: Any, capture: Any, rows: int = GOOD) -> list[bytes]:
    frame = table(rows, 7)
    return [
        json.dumps(capture(list(row), event_id=f"e{i}", time="2026-11-28T10:00:00Z")).encode()
        for i, row in enumerate(frame.itertuples(index=False))
    ]


def _read(baseline: Baseline, source: Path, **kwargs: Any) -> Any:
    chunks = open_dataset(source, DatasetFormat("capture"), feature_order=baseline.feature_order)
    return run_drift(baseline, chunks, **kwargs)


def _metric(data: list[dict[str, Any]], name: str) -> float | None:
    return next((d["Value"] for d in data if d["MetricName"] == name), None)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2, 3]", "the record is a JSON list, not an object"),
        (
            json.dumps({"eventMetadata": ["x"], "captureData": {}}).encode(),
            "eventMetadata is a JSON list, not an object",
        ),
        (
            json.dumps({"eventMetadata": "late", "captureData": {}}).encode(),
            "eventMetadata is a JSON string, not an object",
        ),
        (DEEP.encode(), "nested too deeply"),
        (b'{"eventMetadata": {"eventId": "\xff\xfe"}}', "not UTF-8"),
        (
            json.dumps({"eventMetadata": {"inferenceTime": 5}, "captureData": {}}).encode(),
            "inferenceTime is a JSON number",
        ),
        (
            json.dumps({"eventMetadata": {}, "captureData": "oops"}).encode(),
            "captureData is a JSON string",
        ),
        (
            json.dumps(
                {"captureData": {"endpointInput": {"data": DEEP, "encoding": "JSON"}}}
            ).encode(),
            "nested too deeply",
        ),
        (b"{not json", "not JSON"),
    ],
    ids=[
        "json-list",
        "metadata-list",
        "metadata-string",
        "deep-nesting",
        "non-utf8",
        "time-number",
        "capture-string",
        "deep-payload",
        "not-json",
    ],
)
def test_a_malformed_capture_line_is_counted_sampled_and_skipped_not_fatal(
    baseline: Baseline, table: Any, capture: Any, tmp_path: Path, line: bytes, reason: str
) -> None:
    good = _good_lines(table, capture)
    (tmp_path / "2026" / "11" / "28" / "10").mkdir(parents=True)
    path = tmp_path / "2026" / "11" / "28" / "10" / "capture.jsonl"
    path.write_bytes(b"\n".join([*good[:20], line, *good[20:]]) + b"\n")
    report = _read(baseline, tmp_path)
    assert report.window["rows"] == GOOD  # the window is kept, every good record in it
    bad = report.window["bad_records"]
    assert bad["count"] == 1
    (sample,) = bad["sample"]
    # Named relative to the dataset's root, with the line and why.
    assert sample["file"] == "2026/11/28/10/capture.jsonl"
    assert sample["line"] == 21
    assert reason in sample["reason"]
    assert bad["share"] == pytest.approx(1 / (GOOD + 1))
    # 1 of 51 is over the default 1 %: a violation naming the place.
    violation = next(v for v in report.violations if v.constraint_check_type == "bad_records_check")
    assert violation.feature_name == "(dataset)"
    assert "capture.jsonl:21" in violation.description


def test_the_sample_of_bad_records_is_bounded_and_the_count_is_not(
    baseline: Baseline, table: Any, capture: Any, tmp_path: Path
) -> None:
    good = _good_lines(table, capture, 10)
    (tmp_path / "c.jsonl").write_bytes(b"\n".join([*good, *([b"[0]"] * 500)]) + b"\n")
    report = _read(baseline, tmp_path)
    bad = report.window["bad_records"]
    assert bad["count"] == 500
    assert len(bad["sample"]) == MAX_BAD_SAMPLES
    assert [s["line"] for s in bad["sample"]] == list(range(11, 11 + MAX_BAD_SAMPLES))
    assert bad["share"] == pytest.approx(500 / 510)
    # The HTML report lists the sample with its places.
    from finmlops.monitoring.report import render_html

    page = render_html(report)
    assert "Unreadable records (500" in page
    assert "<td>c.jsonl</td><td class=n>11</td>" in page


def test_bad_records_at_or_under_the_limit_are_reported_not_a_violation(
    baseline: Baseline, table: Any, capture: Any, tmp_path: Path
) -> None:
    good = _good_lines(table, capture, 99)
    (tmp_path / "c.jsonl").write_bytes(b"\n".join([*good, b"[0]"]) + b"\n")
    lenient = _read(baseline, tmp_path, max_bad_record_share=0.01)  # 1 of 100 is not over 1 %
    assert not [v for v in lenient.violations if v.constraint_check_type == "bad_records_check"]
    assert any("c.jsonl:100" in m for m in lenient.messages)
    strict = _read(baseline, tmp_path, max_bad_record_share=0.0)
    assert [v for v in strict.violations if v.constraint_check_type == "bad_records_check"]


def test_the_bad_record_share_is_a_metric_of_every_run_an_idle_one_included(
    baseline: Baseline, table: Any, capture: Any, tmp_path: Path
) -> None:
    stamp = datetime(2026, 11, 28, 11, tzinfo=UTC)
    good = _good_lines(table, capture, 3)
    (tmp_path / "c.jsonl").write_bytes(b"\n".join([*good, b"[0]"]) + b"\n")
    data = drift_metrics(_read(baseline, tmp_path), timestamp=stamp)
    assert _metric(data, "bad_record_share") == pytest.approx(0.25)
    assert _metric(data, "bad_record_count") == 1
    idle = drift_metrics(run_drift(baseline, table(0, 1)), timestamp=stamp)
    assert _metric(idle, "bad_record_share") == 0.0
    assert _metric(idle, "dataset_drift_share") is None  # no drift value for an idle hour


def test_a_zero_byte_file_in_a_window_is_one_named_bad_record_and_the_rest_is_judged(
    baseline: Baseline, table: Any, tmp_path: Path
) -> None:
    table(300, 8).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "b.csv").write_bytes(b"")
    report = run_drift(
        baseline,
        open_dataset(tmp_path, DatasetFormat("csv"), feature_order=baseline.feature_order),
    )
    assert report.window["rows"] == 300
    bad = report.window["bad_records"]
    assert bad["count"] == 1
    assert bad["sample"] == [{"file": "b.csv", "line": 0, "reason": "empty file (0 bytes)"}]


@pytest.mark.parametrize("kind", ["csv", "capture", "parquet"])
def test_a_window_of_empty_files_only_is_a_violation_naming_them(
    baseline: Baseline, tmp_path: Path, kind: str
) -> None:
    suffix = {"csv": ".csv", "capture": ".jsonl", "parquet": ".parquet"}[kind]
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    report = run_drift(
        baseline,
        open_dataset(tmp_path, DatasetFormat(kind), feature_order=baseline.feature_order),
    )
    assert report.window["rows"] == 0
    violation = next(v for v in report.violations if v.constraint_check_type == "bad_records_check")
    assert f"empty{suffix}:0: empty file (0 bytes)" in violation.description


def test_a_csv_window_that_is_not_utf8_is_an_error_naming_the_file(
    baseline: Baseline, tmp_path: Path
) -> None:
    (tmp_path / "latin.csv").write_bytes(b"income,grade\n1000,\xe9t\xe9\n")
    with pytest.raises(DatasetError, match=r"latin\.csv: not UTF-8"):
        run_drift(
            baseline,
            open_dataset(tmp_path, DatasetFormat("csv"), feature_order=baseline.feature_order),
        )


def test_a_zero_byte_baseline_input_fails_the_baseline_naming_the_file(
    reference: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train"
    data.mkdir()
    reference.head(500).to_csv(data / "part-1.csv", index=False)
    (data / "part-2.csv").write_bytes(b"")
    code = baseline_step.main(
        [
            "--input",
            str(data),
            "--output",
            str(tmp_path / "out"),
            "--model-id",
            "credit-risk",
            "--numeric",
            "income",
            "--categorical",
            "grade",
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "part-2.csv:0: empty file (0 bytes)" in error
    assert "must be complete" in error
    assert not (tmp_path / "out").exists()  # nothing written


def test_bad_records_survive_saving_and_merging_shard_partials(
    baseline: Baseline, table: Any, capture: Any, tmp_path: Path
) -> None:
    partials = []
    for shard in ("a", "b"):
        folder = tmp_path / shard
        folder.mkdir()
        good = _good_lines(table, capture, 20)
        (folder / f"{shard}.jsonl").write_bytes(b"\n".join([*good, b"[0]"]) + b"\n")
        chunks = open_dataset(
            folder, DatasetFormat("capture"), feature_order=baseline.feature_order
        )
        partial = accumulate(baseline, chunks)
        save_partial(baseline, partial, tmp_path / "partials" / shard, shard)
        partials.append(load_partial(tmp_path / "partials" / shard))
    merged = merge_partials(partials)
    assert (merged.records, merged.malformed) == (40, 2)
    assert [str(b) for b in merged.bad_samples] == [
        "a.jsonl:21: the record is a JSON list, not an object",
        "b.jsonl:21: the record is a JSON list, not an object",
    ]


def test_a_partial_from_an_engine_that_kept_no_bad_records_is_refused_by_name(
    baseline: Baseline, table: Any, tmp_path: Path
) -> None:
    from finmlops.monitoring.window import PartialError

    save_partial(baseline, accumulate(baseline, table(50, 3)), tmp_path / "p", "p")
    document = json.loads((tmp_path / "p" / "partial.json").read_text())
    del document["bad_records"]
    (tmp_path / "p" / "partial.json").write_text(json.dumps(document))
    with pytest.raises(PartialError, match=r"partial\.json records no bad records"):
        load_partial(tmp_path / "p")
