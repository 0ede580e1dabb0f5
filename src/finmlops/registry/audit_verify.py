"""`finmlops audit verify`: check a whole audit trail and name the first broken link.

For each chain (model package group), in sequence order: every record key holds exactly one
object version and no delete marker; the stored content hashes to the record's `hash`; the record
sits at the sequence number it says; it links to the hash of the record before it (the genesis
for the first); no number is missing; no two records link to the same predecessor (a fork); its
own time lies within `CLOCK_TOLERANCE` of S3's LastModified. For every record, the Object Lock
retention S3 reports (GetObjectRetention) is COMPLIANCE and runs into the future, no shorter than
the bucket's default gives; a version without retention is reported with what the bucket default
says, since S3 applies a default only to objects written while it is set.

Costs: one ListObjectVersions request per 1,000 records, then one GetObject and one
GetObjectRetention per record, plus GetObjectLockConfiguration once. The caller needs
s3:ListBucketVersions, s3:GetObjectVersion, s3:GetObjectRetention and
s3:GetBucketObjectLockConfiguration on the audit bucket, and kms:Decrypt on its key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from finmlops.contracts import AuditRecord, Promotion
from finmlops.registry.audit import (
    CLOCK_TOLERANCE,
    UNGROUPED,
    AuditTrail,
    ChainListing,
    chain_of,
    genesis_hash,
    integrity_problems,
    original,
    parse,
    record_id,
)
from finmlops.registry.errors import InvalidInputError, NotFoundError
from finmlops.registry.storage import (
    Clock,
    ObjectVersion,
    Retention,
    bucket_default_retention,
    iso,
    object_retention,
    read_text,
    utc_now,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A record's retain-until may fall this much short of LastModified + the bucket's default days
# (S3 computes the date from its own clock when it writes the version).
_RETENTION_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Problem:
    """One broken link: the record (chain/sequence, or an object key) and what is wrong."""

    record: str
    kind: str
    detail: str

    def text(self) -> str:
        return f"{self.record}: {self.detail}"


@dataclass
class ChainReport:
    chain: str
    records: int = 0
    head: str = ""
    head_hash: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def first_broken(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_broken
        return {
            "chain": self.chain,
            "group": "" if self.chain == UNGROUPED else self.chain,
            "records": self.records,
            "head": self.head,
            "head_hash": self.head_hash,
            "ok": not self.problems,
            "first_broken": first.record if first else None,
            "problems": [p.__dict__ for p in self.problems],
        }


@dataclass
class VerifyReport:
    bucket: str
    checked_at: str
    default_retention: Retention | None
    chains: list[ChainReport] = field(default_factory=list)
    # Problems that belong to no chain: objects that are no chain record, the bucket's lock.
    trail_problems: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [*self.trail_problems, *(p for c in self.chains for p in c.problems)]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> Problem | None:
        """The first problem of the first chain (by name) that has one, else of the trail."""
        for chain in self.chains:
            if chain.first_broken:
                return chain.first_broken
        return self.trail_problems[0] if self.trail_problems else None

    @property
    def records(self) -> int:
        return sum(c.records for c in self.chains)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_broken
        default = self.default_retention
        return {
            "ok": self.ok,
            "bucket": self.bucket,
            "checked_at": self.checked_at,
            "records": self.records,
            "default_retention": (
                {"mode": default.mode, "days": default.days} if default else None
            ),
            "first_broken": first.__dict__ if first else None,
            "chains": [c.to_dict() for c in self.chains],
            "trail_problems": [p.__dict__ for p in self.trail_problems],
        }


def verify_trail(
    s3: S3Client,
    bucket: str,
    *,
    group: str = "",
    prefix: str = Promotion.AUDIT_PREFIX,
    clock: Clock = utc_now,
) -> VerifyReport:
    """Check every chain of the trail (or only `group`'s); NotFoundError when there is none."""
    now = clock()
    trail = AuditTrail(s3, bucket, prefix=prefix)
    chain = chain_of(group) if group else None
    listing = trail.listing(chain)
    if chain and chain not in listing.chains:
        raise NotFoundError(f"no audit records of group {group!r} in s3://{bucket}/{prefix}")
    default = bucket_default_retention(s3, bucket)
    report = VerifyReport(bucket, iso(now), default)
    if default is None:
        report.trail_problems.append(
            Problem(
                f"s3://{bucket}",
                "no-default-retention",
                "the bucket has no default Object Lock retention: a record written without its "
                "own retention is not protected from deletion",
            )
        )
    elif default.mode != "COMPLIANCE":
        report.trail_problems.append(
            Problem(
                f"s3://{bucket}",
                "default-retention-mode",
                f"the bucket's default retention is {default.mode}, not COMPLIANCE: anyone "
                "with s3:BypassGovernanceRetention can delete records",
            )
        )
    for stray in listing.strays:
        report.trail_problems.append(
            Problem(
                stray.key,
                "stray-object",
                "an object under the trail's prefix that is no chain record",
            )
        )
    for name in sorted(listing.chains):
        report.chains.append(_verify_chain(trail, listing.chains[name], default, now))
    return report


def _verify_chain(
    trail: AuditTrail, listing: ChainListing, default: Retention | None, now: datetime
) -> ChainReport:
    chain = listing.chain
    report = ChainReport(chain)
    problems = report.problems
    expected_previous: str | None = genesis_hash(chain)
    followed: dict[str, str] = {genesis_hash(chain): "the genesis"}
    expected = 1
    for sequence in listing.sequences():
        rid = record_id(chain, sequence)
        for missing in range(expected, sequence):
            problems.append(
                Problem(
                    record_id(chain, missing),
                    "missing",
                    "missing: the chain skips this number (deleted, or never written)",
                )
            )
            expected_previous = None  # the missing record's hash is unknown
        expected = sequence + 1
        versions = listing.entries[sequence]
        first = original(versions)
        problems += [_problem(rid, kind, text) for kind, text in integrity_problems(rid, versions)]
        report.records += 1
        report.head = rid
        if first is None:
            expected_previous = None
            continue
        key = trail.key_of(rid)
        try:
            data, record = parse(read_text(trail.s3, trail.bucket, key, first.version_id), rid)
        except InvalidInputError as exc:
            problems.append(Problem(rid, "not-a-record", str(exc)))
            expected_previous = None
            continue
        _name_the_overwrite(trail, key, versions, data, problems)
        # The content against its own hash (the versions were judged above).
        problems += [_problem(rid, kind, text) for kind, text in integrity_problems(rid, [], data)]
        stored_hash = str(data.get("hash") or "")
        report.head_hash = stored_hash
        problems += _place_problems(
            rid, record, sequence=sequence, chain=chain, expected=expected_previous, seen=followed
        )
        if stored_hash:
            followed.setdefault(stored_hash, rid)
        expected_previous = stored_hash or None
        problems += _time_problems(rid, record.at, first.last_modified)
        held = object_retention(trail.s3, trail.bucket, key, first.version_id)
        problems += _retention_problems(
            rid, held, written=first.last_modified, default=default, now=now
        )
    # Problems in chain order: the first one is the first broken link.
    order = {record_id(chain, s): s for s in range(1, expected)}
    problems.sort(key=lambda p: order.get(p.record, 0))
    return report


def _place_problems(
    rid: str,
    record: AuditRecord,
    *,
    sequence: int,
    chain: str,
    expected: str | None,
    seen: dict[str, str],
) -> list[Problem]:
    """Is the record where it says, in the chain it says, after the record before it?
    `expected` is the hash it must link to (None after a gap); `seen` maps each hash met so
    far to its record, so a link to an earlier one is named as the fork it is."""
    problems: list[Problem] = []
    if record.sequence != sequence:
        problems.append(
            Problem(
                rid,
                "sequence",
                f"says it is record {record.sequence} of the chain: moved or reordered",
            )
        )
    if chain_of(record.model_package_group) != chain:
        problems.append(
            Problem(
                rid,
                "chain",
                f"belongs to group {record.model_package_group or '(none)'!r}, not this chain",
            )
        )
    previous = record.previous_hash
    if expected is not None and previous != expected:
        fork = seen.get(previous)
        if fork:
            problems.append(
                Problem(
                    rid,
                    "fork",
                    f"links to {fork}, which another record already follows: the chain forks",
                )
            )
        else:
            problems.append(
                Problem(
                    rid,
                    "link",
                    f"does not link to the record before it (previous_hash {previous or 'none'}, "
                    f"expected {expected}): a record before it was edited, inserted or removed",
                )
            )
    return problems


def _name_the_overwrite(
    trail: AuditTrail,
    key: str,
    versions: list[ObjectVersion],
    data: dict[str, Any],
    problems: list[Problem],
) -> None:
    """Say what an overwrite changed: the latest version is what a plain GetObject shows."""
    objects = [v for v in versions if not v.delete_marker]
    if len(objects) < 2 or not problems or problems[-1].kind != "versions":
        return
    try:
        latest = json.loads(read_text(trail.s3, trail.bucket, key, objects[0].version_id))
        changed = sorted(k for k in {*data, *latest} if data.get(k) != latest.get(k))
    except (ValueError, AttributeError):
        changed = ["(the latest version is not JSON)"]
    last = problems[-1]
    problems[-1] = Problem(
        last.record,
        last.kind,
        f"{last.detail}; the latest version changes {', '.join(changed) or 'nothing'}",
    )


def _problem(rid: str, kind: str, text: str) -> Problem:
    return Problem(rid, kind, text.removeprefix(f"{rid}: "))


def _time_problems(rid: str, at: str, written: datetime) -> list[Problem]:
    try:
        claimed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return [Problem(rid, "time", f"time {at!r} is not an ISO time")]
    if claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=UTC)
    if abs(claimed - written) > CLOCK_TOLERANCE:
        return [
            Problem(
                rid,
                "time",
                f"says it was written at {at} but S3 received it at {iso(written)}: "
                f"backdated, or its writer's clock is off by more than {CLOCK_TOLERANCE}",
            )
        ]
    return []


def _retention_problems(
    rid: str,
    held: Retention | None,
    *,
    written: datetime,
    default: Retention | None,
    now: datetime,
) -> list[Problem]:
    if held is None:
        if default is None:
            why = "and the bucket has no default retention"
        else:
            why = (
                f"the bucket's default ({default.mode}, {default.days} days) applies only to "
                "objects written while it is set"
            )
        return [
            Problem(rid, "retention", f"has no Object Lock retention, so it can be deleted: {why}")
        ]
    problems: list[Problem] = []
    if held.mode != "COMPLIANCE":
        problems.append(
            Problem(
                rid,
                "retention",
                f"retention mode is {held.mode}, not COMPLIANCE: it can be lifted with "
                "s3:BypassGovernanceRetention",
            )
        )
    if held.until is None or held.until <= now:
        ended = iso(held.until) if held.until else "(no date)"
        problems.append(Problem(rid, "retention", f"retention ended {ended}: it can be deleted"))
    elif default is not None and default.days:
        floor = written + timedelta(days=default.days) - _RETENTION_SLACK
        if held.until < floor:
            problems.append(
                Problem(
                    rid,
                    "retention",
                    f"retained until {iso(held.until)}, shorter than the bucket's default "
                    f"gives ({default.days} days from {iso(written)})",
                )
            )
    return problems
