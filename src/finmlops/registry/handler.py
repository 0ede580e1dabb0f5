"""The approval-event handler: a "SageMaker Model Package State Change" event starts one promotion.

`handler(event, context)` is the Lambda entry point (clients built on first call, settings from
the environment); `handle_state_change` does the work with clients and settings passed in.
Malformed events, other groups and other statuses are logged and ignored, never raised; AWS
failures while starting a promotion are raised, so EventBridge retries and then dead-letters.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from finmlops.contracts import Approval, AuditAction, Meta, Promotion
from finmlops.registry.audit import AuditTrail
from finmlops.registry.errors import InvalidInputError, NotFoundError
from finmlops.registry.evidence import (
    EvidencePolicy,
    approver_of,
    evidence_references,
    promotion_problems,
)
from finmlops.registry.promotion import PromotionClaims
from finmlops.registry.storage import ObjectLock, iso, utc_now
from finmlops.registry.versions import ModelVersion, describe_version, update_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

logger = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"
SOURCE = "aws.sagemaker"


class PipelineClient(Protocol):
    """The one CodePipeline call the handler makes (boto3's codepipeline client has it)."""

    def start_pipeline_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...


class MalformedEventError(ValueError):
    """The event is not a model package state change; the message names the field."""


@dataclass(frozen=True)
class StateChange:
    group: str
    version: int
    status: str
    arn: str
    event_id: str


def _field(detail: Mapping[str, Any], name: str) -> str:
    value = detail.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"detail.{name}: expected a non-empty string (got {value!r})")
    return value


def parse_state_change(event: Any) -> StateChange:
    if not isinstance(event, Mapping):
        raise MalformedEventError(f"event: expected an object (got {type(event).__name__})")
    if event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEventError(f"detail-type: expected {DETAIL_TYPE!r}")
    if event.get("source") != SOURCE:
        raise MalformedEventError(f"source: expected {SOURCE!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEventError("detail: expected an object")
    raw_version = detail.get("ModelPackageVersion")
    # EventBridge passes the number; a hand-written test event may quote it.
    if isinstance(raw_version, bool) or not (
        isinstance(raw_version, int) or (isinstance(raw_version, str) and raw_version.isdigit())
    ):
        raise MalformedEventError(
            f"detail.ModelPackageVersion: expected a positive integer (got {raw_version!r})"
        )
    version = int(raw_version)
    if version < 1:
        raise MalformedEventError(f"detail.ModelPackageVersion: must be >= 1 (got {version})")
    arn = _field(detail, "ModelPackageArn")
    if not arn.startswith("arn:") or ":model-package/" not in arn:
        raise MalformedEventError(f"detail.ModelPackageArn: not a model package ARN ({arn!r})")
    return StateChange(
        group=_field(detail, "ModelPackageGroupName"),
        version=version,
        status=_field(detail, "ModelApprovalStatus"),
        arn=arn,
        event_id=str(event.get("id", "")),
    )


@dataclass(frozen=True)
class HandlerSettings:
    groups: frozenset[str]
    pipeline_name: str
    audit_bucket: str
    state_bucket: str
    audit_lock: ObjectLock | None = None
    policy: EvidencePolicy = field(default_factory=EvidencePolicy)
    actor: str = "approval-event-handler"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HandlerSettings:
        """Settings from the variables the CDK stack sets (names in contracts.Promotion)."""

        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise InvalidInputError(f"{name}: environment variable is not set")
            return value

        groups = frozenset(
            g.strip() for g in required(Promotion.ENV_GROUPS).split(",") if g.strip()
        )
        if not groups:
            raise InvalidInputError(f"{Promotion.ENV_GROUPS}: names no model package group")
        days_text = environ.get(Promotion.ENV_AUDIT_RETENTION_DAYS, "").strip()
        if days_text and not days_text.isdigit():
            raise InvalidInputError(
                f"{Promotion.ENV_AUDIT_RETENTION_DAYS}: expected a whole number of days "
                f"(got {days_text!r})"
            )
        drift = environ.get(Promotion.ENV_REQUIRE_DRIFT_BASELINES, "true").strip().lower()
        if drift not in {"true", "false"}:
            raise InvalidInputError(
                f"{Promotion.ENV_REQUIRE_DRIFT_BASELINES}: expected true or false (got {drift!r})"
            )
        return cls(
            groups=groups,
            pipeline_name=required(Promotion.ENV_PIPELINE),
            audit_bucket=required(Promotion.ENV_AUDIT_BUCKET),
            state_bucket=required(Promotion.ENV_STATE_BUCKET),
            audit_lock=ObjectLock(int(days_text)) if days_text and int(days_text) > 0 else None,
            policy=EvidencePolicy(require_drift_baselines=drift == "true"),
            actor=environ.get("AWS_LAMBDA_FUNCTION_NAME", "") or cls.actor,
        )


@dataclass(frozen=True)
class Outcome:
    """What the handler did: started, duplicate, refused, recorded or ignored, and why."""

    result: str
    reason: str
    model_package_arn: str = ""
    execution_id: str = ""


def _log(outcome: Outcome) -> Outcome:
    level = logging.WARNING if outcome.result in {"ignored", "refused"} else logging.INFO
    logger.log(level, json.dumps(asdict(outcome), sort_keys=True))
    return outcome


def _stamp_console_approval(sm: SageMakerClient, version: ModelVersion) -> ModelVersion:
    """An approval made in the console carries no `approved-by`; on AWS, LastModifiedBy names
    the approver, and writing it down now keeps that name once promotion updates the version.

    Without permission to write, the gate still judges the true approver (LastModifiedBy); a
    later gate then refuses for want of a named approver, which fails safe.
    """
    approver = approver_of(version)
    if version.metadata.get(Meta.APPROVED_BY) or not approver:
        return version
    stamp = {Meta.APPROVED_BY: approver, Meta.APPROVED_AT: iso(utc_now())}
    try:
        update_version(sm, version.arn, metadata=stamp)
    except ClientError as exc:
        logger.warning(
            json.dumps({"stamp_failed": version.arn, "error": str(exc), "approved_by": approver})
        )
        return replace(version, metadata={**version.metadata, **stamp})
    return describe_version(sm, version.arn)


@dataclass(frozen=True)
class _Delivery:
    """One event being acted on, with the stores it writes to."""

    change: StateChange
    version: ModelVersion
    settings: HandlerSettings
    audit: AuditTrail
    claims: PromotionClaims

    def claim(self) -> bool:
        c = self.change
        body = {"event_id": c.event_id, "at": iso(utc_now()), "arn": c.arn}
        return self.claims.claim(c.group, c.version, c.status, body)

    def record_rejection(self) -> Outcome:
        change, version = self.change, self.version
        if not self.claim():
            return Outcome("duplicate", "rejection already recorded", change.arn)
        self.audit.append(
            AuditAction.REJECTION_OBSERVED,
            self.settings.actor,
            version=version,
            reason=version.approval_description,
            previous_state=version.state(),
            details={"event_id": change.event_id},
        )
        return Outcome("recorded", "rejection recorded", change.arn)

    def start_promotion(self, codepipeline: PipelineClient) -> Outcome:
        change, version, settings = self.change, self.version, self.settings
        problems = promotion_problems(version, settings.policy)
        if problems:
            self.audit.append(
                AuditAction.PROMOTION_REFUSED,
                settings.actor,
                version=version,
                evidence=evidence_references(version),
                previous_state=version.state(),
                details={"event_id": change.event_id, "problems": "; ".join(problems)},
            )
            return Outcome("refused", "; ".join(problems), change.arn)
        if not self.claim():
            return Outcome("duplicate", "promotion already started", change.arn)
        try:
            # First the record that binds this approval to what the gate just judged (the
            # promotion gate compares with it), then the start.
            self.audit.append(
                AuditAction.APPROVAL_OBSERVED,
                settings.actor,
                version=version,
                evidence=evidence_references(version),
                previous_state=version.state(),
                details={"event_id": change.event_id, "approved_by": approver_of(version)},
            )
            response = codepipeline.start_pipeline_execution(
                name=settings.pipeline_name,
                variables=[{"name": Promotion.ARN_VARIABLE, "value": change.arn}],
                clientRequestToken=self.claims.token(change.group, change.version, change.status),
            )
        except Exception:
            # Let a retried delivery start it: the claim only stands for a started promotion.
            self.claims.release(change.group, change.version, change.status)
            raise
        execution_id = str(response.get("pipelineExecutionId", ""))
        started = Outcome("started", "promotion started", change.arn, execution_id)
        try:
            self.audit.append(
                AuditAction.PROMOTION_STARTED,
                settings.actor,
                version=version,
                evidence=evidence_references(version),
                previous_state=version.state(),
                details={
                    "event_id": change.event_id,
                    "pipeline": settings.pipeline_name,
                    "execution_id": execution_id,
                    "approved_by": approver_of(version),
                },
            )
        except Exception:
            # The promotion runs and a retry will find the claim: the log keeps the facts.
            logger.exception(json.dumps({**asdict(started), "audit": "not written"}))
            raise
        return started


def _ignored_because(change: StateChange, settings: HandlerSettings) -> str:
    if change.group not in settings.groups:
        return f"group {change.group!r} is not configured"
    if change.status not in {Approval.APPROVED, Approval.REJECTED}:
        return f"status {change.status} starts nothing"
    return ""


def handle_state_change(
    event: Any,
    *,
    sagemaker: SageMakerClient,
    s3: S3Client,
    codepipeline: PipelineClient,
    settings: HandlerSettings,
) -> Outcome:
    """Approved: run the promotion gate, claim the version, start the promotion pipeline.
    Rejected: record it. Anything else: log and ignore."""
    try:
        change = parse_state_change(event)
    except MalformedEventError as exc:
        return _log(Outcome("ignored", f"malformed event: {exc}"))
    ignored = _ignored_because(change, settings)
    if not ignored:
        try:
            version = describe_version(sagemaker, change.arn)
        except NotFoundError:
            ignored = "the version no longer exists"
        else:
            if version.status != change.status:
                # An older event delivered late: act on the registry's status only.
                ignored = f"event says {change.status}, registry says {version.status or 'none'}"
    if ignored:
        return _log(Outcome("ignored", ignored, change.arn))

    if change.status == Approval.APPROVED:
        version = _stamp_console_approval(sagemaker, version)
    delivery = _Delivery(
        change,
        version,
        settings,
        AuditTrail(s3, settings.audit_bucket, lock=settings.audit_lock),
        PromotionClaims(s3, settings.state_bucket),
    )
    if change.status == Approval.REJECTED:
        return _log(delivery.record_rejection())
    return _log(delivery.start_promotion(codepipeline))


@cache
def _clients() -> tuple[Any, Any, Any]:
    import boto3

    session = boto3.session.Session()
    return session.client("sagemaker"), session.client("s3"), session.client("codepipeline")


def handler(event: Any, context: Any) -> dict[str, str]:
    """Lambda entry point (contracts.Promotion.HANDLER)."""
    logging.getLogger("finmlops").setLevel(logging.INFO)
    settings = HandlerSettings.from_env(os.environ)
    sagemaker, s3, codepipeline = _clients()
    outcome = handle_state_change(
        event, sagemaker=sagemaker, s3=s3, codepipeline=codepipeline, settings=settings
    )
    return asdict(outcome)
