"""Insiders of one model against another model of the same platform (issue 17, item 4).

Each test plays someone who holds one legitimate role of model A (`scorecard-01`) and tries to
act on model B (`scorecard-02`): approve B's version, register into B's group, start B's build,
promote or roll back B, reach B's roles. The decisions are IAM's, read by the project's evaluator
(finmlops.iam, tested against the IAM documentation in tests/iam/) from the synthesized
templates of a 50-model platform (the `fifty` session fixture of tests/synth_fixtures.py), with
the request context a real call carries. Each attempt is also made on the insider's own model,
where it is allowed, so a refusal is the segregation, not a role that can do nothing.
"""

from __future__ import annotations

import pytest

from finmlops.iam import Platform

DEV, STAGE, PROD, TOOLING = "111111111111", "222222222222", "333333333333", "444444444444"
A, B = "scorecard-01", "scorecard-02"
# Every third model's group is read by prod alone (governance.readers, portfolio_of).
PROD_ONLY = "scorecard-03"
APPROVAL = "sagemaker:ModelApprovalStatus"
TLS = {"aws:SecureTransport": True}


def group(model: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{DEV}:model-package-group/{model}-xgb"


def version(model: str, number: int = 3) -> str:
    return f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/{model}-xgb/{number}"


def role(model: str, environment: str, purpose: str) -> str:
    """A model's own role (finmlops.naming: `<project>-<model>-<environment>-<purpose>`)."""
    return f"credit-risk-{model}-{environment}-{purpose}"


@pytest.fixture(scope="module")
def iam(fifty_iam: Platform) -> Platform:
    return fifty_iam


def session(iam: Platform, name: str, who: str = "someone") -> str:
    return iam.role(name).session_arn(who)


def test_the_approver_of_one_model_cannot_approve_another_models_version(iam: Platform) -> None:
    """Bob approves for scorecard-01 (its governance.approver_role). He tries to approve a
    version of scorecard-02: his role's DecideApproval names only scorecard-01's versions."""
    bob = session(iam, "ModelRiskApprover01", "bob")
    approve = {APPROVAL: "Approved"}

    own = iam.decide(bob, "sagemaker:UpdateModelPackage", version(A), approve)
    other = iam.decide(bob, "sagemaker:UpdateModelPackage", version(B), approve)

    assert own.allowed, own.reason
    assert not other.allowed
    # Nor can B's approver decide on A's versions.
    carol = session(iam, "ModelRiskApprover02", "carol")
    assert not iam.decide(carol, "sagemaker:UpdateModelPackage", version(A), approve).allowed


def test_the_build_role_of_one_model_cannot_register_into_another_models_group(
    iam: Platform,
) -> None:
    """scorecard-01's model-build pipeline (its execution role) registers a pending version into
    scorecard-02's group: RegisterPendingVersions names only its own group."""
    build = session(iam, role(A, "dev", "sagemaker-build"), "pipelines")
    pending = {APPROVAL: "PendingManualApproval"}

    own = iam.decide(build, "sagemaker:CreateModelPackage", version(A), pending)
    other = iam.decide(build, "sagemaker:CreateModelPackage", version(B), pending)

    assert own.allowed, own.reason
    assert not other.allowed
    assert not iam.decide(build, "sagemaker:CreateModelPackage", group(B), pending).allowed


def test_a_data_scientist_of_one_model_cannot_start_another_models_build(iam: Platform) -> None:
    alice = session(iam, role(A, "dev", "data-scientist"), "alice")
    pipeline = f"arn:aws:sagemaker:us-east-1:{DEV}:pipeline/credit-risk-{{}}-model-build"

    assert iam.decide(alice, "sagemaker:StartPipelineExecution", pipeline.format(A)).allowed
    assert not iam.decide(alice, "sagemaker:StartPipelineExecution", pipeline.format(B)).allowed


def test_one_models_promotion_cannot_reach_another_models_roles(iam: Platform) -> None:
    """scorecard-01's promote-stage CodeBuild role assumes its own gate, lifecycle and smoke-test
    roles; scorecard-02's trust policies do not name it."""
    promote = session(iam, role(A, "tooling", "promote-stage"), "codebuild")
    for environment, purpose in (
        ("dev", "evidence-reader"),
        ("dev", "registry-lifecycle"),
        ("stage", "smoke-test"),
    ):
        own = iam.can_assume(promote, iam.role(role(A, environment, purpose)).arn)
        assert own.allowed, own.reason
        assert not iam.can_assume(promote, iam.role(role(B, environment, purpose)).arn).allowed


def test_one_models_handler_and_operators_cannot_start_another_models_promotion(
    iam: Platform,
) -> None:
    pipeline = f"arn:aws:codepipeline:us-east-1:{TOOLING}:credit-risk-{{}}-model-promotion"
    handler = session(iam, role(A, "tooling", "promotion-handler"), "lambda")
    operator = session(iam, role(A, "tooling", "operator"), "dana")
    for insider in (handler, operator):
        own = iam.decide(insider, "codepipeline:StartPipelineExecution", pipeline.format(A))
        assert own.allowed, own.reason
        assert not iam.decide(
            insider, "codepipeline:StartPipelineExecution", pipeline.format(B)
        ).allowed


def test_one_models_serving_roles_cannot_read_another_models_registry_group(
    iam: Platform,
) -> None:
    """scorecard-01's prod endpoint role reads its own group across accounts (its policy and the
    group's); scorecard-02's versions are not in its policy."""
    model = session(iam, role(A, "prod", "model"), "sagemaker")

    own = iam.decide(model, "sagemaker:DescribeModelPackage", version(A))
    other = iam.decide(model, "sagemaker:DescribeModelPackage", version(B))

    assert own.allowed, own.reason
    assert not other.allowed


def test_a_group_read_by_prod_alone_refuses_stage_and_tooling(iam: Platform) -> None:
    """scorecard-03's governance.readers names prod only: its group's policy admits prod's
    principals and nobody in stage, though stage's role of the model asks for the read."""
    prod = session(iam, role(PROD_ONLY, "prod", "model"), "sagemaker")
    stage = session(iam, role(PROD_ONLY, "stage", "model"), "sagemaker")
    handler = session(iam, role(PROD_ONLY, "tooling", "promotion-handler"), "lambda")

    assert iam.decide(prod, "sagemaker:DescribeModelPackage", version(PROD_ONLY)).allowed
    refused = iam.decide(stage, "sagemaker:DescribeModelPackage", version(PROD_ONLY))
    assert not refused.allowed
    assert not iam.decide(handler, "sagemaker:DescribeModelPackage", version(PROD_ONLY)).allowed
    # The same role of a model without readers (the default: tooling, stage, prod) reads its
    # group: the refusal above is scorecard-03's group policy, not the role's.
    assert iam.decide(
        session(iam, role(A, "stage", "model"), "sagemaker"),
        "sagemaker:DescribeModelPackage",
        version(A),
    ).allowed


def test_every_models_serving_roles_read_the_build_outputs_across_accounts(
    iam: Platform,
) -> None:
    """The artifact bucket admits the serving roles by one name pattern per account and purpose
    (its policy would pass S3's 20 KB quota naming 50 models' roles): each model's roles match
    it, and a role of the same account outside the pattern does not."""
    artifacts = "arn:aws:s3:::credit-risk-artifacts-111111111111-us-east-1/model-build/run/x"
    for model in ("scorecard-01", "scorecard-50"):
        for environment in ("stage", "prod"):
            for purpose in ("model", "monitoring"):
                reader = session(iam, role(model, environment, purpose), "sagemaker")
                decision = iam.decide(reader, "s3:GetObject", artifacts, TLS)
                assert decision.allowed, decision.reason
    smoke = session(iam, role(A, "stage", "smoke-test"), "codebuild")
    assert not iam.decide(smoke, "s3:GetObject", artifacts, TLS).allowed


def test_every_models_forwarders_reach_the_tooling_bus_and_no_other_role_does(
    iam: Platform,
) -> None:
    """Tooling's bus admits 50 models' forwarders by one name pattern per account (named one by
    one they would pass EventBridge's 10,240-character bus policy): each model's approval and
    re-validation forwarders may put events on it, a dev role outside the pattern may not."""
    bus = f"arn:aws:events:us-east-1:{TOOLING}:event-bus/default"
    for model in ("scorecard-01", "scorecard-50"):
        approvals = session(iam, role(model, "dev", "event-forwarder"), "events")
        decision = iam.decide(approvals, "events:PutEvents", bus)
        assert decision.allowed, decision.reason
        for environment in ("stage", "prod"):
            alarms = session(iam, role(model, environment, "revalidation-forwarder"), "events")
            assert iam.decide(alarms, "events:PutEvents", bus).allowed
    build = session(iam, role(A, "dev", "sagemaker-build"), "pipelines")
    assert not iam.decide(build, "events:PutEvents", bus).allowed


def test_a_batch_models_promotion_checks_its_own_batch_pipeline_and_nothing_else(
    iam: Platform,
) -> None:
    """scorecard-04 serves in batch: its stage smoke-test role (which `promote record` and the
    smoke test assume) is assumable by its own promote-stage role, describes its own batch
    pipeline, and can neither start it nor describe another batch model's (scorecard-09)."""
    batch, other = "scorecard-04", "scorecard-09"
    promote = session(iam, role(batch, "tooling", "promote-stage"), "codebuild")
    smoke = iam.role(role(batch, "stage", "smoke-test"))
    assert iam.can_assume(promote, smoke.arn).allowed
    outsider = session(iam, role(A, "tooling", "promote-stage"), "codebuild")
    assert not iam.can_assume(outsider, smoke.arn).allowed

    checker = smoke.session_arn("smoke-test")
    pipeline = f"arn:aws:sagemaker:us-east-1:{STAGE}:pipeline/{batch}-stage-batch"
    foreign = f"arn:aws:sagemaker:us-east-1:{STAGE}:pipeline/{other}-stage-batch"
    for action in ("sagemaker:DescribePipeline", "sagemaker:ListTags"):
        own = iam.decide(checker, action, pipeline)
        assert own.allowed, own.reason
        assert not iam.decide(checker, action, foreign).allowed
    assert not iam.decide(checker, "sagemaker:StartPipelineExecution", pipeline).allowed
