"""Promotion: resolve an approved version into a deployment manifest, record each deployment per
environment (with the registry's ModelLifeCycle), and roll an environment back to the previous one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from finmlops.contracts import (
    SERVING_ENVIRONMENTS,
    Approval,
    ApprovalRecord,
    AuditAction,
    AuditRecord,
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
    deployability_problems,
    deployed_artifacts,
    evidence_references,
    judge,
    rules_of,
)
from finmlops.registry.gatecheck import VALIDATED_AUC_GATE, PlatformGate
from finmlops.registry.identity import Identity, load_identities
from finmlops.registry.signoff import SignoffMarkers
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
# The model's serving stacks were destroyed: it no longer serves there (registry.retirement).
DECOMMISSION = "decommission"


def check_environment(environment: str) -> str:
    if environment not in SERVING_ENVIRONMENTS:
        raise InvalidInputError(
            f"environment: {environment!r} is not one of {', '.join(SERVING_ENVIRONMENTS)}"
        )
    return environment


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class ObservedApproval:
    """The approval as the handler observed it at event time: the approver SageMaker recorded for
    the status change (`LastModifiedBy`), bound in an `approval-observed` audit record."""

    record: AuditRecord
    approver: Identity
    approved_at: str


NO_OBSERVED = (
    "approval: no approval-observed audit record names the approver AWS recorded for this "
    "version's status change; the approval event must reach the handler (a version born "
    "Approved, or approved where the handler never saw it, is not approved by anyone known)"
)


def observed_approval(
    audit: AuditTrail, version: ModelVersion
) -> tuple[ObservedApproval | None, list[str]]:
    """The latest `approval-observed` record of the version, unless a rejection came after it."""
    where = AuditFilter(
        since=version.created_at,
        actions=frozenset(
            {AuditAction.APPROVAL_OBSERVED, AuditAction.REJECT, AuditAction.REJECTION_OBSERVED}
        ),
        model_package_arn=version.arn,
    )
    records = audit.records(where)
    observed = [r for r in records if r.action == AuditAction.APPROVAL_OBSERVED]
    if not observed:
        return None, [NO_OBSERVED]
    latest = observed[-1]
    later = [r for r in records if r.action != AuditAction.APPROVAL_OBSERVED and r.at > latest.at]
    if later:
        return None, [
            f"approval: the approval observed in audit record {latest.record_id} was followed by "
            f"a rejection (audit record {later[-1].record_id}); a rejected version stays rejected"
        ]
    approvers = load_identities(
        latest.details.get("approver", ""), f"audit record {latest.record_id} approver"
    )
    if len(approvers) != 1:
        return None, [f"approval: audit record {latest.record_id} names no approver"]
    return ObservedApproval(latest, approvers[0], latest.details.get("approved_at", "")), []


def manifest_for(
    version: ModelVersion,
    environment: str,
    approval: ObservedApproval | None = None,
    validated_auc: float | None = None,
) -> DeploymentManifest:
    """The manifest of a version: `resolve` makes it after the gate, with the approval the
    handler observed and the AUC the gate read; without one, the manifest names no approver."""
    metadata = version.metadata
    extra = {
        key: metadata[key]
        for key in (Meta.GIT_COMMIT, Meta.MODEL_ID, Meta.RISK_TIER, Meta.MLFLOW_RUN_ID)
        if metadata.get(key)
    }
    if approval is not None:
        extra["approval-record"] = approval.record.record_id
    return DeploymentManifest(
        model_package_arn=version.arn,
        model_package_group=version.group,
        version=version.version,
        image_uri=version.image_uri,
        model_data_url=version.model_data_url,
        data_fingerprint=metadata.get(Meta.DATA_FINGERPRINT, ""),
        approval=ApprovalRecord(
            approved_by=approval.approver.label() if approval else "",
            approved_at=(approval.approved_at or approval.record.at) if approval else "",
            reason=version.approval_description,
        ),
        environment=environment,
        # What the monitoring stack of this environment runs drift against: the baseline the
        # version registered, never a path guessed from the build's layout.
        drift_baseline_uri=drift_baseline_folder(version.drift_baselines),
        validated_auc=validated_auc,
        extra=extra,
    )


# The records that bind an approval to the artifacts it judged: the approve command's, and the
# handler's, written before it starts the promotion.
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


def older_than_deployed(
    history: DeploymentHistory, version: ModelVersion, environments: Sequence[str]
) -> list[str]:
    """Ordering: a version older than the one an environment runs is never promoted over it
    (going back is a rollback, an explicit and audited act)."""
    problems: list[str] = []
    for environment in environments:
        current = history.current(environment)
        if (
            current is not None
            and current.manifest.model_package_group == version.group
            and current.manifest.version > version.version
        ):
            problems.append(
                f"ordering: {environment} runs version {current.manifest.version}, newer than "
                f"version {version.version}; go back with `finmlops promote rollback`"
            )
    return problems


def resolve(
    sm: SageMakerClient,
    s3: S3Client,
    audit: AuditTrail,
    history: DeploymentHistory,
    *,
    arn: str,
    environment: str,
    actor: str,
    gates: Sequence[PlatformGate],
    policy: EvidencePolicy | None = None,
) -> DeploymentManifest:
    """The promotion gate, then the manifest. Refuses (with one audit record) what approval would
    have refused, judged against the approver the handler observed (never metadata), a version
    whose image or model artifact differs from what its approval judged, and a version older
    than the one the environment runs."""
    policy = policy or EvidencePolicy()
    check_environment(environment)
    version = describe_version(sm, arn)
    observed, problems = observed_approval(audit, version)
    approver = observed.approver if observed else None
    # The sign-off the handler observed (its marker sits in the state bucket, with the
    # history); re-validations were the approval's to close (ADR 0030). The champion was
    # checked at approval (ADR 0029); prod may since have moved on by the platform's own acts,
    # and ordering below refuses a version older than the one serving.
    markers = SignoffMarkers(history.s3, history.bucket)
    judgement = judge(
        sm, s3, audit, version, approver=approver, policy=policy, gates=gates,
        markers=markers, revalidation=False, champion_check=False,
    )  # fmt: skip
    binding, bound = approval_binding(audit, version)
    if version.status != Approval.APPROVED:
        problems.insert(0, f"status: {version.status or 'none'}, not {Approval.APPROVED}")
    problems += (
        list(judgement.problems)
        + deployability_problems(version)
        + binding_problems(version, binding, bound)
        + older_than_deployed(history, version, [environment])
    )
    details = {
        **judgement.details(policy, gates, approver),
        "artifacts_checked_against": binding or "none",
        "approval_record": observed.record.record_id if observed else "none",
    }
    if problems:
        details.update({"problems": "; ".join(problems), "rules": ", ".join(rules_of(problems))})
        audit.append(
            AuditAction.PROMOTION_REFUSED,
            actor,
            version=version,
            environment=environment,
            evidence=evidence_references(version),
            previous_state=version.state(),
            details=details,
        )
        raise RefusedError(f"promotion of {version.label} to {environment} by {actor}", problems)
    assert observed is not None  # no problem means an observed approval
    # The AUC the gate just re-read from the version's recorded evaluation, not a figure the
    # caller supplies: the quality monitor judges production against it.
    validated_auc = judgement.gates.values.get(VALIDATED_AUC_GATE)
    manifest = manifest_for(version, environment, observed, validated_auc)
    audit.append(
        AuditAction.PROMOTION_RESOLVED,
        actor,
        version=version,
        environment=environment,
        evidence=evidence_references(version),
        previous_state=version.state(),
        details=details,
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

    def exists(self, group: str, version: int, status: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key(group, version, status))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def claimed(self, group: str, status: str) -> dict[int, dict[str, str]]:
        """Version -> claim body, for every version of the group claimed with this status."""
        found: dict[int, dict[str, str]] = {}
        for key in list_keys(self.s3, self.bucket, f"{self.prefix}{group}/"):
            number, _, name = key.removeprefix(f"{self.prefix}{group}/").partition("/")
            if number.isdigit() and name == f"{status}.json":
                found[int(number)] = json.loads(read_text(self.s3, self.bucket, key))
        return found


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


def deployments(
    s3: S3Client, bucket: str, environment: str, prefix: str = Promotion.DEPLOYMENTS_PREFIX
) -> list[Deployment]:
    """Every model's deployment records in `environment`, oldest first."""
    return [
        Deployment.from_json(read_text(s3, bucket, key), key)
        for key in list_keys(s3, bucket, f"{prefix}{environment}/")
    ]


class DeploymentHistory:
    """Per environment, write-once records of what was deployed, in time order: of one model
    (its registry group), since every model of a portfolio serves in the same environments."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        group: str,
        prefix: str = Promotion.DEPLOYMENTS_PREFIX,
        clock: Clock = utc_now,
    ):
        self.s3 = s3
        self.bucket = bucket
        self.group = group
        self.prefix = prefix
        self.clock = clock

    def entries(self, environment: str) -> list[Deployment]:
        """This model's deployments in `environment`, oldest first. The records of every model
        share the environment's folder (one write-once key per deployment, which the promotion
        roles' policies already scope); each names its group in its manifest."""
        return [
            entry
            for entry in deployments(self.s3, self.bucket, environment, self.prefix)
            if entry.manifest.model_package_group == self.group
        ]

    def current(self, environment: str) -> Deployment | None:
        """What serves in `environment`: the newest record, unless the model was decommissioned
        there (finmlops.registry.retirement) or never deployed."""
        entries = self.entries(environment)
        if not entries or entries[-1].action == DECOMMISSION:
            return None
        return entries[-1]

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
        if manifest.model_package_group != self.group:
            raise ValueError(
                f"a deployment of group {manifest.model_package_group!r} in the history of "
                f"{self.group!r}"
            )
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


def _endpoint_models(serving: SageMakerClient, endpoint_name: str) -> tuple[list[str], str]:
    """(model package of each model behind the endpoint's current config, problem)."""
    try:
        endpoint = serving.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "could not find" in message.lower() or "not found" in message.lower():
            return [], f"serving: endpoint {endpoint_name} does not exist"
        raise
    status = endpoint.get("EndpointStatus", "")
    if status != "InService":
        return [], f"serving: endpoint {endpoint_name} is {status or 'in no status'}, not InService"
    config_name = endpoint["EndpointConfigName"]
    config = serving.describe_endpoint_config(EndpointConfigName=config_name)
    packages: list[str] = []
    for variant in config.get("ProductionVariants", []):
        model = serving.describe_model(ModelName=variant["ModelName"])
        containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
        packages.extend(str(c.get("ModelPackageName", "")) for c in containers)
    return packages, ""


def serving_problems(
    serving: SageMakerClient, endpoint_name: str, manifest: DeploymentManifest
) -> list[str]:
    """Whether the endpoint serves the manifest's package: DescribeEndpoint (InService, its
    current EndpointConfigName) -> DescribeEndpointConfig (every production variant) ->
    DescribeModel (each container's ModelPackageName). CloudFormation's success and SageMaker's
    automatic rollback can disagree (the endpoint keeps or returns to its previous config), so
    the deployment is recorded only when SageMaker says it serves the approved package."""
    packages, problem = _endpoint_models(serving, endpoint_name)
    if problem:
        return [problem]
    wrong = sorted({p for p in packages if p.lower() != manifest.model_package_arn.lower()})
    if not packages or wrong:
        return [
            f"serving: endpoint {endpoint_name} serves {', '.join(wrong) or 'no model package'}, "
            f"not {manifest.model_package_arn} of the manifest"
        ]
    return []


# The processing input of a batch pipeline's scoring step that carries the model archive
# (cdk/batch.py names it so; serving.batch reads it from /opt/ml/processing/model).
BATCH_MODEL_INPUT = "model"


def batch_problems(
    serving: SageMakerClient, pipeline_name: str, manifest: DeploymentManifest
) -> list[str]:
    """Whether the batch pipeline scores with the manifest's archive: DescribePipeline (its
    PipelineStatus Active, and the PipelineDefinition SageMaker holds) -> every step's
    ProcessingInput named `model` -> its S3Input.S3Uri equal to the manifest's
    `model_data_url` (SageMaker API Reference: DescribePipeline returns PipelineDefinition
    and PipelineStatus Active|Deleting; ProcessingInput.S3Input.S3Uri). CloudFormation's
    success is not the proof: the definition SageMaker returns is what the next scheduled
    execution runs (StartPipelineExecution runs the pipeline's current definition)."""
    try:
        described = serving.describe_pipeline(PipelineName=pipeline_name)
    except ClientError as exc:
        # AWS answers ResourceNotFound (DescribePipeline's documented error); moto a
        # ValidationException "Could not find pipeline".
        error = exc.response.get("Error", {})
        if (
            error.get("Code") == "ResourceNotFound"
            or "could not find" in str(error.get("Message", "")).lower()
        ):
            return [f"serving: batch pipeline {pipeline_name} does not exist"]
        raise
    status = described.get("PipelineStatus", "")
    if status != "Active":
        return [
            f"serving: batch pipeline {pipeline_name} is {status or 'in no status'}, not Active"
        ]
    try:
        steps = json.loads(described.get("PipelineDefinition") or "{}").get("Steps", [])
    except json.JSONDecodeError:
        return [f"serving: batch pipeline {pipeline_name} has a definition that is not JSON"]
    archives = sorted(
        {
            str(item.get("S3Input", {}).get("S3Uri", ""))
            for step in steps
            for item in step.get("Arguments", {}).get("ProcessingInputs", [])
            if item.get("InputName") == BATCH_MODEL_INPUT
        }
    )
    if archives != [manifest.model_data_url]:
        return [
            f"serving: batch pipeline {pipeline_name} scores with "
            f"{', '.join(archives) or 'no model archive'}, not {manifest.model_data_url} of the "
            "manifest"
        ]
    return []


def record_deployment(
    sm: SageMakerClient,
    audit: AuditTrail,
    history: DeploymentHistory,
    *,
    manifest: DeploymentManifest,
    actor: str,
    serving: SageMakerClient,
    endpoint_name: str = "",
    batch_pipeline: str = "",
    reason: str = "",
    lifecycle: bool = True,
) -> Deployment:
    """After a deploy: check that the endpoint serves the manifest's package (`serving_problems`,
    with `serving`, a client of the environment's account), or for a batch model that its batch
    pipeline scores with the manifest's archive (`batch_problems`, `batch_pipeline` named
    instead of `endpoint_name`); then audit record, history entry, ModelLifeCycle. Recording
    the version that already runs there again adds nothing (pipeline retries are safe). A
    refusal writes one `deploy-refused` record and nothing else.

    `lifecycle=False` leaves the registry alone: for a caller that may not write the registry
    (the promotion pipeline's role, under segregation of duties); the audit record says so."""
    if bool(endpoint_name) == bool(batch_pipeline):
        raise ValueError("record_deployment: name the endpoint or the batch pipeline, one of them")
    environment = check_environment(manifest.environment)
    stage = LIFECYCLE_STAGES[environment]
    version = describe_version(sm, manifest.model_package_arn)
    if batch_pipeline:
        problems = batch_problems(serving, batch_pipeline, manifest)
        serves = {"batch_pipeline": batch_pipeline}
    else:
        problems = serving_problems(serving, endpoint_name, manifest)
        serves = {"endpoint": endpoint_name}
    if problems:
        audit.append(
            AuditAction.DEPLOY_REFUSED,
            actor,
            version=version,
            environment=environment,
            reason=reason,
            evidence=evidence_references(version),
            details={
                **serves,
                "problems": "; ".join(problems),
                "rules": ", ".join(rules_of(problems)),
            },
        )
        raise RefusedError(f"recording {version.label} as deployed in {environment}", problems)
    current = history.current(environment)
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
    """The last good deployment before the current one: another version that ran there, was never
    rolled back there, and is still Approved (so never a rejected one); or why there is none.

    A version rolled back once stays behind: a second rollback goes further back, never forward
    onto the version just rolled back."""
    if not entries:
        return None, [f"rollback: no deployment is recorded in {environment}"]
    current = entries[-1]
    rolled_back = {e.replaces for e in entries if e.action == ROLLBACK and e.replaces}
    seen = {current.manifest.model_package_arn}
    skipped: list[str] = []
    for entry in reversed(entries[:-1]):
        arn = entry.manifest.model_package_arn
        if arn in seen:
            continue
        seen.add(arn)
        if arn in rolled_back:
            skipped.append(f"version {entry.manifest.version} was rolled back in {environment}")
            continue
        try:
            status = describe_version(sm, arn).status
        except NotFoundError:
            status = "deleted"
        if status == Approval.APPROVED:
            return entry, []
        skipped.append(f"version {entry.manifest.version} ran before but is now {status}")
    first = (
        f"rollback: no good version ran in {environment} before version "
        f"{current.manifest.version} (one never rolled back there and still {Approval.APPROVED})"
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
            details={"problems": "; ".join(problems), "rules": "rollback"},
        )
        raise RefusedError(f"rollback of {environment} by {actor}", problems)

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


@dataclass(frozen=True)
class Serving:
    """What runs in an environment per the deployment history, with its registry status now."""

    deployment: Deployment
    status: str

    @property
    def rejected(self) -> bool:
        return self.status == Approval.REJECTED

    def warning(self) -> str:
        if not self.rejected:
            return ""
        return (
            f"version {self.deployment.manifest.version} is {Approval.REJECTED} and still serves "
            f"in {self.deployment.environment}: `finmlops promote rollback --environment "
            f"{self.deployment.environment} --reason ...`"
        )


def serving_now(
    sm: SageMakerClient, history: DeploymentHistory, environments: Sequence[str]
) -> dict[str, Serving]:
    """Environment -> what serves there, for every environment with a deployment."""
    found: dict[str, Serving] = {}
    for environment in environments:
        current = history.current(environment)
        if current is None:
            continue
        try:
            status = describe_version(sm, current.manifest.model_package_arn).status
        except NotFoundError:
            status = "deleted"
        found[environment] = Serving(current, status)
    return found
