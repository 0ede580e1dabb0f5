"""Reading AWS answers: which errors mean "it is not there", and paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_MISSING_CODES = {
    "404",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchBucketPolicy",
    "NotFound",
    "ObjectLockConfigurationNotFoundError",
    "PipelineNotFoundException",
    "ResourceNotFound",
    "ResourceNotFoundException",
}


def is_missing(exc: BaseException) -> bool:
    """Whether a botocore error says the thing asked for does not exist. SageMaker answers a
    Describe of a missing resource with ValidationException "... does not exist" / "Could not
    find ..." (API reference, Common Errors), S3 with NoSuch*/404."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error = response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "")).lower()
    if code in _MISSING_CODES:
        return True
    return code == "ValidationException" and any(
        phrase in message for phrase in ("does not exist", "could not find", "not found")
    )


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item under `key` of a paginated List operation."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])
