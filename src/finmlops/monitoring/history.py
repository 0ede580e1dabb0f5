"""Earlier drift runs, for the report's trend: what each window's drift_report.json says.

A scheduled run writes its outputs under one folder per execution below the schedule's output
prefix (cdk/monitoring.py: `s3://<bucket>/datadrift/<endpoint>/<execution id>/`). The drift job
reads the `drift_report.json` files it finds under that prefix, or under a local folder offline,
and keeps the newest `limit` windows: the listing is bounded (at most `MAX_LISTED` keys looked
at), each file is read once, and a file that is not a drift report is counted and skipped, never
fatal: the trend is context for this window's verdict, not part of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_NAME = "drift_report.json"
DEFAULT_LIMIT = 8
MAX_LISTED = 5_000
MAX_REPORT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class WindowSummary:
    """One window's figures as the trend shows them."""

    end: str
    rows: int
    drift_share: float
    threshold: float
    drifted: tuple[str, ...]
    psi: Mapping[str, float | None]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> WindowSummary:
        window, dataset = document["window"], document["dataset"]
        psi: dict[str, float | None] = {}
        for feature in document.get("features") or []:
            value = next((t.get("value") for t in feature.get("tests") or []
                          if t.get("name") == "psi"), None)  # fmt: skip
            psi[str(feature["name"])] = float(value) if isinstance(value, int | float) else None
        return cls(
            end=str(window.get("end") or ""),
            rows=int(window.get("rows") or 0),
            drift_share=float(dataset.get("drift_share") or 0.0),
            threshold=float(dataset.get("threshold") or 0.0),
            drifted=tuple(
                str(f["name"]) for f in document.get("features") or [] if f.get("drifted")
            ),
            psi=psi,
        )


@dataclass(frozen=True)
class History:
    source: str
    limit: int
    windows: tuple[WindowSummary, ...] = ()
    skipped: int = 0
    problems: tuple[str, ...] = field(default=())


def _summaries(
    documents: list[tuple[str, bytes]], source: str, limit: int, exclude_end: str
) -> History:
    windows: list[WindowSummary] = []
    problems: list[str] = []
    for name, body in documents:
        try:
            summary = WindowSummary.of(json.loads(body))
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{name}: not a drift report ({error})")
            continue
        if summary.end and summary.end == exclude_end:
            continue  # this very window, when a run is repeated into the same prefix
        windows.append(summary)
    windows.sort(key=lambda w: w.end)
    return History(source, limit, tuple(windows[-limit:]), len(problems), tuple(problems))


def read_local(folder: str | Path, *, limit: int = DEFAULT_LIMIT, exclude_end: str = "") -> History:
    """The reports under `folder` (the folder itself and one level of run folders below it)."""
    root = Path(folder)
    paths = sorted([*root.glob(REPORT_NAME), *root.glob(f"*/{REPORT_NAME}")])[:MAX_LISTED]
    # Newest files first by modification time, as S3's LastModified: a bounded read.
    paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    documents = [
        (str(p), p.read_bytes()) for p in paths[: limit + 1] if p.stat().st_size <= MAX_REPORT_BYTES
    ]
    return _summaries(documents, str(root), limit, exclude_end)


def read_s3(
    s3_client: Any, uri: str, *, limit: int = DEFAULT_LIMIT, exclude_end: str = ""
) -> History:
    """The newest reports under the s3:// prefix `uri`, read with the job's own S3 client."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"history: {uri!r} names no bucket")
    found: list[Mapping[str, Any]] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [o for o in page.get("Contents") or [] if o["Key"].endswith("/" + REPORT_NAME)]
        if len(found) >= MAX_LISTED:
            break
    found.sort(key=lambda o: o["LastModified"], reverse=True)
    documents = [
        (
            f"s3://{bucket}/{o['Key']}",
            s3_client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read(),
        )
        for o in found[: limit + 1]
        if o.get("Size", 0) <= MAX_REPORT_BYTES
    ]
    return _summaries(documents, uri, limit, exclude_end)


def read_history(
    source: str, *, s3_client: Any = None, limit: int = DEFAULT_LIMIT, exclude_end: str = ""
) -> History:
    if source.startswith("s3://"):
        if s3_client is None:
            raise ValueError("history: an s3:// prefix needs an S3 client")
        return read_s3(s3_client, source, limit=limit, exclude_end=exclude_end)
    return read_local(source, limit=limit, exclude_end=exclude_end)
