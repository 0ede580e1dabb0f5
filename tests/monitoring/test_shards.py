"""A drift run spread over N instances judges the window exactly as one instance does.

Real shipped data (Lending Club, through the build's preprocess and baseline steps) with a
planted shift in `int_rate`, captured as SageMaker data-capture files under hour folders. The
single `drift` command and the sharded path (`manifest` lists the window, each instance runs
`partial` on its share, `merge` judges) are run through the entry point as the pipeline runs
them; the report, statistics, violations and metrics must be the same, for N in {2, 3}, for
the emulator's share of objects and another one (AWS does not say which instance gets which
object), and with more instances than files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from shipped_baseline import build_shipped_baseline, int_rate_shifted

from finmlops.emulator.aws.executor import instance_objects, write_resource_config
from finmlops.monitoring import entrypoint
from finmlops.monitoring.cloudwatch import METRICS_FILE
from finmlops.monitoring.sources import manifest_document, window_objects

END = "2026-11-28T13:00:00Z"
HOURS = ("2026/11/28/12", "2026/11/28/12", "2026/11/28/12", "2026/11/28/12", "2026/11/28/12")
FILES = 7


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The deployed version's baseline from the shipped data, and the test rows with int_rate
    shifted by 30 % (the planted shift)."""
    root = tmp_path_factory.mktemp("shards")
    config, rows = build_shipped_baseline(root)
    return {"root": root, "config": config, "rows": int_rate_shifted(config, rows)}


def _write_captures(
    folder: Path, rows: pd.DataFrame, capture: Callable[..., Any], files: int
) -> list[Path]:
    """Rows spread unevenly over `files` capture files in hour folders, one malformed line
    among them (an unreadable record must be counted once, whichever shard reads it)."""
    written = []
    bounds = [
        0,
        *sorted({len(rows) * k * k // (files * files) for k in range(1, files)}),
        len(rows),
    ]
    for index in range(len(bounds) - 1):
        part = rows.iloc[bounds[index] : bounds[index + 1]]
        path = folder / "2026/11/28/12" / f"part-{index:02d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as handle:
            for i, row in enumerate(part.itertuples(index=False)):
                values = ["" if pd.isna(v) else v for v in row]
                record = capture(values, event_id=f"e{index}-{i}", time="2026-11-28T12:30:00Z")
                handle.write(json.dumps(record) + "\n")
            if index == 1:
                handle.write("{not json\n")
        written.append(path)
    return written


def _common(built: dict[str, Any], out: Path, metrics: Path) -> list[str]:
    return [
        "--baseline",
        str(built["root"] / "baseline"),
        "--end-time",
        END,
        "--output-path",
        str(out),
        "--publish-cloudwatch-metrics",
        "Enabled",
        "--metrics-dir",
        str(metrics),
    ]


def _results(out: Path, metrics: Path) -> dict[str, Any]:
    report = json.loads((out / "drift_report.json").read_text())
    report["window"]["shards"] = None  # how many shards ran: the one field that may differ
    return {
        "report": report,
        "statistics": json.loads((out / "statistics.json").read_text()),
        "violations": json.loads((out / "constraint_violations.json").read_text()),
        "metrics": (metrics / METRICS_FILE).read_text(),
    }


def _single(built: dict[str, Any], source: Path, tmp: Path) -> dict[str, Any]:
    out, metrics = tmp / "single", tmp / "single-metrics"
    args = ["drift", "--dataset-source", str(source), *_common(built, out, metrics)]
    assert entrypoint.main(args, environ={}) == 0
    return _results(out, metrics)


def _sharded(
    built: dict[str, Any],
    source: Path,
    files: list[Path],
    shards: int,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    share: Callable[[list[Any], int, int], list[Any]],
) -> tuple[dict[str, Any], list[int]]:
    """Each instance gets its share of the files in its own container root (with its own
    resourceconfig.json, as SageMaker writes it) and runs `partial`; `merge` judges."""
    objects = [(p, p.relative_to(source).as_posix()) for p in files]
    partials, sizes = tmp / "partials-out", []
    for index in range(shards):
        root = tmp / f"instance-{index + 1}"
        write_resource_config(root, index + 1, shards)
        mine = share(objects, index, shards)
        sizes.append(len(mine))
        local = root / "opt/ml/processing/input/endpoint"
        for path, relative in mine:
            (local / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, local / relative)
        monkeypatch.setenv(entrypoint.CONTAINER_ROOT_ENV, str(root))
        args = ["partial", "--dataset-source", str(local), *_common(built, partials, tmp / "x")]
        assert entrypoint.main(args, environ={}) == 0
    monkeypatch.delenv(entrypoint.CONTAINER_ROOT_ENV)
    window = tmp / "window.json"
    window.write_text(json.dumps({"objects": len(files)}))
    out, metrics = tmp / "merged", tmp / "merged-metrics"
    args = [
        "merge",
        "--partials",
        str(partials / "partials"),
        "--expect-shards",
        str(shards),
        "--window",
        str(window),
        *_common(built, out, metrics),
    ]
    assert entrypoint.main(args, environ={}) == 0
    return _results(out, metrics), sizes


def _emulator_share(objects: list[Any], index: int, shards: int) -> list[Any]:
    return instance_objects(objects, "ShardedByS3Key", index, shards)


def _contiguous_share(objects: list[Any], index: int, shards: int) -> list[Any]:
    """Another disjoint cover: consecutive runs, from the end (nothing may depend on which)."""
    backwards = list(reversed(objects))
    size = -(-len(backwards) // shards)
    return backwards[index * size : (index + 1) * size]


@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize("share", [_emulator_share, _contiguous_share])
def test_n_shards_give_the_verdicts_and_statistics_of_one_instance_on_real_data(
    built: dict[str, Any],
    capture: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shards: int,
    share: Callable[[list[Any], int, int], list[Any]],
) -> None:
    source = tmp_path / "captures"
    files = _write_captures(source, built["rows"], capture, FILES)
    single = _single(built, source, tmp_path)
    merged, sizes = _sharded(built, source, files, shards, tmp_path, monkeypatch, share)
    assert sum(sizes) == FILES and all(sizes)
    # The planted shift is found, by both, with the same statistics to the last digit.
    assert single["report"]["dataset"]["drifted_feature_names"] == ["int_rate"]
    assert single["report"]["window"]["bad_records"]["count"] == 1
    assert merged == single


def test_more_instances_than_files_leaves_empty_shards_and_the_same_result(
    built: dict[str, Any],
    capture: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "captures"
    files = _write_captures(source, built["rows"].iloc[:900], capture, 2)
    single = _single(built, source, tmp_path)
    merged, sizes = _sharded(built, source, files, 3, tmp_path, monkeypatch, _emulator_share)
    assert sizes == [1, 1, 0]  # algo-3 got no object: no input folder at all
    assert merged == single
    empty = json.loads((tmp_path / "partials-out/partials/algo-3/partial.json").read_text())
    assert (empty["rows"], empty["files"], empty["shards"]) == (0, 0, ["algo-3"])


def _partials(built: dict[str, Any], source: Path, tmp: Path, shards: list[str]) -> Path:
    for shard in shards:
        args = ["partial", "--dataset-source", str(source), "--shard", shard]
        assert entrypoint.main([*args, *_common(built, tmp / "p", tmp / "m")], environ={}) == 0
    return tmp / "p" / "partials"


def test_the_merge_refuses_a_window_a_shard_is_missing_from_and_writes_nothing(
    built: dict[str, Any], capture: Callable[..., Any], tmp_path: Path
) -> None:
    source = tmp_path / "captures"
    _write_captures(source, built["rows"].iloc[:300], capture, 2)
    partials = _partials(built, source, tmp_path, ["algo-1", "algo-2"])
    out = tmp_path / "out"
    base = ["merge", "--partials", str(partials), *_common(built, out, tmp_path / "metrics")]
    assert entrypoint.main([*base, "--expect-shards", "3"], environ={}) == 2
    window = tmp_path / "window.json"
    window.write_text(json.dumps({"objects": 5}))  # the shards read 2 x 2 files, not 5
    assert (
        entrypoint.main([*base, "--expect-shards", "2", "--window", str(window)], environ={}) == 2
    )
    assert not out.exists() and not (tmp_path / "metrics").exists()


def test_the_manifest_lists_the_windows_hours_in_sagemakers_manifest_format(tmp_path: Path) -> None:
    """ProcessingS3Input ManifestFile (SageMaker API Reference, S3DataSource.S3Uri): a prefix
    followed by one or more suffixes; an hour outside the window is left out, as the single
    step's download leaves it out; an empty window has no manifest and `objects: 0`."""
    prefix = "capture/credit-risk-prod/AllTraffic/"
    keys = [
        f"{prefix}2026/11/28/12/a.jsonl",
        f"{prefix}2026/11/28/12/b.jsonl",
        f"{prefix}2026/11/28/11/old.jsonl",  # the previous run's hour
        f"{prefix}2026/11/28/13/later.jsonl",  # after the window's end
    ]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="capture")
        for key in keys:
            s3.put_object(Bucket="capture", Key=key, Body=b"{}\n")

        def run(source: str, out: Path) -> dict[str, Any]:
            args = ["manifest", "--dataset-source", source, "--end-time", END]
            args += ["--lookback-hours", "1", "--region", "us-east-1", "--output-path", str(out)]
            assert entrypoint.main(args, environ={}) == 0
            window: dict[str, Any] = json.loads((out / "window.json").read_text())
            return window

        window = run(f"s3://capture/{prefix}", tmp_path / "m")
        listed = window_objects(
            s3, f"s3://capture/{prefix}", end=pd.Timestamp(END).to_pydatetime(), lookback_hours=1
        )
        empty = run("s3://capture/capture/credit-risk-stage/AllTraffic/", tmp_path / "e")
    document = json.loads((tmp_path / "m" / "captures.manifest").read_text())
    assert document == [
        {"prefix": f"s3://capture/{prefix}"},
        "2026/11/28/12/a.jsonl",
        "2026/11/28/12/b.jsonl",
    ]
    assert document == manifest_document(listed)
    assert (window["objects"], window["skipped"], window["manifest"]) == (2, 2, "captures.manifest")
    assert (empty["objects"], empty["manifest"]) == (0, None)
    assert not (tmp_path / "e" / "captures.manifest").exists()


def test_the_manifest_refuses_a_source_that_is_not_an_s3_prefix(tmp_path: Path) -> None:
    args = ["manifest", "--dataset-source", str(tmp_path), "--output-path", str(tmp_path / "o")]
    assert entrypoint.main(args, environ={}) == 2
    assert not (tmp_path / "o").exists()
