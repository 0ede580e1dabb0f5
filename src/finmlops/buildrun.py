"""Create or update the model-build pipeline, and start a build, through the SageMaker API.

On AWS the CDK stack owns the pipeline (the definition is embedded with Fn::Sub), so CodeBuild
only starts it; `upsert` exists for accounts deployed without CDK and for the offline emulator,
where the same definition is filled with `Placeholder.substitute` instead of CloudFormation.

`finmlops build start` (also `python -m finmlops.buildrun start`) starts one execution. Who the
build's author is comes from records, never from an argument (ADR 0014):

- started by a person: SageMaker records them (`DescribePipelineExecution.CreatedBy`, with the
  STS source identity);
- started by automation (the platform pipeline, through dev's build-starter role): AWS records
  only that role, so with `--provenance-from-git` this command, run by a fixed step outside the
  repository's control, reads the commit's people from Git (author, committer, and for a merge
  the authors of the merged commits, each with whether `git verify-commit` verified its
  signature) and writes them in a `build-started` audit record, keyed by the execution's ARN.
  The record says which fields AWS recorded (the execution, the starter) and which Git did.

The build compares its model with the champion, the version serving in prod: this command reads
it from the registry's ModelLifeCycle and passes it as the champion parameters, which a caller
cannot give (`registry.champion`, ADR 0029).

Clients are passed in; the command builds them (`--endpoint-url` for the emulator).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.config import Config
from finmlops.contracts import AuditAction, Placeholder
from finmlops.registry.authorship import BUILD_COMMIT, BUILD_EXECUTION, BUILD_PEOPLE, BUILD_STARTER
from finmlops.registry.champion import (
    CHAMPION_PARAMETERS,
    Champion,
    champion_parameters,
    serving_champion,
)
from finmlops.registry.errors import InvalidInputError
from finmlops.registry.identity import Identity, dump_identities

if TYPE_CHECKING:
    from finmlops.cli import Context, Subparsers
    from finmlops.registry.audit import AuditTrail

# A merge brings at most this many commits' authors into the record (a long-lived branch would
# otherwise make one record of thousands of names).
MAX_MERGED_COMMITS = 50


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


def declared_parameters(sagemaker: Any, pipeline_name: str) -> set[str]:
    """The parameters the pipeline's definition declares (DescribePipeline)."""
    import json

    body = sagemaker.describe_pipeline(PipelineName=pipeline_name)["PipelineDefinition"]
    return {str(p["Name"]) for p in json.loads(body).get("Parameters", [])}


def start_build(
    sagemaker: Any,
    pipeline_name: str,
    *,
    git_commit: str,
    group: str,
    overrides: Mapping[str, str] | None = None,
) -> tuple[str, Champion | None]:
    """Start one execution of the commit, with the champion the registry records as serving in
    prod (`registry.champion`); returns the execution's ARN and that champion. Only parameters
    the definition declares may be given, and never the gates' thresholds (a run cannot lower a
    gate) nor the champion (approval refuses a build compared with another than the one
    serving: ADR 0029)."""
    from finmlops.contracts import Param

    chosen = sorted(set(overrides or {}) & set(CHAMPION_PARAMETERS))
    if chosen:
        raise InvalidInputError(
            f"--parameter: {', '.join(chosen)} is read from the registry (the version serving in "
            "prod), never given"
        )
    champion = serving_champion(sagemaker, group)
    parameters = {
        Param.GIT_COMMIT: git_commit,
        **(overrides or {}),
        **champion_parameters(champion),
    }
    unknown = sorted(set(parameters) - declared_parameters(sagemaker, pipeline_name))
    if unknown:
        raise InvalidInputError(
            f"--parameter: {', '.join(unknown)} is not a parameter of {pipeline_name}"
            " (gate thresholds are the platform's: config `gates:`)"
        )
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name,
        PipelineExecutionDisplayName=f"build-{git_commit[:12]}".replace("_", "-"),
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())],
    )
    return str(response["PipelineExecutionArn"]), champion


# --------------------------------------------------------------------------- Git provenance


class GitError(InvalidInputError):
    """Git could not say what a commit is; the message names the repository and commit."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class _Commit:
    sha: str
    parents: tuple[str, ...]
    author: tuple[str, str]
    committer: tuple[str, str]
    signer: str


_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%GS"


def _commit(repo: Path, ref: str) -> _Commit:
    done = _git(repo, "log", "-1", f"--format={_FORMAT}", ref, "--")
    fields = done.stdout.rstrip("\n").split("\x00")
    if done.returncode != 0 or len(fields) != 7:
        raise GitError(f"--git-commit: {ref} is not a commit of {repo}: {done.stderr.strip()}")
    sha, parents, an, ae, cn, ce, signer = fields
    return _Commit(sha, tuple(parents.split()), (an, ae), (cn, ce), signer)


def _verified(repo: Path, sha: str) -> bool:
    """`git verify-commit`: a good signature by a key Git is configured to trust."""
    return _git(repo, "verify-commit", sha).returncode == 0


def git_provenance(repo: Path, ref: str) -> tuple[Identity, ...]:
    """The people of a commit as Git records them: its author and committer, and for a merge
    the authors and committers of the merged commits; each verified only by its signature."""
    head = _commit(repo, ref)
    commits = [("commit", head)]
    if len(head.parents) > 1:
        listed = _git(
            repo, "rev-list", f"--max-count={MAX_MERGED_COMMITS}", f"{head.parents[0]}..{head.sha}"
        )
        if listed.returncode != 0:
            raise GitError(f"{repo}: cannot list the commits merged by {head.sha}")
        merged = [sha for sha in listed.stdout.split() if sha != head.sha]
        commits += [("merged commit", _commit(repo, sha)) for sha in merged]
    people: dict[tuple[str, str, bool], Identity] = {}
    for kind, commit in commits:
        verified = _verified(repo, commit.sha)
        how = f"signed by {commit.signer}" if verified and commit.signer else "signature"
        detail = f"{commit.sha[:12]} ({how if verified else 'unsigned or not verified'})"
        for role, (name, email) in (("author", commit.author), ("committer", commit.committer)):
            key = (name, email.lower(), verified)
            people.setdefault(
                key,
                Identity(
                    "git",
                    f"{kind} {role}",
                    name=name,
                    email=email,
                    verified=verified,
                    detail=detail,
                ),
            )
    return tuple(people.values())


def record_build_started(
    audit: AuditTrail,
    *,
    execution_arn: str,
    git_commit: str,
    group: str,
    starter_arn: str,
    people: Sequence[Identity],
) -> str:
    """The `build-started` record of an execution (what `registry.authorship` reads)."""
    record = audit.append(
        AuditAction.BUILD_STARTED,
        starter_arn,
        group=group,
        reason=f"model build of commit {git_commit}",
        details={
            BUILD_EXECUTION: execution_arn,
            BUILD_COMMIT: git_commit,
            BUILD_PEOPLE: dump_identities(people),
            BUILD_STARTER: dump_identities([Identity.from_caller_arn(starter_arn)]),
            "recorded_by": f"AWS: {BUILD_EXECUTION} (StartPipelineExecution), {BUILD_STARTER} "
            f"(sts:GetCallerIdentity); Git: {BUILD_PEOPLE} (git log, git verify-commit)",
        },
    )
    return record.record_id


# --------------------------------------------------------------------------- the command


def _build_start(ctx: Context) -> int:
    from finmlops.cli import ExitCode, UsageError
    from finmlops.registry.approval import caller_identity
    from finmlops.registry.audit import AuditTrail

    config = ctx.config()
    overrides: dict[str, str] = {}
    for item in ctx.args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--parameter {item!r}: expected NAME=VALUE")
        overrides[name] = value
    # Git first: a commit Git cannot describe starts nothing.
    people = (
        git_provenance(ctx.args.repo, ctx.args.git_commit) if ctx.args.provenance_from_git else ()
    )
    from finmlops_pipelines.definition import pipeline_name

    # The pipeline is started as dev's build starter when one is named (the platform pipeline's
    # start step); the audit record below is written with the caller's own credentials, which
    # may append to the audit trail where the starter may not.
    starter = _starter_session(ctx, ctx.args.starter_role_arn)
    sagemaker = starter.client(
        "sagemaker",
        region_name=config.environments.dev.region,
        endpoint_url=ctx.args.endpoint_url,
    )
    arn, champion = start_build(
        sagemaker,
        ctx.args.pipeline or pipeline_name(config),
        git_commit=ctx.args.git_commit,
        group=config.model.package_group,
        overrides=overrides,
    )
    data: dict[str, Any] = {
        "execution_arn": arn,
        "git_commit": ctx.args.git_commit,
        "champion": champion.arn if champion else None,
    }
    lines = [arn, f"champion: {champion.label if champion else 'none (nothing serves in prod)'}"]
    if ctx.args.provenance_from_git:
        tooling = config.environments.tooling
        from finmlops.contracts import Promotion

        bucket = ctx.args.audit_bucket or Promotion.audit_bucket_name(
            config.project, tooling.account, tooling.region
        )
        record = record_build_started(
            AuditTrail(ctx.client("s3"), bucket),
            execution_arn=arn,
            git_commit=ctx.args.git_commit,
            group=config.model.package_group,
            starter_arn=caller_identity(starter.client("sts", endpoint_url=ctx.args.endpoint_url)),
            people=people,
        )
        data["audit_record"] = record
        data["git_people"] = [p.to_record() for p in people]
        lines += [f"build-started record {record}", *(f"  {p.label()}" for p in people)]
    ctx.emit(data, "\n".join(lines))
    return ExitCode.OK


def _starter_session(ctx: Context, role_arn: str | None) -> Any:
    """The session that starts the pipeline: the caller's, or `role_arn` assumed once."""
    session = ctx.session()
    if not role_arn:
        return session
    import boto3

    credentials = ctx.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName="finmlops-start-build"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def register_build(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    from finmlops.cli import add_leaf

    parser = commands.add_parser("build", help="model builds: start one")
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(title="build commands", metavar="COMMAND")
    p = add_leaf(sub, common, "start", "start the model-build pipeline on a commit", _build_start)
    p.add_argument("--git-commit", required=True, help="the commit to build (GitCommit)")
    p.add_argument(
        "--provenance-from-git",
        action="store_true",
        help="record the commit's people as Git records them (author, committer, merged "
        "commits; signatures checked with git verify-commit) in a build-started audit record: "
        "for the platform pipeline's fixed start step, whose role AWS records instead of a person",
    )
    p.add_argument(
        "--repo", type=Path, default=Path(), help="the Git checkout of the commit (default: .)"
    )
    p.add_argument("--pipeline", help="pipeline name (default: the config's model-build pipeline)")
    p.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a declared pipeline parameter (input data, instance types)",
    )
    p.add_argument(
        "--audit-bucket",
        help="audit trail bucket (default: the tooling audit bucket of the config)",
    )
    p.add_argument(
        "--starter-role-arn",
        help="start the pipeline as this role (dev's build starter), assumed for that call "
        "only; the audit record is written with the caller's own credentials",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m finmlops.buildrun start ...`: the same as `finmlops build start ...`."""
    from finmlops.cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["start"]:
        print("usage: python -m finmlops.buildrun start --git-commit SHA ...", file=sys.stderr)
        return 2
    return cli_main(["build", *args])


if __name__ == "__main__":
    sys.exit(main())
