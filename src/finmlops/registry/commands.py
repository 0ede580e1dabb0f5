"""`finmlops registry`, `finmlops promote` and `finmlops audit`: the CLI over this package."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.cli import Context, ExitCode, UsageError, add_leaf, table, write_file
from finmlops.config import SERVING_ENVIRONMENTS, Config, ConfigError
from finmlops.contracts import Approval, AuditAction, AuditRecord, Promotion
from finmlops.registry.approval import Decision, approve, caller_identity, reject
from finmlops.registry.audit import AuditFilter, AuditTrail, to_csv, to_json
from finmlops.registry.audit_verify import verify_trail
from finmlops.registry.authorship import is_execution_arn
from finmlops.registry.duties import ModelDuties
from finmlops.registry.errors import InvalidInputError, NotFoundError
from finmlops.registry.evidence import (
    EvidencePolicy,
    deployability_problems,
    evidence_references,
    judge,
    missing_evidence,
    read_metrics,
)
from finmlops.registry.gatecheck import PlatformGate
from finmlops.registry.identity import Identity, load_identities
from finmlops.registry.promotion import (
    Deployment,
    DeploymentHistory,
    observed_approval,
    read_manifest,
    record_deployment,
    resolve,
    rollback,
    serving_now,
)
from finmlops.registry.storage import ObjectLock, iso
from finmlops.registry.versions import (
    ModelVersion,
    find_version,
    latest_version,
    list_groups,
    list_versions,
)

if TYPE_CHECKING:
    from finmlops.cli import Subparsers

# --------------------------------------------------------------------------- shared options


def _group_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group", help="model package group (default: model.package_group of the config)"
    )


def _policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--drift-baselines-optional",
        action="store_true",
        help="do not require DriftCheckBaselines (for deployments whose monitoring registers none)",
    )


def _store_options(parser: argparse.ArgumentParser, state: bool = False) -> None:
    stores = parser.add_argument_group("stores")
    stores.add_argument(
        "--audit-bucket",
        help="audit trail bucket (default: the tooling audit bucket of the config)",
    )
    stores.add_argument(
        "--audit-retention-days",
        type=int,
        help="Object Lock retention to set on each new record (default: the bucket's own)",
    )
    if state:
        stores.add_argument(
            "--state-bucket",
            help="promotion state bucket (default: the tooling state bucket of the config)",
        )


def _registry_role_option(parser: Any) -> None:
    parser.add_argument(
        "--registry-role-arn",
        metavar="ARN",
        help="assume this role to write the registry's ModelLifeCycle (the dev account's "
        "registry-lifecycle role, which may send nothing else); default: your own credentials",
    )


def _group(ctx: Context) -> str:
    return str(getattr(ctx.args, "group", None) or ctx.config().model.package_group)


def _policy(ctx: Context, config: Config) -> EvidencePolicy:
    """What the model's risk tier requires (its governance.tiers), less what the flag waives."""
    tier = config.governance.tier
    return EvidencePolicy(
        require_drift_baselines=tier.require_drift_baselines
        and not ctx.args.drift_baselines_optional,
        require_signoff=tier.validator_signoff,
        required_evidence=tier.required_evidence,
        tier=config.governance.risk_tier,
    )


def _gates(config: Config) -> tuple[PlatformGate, ...]:
    """The gates in force for the model (its block's `gates:`)."""
    from finmlops.gates import platform_gates

    return platform_gates(config)


def _model_config(ctx: Context, version: ModelVersion) -> Config:
    """The block of the model whose group the version is in (SageMaker's ModelPackageGroupName):
    its tier, gates, approver and validator judge the version, whatever model the caller named."""
    config = ctx.config_of_group(version.group)
    if config is None:
        models = ", ".join(
            f"{c.model.name} ({c.model.package_group})" for c in ctx.portfolio().configs
        )
        raise UsageError(
            f"{version.label}: group {version.group!r} is no model's in {ctx.platform().source} "
            f"(models: {models})"
        )
    return config


def _tooling_bucket(ctx: Context, given: str | None, kind: str) -> str:
    if given:
        return given
    config = ctx.platform()
    tooling = config.environments.tooling
    naming = Promotion.audit_bucket_name if kind == "audit" else Promotion.state_bucket_name
    return naming(config.project, tooling.account, tooling.region)


def _audit(ctx: Context) -> AuditTrail:
    days = ctx.args.audit_retention_days
    if days is not None and days < 1:
        raise UsageError(f"--audit-retention-days: must be >= 1 (got {days})")
    bucket = _tooling_bucket(ctx, ctx.args.audit_bucket, "audit")
    return AuditTrail(ctx.client("s3"), bucket, lock=ObjectLock(days) if days else None)


def _history(ctx: Context, group: str) -> DeploymentHistory:
    """One model's deployment history (the models of a portfolio share each environment)."""
    bucket = _tooling_bucket(ctx, ctx.args.state_bucket, "state")
    return DeploymentHistory(ctx.client("s3"), bucket, group=group)


# --------------------------------------------------------------------------- registry


def _registered_by(version: ModelVersion) -> str:
    """Who registered the version, as SageMaker recorded it (the full authorship: `show`)."""
    if is_execution_arn(version.generated_by):
        return f"pipeline execution {version.generated_by.rsplit('/', 1)[-1]}"
    creator = Identity.from_user_context(version.created_by, "CreatedBy")
    return creator.person or creator.arn if creator else ""


def _approvers(audit: AuditTrail, group: str) -> dict[str, str]:
    """Version ARN -> the approver the handler observed (what the promotion gate trusts)."""
    found: dict[str, str] = {}
    where = AuditFilter(group=group, actions=frozenset({AuditAction.APPROVAL_OBSERVED}))
    for record in audit.records(where):
        who = load_identities(record.details.get("approver", ""), record.record_id)
        if who:
            found[record.model_package_arn] = who[0].person or who[0].arn
    return found


def _version_data(
    version: ModelVersion, policy: EvidencePolicy, approved_by: str = ""
) -> dict[str, Any]:
    lifecycle = asdict(version.lifecycle) if version.lifecycle else None
    return {
        "arn": version.arn,
        "group": version.group,
        "version": version.version,
        "status": version.status,
        "package_status": version.package_status,
        "created_at": iso(version.created_at) if version.created_at else "",
        "registered_by": _registered_by(version),
        "generated_by": version.generated_by,
        "approved_by": approved_by,
        "approval_description": version.approval_description,
        "lifecycle": lifecycle,
        "image_uri": version.image_uri,
        "model_data_url": version.model_data_url,
        "metadata": dict(version.metadata),
        "evidence": evidence_references(version),
        "missing_evidence": missing_evidence(version, policy),
    }


def _lifecycle_text(version: ModelVersion) -> str:
    return f"{version.lifecycle.stage}/{version.lifecycle.status}" if version.lifecycle else ""


def _evidence_text(missing: list[str]) -> str:
    return "complete" if not missing else f"missing {len(missing)}"


def _metrics(ctx: Context, version: ModelVersion) -> dict[str, float]:
    uri = evidence_references(version).get("ModelMetrics.ModelQuality.Statistics", "")
    return read_metrics(ctx.client("s3"), uri) if uri else {}


def _listed_groups(ctx: Context, sm: Any) -> list[tuple[str, Config | None]]:
    """(group, its model) in the order `registry list` shows them: --group alone; else the
    models' groups in the config's order, then (without --model) the registry's other groups."""
    if ctx.args.group:
        return [(ctx.args.group, ctx.config_of_group(ctx.args.group))]
    found: list[tuple[str, Config | None]] = [(c.model.package_group, c) for c in ctx.configs()]
    if not ctx.model:
        known = {group for group, _ in found}
        found += [(g.name, None) for g in list_groups(sm) if g.name not in known]
    return found


def _model_row(group: str, config: Config | None) -> dict[str, Any]:
    if config is None:
        return {"model": "", "group": group, "tier": "", "owner": "", "serving": ""}
    return {
        "model": config.model.name,
        "group": group,
        "tier": config.governance.risk_tier,
        "owner": config.governance.owner,
        "serving": config.serving.mode,
    }


def _registry_list(ctx: Context) -> int:
    sm = ctx.client("sagemaker")
    audit = _audit(ctx)
    models: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for group, config in _listed_groups(ctx, sm):
        model = _model_row(group, config)
        policy = (
            _policy(ctx, config)
            if config
            else EvidencePolicy(require_drift_baselines=not ctx.args.drift_baselines_optional)
        )
        try:
            versions = list_versions(sm, group, ctx.args.status)
        except NotFoundError:
            if ctx.args.group or config is None:
                raise
            # A model of the config whose group its first build has not created yet.
            versions, model["in_registry"] = [], False
        models.append({"in_registry": True, **model, "versions": len(versions)})
        if not versions:
            rows.append({**model, "status": "" if model.get("in_registry", True) else "no group"})
        approvers = _approvers(audit, group) if versions else {}
        for version in versions:
            data = _version_data(version, policy, approvers.get(version.arn, ""))
            data.update(model=model["model"], tier=model["tier"])
            if ctx.args.metrics:
                data["metrics"] = _metrics(ctx, version)
            found.append(data)
            shown = list(data.get("metrics", {}).items())[:4]
            rows.append(
                {
                    **data,
                    "registered": data["registered_by"],
                    "stage": _lifecycle_text(version),
                    "evidence_state": _evidence_text(data["missing_evidence"]),
                    "metrics_text": " ".join(f"{k}={v:.4g}" for k, v in shown),
                }
            )
    columns = [
        ("model", "MODEL"),
        ("group", "GROUP"),
        ("tier", "TIER"),
        ("version", "VERSION"),
        ("status", "STATUS"),
        ("created_at", "CREATED"),
        ("registered", "REGISTERED BY"),
        ("approved_by", "APPROVED BY"),
        ("stage", "LIFECYCLE"),
        ("evidence_state", "EVIDENCE"),
    ]
    if ctx.args.metrics:
        columns.append(("metrics_text", "METRICS"))
    groups = [m["group"] for m in models]
    ctx.emit({"groups": groups, "models": models, "versions": found}, table(rows, columns))
    return ExitCode.OK


def _registry_show(ctx: Context) -> int:
    sm = ctx.client("sagemaker")
    version = find_version(sm, ctx.args.version, _default_group(ctx, ctx.args.version))
    config = _model_config(ctx, version)
    policy, gates = _policy(ctx, config), _gates(config)
    audit = _audit(ctx)
    observed, unobserved = observed_approval(audit, version)
    approver = observed.approver if observed else None
    judgement = judge(
        sm, ctx.client("s3"), audit, version, approver=approver, policy=policy, gates=gates
    )
    data = _version_data(version, policy, approver.label() if approver else "")
    data.update(model=config.model.name, tier=config.governance.risk_tier)
    authors = judgement.authorship.authors
    data["authors"] = [a.to_record() for a in authors.identities]
    data["authors_unknown"] = list(authors.unknown)
    data["gate_values"] = dict(judgement.gates.values)
    data["build_gates"] = dict(judgement.gates.build_thresholds)
    problems = list(judgement.problems) + deployability_problems(version)
    if version.status == Approval.APPROVED:
        problems = unobserved + problems
    data["promotion_problems"] = problems
    data["metrics"] = {} if ctx.args.no_metrics else _metrics(ctx, version)
    data["signoff"] = _signoff_data(judgement.signoff.record)
    lines = [
        f"{version.label}  {version.status}  ({version.package_status})",
        f"  model:          {config.model.name} (tier {config.governance.risk_tier})",
        f"  arn:            {version.arn}",
        f"  created:        {data['created_at'] or '-'}",
        f"  registered by:  {data['registered_by'] or '-'}",
        f"  validated by:   {_signoff_text(data['signoff'])}",
        f"  approved by:    {data['approved_by'] or '-'}",
        f"  approval:       {version.approval_description or '-'}",
        f"  lifecycle:      {_lifecycle_text(version) or '-'}",
        f"  image:          {version.image_uri or '-'}",
        f"  model data:     {version.model_data_url or '-'}",
        "authors (who recorded each):",
        *[f"  {a.label()}" for a in authors.identities],
        *[f"  unknown: {why}" for why in authors.unknown],
        "gates (the platform's, re-checked):",
        *[f"  {line}" for line in judgement.gates.details(gates).values()],
        "evidence:",
    ]
    lines += [f"  {name}: {ref}" for name, ref in data["evidence"].items()] or ["  (none)"]
    missing = data["missing_evidence"]
    lines.append("missing evidence:" if missing else "missing evidence: none")
    lines += [f"  - {m}" for m in missing]
    lines.append("would be refused:" if problems else "would be refused: no")
    lines += [f"  - {p}" for p in problems]
    if data["metrics"]:
        lines.append("model quality metrics:")
        lines += [f"  {k} = {v:.6g}" for k, v in data["metrics"].items()]
    lines.append("metadata:")
    lines += [f"  {k} = {v}" for k, v in sorted(version.metadata.items())] or ["  (none)"]
    ctx.emit(data, "\n".join(lines))
    return ExitCode.OK


def _signoff_data(record: AuditRecord | None) -> dict[str, Any]:
    """The sign-off the handler observed (the latest), as `registry show` reports it."""
    if record is None:
        return {}
    validators = load_identities(record.details.get("validator", ""), record.record_id)
    document = json.loads(record.details.get("document") or "{}")
    return {
        "audit_record": record.record_id,
        "validator": validators[0].label() if validators else "",
        "summary": document.get("summary", ""),
        "findings": document.get("findings", []),
        "closes": document.get("closes", []),
    }


def _signoff_text(signoff: dict[str, Any]) -> str:
    if not signoff:
        return "-"
    findings = ", ".join(f"{f['severity']}: {f['text']}" for f in signoff["findings"]) or "none"
    return f"{signoff['validator']} (audit {signoff['audit_record']}; findings: {findings})"


def _default_group(ctx: Context, ref: str) -> str:
    # An ARN or GROUP/VERSION names its group; only a bare number needs the configured one.
    if ref.strip().isdigit():
        return _group(ctx)
    return str(ctx.args.group or "")


def _decide(ctx: Context, decide: Callable[[Any, ModelVersion, Config], Decision]) -> int:
    sm = ctx.client("sagemaker")
    version = find_version(sm, ctx.args.version, _default_group(ctx, ctx.args.version))
    config = _model_config(ctx, version)
    decision = decide(sm, version, config)
    record = decision.record
    data = {
        "model": config.model.name,
        "arn": version.arn,
        "group": version.group,
        "version": version.version,
        "status": decision.status,
        "previous_status": version.status,
        "actor": decision.actor,
        "reason": record.reason,
        "audit_record": record.record_id,
    }
    ctx.emit(
        data,
        f"{version.label}: {version.status} -> {decision.status} by {decision.actor}\n"
        f"audit record: {record.record_id}",
    )
    return ExitCode.OK


def _registry_approve(ctx: Context) -> int:
    audit = _audit(ctx)
    sts, s3 = ctx.client("sts"), ctx.client("s3")

    def decide(sm: Any, version: ModelVersion, config: Config) -> Decision:
        return approve(
            sm, sts, audit, arn=version.arn, reason=ctx.args.reason, gates=_gates(config),
            policy=_policy(ctx, config), s3=s3, duties=ModelDuties.from_config(config),
        )  # fmt: skip

    return _decide(ctx, decide)


def _registry_reject(ctx: Context) -> int:
    audit = _audit(ctx)
    sts = ctx.client("sts")

    def decide(sm: Any, version: ModelVersion, config: Config) -> Decision:
        return reject(
            sm, sts, audit, arn=version.arn, reason=ctx.args.reason,
            duties=ModelDuties.from_config(config),
        )  # fmt: skip

    return _decide(ctx, decide)


def _registry_validate(ctx: Context) -> int:
    from finmlops.registry.signoff import Finding, submit_signoff

    sm = ctx.client("sagemaker")
    version = find_version(sm, ctx.args.version, _default_group(ctx, ctx.args.version))
    config = _model_config(ctx, version)
    findings = [Finding.parse(text) for text in ctx.args.finding or []]
    submitted = submit_signoff(
        sm,
        ctx.client("sts"),
        _audit(ctx),
        arn=version.arn,
        summary=ctx.args.summary,
        findings=findings,
        closes=ctx.args.closes or [],
        duties=ModelDuties.from_config(config),
    )
    data = {
        "model": config.model.name,
        "arn": version.arn,
        "group": version.group,
        "version": version.version,
        "outcome": submitted.status,
        "actor": submitted.actor,
        "digest": submitted.digest,
        "findings": [asdict(f) for f in findings],
        "closes": sorted(set(ctx.args.closes or [])),
        "audit_record": submitted.record.record_id,
    }
    ctx.emit(
        data,
        f"{version.label}: sign-off {submitted.status} by {submitted.actor} "
        f"({len(findings)} finding(s))\naudit record: {submitted.record.record_id}; the "
        "approval-event handler binds it to the person SageMaker records",
    )
    return ExitCode.OK


def _registry_report(ctx: Context) -> int:
    from finmlops.registry.report import decided_report

    sm = ctx.client("sagemaker")
    version = find_version(sm, ctx.args.version, _default_group(ctx, ctx.args.version))
    _model_config(ctx, version)
    window = None
    if ctx.args.drift_report or ctx.args.captures:
        from finmlops.governance.production_stability import ProductionWindowError, load_window

        if not (ctx.args.drift_report and ctx.args.captures):
            raise UsageError("--drift-report and --captures go together")
        try:
            window = load_window(ctx.args.drift_report, ctx.args.captures, version.arn)
        except ProductionWindowError as exc:
            raise InvalidInputError(str(exc)) from None
    report = decided_report(ctx.client("s3"), _audit(ctx), version, window)
    write_file(ctx.args.out, report.html)
    decision = report.decision
    data = {
        "arn": version.arn,
        "out": str(ctx.args.out),
        "source": report.source,
        "status": version.status,
        "decided_by": decision.record.approved_by if decision else "",
        "audit_record": report.audit_record,
    }
    what = (
        f"{decision.status} by {decision.record.approved_by or 'an unnamed approver'}"
        + (f" (audit record {report.audit_record})" if report.audit_record else " (console)")
        if decision
        else "no decision yet"
    )
    ctx.emit(data, f"{version.label}: validation report, {what} -> {ctx.args.out}")
    return ExitCode.OK


def _registry_history(ctx: Context) -> int:
    sm = ctx.client("sagemaker")
    group = _group(ctx)
    events: list[dict[str, Any]] = []
    for version in list_versions(sm, group):
        events.append(
            {
                "at": iso(version.created_at) if version.created_at else "",
                "version": version.version,
                "event": "registered",
                "who": _registered_by(version),
                "detail": version.description,
                "environment": "",
            }
        )
    for record in _audit(ctx).records(AuditFilter(group=group)):
        events.append(
            {
                "at": record.at,
                "version": record.version,
                "event": record.action,
                "who": record.actor,
                "detail": record.details.get("problems") or record.reason,
                "environment": record.environment,
                "audit_record": record.record_id,
            }
        )
    events.sort(key=lambda e: str(e["at"]))
    columns = [
        ("at", "TIME"),
        ("version", "VERSION"),
        ("event", "EVENT"),
        ("environment", "ENV"),
        ("who", "WHO"),
        ("detail", "DETAIL"),
    ]
    ctx.emit({"group": group, "events": events}, table(events, columns))
    return ExitCode.OK


def register_registry(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "registry", help="model versions: list, show, validate, approve, reject"
    )
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(title="registry commands", metavar="COMMAND")

    p = add_leaf(
        sub,
        common,
        "list",
        "groups and versions with status, evidence and lifecycle",
        _registry_list,
    )
    p.add_argument("--group", help="only this model package group (default: every group)")
    p.add_argument("--status", choices=["PendingManualApproval", "Approved", "Rejected"])
    p.add_argument("--metrics", action="store_true", help="read model quality metrics from S3")
    _policy_option(p)
    _store_options(p)

    p = add_leaf(
        sub,
        common,
        "show",
        "one version's authors, gates, evidence, metadata and metrics",
        _registry_show,
    )
    p.add_argument("version", help="ARN, GROUP/VERSION, or a version number of --group")
    p.add_argument("--no-metrics", action="store_true", help="do not read metrics from S3")
    _group_option(p)
    _policy_option(p)
    _store_options(p)

    for name, run, what in (
        ("approve", _registry_approve, "approve a version (checks evidence and segregation)"),
        ("reject", _registry_reject, "reject a version, or revoke its approval"),
    ):
        p = add_leaf(sub, common, name, what, run)
        p.add_argument("version", help="ARN, GROUP/VERSION, or a version number of --group")
        p.add_argument("--reason", required=True, help="why (recorded in the registry and audit)")
        _group_option(p)
        _store_options(p)
        if name == "approve":
            _policy_option(p)

    p = add_leaf(
        sub,
        common,
        "validate",
        "sign off a pending version's validation, with findings (validator role)",
        _registry_validate,
    )
    p.add_argument("version", help="ARN, GROUP/VERSION, or a version number of --group")
    p.add_argument("--summary", required=True, help="the validation's conclusion (recorded)")
    p.add_argument(
        "--finding",
        action="append",
        metavar="SEVERITY:TEXT",
        help="a finding, SEVERITY high, medium or low (repeatable); a high one blocks approval",
    )
    p.add_argument(
        "--closes",
        action="append",
        metavar="RECORD_ID",
        help="an open re-validation record this validation closes (repeatable)",
    )
    _group_option(p)
    _store_options(p)

    p = add_leaf(
        sub,
        common,
        "report",
        "a version's validation report with its approval record filled in",
        _registry_report,
    )
    p.add_argument("version", help="ARN, GROUP/VERSION, or a version number of --group")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument(
        "--drift-report",
        type=Path,
        help="the drift_report.json of the latest production window monitoring ran for this "
        "version (its window and the version it checked); with --captures",
    )
    p.add_argument(
        "--captures",
        type=Path,
        help="a folder of that window's captured requests (SageMaker data capture JSON lines): "
        "their scores' PSI against the train scores fills the report's score stability",
    )
    _group_option(p)
    _store_options(p)

    p = add_leaf(
        sub,
        common,
        "history",
        "a group's registrations and decisions in time order",
        _registry_history,
    )
    _group_option(p)
    _store_options(p)


# --------------------------------------------------------------------------- promote


def _deployment_row(entry: Deployment) -> dict[str, Any]:
    return {
        "environment": entry.environment,
        "version": entry.manifest.version,
        "group": entry.manifest.model_package_group,
        "model_package_arn": entry.manifest.model_package_arn,
        "action": entry.action,
        "at": entry.at,
        "actor": entry.actor,
        "replaces": entry.replaces,
        "reason": entry.reason,
    }


def _promote_status(ctx: Context) -> int:
    environments = [ctx.args.environment] if ctx.args.environment else list(SERVING_ENVIRONMENTS)
    sm = ctx.client("sagemaker")
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    # Each model's own deployments: the models of a portfolio share each environment's history.
    for config in ctx.configs():
        history = _history(ctx, config.model.package_group)
        serving = serving_now(sm, history, environments)
        model = config.model.name
        for environment in environments:
            entries = history.entries(environment)
            if ctx.args.all:
                rows.extend({"model": model, **_deployment_row(e)} for e in entries)
            elif entries:
                row = {"model": model, **_deployment_row(entries[-1])}
                row["deployments"] = len(entries)
                now = serving[environment]
                row["registry_status"] = now.status
                row["warning"] = now.warning()
                rows.append(row)
            else:
                rows.append({"model": model, "environment": environment, "version": None})
        warnings += [f"model {model}: {now.warning()}" for now in serving.values() if now.rejected]
    columns = [
        ("model", "MODEL"),
        ("environment", "ENV"),
        ("version", "VERSION"),
        ("registry_status", "STATUS"),
        ("action", "ACTION"),
        ("at", "SINCE"),
        ("actor", "BY"),
        ("model_package_arn", "MODEL PACKAGE"),
    ]
    text = "\n".join([table(rows, columns), *(f"WARNING: {w}" for w in warnings)])
    ctx.emit({"deployments": rows, "warnings": warnings}, text)
    return ExitCode.OK


def _promote_resolve(ctx: Context) -> int:
    # The registry, its executions and the evidence as dev's evidence reader when one is named
    # (the promotion builds); the audit record and the history with the caller's own role.
    reader = ctx.args.evidence_role_arn
    sm = ctx.client_as("sagemaker", reader, "evidence")
    if ctx.args.version:
        version = find_version(sm, ctx.args.version, _default_group(ctx, ctx.args.version))
    else:
        version = latest_version(sm, _group(ctx), "Approved")
    config = _model_config(ctx, version)
    actor = caller_identity(ctx.client("sts"))
    manifest = resolve(
        sm,
        ctx.client_as("s3", reader, "evidence"),
        _audit(ctx),
        _history(ctx, version.group),
        arn=version.arn,
        environment=ctx.args.environment,
        actor=actor,
        gates=_gates(config),
        policy=_policy(ctx, config),
    )
    if ctx.args.out:
        write_file(ctx.args.out, manifest.to_json())
        text = f"{manifest.model_package_group}/{manifest.version} -> {ctx.args.out}"
    else:
        text = manifest.to_json().rstrip()
    ctx.emit(asdict(manifest), text)
    return ExitCode.OK


def _promote_record(ctx: Context) -> int:
    path: Path = ctx.args.manifest
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--manifest: cannot read {path}: {exc.strerror}") from None
    manifest = read_manifest(text, str(path))
    actor = caller_identity(ctx.client("sts"))
    registry = ctx.client_as("sagemaker", ctx.args.registry_role_arn, "lifecycle")
    serving = ctx.client_as("sagemaker", ctx.args.serving_role_arn, "serving-check")
    group = manifest.model_package_group
    if ctx.args.endpoint_name and ctx.args.batch_pipeline:
        raise UsageError("--endpoint-name and --batch-pipeline: name one of them")
    endpoint, batch = ctx.args.endpoint_name or "", ctx.args.batch_pipeline or ""
    if not endpoint and not batch:
        endpoint, batch = _served_by(ctx, group, manifest.environment)
    entry = record_deployment(
        registry,
        _audit(ctx),
        _history(ctx, group),
        manifest=manifest,
        actor=actor,
        serving=serving,
        endpoint_name=endpoint,
        batch_pipeline=batch,
        reason=ctx.args.reason or "",
        lifecycle=not ctx.args.no_lifecycle,
    )
    ctx.emit(
        _deployment_row(entry),
        f"{entry.environment}: {entry.manifest.model_package_group}/{entry.manifest.version} "
        f"({entry.action} {entry.at})",
    )
    return ExitCode.OK


def _served_by(ctx: Context, group: str, environment: str) -> tuple[str, str]:
    """(endpoint, batch pipeline) of the manifest's model (its group's block) in the
    environment: a real-time model's endpoint, or a batch model's pipeline (named as
    cdk/batch.py names it: the endpoint name the model would have, then `-batch`)."""
    from finmlops.naming import names

    if environment not in SERVING_ENVIRONMENTS:
        raise UsageError(f"--manifest: environment {environment!r} serves no model")
    config = ctx.config_of_group(group)
    if config is None:
        raise UsageError(f"--manifest: group {group!r} is no model's in {ctx.platform().source}")
    endpoint = names(config, environment).endpoint_name
    return ("", f"{endpoint}-batch") if config.serving.batch else (endpoint, "")


def _promote_rollback(ctx: Context) -> int:
    actor = caller_identity(ctx.client("sts"))
    # The model's own deployments: a rollback goes back to this model's previous version.
    entry = rollback(
        ctx.client_as("sagemaker", ctx.args.registry_role_arn, "rollback"),
        _audit(ctx),
        _history(ctx, ctx.config().model.package_group),
        environment=ctx.args.environment,
        actor=actor,
        reason=ctx.args.reason,
    )
    data = _deployment_row(entry)
    lines = [
        f"{entry.environment}: rolled back to {entry.manifest.model_package_group}/"
        f"{entry.manifest.version} (replaces {entry.replaces})"
    ]
    if ctx.args.out:
        write_file(ctx.args.out, entry.manifest.to_json())
        lines.append(f"manifest: {ctx.args.out}")
    if ctx.args.start_pipeline:
        response = ctx.client("codepipeline").start_pipeline_execution(
            name=ctx.args.start_pipeline,
            variables=[
                {"name": Promotion.ARN_VARIABLE, "value": entry.manifest.model_package_arn},
                {"name": Promotion.ENVIRONMENT_VARIABLE, "value": entry.environment},
            ],
        )
        data["execution_id"] = response["pipelineExecutionId"]
        lines.append(f"pipeline {ctx.args.start_pipeline}: execution {data['execution_id']}")
    ctx.emit(data, "\n".join(lines))
    return ExitCode.OK


def _promote_check_portfolio(ctx: Context) -> int:
    """Before the platform deploys a config: every group still serving has its block."""
    from finmlops.registry.retirement import removal_problems, serving_groups

    portfolio = ctx.portfolio()
    bucket = _tooling_bucket(ctx, ctx.args.state_bucket, "state")
    serving = serving_groups(ctx.client("s3"), bucket)
    problems = removal_problems(portfolio, serving)
    if problems:
        raise UsageError(str(ConfigError(portfolio.source, problems)))
    rows = [
        {
            "group": s.group,
            "environment": s.environment,
            "version": s.deployment.manifest.version,
            "since": s.deployment.at,
        }
        for s in serving
    ]
    text = table(
        rows,
        [("group", "GROUP"), ("environment", "ENV"), ("version", "VERSION"), ("since", "SINCE")],
    )
    ctx.emit(
        {"serving": rows, "models": list(portfolio.names)},
        f"every serving group has its block in {portfolio.source}\n{text}",
    )
    return ExitCode.OK


def _promote_decommission(ctx: Context) -> int:
    from finmlops.registry.retirement import decommission

    config = ctx.config()
    try:
        entry = decommission(
            _history(ctx, config.model.package_group),
            _audit(ctx),
            ctx.args.environment,
            caller_identity(ctx.client("sts")),
            ctx.args.reason,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ctx.emit(
        _deployment_row(entry),
        f"{entry.environment}: {config.model.name} ({entry.manifest.model_package_group}) no "
        f"longer serves, recorded {entry.at}",
    )
    return ExitCode.OK


def register_promote(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("promote", help="deployments: status, resolve, record, rollback")
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(title="promote commands", metavar="COMMAND")

    p = add_leaf(
        sub,
        common,
        "status",
        "what runs in each environment, flagging a rejected version that still serves",
        _promote_status,
    )
    p.add_argument("--environment", choices=SERVING_ENVIRONMENTS)
    p.add_argument("--all", action="store_true", help="every deployment, not just the current")
    _store_options(p, state=True)

    p = add_leaf(
        sub,
        common,
        "resolve",
        "run the promotion gate and write the deployment manifest",
        _promote_resolve,
    )
    p.add_argument(
        "version",
        nargs="?",
        help="ARN, GROUP/VERSION or number (default: the latest approved version of --group)",
    )
    p.add_argument("--environment", required=True, choices=SERVING_ENVIRONMENTS)
    p.add_argument("--out", type=Path, help="manifest file to write (default: print it)")
    p.add_argument(
        "--evidence-role-arn",
        metavar="ARN",
        help="assume this role to read the registry, the model-build pipeline's executions and "
        "the evidence JSON (the dev account's evidence-reader role); the audit record and the "
        "history are written with your own credentials. Default: your own credentials",
    )
    _group_option(p)
    _policy_option(p)
    _store_options(p, state=True)

    p = add_leaf(
        sub,
        common,
        "record",
        "record a finished deployment (history, lifecycle, audit)",
        _promote_record,
    )
    p.add_argument("--manifest", type=Path, required=True, help="the manifest that was deployed")
    p.add_argument("--reason", help="note kept with the deployment")
    p.add_argument(
        "--endpoint-name",
        help="the endpoint that must serve the manifest's package (default: the config's "
        "endpoint of the manifest's environment)",
    )
    p.add_argument(
        "--batch-pipeline",
        metavar="NAME",
        help="for a batch model: the batch pipeline whose scoring step must read the "
        "manifest's model archive (default: the config's batch pipeline of the manifest's "
        "environment, when the model serves in batch)",
    )
    p.add_argument(
        "--serving-role-arn",
        metavar="ARN",
        help="assume this role to read the endpoint in its account (DescribeEndpoint, "
        "DescribeEndpointConfig, DescribeModel) or the batch pipeline (DescribePipeline); "
        "default: your own credentials",
    )
    lifecycle = p.add_mutually_exclusive_group()
    _registry_role_option(lifecycle)
    lifecycle.add_argument(
        "--no-lifecycle",
        action="store_true",
        help="write history and audit only; leave the registry's ModelLifeCycle alone",
    )
    _store_options(p, state=True)

    p = add_leaf(
        sub,
        common,
        "rollback",
        "go back to the previously deployed approved version",
        _promote_rollback,
    )
    p.add_argument("--environment", required=True, choices=SERVING_ENVIRONMENTS)
    p.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    p.add_argument("--out", type=Path, help="write the manifest to redeploy here")
    p.add_argument(
        "--start-pipeline",
        metavar="NAME",
        help="start this CodePipeline to redeploy (variables ModelPackageArn, TargetEnvironment)",
    )
    _registry_role_option(p)
    _store_options(p, state=True)

    p = add_leaf(
        sub,
        common,
        "check-portfolio",
        "refuse a config that leaves out a model still serving in stage or prod",
        _promote_check_portfolio,
    )
    _store_options(p, state=True)

    p = add_leaf(
        sub,
        common,
        "decommission",
        "record that --model no longer serves in an environment (its serving stacks are gone)",
        _promote_decommission,
    )
    p.add_argument("--environment", required=True, choices=SERVING_ENVIRONMENTS)
    p.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    _store_options(p, state=True)


# --------------------------------------------------------------------------- audit


def _moment(text: str | None, option: str, end_of_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if end_of_day and len(text) == 10:
        moment = datetime.combine(moment.date(), time.max)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _audit_group(ctx: Context) -> str:
    """--group, else --model's group, else every group (the audit trail is the platform's)."""
    if ctx.args.group:
        return str(ctx.args.group)
    return ctx.config().model.package_group if ctx.model else ""


def _audit_filter(ctx: Context) -> AuditFilter:
    return AuditFilter(
        since=_moment(ctx.args.since, "--since"),
        until=_moment(ctx.args.until, "--until", end_of_day=True),
        group=_audit_group(ctx),
        actions=frozenset(ctx.args.action or ()),
    )


def _audit_export(ctx: Context) -> int:
    # Each record with its object version and Object Lock retention (GetObjectRetention).
    records = _audit(ctx).stored(_audit_filter(ctx), retention=True)
    text = to_csv(records) if ctx.args.format == "csv" else to_json(records)
    if ctx.args.out:
        write_file(ctx.args.out, text)
        print(f"{len(records)} records -> {ctx.args.out}", file=ctx.err)
    else:
        ctx.out.write(text)
    return ExitCode.OK


def _audit_list(ctx: Context) -> int:
    records = _audit(ctx).records(_audit_filter(ctx))
    rows = [asdict(r) for r in records]
    columns = [
        ("at", "TIME"),
        ("action", "ACTION"),
        ("model_package_group", "GROUP"),
        ("version", "VERSION"),
        ("environment", "ENV"),
        ("actor", "WHO"),
        ("reason", "REASON"),
    ]
    ctx.emit({"records": rows}, table(rows, columns))
    return ExitCode.OK


def _audit_verify(ctx: Context) -> int:
    bucket = _tooling_bucket(ctx, ctx.args.audit_bucket, "audit")
    report = verify_trail(ctx.client("s3"), bucket, group=_audit_group(ctx))
    lines = [
        f"{c.chain}: {c.records} records, head {c.head or '-'}"
        + (f", first broken link {c.first_broken.record}" if c.first_broken else ", intact")
        for c in report.chains
    ]
    default = report.default_retention
    lines.append(
        f"bucket default retention: {default.mode} {default.days} days"
        if default
        else "bucket default retention: none"
    )
    first = report.first_broken
    if report.ok:
        lines.append(f"audit trail intact: {report.records} records in {len(report.chains)} chains")
    else:
        lines.append(f"audit trail broken: first broken link {first.text() if first else '-'}")
    ctx.emit(report.to_dict(), "\n".join(lines))
    if report.ok:
        return ExitCode.OK
    print(f"finmlops: audit trail broken in s3://{bucket}", file=ctx.err)
    for problem in report.problems:
        print(f"  - {problem.text()}", file=ctx.err)
    return ExitCode.REFUSED


def register_audit(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "audit", help="the audit trail: list, export for examiners, verify"
    )
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(title="audit commands", metavar="COMMAND")
    verify = add_leaf(
        sub,
        common,
        "verify",
        "check every chain (hashes, sequence, versions, Object Lock retention); exit 1 naming "
        "the first broken link",
        _audit_verify,
    )
    verify.add_argument("--group", help="only this model package group's chain")
    verify.add_argument(
        "--audit-bucket",
        help="audit trail bucket (default: the tooling audit bucket of the config)",
    )
    for name, run, what in (
        (
            "export",
            _audit_export,
            "every record as CSV or JSON, with its object version, hash "
            "and retain-until date, for an examiner",
        ),
        ("list", _audit_list, "records as a table"),
    ):
        p = add_leaf(sub, common, name, what, run)
        p.add_argument("--since", help="from this date or ISO time (UTC unless given)")
        p.add_argument("--until", help="up to this date (inclusive) or ISO time")
        p.add_argument("--group", help="only records of this model package group")
        p.add_argument("--action", action="append", help="only this action (repeatable)")
        if name == "export":
            p.add_argument("--format", choices=["csv", "json"], default="csv")
            p.add_argument("--out", type=Path, help="file to write (default: standard output)")
        _store_options(p)


# --------------------------------------------------------------------------- inventory


def _alarm_roles(ctx: Context) -> dict[str, str]:
    roles: dict[str, str] = {}
    for item in ctx.args.alarm_role_arn or []:
        environment, sep, arn = item.partition("=")
        if not sep or environment not in SERVING_ENVIRONMENTS or not arn.startswith("arn:"):
            raise UsageError(
                f"--alarm-role-arn {item!r}: expected ENV=ARN with ENV one of "
                f"{', '.join(SERVING_ENVIRONMENTS)}"
            )
        roles[environment] = arn
    return roles


def _inventory_export(ctx: Context) -> int:
    from finmlops.registry.inventory import model_inventory, to_csv, to_json
    from finmlops.registry.storage import utc_now

    platform = ctx.platform()
    roles = _alarm_roles(ctx)
    # Each serving environment's alarms live in its own account and region.
    cloudwatch = {
        environment: ctx.client_as(
            "cloudwatch",
            roles.get(environment),
            f"inventory-{environment}",
            region=platform.environments.by_name(environment).region,
        )
        for environment in SERVING_ENVIRONMENTS
    }
    inventory = model_inventory(
        ctx.configs(),
        sagemaker=ctx.client("sagemaker"),
        audit=_audit(ctx),
        s3=ctx.client("s3"),
        state_bucket=_tooling_bucket(ctx, ctx.args.state_bucket, "state"),
        cloudwatch=cloudwatch,
        now=utc_now(),
    )
    text = to_csv(inventory) if ctx.args.format == "csv" else to_json(inventory)
    if ctx.args.out:
        write_file(ctx.args.out, text)
        print(f"{len(inventory.models)} models -> {ctx.args.out}", file=ctx.err)
    else:
        ctx.out.write(text)
    for entry in inventory.models:
        for problem in entry.problems:
            print(f"finmlops: {entry.model}: {problem}", file=ctx.err)
    return ExitCode.OK


def register_inventory(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "inventory", help="the model inventory (SR 26-2): every model, its people and state"
    )
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(title="inventory commands", metavar="COMMAND")
    p = add_leaf(
        sub,
        common,
        "export",
        "every model (or --model's) with tier, owner, validator, serving mode, versions in each "
        "environment, last validation, open findings, open re-validations and alarms",
        _inventory_export,
    )
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument(
        "--alarm-role-arn",
        action="append",
        metavar="ENV=ARN",
        help="assume this role to read ENV's alarms (stage or prod, repeatable); default: your "
        "own credentials in the environment's region",
    )
    _store_options(p, state=True)


__all__ = ["register_audit", "register_inventory", "register_promote", "register_registry"]
