"""Inputs read straight from S3 by the job, limited to the hours a run needs.

SageMaker writes captured data (and the platform writes ground truth) under hour folders,
`<prefix>/.../yyyy/mm/dd/hh/`. A scheduled job handed the whole prefix as a processing input
would download every hour ever captured, and would fail outright while the prefix is still empty
(no traffic yet, no labels yet). Given an `s3://` source instead, the job lists the prefix,
keeps the objects whose hour falls in [end - lookback, end), and downloads only those; an empty
result is an empty window, which the engine reports as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


@dataclass(frozen=True)
class Fetched:
    path: Path
    objects: int
    skipped: int  # objects outside the hours asked for


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return bucket, prefix


def hour_of(key: str) -> datetime | None:
    """The hour folder a key sits under, or None when it has none."""
    match = _HOUR.search(key)
    if not match:
        return None
    year, month, day, hour = (int(g) for g in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


@dataclass(frozen=True)
class WindowObjects:
    """The objects under an S3 prefix whose hour folder falls in the run's window."""

    bucket: str
    prefix: str
    keys: tuple[str, ...]  # full keys, in S3's listing order (UTF-8 binary order)
    skipped: int  # objects outside the hours asked for


def window_objects(
    s3: Any, uri: str, *, end: datetime | None = None, lookback_hours: float | None = None
) -> WindowObjects:
    """List the objects under `uri` whose hour folder is in [end - lookback, end).

    Without `end` or `lookback_hours` every object is taken. Keys without an hour folder are
    always taken (a baseline, a single labels file); folder markers (keys ending in `/`) never.
    """
    bucket, prefix = _split(uri)
    low = high = None
    if end is not None and lookback_hours is not None:
        high = end
        low = end - timedelta(hours=lookback_hours)
    keys: list[str] = []
    skipped = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            hour = hour_of(key[len(prefix) :] if key.startswith(prefix) else key)
            # An hour folder [h, h+1) overlaps the window when h < high and h + 1h > low.
            outside = (
                hour is not None
                and low is not None
                and high is not None
                and not (hour < high and hour + timedelta(hours=1) > low)
            )
            if outside:
                skipped += 1
            else:
                keys.append(key)
    return WindowObjects(bucket, prefix, tuple(keys), skipped)


def fetch(
    s3: Any,
    uri: str,
    destination: Path,
    *,
    end: datetime | None = None,
    lookback_hours: float | None = None,
) -> Fetched:
    """Download the objects under `uri` whose hour folder is in [end - lookback, end).

    Without `end` or `lookback_hours` every object is taken. Keys without an hour folder are
    always taken (a baseline, a single labels file). `destination` exists afterwards, even when
    nothing matched.
    """
    found = window_objects(s3, uri, end=end, lookback_hours=lookback_hours)
    destination.mkdir(parents=True, exist_ok=True)
    for key in found.keys:
        relative = key[len(found.prefix) :].lstrip("/") or Path(key).name
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(found.bucket, key, str(target))
    return Fetched(destination, len(found.keys), found.skipped)


def manifest_document(found: WindowObjects) -> list[Any]:
    """A SageMaker manifest of the window's objects, or [] when there is none.

    The format is the one ProcessingS3Input and S3DataSource take with `S3DataType:
    ManifestFile` (SageMaker API Reference, S3DataSource.S3Uri): a JSON array whose first
    element is `{"prefix": "s3://bucket/prefix/"}` and whose other elements are suffixes that
    SageMaker appends to that prefix; "the prefix must be a valid non-empty S3Uri", so every
    object of one manifest sits in one bucket (the capture bucket's endpoint prefix here). The
    same page says a prefix is "followed by one or more suffixes": a manifest of no object is
    not a manifest, so an empty window gets none and the pipeline judges it without shards.
    """
    if not found.keys:
        return []
    base = found.prefix if not found.prefix or found.prefix.endswith("/") else found.prefix + "/"
    suffixes = [key[len(base) :] if key.startswith(base) else None for key in found.keys]
    if any(not suffix for suffix in suffixes):
        # A key equal to the prefix itself, or outside it, cannot be written as a suffix.
        raise ValueError(f"s3://{found.bucket}/{found.prefix} is an object, not a folder prefix")
    return [{"prefix": f"s3://{found.bucket}/{base}"}, *suffixes]
