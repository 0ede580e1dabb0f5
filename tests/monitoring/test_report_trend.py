"""The drift report's overview and trend: every feature's PSI against its thresholds, and the
drift share and key features over the earlier windows the job finds under its output prefix."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from finmlops.monitoring import entrypoint
from finmlops.monitoring.baseline import Baseline, save_baseline
from finmlops.monitoring.drift import DriftReport, run_drift
from finmlops.monitoring.history import REPORT_NAME, read_history
from finmlops.monitoring.report import render_html, write_outputs

START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _window(baseline: Baseline, table, hour: int, shift: float) -> DriftReport:
    current = table(3_000, 200 + hour)
    current["rate"] += shift
    return run_drift(
        baseline, current, window_start=START + timedelta(hours=hour),
        window_end=START + timedelta(hours=hour + 1),
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(
    baseline: Baseline, table, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[DriftReport]]:
    """Four hourly runs, each in its own execution folder, the drift growing."""
    prefix = tmp_path_factory.mktemp("datadrift")
    reports = [
        _window(baseline, table, hour, shift) for hour, shift in enumerate((0, 0.3, 0.9, 2.0))
    ]
    for i, report in enumerate(reports):
        write_outputs(report, prefix / f"execution-{i}")
    return prefix, reports


def _text(html: str) -> str:
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_overview_draws_each_features_psi_against_the_watch_and_act_thresholds(
    runs: tuple[Path, list[DriftReport]],
) -> None:
    report = runs[1][-1]
    page = render_html(report)
    overview = page[page.index("<h2>Overview</h2>") : page.index("<h2>Features</h2>")]
    (svg,) = re.findall(r"<svg\b.*?</svg>", overview, flags=re.S)
    assert 'aria-label="Drift by feature: PSI against its thresholds"' in svg
    bars = re.findall(r'<g id="psi-(\d+)">', svg)
    assert bars == [str(i) for i in range(len(report.features))]
    for feature in report.features:
        assert f">{feature.name} ({feature.status})<" in svg
    assert f">watch {report.thresholds['psi_watch']:g}<" in svg
    assert f">drift {report.thresholds['psi_act']:g}<" in svg


def test_trend_reads_the_earlier_windows_oldest_first_and_skips_this_one(
    runs: tuple[Path, list[DriftReport]],
) -> None:
    prefix, reports = runs
    last = reports[-1]
    history = read_history(str(prefix), exclude_end=str(last.window["end"]))
    assert [w.drift_share for w in history.windows] == [r.drift_share for r in reports[:-1]]
    assert [w.end for w in history.windows] == sorted(w.end for w in history.windows)
    page = render_html(last, history=history)
    text = _text(page)
    assert "Trend over the last 4 windows" in text
    for report in reports:
        assert f"{report.window['end']} {report.window['rows']} {report.drift_share:.3f}" in text
    trend = page[page.index("<h2>Trend") : page.index("<h2>Features</h2>")]
    assert 'aria-label="Share of features drifted"' in trend
    assert 'aria-label="PSI of the key features"' in trend
    assert ">rate<" in trend  # the feature the windows shifted is a key feature
    # The same report and history give the same bytes.
    assert (
        render_html(last, history=read_history(str(prefix), exclude_end=str(last.window["end"])))
        == page
    )


def test_the_trend_is_bounded_and_skips_files_that_are_not_drift_reports(
    runs: tuple[Path, list[DriftReport]], tmp_path: Path
) -> None:
    prefix, reports = runs
    assert len(read_history(str(prefix), limit=2).windows) == 2
    (tmp_path / "execution-0").mkdir()
    (tmp_path / "execution-0" / REPORT_NAME).write_text('{"not": "a report"}')
    (tmp_path / "execution-1").mkdir()
    (tmp_path / "execution-1" / REPORT_NAME).write_bytes(
        (prefix / "execution-1" / REPORT_NAME).read_bytes()
    )
    history = read_history(str(tmp_path))
    assert history.skipped == 1
    assert "execution-0" in history.problems[0]
    assert [w.drift_share for w in history.windows] == [reports[1].drift_share]


def test_the_drift_job_reads_earlier_runs_from_an_s3_prefix_for_its_trend(
    runs: tuple[Path, list[DriftReport]], baseline: Baseline, table, tmp_path: Path
) -> None:
    prefix, _ = runs
    save_baseline(baseline, tmp_path / "baseline")
    artifact = tmp_path / "baseline"
    (tmp_path / "window").mkdir()
    current = table(2_000, 77)
    current["rate"] += 1.0
    current.to_csv(tmp_path / "window" / "w.csv", index=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="monitoring-output")
        for folder in sorted(prefix.iterdir()):
            s3.put_object(
                Bucket="monitoring-output", Key=f"datadrift/ep/{folder.name}/{REPORT_NAME}",
                Body=(folder / REPORT_NAME).read_bytes(),
            )  # fmt: skip
        code = entrypoint.main(
            ["drift", "--dataset-source", str(tmp_path / "window"), "--baseline", str(artifact),
             "--output-path", str(tmp_path / "out"), "--region", "us-east-1",
             "--history", "s3://monitoring-output/datadrift/ep/", "--history-windows", "3"],
            environ={},
        )  # fmt: skip
    assert code == 0
    page = (tmp_path / "out" / "drift_report.html").read_text()
    assert "Trend over the last 4 windows" in _text(page)  # three earlier and this one
    assert "s3://monitoring-output/datadrift/ep/" in page
    json.loads((tmp_path / "out" / "drift_report.json").read_text())


def test_an_unreadable_history_leaves_the_report_without_a_trend_and_the_run_succeeds(
    baseline: Baseline, table, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_baseline(baseline, tmp_path / "baseline")
    artifact = tmp_path / "baseline"
    (tmp_path / "window").mkdir()
    table(500, 78).to_csv(tmp_path / "window" / "w.csv", index=False)
    code = entrypoint.main(
        ["drift", "--dataset-source", str(tmp_path / "window"), "--baseline", str(artifact),
         "--output-path", str(tmp_path / "out"), "--history", "s3://"],
        environ={},
    )  # fmt: skip
    assert code == 0
    assert "the report has no trend" in capsys.readouterr().out
    assert "Trend over" not in (tmp_path / "out" / "drift_report.html").read_text()
    assert np.isfinite(
        json.loads((tmp_path / "out" / "drift_report.json").read_text())["dataset"]["drift_share"]
    )


def test_each_features_bins_are_shown_as_numbers_beside_the_chart(
    runs: tuple[Path, list[DriftReport]],
) -> None:
    report = runs[1][-1]
    text = _text(render_html(report))
    for feature in report.features:
        dist = feature.distribution
        labels = dist.get("labels") or dist.get("bins", [])
        for label, ref, cur in zip(labels, dist["reference"], dist["current"], strict=True):
            shown = f"{label} {100 * ref:.2f}% {100 * cur:.2f}% {100 * (cur - ref):+.1f}%"
            assert shown in text, shown
