"""Approve and reject: reason, identity, segregation of duties, evidence, the platform's gates;
refusals change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops.contracts import Approval, AuditAction, Meta
from finmlops.registry.approval import approve, reject
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.evidence import EvidencePolicy
from finmlops.registry.identity import Identity, load_identities
from finmlops.registry.versions import Lifecycle, describe_version, update_version


def _approve(world: Any, arn: str, person: Any, reason: str = "validated", **kw: Any) -> Any:
    return approve(
        person.client("sagemaker"),
        person.client("sts"),
        world.audit(),
        arn=arn,
        reason=reason,
        gates=world.gates,
        **kw,
    )


def test_independent_validator_approves_with_reason_and_identity_recorded(world, register):
    arn = register()

    decision = _approve(world, arn, world.bob, reason="AUC 0.81, fairness within limits (DI 0.92)")

    described = world.describe(arn)
    assert described["ModelApprovalStatus"] == Approval.APPROVED
    assert world.bob.arn in described["ApprovalDescription"]
    assert "AUC 0.81, fairness within limits (DI 0.92)" in described["ApprovalDescription"]
    metadata = described["CustomerMetadataProperties"]
    assert metadata[Meta.APPROVED_BY] == world.bob.arn
    assert metadata[Meta.APPROVED_AT] == decision.record.at
    # The metadata copy keeps only characters AWS accepts in metadata values.
    assert metadata[Meta.APPROVAL_REASON] == "AUC 0.81 fairness within limits DI 0.92"
    # What the register step wrote is still there (the update merges the map).
    assert metadata[Meta.DATA_FINGERPRINT] == "sha256:4f2c0d"
    # SageMaker records the approver as the last modifier, from the request's credentials.
    assert described["LastModifiedBy"]["IamIdentity"]["Arn"] == world.bob.arn
    record = decision.record
    assert (record.action, record.actor) == (AuditAction.APPROVE, world.bob.arn)
    # The record names the author as AWS recorded it, and the gates it was judged against.
    [author] = load_identities(record.details["authors"], "authors")
    assert (author.arn, author.source) == (world.alice.arn, "DescribeModelPackage.CreatedBy")
    assert "min-auc >= 0.65" in record.details["platform_gates"]
    assert "min-auc 0.81" in record.details["recorded_values"]
    assert record.previous_state["status"] == Approval.PENDING
    assert record.evidence["ModelMetrics.ModelQuality.Statistics"].startswith("s3://")
    # The record names what was approved for deployment, as it stood then.
    container = described["InferenceSpecification"]["Containers"][0]
    assert record.evidence["InferenceSpecification.Image"] == container["Image"]
    assert record.evidence["InferenceSpecification.ModelDataUrl"] == container["ModelDataUrl"]


def test_author_cannot_approve_own_version_and_nothing_changes(world, register):
    arn = register()
    before = world.describe(arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.alice)

    assert any("segregation of duties" in p for p in refused.value.problems)
    assert world.describe(arn) == before
    [record] = world.audit().records()
    assert record.action == AuditAction.APPROVAL_REFUSED
    assert record.actor == world.alice.arn
    assert "segregation of duties" in record.details["problems"]


def test_missing_evidence_refuses_approval_and_names_each_gap(world, register):
    arn = register(without=("fairness", "drift-baselines", "model-card", Meta.VALIDATOR))
    before = world.describe(arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.bob)

    problems = refused.value.problems
    assert any(p.startswith("fairness metrics: ModelMetrics.Bias") for p in problems)
    assert any("DriftCheckBaselines.ModelDataQuality.Statistics" in p for p in problems)
    assert any("DriftCheckBaselines.ModelDataQuality.Constraints" in p for p in problems)
    assert any(p.startswith("model card:") for p in problems)
    assert "inventory: metadata 'validator' is missing" in problems
    assert not any(p.startswith("model metrics") for p in problems)
    assert world.describe(arn) == before


def test_model_quality_statistics_are_required(world, register):
    arn = register(without=("model-quality",))
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.bob)
    assert refused.value.problems == (
        "model metrics: ModelMetrics.ModelQuality.Statistics is missing",
        "gates: ModelMetrics.ModelQuality.Statistics is not recorded, nothing to re-check",
    )


def test_drift_baselines_requirement_can_be_turned_off(world, register):
    arn = register(without=("drift-baselines",))

    _approve(world, arn, world.bob, policy=EvidencePolicy(require_drift_baselines=False))

    assert world.describe(arn)["ModelApprovalStatus"] == Approval.APPROVED
    [record] = world.audit().records()
    assert record.details["policy"] == "not required: drift-baselines"


def test_a_version_whose_creator_names_no_person_cannot_be_approved(world, register):
    """A role session without a source identity (automation) names nobody: author unknown."""
    robot = world.alice.assume(world.starter_role, "automation")
    arn = register(by=robot)
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.bob)
    [problem] = refused.value.problems
    assert problem.startswith("authorship:")
    assert "names no person" in problem and "automation" in problem


def test_a_recorded_metric_below_the_platform_gate_refuses_naming_gate_value_and_threshold(
    world, register
):
    arn = register(auc=0.61)
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.bob)
    assert refused.value.problems == (
        "gate min-auc: the version's area under the ROC curve on the test split is 0.61; "
        "the platform requires >= 0.65",
    )
    [record] = world.audit().records()
    assert record.details["rules"] == "gate min-auc"
    assert world.describe(arn)["ModelApprovalStatus"] == Approval.PENDING


def test_the_approver_in_the_approver_role_is_judged_by_the_session_the_trust_policy_fixes(
    world, register
):
    """The CLI sees only GetCallerIdentity's ARN: its session name is the person (the approver
    role's trust policy requires it to equal the user name and the source identity)."""
    arn = register()
    alice_as_approver = world.approver(world.alice)
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, alice_as_approver)
    assert refused.value.problems[0].startswith("segregation of duties:")
    _approve(world, arn, world.approver(world.bob))
    assert world.describe(arn)["LastModifiedBy"]["IamIdentity"]["SourceIdentity"] == world.bob.name


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_approval_and_rejection_require_a_reason(world, register, reason):
    arn = register()
    with pytest.raises(InvalidInputError, match="reason"):
        _approve(world, arn, world.bob, reason=reason)
    bob = world.bob
    with pytest.raises(InvalidInputError, match="reason"):
        reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason=reason)
    assert world.audit().records() == []


def test_rejection_records_reason_and_revokes_an_approval(world, register):
    arn = register()
    _approve(world, arn, world.bob)
    bob = world.bob

    decision = reject(
        bob.client("sagemaker"),
        bob.client("sts"),
        world.audit(),
        arn=arn,
        reason="calibration drifts on the holdout",
    )

    described = world.describe(arn)
    assert described["ModelApprovalStatus"] == Approval.REJECTED
    assert "calibration drifts on the holdout" in described["ApprovalDescription"]
    assert Meta.APPROVED_BY not in described["CustomerMetadataProperties"]
    assert decision.record.previous_state["status"] == Approval.APPROVED
    assert decision.record.previous_state[Meta.APPROVED_BY] == world.bob.arn
    assert world.audit_actions() == [AuditAction.APPROVE, AuditAction.REJECT]


def test_rejected_version_stays_rejected(world, register):
    arn = register()
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="no")
    with pytest.raises(RefusedError, match="approval of"):
        _approve(world, arn, world.bob)
    assert world.describe(arn)["ModelApprovalStatus"] == Approval.REJECTED


def test_approving_twice_is_refused(world, register):
    arn = register()
    _approve(world, arn, world.bob)
    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, world.bob)
    assert refused.value.problems == ("status: already Approved",)


def test_a_lifecycle_update_sends_the_lifecycle_alone_and_keeps_the_decision(world, register):
    """The promotion's lifecycle role may send ModelLifeCycle and nothing else (IAM judges the
    request): the update carries no status, description or metadata, and SageMaker keeps them."""
    arn = register()
    _approve(world, arn, world.bob, reason="fine")
    before = world.describe(arn)
    sent: list[dict[str, Any]] = []
    sm = world.new_client("sagemaker")
    sm.meta.events.register(
        "provide-client-params.sagemaker.UpdateModelPackage",
        lambda params, **_: sent.append(dict(params)),
    )

    update_version(sm, arn, lifecycle=Lifecycle("Staging", "Deployed", "deployed to stage"))

    assert sent == [
        {
            "ModelPackageArn": arn,
            "ModelLifeCycle": {
                "Stage": "Staging",
                "StageStatus": "Deployed",
                "StageDescription": "deployed to stage",
            },
        }
    ]
    after = world.describe(arn)
    for kept in ("ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties"):
        assert after[kept] == before[kept]
    assert describe_version(sm, arn).lifecycle == Lifecycle(
        "Staging", "Deployed", "deployed to stage"
    )


def test_an_update_with_nothing_to_change_is_refused_before_any_call(world, register):
    arn = register()
    with pytest.raises(InvalidInputError, match="nothing to change"):
        update_version(world.new_client("sagemaker"), arn, remove_metadata=["no-such-key"])


def _aws(arn: str = "", source_identity: str = "", profile: str = "") -> Identity:
    return Identity("aws", "test", arn=arn, source_identity=source_identity, user_profile=profile)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (_aws("arn:aws:iam::1:user/alice"), _aws("arn:aws:iam::1:user/alice"), True),
        (_aws("arn:aws:iam::1:user/alice"), _aws("arn:aws:iam::1:user/bob"), False),
        # A source identity follows the person into any role, under any session name.
        (
            _aws("arn:aws:iam::1:user/alice"),
            _aws("arn:aws:sts::1:assumed-role/Approver/bob", source_identity="alice"),
            True,
        ),
        (
            _aws("arn:aws:sts::1:assumed-role/DataScientist/x", source_identity="alice@bank.com"),
            _aws("arn:aws:iam::1:user/alice"),
            True,
        ),
        (
            _aws("arn:aws:sts::1:assumed-role/Approver/bob", source_identity="bob"),
            _aws("arn:aws:sts::1:assumed-role/Approver/carol", source_identity="carol"),
            False,
        ),
        # A role names nobody: two sessions of one role are not the same person by the role.
        (
            _aws("arn:aws:sts::1:assumed-role/Build/session-1"),
            _aws("arn:aws:sts::1:assumed-role/Build/session-2"),
            False,
        ),
        (_aws(profile="alice"), _aws("arn:aws:iam::1:user/alice"), True),
        (
            Identity("git", "commit author", name="Alice Smith", email="alice@bank.com"),
            _aws("arn:aws:sts::1:assumed-role/Approver/alice", source_identity="alice"),
            True,
        ),
        (_aws("arn:aws:iam::1:user/alice"), _aws(), False),
    ],
)
def test_the_same_person_is_found_by_any_name_aws_or_git_recorded(a, b, same):
    assert a.same_person(b) is same
    assert b.same_person(a) is same


@pytest.mark.parametrize(
    ("identity", "person"),
    [
        (_aws("arn:aws:iam::1:user/alice"), True),
        (_aws("arn:aws:sts::1:assumed-role/Approver/alice", source_identity="alice"), True),
        (_aws("arn:aws:sts::1:assumed-role/Approver/alice"), False),  # the session name is chosen
        (_aws(profile="alice"), True),
        (Identity("git", "commit author", name="A", email="a@b.c", verified=False), False),
        (Identity("git", "commit author", name="A", email="a@b.c", verified=True), True),
    ],
)
def test_a_record_names_a_person_only_when_aws_or_a_signature_vouches_for_it(identity, person):
    assert identity.is_person is person


def test_a_decision_the_registry_did_not_take_is_recorded_as_not_applied(world, register):
    """An UpdateModelPackage denied on AWS (IAM) is injected here with a botocore hook."""
    arn = register()
    sm = world.new_client("sagemaker")

    def deny(**_: Any) -> None:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not the approver role"}}
        raise ClientError(error, "UpdateModelPackage")

    sm.meta.events.register("before-call.sagemaker.UpdateModelPackage", deny)

    with pytest.raises(ClientError):
        approve(
            sm, world.bob.client("sts"), world.audit(), arn=arn, reason="ok", gates=world.gates,
        )  # fmt: skip

    assert world.describe(arn)["ModelApprovalStatus"] == Approval.PENDING
    decision, failure = world.audit().records()
    assert decision.action == AuditAction.APPROVE
    assert failure.action == AuditAction.DECISION_NOT_APPLIED
    assert failure.details["decision"] == decision.record_id
    assert "AccessDeniedException" in failure.details["error"]


def test_a_git_identity_read_back_from_a_record_is_verified_only_when_the_record_says_so():
    unsigned = {"recorded_by": "git", "source": "commit author", "email": "a@b.c"}
    signed = {**unsigned, "verified": True}
    read = load_identities(json.dumps([unsigned, signed]), "build-started record")
    assert [(i.verified, i.is_person) for i in read] == [(False, False), (True, True)]
