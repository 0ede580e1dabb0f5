"""moto's model registry, made to keep what SageMaker keeps.

moto (5.2.x) differs from SageMaker's documented UpdateModelPackage in two ways that matter to
the registry runtime:

- A field the call omits is overwritten: the approval status and its description become empty and
  the metadata map is replaced. SageMaker keeps omitted fields, merges `CustomerMetadataProperties`
  into the map and removes `CustomerMetadataPropertiesToRemove`.
- `ModelLifeCycle` (where a version runs) and `ModelCard` are accepted and dropped, on create and
  on update, and so is a new `InferenceSpecification` on update.

Under segregation of duties the promotion may only send lifecycle-only updates (no status, no
metadata), which moto would turn into a wiped approval. `install()` replaces moto's
UpdateModelPackage handler and keeps `ModelLifeCycle`, `ModelCard` and
`InferenceSpecification`, so the emulator and the tests run the same requests as AWS and see the
same results. It also installs `finmlops.emulator.aws.identity`, so that `CreatedBy` and
`LastModifiedBy` name whoever signed the request, as on AWS, and asks
`finmlops.emulator.aws.access` whether the caller may make the request, before anything changes.
It touches nothing else;
`tests/emulator/test_registry_fidelity.py` pins each behaviour, so a moto upgrade that changes
them fails there.
"""

from __future__ import annotations

import re
from typing import Any, cast

_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # Stage and StageStatus
_DESCRIPTION_MAX = 1024
_INSTALLED = "_finmlops_registry_fidelity"


def _life_cycle(value: Any) -> dict[str, str] | None:
    """A ModelLifeCycle as SageMaker validates it, or None when the request has none."""
    from moto.sagemaker.exceptions import ValidationError

    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("ModelLifeCycle must be a structure")
    stage, status = value.get("Stage"), value.get("StageStatus")
    for field, text in (("Stage", stage), ("StageStatus", status)):
        if not isinstance(text, str) or not _PATTERN.match(text):
            raise ValidationError(
                f"ModelLifeCycle.{field} {text!r} must match [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}"
            )
    description = value.get("StageDescription")
    kept = {"Stage": str(stage), "StageStatus": str(status)}
    if description is not None:
        if len(str(description)) > _DESCRIPTION_MAX:
            raise ValidationError("ModelLifeCycle.StageDescription is longer than 1024")
        kept["StageDescription"] = str(description)
    return kept


_CARD_STATUSES = frozenset({"Draft", "PendingReview", "Approved", "Archived"})
_CARD_CONTENT_MAX = 100_000


def _model_card(value: Any) -> dict[str, str] | None:
    """A ModelPackageModelCard as SageMaker validates it, or None when the request has none."""
    from moto.sagemaker.exceptions import ValidationError

    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("ModelCard must be a structure")
    kept: dict[str, str] = {}
    content = value.get("ModelCardContent")
    if content is not None:
        if len(str(content)) > _CARD_CONTENT_MAX:
            raise ValidationError("ModelCard.ModelCardContent is longer than 100000")
        kept["ModelCardContent"] = str(content)
    status = value.get("ModelCardStatus")
    if status is not None:
        if status not in _CARD_STATUSES:
            raise ValidationError(
                f"ModelCard.ModelCardStatus {status!r} is not one of {sorted(_CARD_STATUSES)}"
            )
        kept["ModelCardStatus"] = str(status)
    return kept


def _kept(request: Any) -> dict[str, dict[str, str]]:
    """What moto would drop from a create or update request, validated before anything changes."""
    kept = {
        "finmlops_life_cycle": _life_cycle(request._get_param("ModelLifeCycle")),
        "finmlops_model_card": _model_card(request._get_param("ModelCard")),
    }
    return {name: value for name, value in kept.items() if value is not None}


def _update(package: Any, request: Any) -> None:
    """SageMaker's UpdateModelPackage: omitted fields are kept, metadata merges."""
    kept = _kept(request)
    status = request._get_param("ModelApprovalStatus")
    if status is not None:
        package.set_model_approval_status(status)
    description = request._get_param("ApprovalDescription")
    if description is not None:
        package.approval_description = description
    added = request._get_param("CustomerMetadataProperties")
    removed = request._get_param("CustomerMetadataPropertiesToRemove") or []
    if added or removed:
        merged = {**(package.customer_metadata_properties or {}), **(added or {})}
        for key in removed:
            merged.pop(key, None)
        package.customer_metadata_properties = merged
    package.add_additional_inference_specifications(
        request._get_param("AdditionalInferenceSpecificationsToAdd")
    )
    inference = request._get_param("InferenceSpecification")
    if inference is not None:
        package.inference_specification = inference
    for name, value in kept.items():
        setattr(package, name, value)
    package.modifications_done()


def install() -> None:
    """Patch moto in this process (idempotent). Works for `mock_aws` and for the embedded server,
    which runs moto's backends in-process."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import ModelPackage
    from moto.sagemaker.responses import SageMakerResponse

    from finmlops.emulator.aws import access, identity

    identity.install()
    if getattr(SageMakerResponse, _INSTALLED, False):
        return

    def update_model_package(self: Any) -> Any:
        arn = self._get_param("ModelPackageArn")
        backend = self.sagemaker_backend
        package = backend.model_packages.get(backend.model_package_name_mapping.get(arn, arn))
        if package is None:
            raise ValidationError(f"Model package {arn} not found")
        access.authorize_registry(self, "sagemaker:UpdateModelPackage", package.arn)
        _update(package, self)
        identity.modified(self, package)
        return ActionResult({"ModelPackageArn": package.arn})

    original_create = SageMakerResponse.create_model_package

    def create_model_package(self: Any) -> Any:
        kept = _kept(self)
        # SageMaker authorizes CreateModelPackage on the group (docs/iam.md).
        group = str(self._get_param("ModelPackageGroupName") or "")
        if group and not group.startswith("arn:"):
            group = (
                f"arn:aws:sagemaker:{self.region}:{self.current_account}:"
                f"model-package-group/{group.lower()}"
            )
        access.authorize_registry(self, "sagemaker:CreateModelPackage", group)
        result = original_create(self)
        package = self.sagemaker_backend.model_packages[
            cast(dict[str, str], result.result)["ModelPackageArn"]
        ]
        for name, value in kept.items():
            setattr(package, name, value)
        identity.created(self, package)
        return result

    original_response = ModelPackage.gen_response_object

    def gen_response_object(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = original_response(self)
        for name, field in (
            ("finmlops_life_cycle", "ModelLifeCycle"),
            ("finmlops_model_card", "ModelCard"),
        ):
            value = getattr(self, name, None)
            if value:
                response[field] = dict(value)
        return response

    SageMakerResponse.update_model_package = update_model_package  # type: ignore[method-assign]
    SageMakerResponse.create_model_package = create_model_package  # type: ignore[method-assign]
    ModelPackage.gen_response_object = gen_response_object  # type: ignore[method-assign]
    setattr(SageMakerResponse, _INSTALLED, True)
