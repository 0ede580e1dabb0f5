"""The append-only audit trail: one write-once S3 object per record, exported for examiners."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from finmlops.contracts import AuditRecord, Promotion
from finmlops.registry.storage import (
    Clock,
    ObjectLock,
    iso,
    list_keys,
    put_new,
    read_text,
    time_key,
    utc_now,
)
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CSV_COLUMNS: tuple[str, ...] = tuple(AuditRecord.__dataclass_fields__)


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    group: str = ""
    actions: frozenset[str] = field(default_factory=frozenset)
    model_package_arn: str = ""

    def accepts(self, record: AuditRecord) -> bool:
        return (
            (not self.group or record.model_package_group == self.group)
            and (not self.actions or record.action in self.actions)
            and (not self.model_package_arn or record.model_package_arn == self.model_package_arn)
            and (self.until is None or record.at <= iso(self.until))
            and (self.since is None or record.at >= iso(self.since))
        )


class AuditTrail:
    """Records under `prefix` in the audit bucket, keyed by time, never overwritten."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        prefix: str = Promotion.AUDIT_PREFIX,
        lock: ObjectLock | None = None,
        clock: Clock = utc_now,
    ):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.lock = lock
        self.clock = clock

    def append(
        self,
        action: str,
        actor: str,
        *,
        version: ModelVersion | None = None,
        group: str = "",
        environment: str = "",
        reason: str = "",
        evidence: Mapping[str, str] | None = None,
        previous_state: Mapping[str, str] | None = None,
        details: Mapping[str, str] | None = None,
    ) -> AuditRecord:
        now = self.clock()
        key = time_key(self.prefix, now, action)
        record = AuditRecord(
            record_id=key.removeprefix(self.prefix).removesuffix(".json"),
            at=iso(now),
            action=action,
            actor=actor,
            model_package_group=version.group if version else group,
            model_package_arn=version.arn if version else "",
            version=version.version if version else None,
            environment=environment,
            reason=reason,
            evidence=dict(evidence or {}),
            previous_state=dict(previous_state or {}),
            details={k: str(v) for k, v in (details or {}).items()},
        )
        put_new(self.s3, self.bucket, key, record.to_json(), lock=self.lock, now=now)
        return record

    def key_of(self, record_id: str) -> str:
        return f"{self.prefix}{record_id}.json"

    def records(self, where: AuditFilter | None = None) -> list[AuditRecord]:
        """Records in time order; a `since` bound skips the days before it without reading them."""
        where = where or AuditFilter()
        start_after = ""
        if where.since is not None:
            # Keys start with the UTC day: everything before that day's folder sorts before it.
            start_after = f"{self.prefix}{where.since.astimezone(UTC):%Y/%m/%d}/"
        found: list[AuditRecord] = []
        for key in list_keys(self.s3, self.bucket, self.prefix, start_after):
            record = AuditRecord.from_json(read_text(self.s3, self.bucket, key))
            if where.accepts(record):
                found.append(record)
        return found


def _cell(value: object) -> str:
    if isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True) if value else ""
    else:
        text = "" if value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula (CSV injection).
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def to_csv(records: Iterable[AuditRecord], columns: Sequence[str] = CSV_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        data = asdict(record)
        writer.writerow([_cell(data[c]) for c in columns])
    return out.getvalue()


def to_json(records: Iterable[AuditRecord]) -> str:
    return json.dumps([asdict(r) for r in records], sort_keys=True, indent=2) + "\n"
