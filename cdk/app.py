"""The CDK app: `python -m finmlops_cdk.app --out cdk.out` (what `make synth` and cdk.json run).

The only module that reads the command line, CDK context and files; constructs get typed props.
Inputs (command-line option, or CDK context when run by the CDK CLI):

- `--config` / `-c config=PATH`: the platform config (default config/platform.yaml), every model
  of its portfolio;
- `--manifest` / `-c manifest=PATH`: the DeploymentManifest of the version stage and prod serve,
  for the model whose registry group it names (the others: version 1 of their group, see
  finmlops_cdk.manifest);
- `-c source_connection_arn=ARN -c source_repository=owner/name [-c source_branch=main]`:
  a Git source through a CodeStar connection instead of the S3 source object;
- `-c retrain_schedule="cron(...)"`: an optional retraining schedule in dev.

A bad config or manifest stops the app before any template is written, naming the field.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# jsii starts its Node process on the first aws_cdk import: silence its Node 20 banner first.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from finmlops_cdk.assets import repo_root
from finmlops_cdk.compliance import attach_packs
from finmlops_cdk.feature_flags import FEATURE_FLAGS
from finmlops_cdk.manifest import ManifestError, default_manifest, load_manifest, validate_manifest
from finmlops_cdk.promotion import SourceSettings
from finmlops_cdk.stages import DefinitionFactory, PlatformStage

from finmlops.config import (
    ENVIRONMENT_NAMES,
    Config,
    ConfigError,
    Portfolio,
    dataset_path,
    default_config_path,
    load_portfolio,
)
from finmlops.contracts import DeploymentManifest
from finmlops.datasets import parse_dataset_uri
from finmlops.schedules import ScheduleError, check_schedule


def as_portfolio(config: Config | Portfolio) -> Portfolio:
    """A portfolio as it is; a single model's Config as a portfolio of one."""
    if isinstance(config, Portfolio):
        return config
    return Portfolio({config.model.name: config})


def preflight(config: Config | Portfolio, environments: Sequence[str]) -> None:
    """What the stacks need beyond what the config loader checks, before anything is written:
    for the platform and for every model of the portfolio."""
    portfolio = as_portfolio(config)
    platform = portfolio.platform
    problems: list[tuple[str, str]] = []
    for environment in environments:
        env = platform.environments.by_name(environment)
        if environment != "tooling":
            if env.vpc is None:
                problems.append(
                    (f"environments.{environment}.vpc", "required: SageMaker runs in the VPC")
                )
            elif len(env.vpc.availability_zones) != len(env.vpc.subnet_ids):
                problems.append(
                    (
                        f"environments.{environment}.vpc.availability_zones",
                        f"give one zone per subnet ({len(env.vpc.subnet_ids)} subnets)",
                    )
                )
    problems += _role_name_problems(portfolio, environments)
    several = len(portfolio.names) > 1
    for model in portfolio.configs:
        where = f"models.{model.model.name}." if several else ""
        problems += [
            (f"{where}{field}", reason) for field, reason in _model_problems(model, environments)
        ]
    if problems:
        raise ConfigError("<config>", problems)


def _role_name_problems(portfolio: Portfolio, environments: Sequence[str]) -> list[tuple[str, str]]:
    """Every IAM role name the stacks give: at most 64 characters, and none given by two models
    (a role name is unique in its account). IAM User Guide, "IAM object names" (RoleName:
    1-64 characters of [A-Za-z0-9+=,.@_-]) and "IAM and AWS STS quotas"."""
    from finmlops.naming import Role, names

    problems: list[tuple[str, str]] = []
    given: dict[tuple[str, str], str] = {}
    several = len(portfolio.names) > 1

    def give(account: str, role: str, owner: str) -> None:
        first = given.setdefault((account, role), owner)
        if first != owner:
            problems.append((owner, f"role {role!r} is also given by {first}: rename one"))

    for model in portfolio.configs:
        prefix = f"models.{model.model.name}." if several else ""
        give(
            model.environments.dev.account,
            model.governance.approver_role,
            f"{prefix}governance.approver_role",
        )
        for environment in environments:
            n = names(model, environment)
            try:
                roles = n.roles()
            except ValueError as exc:
                field = f"models.{model.model.name}" if several else "project"
                problems.append((field, f"{environment}: {exc}"))
                continue
            for purpose, role in roles.items():
                if Role.per_model(purpose):
                    give(n.env.account, role, f"{prefix}name ({environment} role {purpose})")
                elif model is portfolio.platform:
                    give(n.env.account, role, f"project ({environment} role {purpose})")
    return problems


def _model_problems(config: Config, environments: Sequence[str]) -> list[tuple[str, str]]:
    from finmlops_cdk.monitoring import model_monitor_cron

    problems: list[tuple[str, str]] = []
    if config.monitoring.mode == "model_monitor":
        try:
            model_monitor_cron(config.monitoring.schedule)
        except ValueError as exc:
            problems.append(("monitoring.schedule", str(exc).split(": ", 1)[-1]))
    if "dev" in environments and parse_dataset_uri(config.model.dataset.uri).kind != "s3":
        # Dev's stack ships the dataset as an asset: it must be a file inside the allowed folder
        # (symlinks followed) before any construct copies it (finmlops.datasets).
        try:
            dataset_path(config)
        except ConfigError as exc:
            problems += exc.problems
    return problems


def real_definition(config: Config) -> Any:
    """The model-build pipeline definition (sagemaker SDK, offline): imported only when needed."""
    from finmlops_pipelines.definition import build_pipeline_definition

    return build_pipeline_definition(config)


def manifests_for(
    portfolio: Portfolio,
    manifest: DeploymentManifest | None,
    manifests: Sequence[DeploymentManifest] = (),
) -> dict[str, DeploymentManifest]:
    """Each model's manifest: the given ones (`manifest` and `manifests`, at most one per
    registry group, each checked against the model whose group it names), the default (version
    1 of its group) for every other model. Several manifests are how a serving environment is
    synthesized with the version every model serves there, not only the promoted one's."""
    found = {c.model.name: default_manifest(c) for c in portfolio.configs}
    given = [*manifests, *([manifest] if manifest is not None else [])]
    seen: set[str] = set()
    for one in given:
        owners = [c for c in portfolio.configs if c.model.package_group == one.model_package_group]
        if not owners:
            raise ManifestError(
                f"manifest: model_package_group {one.model_package_group!r} is the group of "
                f"no model (the groups: "
                f"{', '.join(c.model.package_group for c in portfolio.configs)})"
            )
        if one.model_package_group in seen:
            raise ManifestError(
                f"manifest: two manifests for model_package_group {one.model_package_group!r}: "
                "give one per group"
            )
        seen.add(one.model_package_group)
        validate_manifest(one, owners[0], "manifest")
        found[owners[0].model.name] = one
    return found


def build_app(
    config: Config | Portfolio,
    *,
    outdir: str | None = None,
    manifest: DeploymentManifest | None = None,
    manifests: Sequence[DeploymentManifest] = (),
    definition: DefinitionFactory = real_definition,
    source: SourceSettings | None = None,
    environments: Sequence[str] = ENVIRONMENT_NAMES,
    compliance: bool = True,
    root: Path | None = None,
    retrain_schedule: str | None = None,
    context: dict[str, Any] | None = None,
) -> App:
    """Every environment's Stage, with the compliance packs attached; not yet synthesized.

    `config` is the portfolio (`load_portfolio`), or one model's Config (a portfolio of one).
    `manifest` and `manifests` name the versions the serving environments serve, at most one
    per registry group; a model without one serves version 1 of its group (`manifests_for`)."""
    portfolio = as_portfolio(config)
    chosen = manifests_for(portfolio, manifest, manifests)
    if retrain_schedule is not None:
        try:
            check_schedule(retrain_schedule)
        except ScheduleError as exc:
            raise ConfigError("-c retrain_schedule", [("retrain_schedule", str(exc))]) from None
    unknown = sorted(set(environments) - set(ENVIRONMENT_NAMES))
    if unknown:
        raise ValueError(f"unknown environments: {', '.join(unknown)}")
    preflight(portfolio, environments)
    app = App(outdir=outdir, context=FEATURE_FLAGS | (context or {}))
    for environment in environments:
        PlatformStage(
            app,
            environment,
            portfolio=portfolio,
            environment=environment,
            manifests=chosen,
            definition=definition,
            source=source or SourceSettings(),
            root=root or repo_root(),
            retrain_schedule=retrain_schedule,
        )
    if compliance:
        attach_packs(app)
    return app


def _context_from_cli() -> dict[str, Any]:
    """Context the CDK CLI passes (CDK_CONTEXT_JSON), read without building an App first."""
    import json

    raw = os.environ.get("CDK_CONTEXT_JSON")
    return dict(json.loads(raw)) if raw else {}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops_cdk.app", description="Synthesize the platform's CloudFormation."
    )
    parser.add_argument("--out", help="cloud assembly directory (default: CDK_OUTDIR or cdk.out)")
    parser.add_argument("--config", help="platform config (default: config/platform.yaml)")
    parser.add_argument("--manifest", help="DeploymentManifest JSON of the version to serve")
    parser.add_argument(
        "--environment",
        action="append",
        choices=ENVIRONMENT_NAMES,
        help="synthesize only these environments (repeatable; default: all)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    context = _context_from_cli()
    config_path = args.config or context.get("config") or default_config_path()
    manifest_path = args.manifest or context.get("manifest")
    config_source = str(config_path)
    outdir = args.out or os.environ.get("CDK_OUTDIR") or "cdk.out"
    try:
        portfolio = load_portfolio(config_path)
        manifest = load_manifest(manifest_path, portfolio) if manifest_path else None
        connection = context.get("source_connection_arn")
        source = SourceSettings(
            connection_arn=connection,
            repository=context.get("source_repository"),
            branch=context.get("source_branch", "main"),
        )
        app = build_app(
            portfolio,
            outdir=outdir,
            manifest=manifest,
            source=source,
            environments=args.environment or ENVIRONMENT_NAMES,
            retrain_schedule=context.get("retrain_schedule"),
        )
    except ConfigError as exc:
        if exc.source == "<config>":
            exc = ConfigError(config_source, exc.problems)
        print(f"synth stopped, nothing written: {exc}", file=sys.stderr)
        return 2
    except (ManifestError, ValueError) as exc:
        print(f"synth stopped, nothing written: {exc}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as exc:  # jsii: open compliance findings, a missing inventory tag, ...
        print(f"synth failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
