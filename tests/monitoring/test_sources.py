"""Jobs read S3 sources themselves, only the hours they need; an empty prefix is an empty window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
from moto import mock_aws

from finmlops.monitoring.sources import fetch, hour_of

END = datetime(2026, 11, 28, 12, tzinfo=UTC)


def put_hours(s3, prefix: str, hours: list[int]) -> None:  # type: ignore[no-untyped-def]
    for hour in hours:
        s3.put_object(
            Bucket="capture", Key=f"{prefix}/2026/11/28/{hour:02d}/part.jsonl", Body=b"{}\n"
        )


@mock_aws
def test_only_the_hour_folders_of_the_window_are_downloaded(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="capture")
    put_hours(s3, "capture/credit-risk-prod/AllTraffic", [8, 9, 10, 11, 12])
    fetched = fetch(
        s3,
        "s3://capture/capture/credit-risk-prod/AllTraffic/",
        tmp_path / "in",
        end=END,
        lookback_hours=2,
    )
    assert (fetched.objects, fetched.skipped) == (2, 3)
    got = sorted(
        p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*.jsonl")
    )
    assert got == ["2026/11/28/10/part.jsonl", "2026/11/28/11/part.jsonl"]


@mock_aws
def test_an_empty_prefix_is_an_empty_folder_not_a_failure(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="capture")
    fetched = fetch(
        s3, "s3://capture/ground-truth/", tmp_path / "truth", end=END, lookback_hours=24
    )
    assert fetched.objects == 0
    assert (tmp_path / "truth").is_dir()


@mock_aws
def test_without_a_window_everything_under_the_prefix_is_taken(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="capture")
    put_hours(s3, "p", [1, 23])
    s3.put_object(Bucket="capture", Key="p/labels.jsonl", Body=b"{}\n")
    assert fetch(s3, "s3://capture/p/", tmp_path / "all").objects == 3


def test_hour_folders_are_read_from_the_key() -> None:
    assert hour_of("capture/ep/AllTraffic/2026/11/28/09/x.jsonl") == datetime(
        2026, 11, 28, 9, tzinfo=UTC
    )
    assert hour_of("labels.jsonl") is None
