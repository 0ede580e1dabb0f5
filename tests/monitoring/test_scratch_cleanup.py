"""The entry point removes what it downloads from S3 (`finmlops-captures-*`,
`finmlops-ground-truth-*`) whatever way a run ends: success, a reported failure, an exception
nobody expected, a SIGTERM from SageMaker stopping the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.monitoring import entrypoint, quality

BUCKET = "capture"
CAPTURES = f"s3://{BUCKET}/capture/credit-risk-prod/AllTraffic/"
TRUTH = f"s3://{BUCKET}/ground-truth/credit-risk-prod/"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The system's temporary folder, pointed at one the test owns and can list."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def s3(capture: Any) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        lines = [
            json.dumps(capture([1.0], event_id=f"e{i}", time="2026-11-28T10:05:00Z", score=0.1 * i))
            for i in range(10)
        ]
        client.put_object(
            Bucket=BUCKET,
            Key="capture/credit-risk-prod/AllTraffic/2026/11/28/10/c.jsonl",
            Body="\n".join(lines).encode(),
        )
        truth = [
            json.dumps(
                {
                    "groundTruthData": {"data": str(int(i >= 5)), "encoding": "CSV"},
                    "eventMetadata": {"eventId": f"e{i}"},
                    "eventVersion": "0",
                }
            )
            for i in range(10)
        ]
        client.put_object(
            Bucket=BUCKET,
            Key="ground-truth/credit-risk-prod/2026/11/28/11/t.jsonl",
            Body="\n".join(truth).encode(),
        )
        yield client


def _quality(tmp_path: Path, *extra: str) -> int:
    return entrypoint.main(
        [
            "quality",
            "--captures",
            CAPTURES,
            "--ground-truth",
            TRUTH,
            "--cutoff",
            "0.5",
            "--end-time",
            "2026-11-28T12:00:00Z",
            "--lookback-hours",
            "25",
            "--region",
            "us-east-1",
            "--output-path",
            str(tmp_path / "out"),
            *extra,
        ],
        environ={},
    )


def test_downloads_are_removed_after_a_successful_run(
    s3: Any, scratch: Path, tmp_path: Path
) -> None:
    assert _quality(tmp_path) == 0
    report = json.loads((tmp_path / "out" / "model_quality.json").read_text())
    assert report["overall"]["labelled"] == 10  # the downloads were read before removal
    assert list(scratch.iterdir()) == []


def test_downloads_are_removed_after_a_reported_failure(
    s3: Any, scratch: Path, tmp_path: Path
) -> None:
    code = entrypoint.main(
        [
            "drift",
            "--dataset-source",
            CAPTURES,
            "--baseline",
            str(tmp_path / "no-baseline"),
            "--end-time",
            "2026-11-28T11:00:00Z",
            "--lookback-hours",
            "1",
            "--region",
            "us-east-1",
            "--output-path",
            str(tmp_path / "out"),
        ],
        environ={},
    )
    assert code == 2  # the captures were fetched, then the baseline was missing
    assert list(scratch.iterdir()) == []


def test_downloads_are_removed_when_the_run_raises_an_unexpected_exception(
    s3: Any, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(quality, "compute_model_quality", broken)
    with pytest.raises(RuntimeError, match="nobody foresaw"):
        _quality(tmp_path)
    assert list(scratch.iterdir()) == []


def test_a_stopped_job_removes_its_downloads(scratch: Path, tmp_path: Path) -> None:
    """SageMaker stops a processing job with SIGTERM: the container's `python -m` entry point
    turns it into an orderly exit. The run here waits inside its scratch folder's lifetime."""
    probe = (
        "import tempfile, time, contextlib\n"
        "from finmlops.monitoring import entrypoint\n"
        "def wait(args):\n"
        "    args.scratch.enter_context(tempfile.TemporaryDirectory(prefix='finmlops-captures-'))\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "    return 0\n"
        "entrypoint.run_drift_command = wait\n"
        "import runpy\n"
        "runpy.run_module('finmlops.monitoring', run_name='__main__')\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(
        [sys.executable, "-c", probe, "drift", "--output-path", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        assert [p.name[:18] for p in scratch.iterdir()] == ["finmlops-captures-"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    assert list(scratch.iterdir()) == []  # removed before the process exited
