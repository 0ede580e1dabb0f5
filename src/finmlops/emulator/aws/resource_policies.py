"""Resource policies in the emulator, accepted or refused as SageMaker and S3 do.

moto (5.2.x) has no PutModelPackageGroupPolicy (nor Get/Delete), so a model package group's
resource policy, which CloudFormation sets from `AWS::SageMaker::ModelPackageGroup.
ModelPackageGroupPolicy`, could not be kept at all; and moto's PutBucketPolicy stores any text.
`install()` adds the three SageMaker operations and makes both services refuse what AWS refuses:

SageMaker (ValidationException, "Invalid policy provided: ..."):
- the same principal twice in one statement, an account id and its root ARN being the same
  principal ("Invalid policy provided: Duplicate principal": the error CloudFormation reported
  for a group policy listing one account several times, awslabs/aiops-modules PR #397);
- text that is not a JSON policy document (no `Statement`, a statement without a valid
  `Effect`);
- an AWS principal that is neither `*`, a 12-digit account id, nor an IAM ARN
  (IAM User Guide, "AWS JSON policy elements: Principal": AWS account principals and IAM role,
  user and assumed-role session principals).

S3 (MalformedPolicy, HTTP 400; S3 API Reference, PutBucketPolicy, and "Error responses"):
- text that is not JSON, or no `Statement`, or a statement whose `Effect` is not Allow/Deny;
- a condition operator IAM does not define (IAM User Guide, "Condition operators");
- a resource outside the bucket ("Policy has invalid resource");
- a statement none of whose actions applies to any of its resources ("Action does not apply to
  any resource(s) in statement"), e.g. s3:PutObject on the bucket's ARN rather than its objects
  (Service Authorization Reference for S3: object actions take the `object` resource type).

Not modelled: S3's check that every principal exists ("Invalid principal in policy": the
emulator's one account cannot tell), and its list of S3 condition keys. Only the exact messages
quoted above are AWS's; the others say the same in our words. tests/emulator/
test_resource_policies.py pins each refusal, and that a refused call changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

_INSTALLED = "_finmlops_resource_policies"
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(
    r"^arn:aws[a-z-]*:(iam::\d{12}:(root|role/.+|user/.+)|sts::\d{12}:assumed-role/.+/.+)$"
)
_OPERATORS = frozenset(
    {
        *(f"String{s}" for s in ("Equals", "NotEquals", "EqualsIgnoreCase",
                                 "NotEqualsIgnoreCase", "Like", "NotLike")),
        *(f"{t}{s}" for t in ("Numeric", "Date") for s in ("Equals", "NotEquals", "LessThan",
                                                           "LessThanEquals", "GreaterThan",
                                                           "GreaterThanEquals")),
        "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
        "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
    }
)  # fmt: skip
# S3 actions whose resource is a bucket's object (`arn:...:s3:::bucket/key`), besides those
# with "Object" in their name (Service Authorization Reference for Amazon S3).
_OBJECT_ACTIONS = frozenset({"abortmultipartupload", "listmultipartuploadparts"})


class PolicyRefused(ValueError):  # noqa: N818 - carries the service's message
    """The reason the service refuses the policy."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _document(text: Any) -> list[dict[str, Any]]:
    """The statements of a JSON policy document; PolicyRefused when it is not one."""
    try:
        document = json.loads(text) if isinstance(text, str | bytes) else None
    except json.JSONDecodeError as exc:
        raise PolicyRefused(f"the policy is not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyRefused("the policy is not a JSON object with a Statement")
    statements = _as_list(document["Statement"])
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise PolicyRefused(f"statement {index} is not an object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyRefused(f"statement {index}: Effect must be Allow or Deny")
    return statements


def sagemaker_policy_problem(text: Any) -> str | None:
    """Why SageMaker refuses this resource policy, or None."""
    try:
        statements = _document(text)
    except PolicyRefused as exc:
        return f"Invalid policy provided: {exc}"
    for index, statement in enumerate(statements):
        principal = statement.get("Principal")
        if principal == "*" or principal is None:
            continue
        if not isinstance(principal, dict):
            return f"Invalid policy provided: statement {index}: Principal must be '*' or a map"
        for value in _as_list(principal.get("AWS", [])):
            if value != "*" and not (
                isinstance(value, str) and (_ACCOUNT.match(value) or _IAM_ARN.match(value))
            ):
                return (
                    f"Invalid policy provided: statement {index}: principal {value!r} is not an "
                    "account id or an IAM ARN"
                )
        seen: set[str] = set()
        for value in _as_list(principal.get("AWS", [])):
            canonical = f"arn:aws:iam::{value}:root" if _ACCOUNT.match(str(value)) else str(value)
            if canonical in seen:
                return "Invalid policy provided: Duplicate principal"
            seen.add(canonical)
    return None


def _applies_to_object(action: str) -> bool | None:
    """True for an object action, False for a bucket action, None when a wildcard covers both."""
    name = action.split(":", 1)[-1].lower()
    if "*" in name or "?" in name:
        return None
    return "object" in name or name in _OBJECT_ACTIONS


def _glob(pattern: str, value: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None


def s3_policy_problem(bucket: str, text: Any) -> str | None:
    """Why S3 refuses this bucket policy, or None."""
    try:
        statements = _document(text.decode() if isinstance(text, bytes) else text)
    except PolicyRefused as exc:
        return str(exc)
    for index, statement in enumerate(statements):
        for operator in statement.get("Condition") or {}:
            base = re.sub(r"^(ForAllValues|ForAnyValue):", "", operator).removesuffix("IfExists")
            if base not in _OPERATORS:
                return f"statement {index}: invalid condition operator {operator!r}"
        resources = [str(r) for r in _as_list(statement.get("Resource", []))]
        kinds: set[bool] = set()
        for resource in resources:
            arn = re.match(r"^arn:aws[a-z-]*:s3:::([^/]+)(/.*)?$", resource)
            if resource == "*":
                kinds |= {True, False}
            elif arn is None or not _glob(arn.group(1), bucket):
                return f"Policy has invalid resource: {resource}"
            else:
                kinds.add(arn.group(2) is not None)
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        if (
            resources
            and actions
            and not any(
                _applies_to_object(a) is None or _applies_to_object(a) in kinds for a in actions
            )
        ):
            return f"Action does not apply to any resource(s) in statement {index}"
    return None


def install() -> None:
    """Patch moto in this process (idempotent), for `mock_aws` and the embedded server alike."""
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import S3Backend
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse, _INSTALLED, False):
        return

    def group(self: Any) -> Any:
        name = self._get_param("ModelPackageGroupName")
        # moto's own lookup: ValidationException "ModelPackageGroup <arn> does not exist."
        return self.sagemaker_backend.describe_model_package_group(model_package_group_name=name)

    def put_model_package_group_policy(self: Any) -> Any:
        found = group(self)
        policy = self._get_param("ResourcePolicy")
        problem = sagemaker_policy_problem(policy)
        if problem:
            raise ValidationError(problem)
        found.finmlops_resource_policy = policy
        return ActionResult({"ModelPackageGroupArn": found.arn})

    def get_model_package_group_policy(self: Any) -> Any:
        found = group(self)
        policy = getattr(found, "finmlops_resource_policy", None)
        if policy is None:
            raise ValidationError(f"Resource policy of {found.arn} not found.")
        return ActionResult({"ResourcePolicy": policy})

    def delete_model_package_group_policy(self: Any) -> Any:
        found = group(self)
        found.finmlops_resource_policy = None
        return ActionResult({})

    original_put_bucket_policy = S3Backend.put_bucket_policy

    def put_bucket_policy(self: Any, bucket_name: str, policy: bytes) -> None:
        self.get_bucket(bucket_name)  # NoSuchBucket first, as S3 answers
        problem = s3_policy_problem(bucket_name, policy)
        if problem:
            raise S3ClientError("MalformedPolicy", problem)
        original_put_bucket_policy(self, bucket_name, policy)

    SageMakerResponse.put_model_package_group_policy = put_model_package_group_policy  # type: ignore[attr-defined]
    SageMakerResponse.get_model_package_group_policy = get_model_package_group_policy  # type: ignore[attr-defined]
    SageMakerResponse.delete_model_package_group_policy = delete_model_package_group_policy  # type: ignore[attr-defined]
    S3Backend.put_bucket_policy = put_bucket_policy  # type: ignore[method-assign]
    setattr(SageMakerResponse, _INSTALLED, True)
