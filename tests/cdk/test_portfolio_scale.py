"""A platform of 50 models synthesizes within CloudFormation's per-stack quotas.

AWS CloudFormation quotas (User Guide, "Understand CloudFormation quotas",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html):
500 resources per stack, 200 outputs and 200 parameters per template, and a template body of at
most 1 MB when passed through S3 (51,200 bytes inline; the CDK CLI uploads through the bootstrap
bucket). The layout (docs/decisions/0033) keeps every model's stacks its own, so only the
platform's stacks grow with the portfolio: this test measures by how much.

One synthesis of all four environments (`fifty`, a session fixture of tests/synth_fixtures.py,
shared with the insider tests of tests/adversarial/test_model_segregation.py); the figures are
printed (`pytest -s`) and written to the test's report (`record_property`).
"""

from __future__ import annotations

import json
from typing import Any

from synth_fixtures import (
    MAX_OUTPUTS,
    MAX_PARAMETERS,
    MAX_RESOURCES,
    MAX_TEMPLATE_BYTES,
    MODELS,
    StackFigures,
    Synthesized,
)


def test_fifty_models_synthesize_each_models_stacks_and_the_platform_stacks_once(
    fifty: Synthesized,
) -> None:
    paths = {f.path for f in fifty.figures}
    shared = {p for p in paths if p.count("/") == 1}
    assert shared == {
        "tooling/Data",
        "tooling/Promotion",
        *(f"{env}/{stack}" for env in ("dev", "stage", "prod") for stack in ("Data", "Network")),
    }
    for name in fifty.portfolio.names:
        assert f"dev/{name}/ModelBuild" in paths
        assert f"tooling/{name}/ModelPromotion" in paths
        serving = "Batch" if fifty.portfolio.config(name).serving.batch else "Endpoint"
        for env in ("stage", "prod"):
            assert {f"{env}/{name}/{serving}", f"{env}/{name}/Monitoring"} <= paths
    assert len(paths) == len(shared) + MODELS * 6


def test_every_stack_of_fifty_models_is_within_cloudformation_quotas(
    fifty: Synthesized, record_property: Any
) -> None:
    lines = [f"{'stack':<44} {'resources':>9} {'outputs':>7} {'params':>6} {'bytes':>9}"]
    # The platform's stacks, and the largest of each kind of model stack (they are alike).
    largest: dict[str, StackFigures] = {}
    for f in fifty.figures:
        kind = f.path if f.shared else f"{f.path.split('/')[0]}/<model>/{f.path.split('/')[-1]}"
        if kind not in largest or f.template_bytes > largest[kind].template_bytes:
            largest[kind] = f
    for kind, f in sorted(largest.items()):
        lines.append(
            f"{kind:<44} {f.resources:>9} {f.outputs:>7} {f.parameters:>6} {f.template_bytes:>9}"
        )
    table = "\n".join(lines)
    print(f"\n{MODELS} models, {len(fifty.figures)} stacks:\n{table}")
    record_property("portfolio_scale", table)

    over = [
        f"{f.path}: {what} {value} (quota {quota})"
        for f in fifty.figures
        for what, value, quota in (
            ("resources", f.resources, MAX_RESOURCES),
            ("outputs", f.outputs, MAX_OUTPUTS),
            ("parameters", f.parameters, MAX_PARAMETERS),
            ("template bytes", f.template_bytes, MAX_TEMPLATE_BYTES),
        )
        if value >= quota
    ]
    assert over == []


def test_a_model_stack_does_not_grow_with_the_portfolio(fifty: Synthesized, platform: Any) -> None:
    """A model's stacks hold only that model: the 50th model's stacks have as many resources as
    the one-model platform's, so adding models never pushes a model stack to a quota."""
    one = {
        f"{env}/{component}": len(template.get("Resources", {}))
        for env, stacks in platform.templates.items()
        for component, template in stacks.items()
    }
    last = fifty.portfolio.names[-1]
    for f in fifty.figures:
        if f.path.startswith(tuple(f"{env}/{last}/" for env in ("dev", "stage", "prod"))):
            env, _, component = f.path.split("/")
            assert f.resources == one[f"{env}/{component}"], f.path


# Policy size quotas, in characters of the policy as IAM stores it (no whitespace): an S3 bucket
# policy 20 KB (S3 User Guide, "Bucket policies": "Bucket policies are limited to 20 KB"), a KMS
# key policy 32 KB (KMS Developer Guide, "Quotas": key policy document size), an IAM managed
# policy 6,144 characters and a role's inline policies 10,240 together (IAM User Guide, "IAM and
# AWS STS quotas"), an EventBridge event bus policy 10,240 characters (EventBridge User Guide,
# "Amazon EventBridge quotas": event bus policy size).
POLICY_LIMITS = {"s3-bucket": 20 * 1024, "kms-key": 32 * 1024, "event-bus": 10240}
MANAGED_POLICY_CHARS = 6144


def _size(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def test_the_platforms_shared_policies_hold_fifty_models_within_their_size_quotas(
    fifty_iam: Any, record_property: Any
) -> None:
    """The platform's buckets and keys admit every model's roles by name (the artifacts bucket
    and its key: each model's endpoint and monitoring roles; tooling's audit trail: each model's
    approvers and validators): their policies grow with the portfolio. Measured on the resolved
    policies (finmlops.iam reads intrinsic functions as CloudFormation resolves them)."""
    largest: dict[str, tuple[int, str]] = {}
    over = []
    for resource in fifty_iam.resources:
        if resource.policy is None:
            continue
        size = _size(resource.policy.document)
        largest[resource.kind] = max(largest.get(resource.kind, (0, "")), (size, resource.arn))
        limit = POLICY_LIMITS.get(resource.kind)
        if limit is not None and size >= limit:
            over.append(f"{resource.arn}: {size} characters (quota {limit})")
    for found in fifty_iam.roles.values():
        for policy in found.policies:
            size = _size(policy.document)
            largest["iam-policy"] = max(largest.get("iam-policy", (0, "")), (size, policy.name))
            if size >= MANAGED_POLICY_CHARS:
                over.append(f"{policy.name}: {size} characters (quota {MANAGED_POLICY_CHARS})")
    figures = "\n".join(f"{kind}: {size} ({where})" for kind, (size, where) in largest.items())
    print(f"\nlargest policies of {MODELS} models:\n{figures}")
    record_property("portfolio_policy_sizes", figures)
    assert over == []
