"""The validator's sign-off and re-validation, played by insiders (ADR 0030).

Alice authors, Bob approves, Carol validates; each has their own keys, and the emulator records
the signer of each registry write in SageMaker's LastModifiedBy, as AWS does. The approval here is
the CLI's `approve` with the policy of a tier that requires a sign-off; the handler's check is
the same `judge` plus the markers only it writes.
"""

from __future__ import annotations

import json

import pytest

from finmlops.contracts import Approval, AuditAction, Validation
from finmlops.registry.approval import approve
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.evidence import EvidencePolicy
from finmlops.registry.handler import HandlerSettings, handle_state_change
from finmlops.registry.signoff import (
    Finding,
    SignoffMarkers,
    document_digest,
    open_revalidations,
    submit_signoff,
)
from finmlops.registry.versions import Lifecycle, update_version

TIERED = EvidencePolicy(require_signoff=True)


def _approve(world, arn, person=None, policy=TIERED):
    person = person or world.bob
    return approve(
        person.client("sagemaker"), person.client("sts"), world.audit(),
        arn=arn, reason="MRM-2026-114 reviewed", gates=world.gates, policy=policy,
    )  # fmt: skip


def _state(world, arn):
    described = world.describe(arn)
    return described["ModelApprovalStatus"], described.get("LastModifiedBy")


def _alarm(name="credit-risk-prod-drift", value="ALARM", event_id="alarm-1"):
    return {
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "detail": {"alarmName": name, "state": {"value": value, "reason": "share 0.4 >= 0.3"}},
    }


def _settings(world):
    base = world.handler_settings()
    return HandlerSettings(
        groups=base.groups,
        pipeline_name=base.pipeline_name,
        audit_bucket=base.audit_bucket,
        state_bucket=base.state_bucket,
        gates=base.gates,
        revalidation_alarms={"credit-risk-prod-drift": ("prod", "drift")},
    )


def _fire(world, event):
    return handle_state_change(
        event,
        sagemaker=world.sm,
        s3=world.s3,
        codepipeline=world.client("codepipeline"),
        cloudwatch=world.client("cloudwatch"),
        settings=_settings(world),
    )


def test_signoff_is_bound_to_the_person_sagemaker_recorded_and_lets_approval_through(
    world, register
):
    arn = register()

    outcome = world.sign_off(arn, findings=(Finding("medium", "thin-file segment is small"),))

    assert outcome.result == "recorded"
    (observed,) = [r for r in world.audit().records() if r.action == "validation-observed"]
    validator = json.loads(observed.details["validator"])[0]
    assert validator["arn"] == world.carol.arn  # LastModifiedBy of the lifecycle write
    lifecycle = world.describe(arn)["ModelLifeCycle"]
    assert (lifecycle["Stage"], lifecycle["StageStatus"]) == ("Validation", "SignedOff")
    assert lifecycle["StageDescription"].startswith(observed.details["digest"])
    assert SignoffMarkers(world.s3, world.state_bucket).vouches_for(_version(world, arn), observed)
    # Delivered twice (EventBridge may), the sign-off is recorded once.
    assert world.observe(arn).result == "duplicate"
    decision = _approve(world, arn)
    assert decision.status == Approval.APPROVED
    assert decision.record.details["validation_record"] == observed.record_id


def _version(world, arn):
    from finmlops.registry.versions import describe_version

    return describe_version(world.sm, arn)


def test_approval_without_a_signoff_the_tier_requires_is_refused_and_nothing_changes(
    world, register
):
    arn = register()
    before = _state(world, arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn)

    assert any("requires a validator's sign-off" in p for p in refused.value.problems)
    assert _state(world, arn) == before
    assert world.audit_actions() == [AuditAction.APPROVAL_REFUSED]


def test_a_tier_without_signoff_approves_without_one(world, register):
    arn = register()
    assert _approve(world, arn, policy=EvidencePolicy()).status == Approval.APPROVED


def test_author_cannot_validate_own_version_and_nothing_changes(world, register):
    arn = register()
    before = world.describe(arn)

    with pytest.raises(RefusedError) as refused:
        world.sign_off(arn, by=world.alice)

    assert any("segregation of duties" in p and "validate" in p for p in refused.value.problems)
    assert world.describe(arn).get("ModelLifeCycle") == before.get("ModelLifeCycle")
    assert world.audit_actions() == [AuditAction.VALIDATION_REFUSED]


def test_author_who_writes_the_lifecycle_directly_is_refused_by_the_handler(world, register):
    """Alice skips `registry validate`, replays Carol's submitted findings and writes the
    lifecycle herself: SageMaker records Alice, and the handler refuses the sign-off."""
    arn = register()
    carol = world.carol
    submitted = submit_signoff(
        carol.client("sagemaker"), carol.client("sts"), world.audit(),
        arn=arn, summary="sound", findings=(),
    )  # fmt: skip
    update_version(
        world.alice.client("sagemaker"),
        arn,
        lifecycle=Lifecycle(
            Validation.STAGE, "SignedOff", f"{submitted.digest} {submitted.record.record_id} "
        ),
    )

    outcome = world.observe(arn)

    assert outcome.result == "refused"
    assert "is an author of this version" in outcome.reason
    assert "submitted by" in outcome.reason
    # Delivered again (EventBridge may): refused once, recorded once.
    assert world.observe(arn).result == "duplicate"
    assert world.audit_actions().count(AuditAction.VALIDATION_REFUSED) == 1
    with pytest.raises(RefusedError):
        _approve(world, arn)


def test_validator_cannot_approve_what_they_signed(world, register):
    """One person holding both roles: Carol signs off, then approves. Refused."""
    arn = register()
    world.sign_off(arn)
    before = _state(world, arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, person=world.carol)

    assert any("signed the validation" in p for p in refused.value.problems)
    assert _state(world, arn) == before


def test_open_high_severity_finding_blocks_approval_until_a_later_signoff(world, register):
    arn = register()
    world.sign_off(arn, findings=(Finding("high", "KS unstable on thin-file applicants"),))
    assert world.describe(arn)["ModelLifeCycle"]["StageStatus"] == "FindingsOpen"
    before = _state(world, arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn)

    assert any("open high-severity finding" in p for p in refused.value.problems)
    assert _state(world, arn) == before
    world.sign_off(arn, findings=(Finding("low", "KS remediated by segment monitor"),))
    assert _approve(world, arn).status == Approval.APPROVED


def test_forged_observed_record_without_the_handlers_marker_is_refused_by_the_handler(
    world, register, pipeline
):
    """Bob (who may append audit records) writes a `validation-observed` naming Carol. The
    handler's gate trusts only records its marker vouches for."""
    arn = register()
    version = _version(world, arn)
    document = {
        "model_package_arn": arn,
        "artifacts": {"image": version.image_uri, "model_data": version.model_data_url},
        "summary": "sound", "findings": [], "closes": [],
    }  # fmt: skip
    world.audit().append(
        AuditAction.VALIDATION_OBSERVED,
        "approval-event-handler",
        version=version,
        details={
            "digest": document_digest(document),
            "document": json.dumps(document),
            "validator": json.dumps(
                [{"recorded_by": "aws", "source": "x", "arn": world.carol.arn}]
            ),
        },
    )
    world.console_approve(arn, world.bob)
    settings = world.handler_settings(pipeline.name)
    settings = HandlerSettings(**{**settings.__dict__, "policy": TIERED})
    event = {
        "id": "evt-approved", "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "detail": {"ModelPackageGroupName": world.group, "ModelPackageVersion": 1,
                   "ModelPackageArn": arn, "ModelApprovalStatus": Approval.APPROVED},
    }  # fmt: skip

    outcome = handle_state_change(
        event, sagemaker=world.sm, s3=world.s3, codepipeline=pipeline.client,
        cloudwatch=world.client("cloudwatch"), settings=settings,
    )  # fmt: skip

    assert outcome.result == "refused"
    assert "not written by the approval-event handler" in outcome.reason
    assert pipeline.executions() == []


def test_signoff_for_another_version_is_refused(world, register):
    """Carol's findings for v1, bound by a lifecycle written on v2: the handler refuses."""
    first, second = register(), register()
    carol = world.carol
    submitted = submit_signoff(
        carol.client("sagemaker"), carol.client("sts"), world.audit(),
        arn=first, summary="sound", findings=(),
    )  # fmt: skip
    update_version(
        carol.client("sagemaker"),
        second,
        lifecycle=Lifecycle(
            Validation.STAGE, "SignedOff", f"{submitted.digest} {submitted.record.record_id}"
        ),
    )

    outcome = world.observe(second)

    assert outcome.result == "refused"
    assert "no validation-submitted record of" in outcome.reason
    with pytest.raises(RefusedError):
        _approve(world, second)


def test_signoff_of_other_artifacts_is_refused_at_approval(world, register):
    """The artifacts change after the sign-off (no IAM key covers InferenceSpecification)."""
    arn = register()
    world.sign_off(arn)
    version = _version(world, arn)
    world.sm.update_model_package(
        ModelPackageArn=arn,
        InferenceSpecification={
            "Containers": [{"Image": version.image_uri, "ModelDataUrl": "s3://evil/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn)

    assert any("signed other artifacts" in p for p in refused.value.problems)


def test_fired_alarm_opens_a_revalidation_that_the_next_approval_must_close(world, register):
    arn = register()
    world.sign_off(arn)

    outcomes = [_fire(world, _alarm()) for _ in range(2)]  # delivered twice
    ignored = _fire(world, _alarm(value="OK"))

    assert [o.result for o in outcomes] == ["recorded", "recorded"]
    assert ignored.result == "ignored"
    (opened,) = open_revalidations(world.audit(), world.group)
    assert (opened.details["alarm"], opened.environment) == ("credit-risk-prod-drift", "prod")
    # The earlier sign-off does not close it: approval is refused, nothing changes.
    before = _state(world, arn)
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, policy=EvidencePolicy())
    assert any(p.startswith("re-validation:") for p in refused.value.problems)
    assert _state(world, arn) == before
    # A sign-off that names it closes it at the next observed approval.
    world.sign_off(arn, closes=(opened.record_id,))
    decision = _approve(world, arn, policy=EvidencePolicy())
    assert decision.record.details["closes_revalidation"] == opened.record_id


def test_revalidation_is_closed_by_the_handlers_observed_approval(world, register, pipeline):
    arn = register()
    _fire(world, _alarm())
    (opened,) = open_revalidations(world.audit(), world.group)
    world.sign_off(arn, closes=(opened.record_id,))
    _approve(world, arn)

    assert world.deliver(arn, pipeline).result == "started"

    assert open_revalidations(world.audit(), world.group) == []


def test_closing_a_record_that_is_not_open_is_refused(world, register):
    arn = register()
    with pytest.raises(RefusedError) as refused:
        world.sign_off(arn, closes=("credit-risk-xgb/000000000042",))
    assert any(p.startswith("closes:") for p in refused.value.problems)


@pytest.mark.parametrize("text", ["critical: x", "high", "high:   ", "nonsense"])
def test_bad_findings_name_the_rule(text):
    with pytest.raises(InvalidInputError, match="SEVERITY: TEXT"):
        Finding.parse(text)


def test_signoff_of_an_approved_version_is_refused(world, register):
    arn = register()
    _approve(world, arn, policy=EvidencePolicy())
    with pytest.raises(RefusedError) as refused:
        world.sign_off(arn)
    assert any(p.startswith("status:") for p in refused.value.problems)
