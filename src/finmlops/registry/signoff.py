"""A validator's sign-off and the re-validation records alarms open (ADR 0030; stdlib and boto3).

The sign-off is three writes, and only the last one is trusted as naming the validator:

1. `registry validate` appends a `validation-submitted` record with the findings document (the
   version's ARN and artifacts, a summary, findings with severity, the re-validation records it
   closes), and
2. writes the version's `ModelLifeCycle` {Stage `Validation`, StageStatus `SignedOff` or
   `FindingsOpen`, StageDescription `<digest> <record id>`}: an UpdateModelPackage only the
   validator role may send (IAM condition keys `sagemaker:ModelLifeCycle:Stage` and
   `...:StageStatus`, `finmlops_cdk.guardrails.validator_signoffs`). SageMaker records the caller
   in `LastModifiedBy` (`IamIdentity.SourceIdentity`) and emits "SageMaker Model Package State
   Change" for a ModelLifeCycle update (SageMaker developer guide, "Get event notifications for
   ModelLifeCycle").
3. The approval-event handler reads `LastModifiedBy` at that event, checks the digest against
   the submitted record, the ARN and artifacts against the version, and the person against the
   authors, and binds them in a `validation-observed` record plus a create-only marker in the
   state bucket that only the handler writes (`SignoffMarkers`): an audit writer who forges a
   `validation-observed` record has no marker.

The approval (CLI and handler) and the promotion gate then require, when the risk tier says so,
the latest observed sign-off of the version: for its current artifacts, by a person who is
neither an author nor the approver, with no open high-severity finding, and naming every
re-validation record of the group still open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from finmlops.contracts import Approval, AuditAction, AuditRecord, Validation
from finmlops.registry.audit import AuditFilter, AuditTrail
from finmlops.registry.authorship import Authorship, resolve_authorship
from finmlops.registry.canonical import canonical_json
from finmlops.registry.duties import ModelDuties
from finmlops.registry.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from finmlops.registry.identity import Identity, dump_identities, load_identities
from finmlops.registry.storage import put_new, read_text
from finmlops.registry.versions import Lifecycle, ModelVersion, describe_version, update_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sts import STSClient

VALIDATOR_FIELD = "DescribeModelPackage.LastModifiedBy"
MAX_FINDING = 400
MAX_FINDINGS = 50


@dataclass(frozen=True)
class Finding:
    severity: str
    text: str

    @classmethod
    def parse(cls, text: str) -> Finding:
        """`high: the KS on thin-file applicants is unstable` -> Finding("high", "...")."""
        severity, sep, body = text.partition(":")
        severity, body = severity.strip().lower(), " ".join(body.split())
        if not sep or severity not in Validation.SEVERITIES or not body:
            raise InvalidInputError(
                f"finding {text!r}: expected SEVERITY: TEXT with SEVERITY one of "
                f"{', '.join(Validation.SEVERITIES)}"
            )
        if len(body) > MAX_FINDING:
            raise InvalidInputError(f"finding: at most {MAX_FINDING} characters (got {len(body)})")
        return cls(severity, body)


def model_card_sha256(version: ModelVersion) -> str:
    """The sha256 of the registry's ModelCardContent as DescribeModelPackage returns it, "" when
    the version has none: what sign-offs and approvals bind of the card (ADR 0032)."""
    content = version.model_card.get("ModelCardContent")
    if not isinstance(content, str) or not content:
        return ""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def artifacts_of(version: ModelVersion) -> dict[str, str]:
    """What a sign-off is for: the image and the model artifact that would be deployed, and the
    model card's content by its sha256 when the version has one (ADR 0032)."""
    card = model_card_sha256(version)
    return {
        "image": version.image_uri,
        "model_data": version.model_data_url,
        **({"model_card_sha256": card} if card else {}),
    }


def signoff_document(
    version: ModelVersion, *, summary: str, findings: Sequence[Finding], closes: Iterable[str]
) -> dict[str, Any]:
    return {
        "model_package_arn": version.arn,
        "artifacts": artifacts_of(version),
        "summary": summary,
        "findings": [asdict(f) for f in findings],
        "closes": sorted(set(closes)),
    }


def document_digest(document: Mapping[str, Any]) -> str:
    """sha256 of the RFC 8785 form of the findings document (what the lifecycle write binds)."""
    return "sha256:" + hashlib.sha256(canonical_json(dict(document))).hexdigest()


def blocking(document: Mapping[str, Any]) -> list[str]:
    """The findings that block approval (severity high), as text."""
    return [
        str(f.get("text", ""))
        for f in document.get("findings") or []
        if isinstance(f, Mapping) and f.get("severity") == Validation.BLOCKING
    ]


def lifecycle_binding(lifecycle: Lifecycle | None) -> tuple[str, str] | None:
    """(digest, record id) from a sign-off's ModelLifeCycle, or None when it is no sign-off."""
    if lifecycle is None or lifecycle.stage != Validation.STAGE:
        return None
    digest, _, record_id = lifecycle.description.partition(" ")
    return digest.strip(), record_id.strip()


# --------------------------------------------------------------------------- re-validation


def open_revalidations(audit: AuditTrail, group: str) -> list[AuditRecord]:
    """The group's `revalidation-opened` records that no observed approval has closed yet."""
    records = audit.records(
        AuditFilter(
            group=group,
            actions=frozenset({AuditAction.REVALIDATION_OPENED, AuditAction.APPROVAL_OBSERVED}),
        )
    )
    closed: set[str] = set()
    for record in records:
        if record.action == AuditAction.APPROVAL_OBSERVED:
            closed.update(i for i in record.details.get("closes_revalidation", "").split() if i)
    return [
        r
        for r in records
        if r.action == AuditAction.REVALIDATION_OPENED and r.record_id not in closed
    ]


def open_revalidation(
    audit: AuditTrail,
    *,
    group: str,
    actor: str,
    alarm: str,
    environment: str,
    kind: str,
    reason: str,
    event_id: str,
) -> AuditRecord:
    """The re-review trigger: a fired drift or quality alarm opens a record the next approval of
    the group must close. One record per alarm while it stays open (re-deliveries and repeated
    firings add nothing)."""
    for record in open_revalidations(audit, group):
        if record.details.get("alarm") == alarm:
            return record
    return audit.append(
        AuditAction.REVALIDATION_OPENED,
        actor,
        group=group,
        environment=environment,
        reason=reason,
        details={"alarm": alarm, "kind": kind, "event_id": event_id},
    )


# --------------------------------------------------------------------------- markers


class SignoffMarkers:
    """Create-only markers in the state bucket, one per observed sign-off (only the handler
    writes there): `validation/observed/<group>/<version>/<digest>.json` {record_id, hash}."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = Validation.MARKERS_PREFIX):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def key(self, version: ModelVersion, digest: str) -> str:
        return (
            f"{self.prefix}{version.group}/{version.version}/{digest.removeprefix('sha256:')}.json"
        )

    def read(self, version: ModelVersion, digest: str) -> dict[str, str] | None:
        try:
            data = json.loads(read_text(self.s3, self.bucket, self.key(version, digest)))
        except (NotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, version: ModelVersion, digest: str, record: AuditRecord) -> bool:
        body = json.dumps({"record_id": record.record_id, "hash": record.hash}, sort_keys=True)
        try:
            put_new(self.s3, self.bucket, self.key(version, digest), body)
        except ConflictError:
            return False
        return True

    def vouches_for(self, version: ModelVersion, record: AuditRecord) -> bool:
        marker = self.read(version, record.details.get("digest", ""))
        return bool(marker) and marker == {"record_id": record.record_id, "hash": record.hash}


# --------------------------------------------------------------------------- the validator


@dataclass(frozen=True)
class Submitted:
    version: ModelVersion
    actor: str
    record: AuditRecord
    digest: str
    status: str


def _independence(authorship: Authorship, validator: Identity) -> list[str]:
    same = authorship.authors.matching(validator)
    if not same:
        return []
    authors = "; ".join(a.label() for a in same)
    return [
        f"segregation of duties: {validator.label()} is an author of this version ({authors}) "
        "and may not validate it"
    ]


def submit_signoff(
    sm: SageMakerClient,
    sts: STSClient,
    audit: AuditTrail,
    *,
    arn: str,
    summary: str,
    findings: Sequence[Finding],
    closes: Sequence[str] = (),
    duties: ModelDuties | None = None,
) -> Submitted:
    """`registry validate`: refuse (one audit record, nothing else) or record the findings and
    write the sign-off's ModelLifeCycle as the caller, which SageMaker attributes to them. With
    `duties` (the CLI always passes the version's model's), the caller's role session must be
    that model's validator role: a validator of one model signs off no other model's version."""
    summary = " ".join(summary.split())
    if not summary:
        raise InvalidInputError("summary: a validation summary is required")
    if len(findings) > MAX_FINDINGS:
        raise InvalidInputError(f"findings: at most {MAX_FINDINGS} (got {len(findings)})")
    actor = sts.get_caller_identity()["Arn"]
    validator = Identity.from_caller_arn(actor)
    version = describe_version(sm, arn)
    problems = duties.problems(version, validator, "validate") if duties else []
    if version.status != Approval.PENDING:
        problems.append(
            f"status: only a {Approval.PENDING} version is validated ({version.label} is "
            f"{version.status or 'none'})"
        )
    authorship = resolve_authorship(sm, audit, version)
    problems += _independence(authorship, validator) + authorship.problems()
    open_ids = {r.record_id for r in open_revalidations(audit, version.group)}
    problems += [
        f"closes: {record_id} is no open re-validation record of {version.group}"
        for record_id in closes
        if record_id not in open_ids
    ]
    document = signoff_document(version, summary=summary, findings=findings, closes=closes)
    digest = document_digest(document)
    if problems:
        audit.append(
            AuditAction.VALIDATION_REFUSED,
            actor,
            version=version,
            reason=summary,
            previous_state=version.state(),
            details={"problems": "; ".join(problems), "digest": digest, **authorship.details()},
        )
        raise RefusedError(f"sign-off of {version.label} by {actor}", problems)
    status = Validation.FINDINGS_OPEN if blocking(document) else Validation.SIGNED_OFF
    record = audit.append(
        AuditAction.VALIDATION_SUBMITTED,
        actor,
        version=version,
        reason=summary,
        previous_state=version.state(),
        details={
            "document": json.dumps(document, sort_keys=True),
            "digest": digest,
            "outcome": status,
            "validator": dump_identities([validator]),
        },
    )
    try:
        update_version(
            sm, arn, lifecycle=Lifecycle(Validation.STAGE, status, f"{digest} {record.record_id}")
        )
    except Exception as exc:
        audit.append(
            AuditAction.DECISION_NOT_APPLIED,
            actor,
            version=version,
            reason=summary,
            previous_state=version.state(),
            details={"decision": record.record_id, "error": f"{type(exc).__name__}: {exc}"},
        )
        raise
    return Submitted(version, actor, record, digest, status)


# --------------------------------------------------------------------------- the handler


def _submitted(audit: AuditTrail, version: ModelVersion, record_id: str) -> AuditRecord | None:
    where = AuditFilter(
        since=version.created_at,
        model_package_arn=version.arn,
        actions=frozenset({AuditAction.VALIDATION_SUBMITTED}),
    )
    return next((r for r in audit.records(where) if r.record_id == record_id), None)


def _submission(
    audit: AuditTrail,
    version: ModelVersion,
    digest: str,
    record_id: str,
    validator: Identity | None,
) -> tuple[dict[str, Any], list[str]]:
    """The findings document the lifecycle write names, and why it does not bind (if it
    does not): another digest, another version, other artifacts, another submitter."""
    submitted = _submitted(audit, version, record_id)
    if submitted is None:
        return {}, [
            f"sign-off: the lifecycle names audit record {record_id or '(none)'}, which is no "
            f"validation-submitted record of {version.label}"
        ]
    problems: list[str] = []
    try:
        document = json.loads(submitted.details.get("document", ""))
    except ValueError:
        document = {}
    if not isinstance(document, dict) or document_digest(document) != digest:
        problems.append(
            f"sign-off: the findings of audit record {record_id} do not hash to {digest}, "
            "the digest the validator wrote to the registry"
        )
        document = document if isinstance(document, dict) else {}
    if document.get("model_package_arn") != version.arn:
        problems.append(
            f"sign-off: audit record {record_id} is for "
            f"{document.get('model_package_arn') or 'no version'}, not {version.arn}"
        )
    if document.get("artifacts") != artifacts_of(version):
        problems.append(
            f"sign-off: audit record {record_id} signed other artifacts than the version has"
        )
    if validator and not Identity.from_caller_arn(submitted.actor).same_person(validator):
        problems.append(
            f"sign-off: audit record {record_id} was submitted by {submitted.actor}, but "
            f"SageMaker recorded {validator.label()} for the sign-off"
        )
    return document, problems


def observe_signoff(
    sm: SageMakerClient,
    audit: AuditTrail,
    markers: SignoffMarkers,
    version: ModelVersion,
    *,
    actor: str,
    event_id: str,
) -> tuple[str, str]:
    """The handler's part: (result, reason) with result `recorded`, `duplicate` or `refused`.
    The validator is SageMaker's LastModifiedBy of the lifecycle write, read at its event."""
    binding = lifecycle_binding(version.lifecycle)
    if binding is None:
        return "ignored", "no sign-off on the version"
    digest, record_id = binding
    if markers.read(version, digest) is not None:
        return "duplicate", "sign-off already observed"
    validator = Identity.from_user_context(version.last_modified_by, VALIDATOR_FIELD)
    problems: list[str] = []
    if validator is None or not validator.is_person:
        who = validator.label() if validator else "nobody"
        problems.append(f"sign-off: the lifecycle write was made by {who}, which names no person")
    document, found = _submission(audit, version, digest, record_id, validator)
    problems += found
    authorship = resolve_authorship(sm, audit, version)
    if validator:
        problems += _independence(authorship, validator)
    details = {
        "event_id": event_id,
        "digest": digest,
        "submitted_record": record_id,
        "validator": dump_identities([validator] if validator else []),
        "signed_at": str(version.last_modified_at or ""),
        **authorship.details(),
    }
    if problems:
        if _refused_before(audit, version, digest, record_id):
            return "duplicate", "sign-off already refused: " + "; ".join(problems)
        audit.append(
            AuditAction.VALIDATION_REFUSED,
            actor,
            version=version,
            previous_state=version.state(),
            details={**details, "problems": "; ".join(problems)},
        )
        return "refused", "; ".join(problems)
    record = audit.append(
        AuditAction.VALIDATION_OBSERVED,
        actor,
        version=version,
        reason=str(document.get("summary", "")),
        previous_state=version.state(),
        details={**details, "document": json.dumps(document, sort_keys=True)},
    )
    markers.put(version, digest, record)
    return "recorded", f"sign-off by {validator.label() if validator else '?'} recorded"


def _refused_before(audit: AuditTrail, version: ModelVersion, digest: str, record_id: str) -> bool:
    """Whether the handler already refused this lifecycle write (EventBridge delivers at least
    once: one refusal record per sign-off, not one per delivery)."""
    where = AuditFilter(
        since=version.created_at,
        model_package_arn=version.arn,
        actions=frozenset({AuditAction.VALIDATION_REFUSED}),
    )
    return any(
        r.details.get("digest") == digest and r.details.get("submitted_record") == record_id
        for r in audit.records(where)
    )


# --------------------------------------------------------------------------- approval


@dataclass(frozen=True)
class SignoffCheck:
    """What approval and promotion found of the sign-off and the open re-validations."""

    record: AuditRecord | None
    closes: tuple[str, ...]
    problems: tuple[str, ...]

    def details(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.record is not None:
            found["validation_record"] = self.record.record_id
            found["validator"] = self.record.details.get("validator", "")
        if self.closes:
            found["closes_revalidation"] = " ".join(self.closes)
        return found


NO_CHECK = SignoffCheck(None, (), ())


def latest_signoff(
    audit: AuditTrail, version: ModelVersion, markers: SignoffMarkers | None
) -> tuple[AuditRecord | None, list[str]]:
    """The version's latest `validation-observed` record (with `markers`, only one the handler
    vouches for), and problems with what the registry shows now."""
    where = AuditFilter(
        since=version.created_at,
        model_package_arn=version.arn,
        actions=frozenset({AuditAction.VALIDATION_OBSERVED}),
    )
    records = audit.records(where)
    problems: list[str] = []
    if markers is not None:
        forged = [r.record_id for r in records if not markers.vouches_for(version, r)]
        if forged:
            problems.append(
                f"sign-off: validation-observed record(s) {', '.join(forged)} were not written "
                "by the approval-event handler (no marker); they are ignored"
            )
        records = [r for r in records if r.record_id not in forged]
    latest = records[-1] if records else None
    binding = lifecycle_binding(version.lifecycle)
    if latest is not None and binding and binding[0] != latest.details.get("digest"):
        problems.append(
            f"sign-off: the registry's latest sign-off ({binding[0]}) is not the one observed "
            f"in audit record {latest.record_id}; it was refused or not yet observed"
        )
    return latest, problems


def check_signoff(
    audit: AuditTrail,
    version: ModelVersion,
    *,
    required: bool,
    authorship: Authorship,
    approver: Identity | None,
    markers: SignoffMarkers | None = None,
    revalidation: bool = True,
) -> SignoffCheck:
    """The sign-off rules of approval (and, with `revalidation` off, of promotion)."""
    pending = open_revalidations(audit, version.group) if revalidation else []
    if not required and not pending:
        return NO_CHECK
    latest, problems = latest_signoff(audit, version, markers)
    if latest is None:
        why = (
            "the risk tier requires a validator's sign-off"
            if required
            else ("a re-validation is open")
        )
        problems.append(f"sign-off: {why} and none was observed for {version.label}")
        problems += [
            f"re-validation: record {r.record_id} ({r.details.get('alarm', '?')} in "
            f"{r.environment or '?'}) is open; a sign-off must close it"
            for r in pending
        ]
        return SignoffCheck(None, (), tuple(problems))
    try:
        document = json.loads(latest.details.get("document", ""))
    except ValueError:
        document = {}
    validators = load_identities(latest.details.get("validator", ""), latest.record_id)
    if document.get("artifacts") != artifacts_of(version):
        problems.append(
            f"sign-off: audit record {latest.record_id} signed other artifacts than "
            f"{version.label} has now"
        )
    for validator in validators:
        problems += _independence(authorship, validator)
        if approver is not None and approver.same_person(validator):
            problems.append(
                f"segregation of duties: {approver.label()} signed the validation of this "
                f"version (audit record {latest.record_id}) and may not also approve it"
            )
    if not validators:
        problems.append(f"sign-off: audit record {latest.record_id} names no validator")
    problems += [
        f"sign-off: open high-severity finding in audit record {latest.record_id}: {text}"
        for text in blocking(document)
    ]
    closes = set(document.get("closes") or [])
    problems += [
        f"re-validation: record {r.record_id} ({r.details.get('alarm', '?')} in "
        f"{r.environment or '?'}) is open and the sign-off does not close it"
        for r in pending
        if r.record_id not in closes
    ]
    closed = tuple(sorted(r.record_id for r in pending if r.record_id in closes))
    return SignoffCheck(latest, closed, tuple(problems))


__all__ = [
    "Finding",
    "SignoffCheck",
    "SignoffMarkers",
    "Submitted",
    "check_signoff",
    "document_digest",
    "latest_signoff",
    "observe_signoff",
    "open_revalidation",
    "open_revalidations",
    "submit_signoff",
]
