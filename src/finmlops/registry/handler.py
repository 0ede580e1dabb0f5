"""The approval-event handler: a "SageMaker Model Package State Change" event starts one promotion.

`handler(event, context)` is the Lambda entry point (clients built on first call, settings from
the environment); `handle_state_change` does the work with clients and settings passed in.
Malformed events, other groups and other statuses are logged and ignored, never raised; AWS
failures while starting a promotion are raised, so EventBridge retries and then dead-letters.

The approver is what SageMaker recorded for the status change, `LastModifiedBy.IamIdentity`
(`SourceIdentity`, else the IAM user), read here at event time, before promotion writes the
lifecycle, for CLI and console approvals alike. It is judged (segregation of duties, evidence,
the platform's gates, ordering) and bound in the `approval-observed` record, the one record the
promotion gate takes the approver from. The handler writes nothing to the registry.

The registry, the model-build pipeline's executions and the evidence JSON live in dev. With
`EVIDENCE_ROLE_ARN` set (`Promotion.ENV_EVIDENCE_ROLE`, dev's `<project>-dev-evidence-reader`),
they are read as that role, assumed once per event; the audit trail, the claims, the history, the
metric and the pipeline start stay with the handler's own role (ADR 0016).
Runs in Lambda: standard library and boto3 only.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from finmlops.contracts import (
    SERVING_ENVIRONMENTS,
    Approval,
    AuditAction,
    Promotion,
    Validation,
)
from finmlops.registry.audit import AuditTrail
from finmlops.registry.errors import InvalidInputError, NotFoundError
from finmlops.registry.evidence import (
    EvidencePolicy,
    deployability_problems,
    evidence_references,
    judge,
    rules_of,
)
from finmlops.registry.gatecheck import PlatformGate, gates_from_json, required_evidence_from_json
from finmlops.registry.identity import Identity, dump_identities
from finmlops.registry.promotion import (
    DeploymentHistory,
    PromotionClaims,
    older_than_deployed,
    serving_now,
)
from finmlops.registry.signoff import (
    SignoffMarkers,
    lifecycle_binding,
    observe_signoff,
    open_revalidation,
)
from finmlops.registry.storage import ObjectLock, iso, utc_now
from finmlops.registry.versions import ModelVersion, describe_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

logger = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"
SOURCE = "aws.sagemaker"
# CloudWatch's alarm state-change event (CloudWatch User Guide, "Alarm events and EventBridge").
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
ALARM_SOURCE = "aws.cloudwatch"
REVALIDATION_KINDS = ("drift", "quality")


class PipelineClient(Protocol):
    """The one CodePipeline call the handler makes (boto3's codepipeline client has it)."""

    def start_pipeline_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...


class MetricsClient(Protocol):
    """The one CloudWatch call the handler makes (boto3's cloudwatch client has it)."""

    def put_metric_data(self, **kwargs: Any) -> Mapping[str, Any]: ...


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


# IAM role ARNs (IAM User Guide, "IAM identifiers": arn:partition:iam::account:role/path/name).
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


@dataclass(frozen=True)
class HandlerSettings:
    groups: frozenset[str]
    pipeline_name: str
    audit_bucket: str
    state_bucket: str
    gates: tuple[PlatformGate, ...]
    audit_lock: ObjectLock | None = None
    policy: EvidencePolicy = field(default_factory=EvidencePolicy)
    actor: str = "approval-event-handler"
    # The role whose session reads the registry, the executions and the evidence ("": own role).
    evidence_role_arn: str = ""
    # Alarm name -> (environment, kind): the alarms whose firing opens a re-validation record.
    revalidation_alarms: Mapping[str, tuple[str, str]] = field(default_factory=dict)

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
        signoff = environ.get(Validation.ENV_REQUIRE_SIGNOFF, "false").strip().lower()
        if signoff not in {"true", "false"}:
            raise InvalidInputError(
                f"{Validation.ENV_REQUIRE_SIGNOFF}: expected true or false (got {signoff!r})"
            )
        tier, required_evidence = required_evidence_from_json(
            environ.get(Validation.ENV_REQUIRED_EVIDENCE, ""), Validation.ENV_REQUIRED_EVIDENCE
        )
        evidence_role = environ.get(Promotion.ENV_EVIDENCE_ROLE, "").strip()
        if evidence_role and not _ROLE_ARN.match(evidence_role):
            raise InvalidInputError(
                f"{Promotion.ENV_EVIDENCE_ROLE}: expected an IAM role ARN (got {evidence_role!r})"
            )
        return cls(
            groups=groups,
            pipeline_name=required(Promotion.ENV_PIPELINE),
            audit_bucket=required(Promotion.ENV_AUDIT_BUCKET),
            state_bucket=required(Promotion.ENV_STATE_BUCKET),
            gates=gates_from_json(required(Promotion.ENV_GATES), Promotion.ENV_GATES),
            audit_lock=ObjectLock(int(days_text)) if days_text and int(days_text) > 0 else None,
            policy=EvidencePolicy(
                require_drift_baselines=drift == "true",
                require_signoff=signoff == "true",
                required_evidence=required_evidence,
                tier=tier,
            ),
            actor=environ.get("AWS_LAMBDA_FUNCTION_NAME", "") or cls.actor,
            evidence_role_arn=evidence_role,
            revalidation_alarms=revalidation_alarms_from_json(
                environ.get(Validation.ENV_REVALIDATION_ALARMS, "") or "{}",
                Validation.ENV_REVALIDATION_ALARMS,
            ),
        )


def revalidation_alarms_from_json(text: str, where: str) -> dict[str, tuple[str, str]]:
    """{alarm: {"environment": e, "kind": drift|quality}} -> {alarm: (e, kind)}; bad input names
    `where` and the alarm."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInputError(f"{where}: not JSON") from None
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{where}: expected an object of alarm names")
    found: dict[str, tuple[str, str]] = {}
    for alarm, item in data.items():
        environment = item.get("environment") if isinstance(item, Mapping) else None
        kind = item.get("kind") if isinstance(item, Mapping) else None
        if environment not in SERVING_ENVIRONMENTS or kind not in REVALIDATION_KINDS:
            raise InvalidInputError(
                f"{where}.{alarm}: expected environment in {', '.join(SERVING_ENVIRONMENTS)} and "
                f"kind in {', '.join(REVALIDATION_KINDS)} (got {item!r})"
            )
        found[str(alarm)] = (str(environment), str(kind))
    return found


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


APPROVER_FIELD = "DescribeModelPackage.LastModifiedBy"


def recorded_approver(version: ModelVersion) -> Identity | None:
    """Who SageMaker recorded as making the version's last change: at event time, the status
    change (nothing else writes to the version before the promotion the handler starts)."""
    return Identity.from_user_context(version.last_modified_by, APPROVER_FIELD)


def _approver_problems(approver: Identity | None) -> list[str]:
    if approver is None:
        return [
            "approval: SageMaker records no one for the status change (no LastModifiedBy); "
            "a version created Approved was approved by nobody"
        ]
    if not approver.is_person:
        return [
            f"approval: the status change was made by {approver.label()}, which names no person "
            "(every role a person assumes requires a source identity)"
        ]
    return []


@dataclass(frozen=True)
class _Delivery:
    """One event being acted on, with the clients and stores it uses."""

    change: StateChange
    version: ModelVersion
    settings: HandlerSettings
    sagemaker: SageMakerClient  # the registry and the executions (dev)
    s3: S3Client  # tooling's buckets: audit trail, claims, history
    evidence_s3: S3Client  # the evidence JSON the version names (dev's artifact bucket)
    audit: AuditTrail
    claims: PromotionClaims
    history: DeploymentHistory

    def claim(self) -> bool:
        c = self.change
        body = {"event_id": c.event_id, "at": iso(utc_now()), "arn": c.arn}
        return self.claims.claim(c.group, c.version, c.status, body)

    def record_rejection(self, cloudwatch: MetricsClient) -> Outcome:
        change, version = self.change, self.version
        if not self.claim():
            return Outcome("duplicate", "rejection already recorded", change.arn)
        serving = [
            environment
            for environment, now in serving_now(
                self.sagemaker, self.history, SERVING_ENVIRONMENTS
            ).items()
            if now.deployment.manifest.model_package_arn == version.arn
        ]
        details = {"event_id": change.event_id}
        if serving:
            details["still_serving_in"] = ", ".join(serving)
        self.audit.append(
            AuditAction.REJECTION_OBSERVED,
            self.settings.actor,
            version=version,
            reason=version.approval_description,
            previous_state=version.state(),
            details=details,
        )
        for environment in serving:
            # The alarm on this metric tells operations to roll back (one command).
            cloudwatch.put_metric_data(
                Namespace=Promotion.METRIC_NAMESPACE,
                MetricData=[
                    {
                        "MetricName": Promotion.METRIC_REJECTED_SERVING,
                        "Dimensions": [
                            {"Name": Promotion.METRIC_DIMENSION_GROUP, "Value": version.group},
                            {"Name": Promotion.METRIC_DIMENSION_ENVIRONMENT, "Value": environment},
                        ],
                        "Value": 1.0,
                        "Unit": "Count",
                    }
                ],
            )
        if serving:
            return Outcome(
                "recorded", f"rejection recorded; still serving in {', '.join(serving)}", change.arn
            )
        return Outcome("recorded", "rejection recorded", change.arn)

    def observe_signoff(self) -> Outcome:
        """A validator's ModelLifeCycle write on a pending version: bind the person SageMaker
        recorded (LastModifiedBy, read now, before anything else changes the version)."""
        result, reason = observe_signoff(
            self.sagemaker,
            self.audit,
            SignoffMarkers(self.s3, self.settings.state_bucket),
            self.version,
            actor=self.settings.actor,
            event_id=self.change.event_id,
        )
        return Outcome(result, reason, self.change.arn)

    def _newer_approved(self) -> list[str]:
        """Ordering: a late event for an older version never replaces a newer approved one."""
        change = self.change
        problems = older_than_deployed(self.history, self.version, SERVING_ENVIRONMENTS)
        for number, body in sorted(self.claims.claimed(change.group, Approval.APPROVED).items()):
            if number <= change.version:
                continue
            try:
                status = describe_version(self.sagemaker, body.get("arn", "")).status
            except NotFoundError:
                continue
            if status == Approval.APPROVED:
                problems.append(
                    f"ordering: the promotion of version {number}, newer than version "
                    f"{change.version}, has started; an older approval never replaces it"
                )
        return problems

    def start_promotion(self, codepipeline: PipelineClient) -> Outcome:
        change, version, settings = self.change, self.version, self.settings
        if self.claims.exists(change.group, change.version, change.status):
            return Outcome("duplicate", "promotion already started", change.arn)
        approver = recorded_approver(version)
        judgement = judge(
            self.sagemaker,
            self.evidence_s3,
            self.audit,
            version,
            approver=approver if approver and approver.is_person else None,
            policy=settings.policy,
            gates=settings.gates,
            markers=SignoffMarkers(self.s3, settings.state_bucket),
        )
        problems = (
            _approver_problems(approver)
            + list(judgement.problems)
            + deployability_problems(version)
            + self._newer_approved()
        )
        details = {
            "event_id": change.event_id,
            **judgement.details(settings.policy, settings.gates, approver),
            "approved_at": iso(version.last_modified_at) if version.last_modified_at else "",
        }
        if problems:
            details.update(
                {"problems": "; ".join(problems), "rules": ", ".join(rules_of(problems))}
            )
            self.audit.append(
                AuditAction.PROMOTION_REFUSED,
                settings.actor,
                version=version,
                evidence=evidence_references(version),
                previous_state=version.state(),
                details=details,
            )
            return Outcome("refused", "; ".join(problems), change.arn)
        if not self.claim():
            return Outcome("duplicate", "promotion already started", change.arn)
        try:
            # First the record that binds this approval to its approver as AWS recorded it and to
            # what the gate just judged (the promotion gate reads both), then the start.
            self.audit.append(
                AuditAction.APPROVAL_OBSERVED,
                settings.actor,
                version=version,
                evidence=evidence_references(version),
                previous_state=version.state(),
                details=details,
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
                    "approver": dump_identities([approver] if approver else []),
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
    if change.status not in {Approval.APPROVED, Approval.REJECTED, Approval.PENDING}:
        return f"status {change.status} starts nothing"
    return ""


def is_alarm_event(event: Any) -> bool:
    return (
        isinstance(event, Mapping)
        and event.get("detail-type") == ALARM_DETAIL_TYPE
        and event.get("source") == ALARM_SOURCE
    )


def handle_alarm(event: Mapping[str, Any], *, s3: S3Client, settings: HandlerSettings) -> Outcome:
    """A drift or quality alarm that entered ALARM opens a re-validation record in each group
    the handler serves (the alarms are the model's: one group per config today). Other alarms,
    other states and malformed events are logged and ignored."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return _log(Outcome("ignored", "malformed alarm event: detail is not an object"))
    alarm = detail.get("alarmName")
    state = detail.get("state")
    value = state.get("value") if isinstance(state, Mapping) else None
    if not isinstance(alarm, str) or alarm not in settings.revalidation_alarms:
        return _log(Outcome("ignored", f"alarm {alarm!r} opens no re-validation"))
    if value != "ALARM":
        return _log(Outcome("ignored", f"alarm {alarm} is {value}, not ALARM"))
    environment, kind = settings.revalidation_alarms[alarm]
    audit = AuditTrail(s3, settings.audit_bucket, lock=settings.audit_lock)
    reason = str(state.get("reason", "")) if isinstance(state, Mapping) else ""
    opened = [
        open_revalidation(
            audit,
            group=group,
            actor=settings.actor,
            alarm=alarm,
            environment=environment,
            kind=kind,
            reason=f"{kind} alarm {alarm} fired in {environment}: {reason}"[:800],
            event_id=str(event.get("id", "")),
        ).record_id
        for group in sorted(settings.groups)
    ]
    return _log(Outcome("recorded", f"re-validation open: {', '.join(opened)}"))


def handle_state_change(
    event: Any,
    *,
    sagemaker: SageMakerClient,
    s3: S3Client,
    codepipeline: PipelineClient,
    cloudwatch: MetricsClient,
    settings: HandlerSettings,
    evidence_s3: S3Client | None = None,
) -> Outcome:
    """Approved: run the promotion gate, claim the version, start the promotion pipeline.
    Rejected: record it (and raise the metric when it still serves). Anything else: log and
    ignore.

    `sagemaker` reads the registry and the model-build pipeline's executions; `evidence_s3`
    reads the evidence JSON (default: `s3`, which also holds the audit trail, claims and
    history)."""
    if is_alarm_event(event):
        return handle_alarm(event, s3=s3, settings=settings)
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
            elif (
                version.status == Approval.PENDING and lifecycle_binding(version.lifecycle) is None
            ):
                # A registration or another pending change: only a sign-off is observed.
                ignored = "pending version without a sign-off"
    if ignored:
        return _log(Outcome("ignored", ignored, change.arn))

    delivery = _Delivery(
        change,
        version,
        settings,
        sagemaker,
        s3,
        evidence_s3 or s3,
        AuditTrail(s3, settings.audit_bucket, lock=settings.audit_lock),
        PromotionClaims(s3, settings.state_bucket),
        DeploymentHistory(s3, settings.state_bucket, group=change.group),
    )
    if change.status == Approval.REJECTED:
        return _log(delivery.record_rejection(cloudwatch))
    if change.status == Approval.PENDING:
        return _log(delivery.observe_signoff())
    return _log(delivery.start_promotion(codepipeline))


@cache
def _clients() -> tuple[Any, Any, Any, Any, Any]:
    import boto3

    session = boto3.session.Session()
    return (
        session.client("sagemaker"),
        session.client("s3"),
        session.client("codepipeline"),
        session.client("cloudwatch"),
        session.client("sts"),
    )


def evidence_clients(sts: Any, role_arn: str, session_name: str) -> tuple[Any, Any]:
    """(sagemaker, s3) clients acting as `role_arn`, assumed with `sts`'s credentials.

    Assumed per event, not cached with the other clients: a session chained from the Lambda's
    own role lasts at most an hour (IAM User Guide, "Role chaining"), a warm container can
    outlive it, and approval events are few, so one AssumeRole each never goes stale.
    """
    import boto3

    credentials = sts.assume_role(
        RoleArn=role_arn,
        # STS RoleSessionName: 2-64 characters of [\w+=,.@-]; CloudTrail in dev names it.
        RoleSessionName=re.sub(r"[^\w+=,.@-]", "-", session_name)[:64] or "approval-handler",
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=sts.meta.region_name,
    )
    return session.client("sagemaker"), session.client("s3")


def _reads_the_registry(event: Any, settings: HandlerSettings) -> bool:
    """Whether handling the event reads anything in dev: junk, other groups and other statuses
    are ignored without a call (and without an AssumeRole that could fail and raise)."""
    try:
        return not _ignored_because(parse_state_change(event), settings)
    except MalformedEventError:
        return False


def handler(event: Any, context: Any) -> dict[str, str]:
    """Lambda entry point (contracts.Promotion.HANDLER)."""
    logging.getLogger("finmlops").setLevel(logging.INFO)
    settings = HandlerSettings.from_env(os.environ)
    sagemaker, s3, codepipeline, cloudwatch, sts = _clients()
    evidence_s3 = s3
    if settings.evidence_role_arn and _reads_the_registry(event, settings):
        sagemaker, evidence_s3 = evidence_clients(sts, settings.evidence_role_arn, settings.actor)
    outcome = handle_state_change(
        event,
        sagemaker=sagemaker,
        s3=s3,
        codepipeline=codepipeline,
        cloudwatch=cloudwatch,
        settings=settings,
        evidence_s3=evidence_s3,
    )
    return asdict(outcome)
