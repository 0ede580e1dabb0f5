"""The CDK app: `python -m finmlops_cdk.app --out cdk.out` (what `make synth` and cdk.json run).

The only module that reads the command line, CDK context and files; constructs get typed props.
Inputs (command-line option, or CDK context when run by the CDK CLI):

- `--config` / `-c config=PATH`: the platform config (default config/platform.yaml);
- `--manifest` / `-c manifest=PATH`: the DeploymentManifest of the version stage and prod serve
  (default: version 1 of the group, see finmlops_cdk.manifest);
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
    dataset_path,
    default_config_path,
    load_config,
)
from finmlops.contracts import DeploymentManifest
from finmlops.datasets import parse_dataset_uri
from finmlops.schedules import ScheduleError, check_schedule


def preflight(config: Config, environments: Sequence[str]) -> None:
    """What the stacks need beyond what the config loader checks, before anything is written."""
    from finmlops_cdk.monitoring import model_monitor_cron

    from finmlops.naming import Role, names

    problems: list[tuple[str, str]] = []
    for environment in environments:
        env = config.environments.by_name(environment)
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
        n = names(config, environment)
        try:
            n.bucket("access-logs")
            n.role(Role.EVENT_FORWARDER)
        except ValueError as exc:
            problems.append(("project", str(exc)))
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
    if problems:
        raise ConfigError("<config>", problems)


def real_definition(config: Config) -> Any:
    """The model-build pipeline definition (sagemaker SDK, offline): imported only when needed."""
    from finmlops_pipelines.definition import build_pipeline_definition

    return build_pipeline_definition(config)


def build_app(
    config: Config,
    *,
    outdir: str | None = None,
    manifest: DeploymentManifest | None = None,
    definition: DefinitionFactory = real_definition,
    source: SourceSettings | None = None,
    environments: Sequence[str] = ENVIRONMENT_NAMES,
    compliance: bool = True,
    root: Path | None = None,
    retrain_schedule: str | None = None,
    context: dict[str, Any] | None = None,
) -> App:
    """Every environment's Stage, with the compliance packs attached; not yet synthesized."""
    if manifest is None:
        manifest = default_manifest(config)
    else:
        validate_manifest(manifest, config, "manifest")
    if retrain_schedule is not None:
        try:
            check_schedule(retrain_schedule)
        except ScheduleError as exc:
            raise ConfigError("-c retrain_schedule", [("retrain_schedule", str(exc))]) from None
    unknown = sorted(set(environments) - set(ENVIRONMENT_NAMES))
    if unknown:
        raise ValueError(f"unknown environments: {', '.join(unknown)}")
    preflight(config, environments)
    app = App(outdir=outdir, context=FEATURE_FLAGS | (context or {}))
    for environment in environments:
        PlatformStage(
            app,
            environment,
            config=config,
            environment=environment,
            manifest=manifest,
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
        config = load_config(config_path)
        manifest = load_manifest(manifest_path, config) if manifest_path else None
        connection = context.get("source_connection_arn")
        source = SourceSettings(
            connection_arn=connection,
            repository=context.get("source_repository"),
            branch=context.get("source_branch", "main"),
        )
        app = build_app(
            config,
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
