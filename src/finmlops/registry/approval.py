"""Approve or reject a model version: reason required, identity recorded, checks before any write.

Order of writes: the audit record of the decision first, then the registry. A registry write that
fails after its record is followed by a `decision-not-applied` record, so the trail never claims a
change that did not happen without saying so. A refusal writes only its audit record.

Who approves is what AWS says: `sts:GetCallerIdentity` here, before anything is written, and
SageMaker's `LastModifiedBy` of the status change, which the approval-event handler reads and
binds in its `approval-observed` record (the record the promotion gate trusts, ADR 0014). The
caller's ARN names a person only through its session name, which the approver role's trust policy
forces to equal the IAM user name and the source identity (`registry.identity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finmlops.contracts import Approval, AuditAction, AuditRecord, Meta
from finmlops.registry.audit import AuditTrail
from finmlops.registry.duties import ModelDuties
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.evidence import EvidencePolicy, evidence_references, judge, rules_of
from finmlops.registry.gatecheck import PlatformGate
from finmlops.registry.identity import Identity, dump_identities, load_identities
from finmlops.registry.versions import ModelVersion, describe_version, update_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sts import STSClient

# ApprovalDescription holds 1,024 characters, including who and when.
MAX_REASON = 800
APPROVAL_KEYS = (Meta.APPROVED_BY, Meta.APPROVED_AT, Meta.APPROVAL_REASON)


@dataclass(frozen=True)
class Decision:
    version: ModelVersion
    status: str
    actor: str
    record: AuditRecord


def caller_identity(sts: STSClient) -> str:
    """The ARN of whoever the client's credentials belong to: the only identity trusted here."""
    return sts.get_caller_identity()["Arn"]


def check_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInputError("reason: a reason is required for every approval and rejection")
    if len(text) > MAX_REASON:
        raise InvalidInputError(f"reason: at most {MAX_REASON} characters (got {len(text)})")
    return text


def _refuse(
    audit: AuditTrail,
    *,
    version: ModelVersion,
    actor: str,
    reason: str,
    what: str,
    problems: Sequence[str],
    details: dict[str, str],
) -> RefusedError:
    audit.append(
        AuditAction.APPROVAL_REFUSED,
        actor,
        version=version,
        reason=reason,
        evidence=evidence_references(version),
        previous_state=version.state(),
        details={
            **details,
            "requested": what,
            "problems": "; ".join(problems),
            "rules": ", ".join(rules_of(problems)),
        },
    )
    return RefusedError(f"{what} of {version.label} by {actor}", problems)


def _apply(
    sm: SageMakerClient,
    audit: AuditTrail,
    *,
    record: AuditRecord,
    version: ModelVersion,
    status: str,
    metadata: dict[str, str] | None = None,
    remove_metadata: tuple[str, ...] = (),
) -> None:
    description = f"{status} by {record.actor} at {record.at}: {record.reason}"
    try:
        update_version(
            sm,
            version.arn,
            status=status,
            approval_description=description,
            metadata=metadata,
            remove_metadata=remove_metadata,
        )
    except Exception as exc:
        audit.append(
            AuditAction.DECISION_NOT_APPLIED,
            record.actor,
            version=version,
            reason=record.reason,
            previous_state=version.state(),
            details={"decision": record.record_id, "error": f"{type(exc).__name__}: {exc}"},
        )
        raise


def status_problems(version: ModelVersion) -> list[str]:
    problems: list[str] = []
    if version.status == Approval.APPROVED:
        problems.append(f"status: already {Approval.APPROVED}")
    elif version.status == Approval.REJECTED:
        problems.append(
            f"status: {Approval.REJECTED} versions stay rejected; register a new version instead"
        )
    if version.package_status and version.package_status != "Completed":
        problems.append(f"package status: {version.package_status}, not Completed")
    return problems


def _duties_details(duties: ModelDuties | None) -> dict[str, str]:
    """What an audit record keeps of the model's decision rights it was judged by."""
    if duties is None:
        return {}
    return {"model": duties.model, "approver_role": duties.approver_role}


def _signoff_role_problems(duties: ModelDuties | None, record: AuditRecord | None) -> list[str]:
    """The observed sign-off must be the version's model's validator's (its role as AWS
    recorded it for the lifecycle write), not another model's."""
    if duties is None or record is None:
        return []
    validators = load_identities(record.details.get("validator", ""), record.record_id)
    return duties.signoff_problems(validators, record.record_id)


def approve(
    sm: SageMakerClient,
    sts: STSClient,
    audit: AuditTrail,
    *,
    arn: str,
    reason: str,
    gates: Sequence[PlatformGate],
    policy: EvidencePolicy | None = None,
    s3: S3Client | None = None,
    duties: ModelDuties | None = None,
) -> Decision:
    """Approve a version, or raise RefusedError listing every reason (and change nothing).
    `gates` are the platform's in force; `s3` reads the version's recorded metrics (default: the
    audit trail's client); `duties`, the version's model's decision rights (its block's approver
    role), which the caller's role session must hold (the CLI always passes them)."""
    policy = policy or EvidencePolicy()
    s3 = s3 or audit.s3
    reason = check_reason(reason)
    actor = caller_identity(sts)
    approver = Identity.from_caller_arn(actor)
    version = describe_version(sm, arn)
    judgement = judge(sm, s3, audit, version, approver=approver, policy=policy, gates=gates)
    problems = (
        status_problems(version)
        + (duties.problems(version, approver, "approve") if duties else [])
        + list(judgement.problems)
        + _signoff_role_problems(duties, judgement.signoff.record)
    )
    details = judgement.details(policy, gates, approver) | _duties_details(duties)
    if problems:
        raise _refuse(
            audit,
            version=version,
            actor=actor,
            reason=reason,
            what="approval",
            problems=problems,
            details=details,
        )

    record = audit.append(
        AuditAction.APPROVE,
        actor,
        version=version,
        reason=reason,
        evidence=evidence_references(version),
        previous_state=version.state(),
        details=details,
    )
    # For people reading the registry; no check reads these (the approver is what AWS records).
    approval = {Meta.APPROVED_BY: actor, Meta.APPROVED_AT: record.at, Meta.APPROVAL_REASON: reason}
    _apply(sm, audit, record=record, version=version, status=Approval.APPROVED, metadata=approval)
    return Decision(version, Approval.APPROVED, actor, record)


def reject(
    sm: SageMakerClient,
    sts: STSClient,
    audit: AuditTrail,
    *,
    arn: str,
    reason: str,
    duties: ModelDuties | None = None,
) -> Decision:
    """Reject a version (also revokes an approval). Anyone allowed to change the status may
    reject: stopping a version needs no independence. The approval keys are removed. With
    `duties`, only a session of the version's model's approver role may (as for approval)."""
    reason = check_reason(reason)
    actor = caller_identity(sts)
    caller = Identity.from_caller_arn(actor)
    version = describe_version(sm, arn)
    problems = duties.problems(version, caller, "reject") if duties else []
    if version.status == Approval.REJECTED:
        problems.append(f"status: already {Approval.REJECTED}")
    if problems:
        raise _refuse(
            audit,
            version=version,
            actor=actor,
            reason=reason,
            what="rejection",
            problems=problems,
            details={"caller": dump_identities([caller]), **_duties_details(duties)},
        )
    record = audit.append(
        AuditAction.REJECT,
        actor,
        version=version,
        reason=reason,
        evidence=evidence_references(version),
        previous_state=version.state(),
    )
    _apply(
        sm,
        audit,
        record=record,
        version=version,
        status=Approval.REJECTED,
        remove_metadata=APPROVAL_KEYS,
    )
    return Decision(version, Approval.REJECTED, actor, record)


__all__ = ["Decision", "approve", "caller_identity", "check_reason", "reject", "status_problems"]
