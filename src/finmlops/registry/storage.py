"""Write-once JSON objects in S3: audit records, promotion claims and deployment history.

Every write is a conditional create (If-None-Match: *), so a writer never replaces an object; on
the audit bucket a bucket policy denies any write without that header (`s3:if-none-match`), and
compliance retention keeps each version from deletion. What slipped through anyway shows as a
second object version or a delete marker: `list_versions` lets readers see both.
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
) -> str:
    """Create the object and return its version id ("" on an unversioned bucket); raise
    ConflictError when the key already exists (it is never overwritten)."""
    extra: dict[str, Any] = {}
    if lock:
        extra["ObjectLockMode"] = lock.mode
        extra["ObjectLockRetainUntilDate"] = (now or utc_now()) + timedelta(days=lock.days)
        # Object Lock writes need an integrity checksum.
        extra["ChecksumAlgorithm"] = "SHA256"
    try:
        response = s3.put_object(
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
    return str(response.get("VersionId") or "")


def _raise_missing_bucket(exc: ClientError, bucket: str) -> None:
    if _code(exc) == "NoSuchBucket":
        raise NotFoundError(f"bucket {bucket!r} does not exist") from None


def read_text(s3: S3Client, bucket: str, key: str, version_id: str = "") -> str:
    """The object's text; with `version_id`, that version's (never a later one)."""
    try:
        if version_id:
            response = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
        else:
            response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as exc:
        if _code(exc) in {"NoSuchKey", "NoSuchVersion", "404"}:
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


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of ListObjectVersions: an object version, or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime
    delete_marker: bool = False


def list_versions(s3: S3Client, bucket: str, prefix: str) -> Iterator[ObjectVersion]:
    """Every version and delete marker under prefix (ListObjectVersions, 1,000 per request).

    On a versioned bucket an overwrite is a second version and a delete a marker, so this is
    what shows either (docs: "Retrieving object versions from a versioning-enabled bucket")."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                yield ObjectVersion(
                    item["Key"], str(item.get("VersionId") or ""), item["LastModified"]
                )
            for marker in page.get("DeleteMarkers", []):
                yield ObjectVersion(
                    marker["Key"],
                    str(marker.get("VersionId") or ""),
                    marker["LastModified"],
                    delete_marker=True,
                )
    except ClientError as exc:
        _raise_missing_bucket(exc, bucket)
        raise


@dataclass(frozen=True)
class Retention:
    """An Object Lock retention: the object's own, or a bucket's default (then `days`)."""

    mode: str
    until: datetime | None = None
    days: int | None = None


def object_retention(s3: S3Client, bucket: str, key: str, version_id: str = "") -> Retention | None:
    """GetObjectRetention of one version; None when the version has no retention.

    S3 answers NoSuchObjectLockConfiguration for a version without retention (API reference,
    GetObjectRetention); the caller needs s3:GetObjectRetention."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        found = s3.get_object_retention(**kwargs).get("Retention") or {}
    except ClientError as exc:
        if _code(exc) in {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}:
            return None
        if _code(exc) in {"NoSuchKey", "NoSuchVersion", "404"}:
            raise NotFoundError(f"s3://{bucket}/{key} does not exist") from None
        _raise_missing_bucket(exc, bucket)
        raise
    if not found.get("Mode"):
        return None
    until = found.get("RetainUntilDate")
    return Retention(str(found["Mode"]), until.astimezone(UTC) if until else None)


def bucket_default_retention(s3: S3Client, bucket: str) -> Retention | None:
    """The bucket's default Object Lock retention (GetObjectLockConfiguration), or None when
    Object Lock is off or has no default rule. S3 applies it to objects as they are written,
    never to objects already there (docs: "Using S3 Object Lock", bucket configuration)."""
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if _code(exc) == "ObjectLockConfigurationNotFoundError":
            return None
        _raise_missing_bucket(exc, bucket)
        raise
    rule = (config.get("Rule") or {}).get("DefaultRetention") or {}
    if config.get("ObjectLockEnabled") != "Enabled" or not rule.get("Mode"):
        return None
    days = int(rule.get("Days") or 0) or 365 * int(rule.get("Years") or 0)
    return Retention(str(rule["Mode"]), days=days)
