"""`finmlops registry report --drift-report ... --captures ...`: the decided report's score
stability shows the latest production window of the version (PSI against the train scores, the
window's time); without one it says so plainly; a window of another version is refused and
nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from finmlops.cli import ExitCode, main
from finmlops.contracts import Meta
from finmlops.emulator.aws.serving import capture_record
from finmlops.governance.bundle import EvidenceBundle
from finmlops.governance.report import render_validation_report
from finmlops.steps.evaluate import score_psi

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")
ROW = "<tr><th>Test vs latest production window</th><td>"


def _report(capsys: Any, *argv: str) -> tuple[int, Any]:
    code = main(
        ["registry", "report", "1", *argv, "--json", "--config", CONFIG, "--model", "credit-risk"]
    )
    return code, json.loads(capsys.readouterr().out)


def _version_with_train_bins(world: Any, register: Any) -> tuple[str, dict[str, Any]]:
    rng = np.random.default_rng(11)
    section = score_psi(rng.beta(2, 8, 4000), rng.beta(2, 8, 1000))
    evaluation = {"score_stability": {"train_vs_test": section, "production": "not yet"}}
    html = render_validation_report(world.config, EvidenceBundle(evaluation=evaluation))
    world.s3.put_object(Bucket="evidence-bucket", Key="p/validation_report.html", Body=html)
    arn = register(
        metadata={Meta.VALIDATION_REPORT: "s3://evidence-bucket/p/validation_report.html"}
    )
    # The version's recorded evaluation carries the train score bins the evaluate step wrote.
    uri = world.describe(arn)["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    world.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(evaluation))
    return arn, section


def _window(tmp_path: Path, arn: str) -> tuple[Path, Path]:
    report = tmp_path / "drift_report.json"
    report.write_text(json.dumps({
        "expected_model": {"model_package_arn": arn},
        "dataset": {"baseline_identity_ok": True},
        "window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"},
    }))  # fmt: skip
    folder = tmp_path / "captures"
    folder.mkdir()
    at = datetime(2026, 12, 1, 10, tzinfo=UTC)
    scores = np.random.default_rng(12).beta(4, 6, 400)  # production scores drifted upward
    lines = [
        capture_record("1,2", f"{s:.6f}", event_id=f"e{i}", inference_id=None,
                       at=at + timedelta(seconds=i))
        for i, s in enumerate(scores)
    ]  # fmt: skip
    (folder / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return report, folder


def test_the_decided_report_shows_the_production_windows_psi_with_its_time(
    world, register, capsys, tmp_path
):
    arn, _ = _version_with_train_bins(world, register)
    drift, captures = _window(tmp_path, arn)
    out = tmp_path / "r.html"

    code, _ = _report(capsys, "--out", str(out), "--drift-report", str(drift),
                      "--captures", str(captures))  # fmt: skip

    assert code == ExitCode.OK
    row = out.read_text().split(ROW, 1)[1].split("</td>", 1)[0]
    assert row.startswith("PSI ") and "significant shift" in row
    assert "400 scores of the window 2026-12-01T10:00:00Z to 2026-12-01T11:00:00Z" in row
    assert "4,000 train scores" in row


def test_without_a_window_the_report_says_so_plainly(world, register, capsys, tmp_path):
    _version_with_train_bins(world, register)
    out = tmp_path / "r.html"
    code, _ = _report(capsys, "--out", str(out))
    assert code == ExitCode.OK
    assert f"{ROW}no production window: no monitoring output of this version" in out.read_text()


def test_a_window_of_another_version_is_refused_and_nothing_is_written(
    world, register, capsys, tmp_path
):
    arn, _ = _version_with_train_bins(world, register)
    drift, captures = _window(tmp_path, arn.replace("/1", "/7"))
    out = tmp_path / "r.html"
    code, error = _report(capsys, "--out", str(out), "--drift-report", str(drift),
                          "--captures", str(captures))  # fmt: skip
    assert code == ExitCode.USAGE
    assert "expected_model.model_package_arn" in error["message"]
    assert not out.exists()
