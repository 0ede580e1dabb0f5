"""The registry's state-change event, as SageMaker emits it and EventBridge delivers it.

On AWS, SageMaker emits "SageMaker Model Package State Change" when a version's approval status
changes, and for a ModelLifeCycle update (a validator's sign-off, ADR 0030; SageMaker developer
guide, "Get event notifications for ModelLifeCycle"); EventBridge invokes the rule's target at
least once (it may deliver an event twice).
moto emits no such event: the emulator builds it from the registry's own description of the
version (never from what the story intends) and delivers it to the handler the rule invokes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

DETAIL_TYPE = "SageMaker Model Package State Change"
SOURCE = "aws.sagemaker"
# The description fields SageMaker puts in the event's detail (a subset is enough for the rule
# patterns and the handler; the handler reads the registry again before acting).
_DETAIL_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelApprovalStatus",
    "CreatedBy",
    "LastModifiedBy",
)

T = TypeVar("T")


def state_change_event(sagemaker: Any, arn: str, *, account: str, region: str) -> dict[str, Any]:
    """The event SageMaker would emit for the version's current state."""
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    detail = {key: package[key] for key in _DETAIL_FIELDS if key in package}
    detail["CreationTime"] = int(package["CreationTime"].timestamp() * 1000)
    return {
        "version": "0",
        "id": f"emulated-{package['ModelPackageGroupName']}-{package['ModelPackageVersion']}-"
        f"{package['ModelApprovalStatus']}",
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [arn],
        "detail": _jsonable(detail),
    }


def deliver(
    event: dict[str, Any], target: Callable[[dict[str, Any]], T], times: int = 2
) -> list[T]:
    """EventBridge's at-least-once delivery: the same event, `times` times, to the rule's target."""
    return [target(event) for _ in range(times)]


def _jsonable(value: Any) -> Any:
    """Events cross EventBridge as JSON: datetimes become ISO strings, as in AWS's events."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
