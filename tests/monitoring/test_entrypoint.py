"""The container entry point: Model Monitor's contract, pipeline arguments, shards, baseline step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from finmlops.config import DriftThresholds
from finmlops.monitoring import baseline_step, cloudwatch, entrypoint
from finmlops.monitoring.baseline import Baseline, load_baseline, save_baseline
from finmlops.monitoring.drift import run_drift

REPO = Path(__file__).resolve().parents[2]
LENDING_CLUB = REPO / "src" / "finmlops" / "data" / "lending_club.csv"
PLATFORM_YAML = REPO / "config" / "platform.yaml"


@pytest.fixture
def artifact(baseline: Baseline, tmp_path: Path) -> Path:
    save_baseline(baseline, tmp_path / "baseline")
    return tmp_path / "baseline"


@pytest.fixture
def byoc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Container paths that are not writable here, pointed at the test's folder."""
    monkeypatch.setattr(cloudwatch, "METRICS_DIR", tmp_path / "opt" / "metrics" / "cloudwatch")
    monkeypatch.setattr(entrypoint, "MESSAGE_FILE", tmp_path / "opt" / "message")
    monkeypatch.setattr(
        entrypoint, "PROCESSING_CONFIG", tmp_path / "opt" / "processingjobconfig.json"
    )
    return tmp_path / "opt"


def _captures(
    folder: Path, frame: pd.DataFrame, capture: Callable[..., dict[str, Any]], hour: int = 10
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"capture-{hour}.jsonl").open("w") as handle:
        for i, row in enumerate(frame.itertuples(index=False)):
            stamp = f"2026-11-28T{hour:02d}:{i % 60:02d}:00Z"
            handle.write(json.dumps(capture(list(row), event_id=f"{hour}-{i}", time=stamp)) + "\n")


def _contract(artifact: Path, source: Path, output: Path) -> dict[str, str]:
    return {
        "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}',
        "dataset_source": str(source),
        "output_path": str(output),
        "start_time": "2026-11-28T10:00:00Z",
        "end_time": "2026-11-28T11:00:00Z",
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": "credit-risk-prod",
        "sagemaker_monitoring_schedule_name": "credit-risk-drift",
        "baseline_statistics": str(artifact / "statistics.json"),
        "baseline_constraints": str(artifact / "constraints.json"),
    }


def test_model_monitor_environment_runs_the_drift_job_without_arguments(
    artifact: Path, byoc: Path, table, capture, tmp_path: Path
) -> None:
    current = table(2_000, 91)
    current["rate"] += 1.5
    _captures(tmp_path / "capture", current, capture, hour=10)
    _captures(tmp_path / "capture", table(500, 92), capture, hour=12)  # outside the window
    env = _contract(artifact, tmp_path / "capture", tmp_path / "result")
    assert entrypoint.main([], environ=env) == 0
    report = json.loads((tmp_path / "result" / "drift_report.json").read_text())
    assert report["window"]["rows"] == 2_000
    assert report["dataset"]["drifted_feature_names"] == ["rate"]
    for name in ("constraint_violations.json", "statistics.json", "drift_report.html"):
        assert (tmp_path / "result" / name).is_file()
    lines = (byoc / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["Timestamp"] == "2026-11-28T11:00:00Z"
    assert {"Name": "Endpoint", "Value": "credit-risk-prod"} in first["Dimensions"]
    assert (byoc / "message").read_text().startswith("CompletedWithViolations: ")


def test_the_processing_job_config_environment_is_read(
    artifact: Path, byoc: Path, table, capture, tmp_path: Path
) -> None:
    _captures(tmp_path / "capture", table(300, 93), capture)
    byoc.mkdir(parents=True, exist_ok=True)
    env = _contract(artifact, tmp_path / "capture", tmp_path / "result")
    (byoc / "processingjobconfig.json").write_text(json.dumps({"Environment": env}))
    assert entrypoint.main([], environ={}) == 0
    report = json.loads((tmp_path / "result" / "drift_report.json").read_text())
    assert report["window"]["rows"] == 300
    assert (byoc / "message").read_text().startswith("Completed: ")


def test_arguments_override_the_environment(
    artifact: Path, byoc: Path, table, tmp_path: Path
) -> None:
    (tmp_path / "window").mkdir()
    table(800, 94).to_parquet(tmp_path / "window" / "part.parquet")
    env = _contract(artifact, tmp_path / "nowhere", tmp_path / "env-output")
    args = [
        "drift",
        "--dataset-source",
        str(tmp_path / "window"),
        "--dataset-format",
        "parquet",
        "--output-path",
        str(tmp_path / "arg-output"),
        "--publish-cloudwatch-metrics",
        "Disabled",
        "--mode",
        "binned",
        "--message-file",
        "",
    ]
    assert entrypoint.main(args, environ=env) == 0
    assert not (tmp_path / "env-output").exists()
    report = json.loads((tmp_path / "arg-output" / "drift_report.json").read_text())
    assert report["mode"] == "binned"
    assert not (byoc / "metrics").exists()


def test_shard_partials_merged_by_the_final_step_equal_one_run(
    artifact: Path, baseline: Baseline, table, tmp_path: Path
) -> None:
    current = table(3_000, 95)
    current["grade"] = current["grade"].replace({"E": "F"})
    for shard, part in enumerate((current.iloc[:1_000], current.iloc[1_000:])):
        (tmp_path / f"in-{shard}").mkdir()
        part.to_csv(tmp_path / f"in-{shard}" / "data.csv", index=False)
        code = entrypoint.main(
            [
                "partial",
                "--dataset-source",
                str(tmp_path / f"in-{shard}"),
                "--baseline",
                str(artifact),
                "--output-path",
                str(tmp_path / "shards"),
                "--shard",
                f"algo-{shard + 1}",
            ],
            environ={},
        )
        assert code == 0
    code = entrypoint.main(
        [
            "merge",
            "--partials",
            str(tmp_path / "shards"),
            "--baseline",
            str(artifact),
            "--output-path",
            str(tmp_path / "merged"),
        ],
        environ={},
    )
    assert code == 0
    merged = json.loads((tmp_path / "merged" / "drift_report.json").read_text())
    whole = json.loads(run_drift(load_baseline(artifact), current).to_json())
    assert merged["window"].pop("shards") == 2
    whole["window"].pop("shards")
    assert merged == whole


def test_the_baseline_step_compiles_the_artifact_from_config_and_csv(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    data = pd.read_csv(LENDING_CLUB)
    data.to_csv(tmp_path / "input" / "baseline.csv", index=False)
    code = baseline_step.main(
        [
            "--input",
            str(tmp_path / "input"),
            "--output",
            str(tmp_path / "output"),
            "--config",
            str(PLATFORM_YAML),
            "--model-id",  # the portfolio's model whose config it is
            "credit-risk",
            "--model-version",
            "7",
        ],
    )
    assert code == 0
    written = {p.name for p in (tmp_path / "output").iterdir()}
    assert {"baseline.json", "statistics.json", "constraints.json", "arrays"} <= written
    baseline = load_baseline(tmp_path / "output")
    assert baseline.identity.model_id == "credit-risk"
    assert baseline.identity.model_version == "7"
    assert baseline.identity.data_fingerprint.startswith("sha256:")
    assert "Class" in baseline.ignored_columns
    assert len(baseline.numeric) == 17
    assert len(baseline.categorical) == 5
    assert baseline.dataset_drift_share == 0.3
    same = run_drift(baseline, data.sample(3_000, random_state=0))
    assert not same.drifted
    assert same.violations == ()


def test_encoded_training_data_matches_numeric_text_in_captures(capture, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    encoded = pd.DataFrame(
        {"amount": rng.normal(size=5_000), "grade": rng.integers(0, 4, 5_000).astype(float)}
    )
    encoded.to_csv(tmp_path / "baseline.csv", index=False)
    (tmp_path / "in").mkdir()
    (tmp_path / "baseline.csv").rename(tmp_path / "in" / "baseline.csv")
    assert (
        baseline_step.main(
            [
                "--input",
                str(tmp_path / "in"),
                "--output",
                str(tmp_path / "out"),
                "--numeric",
                "amount",
                "--categorical",
                "grade",
                "--model-id",
                "m",
            ],
        )
        == 0
    )
    baseline = load_baseline(tmp_path / "out")
    assert baseline.categorical["grade"].categories == ("0", "1", "2", "3")
    window = encoded.iloc[:1_000].astype({"grade": int})
    _captures(tmp_path / "capture", window, capture)
    from finmlops.monitoring.readers import DatasetFormat, open_dataset

    chunks = open_dataset(
        tmp_path / "capture", DatasetFormat("capture"), feature_order=baseline.feature_order
    )
    grade = run_drift(baseline, chunks).feature("grade")
    assert grade.test("unseen_share").value == 0.0


def test_an_unusable_invocation_exits_2_with_a_clear_message(
    byoc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"dataset_source": str(tmp_path), "output_path": str(tmp_path / "out")}
    code = entrypoint.main(["drift", "--baseline", str(tmp_path / "missing")], environ=env)
    assert code == 2
    error = capsys.readouterr().err
    assert "finmlops-monitor drift: error: no baseline.json" in error
    assert baseline_step.main(["--input", str(tmp_path), "--output", str(tmp_path / "o")]) == 2


def test_the_quality_command_joins_captures_and_ground_truth(
    byoc: Path, capture, tmp_path: Path
) -> None:
    (tmp_path / "capture").mkdir()
    (tmp_path / "truth").mkdir()
    with (
        (tmp_path / "capture" / "c.jsonl").open("w") as captures,
        (tmp_path / "truth" / "t.jsonl").open("w") as truth,
    ):
        for i in range(200):
            score = (i % 10) / 10
            record = capture([1.0], event_id=f"e{i}", time="2026-11-28T10:00:00Z", score=score)
            captures.write(json.dumps(record) + "\n")
            if i < 150:
                label = {
                    "groundTruthData": {"data": str(int(score >= 0.5)), "encoding": "CSV"},
                    "eventMetadata": {"eventId": f"e{i}"},
                    "eventVersion": "0",
                }
                truth.write(json.dumps(label) + "\n")
    code = entrypoint.main(
        [
            "quality",
            "--captures",
            str(tmp_path / "capture"),
            "--ground-truth",
            str(tmp_path / "truth"),
            "--output-path",
            str(tmp_path / "out"),
            "--config",
            str(PLATFORM_YAML),
            "--config-model",  # the portfolio's model whose config it is
            "credit-risk",
            "--publish-cloudwatch-metrics",
            "Enabled",
        ],
        environ={},
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "model_quality.json").read_text())
    assert report["cutoff"] == 0.1  # model.cutoff of the config
    assert report["overall"]["label_coverage"] == 0.75
    assert report["overall"]["metrics"]["auc"] == 1.0
    metrics = (byoc / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl").read_text()
    assert '"MetricName": "label_coverage"' in metrics


def test_the_baseline_can_be_fetched_from_s3(
    artifact: Path, table, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        for path in artifact.rglob("*"):
            if path.is_file():
                key = f"baselines/v3/{path.relative_to(artifact).as_posix()}"
                s3.upload_file(str(path), "artifacts", key)
        local = entrypoint.fetch_baseline(s3, "s3://artifacts/baselines/v3", tmp_path / "fetched")
        assert load_baseline(local).baseline_id == load_baseline(artifact).baseline_id
        with pytest.raises(entrypoint.UsageError, match="no baseline artifact"):
            entrypoint.fetch_baseline(s3, "s3://artifacts/baselines/v9", tmp_path / "none")
        (tmp_path / "window").mkdir()
        table(500, 97).to_csv(tmp_path / "window" / "w.csv", index=False)
        code = entrypoint.main(
            [
                "drift",
                "--baseline",
                "s3://artifacts/baselines/v3",
                "--dataset-source",
                str(tmp_path / "window"),
                "--output-path",
                str(tmp_path / "out"),
            ],
            environ={},
        )
        assert code == 0
        written = sorted(p.name for p in (tmp_path / "out").rglob("*"))
        assert written == [
            "constraint_violations.json",
            "drift_report.html",
            "drift_report.json",
            "statistics.json",
        ]


def test_the_container_copy_of_the_package_starts_every_entry_point_it_serves(
    tmp_path: Path,
) -> None:
    """The Dockerfile copies src/finmlops without the emulator and the shipped data; that copy
    imports the monitoring, evidence and tracking entry points, and every monitoring module the
    commands import when they run (the entry point defers them)."""
    import shutil
    import subprocess
    import sys

    image = tmp_path / "image" / "finmlops"
    shutil.copytree(REPO / "src" / "finmlops", image, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(image / "emulator")
    for data in (image / "data").glob("*.csv"):
        data.unlink()
    dockerfile = (REPO / "docker" / "monitoring" / "Dockerfile").read_text()
    assert "COPY src/finmlops /opt/finmlops/finmlops" in dockerfile
    assert "rm -rf /opt/finmlops/finmlops/emulator" in dockerfile
    assert 'ENTRYPOINT ["python", "-m", "finmlops.monitoring"]' in dockerfile
    probe = (
        "import finmlops, finmlops.monitoring.entrypoint, finmlops.governance.evidence_step, "
        "finmlops.tracking.track_step, sys, importlib, pkgutil; "
        "import finmlops.monitoring as m; "
        "[importlib.import_module(f'finmlops.monitoring.{i.name}') "
        "for i in pkgutil.iter_modules(m.__path__) if i.name != '__main__']; "
        "assert finmlops.__file__.startswith(sys.argv[1]), finmlops.__file__"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "image")],
        env={"PYTHONPATH": str(tmp_path / "image"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_quality_before_any_label_has_arrived_reports_zero_coverage(
    byoc: Path, capture, tmp_path: Path
) -> None:
    (tmp_path / "capture").mkdir()
    with (tmp_path / "capture" / "c.jsonl").open("w") as handle:
        for i in range(20):
            record = capture([1.0], event_id=f"e{i}", time="2026-11-28T10:00:00Z", score=0.2)
            handle.write(json.dumps(record) + "\n")
    code = entrypoint.main(
        [
            "quality",
            "--captures",
            str(tmp_path / "capture"),
            "--ground-truth",
            str(tmp_path / "not-yet"),
            "--output-path",
            str(tmp_path / "out"),
            "--cutoff",
            "0.5",
        ],
        environ={},
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "model_quality.json").read_text())
    assert report["overall"]["captured"] == 20
    assert report["overall"]["label_coverage"] == 0.0


def test_thresholds_passed_as_json_arguments_override_the_baseline(
    artifact: Path, table, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "window").mkdir()
    current = table(2_000, 96)
    current["rate"] += 0.45  # W1/sd about 0.15: drift at 0.1, not at 0.5
    current.to_csv(tmp_path / "window" / "w.csv", index=False)

    def drifted(*extra: str) -> int:
        out = tmp_path / f"out-{len(extra)}"
        args = ["drift", "--dataset-source", str(tmp_path / "window"), "--baseline", str(artifact)]
        assert entrypoint.main([*args, "--output-path", str(out), *extra], environ={}) == 0
        return json.loads((out / "drift_report.json").read_text())["dataset"]["drifted_features"]

    assert drifted() == 1
    lenient = DriftThresholds(wasserstein=0.5, psi_act=1.0).model_dump_json()
    assert drifted("--drift-thresholds", lenient, "--dataset-drift-share", "0.5") == 0
    bad = entrypoint.main(
        ["drift", "--baseline", str(artifact), "--drift-thresholds", '{"psi_watch": 0.3}'],
        environ={},
    )
    assert bad == 2
    assert "psi_watch must be below psi_act" in capsys.readouterr().err
