"""The registry's model card is bound by hash, not written back (ADR 0032): the validator's
sign-off and the approval name the sha256 of the ModelCardContent SageMaker returns; a card
changed after either is refused, and nothing changes but the refusal's audit record."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from finmlops.contracts import Approval, AuditAction
from finmlops.registry.approval import approve
from finmlops.registry.errors import RefusedError
from finmlops.registry.evidence import MODEL_CARD_SHA256, EvidencePolicy
from finmlops.registry.promotion import resolve

CARD = json.dumps({"intended_uses": {"purpose_of_model": "credit risk", "risk_rating": "High"}})


def _card(content: str = CARD) -> dict[str, Any]:
    return {"ModelCard": {"ModelCardContent": content, "ModelCardStatus": "PendingReview"}}


def _approve(world: Any, arn: str, **kw: Any) -> Any:
    bob = world.bob
    return approve(
        bob.client("sagemaker"), bob.client("sts"), world.audit(),
        arn=arn, reason="validated by MRM", gates=world.gates, **kw,
    )  # fmt: skip


def _rewrite_card(world: Any, arn: str) -> None:
    """Someone allowed UpdateModelPackage softens the card's limitations after the decision."""
    world.sm.update_model_package(
        ModelPackageArn=arn, **_card(CARD.replace("credit risk", "any purpose"))
    )


def test_the_approval_binds_the_cards_hash_and_promotion_refuses_a_card_changed_since(
    world, register, pipeline
):
    arn = register(extra=_card())
    _approve(world, arn)
    assert world.deliver(arn, pipeline).result == "started"
    (record,) = [r for r in world.audit().records() if r.action == AuditAction.APPROVE]
    assert record.evidence[MODEL_CARD_SHA256] == hashlib.sha256(CARD.encode()).hexdigest()
    _rewrite_card(world, arn)
    before = world.describe(arn)

    with pytest.raises(RefusedError) as refused:
        resolve(world.sm, world.s3, world.audit(), world.history(), arn=arn,
                environment="stage", actor="pipeline", gates=world.gates)  # fmt: skip

    (problem,) = refused.value.problems
    assert problem.startswith(f"{MODEL_CARD_SHA256}: ") and record.record_id in problem
    assert "the version changed after approval" in problem
    assert world.describe(arn) == before
    assert world.audit().records()[-1].action == AuditAction.PROMOTION_REFUSED


def test_a_card_changed_after_the_sign_off_is_not_what_the_validator_signed(world, register):
    arn = register(extra=_card())
    world.sign_off(arn)
    _rewrite_card(world, arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, policy=EvidencePolicy(require_signoff=True))

    assert any("signed other artifacts than" in p for p in refused.value.problems)
    assert world.describe(arn)["ModelApprovalStatus"] == Approval.PENDING


def test_a_version_without_a_card_in_the_registry_binds_its_artifacts_only(world, register):
    arn = register()
    _approve(world, arn)
    (record,) = [r for r in world.audit().records() if r.action == AuditAction.APPROVE]
    assert MODEL_CARD_SHA256 not in record.evidence
    assert "InferenceSpecification.ModelDataUrl" in record.evidence
