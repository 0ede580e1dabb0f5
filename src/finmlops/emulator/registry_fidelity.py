"""moto's model registry, made to keep what SageMaker keeps.

moto (5.2.x) differs from SageMaker's documented UpdateModelPackage in two ways that matter to
the registry runtime:

- A field the call omits is overwritten: the approval status and its description become empty and
  the metadata map is replaced. SageMaker keeps omitted fields, merges `CustomerMetadataProperties`
  into the map and removes `CustomerMetadataPropertiesToRemove`.
- `ModelLifeCycle` (where a version runs) is accepted and dropped, on create and on update, and
  so is a new `InferenceSpecification` on update.

Under segregation of duties the promotion may only send lifecycle-only updates (no status, no
metadata), which moto would turn into a wiped approval. `install()` replaces moto's
UpdateModelPackage handler and keeps `ModelLifeCycle` and `InferenceSpecification`, so the emulator and the tests run the same
requests as AWS and see the same results. It touches nothing else; `tests/emulator/
test_registry_fidelity.py` pins each behaviour, so a moto upgrade that changes them fails there.
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


def install() -> None:
    """Patch moto in this process (idempotent). Works for `mock_aws` and for the embedded server,
    which runs moto's backends in-process."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import ModelPackage
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse, _INSTALLED, False):
        return

    def update_model_package(self: Any) -> Any:
        arn = self._get_param("ModelPackageArn")
        backend = self.sagemaker_backend
        package = backend.model_packages.get(backend.model_package_name_mapping.get(arn, arn))
        if package is None:
            raise ValidationError(f"Model package {arn} not found")
        life_cycle = _life_cycle(self._get_param("ModelLifeCycle"))  # validate before changing
        status = self._get_param("ModelApprovalStatus")
        if status is not None:
            package.set_model_approval_status(status)
        description = self._get_param("ApprovalDescription")
        if description is not None:
            package.approval_description = description
        added = self._get_param("CustomerMetadataProperties")
        removed = self._get_param("CustomerMetadataPropertiesToRemove") or []
        if added or removed:
            merged = {**(package.customer_metadata_properties or {}), **(added or {})}
            for key in removed:
                merged.pop(key, None)
            package.customer_metadata_properties = merged
        package.add_additional_inference_specifications(
            self._get_param("AdditionalInferenceSpecificationsToAdd")
        )
        inference = self._get_param("InferenceSpecification")
        if inference is not None:
            package.inference_specification = inference
        if life_cycle is not None:
            package.finmlops_life_cycle = life_cycle
        package.modifications_done()
        return ActionResult({"ModelPackageArn": package.arn})

    original_create = SageMakerResponse.create_model_package

    def create_model_package(self: Any) -> Any:
        life_cycle = _life_cycle(self._get_param("ModelLifeCycle"))
        result = original_create(self)
        if life_cycle is not None:
            arn = cast(dict[str, str], result.result)["ModelPackageArn"]
            self.sagemaker_backend.model_packages[arn].finmlops_life_cycle = life_cycle
        return result

    original_response = ModelPackage.gen_response_object

    def gen_response_object(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = original_response(self)
        life_cycle = getattr(self, "finmlops_life_cycle", None)
        if life_cycle:
            response["ModelLifeCycle"] = dict(life_cycle)
        return response

    SageMakerResponse.update_model_package = update_model_package  # type: ignore[method-assign]
    SageMakerResponse.create_model_package = create_model_package  # type: ignore[method-assign]
    ModelPackage.gen_response_object = gen_response_object  # type: ignore[method-assign]
    setattr(SageMakerResponse, _INSTALLED, True)
