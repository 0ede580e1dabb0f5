"""Compliance wiring: the cdk-nag packs, acknowledgments with reasons, and the inventory tags.

cdk-nag 3 registers packs as policy-validation plugins: any open finding, warnings included,
makes `app.synth()` raise. Acknowledgments go through `acknowledge()`, which refuses a reason
too short to review and a stack- or app-level acknowledgment (docs/decisions/0003).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import jsii
from aws_cdk import (
    Acknowledgment,
    AspectPriority,
    Aspects,
    CfnResource,
    IAspect,
    Stack,
    Stage,
    TagManager,
    Tags,
    Validations,
)
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import Construct, IConstruct

MIN_REASON_LENGTH: Final = 30

# Resource types that CloudFormation cannot tag: the aspect does not ask them for tags.
UNTAGGABLE_BY_DESIGN: Final = frozenset[str]()


def attach_packs(app: Stage) -> None:
    """AwsSolutions, NIST 800-53 rev 5 and PCI DSS 3.2.1, on the whole app."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        NIST80053R5Checks(app),
        PCIDSS321Checks(app),
    )


def acknowledge(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge findings on one construct, each with a reason a reviewer can check."""
    if isinstance(construct, Stack | Stage):
        raise ValueError(
            f"acknowledgments belong on the narrowest construct, not on {construct.node.path!r}"
        )
    acks = []
    for rule, reason in reasons.items():
        if len(reason.strip()) < MIN_REASON_LENGTH:
            raise ValueError(f"acknowledgment of {rule} needs a reason a reviewer can check")
        acks.append(Acknowledgment(id=rule, reason=reason))
    Validations.of(construct).acknowledge(*acks)


def acknowledge_all(constructs: Iterable[IConstruct], reasons: Mapping[str, str]) -> None:
    for construct in constructs:
        acknowledge(construct, reasons)


def add_inventory_tags(scope: IConstruct, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        Tags.of(scope).add(key, value)


class MissingInventoryTagsError(RuntimeError):
    """A taggable resource reached synthesis without every inventory tag."""


@jsii.implements(IAspect)
class RequireInventoryTags:
    """Fails synthesis when a taggable resource lacks one of the required tag keys.

    Runs after the tag aspects (read-only priority), so it sees the tags they applied.
    """

    def __init__(self, required: Iterable[str]) -> None:
        self.required = tuple(sorted(required))

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or not TagManager.is_taggable(node):
            return
        if node.cfn_resource_type in UNTAGGABLE_BY_DESIGN:
            return
        manager = TagManager.of(node)
        present = manager.tag_values() if manager is not None else {}
        missing = [key for key in self.required if key not in present]
        if missing:
            raise MissingInventoryTagsError(
                f"{node.node.path} ({node.cfn_resource_type}) has no inventory tag "
                f"{', '.join(missing)}: every resource carries {', '.join(self.required)}"
            )


def enforce_inventory_tags(scope: Construct, tags: Mapping[str, str]) -> None:
    """Tag everything under scope and make synth fail if any taggable resource escapes."""
    add_inventory_tags(scope, tags)
    Aspects.of(scope).add(RequireInventoryTags(tags.keys()), priority=AspectPriority.READONLY)
