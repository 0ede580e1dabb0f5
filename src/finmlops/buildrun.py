"""Create or update the model-build pipeline, and start a build, through the SageMaker API.

On AWS the CDK stack owns the pipeline (the definition is embedded with Fn::Sub), so CodeBuild
only starts it; `upsert` exists for accounts deployed without CDK and for the offline emulator,
where the same definition is filled with `Placeholder.substitute` instead of CloudFormation.
Clients are passed in; `main` builds them from the command line (`--endpoint-url` for the emulator).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from finmlops.config import Config, ConfigError, default_config_path, load_config
from finmlops.contracts import Param, Placeholder


def upsert_pipeline(
    sagemaker: Any, config: Config, values: Mapping[str, str], role_arn: str
) -> str:
    """Build the definition, fill its placeholders, create or update the pipeline."""
    from finmlops_pipelines.definition import build_pipeline_definition

    definition = build_pipeline_definition(config)
    body = Placeholder.substitute(definition.body, dict(values))
    return upsert_body(sagemaker, definition.name, body, role_arn, config)


def upsert_body(sagemaker: Any, name: str, body: str, role_arn: str, config: Config) -> str:
    """Create the pipeline with this definition, or update it when it exists; returns its ARN."""
    existing = sagemaker.list_pipelines(PipelineNamePrefix=name)["PipelineSummaries"]
    if any(p["PipelineName"] == name for p in existing):
        response = sagemaker.update_pipeline(
            PipelineName=name, PipelineDefinition=body, RoleArn=role_arn
        )
    else:
        response = sagemaker.create_pipeline(
            PipelineName=name,
            PipelineDefinition=body,
            RoleArn=role_arn,
            Tags=[{"Key": k, "Value": v} for k, v in sorted(config.inventory_tags().items())],
        )
    return str(response["PipelineArn"])


def start_build(
    sagemaker: Any,
    pipeline_name: str,
    *,
    git_commit: str,
    author: str,
    overrides: Mapping[str, str] | None = None,
) -> str:
    """Start one execution, recording the commit and who started it (the version's author)."""
    parameters = {Param.GIT_COMMIT: git_commit, Param.MODEL_AUTHOR: author, **(overrides or {})}
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name,
        PipelineExecutionDisplayName=f"build-{git_commit[:12]}".replace("_", "-"),
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())],
    )
    return str(response["PipelineExecutionArn"])


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops.buildrun", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["start"])
    parser.add_argument("--config", default=str(default_config_path()))
    parser.add_argument("--git-commit", required=True)
    parser.add_argument("--author", required=True, help="identity of whoever triggered the build")
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter override",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    overrides = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--parameter {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        overrides[name] = value
    import boto3
    from finmlops_pipelines.definition import pipeline_name

    client = boto3.client(
        "sagemaker", region_name=config.environments.dev.region, endpoint_url=args.endpoint_url
    )
    arn = start_build(
        client,
        pipeline_name(config),
        git_commit=args.git_commit,
        author=args.author,
        overrides=overrides,
    )
    print(arn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
