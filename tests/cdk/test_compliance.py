"""Compliance packs, acknowledgments, inventory tags and cfn-lint over the whole app."""

from __future__ import annotations

import json
from typing import Any

import pytest

INVENTORY_KEYS = ("model-id", "risk-tier", "owner", "data-classification")


def _report(synth: Any) -> dict[str, Any]:
    return json.loads((synth.outdir / "validation-report.json").read_text())


def test_synth_with_the_compliance_packs_leaves_no_open_finding(platform: Any) -> None:
    # The fixture's app.synth() raises ValidationFailed on any open finding, warnings included.
    assert _report(platform)["pluginReports"] == []


def test_variant_choices_are_compliant_too(variant: Any) -> None:
    assert _report(variant)["pluginReports"] == []


def test_build_app_attaches_the_packs_so_a_noncompliant_resource_stops_synth(
    config: Any, root: Any, tmp_path: Any
) -> None:
    from aws_cdk import aws_s3 as s3
    from finmlops_cdk.app import build_app

    app = build_app(config, outdir=str(tmp_path), root=root, environments=("tooling",))
    promotion = app.node.find_child("tooling").node.find_child("Promotion")
    s3.Bucket(promotion, "UnloggedUnencrypted")
    with pytest.raises(Exception, match="UnloggedUnencrypted") as failure:
        app.synth()
    message = str(failure.value)
    for pack in ("AwsSolutions-S1", "NIST.800.53.R5-S3BucketLoggingEnabled", "PCI.DSS.321"):
        assert pack in message


def _acknowledgments(app: Any) -> list[tuple[Any, dict[str, str]]]:
    from aws_cdk import Validations

    found = []
    for node in app.node.find_all():
        for entry in node.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.append((node, dict(entry.data)))
    return found


def test_no_acknowledgment_sits_on_an_app_stage_or_stack(platform: Any, variant: Any) -> None:
    from aws_cdk import Stack, Stage

    for synth in (platform, variant):
        acks = _acknowledgments(synth.app)
        assert acks, "acknowledgments are recorded as construct metadata"
        broad = [n.node.path for n, _ in acks if isinstance(n, Stack | Stage) or not n.node.path]
        assert broad == []


def test_every_acknowledgment_gives_a_reviewable_reason(platform: Any) -> None:
    from finmlops_cdk.compliance import MIN_REASON_LENGTH

    acks = _acknowledgments(platform.app)
    assert sum(len(entries) for _, entries in acks) > 50
    for node, entries in acks:
        for rule, reason in entries.items():
            assert len(reason) >= MIN_REASON_LENGTH, (node.node.path, rule, reason)


def test_acknowledge_refuses_a_stack_and_a_short_reason() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs
    from finmlops_cdk.compliance import acknowledge

    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="narrowest"):
        acknowledge(stack, {"AwsSolutions-IAM5[Resource::*]": "x" * 60})
    with pytest.raises(ValueError, match="reason"):
        acknowledge(sqs.Queue(stack, "Q"), {"AwsSolutions-SQS3": "because"})


def _tags(resource: dict[str, Any]) -> dict[str, str] | None:
    tags = resource.get("Properties", {}).get("Tags")
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags}
    if isinstance(tags, dict):
        return dict(tags)
    return None


def test_every_tagged_resource_carries_the_inventory_tags(platform: Any, config: Any) -> None:
    expected = config.inventory_tags()
    tagged = 0
    for env, component, logical_id, resource in platform.all_resources():
        tags = _tags(resource)
        if tags is None:
            continue
        tagged += 1
        missing = {k: v for k, v in expected.items() if tags.get(k) != v}
        assert not missing, (env, component, logical_id, resource["Type"], missing)
    assert tagged > 100


@pytest.mark.parametrize(
    "kind",
    [
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::Pipeline",
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
    ],
)
def test_inventory_items_carry_model_id_risk_tier_owner_classification(
    platform: Any, kind: str
) -> None:
    found = list(platform.resources(kind))
    assert found, kind
    for *_, resource in found:
        tags = _tags(resource) or {}
        assert set(INVENTORY_KEYS) <= set(tags), (kind, tags)


def test_monitoring_schedules_carry_the_inventory_tags(variant: Any) -> None:
    schedules = list(variant.resources("AWS::SageMaker::MonitoringSchedule"))
    assert len(schedules) == 2
    for *_, resource in schedules:
        assert set(INVENTORY_KEYS) <= set(_tags(resource) or {})


def test_synth_fails_naming_the_resource_and_the_missing_inventory_tag(tmp_path: Any) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs
    from finmlops_cdk.compliance import enforce_inventory_tags

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S")
    queue = sqs.Queue(stack, "Orders")
    enforce_inventory_tags(app, {"model-id": "m", "owner": "o"})
    cdk.Tags.of(queue).remove("owner")
    with pytest.raises(Exception, match=r"S/Orders/Resource .*no inventory tag owner"):
        app.synth()
    assert not list(tmp_path.glob("*.template.json"))


def test_cfn_lint_finds_no_errors_in_any_template(
    platform: Any, variant: Any, cfn_lint: Any
) -> None:
    files = platform.template_files() + variant.template_files()
    assert len(files) >= 14
    assert cfn_lint(files) == []
