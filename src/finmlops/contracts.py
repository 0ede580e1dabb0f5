"""The seams between the parts, defined once and imported by both sides.

- Placeholders: the `${Name}` slots in the pipeline definition JSON that CloudFormation's Fn::Sub
  fills on AWS and the offline executor fills from the emulator.
- Pipeline parameters: names the definition declares and the runtime overrides.
- Registry evidence: what the register step writes on a model version and what the approval
  command, the promotion gate, the CLI and the reports read back.
- Registry stages: the ModelLifeCycle values promotion writes and its IAM role is limited to.
- Deployment manifest: what promotion resolves an approved version into, and what the endpoint
  stack, the emulator's serving and rollback consume.

A change to a contract is a change in this file, and a failing test on both sides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

# The environments of a deployment; stage and prod serve the model. (Here, not in config.py, so
# code that runs in Lambda can use them without pydantic.)
ENVIRONMENT_NAMES: tuple[str, ...] = ("tooling", "dev", "stage", "prod")
SERVING_ENVIRONMENTS: tuple[str, ...] = ("stage", "prod")

_SLOT = re.compile(r"\$\{([^}!]+)\}")


class Placeholder:
    """`${...}` slots in the pipeline definition (CloudFormation Fn::Sub variables)."""

    ARTIFACT_BUCKET = "ArtifactBucket"
    MODEL_PACKAGE_GROUP = "ModelPackageGroupName"
    EXECUTION_ROLE_NAME = "SageMakerRoleName"
    KMS_KEY_ARN = "KmsKeyArn"
    SECURITY_GROUP_ID = "JobSecurityGroupId"
    # The project's own image (docker/monitoring/Dockerfile): monitoring, baseline, evidence, track.
    PROJECT_IMAGE_URI = "ProjectImageUri"
    # Present only when config.tracking.mode is "sagemaker": the tracking server's ARN.
    MLFLOW_TRACKING_URI = "MlflowTrackingUri"
    # Pseudo parameters: resolved by Fn::Sub without an entry in its map.
    ACCOUNT_ID = "AWS::AccountId"
    PARTITION = "AWS::Partition"
    REGION = "AWS::Region"

    @staticmethod
    def ref(name: str) -> str:
        return "${" + name + "}"

    @staticmethod
    def slots(body: str) -> set[str]:
        """The names of the `${...}` slots in a body."""
        return set(_SLOT.findall(body))

    @staticmethod
    def substitute(body: str, values: dict[str, str]) -> str:
        """Fill every slot as CloudFormation's Fn::Sub would; an unfilled slot is an error.

        The offline executor and `finmlops build upsert` use this; on AWS CloudFormation does it.
        """
        missing = sorted(Placeholder.slots(body) - set(values))
        if missing:
            raise KeyError(f"no value for placeholder(s): {', '.join(missing)}")
        return _SLOT.sub(lambda match: values[match.group(1)], body)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The placeholders a caller must supply (pseudo parameters excluded)."""
        return (
            cls.ARTIFACT_BUCKET,
            cls.MODEL_PACKAGE_GROUP,
            cls.EXECUTION_ROLE_NAME,
            cls.KMS_KEY_ARN,
            cls.SECURITY_GROUP_ID,
            cls.PROJECT_IMAGE_URI,
        )


class Param:
    """Names of the SageMaker pipeline parameters."""

    INPUT_DATA_URI = "InputDataUri"
    PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
    TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
    GIT_COMMIT = "GitCommit"
    # Names of the model gates' thresholds, as the evidence and track steps receive them
    # (`--threshold MinAuc 0.65`). They are no run-time parameters: a run cannot lower a gate
    # (ADR 0014); the definition carries the platform's values.
    MIN_AUC = "MinAuc"
    MIN_KS = "MinKs"
    MAX_FAIRNESS_DISPARITY = "MaxFairnessDisparity"
    MIN_DISPARATE_IMPACT = "MinDisparateImpact"
    MAX_AUC_DROP_VS_CHAMPION = "MaxAucDropVsChampion"
    # The champion (the version serving in prod) the evaluate step compares with: set by
    # `finmlops build start` from the registry's ModelLifeCycle, "none" for the first version;
    # approval re-reads the registry and refuses a build that named another (ADR 0029).
    CHAMPION_MODEL_PACKAGE_ARN = "ChampionModelPackageArn"
    CHAMPION_MODEL_DATA_URL = "ChampionModelDataUrl"
    # The champion's training-row digests (train_rows.txt beside its registered evaluation.json):
    # the evaluate step leaves those test rows out of the comparison (ADR 0029).
    CHAMPION_TRAINING_ROWS_URL = "ChampionTrainingRowsUrl"


class Meta:
    """Keys of a model version's CustomerMetadataProperties (the inventory and lineage record)."""

    MODEL_ID = "model-id"
    RISK_TIER = "risk-tier"
    OWNER = "owner"
    VALIDATOR = "validator"
    DATA_CLASSIFICATION = "data-classification"
    DATA_FINGERPRINT = "data-fingerprint"
    GIT_COMMIT = "git-commit"
    TRAINING_IMAGE = "training-image"
    # Written by `registry approve` for people reading the registry; never read by a check: the
    # approver is what AWS records (LastModifiedBy), bound in the handler's audit record.
    APPROVED_BY = "approved-by"
    APPROVAL_REASON = "approval-reason"
    APPROVED_AT = "approved-at"
    MLFLOW_RUN_ID = "mlflow-run-id"
    VALIDATION_REPORT = "validation-report"
    MODEL_CARD = "model-card"
    # The digests of the rows the version was trained on (train_rows.txt beside its registered
    # evaluation.json): a later build leaves them out of its champion comparison (ADR 0029).
    TRAINING_ROWS = "training-rows"

    # What an approver needs on a version before approval is allowed (evidence gate).
    INVENTORY_REQUIRED: tuple[str, ...] = (MODEL_ID, RISK_TIER, OWNER, VALIDATOR, DATA_FINGERPRINT)


class Evidence:
    """Where the evidence files of a version live, relative to the evaluation output prefix."""

    EVALUATION_FILE = "evaluation.json"
    FAIRNESS_FILE = "fairness.json"
    CONTENT_TYPE_JSON = "application/json"


class Approval:
    PENDING = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class Stage:
    """The registry's ModelLifeCycle as promotion writes it: the only values the promotion's
    registry-lifecycle role may send (its IAM conditions are built from these)."""

    BY_ENVIRONMENT: Mapping[str, str] = MappingProxyType({"stage": "Staging", "prod": "Production"})
    DEPLOYED = "Deployed"
    REPLACED = "Replaced"
    ROLLED_BACK = "RolledBack"
    STATUSES: tuple[str, ...] = (DEPLOYED, REPLACED, ROLLED_BACK)


class Validation:
    """The validator's sign-off as the registry carries it (ADR 0030): a ModelLifeCycle write
    that only the validator role may make (its IAM conditions are built from these), whose
    description binds the findings' digest and the validator's audit record."""

    STAGE = "Validation"
    SIGNED_OFF = "SignedOff"
    FINDINGS_OPEN = "FindingsOpen"
    STATUSES: tuple[str, ...] = (SIGNED_OFF, FINDINGS_OPEN)
    SEVERITIES: tuple[str, ...] = ("high", "medium", "low")
    # A finding of this severity blocks approval until a later sign-off no longer lists it.
    BLOCKING = "high"
    # The handler's settings (set by the CDK stack from the config's risk tier).
    ENV_REQUIRE_SIGNOFF = "REQUIRE_VALIDATOR_SIGNOFF"
    # The risk tier's required evaluation evidence (governance.tiers.<tier>.required_evidence),
    # as JSON {"tier": ..., "required": [...]}; absent, the handler requires all of it.
    ENV_REQUIRED_EVIDENCE = "REQUIRED_EVIDENCE"
    # JSON {alarm name: {"environment": ..., "kind": "drift" | "quality"}}: the alarms whose
    # firing opens a re-validation record.
    ENV_REVALIDATION_ALARMS = "REVALIDATION_ALARMS"
    # Create-only markers in the state bucket, one per sign-off the handler observed: only the
    # handler writes there, so a `validation-observed` record without its marker is forged.
    MARKERS_PREFIX = "validation/observed/"


@dataclass(frozen=True)
class ApprovalRecord:
    approved_by: str
    approved_at: str
    reason: str


@dataclass(frozen=True)
class DeploymentManifest:
    """An approved version resolved into everything a deployment needs, reproducibly."""

    model_package_arn: str
    model_package_group: str
    version: int
    image_uri: str
    model_data_url: str
    data_fingerprint: str
    approval: ApprovalRecord
    environment: str = ""
    # The S3 folder of the version's drift baseline (statistics.json, constraints.json and the
    # engine's artifact), read from its registered DriftCheckBaselines (`drift_baseline_folder`).
    # The monitoring stack runs its jobs against it and refuses to synthesize without it.
    drift_baseline_uri: str = ""
    # The version's test-set AUC as the promotion gate re-read it from the version's recorded
    # evaluation (gate min-auc): the quality job judges each window's AUC drop against it.
    validated_auc: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DeploymentManifest:
        data: dict[str, Any] = json.loads(text)
        approval = ApprovalRecord(**data.pop("approval"))
        return cls(approval=approval, **data)


def drift_baseline_folder(drift_check_baselines: Mapping[str, Any]) -> str:
    """The one S3 folder that holds a version's registered data-quality baseline: the folder of
    DriftCheckBaselines.ModelDataQuality's Statistics and Constraints, "" when either is missing
    or they sit in different folders (the drift job fetches the baseline as one folder)."""
    quality = drift_check_baselines.get("ModelDataQuality") or {}
    folders = {
        str((quality.get(kind) or {}).get("S3Uri", "")).rpartition("/")[0]
        for kind in ("Statistics", "Constraints")
    }
    if len(folders) != 1:
        return ""
    (folder,) = folders
    return folder if folder.startswith("s3://") else ""


class AuditAction:
    """What an audit record says happened (one record per decision or deployment)."""

    # The fixed step that starts a model build: the execution, its commit and Git's people.
    BUILD_STARTED = "build-started"
    APPROVE = "approve"
    APPROVAL_REFUSED = "approval-refused"
    REJECT = "reject"
    DECISION_NOT_APPLIED = "decision-not-applied"
    REJECTION_OBSERVED = "rejection-observed"
    # The handler saw an approval it will promote: written before the pipeline starts, it binds
    # a console approval to the artifacts the handler's gate judged.
    APPROVAL_OBSERVED = "approval-observed"
    PROMOTION_STARTED = "promotion-started"
    PROMOTION_REFUSED = "promotion-refused"
    PROMOTION_RESOLVED = "promotion-resolved"
    DEPLOY = "deploy"
    # `promote record` found the endpoint not serving the manifest's package.
    DEPLOY_REFUSED = "deploy-refused"
    ROLLBACK = "rollback"
    ROLLBACK_REFUSED = "rollback-refused"
    # The model no longer serves in an environment: its serving stacks were destroyed, and its
    # block may leave the portfolio (finmlops.registry.retirement).
    DECOMMISSION = "decommission"
    # A validator's sign-off (ADR 0030): the validator's own record of the findings
    # (`registry validate`), the handler's record binding it to the person SageMaker recorded
    # for the sign-off's ModelLifeCycle write, or the handler's refusal of it.
    VALIDATION_SUBMITTED = "validation-submitted"
    VALIDATION_OBSERVED = "validation-observed"
    VALIDATION_REFUSED = "validation-refused"
    # A drift or quality alarm fired on a served model: the next approval of the group must
    # close it with a sign-off that names it (SR 26-2 re-review trigger).
    REVALIDATION_OPENED = "revalidation-opened"


@dataclass(frozen=True)
class AuditRecord:
    """One append-only entry of the audit trail: who did what to which version, when and why.

    Values are strings so that an examiner's CSV export has one plain column per key.
    """

    record_id: str
    at: str
    action: str
    actor: str
    model_package_group: str
    model_package_arn: str = ""
    version: int | None = None
    environment: str = ""
    reason: str = ""
    evidence: dict[str, str] = field(default_factory=dict)
    previous_state: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    # The hash chain of the record's group (finmlops.registry.audit): its place in the chain,
    # the hash of the record before it (a defined genesis for the first), and its own hash
    # ("sha256:<hex>" of the RFC 8785 form of every other field).
    sequence: int | None = None
    previous_hash: str = ""
    hash: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AuditRecord:
        """A record as stored; fields this version does not know are left out (a newer
        writer's, say), fields it lacks take their defaults (a record written before the
        chain). The chain's checks hash the stored JSON itself, never this object."""
        data: dict[str, Any] = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class Promotion:
    """What the approval-event handler, the promotion pipeline and the CDK stack agree on."""

    # Lambda handler path of the approval-event handler.
    HANDLER = "finmlops.registry.handler.handler"
    # CodePipeline V2 pipeline-level variable that carries the approved version.
    ARN_VARIABLE = "ModelPackageArn"
    # Set only by `finmlops promote rollback --start-pipeline`: the one environment to redeploy.
    ENVIRONMENT_VARIABLE = "TargetEnvironment"
    # Environment variables the CDK stack gives the handler.
    ENV_GROUPS = "MODEL_PACKAGE_GROUPS"
    ENV_PIPELINE = "PROMOTION_PIPELINE_NAME"
    ENV_AUDIT_BUCKET = "AUDIT_BUCKET"
    ENV_STATE_BUCKET = "STATE_BUCKET"
    ENV_AUDIT_RETENTION_DAYS = "AUDIT_RETENTION_DAYS"
    ENV_REQUIRE_DRIFT_BASELINES = "REQUIRE_DRIFT_BASELINES"
    # The platform's release gates (JSON, `finmlops.registry.gatecheck.gates_to_json` of
    # `finmlops.gates.platform_gates(config)`): what approval and promotion re-check.
    ENV_GATES = "PLATFORM_GATES"
    # Optional: the dev role (`<project>-dev-evidence-reader`) the handler assumes to read the
    # registry, the model-build pipeline's executions and the evidence JSON; unset, it reads
    # with its own role (as in a single-account deployment or the emulator without the role).
    ENV_EVIDENCE_ROLE = "EVIDENCE_ROLE_ARN"
    # The handler's CloudWatch metric: 1 when it records the rejection of a version that still
    # serves in an environment (dimensions: ModelPackageGroup, Environment). Alarm on >= 1.
    METRIC_NAMESPACE = "finmlops/Promotion"
    METRIC_REJECTED_SERVING = "RejectedVersionServing"
    METRIC_DIMENSION_GROUP = "ModelPackageGroup"
    METRIC_DIMENSION_ENVIRONMENT = "Environment"
    # Audit records are evidence for examiners: seven years of COMPLIANCE retention, the audit
    # bucket's default (finmlops_cdk.audit_trail) and the emulator's.
    AUDIT_RETENTION_DAYS = 2557
    # Key prefixes: audit records in the audit bucket; the rest in the state bucket.
    AUDIT_PREFIX = "audit/"
    CLAIMS_PREFIX = "promotions/claims/"
    DEPLOYMENTS_PREFIX = "deployments/"

    @staticmethod
    def audit_bucket_name(project: str, account: str, region: str) -> str:
        """The Object Lock bucket of the audit trail."""
        return bucket_name(project, "audit", account, region)

    @staticmethod
    def state_bucket_name(project: str, account: str, region: str) -> str:
        """The bucket of promotion claims and per-environment deployment history."""
        return bucket_name(project, "promotion", account, region)


class Alerts:
    """What the chat notifier (an SNS-subscribed Lambda) and the CDK stack agree on."""

    # Lambda handler path of the notifier: SNS alert messages -> the chat webhook.
    HANDLER = "finmlops.alerts.chat.handler"
    # Environment variables the CDK stack gives it: the SSM SecureString parameter that holds the
    # webhook URL (`notifications.chat_webhook_parameter`), and the environment's name.
    ENV_WEBHOOK_PARAMETER = "CHAT_WEBHOOK_PARAMETER"
    ENV_ENVIRONMENT = "ENVIRONMENT_NAME"


def bucket_name(project: str, purpose: str, account: str, region: str) -> str:
    """`{project}-{purpose}-{account}-{region}`, the one bucket naming rule (finmlops.naming)."""
    name = f"{project}-{purpose}-{account}-{region}".lower()
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters: shorten project")
    return name
