"""Inputs: data-capture JSON lines, CSV, JSON lines and Parquet, read in chunks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from finmlops.monitoring.baseline import Baseline
from finmlops.monitoring.drift import run_drift
from finmlops.monitoring.readers import (
    DatasetError,
    DatasetFormat,
    open_dataset,
    parse_dataset_format,
    parse_time,
)


def _write_captures(
    path: Path, frame: pd.DataFrame, capture: Callable[..., dict[str, Any]], **kwargs: Any
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for i, row in enumerate(frame.itertuples(index=False)):
            minute = i % 60
            record = capture(
                list(row), event_id=f"e{i}", time=f"2026-11-28T10:{minute:02d}:00Z", **kwargs
            )
            handle.write(json.dumps(record) + "\n")


def _report(baseline: Baseline, source: Path, fmt: str | None, **kwargs: Any) -> str:
    chunks = open_dataset(
        source,
        parse_dataset_format(fmt),
        feature_order=baseline.feature_order,
        chunk_rows=kwargs.pop("chunk_rows", 700),
        **kwargs,
    )
    return run_drift(baseline, chunks).to_json()


def test_capture_csv_json_lines_and_parquet_give_the_report_of_the_table(
    baseline: Baseline, table, capture, tmp_path: Path
) -> None:
    current = table(3_000, 61)
    current["rate"] += 0.5
    expected = run_drift(baseline, current).to_json()
    current.iloc[:1_800].to_csv(_mk(tmp_path / "csv") / "part-1.csv", index=False)
    current.iloc[1_800:].to_csv(tmp_path / "csv" / "part-2.csv", index=False)
    current.to_parquet(_mk(tmp_path / "parquet") / "window.parquet", row_group_size=1_000)
    hour = tmp_path / "capture" / "endpoint" / "AllTraffic" / "2026" / "11" / "28" / "10"
    _write_captures(hour / "a.jsonl", current, capture)
    json_lines = _mk(tmp_path / "json") / "records.jsonl"
    json_lines.write_text("".join(json.dumps(r) + "\n" for r in current.to_dict(orient="records")))
    assert _report(baseline, tmp_path / "csv", None) == expected
    assert _report(baseline, tmp_path / "csv", '{"csv": {"header": true}}') == expected
    assert _report(baseline, tmp_path / "parquet", '{"parquet": {}}') == expected
    assert _report(baseline, tmp_path / "capture", None) == expected
    assert (
        _report(
            baseline,
            tmp_path / "capture",
            '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput","endpointOutput"]}}',
        )
        == expected
    )
    assert _report(baseline, tmp_path / "json", '{"json": {"line": true}}') == expected


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("encoding", ["JSON", "BASE64"])
def test_json_and_base64_capture_payloads_are_decoded(
    baseline: Baseline, table, capture, tmp_path: Path, encoding: str
) -> None:
    current = table(500, 62)
    _write_captures(tmp_path / "a.jsonl", current, capture, encoding=encoding)
    assert _report(baseline, tmp_path, "capture") == run_drift(baseline, current).to_json()


def test_capture_records_outside_the_window_are_skipped_and_counted(
    baseline: Baseline, table, capture, tmp_path: Path
) -> None:
    _write_captures(tmp_path / "a.jsonl", table(600, 63), capture)
    chunks = open_dataset(
        tmp_path,
        DatasetFormat("capture"),
        feature_order=baseline.feature_order,
        start=parse_time("2026-11-28T10:10:00Z"),
        end=parse_time("2026-11-28T10:20:00Z"),
    )
    report = run_drift(baseline, chunks)
    assert report.window["rows"] == 100  # 10 of every 60 minutes
    assert any("500 capture record(s) outside the window" in m for m in report.messages)


def test_unreadable_capture_lines_are_counted_and_reported(
    baseline: Baseline, table, capture, tmp_path: Path
) -> None:
    _write_captures(tmp_path / "a.jsonl", table(200, 64), capture)
    with (tmp_path / "a.jsonl").open("a") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"captureData": {}, "eventMetadata": {}}) + "\n")

    def read() -> object:
        return open_dataset(
            tmp_path, DatasetFormat("capture"), feature_order=baseline.feature_order
        )

    # 2 of 202 records: under the default limit (1 %), reported and skipped.
    report = run_drift(baseline, read())
    assert report.window["rows"] == 200
    assert report.window["bad_records"]["count"] == 2
    assert not any(v.feature_name == "(dataset)" for v in report.violations)
    assert any("2 record(s) could not be read" in m and "a.jsonl:201" in m for m in report.messages)
    # Over a stricter limit, the same window is a bad_records_check violation.
    strict = run_drift(baseline, read(), max_bad_record_share=0.005)
    violation = next(v for v in strict.violations if v.feature_name == "(dataset)")
    assert violation.constraint_check_type == "bad_records_check"
    assert "a.jsonl:201" in violation.description


def test_headerless_csv_names_extra_fields_like_model_monitor(
    baseline: Baseline, table, tmp_path: Path
) -> None:
    current = table(400, 65).assign(extra=1.0)
    current.to_csv(tmp_path / "batch.csv", index=False, header=False)
    chunks = open_dataset(
        tmp_path,
        parse_dataset_format('{"csv": {"header": "false"}}'),
        feature_order=baseline.feature_order,
    )
    report = run_drift(baseline, chunks)
    assert [(v.feature_name, v.constraint_check_type) for v in report.violations] == [
        ("_c6", "extra_column_check")
    ]


def test_short_capture_rows_leave_the_trailing_features_missing(
    baseline: Baseline, table, capture, tmp_path: Path
) -> None:
    current = table(300, 66).drop(columns=["term"])
    _write_captures(tmp_path / "a.jsonl", current, capture)
    report = run_drift(
        baseline,
        open_dataset(tmp_path, DatasetFormat("capture"), feature_order=baseline.feature_order),
    )
    assert report.feature("term").status == "missing"
    assert ("term", "missing_column_check") in {
        (v.feature_name, v.constraint_check_type) for v in report.violations
    }


def test_unknown_formats_and_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset format"):
        parse_dataset_format("xml")
    with pytest.raises(DatasetError, match="does not exist"):
        list(open_dataset(tmp_path / "nope", DatasetFormat("csv"), feature_order=()))


def test_the_documentation_example_time_with_spaces_parses() -> None:
    assert parse_time("2019-12-01T16: 20: 00Z") == parse_time("2019-12-01T16:20:00+00:00")


@pytest.mark.parametrize(
    "text",
    ["2026-11-28T10:00:07.123Z", "2026-11-28 10:00:07.123+00:00", "2026-11-28T10:00:07.123000"],
)
def test_window_end_reads_an_execution_start_time_in_any_iso_form(text: str) -> None:
    """The monitoring pipeline ends its window at Execution.StartDateTime; whichever ISO 8601
    form SageMaker renders it in, it is the same instant (UTC when no offset is given)."""
    from datetime import UTC, datetime

    assert parse_time(text) == datetime(2026, 11, 28, 10, 0, 7, 123000, tzinfo=UTC)
