"""The evidence gate and segregation of duties: what a version needs before approval and promotion.

The approve command, the approval-event handler and the promotion gate run the same `judge`, so
an approval made in the console cannot skip a check the CLI would have made: the version's
authors and the approver as AWS recorded them (`registry.authorship`, `registry.identity`), its
evidence, and the platform's gates (`registry.gatecheck`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from finmlops.contracts import Meta
from finmlops.registry.audit import AuditTrail
from finmlops.registry.authorship import Authorship, resolve_authorship
from finmlops.registry.gatecheck import (
    GateCheck,
    PlatformGate,
    check_gates,
    required_evidence_problems,
)
from finmlops.registry.identity import Identity, dump_identities
from finmlops.registry.signoff import (
    NO_CHECK,
    SignoffCheck,
    SignoffMarkers,
    check_signoff,
    model_card_sha256,
)
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient


@dataclass(frozen=True)
class EvidencePolicy:
    """Which evidence a version must carry: all of it, except that drift baselines (registered by
    the monitoring baseline step) can be made optional for a deployment that does not have them."""

    require_drift_baselines: bool = True
    # The risk tier's word (config governance.tiers, ADR 0030): approval and promotion need the
    # validator's observed sign-off. Open re-validations need one whatever the tier says.
    require_signoff: bool = False
    # The risk tier's validation depth (config governance.tiers.<tier>.required_evidence): the
    # evaluation sections the version must carry (`gatecheck.REQUIRED_EVIDENCE`).
    required_evidence: tuple[str, ...] = ()
    tier: str = ""

    def describe(self) -> str:
        text = (
            "all evidence required"
            if self.require_drift_baselines
            else "not required: drift-baselines"
        )
        if self.required_evidence:
            text += f"; risk tier {self.tier or '?'} requires evaluation evidence: " + ", ".join(
                self.required_evidence
            )
        return text + ("; validator sign-off required" if self.require_signoff else "")


def _get(tree: Mapping[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _uri(tree: Mapping[str, Any], path: str) -> str:
    source = _get(tree, path)
    return str(source.get("S3Uri", "")) if isinstance(source, Mapping) else ""


def _s3_uri_problem(name: str, uri: str) -> str | None:
    if not uri:
        return f"{name} is missing"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        return f"{name} is not an s3://bucket/key URI (got {uri!r})"
    return None


_FAIRNESS_REPORTS = ("Report", "PreTrainingReport", "PostTrainingReport")
_DRIFT_BASELINES = ("ModelDataQuality.Statistics", "ModelDataQuality.Constraints")


def missing_evidence(version: ModelVersion, policy: EvidencePolicy) -> list[str]:
    """Each piece of required evidence the version lacks, named by where it should be."""
    problems: list[str] = []
    metrics = version.model_metrics
    problem = _s3_uri_problem(
        "model metrics: ModelMetrics.ModelQuality.Statistics",
        _uri(metrics, "ModelQuality.Statistics"),
    )
    if problem:
        problems.append(problem)
    reports = [u for u in (_uri(metrics, f"Bias.{r}") for r in _FAIRNESS_REPORTS) if u]
    if not reports:
        problems.append(
            "fairness metrics: ModelMetrics.Bias has no Report, PreTrainingReport or "
            "PostTrainingReport"
        )
    for uri in reports:
        problem = _s3_uri_problem("fairness metrics: ModelMetrics.Bias", uri)
        if problem:
            problems.append(problem)
    if policy.require_drift_baselines:
        for path in _DRIFT_BASELINES:
            problem = _s3_uri_problem(
                f"drift baselines: DriftCheckBaselines.{path}", _uri(version.drift_baselines, path)
            )
            if problem:
                problems.append(problem)
    if not model_card_reference(version):
        problems.append(
            f"model card: neither ModelCard nor metadata {Meta.MODEL_CARD!r} is set on the version"
        )
    for key in Meta.INVENTORY_REQUIRED:
        if not version.metadata.get(key, "").strip():
            problems.append(f"inventory: metadata {key!r} is missing")
    return problems


def model_card_reference(version: ModelVersion) -> str:
    """Where the version's model card is: the metadata reference, else the registry's own card
    (the register step writes both: the static card in the registry, the reference to the full
    card in metadata)."""
    if version.metadata.get(Meta.MODEL_CARD):
        return version.metadata[Meta.MODEL_CARD]
    if version.model_card.get("ModelCardContent"):
        status = version.model_card.get("ModelCardStatus", "")
        return f"registry ModelCard ({status})" if status else "registry ModelCard"
    return ""


def evidence_references(version: ModelVersion) -> dict[str, str]:
    """Every evidence reference on the version, for audit records and `registry show`."""
    refs: dict[str, str] = {}
    for field, tree in (
        ("ModelMetrics", version.model_metrics),
        ("DriftCheckBaselines", version.drift_baselines),
    ):
        for section in ("ModelQuality", "ModelDataQuality", "Bias", "Explainability"):
            node = tree.get(section)
            if not isinstance(node, Mapping):
                continue
            for name in sorted(node):
                uri = _uri(node, name)
                if uri:
                    refs[f"{field}.{section}.{name}"] = uri
    card = model_card_reference(version)
    if card:
        refs[Meta.MODEL_CARD] = card
    for key in (Meta.VALIDATION_REPORT, Meta.DATA_FINGERPRINT, Meta.GIT_COMMIT, Meta.MLFLOW_RUN_ID):
        if version.metadata.get(key):
            refs[key] = version.metadata[key]
    refs.update(deployed_artifacts(version))
    return refs


# What would be deployed, as audit records keep it: the promotion gate compares a version's
# artifacts with those its approval's record names (`promotion.approval_binding`).
# The model card is bound by the sha256 of its content as DescribeModelPackage returns it: a
# card changed after approval is refused like a changed artifact (ADR 0032). A record that names
# no card hash (an older approval) binds the image and artifact only.
MODEL_CARD_SHA256 = "ModelCard.ModelCardContent.sha256"
ARTIFACT_KEYS: tuple[str, ...] = (
    "InferenceSpecification.Image",
    "InferenceSpecification.ModelDataUrl",
    MODEL_CARD_SHA256,
)


def deployed_artifacts(version: ModelVersion) -> dict[str, str]:
    """What an approval judged and promotion must find unchanged: the image, the model artifact
    and the model card's content."""
    values = dict(
        zip(
            ARTIFACT_KEYS,
            (version.image_uri, version.model_data_url, model_card_sha256(version)),
            strict=True,
        )
    )
    return {key: value for key, value in values.items() if value}


def deployability_problems(version: ModelVersion) -> list[str]:
    problems: list[str] = []
    if not version.image_uri:
        problems.append("deployment: InferenceSpecification.Containers[0].Image is missing")
    if not version.model_data_url:
        problems.append("deployment: InferenceSpecification.Containers[0].ModelDataUrl is missing")
    return problems


@dataclass(frozen=True)
class Judgement:
    """One version judged: its authors, its gates, and every problem, by rule."""

    version: ModelVersion
    authorship: Authorship
    gates: GateCheck
    problems: tuple[str, ...]
    signoff: SignoffCheck = NO_CHECK

    def details(
        self, policy: EvidencePolicy, gates: Sequence[PlatformGate], approver: Identity | None
    ) -> dict[str, str]:
        """What an audit record keeps of the judgement (who, by what record; which rules)."""
        found = {
            "policy": policy.describe(),
            **self.authorship.details(),
            **self.gates.details(gates),
            **self.signoff.details(),
        }
        if approver is not None:
            found["approver"] = dump_identities([approver])
        if self.problems:
            found["problems"] = "; ".join(self.problems)
            found["rules"] = ", ".join(rules_of(self.problems))
        return found


def rules_of(problems: Sequence[str]) -> list[str]:
    """The rule each problem names (the text before its first colon), once each."""
    return list(dict.fromkeys(p.split(":", 1)[0] for p in problems))


def judge(
    sm: SageMakerClient,
    s3: S3Client,
    audit: AuditTrail,
    version: ModelVersion,
    *,
    approver: Identity | None,
    policy: EvidencePolicy,
    gates: Sequence[PlatformGate],
    markers: SignoffMarkers | None = None,
    revalidation: bool = True,
    champion_check: bool = True,
) -> Judgement:
    """The checks approval and promotion share: authorship and segregation of duties (against
    `approver`, when there is one), the evidence, the platform's gates, and the validator's
    sign-off (`registry.signoff`; `markers` keeps to sign-offs the handler observed,
    `revalidation` also requires the group's open re-validations closed: at approval); at
    approval (`champion_check`) also the champion the version was compared with (ADR 0029)."""
    authorship = resolve_authorship(sm, audit, version)
    problems = (
        authorship.approver_problems(approver) if approver else authorship.problems()
    ) + missing_evidence(version, policy)
    gate_check = check_gates(sm, s3, version, gates, authorship, champion_check=champion_check)
    problems += gate_check.problems
    problems += required_evidence_problems(s3, version, policy.required_evidence, policy.tier)
    signoff = check_signoff(
        audit,
        version,
        required=policy.require_signoff,
        authorship=authorship,
        approver=approver,
        markers=markers,
        revalidation=revalidation,
    )
    problems += signoff.problems
    return Judgement(version, authorship, gate_check, tuple(problems), signoff)


def read_metrics(s3: S3Client, uri: str, limit: int = 40) -> dict[str, float]:
    """The numbers in a JSON evidence file (e.g. model quality statistics), by dotted path."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        document = json.loads(body)
    except (ClientError, ValueError):
        return {}
    found: dict[str, float] = {}

    def walk(node: Any, path: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(node, Mapping):
            for name in node:
                walk(node[name], f"{path}.{name}" if path else str(name))
        elif isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node):
            found[path] = float(node)

    walk(document, "")
    return found
