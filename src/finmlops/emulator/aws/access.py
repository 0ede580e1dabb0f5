"""AWS's access decisions in the emulator, for the requests moto cannot judge (ADR 0010, 0017).

moto's own IAM enforcement cannot evaluate the platform's conditions, and its S3 bucket-policy
check ignores conditions altogether: with the templates' bucket policies (a TLS-only Deny on
every bucket, the audit bucket's create-only Deny) it would refuse every object request. So the
emulator asks a pluggable `Authorizer` (`set_authorizer`; the world plugs in `finmlops.iam`'s
decision on the synthesized policies, `emulator.world.rules`) for:

- **S3 object writes** (PutObject, CopyObject, DeleteObject) on a bucket that has a policy, with
  the request's condition keys: `s3:if-none-match` and `s3:if-match` (the request's headers),
  `s3:ObjectCreationOperation` (true for PutObject and CopyObject; S3 User Guide, "Enforce
  conditional writes"), `s3:object-lock-mode` and `s3:object-lock-remaining-retention-days` (the
  request's Object Lock headers), `s3:x-amz-copy-source`, `aws:SecureTransport`. A CopyObject
  with a conditional header into a bucket whose policy enforces conditional writes answers 501
  NotImplemented, as S3 does ("If you use a bucket policy to enforce conditional writes, you
  can't perform copy operations ... with those HTTP headers fail with a 501"). moto's
  condition-blind check is switched off for buckets the authorizer decides.
- **SageMaker CreateModelPackage** (authorized on the group) and **UpdateModelPackage** (on the
  version), with the keys the Service Authorization Reference defines for them and the request
  carries: `sagemaker:ModelApprovalStatus`, `sagemaker:CustomerMetadataProperties/<key>`,
  `sagemaker:CustomerMetadataPropertiesToRemove`, `sagemaker:ModelLifeCycle:Stage` and
  `:StageStatus`, `aws:RequestTag/<key>` and `aws:TagKeys`.

A refusal is answered as the service answers it (S3 `AccessDenied`, HTTP 403; SageMaker
`AccessDeniedException`, HTTP 400) before anything changes. Without an authorizer (moto alone,
the `mock_aws` tests) every request goes on as moto handles it. Reads are not decided here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from finmlops.emulator.aws.identity import Caller, caller_of

ContextValue = str | bool | list[str]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


# (caller, action, resource ARN, request context) -> what AWS would decide.
Authorizer = Callable[[Caller, str, str, Mapping[str, ContextValue]], Verdict]

# Authorizers by the embedded server's host they judge (None: every request of the process).
_authorizers: dict[str | None, Authorizer] = {}
_request = threading.local()  # the host of the S3 request being handled, for moto's check
_INSTALLED = "_finmlops_access"


def set_authorizer(authorizer: Authorizer | None, host: str | None = None) -> None:
    """Decide the requests above with `authorizer` (None: remove it; without any, moto
    decides, as shipped); with `host` (`127.0.0.1:<port>`), only the requests made to that
    embedded server, so two worlds in one process each keep their own rules."""
    if authorizer is None:
        _authorizers.pop(host, None)
    else:
        _authorizers[host] = authorizer


def _authorizer_for(host: str | None) -> Authorizer | None:
    return _authorizers.get(host) or _authorizers.get(None)


def active(host: str | None) -> bool:
    """Whether an authorizer decides requests made to `host`."""
    return _authorizer_for(host) is not None


def _host_of(response: Any) -> str:
    return str(response.headers.get("Host", ""))


def decide(
    response: Any, action: str, resource: str, context: Mapping[str, ContextValue]
) -> Verdict:
    authorizer = _authorizer_for(_host_of(response))
    if authorizer is None:
        return Verdict(True, "no authorizer: moto decides")
    caller = caller_of(response.get_access_key(), response.current_account)
    return authorizer(caller, action, resource, {"aws:SecureTransport": True, **context})


def _denied_message(caller: Caller, action: str, resource: str, verdict: Verdict) -> str:
    return (
        f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"
        f" ({verdict.reason})"
    )


# --------------------------------------------------------------------------- S3


def _lock_keys(headers: Mapping[str, str]) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {}
    mode = headers.get("x-amz-object-lock-mode")
    if mode:
        keys["s3:object-lock-mode"] = mode
    until = headers.get("x-amz-object-lock-retain-until-date")
    if until:
        moment = datetime.fromisoformat(until.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        days = max(0, (moment - datetime.now(UTC)).days)
        keys["s3:object-lock-remaining-retention-days"] = str(days)
    return keys


def s3_write_context(
    method: str, headers: Mapping[str, str]
) -> tuple[str, dict[str, ContextValue]]:
    """The IAM action and the condition keys of an object write, from its HTTP request."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if method == "DELETE":
        return "s3:DeleteObject", {}
    keys: dict[str, ContextValue] = {"s3:ObjectCreationOperation": True}
    for header, key in (("if-none-match", "s3:if-none-match"), ("if-match", "s3:if-match")):
        if header in lowered:
            keys[key] = lowered[header]
    if "x-amz-copy-source" in lowered:
        keys["s3:x-amz-copy-source"] = lowered["x-amz-copy-source"]
    keys.update(_lock_keys(lowered))
    return "s3:PutObject", keys


def _enforces_conditional_writes(policy: bytes | str | None) -> bool:
    text = policy.decode() if isinstance(policy, bytes) else (policy or "")
    return "s3:if-none-match" in text.lower() or "s3:if-match" in text.lower()


def _install_s3() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    original_permission = FakeBucket.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        # moto's check evaluates no condition; the authorizer decides (writes) instead.
        if active(getattr(_request, "host", None)):
            return PermissionResult.NEUTRAL
        return original_permission(self, action, resource)

    original_key_response = S3Response._key_response
    original_put = S3Response._key_response_put
    original_delete = S3Response._key_response_delete

    def key_response(self: Any, request: Any, full_url: str) -> Any:
        _request.host = str(request.headers.get("Host", ""))
        try:
            return original_key_response(self, request, full_url)
        finally:
            _request.host = None

    def judged(self: Any, method: str, query: Mapping[str, Any], key_name: str) -> None:
        if not active(_host_of(self)):
            return
        subresources = ("retention", "legal-hold", "acl", "tagging", "uploadId", "partNumber")
        if any(name in query for name in subresources):
            return
        bucket = self.backend.get_bucket(self.bucket_name)
        if bucket.policy is None:
            return
        action, context = s3_write_context(method, dict(self.headers))
        if (
            "s3:x-amz-copy-source" in context
            and ("s3:if-none-match" in context or "s3:if-match" in context)
            and _enforces_conditional_writes(bucket.policy)
        ):
            raise S3ClientError(
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
        resource = f"arn:aws:s3:::{self.bucket_name}/{key_name}"
        verdict = decide(self, action, resource, context)
        if not verdict.allowed:
            caller = caller_of(self.get_access_key(), self.current_account)
            raise S3ClientError("AccessDenied", _denied_message(caller, action, resource, verdict))

    def key_response_put(self: Any, query: dict[str, Any], key_name: str) -> Any:
        judged(self, "PUT", query, key_name)
        return original_put(self, query, key_name)

    def key_response_delete(
        self: Any, bucket_name: str, query: dict[str, Any], key_name: str
    ) -> Any:
        judged(self, "DELETE", query, key_name)
        return original_delete(self, bucket_name, query, key_name)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
    S3Response._key_response = key_response  # type: ignore[method-assign]
    S3Response._key_response_put = key_response_put  # type: ignore[method-assign]
    S3Response._key_response_delete = key_response_delete  # type: ignore[method-assign]


# --------------------------------------------------------------------------- SageMaker


def registry_context(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """The condition keys a CreateModelPackage or UpdateModelPackage request carries."""
    keys: dict[str, ContextValue] = {}
    status = params.get("ModelApprovalStatus")
    if status:
        keys["sagemaker:ModelApprovalStatus"] = str(status)
    for name in params.get("CustomerMetadataProperties") or {}:
        keys[f"sagemaker:CustomerMetadataProperties/{name}"] = str(
            params["CustomerMetadataProperties"][name]
        )
    removed = params.get("CustomerMetadataPropertiesToRemove")
    if removed:
        keys["sagemaker:CustomerMetadataPropertiesToRemove"] = [str(k) for k in removed]
    life = params.get("ModelLifeCycle")
    if isinstance(life, Mapping):
        for field in ("Stage", "StageStatus"):
            if life.get(field):
                keys[f"sagemaker:ModelLifeCycle:{field}"] = str(life[field])
    tags = params.get("Tags") or []
    for tag in tags:
        keys[f"aws:RequestTag/{tag['Key']}"] = str(tag["Value"])
    if tags:
        keys["aws:TagKeys"] = [str(t["Key"]) for t in tags]
    return keys


def authorize_registry(response: Any, action: str, resource: str) -> None:
    """Raise SageMaker's AccessDeniedException when the authorizer refuses the request."""
    if not active(_host_of(response)):
        return
    params = {
        name: response._get_param(name)
        for name in (
            "ModelApprovalStatus",
            "CustomerMetadataProperties",
            "CustomerMetadataPropertiesToRemove",
            "ModelLifeCycle",
            "Tags",
        )
    }
    verdict = decide(response, action, resource, registry_context(params))
    if not verdict.allowed:
        from moto.core.exceptions import JsonRESTError

        caller = caller_of(response.get_access_key(), response.current_account)
        raise JsonRESTError(
            "AccessDeniedException", _denied_message(caller, action, resource, verdict)
        )


def install() -> None:
    """Patch moto in this process (idempotent). The SageMaker side is called by
    `registry_fidelity`'s create and update handlers."""
    from moto.s3.responses import S3Response

    if getattr(S3Response, _INSTALLED, False):
        return
    _install_s3()
    setattr(S3Response, _INSTALLED, True)
