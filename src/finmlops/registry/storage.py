"""Write-once JSON objects in S3: audit records, promotion claims and deployment history.

Every write is a conditional create (If-None-Match: *), so nothing written here can be replaced
through the API; on the Object Lock audit bucket, compliance retention keeps it from deletion too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from finmlops.registry.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ObjectLock:
    """Retention applied to each object on write, for buckets without a default retention."""

    days: int
    mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"retention days must be >= 1 (got {self.days})")


def time_key(prefix: str, moment: datetime, label: str) -> str:
    """A key that sorts by time: prefix/YYYY/MM/DD/<UTC timestamp>-<label>-<random>.json."""
    at = moment.astimezone(UTC)
    return f"{prefix}{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%S.%fZ}-{label}-{uuid.uuid4().hex[:8]}.json"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def put_new(
    s3: S3Client,
    bucket: str,
    key: str,
    body: str,
    *,
    lock: ObjectLock | None = None,
    now: datetime | None = None,
) -> None:
    """Create the object; raise ConflictError when it already exists (it is never overwritten)."""
    extra: dict[str, Any] = {}
    if lock:
        extra["ObjectLockMode"] = lock.mode
        extra["ObjectLockRetainUntilDate"] = (now or utc_now()) + timedelta(days=lock.days)
        # Object Lock writes need an integrity checksum.
        extra["ChecksumAlgorithm"] = "SHA256"
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ContentType="application/json",
            IfNoneMatch="*",
            **extra,
        )
    except ClientError as exc:
        # 412 when the key exists; 409 when a concurrent conditional write to it is in flight.
        if _code(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}:
            raise ConflictError(
                f"s3://{bucket}/{key} already exists and is never overwritten"
            ) from None
        _raise_missing_bucket(exc, bucket)
        raise


def _raise_missing_bucket(exc: ClientError, bucket: str) -> None:
    if _code(exc) == "NoSuchBucket":
        raise NotFoundError(f"bucket {bucket!r} does not exist") from None


def read_text(s3: S3Client, bucket: str, key: str) -> str:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _code(exc) in {"NoSuchKey", "404"}:
            raise NotFoundError(f"s3://{bucket}/{key} does not exist") from None
        _raise_missing_bucket(exc, bucket)
        raise
    return body.decode("utf-8")


def list_keys(s3: S3Client, bucket: str, prefix: str, start_after: str = "") -> Iterator[str]:
    """Keys under prefix in ascending order (which is time order for `time_key` keys)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                yield item["Key"]
    except ClientError as exc:
        _raise_missing_bucket(exc, bucket)
        raise
