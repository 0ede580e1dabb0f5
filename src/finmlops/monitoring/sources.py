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
    bucket, prefix = _split(uri)
    destination.mkdir(parents=True, exist_ok=True)
    low = high = None
    if end is not None and lookback_hours is not None:
        high = end
        low = end - timedelta(hours=lookback_hours)
    taken = skipped = 0
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
                continue
            relative = key[len(prefix) :].lstrip("/") or Path(key).name
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
            taken += 1
    return Fetched(destination, taken, skipped)
