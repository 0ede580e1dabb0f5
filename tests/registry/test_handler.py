"""The approval-event handler, called directly (moto emits no SageMaker events, and Lambda needs
Docker): one promotion per approved version, nothing for anything else, never a crash on junk."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from finmlops.contracts import Approval, AuditAction, Meta, Promotion
from finmlops.registry import handler as handler_module
from finmlops.registry.approval import approve, reject
from finmlops.registry.errors import InvalidInputError
from finmlops.registry.evidence import EvidencePolicy, approver_of, promotion_problems
from finmlops.registry.handler import HandlerSettings, handle_state_change, parse_state_change
from finmlops.registry.versions import ModelVersion, update_version


def _settings(world: Any, pipeline: Any, **kw: Any) -> HandlerSettings:
    values: dict[str, Any] = {
        "groups": frozenset({world.group}),
        "pipeline_name": pipeline.name,
        "audit_bucket": world.audit_bucket,
        "state_bucket": world.state_bucket,
    }
    values.update(kw)
    return HandlerSettings(**values)


def _handle(world: Any, pipeline: Any, event: dict[str, Any], **kw: Any) -> Any:
    return handle_state_change(
        event,
        sagemaker=world.sm,
        s3=world.s3,
        codepipeline=pipeline.client,
        settings=_settings(world, pipeline, **kw),
    )


def _approved(world: Any, register: Any) -> str:
    arn = register()
    bob = world.bob
    approve(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="ok")
    return arn


def test_approved_event_starts_the_promotion_of_that_version(world, register, pipeline, event):
    arn = _approved(world, register)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "started"
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: arn}]
    started = world.audit().records()[-1]
    assert started.action == AuditAction.PROMOTION_STARTED
    assert started.details["execution_id"] == outcome.execution_id
    assert started.details["approved_by"] == world.bob.arn


def test_same_event_delivered_twice_starts_one_promotion(world, register, pipeline, event):
    arn = _approved(world, register)
    approved = event(arn, Approval.APPROVED, group=world.group, version=1)

    first = _handle(world, pipeline, approved)
    second = _handle(world, pipeline, copy.deepcopy(approved))
    third = _handle(
        world,
        pipeline,
        event(arn, Approval.APPROVED, group=world.group, version=1, event_id="another-event"),
    )

    assert [first.result, second.result, third.result] == ["started", "duplicate", "duplicate"]
    assert len(pipeline.executions()) == 1
    assert world.audit_actions().count(AuditAction.PROMOTION_STARTED) == 1


def test_each_approved_version_gets_its_own_promotion(world, register, pipeline, event):
    first, second = _approved(world, register), _approved(world, register)
    _handle(world, pipeline, event(first, Approval.APPROVED, group=world.group, version=1))
    _handle(world, pipeline, event(second, Approval.APPROVED, group=world.group, version=2))
    assert pipeline.executions() == [
        {Promotion.ARN_VARIABLE: first},
        {Promotion.ARN_VARIABLE: second},
    ]


@pytest.mark.parametrize(
    ("status", "group", "why"),
    [
        (Approval.APPROVED, "someone-elses-group", "is not configured"),
        (Approval.PENDING, None, "starts nothing"),
    ],
)
def test_foreign_groups_and_pending_versions_start_nothing(
    world, register, pipeline, event, status, group, why
):
    arn = _approved(world, register)
    records_before = world.audit_actions()

    outcome = _handle(world, pipeline, event(arn, status, group=group or world.group, version=1))

    assert outcome.result == "ignored"
    assert why in outcome.reason
    assert pipeline.executions() == []
    assert world.audit_actions() == records_before


def test_rejected_event_is_recorded_once_and_starts_nothing(world, register, pipeline, event):
    arn = register()
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="too weak")
    rejected = event(arn, Approval.REJECTED, group=world.group, version=1)

    outcomes = [_handle(world, pipeline, rejected).result for _ in range(2)]

    assert outcomes == ["recorded", "duplicate"]
    assert pipeline.executions() == []
    observed = [r for r in world.audit().records() if r.action == AuditAction.REJECTION_OBSERVED]
    assert len(observed) == 1
    assert "too weak" in observed[0].reason


def test_late_approved_event_for_a_since_rejected_version_starts_nothing(
    world, register, pipeline, event
):
    arn = _approved(world, register)
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="revoked")

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "ignored"
    assert "registry says Rejected" in outcome.reason
    assert pipeline.executions() == []


class _NoAws:
    """A client that fails the test if anything calls it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"an ignored event must not call AWS (called {name})")


def _valid() -> dict[str, Any]:
    return {
        "id": "e",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "detail": {
            "ModelPackageGroupName": "credit-risk-xgb",
            "ModelPackageVersion": 1,
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model-package/credit-risk-xgb/1",
            "ModelApprovalStatus": "Approved",
        },
    }


def _without(*path: str) -> dict[str, Any]:
    event = _valid()
    node = event
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return event


def _with(value: Any, *path: str) -> dict[str, Any]:
    event = _valid()
    node = event
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (None, "event"),
        ([], "event"),
        ("Approved", "event"),
        ({}, "detail-type"),
        (_with("SageMaker Endpoint State Change", "detail-type"), "detail-type"),
        (_with("aws.s3", "source"), "source"),
        (_without("detail"), "detail"),
        (_with("text", "detail"), "detail"),
        (_without("detail", "ModelPackageGroupName"), "detail.ModelPackageGroupName"),
        (_without("detail", "ModelApprovalStatus"), "detail.ModelApprovalStatus"),
        (_with(12, "detail", "ModelApprovalStatus"), "detail.ModelApprovalStatus"),
        (_without("detail", "ModelPackageArn"), "detail.ModelPackageArn"),
        (_with("arn:aws:s3:::bucket", "detail", "ModelPackageArn"), "detail.ModelPackageArn"),
        (_without("detail", "ModelPackageVersion"), "detail.ModelPackageVersion"),
        (_with("one", "detail", "ModelPackageVersion"), "detail.ModelPackageVersion"),
        (_with(0, "detail", "ModelPackageVersion"), "detail.ModelPackageVersion"),
        (_with(True, "detail", "ModelPackageVersion"), "detail.ModelPackageVersion"),
    ],
)
def test_malformed_events_are_logged_and_ignored_naming_the_field(event, field, caplog):
    settings = HandlerSettings(frozenset({"credit-risk-xgb"}), "promotion", "audit", "state")

    outcome = handle_state_change(
        event, sagemaker=_NoAws(), s3=_NoAws(), codepipeline=_NoAws(), settings=settings
    )

    assert outcome.result == "ignored"
    assert f"malformed event: {field}:" in outcome.reason
    assert "malformed event" in caplog.text


def test_quoted_version_number_is_accepted():
    event = _with("3", "detail", "ModelPackageVersion")
    assert parse_state_change(event).version == 3


def test_console_approval_without_a_known_approver_is_refused(world, register, pipeline, event):
    """Approved outside the CLI (console, raw API): moto's LastModifiedBy names nobody, so the
    gate cannot check segregation of duties and refuses."""
    arn = register()
    update_version(world.sm, arn, status=Approval.APPROVED, approval_description="console")

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "does not say who approved it" in outcome.reason
    assert pipeline.executions() == []
    assert world.audit_actions() == [AuditAction.PROMOTION_REFUSED]


def test_console_approval_by_the_author_is_refused(world, register, pipeline, event):
    arn = register()
    world.console_approve(arn, world.alice)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "segregation of duties" in outcome.reason
    assert pipeline.executions() == []


def test_console_approval_with_missing_evidence_is_refused(world, register, pipeline, event):
    arn = register(without=("fairness",))
    update_version(
        world.bob.client("sagemaker"),
        arn,
        status=Approval.APPROVED,
        metadata={Meta.APPROVED_BY: world.bob.arn},
    )

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "fairness metrics" in outcome.reason
    assert pipeline.executions() == []


AWS_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/credit-risk-xgb/4"
CONSOLE_APPROVER = "arn:aws:sts::123456789012:assumed-role/ModelRiskApprover/bob"
INVENTORY = {
    Meta.MODEL_ID: "credit-risk",
    Meta.RISK_TIER: "high",
    Meta.OWNER: "o",
    Meta.VALIDATOR: "v",
    Meta.DATA_FINGERPRINT: "sha256:1",
    Meta.CREATED_BY: "arn:aws:sts::123456789012:assumed-role/DataScientist/alice",
}


def _aws_description(metadata: dict[str, str]) -> dict[str, Any]:
    """DescribeModelPackage as AWS answers it after an approval in the console."""
    source = {"ContentType": "application/json"}
    return {
        "ModelPackageName": "credit-risk-xgb",
        "ModelPackageGroupName": "credit-risk-xgb",
        "ModelPackageVersion": 4,
        "ModelPackageArn": AWS_ARN,
        "CreationTime": datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": "xgb:3.2-0", "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {**source, "S3Uri": "s3://b/stats.json"}},
            "Bias": {"Report": {**source, "S3Uri": "s3://b/bias.json"}},
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": {**source, "S3Uri": "s3://b/ds.json"},
                "Constraints": {**source, "S3Uri": "s3://b/dc.json"},
            }
        },
        "ModelCard": {"ModelCardContent": "{}", "ModelCardStatus": "Approved"},
        "LastModifiedBy": {"IamIdentity": {"Arn": CONSOLE_APPROVER}},
        "CustomerMetadataProperties": metadata,
    }


@pytest.mark.parametrize("may_write", [True, False])
def test_console_approval_on_aws_is_promoted_under_the_approvers_name(
    world, pipeline, event, may_write
):
    """On AWS, LastModifiedBy.IamIdentity names the console approver; moto cannot produce it,
    so this test stubs DescribeModelPackage/UpdateModelPackage with botocore's Stubber. The
    handler writes the name down; without permission to write, it still promotes under it."""
    sm = world.new_client("sagemaker")
    sent: list[dict[str, Any]] = []
    sm.meta.events.register(
        "provide-client-params.sagemaker.UpdateModelPackage",
        lambda params, **_: sent.append(dict(params)),
    )
    with Stubber(sm) as stub:
        stub.add_response("describe_model_package", _aws_description(INVENTORY))
        stub.add_response("describe_model_package", _aws_description(INVENTORY))
        if may_write:
            stub.add_response("update_model_package", {"ModelPackageArn": AWS_ARN})
            stamped = {**INVENTORY, Meta.APPROVED_BY: CONSOLE_APPROVER}
            stub.add_response("describe_model_package", _aws_description(stamped))
        else:
            stub.add_client_error("update_model_package", "AccessDeniedException", "denied", 403)

        outcome = handle_state_change(
            event(AWS_ARN, Approval.APPROVED, group="credit-risk-xgb", version=4),
            sagemaker=sm,
            s3=world.s3,
            codepipeline=pipeline.client,
            settings=_settings(world, pipeline, groups=frozenset({"credit-risk-xgb"})),
        )
        stub.assert_no_pending_responses()

    assert sent[0]["CustomerMetadataProperties"][Meta.APPROVED_BY] == CONSOLE_APPROVER
    assert "ModelApprovalStatus" not in sent[0]  # the stamp never re-sends the decision
    assert outcome.result == "started"
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: AWS_ARN}]
    started = world.audit().records()[-1]
    assert started.details["approved_by"] == CONSOLE_APPROVER


def test_last_modifier_stops_counting_as_approver_once_promotion_touched_the_version():
    described = _aws_description(INVENTORY)
    assert approver_of(ModelVersion.from_description(described)) == CONSOLE_APPROVER
    promoted = {
        **_aws_description(INVENTORY),
        "ModelLifeCycle": {"Stage": "Staging", "StageStatus": "Deployed"},
    }
    version = ModelVersion.from_description(promoted)
    assert approver_of(version) == ""
    assert any(
        "does not say who approved it" in p for p in promotion_problems(version, EvidencePolicy())
    )


def test_a_promotion_that_fails_to_start_is_started_by_the_retry(world, register, pipeline, event):
    arn = _approved(world, register)
    approved = event(arn, Approval.APPROVED, group=world.group, version=1)

    with pytest.raises(ClientError) as failed:
        _handle(world, pipeline, approved, pipeline_name="not-deployed-yet")
    assert failed.value.response["Error"]["Code"] == "PipelineNotFoundException"
    retried = _handle(world, pipeline, approved)

    assert retried.result == "started"
    assert len(pipeline.executions()) == 1


def test_settings_come_from_the_environment_the_stack_sets():
    settings = HandlerSettings.from_env(
        {
            Promotion.ENV_GROUPS: "credit-risk-xgb, fraud-xgb",
            Promotion.ENV_PIPELINE: "promotion",
            Promotion.ENV_AUDIT_BUCKET: "audit",
            Promotion.ENV_STATE_BUCKET: "state",
            Promotion.ENV_AUDIT_RETENTION_DAYS: "30",
            Promotion.ENV_REQUIRE_DRIFT_BASELINES: "false",
            "AWS_LAMBDA_FUNCTION_NAME": "promotion-handler",
        }
    )
    assert settings.groups == {"credit-risk-xgb", "fraud-xgb"}
    assert settings.audit_lock is not None and settings.audit_lock.days == 30
    assert settings.policy.require_drift_baselines is False
    assert settings.actor == "promotion-handler"


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({}, Promotion.ENV_GROUPS),
        ({Promotion.ENV_GROUPS: "g"}, Promotion.ENV_PIPELINE),
        (
            {
                Promotion.ENV_GROUPS: "g",
                Promotion.ENV_PIPELINE: "p",
                Promotion.ENV_AUDIT_BUCKET: "a",
                Promotion.ENV_STATE_BUCKET: "s",
                Promotion.ENV_AUDIT_RETENTION_DAYS: "ten",
            },
            Promotion.ENV_AUDIT_RETENTION_DAYS,
        ),
        (
            {
                Promotion.ENV_GROUPS: "g",
                Promotion.ENV_PIPELINE: "p",
                Promotion.ENV_AUDIT_BUCKET: "a",
                Promotion.ENV_STATE_BUCKET: "s",
                Promotion.ENV_REQUIRE_DRIFT_BASELINES: "maybe",
            },
            Promotion.ENV_REQUIRE_DRIFT_BASELINES,
        ),
    ],
)
def test_missing_or_bad_settings_name_the_variable(environ, field):
    with pytest.raises(InvalidInputError, match=field):
        HandlerSettings.from_env(environ)


def test_lambda_entry_point_reads_settings_and_starts_the_promotion(
    world, register, pipeline, event, monkeypatch
):
    arn = _approved(world, register)
    monkeypatch.setenv(Promotion.ENV_GROUPS, world.group)
    monkeypatch.setenv(Promotion.ENV_PIPELINE, pipeline.name)
    monkeypatch.setenv(Promotion.ENV_AUDIT_BUCKET, world.audit_bucket)
    monkeypatch.setenv(Promotion.ENV_STATE_BUCKET, world.state_bucket)
    handler_module._clients.cache_clear()

    try:
        result = handler_module.handler(
            event(arn, Approval.APPROVED, group=world.group, version=1), None
        )
    finally:
        handler_module._clients.cache_clear()

    assert result["result"] == "started"
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: arn}]
    assert handler_module.handler({"junk": True}, None)["result"] == "ignored"
