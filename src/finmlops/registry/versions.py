"""Reading model versions from the SageMaker Model Registry, and the one function that updates one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from finmlops.contracts import Meta, Stage
from finmlops.registry.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import UpdateModelPackageInputTypeDef

# ModelLifeCycle.Stage of each environment a version is deployed to, in promotion order.
LIFECYCLE_STAGES: Mapping[str, str] = Stage.BY_ENVIRONMENT

_METADATA_VALUE_MAX = 256
_APPROVAL_DESCRIPTION_MAX = 1024
_STAGE_DESCRIPTION_MAX = 1024


@dataclass(frozen=True)
class Lifecycle:
    """Where a version runs (ModelLifeCycle): Stage, StageStatus, StageDescription."""

    stage: str
    status: str
    description: str = ""


@dataclass(frozen=True)
class GroupSummary:
    name: str
    arn: str
    description: str
    created_at: datetime | None


@dataclass(frozen=True)
class ModelVersion:
    """The parts of DescribeModelPackage that approval, promotion and the CLI read."""

    arn: str
    group: str
    version: int
    status: str
    package_status: str
    created_at: datetime | None
    description: str
    approval_description: str
    metadata: Mapping[str, str]
    model_metrics: Mapping[str, Any]
    drift_baselines: Mapping[str, Any]
    model_card: Mapping[str, Any]
    lifecycle: Lifecycle | None
    image_uri: str
    model_data_url: str
    # What SageMaker recorded about who created and last changed the version (UserContext:
    # IamIdentity {Arn, PrincipalId, SourceIdentity}, UserProfileName); see registry.identity.
    created_by: Mapping[str, Any]
    last_modified_by: Mapping[str, Any]
    last_modified_at: datetime | None
    # MetadataProperties.GeneratedBy: the pipeline execution that claims to have registered it.
    generated_by: str

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> ModelVersion:
        metadata = {str(k): str(v) for k, v in (d.get("CustomerMetadataProperties") or {}).items()}
        containers = (d.get("InferenceSpecification") or {}).get("Containers") or [{}]
        return cls(
            arn=str(d["ModelPackageArn"]),
            group=str(d.get("ModelPackageGroupName", "")),
            version=int(d.get("ModelPackageVersion", 0)),
            status=str(d.get("ModelApprovalStatus", "")),
            package_status=str(d.get("ModelPackageStatus", "")),
            created_at=d.get("CreationTime"),
            description=str(d.get("ModelPackageDescription", "")),
            approval_description=str(d.get("ApprovalDescription", "")),
            metadata=metadata,
            model_metrics=d.get("ModelMetrics") or {},
            drift_baselines=d.get("DriftCheckBaselines") or {},
            model_card=d.get("ModelCard") or {},
            lifecycle=_lifecycle(d.get("ModelLifeCycle")),
            image_uri=str(containers[0].get("Image", "")),
            model_data_url=str(containers[0].get("ModelDataUrl", "")),
            created_by=_mapping(d.get("CreatedBy")),
            last_modified_by=_mapping(d.get("LastModifiedBy")),
            last_modified_at=d.get("LastModifiedTime"),
            generated_by=str((d.get("MetadataProperties") or {}).get("GeneratedBy", "")),
        )

    @property
    def label(self) -> str:
        return f"{self.group}/{self.version}"

    def state(self) -> dict[str, str]:
        """The registry state an audit record keeps as `previous_state`."""
        state = {"status": self.status, "approval_description": self.approval_description}
        if self.lifecycle:
            state["lifecycle_stage"] = self.lifecycle.stage
            state["lifecycle_status"] = self.lifecycle.status
        for key in (Meta.APPROVED_BY, Meta.APPROVED_AT):
            if key in self.metadata:
                state[key] = self.metadata[key]
        return state


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _lifecycle(api: Any) -> Lifecycle | None:
    if isinstance(api, Mapping) and api.get("Stage"):
        return Lifecycle(
            str(api["Stage"]), str(api.get("StageStatus", "")), str(api.get("StageDescription", ""))
        )
    return None


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "").lower()
    return code in {"ResourceNotFound", "ResourceNotFoundException"} or (
        code == "ValidationException" and ("not found" in message or "does not exist" in message)
    )


def describe_version(sm: SageMakerClient, arn: str) -> ModelVersion:
    try:
        description = sm.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        if _is_not_found(exc):
            raise NotFoundError(f"model version {arn} not found") from None
        raise
    return ModelVersion.from_description(cast(Mapping[str, Any], description))


def list_groups(sm: SageMakerClient) -> list[GroupSummary]:
    groups: list[GroupSummary] = []
    for page in sm.get_paginator("list_model_package_groups").paginate(
        SortBy="Name", SortOrder="Ascending"
    ):
        for g in page["ModelPackageGroupSummaryList"]:
            groups.append(
                GroupSummary(
                    name=g["ModelPackageGroupName"],
                    arn=g["ModelPackageGroupArn"],
                    description=g.get("ModelPackageGroupDescription", ""),
                    created_at=g.get("CreationTime"),
                )
            )
    return groups


def _summaries(
    sm: SageMakerClient, group: str, status: str | None = None, newest_first: bool = False
) -> Iterator[Mapping[str, Any]]:
    kwargs: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "SortBy": "CreationTime",
        "SortOrder": "Descending" if newest_first else "Ascending",
    }
    if status:
        kwargs["ModelApprovalStatus"] = status
    try:
        for page in sm.get_paginator("list_model_packages").paginate(**kwargs):
            yield from cast(list[Mapping[str, Any]], page["ModelPackageSummaryList"])
    except ClientError as exc:
        if _is_not_found(exc):
            raise NotFoundError(f"model package group {group!r} not found") from None
        raise


def require_group(sm: SageMakerClient, group: str) -> None:
    """Raise NotFoundError unless the group exists (listing a missing group just returns nothing)."""
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if _is_not_found(exc):
            raise NotFoundError(f"model package group {group!r} not found") from None
        raise


def list_versions(sm: SageMakerClient, group: str, status: str | None = None) -> list[ModelVersion]:
    """Every version of a group, oldest first, each fully described (metadata included)."""
    versions = [describe_version(sm, s["ModelPackageArn"]) for s in _summaries(sm, group, status)]
    if not versions:
        require_group(sm, group)
    return versions


def latest_version(sm: SageMakerClient, group: str, status: str | None = None) -> ModelVersion:
    for summary in _summaries(sm, group, status, newest_first=True):
        return describe_version(sm, summary["ModelPackageArn"])
    require_group(sm, group)
    which = f"{status} version" if status else "version"
    raise NotFoundError(f"model package group {group!r} has no {which}")


_REF = re.compile(r"^(?:(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/)?(?P<version>\d+)$")


def find_version(sm: SageMakerClient, ref: str, default_group: str) -> ModelVersion:
    """A version named by its ARN, by `group/version`, or by a version number of the default group."""
    ref = ref.strip()
    if ref.startswith("arn:"):
        return describe_version(sm, ref)
    match = _REF.match(ref)
    if not match:
        raise InvalidInputError(
            f"version: {ref!r} is neither a model package ARN, GROUP/VERSION nor a version number"
        )
    group = match["group"] or default_group
    number = int(match["version"])
    for summary in _summaries(sm, group):
        if int(summary["ModelPackageVersion"]) == number:
            return describe_version(sm, summary["ModelPackageArn"])
    require_group(sm, group)
    raise NotFoundError(f"model package group {group!r} has no version {number}")


def metadata_value(text: str) -> str:
    """Text made acceptable as a CustomerMetadataProperties value (AWS pattern, 256 chars)."""
    kept = "".join(ch if ch.isalnum() or ch in " _.:/=+-@" else " " for ch in text)
    return " ".join(kept.split())[:_METADATA_VALUE_MAX]


def update_version(
    sm: SageMakerClient,
    arn: str,
    *,
    status: str | None = None,
    approval_description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    remove_metadata: Sequence[str] = (),
    lifecycle: Lifecycle | None = None,
) -> ModelVersion:
    """The only call to UpdateModelPackage. It sends only what it is given: SageMaker keeps the
    fields a call omits and merges the metadata map, and IAM judges the request by what it carries
    (the promotion's lifecycle role may send `ModelLifeCycle` and nothing else).

    Returns the version as it was before the update.
    """
    current = describe_version(sm, arn)
    request: dict[str, Any] = {"ModelPackageArn": arn}
    if status is not None:
        request["ModelApprovalStatus"] = status
    if approval_description is not None:
        request["ApprovalDescription"] = approval_description[:_APPROVAL_DESCRIPTION_MAX]
    if metadata:
        request["CustomerMetadataProperties"] = {k: metadata_value(v) for k, v in metadata.items()}
    removed = [k for k in remove_metadata if k in current.metadata]
    if removed:
        request["CustomerMetadataPropertiesToRemove"] = removed
    if lifecycle:
        request["ModelLifeCycle"] = {
            "Stage": lifecycle.stage,
            "StageStatus": lifecycle.status,
            "StageDescription": lifecycle.description[:_STAGE_DESCRIPTION_MAX],
        }
    if len(request) == 1:
        raise InvalidInputError(f"update of {current.label}: nothing to change")
    sm.update_model_package(**cast("UpdateModelPackageInputTypeDef", request))
    return current
