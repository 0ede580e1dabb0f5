"""Promotion: resolve an approved version into a deployment manifest, record each deployment per
environment (with the registry's ModelLifeCycle), and roll an environment back to the previous one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from finmlops.contracts import (
    SERVING_ENVIRONMENTS,
    Approval,
    ApprovalRecord,
    AuditAction,
    DeploymentManifest,
    Meta,
    Promotion,
    Stage,
    drift_baseline_folder,
)
from finmlops.registry.audit import AuditFilter, AuditTrail
from finmlops.registry.errors import ConflictError, InvalidInputError, NotFoundError, RefusedError
from finmlops.registry.evidence import (
    ARTIFACT_KEYS,
    EvidencePolicy,
    approver_of,
    deployed_artifacts,
    evidence_references,
    promotion_problems,
)
from finmlops.registry.storage import (
    Clock,
    iso,
    list_keys,
    put_new,
    read_text,
    time_key,
    utc_now,
)
from finmlops.registry.versions import (
    LIFECYCLE_STAGES,
    Lifecycle,
    ModelVersion,
    describe_version,
    update_version,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

DEPLOY = "deploy"
ROLLBACK = "rollback"


def check_environment(environment: str) -> str:
    if environment not in SERVING_ENVIRONMENTS:
        raise InvalidInputError(
            f"environment: {environment!r} is not one of {', '.join(SERVING_ENVIRONMENTS)}"
        )
    return environment


# --------------------------------------------------------------------------- resolution


def manifest_for(version: ModelVersion, environment: str) -> DeploymentManifest:
    """The manifest of a version that passed the gate (see `resolve`)."""
    metadata = version.metadata
    extra = {
        key: metadata[key]
        for key in (Meta.GIT_COMMIT, Meta.MODEL_ID, Meta.RISK_TIER, Meta.MLFLOW_RUN_ID)
        if metadata.get(key)
    }
    return DeploymentManifest(
        model_package_arn=version.arn,
        model_package_group=version.group,
        version=version.version,
        image_uri=version.image_uri,
        model_data_url=version.model_data_url,
        data_fingerprint=metadata.get(Meta.DATA_FINGERPRINT, ""),
        approval=ApprovalRecord(
            approved_by=approver_of(version),
            approved_at=metadata.get(Meta.APPROVED_AT, ""),
            # The metadata copy is shortened to fit AWS limits; the description has it whole.
            reason=version.approval_description or metadata.get(Meta.APPROVAL_REASON, ""),
        ),
        environment=environment,
        # What the monitoring stack of this environment runs drift against: the baseline the
        # version registered, never a path guessed from the build's layout.
        drift_baseline_uri=drift_baseline_folder(version.drift_baselines),
        extra=extra,
    )


# The records that bind an approval to the artifacts it judged: the approve command's, and for a
# console approval the handler's, written before it starts the promotion.
_BINDING_ACTIONS = frozenset(
    {AuditAction.APPROVE, AuditAction.APPROVAL_OBSERVED, AuditAction.PROMOTION_STARTED}
)
NO_BINDING = (
    "approval: no audit record binds this approval to the artifacts it judged; approve with "
    "`finmlops registry approve`, or let the approval event reach the handler"
)


def approval_binding(audit: AuditTrail, version: ModelVersion) -> tuple[str, dict[str, str]]:
    """The first approval record of the version that names its artifacts: (record id, artifacts),
    or ("", {}) when there is none."""
    where = AuditFilter(
        since=version.created_at, actions=_BINDING_ACTIONS, model_package_arn=version.arn
    )
    for record in audit.records(where):
        bound = {key: record.evidence[key] for key in ARTIFACT_KEYS if key in record.evidence}
        if bound:
            return record.record_id, bound
    return "", {}


def binding_problems(version: ModelVersion, record_id: str, bound: dict[str, str]) -> list[str]:
    """What would be deployed but differs from what the approval judged; an approval that no
    record binds is a problem too (fail safe: nothing says what was approved)."""
    if not record_id:
        return [NO_BINDING] if version.status == Approval.APPROVED else []
    current = deployed_artifacts(version)
    return [
        f"{key}: {current.get(key) or 'none'} is not {value}, which the approval judged "
        f"(audit record {record_id}); the version changed after approval"
        for key, value in bound.items()
        if current.get(key) != value
    ]


def resolve(
    sm: SageMakerClient,
    audit: AuditTrail,
    *,
    arn: str,
    environment: str,
    actor: str,
    policy: EvidencePolicy | None = None,
) -> DeploymentManifest:
    """The promotion gate, then the manifest. Refuses (with an audit record) what the approve
    command would have refused, so an approval made in the console skips nothing, and a version
    whose image or model artifact differs from what its approval record names."""
    policy = policy or EvidencePolicy()
    check_environment(environment)
    version = describe_version(sm, arn)
    binding, bound = approval_binding(audit, version)
    problems = promotion_problems(version, policy) + binding_problems(version, binding, bound)
    checked = {"artifacts_checked_against": binding or "none"}
    if problems:
        audit.append(
            AuditAction.PROMOTION_REFUSED,
            actor,
            version=version,
            environment=environment,
            evidence=evidence_references(version),
            previous_state=version.state(),
            details={"policy": policy.describe(), "problems": "; ".join(problems), **checked},
        )
        raise RefusedError(f"promotion of {version.label} to {environment}", problems)
    manifest = manifest_for(version, environment)
    audit.append(
        AuditAction.PROMOTION_RESOLVED,
        actor,
        version=version,
        environment=environment,
        evidence=evidence_references(version),
        previous_state=version.state(),
        details={
            "policy": policy.describe(),
            "approved_by": manifest.approval.approved_by,
            **checked,
        },
    )
    return manifest


def read_manifest(text: str, source: str) -> DeploymentManifest:
    try:
        return DeploymentManifest.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(
            f"manifest: {source} is not a deployment manifest ({exc})"
        ) from None


# --------------------------------------------------------------------------- claims


class PromotionClaims:
    """One write-once marker per version and status: whoever creates it starts the promotion."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = Promotion.CLAIMS_PREFIX):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def key(self, group: str, version: int, status: str) -> str:
        return f"{self.prefix}{group}/{version}/{status}.json"

    @staticmethod
    def token(group: str, version: int, status: str) -> str:
        """An idempotency token for CodePipeline's clientRequestToken (same inputs, same token)."""
        return hashlib.sha256(f"{group}/{version}/{status}".encode()).hexdigest()[:64]

    def claim(self, group: str, version: int, status: str, body: dict[str, str]) -> bool:
        try:
            put_new(self.s3, self.bucket, self.key(group, version, status), json.dumps(body))
        except ConflictError:
            return False
        return True

    def release(self, group: str, version: int, status: str) -> None:
        """Undo a claim whose promotion could not start, so a retried event can start it."""
        self.s3.delete_object(Bucket=self.bucket, Key=self.key(group, version, status))


# --------------------------------------------------------------------------- deployments


@dataclass(frozen=True)
class Deployment:
    """One entry of an environment's deployment history: what runs there from `at` on."""

    environment: str
    action: str
    at: str
    actor: str
    reason: str
    manifest: DeploymentManifest
    replaces: str = ""
    audit_record: str = ""
    key: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("key")
        return json.dumps(data, sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, key: str = "") -> Deployment:
        data: dict[str, Any] = json.loads(text)
        manifest = read_manifest(json.dumps(data.pop("manifest")), key or "deployment record")
        return cls(manifest=manifest, key=key, **data)


class DeploymentHistory:
    """Per environment, write-once records of what was deployed, in time order."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        prefix: str = Promotion.DEPLOYMENTS_PREFIX,
        clock: Clock = utc_now,
    ):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.clock = clock

    def entries(self, environment: str) -> list[Deployment]:
        folder = f"{self.prefix}{environment}/"
        return [
            Deployment.from_json(read_text(self.s3, self.bucket, key), key)
            for key in list_keys(self.s3, self.bucket, folder)
        ]

    def current(self, environment: str) -> Deployment | None:
        entries = self.entries(environment)
        return entries[-1] if entries else None

    def append(
        self,
        manifest: DeploymentManifest,
        action: str,
        actor: str,
        *,
        reason: str = "",
        replaces: str = "",
        audit_record: str = "",
    ) -> Deployment:
        now = self.clock()
        key = time_key(f"{self.prefix}{manifest.environment}/", now, action)
        entry = Deployment(
            environment=manifest.environment,
            action=action,
            at=iso(now),
            actor=actor,
            reason=reason,
            manifest=manifest,
            replaces=replaces,
            audit_record=audit_record,
            key=key,
        )
        put_new(self.s3, self.bucket, key, entry.to_json(), now=now)
        return entry


_STAGE_RANK = {stage: rank for rank, stage in enumerate(LIFECYCLE_STAGES.values())}


def _set_lifecycle(
    sm: SageMakerClient, arn: str, environment: str, status: str, description: str
) -> None:
    update_version(sm, arn, lifecycle=Lifecycle(LIFECYCLE_STAGES[environment], status, description))


def _retire(sm: SageMakerClient, arn: str, environment: str, status: str, description: str) -> None:
    """Mark the version that ran in the environment as replaced, unless it already moved on
    (a version replaced in stage may still run in prod: its lifecycle then says Production)."""
    try:
        previous = describe_version(sm, arn)
    except NotFoundError:
        return
    if previous.lifecycle and previous.lifecycle.stage == LIFECYCLE_STAGES[environment]:
        _set_lifecycle(sm, arn, environment, status, description)


def record_deployment(
    sm: SageMakerClient,
    audit: AuditTrail,
    history: DeploymentHistory,
    *,
    manifest: DeploymentManifest,
    actor: str,
    reason: str = "",
    lifecycle: bool = True,
) -> Deployment:
    """After a successful deploy: audit record, history entry, ModelLifeCycle. Recording the
    version that already runs there again adds nothing (pipeline retries are safe).

    `lifecycle=False` leaves the registry alone: for a caller that may not write the registry
    (the promotion pipeline's role, under segregation of duties); the audit record says so."""
    environment = check_environment(manifest.environment)
    stage = LIFECYCLE_STAGES[environment]
    current = history.current(environment)
    version = describe_version(sm, manifest.model_package_arn)
    if current and current.manifest.model_package_arn == version.arn:
        # A retry after a failure between the history write and the lifecycle write finishes it;
        # a version that has since reached a later stage keeps that stage.
        shown = version.lifecycle
        if lifecycle and (shown is None or _STAGE_RANK.get(shown.stage, -1) < _STAGE_RANK[stage]):
            _set_lifecycle(sm, version.arn, environment, Stage.DEPLOYED, f"deployed {current.at}")
        return current
    replaces = current.manifest.model_package_arn if current else ""
    # The deploy has happened: its audit record first, then the history, then the registry's view.
    record = audit.append(
        AuditAction.DEPLOY,
        actor,
        version=version,
        environment=environment,
        reason=reason,
        evidence=evidence_references(version),
        previous_state={"deployed": replaces or "none"},
        details={
            "approved_by": manifest.approval.approved_by,
            "registry_lifecycle": "updated" if lifecycle else "not updated by this caller",
        },
    )
    entry = history.append(
        manifest, DEPLOY, actor, reason=reason, replaces=replaces, audit_record=record.record_id
    )
    if not lifecycle:
        return entry
    _set_lifecycle(sm, version.arn, environment, Stage.DEPLOYED, f"deployed {entry.at}")
    if replaces:
        _retire(
            sm, replaces, environment, Stage.REPLACED, f"replaced by {version.label} {entry.at}"
        )
    return entry


def _rollback_target(
    sm: SageMakerClient, entries: list[Deployment], environment: str
) -> tuple[Deployment | None, list[str]]:
    """The latest earlier deployment of another version that is still Approved, or the reasons
    there is none."""
    if not entries:
        return None, [f"no deployment is recorded in {environment}"]
    current = entries[-1]
    seen = {current.manifest.model_package_arn}
    skipped: list[str] = []
    for entry in reversed(entries[:-1]):
        arn = entry.manifest.model_package_arn
        if arn in seen:
            continue
        seen.add(arn)
        try:
            status = describe_version(sm, arn).status
        except NotFoundError:
            status = "deleted"
        if status == Approval.APPROVED:
            return entry, []
        skipped.append(f"version {entry.manifest.version} ran before but is now {status}")
    first = (
        f"no other approved version was deployed in {environment} before "
        f"version {current.manifest.version}"
    )
    return None, [first, *skipped]


def rollback(
    sm: SageMakerClient,
    audit: AuditTrail,
    history: DeploymentHistory,
    *,
    environment: str,
    actor: str,
    reason: str,
) -> Deployment:
    """Make the previously deployed, still Approved version the current one of the environment.

    Returns the new history entry; its manifest is what the endpoint stack redeploys. Refuses,
    with an audit record, when no earlier approved version ran there.
    """
    check_environment(environment)
    if not reason.strip():
        raise InvalidInputError("reason: a reason is required for a rollback")
    entries = history.entries(environment)
    target, problems = _rollback_target(sm, entries, environment)
    if target is None:
        audit.append(
            AuditAction.ROLLBACK_REFUSED,
            actor,
            group=entries[-1].manifest.model_package_group if entries else "",
            environment=environment,
            reason=reason,
            details={"problems": "; ".join(problems)},
        )
        raise RefusedError(f"rollback of {environment}", problems)

    replaced = entries[-1].manifest
    manifest = replace(
        target.manifest,
        environment=environment,
        extra={**target.manifest.extra, "rolled-back-from": replaced.model_package_arn},
    )
    version = describe_version(sm, manifest.model_package_arn)
    record = audit.append(
        AuditAction.ROLLBACK,
        actor,
        version=version,
        environment=environment,
        reason=reason,
        evidence=evidence_references(version),
        previous_state={
            "deployed": replaced.model_package_arn,
            "deployed_version": str(replaced.version),
        },
        details={"restores_deployment": target.key},
    )
    entry = history.append(
        manifest,
        ROLLBACK,
        actor,
        reason=reason,
        replaces=replaced.model_package_arn,
        audit_record=record.record_id,
    )
    _set_lifecycle(sm, version.arn, environment, Stage.DEPLOYED, f"restored by rollback {entry.at}")
    _retire(
        sm,
        replaced.model_package_arn,
        environment,
        Stage.ROLLED_BACK,
        f"rolled back to {version.label} {entry.at}: {reason}",
    )
    return entry
