"""The approval-event handler, called directly (moto emits no SageMaker events, and Lambda needs
Docker): one promotion per approved version, judged with the approver SageMaker recorded for the
status change; nothing for anything else, never a crash on junk."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops.contracts import Approval, AuditAction, Promotion
from finmlops.registry import handler as handler_module
from finmlops.registry.approval import approve, reject
from finmlops.registry.errors import InvalidInputError
from finmlops.registry.gatecheck import PlatformGate, gates_to_json
from finmlops.registry.handler import (
    HandlerSettings,
    handle_state_change,
    parse_state_change,
    recorded_approver,
)
from finmlops.registry.identity import load_identities
from finmlops.registry.versions import ModelVersion

ONE_GATE = gates_to_json(
    [
        PlatformGate(
            "min-auc", "AUC", "evaluation", "binary_classification_metrics.auc.value", ">=", 0.65
        )
    ]
)


def _settings(world: Any, pipeline: Any, **kw: Any) -> HandlerSettings:
    values: dict[str, Any] = {
        "groups": frozenset({world.group}),
        "pipeline_name": pipeline.name,
        "audit_bucket": world.audit_bucket,
        "state_bucket": world.state_bucket,
        "gates": world.gates,
    }
    values.update(kw)
    return HandlerSettings(**values)


def _handle(world: Any, pipeline: Any, event: dict[str, Any], **kw: Any) -> Any:
    return handle_state_change(
        event,
        sagemaker=world.sm,
        s3=world.s3,
        codepipeline=pipeline.client,
        cloudwatch=world.new_client("cloudwatch"),
        settings=_settings(world, pipeline, **kw),
    )


def _approved(world: Any, register: Any, **version: Any) -> str:
    arn = register(**version)
    bob = world.bob
    approve(
        bob.client("sagemaker"), bob.client("sts"), world.audit(),
        arn=arn, reason="ok", gates=world.gates,
    )  # fmt: skip
    return arn


def _observed(world: Any) -> Any:
    [record] = [r for r in world.audit().records() if r.action == AuditAction.APPROVAL_OBSERVED]
    return record


def test_approved_event_starts_the_promotion_of_that_version(world, register, pipeline, event):
    arn = _approved(world, register)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "started"
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: arn}]
    started = world.audit().records()[-1]
    assert started.action == AuditAction.PROMOTION_STARTED
    assert started.details["execution_id"] == outcome.execution_id
    # The approver is what SageMaker recorded for the status change, bound in approval-observed.
    [approver] = load_identities(_observed(world).details["approver"], "approver")
    assert (approver.arn, approver.source) == (
        world.bob.arn,
        "DescribeModelPackage.LastModifiedBy",
    )


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
        (Approval.PENDING, None, "registry says Approved"),
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
    settings = HandlerSettings(frozenset({"credit-risk-xgb"}), "promotion", "audit", "state", ())

    outcome = handle_state_change(
        event,
        sagemaker=_NoAws(),
        s3=_NoAws(),
        codepipeline=_NoAws(),
        cloudwatch=_NoAws(),
        settings=settings,
    )

    assert outcome.result == "ignored"
    assert f"malformed event: {field}:" in outcome.reason
    assert "malformed event" in caplog.text


def test_quoted_version_number_is_accepted():
    event = _with("3", "detail", "ModelPackageVersion")
    assert parse_state_change(event).version == 3


def test_console_approval_is_promoted_under_the_approver_aws_recorded_and_nothing_is_written_to_the_registry(
    world, register, pipeline, event
):
    """The approvers' main path: the status flipped in the console, as a person in the approver
    role. SageMaker records them (LastModifiedBy, with the source identity); the handler judges
    and promotes under that name and sends no UpdateModelPackage (it has no such permission)."""
    arn = register()
    world.console_approve(arn, world.approver())
    updates: list[Any] = []
    world.sm.meta.events.register(
        "before-call.sagemaker.UpdateModelPackage", lambda **kw: updates.append(kw)
    )

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "started"
    assert updates == []
    [approver] = load_identities(_observed(world).details["approver"], "approver")
    assert approver.source_identity == world.bob.name
    assert approver.arn.endswith(
        f":assumed-role/{world.config.governance.approver_role}/bob-validator"
    )


def test_console_approval_by_the_author_is_refused(world, register, pipeline, event):
    arn = register()
    world.console_approve(arn, world.alice)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert outcome.reason.startswith("segregation of duties:")
    assert pipeline.executions() == []
    [refused] = world.audit().records()
    assert refused.action == AuditAction.PROMOTION_REFUSED
    assert refused.details["rules"] == "segregation of duties"


def test_an_approval_by_a_role_session_without_source_identity_names_no_one_and_is_refused(
    world, register, pipeline, event
):
    arn = register()
    world.console_approve(arn, world.bob.assume(world.approver_role, "anything"))

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "names no person" in outcome.reason
    assert pipeline.executions() == []


def test_console_approval_with_missing_evidence_is_refused(world, register, pipeline, event):
    arn = register(without=("fairness",))
    world.console_approve(arn, world.bob)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "fairness metrics" in outcome.reason
    assert pipeline.executions() == []


def test_an_approval_below_the_platform_gates_is_refused_by_the_handler(
    world, register, pipeline, event
):
    arn = register(ks=0.1)
    world.console_approve(arn, world.bob)

    outcome = _handle(world, pipeline, event(arn, Approval.APPROVED, group=world.group, version=1))

    assert outcome.result == "refused"
    assert "gate min-ks: the version's" in outcome.reason and "is 0.1;" in outcome.reason
    assert pipeline.executions() == []


def _deploy(world: Any, arn: str, environment: str) -> None:
    """What `promote record` leaves after a deploy: the history entry (serving checked there)."""
    from finmlops.contracts import ApprovalRecord, DeploymentManifest

    version = ModelVersion.from_description(world.describe(arn))
    manifest = DeploymentManifest(
        arn, version.group, version.version, version.image_uri, version.model_data_url, "",
        ApprovalRecord("bob", "", ""), environment,
    )  # fmt: skip
    world.history().append(manifest, "deploy", "promotion")


def test_a_late_event_for_an_older_version_never_replaces_a_newer_approved_one(
    world, register, pipeline, event
):
    older, newer = _approved(world, register), _approved(world, register)
    started = _handle(
        world, pipeline, event(newer, Approval.APPROVED, group=world.group, version=2)
    )

    late = _handle(world, pipeline, event(older, Approval.APPROVED, group=world.group, version=1))

    assert started.result == "started"
    assert late.result == "refused"
    assert late.reason.startswith("ordering: the promotion of version 2")
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: newer}]
    refused = world.audit().records()[-1]
    assert (refused.action, refused.version) == (AuditAction.PROMOTION_REFUSED, 1)


def test_an_older_version_is_not_promoted_over_the_one_an_environment_runs(
    world, register, pipeline, event
):
    older, newer = _approved(world, register), _approved(world, register)
    _deploy(world, newer, "prod")

    outcome = _handle(
        world, pipeline, event(older, Approval.APPROVED, group=world.group, version=1)
    )

    assert outcome.result == "refused"
    assert "ordering: prod runs version 2, newer than version 1" in outcome.reason


def test_a_rejection_of_a_version_that_still_serves_raises_the_metric(
    world, register, pipeline, event
):
    arn = _approved(world, register)
    _deploy(world, arn, "prod")
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="bias found")
    cloudwatch = world.new_client("cloudwatch")

    outcome = _handle(world, pipeline, event(arn, Approval.REJECTED, group=world.group, version=1))

    assert outcome.result == "recorded"
    assert "still serving in prod" in outcome.reason
    observed = world.audit().records()[-1]
    assert observed.details["still_serving_in"] == "prod"
    [metric] = cloudwatch.list_metrics(Namespace=Promotion.METRIC_NAMESPACE)["Metrics"]
    assert metric["MetricName"] == Promotion.METRIC_REJECTED_SERVING
    assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {
        "ModelPackageGroup": world.group,
        "Environment": "prod",
    }


def test_a_rejection_of_a_version_that_serves_nowhere_raises_no_metric(
    world, register, pipeline, event
):
    arn = register()
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="weak")
    cloudwatch = world.new_client("cloudwatch")

    outcome = _handle(world, pipeline, event(arn, Approval.REJECTED, group=world.group, version=1))

    assert (outcome.result, outcome.reason) == ("recorded", "rejection recorded")
    assert cloudwatch.list_metrics(Namespace=Promotion.METRIC_NAMESPACE)["Metrics"] == []


def test_the_approver_is_read_from_last_modified_by_as_aws_describes_it():
    """DescribeModelPackage as AWS answers it after a console approval (API reference:
    UserContext.IamIdentity {Arn, PrincipalId, SourceIdentity})."""
    described = {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/4",
        "ModelPackageGroupName": "g",
        "ModelPackageVersion": 4,
        "CreationTime": datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC),
        "LastModifiedBy": {
            "IamIdentity": {
                "Arn": "arn:aws:sts::123456789012:assumed-role/ModelRiskApprover/bob",
                "PrincipalId": "AROAEXAMPLE:bob",
                "SourceIdentity": "bob@bank.com",
            }
        },
    }
    approver = recorded_approver(ModelVersion.from_description(described))
    assert approver is not None
    assert (approver.person, approver.is_person) == ("bob@bank.com", True)


def test_a_promotion_that_fails_to_start_is_started_by_the_retry(world, register, pipeline, event):
    arn = _approved(world, register)
    approved = event(arn, Approval.APPROVED, group=world.group, version=1)

    with pytest.raises(ClientError) as failed:
        _handle(world, pipeline, approved, pipeline_name="not-deployed-yet")
    assert failed.value.response["Error"]["Code"] == "PipelineNotFoundException"
    retried = _handle(world, pipeline, approved)

    assert retried.result == "started"
    assert len(pipeline.executions()) == 1


def test_settings_come_from_the_environment_the_stack_sets(config):
    from finmlops.gates import platform_gates

    GATES = platform_gates(config)  # noqa: N806
    settings = HandlerSettings.from_env(
        {
            Promotion.ENV_GROUPS: "credit-risk-xgb, fraud-xgb",
            Promotion.ENV_PIPELINE: "promotion",
            Promotion.ENV_AUDIT_BUCKET: "audit",
            Promotion.ENV_STATE_BUCKET: "state",
            Promotion.ENV_AUDIT_RETENTION_DAYS: "30",
            Promotion.ENV_REQUIRE_DRIFT_BASELINES: "false",
            Promotion.ENV_GATES: gates_to_json(GATES),
            Promotion.ENV_EVIDENCE_ROLE: " arn:aws:iam::111111111111:role/credit-risk-dev-evidence-reader ",
            "AWS_LAMBDA_FUNCTION_NAME": "promotion-handler",
        }
    )
    assert settings.groups == {"credit-risk-xgb", "fraud-xgb"}
    assert settings.evidence_role_arn == (
        "arn:aws:iam::111111111111:role/credit-risk-dev-evidence-reader"
    )
    assert settings.gates == GATES
    assert settings.audit_lock is not None and settings.audit_lock.days == 30
    assert settings.policy.require_drift_baselines is False
    assert settings.actor == "promotion-handler"


def test_without_an_evidence_role_the_handler_reads_with_its_own_role():
    settings = HandlerSettings.from_env(
        {
            Promotion.ENV_GROUPS: "g",
            Promotion.ENV_PIPELINE: "p",
            Promotion.ENV_AUDIT_BUCKET: "a",
            Promotion.ENV_STATE_BUCKET: "s",
            Promotion.ENV_GATES: ONE_GATE,
        }
    )
    assert settings.evidence_role_arn == ""


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
        (
            {
                Promotion.ENV_GROUPS: "g",
                Promotion.ENV_PIPELINE: "p",
                Promotion.ENV_AUDIT_BUCKET: "a",
                Promotion.ENV_STATE_BUCKET: "s",
            },
            Promotion.ENV_GATES,
        ),
        (
            {
                Promotion.ENV_GROUPS: "g",
                Promotion.ENV_PIPELINE: "p",
                Promotion.ENV_AUDIT_BUCKET: "a",
                Promotion.ENV_STATE_BUCKET: "s",
                Promotion.ENV_GATES: '[{"name": "min-auc"}]',
            },
            Promotion.ENV_GATES,
        ),
        (
            {
                Promotion.ENV_GROUPS: "g",
                Promotion.ENV_PIPELINE: "p",
                Promotion.ENV_AUDIT_BUCKET: "a",
                Promotion.ENV_STATE_BUCKET: "s",
                Promotion.ENV_GATES: ONE_GATE,
                Promotion.ENV_EVIDENCE_ROLE: "credit-risk-dev-evidence-reader",
            },
            Promotion.ENV_EVIDENCE_ROLE,
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
    monkeypatch.setenv(Promotion.ENV_GATES, gates_to_json(world.gates))
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


def test_the_handler_runs_on_the_standard_library_and_boto3_alone():
    """The Lambda bundle carries the package without its dependencies: importing the handler
    (gates and authorship included) must not pull in pydantic, yaml, numpy or pandas."""
    import subprocess
    import sys

    probe = (
        "import sys, finmlops.registry.handler; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'yaml', 'numpy', 'pandas', 'xgboost', 'sklearn', 'moto'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
