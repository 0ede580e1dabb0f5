"""`finmlops verify --environment E`: the CLI over finmlops.verify (one line per check)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from finmlops.cli import Context, UsageError, add_leaf
from finmlops.config import ENVIRONMENT_NAMES, default_config_path
from finmlops.verify.assembly import AssemblyError, load_assembly
from finmlops.verify.clients import Clients, session_factory
from finmlops.verify.results import exit_status
from finmlops.verify.run import verify

if TYPE_CHECKING:
    from finmlops.cli import Subparsers


def _verify(ctx: Context) -> int:
    config = ctx.config()
    environment: str = ctx.args.environment
    config_path = Path(ctx.args.config or default_config_path())
    try:
        assembly = load_assembly(Path(ctx.args.cdk_out), config, environment, config_path)
    except AssemblyError as exc:
        raise UsageError(str(exc)) from None
    env = config.environments.by_name(environment)
    tooling = config.environments.tooling
    region = ctx.args.region or env.region
    endpoint_url = ctx.args.endpoint_url
    clients = Clients(
        env_factory=session_factory(
            profile=ctx.args.profile, region=region, endpoint_url=endpoint_url
        ),
        tooling_factory=session_factory(
            profile=ctx.args.tooling_profile or ctx.args.profile,
            region=region if environment == "tooling" else tooling.region,
            endpoint_url=endpoint_url,
        ),
    )
    results = verify(environment, config, assembly, clients)
    code = exit_status(results)
    counts = Counter(str(r.status) for r in results)
    summary = f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
    lines = [f"verify {environment} ({env.account}, {region}) against {assembly.folder}"]
    lines += [r.line for r in results]
    lines.append(summary)
    ctx.emit(
        {
            "environment": environment,
            "account": env.account,
            "region": region,
            "assembly": str(assembly.folder),
            "checks": [r.to_dict() for r in results],
            "summary": dict(counts),
            "exit_code": code,
        },
        "\n".join(lines),
    )
    return code


def register_verify(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_leaf(
        commands,
        common,
        "verify",
        "read-only checks of a deployed environment against the synthesized templates",
        _verify,
    )
    p.add_argument("--environment", required=True, choices=ENVIRONMENT_NAMES)
    p.add_argument(
        "--cdk-out",
        default="cdk.out",
        metavar="DIR",
        help="the cloud assembly `make synth` wrote (default: cdk.out)",
    )
    p.add_argument(
        "--tooling-profile",
        help="AWS profile of the tooling account, for the deployment history (stage, prod); "
        "default: --profile",
    )
