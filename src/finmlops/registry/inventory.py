"""The model inventory an examiner asks for (SR 26-2 / OCC Bulletin 2026-13: a firm-wide inventory
of models with their tier, owner, validator, use, validation status and findings), assembled from
what the platform records, never from what anyone wrote into it by hand:

- who and what: each model's block of the config (tier, owner, validator, approver role, serving
  mode and schedule, data classification, intended use, limitations);
- versions in dev: the Model Registry (ListModelPackages, DescribeModelPackage: approval status
  and ModelLifeCycle);
- the version serving in stage and prod: the deployment history `promote record` and
  `promote rollback` write (the state bucket, each model's own, read as `promote status`
  reads it; nothing once the model was decommissioned there), with the registry's status of
  that version now;
- last validation and findings: the handler's `validation-observed` records (ADR 0030) in the
  audit trail, kept only when the handler's marker vouches for them (when the markers are
  given); a finding stays open until a later sign-off of the same version no longer lists it;
- open re-validations: `revalidation-opened` records no observed approval has closed;
- alarms: the CloudWatch state (DescribeAlarms) of the model's drift and quality alarms in each
  serving environment, by the names `finmlops.naming` gives them.

`model_inventory` is pure assembly over clients passed in; `to_json` and `to_csv` write it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from finmlops.contracts import SERVING_ENVIRONMENTS, AuditAction, AuditRecord, Validation
from finmlops.registry.audit import AuditFilter, AuditTrail
from finmlops.registry.errors import NotFoundError
from finmlops.registry.identity import load_identities
from finmlops.registry.promotion import DeploymentHistory
from finmlops.registry.signoff import SignoffMarkers, blocking, open_revalidations
from finmlops.registry.storage import iso
from finmlops.registry.versions import ModelVersion, describe_version, list_versions

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

    from finmlops.config import Config

# An alarm DescribeAlarms does not return: the stacks of that environment do not define it (not
# deployed, or deployed under another name), which an examiner must see, not a blank.
MISSING = "MISSING"


@dataclass(frozen=True)
class VersionState:
    version: int
    status: str
    lifecycle: str
    created_at: str
    arn: str


@dataclass(frozen=True)
class ServingState:
    """What the deployment history says runs in one environment, and its registry status now."""

    environment: str
    version: int | None = None
    arn: str = ""
    since: str = ""
    action: str = ""
    registry_status: str = ""
    deployments: int = 0


@dataclass(frozen=True)
class ValidationState:
    version: int | None
    validator: str
    at: str
    outcome: str
    summary: str
    audit_record: str


@dataclass(frozen=True)
class FindingState:
    version: int | None
    severity: str
    text: str
    status: str  # "open" or "closed"
    audit_record: str  # the sign-off that lists it (open) or that no longer lists it (closed)


@dataclass(frozen=True)
class RevalidationState:
    audit_record: str
    alarm: str
    environment: str
    kind: str
    opened_at: str


@dataclass(frozen=True)
class AlarmState:
    environment: str
    kind: str  # "drift" or "quality"
    name: str
    state: str  # OK, ALARM, INSUFFICIENT_DATA, or MISSING
    reason: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class ModelEntry:
    """One model of the inventory."""

    model: str
    group: str
    description: str
    risk_tier: str
    owner: str
    validator: str
    approver_role: str
    data_classification: str
    serving: str
    schedule: str
    intended_use: str
    limitations: str
    in_registry: bool
    versions: tuple[VersionState, ...]
    serving_now: tuple[ServingState, ...]
    last_validation: ValidationState | None
    findings: tuple[FindingState, ...]
    open_revalidations: tuple[RevalidationState, ...]
    alarms: tuple[AlarmState, ...]
    problems: tuple[str, ...] = ()

    @property
    def open_findings(self) -> tuple[FindingState, ...]:
        return tuple(f for f in self.findings if f.status == "open")


@dataclass(frozen=True)
class Inventory:
    generated_at: str
    project: str
    models: tuple[ModelEntry, ...] = field(default=())


# --------------------------------------------------------------------------- assembly


def _versions(sm: SageMakerClient, group: str) -> tuple[list[ModelVersion], bool]:
    try:
        return list_versions(sm, group), True
    except NotFoundError:
        # A model of the config whose first build has not created its group yet.
        return [], False


def _serving(sm: SageMakerClient, environment: str, history: DeploymentHistory) -> ServingState:
    entries = history.entries(environment)
    current = history.current(environment)  # none once decommissioned there
    if current is None:
        return ServingState(environment, deployments=len(entries))
    try:
        status = describe_version(sm, current.manifest.model_package_arn).status
    except NotFoundError:
        status = "deleted"
    return ServingState(
        environment,
        version=current.manifest.version,
        arn=current.manifest.model_package_arn,
        since=current.at,
        action=current.action,
        registry_status=status,
        deployments=len(entries),
    )


def _document(record: AuditRecord) -> dict[str, Any]:
    try:
        document = json.loads(record.details.get("document") or "{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _validator(record: AuditRecord) -> str:
    try:
        found = load_identities(record.details.get("validator", ""), record.record_id)
    except ValueError:
        return ""
    return found[0].person or found[0].arn if found else ""


def _findings(records: Sequence[AuditRecord]) -> list[FindingState]:
    """One version's sign-offs, oldest first: the latest lists what is open; what an earlier one
    listed and the latest no longer does is closed (by the latest)."""
    latest = records[-1]
    listed = [
        (str(f.get("severity", "")), str(f.get("text", "")))
        for f in _document(latest).get("findings") or []
        if isinstance(f, Mapping)
    ]
    found = [
        FindingState(latest.version, severity, text, "open", latest.record_id)
        for severity, text in listed
    ]
    closed: dict[tuple[str, str], None] = {}
    for record in records[:-1]:
        for f in _document(record).get("findings") or []:
            if isinstance(f, Mapping):
                key = (str(f.get("severity", "")), str(f.get("text", "")))
                if key not in listed:
                    closed[key] = None
    found += [
        FindingState(latest.version, severity, text, "closed", latest.record_id)
        for severity, text in closed
    ]
    return found


def _signoffs(
    audit: AuditTrail,
    group: str,
    versions: Sequence[ModelVersion],
    markers: SignoffMarkers | None,
) -> tuple[ValidationState | None, list[FindingState], list[str]]:
    records = audit.records(
        AuditFilter(group=group, actions=frozenset({AuditAction.VALIDATION_OBSERVED}))
    )
    problems: list[str] = []
    by_arn = {v.arn: v for v in versions}
    if markers is not None:
        kept = []
        for record in records:
            version = by_arn.get(record.model_package_arn)
            if version is not None and markers.vouches_for(version, record):
                kept.append(record)
            else:
                problems.append(
                    f"sign-off: validation-observed record {record.record_id} was not written by "
                    "the approval-event handler (no marker); it is left out"
                )
        records = kept
    if not records:
        return None, [], problems
    latest = records[-1]
    document = _document(latest)
    last = ValidationState(
        version=latest.version,
        validator=_validator(latest),
        at=latest.at,
        outcome=Validation.FINDINGS_OPEN if blocking(document) else Validation.SIGNED_OFF,
        summary=str(document.get("summary", latest.reason)),
        audit_record=latest.record_id,
    )
    per_version: dict[str, list[AuditRecord]] = {}
    for record in records:
        per_version.setdefault(record.model_package_arn, []).append(record)
    findings = [f for group_records in per_version.values() for f in _findings(group_records)]
    return last, findings, problems


def _alarms(config: Config, cloudwatch: Mapping[str, CloudWatchClient]) -> list[AlarmState]:
    from finmlops.naming import names

    found: list[AlarmState] = []
    for environment in SERVING_ENVIRONMENTS:
        client = cloudwatch.get(environment)
        n = names(config, environment)
        wanted = {n.drift_alarm: "drift", n.quality_alarm: "quality"}
        if client is None:
            found += [
                AlarmState(environment, kind, name, "NOT READ", "no client for the environment")
                for name, kind in wanted.items()
            ]
            continue
        described = {
            a["AlarmName"]: a
            for page in client.get_paginator("describe_alarms").paginate(
                AlarmNames=list(wanted), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for a in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]
        }
        for name, kind in wanted.items():
            alarm = described.get(name)
            if alarm is None:
                found.append(AlarmState(environment, kind, name, MISSING))
                continue
            updated = alarm.get("StateUpdatedTimestamp")
            found.append(
                AlarmState(
                    environment,
                    kind,
                    name,
                    str(alarm.get("StateValue", "")),
                    str(alarm.get("StateReason", "")),
                    iso(updated) if isinstance(updated, datetime) else "",
                )
            )
    return found


def model_entry(
    config: Config,
    *,
    sagemaker: SageMakerClient,
    audit: AuditTrail,
    history: DeploymentHistory,
    cloudwatch: Mapping[str, CloudWatchClient],
    markers: SignoffMarkers | None = None,
) -> ModelEntry:
    """One model's entry; `history` is the model's own deployment history."""
    group = config.model.package_group
    governance = config.governance
    versions, in_registry = _versions(sagemaker, group)
    serving = tuple(_serving(sagemaker, env, history) for env in SERVING_ENVIRONMENTS)
    last, findings, problems = _signoffs(audit, group, versions, markers)
    reopened = tuple(
        RevalidationState(
            r.record_id,
            r.details.get("alarm", ""),
            r.environment,
            r.details.get("kind", ""),
            r.at,
        )
        for r in open_revalidations(audit, group)
    )
    alarms = tuple(_alarms(config, cloudwatch))
    if not in_registry:
        problems.append(f"registry: group {group!r} does not exist in the registry yet")
    problems += [
        f"serving: version {s.version} serves in {s.environment} but is {s.registry_status} "
        "in the registry"
        for s in serving
        if s.version is not None and s.registry_status != "Approved"
    ]
    problems += [
        f"alarm: {a.name} ({a.kind}, {a.environment}) is not defined in CloudWatch"
        for a in alarms
        if a.state == MISSING and any(s.environment == a.environment and s.version for s in serving)
    ]
    return ModelEntry(
        model=config.model.name,
        group=group,
        description=config.model.description,
        risk_tier=governance.risk_tier,
        owner=governance.owner,
        validator=governance.validator,
        approver_role=governance.approver_role,
        data_classification=governance.data_classification,
        serving=config.serving.mode,
        schedule=config.serving.schedule or "",
        intended_use=governance.intended_use,
        limitations=governance.limitations,
        in_registry=in_registry,
        versions=tuple(
            VersionState(
                v.version,
                v.status,
                f"{v.lifecycle.stage}/{v.lifecycle.status}" if v.lifecycle else "",
                iso(v.created_at) if v.created_at else "",
                v.arn,
            )
            for v in versions
        ),
        serving_now=serving,
        last_validation=last,
        findings=tuple(findings),
        open_revalidations=reopened,
        alarms=alarms,
        problems=tuple(problems),
    )


def model_inventory(
    configs: Sequence[Config],
    *,
    sagemaker: SageMakerClient,
    audit: AuditTrail,
    s3: S3Client,
    state_bucket: str,
    cloudwatch: Mapping[str, CloudWatchClient],
    now: datetime,
    trust_markers: bool = True,
) -> Inventory:
    """Every model of `configs` (a portfolio's views, in its order): see the module docstring.
    `sagemaker` reads dev's registry; `audit` the audit trail; `s3` the state bucket (each
    model's deployment history and the handler's sign-off markers); `cloudwatch` maps each
    serving environment to a client of its account and region. With `trust_markers` off, every
    `validation-observed` record counts as the handler's (for a reader without the state
    bucket; the CLI always reads the markers)."""
    markers = SignoffMarkers(s3, state_bucket) if trust_markers else None
    entries = tuple(
        model_entry(
            config,
            sagemaker=sagemaker,
            audit=audit,
            history=DeploymentHistory(s3, state_bucket, group=config.model.package_group),
            cloudwatch=cloudwatch,
            markers=markers,
        )
        for config in configs
    )
    project = str(configs[0].project) if configs else ""
    return Inventory(generated_at=iso(now), project=project, models=entries)


# --------------------------------------------------------------------------- output


def to_json(inventory: Inventory) -> str:
    data = asdict(inventory)
    for model, entry in zip(data["models"], inventory.models, strict=True):
        model["open_findings"] = len(entry.open_findings)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


CSV_COLUMNS: tuple[str, ...] = (
    "model",
    "group",
    "risk_tier",
    "owner",
    "validator",
    "approver_role",
    "data_classification",
    "serving",
    "schedule",
    "dev_versions",
    "stage_version",
    "stage_since",
    "prod_version",
    "prod_since",
    "last_validation_version",
    "last_validation_by",
    "last_validation_at",
    "last_validation_outcome",
    "open_findings",
    "open_revalidations",
    "alarms",
    "problems",
    "intended_use",
    "limitations",
)


def _csv_row(entry: ModelEntry) -> dict[str, str]:
    serving = {s.environment: s for s in entry.serving_now}
    last = entry.last_validation
    row = {
        "model": entry.model,
        "group": entry.group,
        "risk_tier": entry.risk_tier,
        "owner": entry.owner,
        "validator": entry.validator,
        "approver_role": entry.approver_role,
        "data_classification": entry.data_classification,
        "serving": entry.serving,
        "schedule": entry.schedule,
        "dev_versions": " ".join(f"{v.version}:{v.status}" for v in entry.versions),
        "last_validation_version": str(last.version) if last else "",
        "last_validation_by": last.validator if last else "",
        "last_validation_at": last.at if last else "",
        "last_validation_outcome": last.outcome if last else "",
        "open_findings": "; ".join(
            f"v{f.version} {f.severity}: {f.text}" for f in entry.open_findings
        ),
        "open_revalidations": " ".join(r.audit_record for r in entry.open_revalidations),
        "alarms": "; ".join(f"{a.environment} {a.kind} {a.state}" for a in entry.alarms),
        "problems": "; ".join(entry.problems),
        "intended_use": entry.intended_use,
        "limitations": entry.limitations,
    }
    for environment in SERVING_ENVIRONMENTS:
        now = serving.get(environment)
        row[f"{environment}_version"] = str(now.version) if now and now.version else ""
        row[f"{environment}_since"] = now.since if now else ""
    return {k: _cell(row[k]) for k in CSV_COLUMNS}


def _cell(text: str) -> str:
    # A spreadsheet would run a cell that starts like a formula (CSV injection; OWASP). The
    # audit export guards its cells the same way.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def to_csv(inventory: Inventory) -> str:
    """One row per model (what an examiner's spreadsheet takes); the JSON has every detail."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for entry in inventory.models:
        writer.writerow(_csv_row(entry))
    return buffer.getvalue()


__all__ = [
    "AlarmState",
    "FindingState",
    "Inventory",
    "ModelEntry",
    "ServingState",
    "ValidationState",
    "model_entry",
    "model_inventory",
    "to_csv",
    "to_json",
]
