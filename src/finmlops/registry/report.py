"""A version's validation report with its registration and decision: the file the evidence step
stored for the validator, plus the version's ARN and author from the registry and the approval
record from the registry and the audit trail.

The stored report is left as the pipeline wrote it (it is evidence, written before any
decision); `finmlops registry report` renders the decided copy on demand. Not imported by the
approval-event handler: the governance renderer needs the project's own dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmlops.contracts import Approval, ApprovalRecord, AuditAction, AuditRecord, Meta
from finmlops.governance.bundle import Decision
from finmlops.governance.production_stability import (
    ProductionWindow,
    ProductionWindowError,
    production_text,
)
from finmlops.governance.report import record_decision, record_production, record_registration
from finmlops.registry.audit import AuditFilter, AuditTrail
from finmlops.registry.errors import InvalidInputError, NotFoundError
from finmlops.registry.gatecheck import recorded_metrics_uri
from finmlops.registry.identity import Identity, load_identities
from finmlops.registry.promotion import observed_approval
from finmlops.registry.storage import read_text
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DECISION_ACTIONS = {Approval.APPROVED: AuditAction.APPROVE, Approval.REJECTED: AuditAction.REJECT}


@dataclass(frozen=True)
class DecidedReport:
    html: str
    source: str  # the stored report's S3 URI
    decision: Decision | None  # None while the version is pending
    audit_record: str = ""  # the decision's audit record, when the decision was made by the CLI


def decision_record(audit: AuditTrail, version: ModelVersion) -> AuditRecord | None:
    """The audit record of the version's current decision: the latest approve (or reject) record,
    or None for a decision made in the console."""
    action = _DECISION_ACTIONS.get(version.status)
    if action is None:
        return None
    where = AuditFilter(
        since=version.created_at, actions=frozenset({action}), model_package_arn=version.arn
    )
    records = audit.records(where)
    return records[-1] if records else None


def _signoff(details: Mapping[str, str]) -> str:
    """The sign-off an approval's audit record says it checked (`SignoffCheck.details`): the
    validator the handler observed and the record that binds them; "" when none was checked."""
    record = details.get("validation_record", "")
    if not record:
        return ""
    validators = load_identities(details.get("validator", ""), f"audit record {record} validator")
    who = ", ".join(v.label() for v in validators) or "validator not named"
    return f"{who} (audit record {record})"


def _evaluation(s3: S3Client, version: ModelVersion) -> Mapping[str, Any]:
    """The version's recorded evaluation (ModelMetrics.ModelQuality.Statistics), {} when absent
    or unreadable: the production row then says what it lacks."""
    uri = recorded_metrics_uri(version)
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not key:
        return {}
    try:
        document = json.loads(read_text(s3, bucket, key))
    except (NotFoundError, ValueError):
        return {}
    return document if isinstance(document, Mapping) else {}


def _with_production(
    html: str, s3: S3Client, version: ModelVersion, window: ProductionWindow | None, uri: str
) -> str:
    """The score-stability row of the latest production window: the PSI of `window`'s scores
    against the train scores, or plainly that no window was given. A report without the row (it
    recorded no train vs test PSI) is left as it is, unless a window was given."""
    try:
        text = production_text(_evaluation(s3, version), window)
        return record_production(html, text)
    except ProductionWindowError as exc:
        raise InvalidInputError(str(exc)) from None
    except ValueError as exc:
        if window is None:
            return html
        raise InvalidInputError(f"{uri}: {exc}") from None


def decided_report(
    s3: S3Client,
    audit: AuditTrail,
    version: ModelVersion,
    production: ProductionWindow | None = None,
) -> DecidedReport:
    """The version's stored validation report, with the decision filled in once there is one,
    and the score stability against `production` (the latest production window monitoring
    recorded of this version, `governance.production_stability.load_window`), or a line saying
    there is none."""
    uri = version.metadata.get(Meta.VALIDATION_REPORT, "")
    if not uri:
        raise NotFoundError(f"{version.label} has no {Meta.VALIDATION_REPORT!r} metadata")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not key:
        raise InvalidInputError(f"{version.label}: {Meta.VALIDATION_REPORT} {uri!r} is no S3 URI")
    html = read_text(s3, bucket, key)
    # The evidence step wrote the report before the version existed: the registry now knows it.
    author = Identity.from_user_context(version.created_by, "CreatedBy")
    try:
        html = record_registration(
            html, version.arn, registered_by=author.label() if author else ""
        )
    except ValueError as exc:
        raise InvalidInputError(f"{uri}: {exc}") from None
    html = _with_production(html, s3, version, production, uri)
    if version.status not in _DECISION_ACTIONS:
        return DecidedReport(html, uri, None)
    record = decision_record(audit, version)
    details: Mapping[str, str] = {}
    if record is not None:
        approval = ApprovalRecord(
            approved_by=record.actor, approved_at=record.at, reason=record.reason
        )
        details = record.details
    else:  # decided in the console: who AWS recorded (the handler's record for an approval)
        observed, _ = observed_approval(audit, version)
        who = Identity.from_user_context(version.last_modified_by, "LastModifiedBy")
        approval = ApprovalRecord(
            approved_by=observed.approver.label() if observed else (who.label() if who else ""),
            approved_at=observed.approved_at if observed else "",
            reason=version.approval_description,
        )
        details = observed.record.details if observed else {}
    decision = Decision(version.status, approval, signoff=_signoff(details))
    audit_id = record.record_id if record else ""
    try:
        filled = record_decision(html, decision, audit_record=audit_id)
    except ValueError as exc:
        raise InvalidInputError(f"{uri}: {exc}") from None
    return DecidedReport(filled, uri, decision, audit_id)


def decided_card(s3: S3Client, version: ModelVersion, decided: DecidedReport) -> str:
    """The version's model card document (`model_card.html`, which the evidence step stores
    beside the validation report), filled in with the same registration and decision as the
    decided report."""
    from finmlops.governance.card_document import MODEL_CARD_HTML

    uri = decided.source.rsplit("/", 1)[0] + "/" + MODEL_CARD_HTML
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    html = read_text(s3, bucket, key)
    author = Identity.from_user_context(version.created_by, "CreatedBy")
    try:
        html = record_registration(
            html, version.arn, registered_by=author.label() if author else ""
        )
        if decided.decision is not None:
            html = record_decision(html, decided.decision, audit_record=decided.audit_record)
    except ValueError as exc:
        raise InvalidInputError(f"{uri}: {exc}") from None
    return html
