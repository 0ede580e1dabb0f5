"""The champion at approval: the first version has none, a challenger worse than the champion by
more than the platform's margin is refused, and a build whose champion no longer serves is
refused (ADR 0029); each refusal changes nothing but its audit record."""

from __future__ import annotations

import pytest

from finmlops.contracts import Approval, AuditAction, Meta, Stage
from finmlops.registry.champion import Champion, champion_parameters, serving_champion
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.versions import Lifecycle, update_version


def test_the_first_version_has_no_champion_and_its_approval_records_so(world, build):
    assert serving_champion(world.sm, world.group) is None
    assert champion_parameters(None) == {"ChampionModelPackageArn": "none"}
    built = build()

    decision = world.approve_signed(built.package_arn)

    assert decision.status == Approval.APPROVED
    assert decision.record.details["champion_serving"] == "none in Production"


def test_the_version_recorded_as_serving_in_prod_is_the_champion(world, register, pipeline):
    first = register()
    world.serve_in_prod(first, pipeline, "evt-1")
    described = world.describe(first)
    url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    # Its training rows: beside the evaluation.json its build registered (ModelMetrics).
    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    rows = statistics.rsplit("/", 1)[0] + "/train_rows.txt"

    champion = serving_champion(world.sm, world.group)

    assert champion == Champion(first, 1, url, rows)
    assert champion_parameters(champion) == {
        "ChampionModelPackageArn": first, "ChampionModelDataUrl": url,
        "ChampionTrainingRowsUrl": rows,
    }  # fmt: skip


def test_a_challenger_worse_than_the_champion_by_more_than_the_margin_is_refused_and_nothing_changes(
    world, register, pipeline
):
    world.serve_in_prod(register(auc=0.85), pipeline, "evt-1")
    margin = world.config.gates.max_auc_drop_vs_champion
    worse = register(auc=0.80, auc_drop=margin + 0.03)  # compared with the champion, honestly
    world.sign_off(worse)
    before = world.describe(worse)

    with pytest.raises(RefusedError) as refused:
        world.approve_signed(worse, sign=False)

    assert refused.value.problems == (
        "gate max-auc-drop-vs-champion: the version's AUC lost against the champion serving in "
        f"prod, on the same test rows is {margin + 0.03:.4g}; the platform requires <= {margin:g}",
    )
    assert world.describe(worse) == before
    assert world.audit().records()[-1].action == AuditAction.APPROVAL_REFUSED
    # Within the margin the same challenger passes.
    assert world.approve_signed(register(auc=0.84, auc_drop=margin)).status == Approval.APPROVED


def test_a_build_whose_champion_no_longer_serves_is_refused_build_again(world, register, pipeline):
    """v2 was built while v1 served; v3 reached prod since. v2 was never compared with v3."""
    first = register()
    world.serve_in_prod(first, pipeline, "evt-1")
    early = register()
    later = register()
    world.serve_in_prod(later, pipeline, "evt-3")

    with pytest.raises(RefusedError) as refused:
        world.approve_signed(early)

    assert refused.value.problems == (
        f"champion: the evaluation compared with {first}, but version 3 ({later}) serves in "
        "Production per the registry's ModelLifeCycle; build again",
    )
    assert world.describe(early)["ModelApprovalStatus"] == Approval.PENDING


def test_two_versions_marked_as_serving_in_prod_are_an_error_naming_both(world, register):
    arns = [register(), register()]
    for arn in arns:
        update_version(world.sm, arn, lifecycle=Lifecycle("Production", Stage.DEPLOYED, "x"))

    with pytest.raises(InvalidInputError, match="versions 1, 2 of credit-risk-xgb all say"):
        serving_champion(world.sm, world.group)


def test_a_champion_registered_before_its_training_rows_were_kept_names_none(
    world, register, pipeline
):
    """Without the metadata that says its build wrote them, the champion's training rows are
    not asked for (a processing input of a missing object would fail the build): the build keeps
    the definition's default, and every test row is compared (the section says so)."""
    first = register(without=(Meta.TRAINING_ROWS,))
    world.serve_in_prod(first, pipeline, "evt-1")

    champion = serving_champion(world.sm, world.group)

    assert champion is not None and champion.training_rows_url == ""
    assert "ChampionTrainingRowsUrl" not in champion_parameters(champion)


def test_training_rows_the_registry_does_not_give_are_the_callers_choice_and_refused(
    world, register, build, pipeline
):
    first = register(without=(Meta.TRAINING_ROWS,))
    world.serve_in_prod(first, pipeline, "evt-1")
    url = world.describe(first)["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    chosen = "s3://evidence-bucket/alice/rows.txt"
    built = build(
        starter=world.alice,
        parameters={"ChampionModelPackageArn": first, "ChampionModelDataUrl": url,
                    "ChampionTrainingRowsUrl": chosen},
    )  # fmt: skip

    with pytest.raises(RefusedError) as refused:
        world.approve_signed(built.package_arn)

    assert refused.value.problems == (
        f"champion: the build ran with ChampionTrainingRowsUrl={chosen}, but the registry gives "
        f"no value for it (version 1 ({first}) serves in Production); the definition's default "
        "is s3://test-artifactbucket/champion/none.json",
    )
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.PENDING
