"""Who authored a model version, from what AWS and Git recorded, never from what an author wrote.

Three paths, chosen by what SageMaker recorded on the version (DescribeModelPackage):

1. **Registered by a pipeline execution.** The register step sets `MetadataProperties.GeneratedBy`
   to the execution's ARN (`pipelines/definition.py`). The definition is repository code, which an
   author can change, so the claim is bound: `ListPipelineExecutionSteps` of that execution must
   show the RegisterModel step that created this very version (`Metadata.RegisterModel.Arn`,
   API reference `RegisterModelStepMetadata`). The person who started it is
   `DescribePipelineExecution.CreatedBy` (`IamIdentity.SourceIdentity`, else the IAM user, else
   the Studio profile).
2. **Started by automation.** The platform pipeline starts builds through dev's build-starter
   role: AWS records that role, which names nobody. The people are then whoever changed the
   source, as Git records them: the commit's author and committer, and for a merge the authors
   of the merged commits; each verified only when its signature verifies (`git verify-commit`).
   The fixed, non-repository step that starts the build writes them into a `build-started`
   audit record (`finmlops build start --provenance-from-git`), found here by execution ARN;
   authors cannot write the audit trail.
3. **Created directly** by CreateModelPackage: `DescribeModelPackage.CreatedBy`.

The creator of the version (`CreatedBy`) counts as an author on every path when it names a person.
When no record names a person, the author is unknown, and approval and promotion are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from finmlops.contracts import AuditAction, Param
from finmlops.registry.audit import AuditFilter, AuditTrail
from finmlops.registry.identity import Identity, People, dump_identities, load_identities
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

_EXECUTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:pipeline/[^/]+/execution/[^/]+$"
)
# The audit records of a build are written right after StartPipelineExecution; allow for clocks.
_CLOCK_SKEW = timedelta(hours=1)

# Keys of a `build-started` audit record's details (written by `finmlops build start`).
BUILD_EXECUTION = "execution_arn"
BUILD_COMMIT = "git_commit"
BUILD_PEOPLE = "git_people"  # JSON list of Identity records (recorded_by "git")
BUILD_STARTER = "started_by"  # JSON list: the starter as sts:GetCallerIdentity named it


@dataclass(frozen=True)
class Authorship:
    """The authors of one version, each with where it was read, and why any is unknown."""

    version_arn: str
    authors: People
    execution_arn: str = ""  # set only when the execution's steps show it created the version
    register_step: str = ""  # the step of that execution that created it
    build_record: str = ""  # the `build-started` audit record that named Git's people

    def problems(self) -> list[str]:
        """Why authorship is not established (empty when it is)."""
        if self.authors.unknown:
            return [f"authorship: {why}" for why in self.authors.unknown]
        if not self.authors.persons():
            return [
                "authorship: no record names a person as author (recorded: "
                f"{self.authors.describe()}); approval needs a known author"
            ]
        return []

    def approver_problems(self, approver: Identity) -> list[str]:
        """Segregation of duties: the approver must not be an author, and the authors must be
        known. The rule's name opens each line."""
        problems: list[str] = []
        same = self.authors.matching(approver)
        if same:
            authors = "; ".join(a.label() for a in same)
            problems.append(
                f"segregation of duties: {approver.label()} is an author of this version "
                f"({authors}) and may not approve it"
            )
        return problems + self.problems()

    def details(self) -> dict[str, str]:
        """What an audit record keeps of it."""
        found = {"authors": dump_identities(self.authors.identities)}
        if self.execution_arn:
            found["pipeline_execution"] = self.execution_arn
        if self.build_record:
            found["build_record"] = self.build_record
        if self.authors.unknown:
            found["authors_unknown"] = "; ".join(self.authors.unknown)
        return found


def is_execution_arn(text: str) -> bool:
    return bool(_EXECUTION_ARN.match(text))


def _not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") in {"ResourceNotFound", "ResourceNotFoundException"} or (
        error.get("Code") == "ValidationException" and "could not find" in message
    )


def registered_steps(sm: SageMakerClient, execution_arn: str) -> dict[str, str]:
    """Model package ARN -> the step of the execution that created it (ListPipelineExecutionSteps,
    `Metadata.RegisterModel.Arn`)."""
    found: dict[str, str] = {}
    paginator = sm.get_paginator("list_pipeline_execution_steps")
    for page in paginator.paginate(PipelineExecutionArn=execution_arn):
        for step in page.get("PipelineExecutionSteps", []):
            arn = (step.get("Metadata") or {}).get("RegisterModel", {}).get("Arn", "")
            if arn:
                found[str(arn)] = str(step.get("StepName", ""))
    return found


def execution_parameters(sm: SageMakerClient, execution_arn: str) -> dict[str, str]:
    """The parameter values the execution was started with (ListPipelineParametersForExecution)."""
    values: dict[str, str] = {}
    paginator = sm.get_paginator("list_pipeline_parameters_for_execution")
    for page in paginator.paginate(PipelineExecutionArn=execution_arn):
        for parameter in page.get("PipelineParameters", []):
            values[str(parameter["Name"])] = str(parameter["Value"])
    return values


def build_records(audit: AuditTrail, execution: Mapping[str, Any]) -> list[Any]:
    """The `build-started` records that name this execution."""
    created = execution.get("CreationTime")
    where = AuditFilter(
        since=created - _CLOCK_SKEW if created else None,
        actions=frozenset({AuditAction.BUILD_STARTED}),
    )
    arn = execution.get("PipelineExecutionArn", "")
    return [r for r in audit.records(where) if r.details.get(BUILD_EXECUTION) == arn]


@dataclass(frozen=True)
class _Found:
    authors: list[Identity]
    unknown: list[str]
    register_step: str = ""
    build_record: str = ""


def _from_pipeline(
    sm: SageMakerClient, audit: AuditTrail, version: ModelVersion, execution_arn: str
) -> _Found:
    """The authors of a version a pipeline execution claims to have registered."""
    try:
        created = registered_steps(sm, execution_arn)
        execution = dict(sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn))
    except ClientError as exc:
        if _not_found(exc):
            return _Found([], [f"pipeline execution {execution_arn} (GeneratedBy) does not exist"])
        raise
    step = created.get(version.arn, "")
    if not step:
        return _Found([], [
            f"pipeline execution {execution_arn} named by MetadataProperties.GeneratedBy ran no "
            f"RegisterModel step that created {version.label} (its steps registered: "
            f"{', '.join(created) or 'nothing'}); the claim is not what AWS recorded"
        ])  # fmt: skip
    starter = Identity.from_user_context(
        execution.get("CreatedBy"), "DescribePipelineExecution.CreatedBy"
    )
    found = _from_build_record(sm, audit, execution, starter)
    return replace(found, register_step=step)


def _from_build_record(
    sm: SageMakerClient, audit: AuditTrail, execution: Mapping[str, Any], starter: Identity | None
) -> _Found:
    """The starter AWS recorded, and the people of the `build-started` record of the execution."""
    execution_arn = str(execution.get("PipelineExecutionArn", ""))
    authors = [starter] if starter is not None else []
    records = build_records(audit, execution)
    if len(records) > 1:
        ids = ", ".join(r.record_id for r in records)
        return _Found(
            authors, [f"more than one build-started record names {execution_arn} ({ids})"]
        )
    if not records:
        if starter is not None and starter.is_person:
            return _Found(authors, [])
        who = starter.label() if starter else "nobody"
        why = (
            f"pipeline execution {execution_arn} was started by {who}, which names no "
            "person, and no build-started audit record names the commit's people"
        )
        return _Found(authors, [why])
    record = records[0]
    where = f"audit record {record.record_id}"
    authors.extend(load_identities(record.details.get(BUILD_PEOPLE, ""), f"{where} {BUILD_PEOPLE}"))
    commit = record.details.get(BUILD_COMMIT, "")
    ran = execution_parameters(sm, execution_arn).get(Param.GIT_COMMIT, "")
    unknown = []
    if ran and commit and ran != commit:
        unknown.append(f"{where} names commit {commit}, but execution {execution_arn} ran {ran}")
    return _Found(authors, unknown, build_record=record.record_id)


def resolve_authorship(sm: SageMakerClient, audit: AuditTrail, version: ModelVersion) -> Authorship:
    """The version's authors, from the records above (see the module docstring)."""
    creator = Identity.from_user_context(version.created_by, "DescribeModelPackage.CreatedBy")
    generated_by = version.generated_by
    found = _Found([], [])
    if is_execution_arn(generated_by):
        found = _from_pipeline(sm, audit, version, generated_by)
    elif creator is None or not creator.is_person:
        who = creator.label() if creator else "nobody (no CreatedBy)"
        found.unknown.append(
            f"{version.label} was not registered by a pipeline execution "
            f"(MetadataProperties.GeneratedBy {generated_by or 'unset'}) and CreateModelPackage "
            f"was called by {who}, which names no person"
        )
    if creator is not None:
        found.authors.append(creator)
    return Authorship(
        version_arn=version.arn,
        authors=People(tuple(dict.fromkeys(found.authors)), tuple(found.unknown)),
        execution_arn=generated_by if found.register_step else "",
        register_step=found.register_step,
        build_record=found.build_record,
    )
