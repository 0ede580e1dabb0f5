"""A model leaves the portfolio only after it stops serving (issue 17, item 1).

Deleting a model's block from the config would stop the platform from synthesizing its stacks,
its alarms and its promotion; a deploy of the shared stacks would then drop what they hold for
it, while its endpoint or batch job goes on scoring customers unmonitored. So a portfolio that
leaves out a model group still serving in stage or prod is refused, naming the group, where it
serves and since when, and nothing is deployed (`finmlops promote check-portfolio`, run by the
platform pipeline before it deploys anything).

What serves is what the platform recorded: the newest deployment record of each group in each
serving environment of the state bucket (`finmlops.registry.promotion.deployments`), unless that
record is a decommission, which `finmlops promote decommission` appends, with a reason, in the
audit trail, once the model's serving stacks are gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finmlops.config import Portfolio
from finmlops.contracts import SERVING_ENVIRONMENTS, AuditAction, Promotion
from finmlops.registry.audit import AuditTrail
from finmlops.registry.promotion import DECOMMISSION, Deployment, DeploymentHistory, deployments

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Serving:
    """A group that serves in an environment, by the newest record there."""

    group: str
    environment: str
    deployment: Deployment


def serving_groups(
    s3: S3Client,
    bucket: str,
    environments: Iterable[str] = SERVING_ENVIRONMENTS,
    prefix: str = Promotion.DEPLOYMENTS_PREFIX,
) -> list[Serving]:
    """Every (group, environment) whose newest deployment record is not a decommission."""
    found: list[Serving] = []
    for environment in environments:
        newest: dict[str, Deployment] = {}
        for entry in deployments(s3, bucket, environment, prefix):
            newest[entry.manifest.model_package_group] = entry  # oldest first: last wins
        found.extend(
            Serving(group, environment, entry)
            for group, entry in sorted(newest.items())
            if entry.action != DECOMMISSION
        )
    return found


def removal_problems(portfolio: Portfolio, serving: Iterable[Serving]) -> list[tuple[str, str]]:
    """(field, reason) for each serving group the portfolio no longer has a block for."""
    groups: Mapping[str, str] = {c.model.package_group: c.model.name for c in portfolio.configs}
    return [
        (
            "models",
            f"model group {s.group!r} (no block in this file) serves version "
            f"{s.deployment.manifest.version} in {s.environment} since {s.deployment.at}: keep "
            "its block until `finmlops promote decommission` records that it no longer serves",
        )
        for s in serving
        if s.group not in groups
    ]


def decommission(
    history: DeploymentHistory, audit: AuditTrail, environment: str, actor: str, reason: str
) -> Deployment:
    """Record that the history's model no longer serves in `environment` (its serving stacks
    were destroyed): an audit record with the reason, then the history's newest record, a
    decommission of the version that served. Refused, with nothing written, without a reason or
    when the model does not serve there."""
    if not reason.strip():
        raise ValueError("a decommission needs a reason")
    current = history.current(environment)
    if current is None:
        raise ValueError(f"{history.group} does not serve in {environment}: nothing to record")
    record = audit.append(
        AuditAction.DECOMMISSION,
        actor,
        group=history.group,
        environment=environment,
        reason=reason.strip(),
        previous_state={
            "deployed": current.manifest.model_package_arn,
            "deployed_version": str(current.manifest.version),
        },
    )
    return history.append(
        current.manifest,
        DECOMMISSION,
        actor,
        reason=reason.strip(),
        replaces=current.manifest.model_package_arn,
        audit_record=record.record_id,
    )
