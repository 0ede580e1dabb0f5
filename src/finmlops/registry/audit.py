"""The append-only audit trail: one hash chain of write-once S3 objects per model package group,
read back only when each record is the one version ever written, and exported for examiners.

Layout: `audit/<group>/<sequence, 12 digits>.json`; records that name no group chain under
`audit/_ungrouped/` (a group name cannot start with "_"). Each record carries its place in the
chain (`sequence`), the hash of the record before it (`previous_hash`; the first one links to
`genesis_hash(chain)`) and its own hash (`hash`: sha256 of the RFC 8785 form of every other
field, `finmlops.registry.canonical`).

Appending is a conditional create of the next sequence number (If-None-Match: *). Two writers
that read the same head race for the same key; S3 lets exactly one create it (412 or 409 for the
other: API reference, PutObject, If-None-Match), and the loser re-reads the head and retries on
the next number, so the chain never forks silently. Costs: an append lists its chain's versions
(one ListObjectVersions request per 1,000 records of the group), reads the head and writes once;
a read lists the chains it needs the same way and reads only records whose S3 LastModified lies
within an hour of the asked time window (`verify` checks every record's time against it).
`finmlops.registry.audit_verify` checks a whole trail: hashes, sequence, versions, retention.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from finmlops.contracts import AuditRecord, Promotion
from finmlops.registry.canonical import CanonicalizationError, canonical_json
from finmlops.registry.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from finmlops.registry.storage import (
    Clock,
    ObjectLock,
    ObjectVersion,
    iso,
    list_versions,
    object_retention,
    put_new,
    read_text,
    utc_now,
)
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CSV_COLUMNS: tuple[str, ...] = tuple(AuditRecord.__dataclass_fields__)
# What S3 holds about each record besides its content: exported next to it.
STORAGE_COLUMNS: tuple[str, ...] = ("version_id", "retention_mode", "retain_until")
EXPORT_COLUMNS: tuple[str, ...] = CSV_COLUMNS + STORAGE_COLUMNS

UNGROUPED = "_ungrouped"
SEQUENCE_DIGITS = 12
# SageMaker's ModelPackageGroupName pattern (API reference, CreateModelPackageGroup).
_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_SEQUENCE = re.compile(rf"^\d{{{SEQUENCE_DIGITS}}}$")
_GENESIS = b"finmlops audit chain v1\x00"
# How far a record's own time may lie from S3's LastModified of it: readers widen a time window
# by this much before they filter on the record's time, and verify flags records beyond it.
CLOCK_TOLERANCE = timedelta(hours=1)
MAX_ATTEMPTS = 8


class AuditIntegrityError(RefusedError):
    """A record of the trail is not the one version ever written, or not what its hash says:
    readers refuse it rather than show it (exit 1, the problems name each record)."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("reading the audit trail", problems)


def chain_of(group: str) -> str:
    """The chain a record of `group` belongs to ("" -> the ungrouped chain)."""
    if not group:
        return UNGROUPED
    if not _GROUP.match(group):
        raise InvalidInputError(
            f"group {group!r} is not a model package group name "
            "([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}): it cannot name an audit chain"
        )
    return group


def genesis_hash(chain: str) -> str:
    """What the first record of a chain links to: bound to the chain's name, so a chain's
    first record cannot be moved to another chain."""
    return "sha256:" + hashlib.sha256(_GENESIS + chain.encode("utf-8")).hexdigest()


def record_hash(data: Mapping[str, Any]) -> str:
    """sha256 of the RFC 8785 form of a stored record without its own `hash` field."""
    content = {k: v for k, v in data.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical_json(content)).hexdigest()


def seal(record: AuditRecord) -> AuditRecord:
    return replace(record, hash=record_hash(asdict(record)))


def record_id(chain: str, sequence: int) -> str:
    return f"{chain}/{sequence:0{SEQUENCE_DIGITS}d}"


@dataclass(frozen=True)
class Link:
    """The head of a chain as a writer sees it: the last sequence number and its hash."""

    sequence: int
    hash: str


@dataclass
class ChainListing:
    """What ListObjectVersions shows of one chain: versions and markers per sequence number."""

    chain: str
    entries: dict[int, list[ObjectVersion]] = field(default_factory=dict)

    def sequences(self) -> list[int]:
        return sorted(self.entries)


@dataclass
class TrailListing:
    chains: dict[str, ChainListing] = field(default_factory=dict)
    # Objects under the prefix that are no chain record (key layout not ours).
    strays: list[ObjectVersion] = field(default_factory=list)


@dataclass(frozen=True)
class StoredRecord:
    """A record with what S3 holds about it: the object version, its time and its retention."""

    record: AuditRecord
    key: str
    version_id: str
    last_modified: datetime
    retention_mode: str = ""
    retain_until: datetime | None = None


def parse(text: str, where: str) -> tuple[dict[str, Any], AuditRecord]:
    """The stored JSON and the record it holds; InvalidInputError names `where` if it is none."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return data, AuditRecord.from_json(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{where} is not an audit record: {exc}") from None


def integrity_problems(
    rid: str, versions: Sequence[ObjectVersion], data: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(kind, message) for each reason a stored record cannot be trusted as read: a delete
    marker ("deleted"), more than one version ("versions"), or content that does not match its
    hash ("hash", checked when `data` is given)."""
    problems: list[tuple[str, str]] = []
    objects = [v for v in versions if not v.delete_marker]
    markers = [v for v in versions if v.delete_marker]
    if markers:
        marker = markers[0]
        problems.append(
            (
                "deleted",
                f"{rid}: deleted (delete marker {marker.version_id} at {iso(marker.last_modified)})",
            )
        )
    if len(objects) > 1:
        ids = ", ".join(v.version_id for v in reversed(objects))  # oldest first
        problems.append(
            (
                "versions",
                f"{rid}: {len(objects)} object versions ({ids}): overwritten after it was written",
            )
        )
    if data is not None:
        try:
            computed = record_hash(data)
        except CanonicalizationError as exc:
            computed = f"(none: {exc})"
        if data.get("hash") != computed:
            problems.append(
                (
                    "hash",
                    f"{rid}: content does not match its hash (stored {data.get('hash') or 'none'}, "
                    f"computed {computed}): edited after it was sealed",
                )
            )
    return problems


def _messages(problems: Iterable[tuple[str, str]]) -> list[str]:
    return [message for _, message in problems]


def original(versions: Sequence[ObjectVersion]) -> ObjectVersion | None:
    """The first object version written under a key (what a chain links to). ListObjectVersions
    lists a key's versions newest first (API reference, ListObjectVersions), and LastModified
    has only second precision there, so the order of the listing decides, not the time."""
    objects = [v for v in versions if not v.delete_marker]
    return objects[-1] if objects else None


class AuditTrail:
    """Records under `prefix` in the audit bucket: hash chains per group, never overwritten."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        prefix: str = Promotion.AUDIT_PREFIX,
        lock: ObjectLock | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.lock = lock
        self.clock = clock
        self.sleep = sleep

    # ------------------------------------------------------------------ writing
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
        """Seal the record onto its group's chain and create it; on a lost race, re-read the
        head and retry on the next number. Raises AuditIntegrityError when the head it would
        link to is tampered with (the chain is not extended), ConflictError after
        MAX_ATTEMPTS lost races."""
        group_name = version.group if version else group
        chain = chain_of(group_name)
        head = self.head(chain)
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock()
            sequence = head.sequence + 1
            record = seal(
                AuditRecord(
                    record_id=record_id(chain, sequence),
                    at=iso(now),
                    action=action,
                    actor=actor,
                    model_package_group=group_name,
                    model_package_arn=version.arn if version else "",
                    version=version.version if version else None,
                    environment=environment,
                    reason=reason,
                    evidence=dict(evidence or {}),
                    previous_state=dict(previous_state or {}),
                    details={k: str(v) for k, v in (details or {}).items()},
                    sequence=sequence,
                    previous_hash=head.hash,
                )
            )
            try:
                put_new(
                    self.s3,
                    self.bucket,
                    self.key_of(record.record_id),
                    record.to_json(),
                    lock=self.lock,
                    now=now,
                )
                return record
            except ConflictError:
                if self._sealed_at(chain, sequence) == record.hash:
                    return record  # our create landed; only its answer was lost (a retry's 412)
                latest = self.head(chain)
                if latest.sequence < sequence:
                    # 409: a rival's create of this number is in flight (or failed): wait.
                    self.sleep(0.05 * (attempt + 1))
                head = latest
        raise ConflictError(
            f"audit chain {chain!r}: lost {MAX_ATTEMPTS} races for the next record; "
            "too many concurrent writers, retry"
        )

    def head(self, chain: str) -> Link:
        """The last record of the chain, checked: one version, no marker, hash as sealed."""
        listing = self.listing(chain).chains.get(chain)
        if listing is None or not listing.entries:
            return Link(0, genesis_hash(chain))
        sequence = listing.sequences()[-1]
        rid = record_id(chain, sequence)
        versions = listing.entries[sequence]
        first = original(versions)
        problems = _messages(integrity_problems(rid, versions))
        if first is None or problems:
            raise AuditIntegrityError(
                [*problems, f"{rid}: the chain's head; nothing is appended after it"]
            )
        data, record = parse(
            read_text(self.s3, self.bucket, self.key_of(rid), first.version_id), rid
        )
        problems = _messages(integrity_problems(rid, versions, data))
        if record.sequence != sequence:
            problems.append(f"{rid}: says it is record {record.sequence} of the chain")
        if problems:
            raise AuditIntegrityError(
                [*problems, f"{rid}: the chain's head; nothing is appended after it"]
            )
        return Link(sequence, str(data["hash"]))

    def _sealed_at(self, chain: str, sequence: int) -> str | None:
        """The hash stored at that number, or None when nothing readable is there."""
        try:
            text = read_text(self.s3, self.bucket, self.key_of(record_id(chain, sequence)))
            return str(json.loads(text).get("hash") or "")
        except (NotFoundError, ValueError, AttributeError):
            return None

    # ------------------------------------------------------------------ reading
    def key_of(self, record_id: str) -> str:
        return f"{self.prefix}{record_id}.json"

    def listing(self, chain: str | None = None) -> TrailListing:
        """Versions and markers of one chain, or of the whole trail, by sequence number."""
        prefix = self.prefix + (f"{chain}/" if chain else "")
        found = TrailListing()
        for item in list_versions(self.s3, self.bucket, prefix):
            name, _, leaf = item.key.removeprefix(self.prefix).partition("/")
            number = leaf.removesuffix(".json")
            if not name or "/" in leaf or not leaf.endswith(".json") or not _SEQUENCE.match(number):
                found.strays.append(item)
                continue
            chain_listing = found.chains.setdefault(name, ChainListing(name))
            chain_listing.entries.setdefault(int(number), []).append(item)
        return found

    def _chains_for(self, where: AuditFilter) -> str | None:
        if where.group:
            return chain_of(where.group)
        # arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>
        parts = where.model_package_arn.split("/")
        if len(parts) == 3 and _GROUP.match(parts[1]):
            return parts[1]
        return None

    def stored(
        self, where: AuditFilter | None = None, *, retention: bool = False
    ) -> list[StoredRecord]:
        """Records with their object version (and, with `retention`, their Object Lock
        retention: one GetObjectRetention each), chain by chain in sequence order, merged by
        time. Raises AuditIntegrityError naming each record read that has more than one
        version, a delete marker, or content that does not match its hash."""
        where = where or AuditFilter()
        listing = self.listing(self._chains_for(where))
        problems = [f"{s.key}: not an audit chain record" for s in listing.strays]
        low = where.since - CLOCK_TOLERANCE if where.since else None
        high = where.until + CLOCK_TOLERANCE if where.until else None
        per_chain: list[list[StoredRecord]] = []
        for name in sorted(listing.chains):
            chain = listing.chains[name]
            found: list[StoredRecord] = []
            for sequence in chain.sequences():
                versions = chain.entries[sequence]
                written = min(v.last_modified for v in versions)
                if (low and written < low) or (high and written > high):
                    continue
                rid = record_id(name, sequence)
                first = original(versions)
                trouble = _messages(integrity_problems(rid, versions))
                if first is None or trouble:
                    problems += trouble
                    continue
                data, record = parse(
                    read_text(self.s3, self.bucket, self.key_of(rid), first.version_id), rid
                )
                trouble = _messages(integrity_problems(rid, versions, data))
                if trouble:
                    problems += trouble
                    continue
                if not where.accepts(record):
                    continue
                item = StoredRecord(record, self.key_of(rid), first.version_id, first.last_modified)
                if retention:
                    held = object_retention(self.s3, self.bucket, item.key, item.version_id)
                    if held:
                        item = replace(item, retention_mode=held.mode, retain_until=held.until)
                found.append(item)
            per_chain.append(found)
        if problems:
            raise AuditIntegrityError(problems)
        return list(heapq.merge(*per_chain, key=lambda s: s.record.at))

    def records(self, where: AuditFilter | None = None) -> list[AuditRecord]:
        """Records in time order (each group's in chain order); see `stored`."""
        return [s.record for s in self.stored(where)]


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


def _cell(value: object) -> str:
    if isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True) if value else ""
    elif isinstance(value, datetime):
        text = iso(value)
    else:
        text = "" if value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula (CSV injection).
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _row(item: AuditRecord | StoredRecord) -> dict[str, Any]:
    if isinstance(item, AuditRecord):
        return asdict(item)
    return {
        **asdict(item.record),
        "version_id": item.version_id,
        "retention_mode": item.retention_mode,
        "retain_until": iso(item.retain_until) if item.retain_until else "",
    }


def _columns(items: Sequence[AuditRecord | StoredRecord]) -> tuple[str, ...]:
    return EXPORT_COLUMNS if any(isinstance(i, StoredRecord) for i in items) else CSV_COLUMNS


def to_csv(items: Iterable[AuditRecord | StoredRecord]) -> str:
    """One row per record; stored records add their version id and retention."""
    rows = list(items)
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for item in rows:
        data = _row(item)
        writer.writerow([_cell(data.get(c)) for c in columns])
    return out.getvalue()


def to_json(items: Iterable[AuditRecord | StoredRecord]) -> str:
    return json.dumps([_row(i) for i in items], sort_keys=True, indent=2) + "\n"
