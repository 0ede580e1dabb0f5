"""Where the policy documents of a template sit, and their statements.

Resource policies (the service enforces them on its resource), identity policies (attached to
roles) and trust policies (a role's AssumeRolePolicyDocument). A policy given as a JSON string
(allowed for ModelPackageGroupPolicy) is parsed; one that is not literal JSON is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from finmlops.governance.cfn_rules.context import Resources

Kind = Literal["resource", "identity", "trust"]

# (resource type, property holding the policy document). EventBusPolicy holds a single statement.
RESOURCE_POLICIES: tuple[tuple[str, str], ...] = (
    ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupPolicy"),
    ("AWS::S3::BucketPolicy", "PolicyDocument"),
    ("AWS::KMS::Key", "KeyPolicy"),
    ("AWS::SQS::QueuePolicy", "PolicyDocument"),
    ("AWS::SNS::TopicPolicy", "PolicyDocument"),
    ("AWS::Events::EventBus", "Policy"),
    ("AWS::Events::EventBusPolicy", "Statement"),
)
IDENTITY_POLICIES: tuple[tuple[str, str], ...] = (
    ("AWS::IAM::ManagedPolicy", "PolicyDocument"),
    ("AWS::IAM::Policy", "PolicyDocument"),
)


@dataclass(frozen=True)
class Statement:
    resource_type: str
    logical_id: str
    kind: Kind
    path: tuple[str | int, ...]  # of the statement in the template
    body: Mapping[str, Any]

    @property
    def effect(self) -> str:
        return str(self.body.get("Effect", "Allow"))

    @property
    def sid(self) -> str:
        sid = self.body.get("Sid")
        return f" (Sid {sid})" if isinstance(sid, str) and sid else ""


def _document(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def _statements(
    document: Mapping[str, Any], path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Mapping[str, Any]]]:
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        yield (*path, "Statement"), statements
    elif isinstance(statements, list):
        for index, statement in enumerate(statements):
            if isinstance(statement, Mapping):
                yield (*path, "Statement", index), statement


def statements(template: Mapping[str, Any], *kinds: Kind) -> Iterator[Statement]:
    """Every statement of the policies of the given kinds, with its path."""
    resources = Resources(template)
    if "resource" in kinds:
        yield from _resource_statements(resources)
    if "identity" in kinds:
        yield from _identity_statements(resources)
    if "trust" in kinds:
        for _, logical_id, properties in resources.of("AWS::IAM::Role"):
            base = ("Resources", logical_id, "Properties", "AssumeRolePolicyDocument")
            yield from _of_document(
                "AWS::IAM::Role", logical_id, "trust", base, properties.get(base[-1])
            )


def _of_document(
    resource_type: str, logical_id: str, kind: Kind, base: tuple[str | int, ...], value: Any
) -> Iterator[Statement]:
    document = _document(value)
    if document is not None:
        for path, body in _statements(document, base):
            yield Statement(resource_type, logical_id, kind, path, body)


def _resource_statements(resources: Resources) -> Iterator[Statement]:
    for resource_type, prop in RESOURCE_POLICIES:
        for _, logical_id, properties in resources.of(resource_type):
            base: tuple[str | int, ...] = ("Resources", logical_id, "Properties", prop)
            value = properties.get(prop)
            if resource_type != "AWS::Events::EventBusPolicy":
                yield from _of_document(resource_type, logical_id, "resource", base, value)
            elif isinstance(value, Mapping):  # one statement, not a document
                yield Statement(resource_type, logical_id, "resource", base, value)


def _identity_statements(resources: Resources) -> Iterator[Statement]:
    for resource_type, prop in IDENTITY_POLICIES:
        for _, logical_id, properties in resources.of(resource_type):
            base: tuple[str | int, ...] = ("Resources", logical_id, "Properties", prop)
            yield from _of_document(
                resource_type, logical_id, "identity", base, properties.get(prop)
            )
    for _, logical_id, properties in resources.of("AWS::IAM::Role"):
        inline = properties.get("Policies")
        for index, policy in enumerate(inline if isinstance(inline, list) else []):
            if isinstance(policy, Mapping):
                base = ("Resources", logical_id, "Properties", "Policies", index, "PolicyDocument")
                yield from _of_document(
                    "AWS::IAM::Role", logical_id, "identity", base, policy.get("PolicyDocument")
                )


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
