"""The risk tier sets validation depth (SR 26-2; config governance.tiers.<tier>.
required_evidence): approval refuses a version whose evaluation lacks a section its tier requires,
names each, and changes nothing; a lower tier asks for less."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finmlops.cli import ExitCode, main
from finmlops.config import load_config
from finmlops.contracts import Approval, AuditAction, Promotion, Validation
from finmlops.registry.approval import approve
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.evidence import EvidencePolicy
from finmlops.registry.gatecheck import (
    REQUIRED_EVIDENCE,
    evidence_present,
    required_evidence_from_json,
)
from finmlops.registry.handler import HandlerSettings

CONFIG_FILE = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")
CONFIG = load_config(CONFIG_FILE, "credit-risk")


def _policy(tier: str) -> EvidencePolicy:
    policy = CONFIG.governance.tiers.of(tier)  # type: ignore[arg-type]
    return EvidencePolicy(required_evidence=policy.required_evidence, tier=tier)


def _approve(world: Any, arn: str, policy: EvidencePolicy) -> Any:
    return approve(
        world.bob.client("sagemaker"), world.bob.client("sts"), world.audit(),
        arn=arn, reason="validated", gates=world.gates, policy=policy,
    )  # fmt: skip


def test_a_high_tier_version_lacking_explanations_and_intervals_is_refused_and_nothing_changes(
    world, register
):
    arn = register(evaluation_without=("explanation", "uncertainty"))
    before = world.describe(arn)

    with pytest.raises(RefusedError) as refused:
        _approve(world, arn, _policy("high"))

    tier = [p for p in refused.value.problems if p.startswith("tier evidence:")]
    assert len(tier) == 2, refused.value.problems
    assert (
        "risk tier high (governance.tiers.high.required_evidence) requires bootstrap_intervals"
        in tier[0]
    )
    assert "requires explanations" in tier[1] and "adding up to the margin" in tier[1]
    assert world.describe(arn) == before
    assert world.audit_actions() == [AuditAction.APPROVAL_REFUSED]


def test_the_same_version_passes_a_low_tier_and_the_record_names_the_depth(world, register):
    arn = register(evaluation_without=("explanation", "uncertainty", "score_stability"))

    _approve(world, arn, _policy("low"))

    assert world.describe(arn)["ModelApprovalStatus"] == Approval.APPROVED
    [record] = world.audit().records()
    assert "risk tier low requires evaluation evidence: fairness" in record.details["policy"]


def test_the_cli_applies_the_configured_tier(world, register, capsys, monkeypatch):
    """The platform config's model is high tier: the CLI asks for all five sections."""
    register(evaluation_without=("score_stability",))
    world.sign_off(world.sm.list_model_packages(ModelPackageGroupName=world.group)[
        "ModelPackageSummaryList"][0]["ModelPackageArn"])  # fmt: skip
    world.bob.use_in_env(monkeypatch)

    code = main(
        [
            "registry",
            "approve",
            "1",
            "--reason",
            "ok",
            "--json",
            "--config",
            CONFIG_FILE,
            "--model",
            "credit-risk",
        ]
    )
    out = capsys.readouterr().out

    assert code == ExitCode.REFUSED
    problems = json.loads(out)["problems"]
    assert (
        [p for p in problems if p.startswith("tier evidence:")]
        == [p for p in problems if "requires score_stability" in p]
        != []
    )


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ({"champion": {"status": "compared", "model_package_arn": "arn:x", "auc_drop": 0.0}},
         "champion_comparison"),
        ({"fairness": {"groups": [{"id": "a", "measurable": False}]}}, "fairness"),
        ({"uncertainty": {"auc": {"lower": 0.7, "upper": 0.8}, "ks": {"lower": None}}},
         "bootstrap_intervals"),
        ({"explanation": {"importance": [{"feature": "f"}], "additivity_max_error": 0.5}},
         "explanations"),
        ({"score_stability": {"train_vs_test": None, "note": "train split not given"}},
         "score_stability"),
    ],
)  # fmt: skip
def test_a_placeholder_section_is_not_evidence(section: dict[str, Any], name: str) -> None:
    """A comparison without its interval, only unmeasurable groups, a missing bound, SHAP that
    does not add up, a stability section without a PSI: present, but not evidence."""
    assert evidence_present(section, [name]) == {name: False}
    assert evidence_present({}, [name]) == {name: False}


def test_the_handler_not_told_its_tier_requires_everything_and_refuses_unknown_names() -> None:
    assert required_evidence_from_json("", Validation.ENV_REQUIRED_EVIDENCE) == (
        "", tuple(REQUIRED_EVIDENCE)
    )  # fmt: skip
    told = json.dumps({"tier": "low", "required": ["fairness"]})
    assert required_evidence_from_json(told, "X") == ("low", ("fairness",))
    with pytest.raises(InvalidInputError, match=r"X.required: shap not one of"):
        required_evidence_from_json(json.dumps({"tier": "low", "required": ["shap"]}), "X")
    environ = {
        Promotion.ENV_GROUPS: "g", Promotion.ENV_PIPELINE: "p", Promotion.ENV_AUDIT_BUCKET: "a",
        Promotion.ENV_STATE_BUCKET: "s",
        Promotion.ENV_GATES: json.dumps([{"name": "min-auc", "source": "evaluation",
                                       "json_path": "a.b", "comparison": ">=", "threshold": 0.6}]),
    }  # fmt: skip
    settings = HandlerSettings.from_env(environ)
    assert settings.policy.required_evidence == tuple(REQUIRED_EVIDENCE)
