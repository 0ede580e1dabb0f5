"""The CloudFormation execution policy for `cdk bootstrap --cloudformation-execution-policies`.

`cdk bootstrap` gives the role CloudFormation deploys with AdministratorAccess unless it is
handed policies. This module writes the least the platform's templates need, per environment:
the IAM actions CloudFormation's resource handlers call to create, read, update, delete and tag
each resource type the environment's synthesized templates contain, and nothing else.

The actions come from the CloudFormation registry schemas of those types (`handlers.<op>.
permissions` and `tagging.permissions`), which cfn-lint ships offline for every region: AWS
publishes there what each handler calls, so the list is kept by AWS, not by hand. Custom
resources have no schema: CloudFormation invokes their provider function
(`lambda:InvokeFunction`). A type CloudFormation still handles outside the registry (here
`AWS::CodeBuild::Project`) is listed in `NON_REGISTRY_TYPES` from its API reference. Any other
type without handler permissions stops the command, naming it.

    python -m finmlops_cdk.bootstrap_policy --environment dev --out policy.json
    python -m finmlops_cdk.bootstrap_policy --environment prod --cdk-out cdk.out --out prod.json

A managed policy holds at most 6,144 characters (whitespace excluded; IAM quotas): a longer
document is split by service into parts `policy.1.json`, `policy.2.json`, ..., each one policy
to create and pass to `--cloudformation-execution-policies` (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MANAGED_POLICY_MAX_CHARS = 6144  # IAM quotas: managed policy size, whitespace excluded
HANDLER_OPERATIONS: tuple[str, ...] = ("create", "read", "update", "delete")
# CloudFormation calls a custom resource's provider (ServiceToken) itself.
CUSTOM_RESOURCE_ACTIONS: tuple[str, ...] = ("lambda:InvokeFunction",)
# Types CloudFormation still handles outside the registry: their schema names no handler
# permissions, so the calls are listed here from the service's API reference (what a create,
# update and delete of the type makes; tags travel in the same calls). Verified only on AWS.
NON_REGISTRY_TYPES: dict[str, tuple[str, ...]] = {
    "AWS::CodeBuild::Project": (
        "codebuild:BatchGetProjects",
        "codebuild:CreateProject",
        "codebuild:DeleteProject",
        "codebuild:UpdateProject",
        "iam:PassRole",  # the project's service role
    ),
}


class PolicyError(ValueError):
    """A template holds something the generator cannot cover; the message names it."""


def resource_types(templates: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every resource type of the templates."""
    return {
        str(resource["Type"])
        for template in templates
        for resource in template.get("Resources", {}).values()
    }


def _is_custom(kind: str) -> bool:
    return kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource"


def handler_actions(kind: str, region: str) -> set[str]:
    """The IAM actions CloudFormation's handlers call for one resource type in one region."""
    if _is_custom(kind):
        return set(CUSTOM_RESOURCE_ACTIONS)
    if kind in NON_REGISTRY_TYPES:
        return set(NON_REGISTRY_TYPES[kind])
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # cfn-lint's copy of the registry

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, kind).schema
    except Exception as exc:  # cfn-lint raises its own lookup errors
        raise PolicyError(f"{kind}: no CloudFormation schema in {region} ({exc})") from exc
    handlers = schema.get("handlers", {})
    actions = {
        str(action)
        for operation in HANDLER_OPERATIONS
        for action in handlers.get(operation, {}).get("permissions", [])
    }
    tagging = schema.get("tagging", {})
    actions |= {str(action) for action in tagging.get("permissions", [])}
    if not actions:
        raise PolicyError(f"{kind}: its schema names no handler permissions in {region}")
    return actions


def coverage(kinds: Iterable[str], region: str) -> dict[str, set[str]]:
    """Resource type -> the actions it needs."""
    return {kind: handler_actions(kind, region) for kind in sorted(kinds)}


def _statement(service: str, actions: Sequence[str]) -> dict[str, Any]:
    sid = "".join(part[:1].upper() + part[1:] for part in service.replace("_", "-").split("-"))
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": "*"}


def _size(document: Mapping[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def execution_policies(
    actions: Iterable[str], *, max_chars: int = MANAGED_POLICY_MAX_CHARS
) -> list[dict[str, Any]]:
    """Policy documents allowing exactly these actions: one statement per service, packed into
    as few documents as fit a managed policy each."""
    by_service: dict[str, list[str]] = {}
    for action in sorted(set(actions)):
        service, sep, name = action.partition(":")
        if not sep or not name or "*" in service:
            raise PolicyError(f"{action!r} is not an IAM action of one service")
        by_service.setdefault(service, []).append(action)
    documents: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for service, names in sorted(by_service.items()):
        statement = _statement(service, names)
        candidate = {"Version": "2012-10-17", "Statement": [*current, statement]}
        if current and _size(candidate) > max_chars:
            documents.append({"Version": "2012-10-17", "Statement": current})
            current = [statement]
        else:
            current.append(statement)
        if _size({"Version": "2012-10-17", "Statement": [statement]}) > max_chars:
            raise PolicyError(f"the actions of {service} alone exceed a managed policy")
    if current:
        documents.append({"Version": "2012-10-17", "Statement": current})
    return documents


def templates_of(assembly: Path, environment: str) -> list[dict[str, Any]]:
    """The templates of one environment's stage in a cloud assembly (`assembly-<env>/`)."""
    folder = assembly / f"assembly-{environment}"
    files = sorted(folder.glob("*.template.json"))
    if not files:
        raise PolicyError(f"{folder}: no templates (synthesize the {environment} stage first)")
    return [json.loads(path.read_text()) for path in files]


def policies_for(assembly: Path, environment: str, region: str) -> list[dict[str, Any]]:
    kinds = resource_types(templates_of(assembly, environment))
    needed = set().union(*coverage(kinds, region).values())
    return execution_policies(needed)


def part_paths(out: Path, parts: int) -> list[Path]:
    """`policy.json`, or `policy.1.json`, `policy.2.json`, ... when the policy is split."""
    if parts == 1:
        return [out]
    return [out.with_name(f"{out.stem}.{i}{out.suffix}") for i in range(1, parts + 1)]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops_cdk.bootstrap_policy",
        description="Write the least-privilege CloudFormation execution policy of one environment.",
    )
    parser.add_argument("--environment", required=True, choices=("tooling", "dev", "stage", "prod"))
    parser.add_argument("--out", required=True, help="policy file (parts get .1, .2, ...)")
    parser.add_argument("--config", help="platform config (default: config/platform.yaml)")
    parser.add_argument(
        "--cdk-out", help="an existing cloud assembly to read (default: synthesize the stage)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from finmlops.config import ConfigError, default_config_path, load_portfolio

    try:
        portfolio = load_portfolio(args.config or default_config_path())
    except ConfigError as exc:
        print(f"stopped, nothing written: {exc}", file=sys.stderr)
        return 2
    config = portfolio.platform
    region = config.environments.by_name(args.environment).region
    try:
        if args.cdk_out:
            documents = policies_for(Path(args.cdk_out), args.environment, region)
        else:
            from finmlops_cdk.app import build_app

            with tempfile.TemporaryDirectory(prefix="finmlops-bootstrap-") as outdir:
                build_app(portfolio, outdir=outdir, environments=[args.environment]).synth()
                documents = policies_for(Path(outdir), args.environment, region)
    except PolicyError as exc:
        print(f"stopped, nothing written: {exc}", file=sys.stderr)
        return 2
    from finmlops.naming import names

    n = names(config, args.environment)
    account = n.env.account
    paths = part_paths(Path(args.out), len(documents))
    for path, document in zip(paths, documents, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {path} ({_size(document)} characters)")
    arns = ",".join(
        f"arn:{n.partition}:iam::{account}:policy/{config.project}-cfn-exec-{i}"
        for i in range(1, len(paths) + 1)
    )
    print(
        f"then: cdk bootstrap aws://{account}/{region} --cloudformation-execution-policies {arns}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
