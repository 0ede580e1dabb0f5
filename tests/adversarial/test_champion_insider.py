"""The champion is what the registry records as serving in prod, never the build starter's choice.

Alice (data scientist) wants her new version approved although it is worse than the version in
prod. The gate `max-auc-drop-vs-champion` compares it with the champion the build scored; so she
starts the build naming a weak old version as champion, or none, or edits the definition so the
Evaluate step scores another artifact. Approval re-reads the registry's ModelLifeCycle and what
AWS recorded of the execution (parameters, definition), refuses, and changes nothing (ADR 0029).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from finmlops.contracts import Approval, AuditAction
from finmlops.registry.errors import RefusedError


@pytest.fixture
def weak_then_strong(world: Any, register: Any, pipeline: Any) -> tuple[str, str]:
    """v1 (weak) served in prod, then v2 (strong) replaced it: v2 is the champion."""
    weak = register(auc=0.70)
    world.serve_in_prod(weak, pipeline, "evt-1")
    strong = register(auc=0.85)
    world.serve_in_prod(strong, pipeline, "evt-2")
    return weak, strong


def _refused_and_unchanged(world: Any, arn: str) -> list[str]:
    world.sign_off(arn)
    before = world.describe(arn)
    with pytest.raises(RefusedError) as refused:
        world.approve_signed(arn, sign=False)
    after = world.describe(arn)
    assert after["ModelApprovalStatus"] == Approval.PENDING
    assert after.get("CustomerMetadataProperties") == before.get("CustomerMetadataProperties")
    assert world.audit().records()[-1].action == AuditAction.APPROVAL_REFUSED
    return list(refused.value.problems)


def test_a_build_that_names_a_weak_old_version_as_champion_is_refused_and_nothing_changes(
    world, build, weak_then_strong
):
    weak, strong = weak_then_strong
    old = world.describe(weak)["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    # AUC 0.78: 0.08 below the champion in prod, but 0.08 above the weak version she named.
    built = build(
        starter=world.alice,
        parameters={"ChampionModelPackageArn": weak, "ChampionModelDataUrl": old},
        auc=0.78, champion={"status": "compared", "model_package_arn": weak, "auc_drop": -0.08},
    )  # fmt: skip

    problems = _refused_and_unchanged(world, built.package_arn)

    serving = f"version 2 ({strong})"
    assert problems == [
        f"champion: the evaluation compared with {weak}, but {serving} serves in Production per "
        "the registry's ModelLifeCycle; build again",
        f"champion: the build ran with ChampionModelPackageArn={weak}, but {serving} serves in "
        f"Production per the registry's ModelLifeCycle (its value: {strong})",
        f"champion: the build ran with ChampionModelDataUrl={old}, but {serving} serves in "
        "Production per the registry's ModelLifeCycle (its value: "
        f"{world.describe(strong)['InferenceSpecification']['Containers'][0]['ModelDataUrl']})",
    ]


def test_a_build_that_claims_no_champion_while_one_serves_is_refused(
    world, build, weak_then_strong
):
    _, strong = weak_then_strong
    built = build(
        starter=world.alice, parameters={"ChampionModelPackageArn": "none"}, auc=0.78,
        champion={"status": "none", "model_package_arn": "none", "auc_drop": 0.0},
    )  # fmt: skip

    problems = _refused_and_unchanged(world, built.package_arn)

    assert any("ChampionModelPackageArn=none" in p and strong in p for p in problems)
    assert any("compared with no champion" in p for p in problems)


def test_a_definition_whose_evaluate_scores_another_artifact_is_refused(
    world, build, weak_then_strong, synthesized_definition
):
    """The parameters name the champion honestly, but Alice's definition feeds Evaluate the weak
    version's artifact from a fixed URI: what AWS recorded of the definition shows it."""
    weak, _ = weak_then_strong
    old = world.describe(weak)["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    definition = json.loads(synthesized_definition)

    def rewire(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            for item in step.get("Arguments", {}).get("ProcessingInputs", []):
                if step["Name"] == "Evaluate" and item["InputName"] == "champion":
                    item["S3Input"]["S3Uri"] = old
            for branch in ("IfSteps", "ElseSteps"):
                rewire(step.get("Arguments", {}).get(branch, []))

    rewire(definition["Steps"])
    built = build(starter=world.alice, definition=json.dumps(definition), auc=0.78)

    problems = _refused_and_unchanged(world, built.package_arn)

    assert problems == [
        f"champion: Evaluate's input 'champion' is {json.dumps(old)}, not the parameter "
        "ChampionModelDataUrl"
    ]


def test_a_build_that_picks_which_test_rows_to_leave_out_is_refused(world, build, weak_then_strong):
    """Alice names the champion honestly but gives the Evaluate step her own list of the
    champion's "training rows": the test rows where the champion beats her version. Leaving
    them out would flatter her version. Only the registry says where the champion's training
    rows are (beside its registered evaluation.json), and approval compares."""
    _, strong = weak_then_strong
    described = world.describe(strong)
    url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    chosen = "s3://evidence-bucket/alice/rows-the-champion-wins.txt"
    built = build(
        starter=world.alice,
        parameters={"ChampionModelPackageArn": strong, "ChampionModelDataUrl": url,
                    "ChampionTrainingRowsUrl": chosen},
        auc=0.78,
    )  # fmt: skip

    problems = _refused_and_unchanged(world, built.package_arn)

    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert problems == [
        f"champion: the build ran with ChampionTrainingRowsUrl={chosen}, but version 2 "
        f"({strong}) serves in Production per the registry's ModelLifeCycle (its value: "
        f"{statistics.rsplit('/', 1)[0]}/train_rows.txt)"
    ]
