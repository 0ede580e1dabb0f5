"""The batch model's story in the two-model world (`portfolio_story_run`): its own build, its own
approver (the other model's refused), its own handler, its Batch stack promoted and checked on
the batch pipeline, the nightly run, drift on the batch captures, late labels and quality, its
evidence, and the inventory over both models.

The batch model's story continues the world of `story_run`, as `make demo` runs it; this module
sorts right after test_lifecycle_e2e.py, before any module that resets moto's backends (which
every embedded server of the process shares).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def batch_story(portfolio_story_run: tuple[Any, Any]) -> Any:
    _, stories = portfolio_story_run
    (story,) = [s for s in stories if s.config.serving.batch]
    return story


def test_every_stage_of_the_batch_model_ran_in_order(portfolio_story_run: Any) -> None:
    from finmlops.emulator.story.portfolio import INVENTORY_STAGE, PORTFOLIO_STORY

    first, stories = portfolio_story_run
    (story,) = stories
    assert [s.name for s in story.stages] == [
        f"{story.name}: {name}" for name, _ in PORTFOLIO_STORY
    ]
    # The first model's whole story, then the inventory.
    assert first.summary.stages[0].name == "provision"
    assert first.summary.stages[-1].name == INVENTORY_STAGE[0]


def test_each_model_has_its_own_pipeline_handler_and_approver(portfolio_story_run: Any) -> None:
    first, (story,) = portfolio_story_run
    mine, theirs = story.story.w, first.w
    assert mine.pipeline.pipeline_name != theirs.pipeline.pipeline_name
    assert mine.promotion_pipeline != theirs.promotion_pipeline
    assert (
        mine.handler_environment()["AWS_LAMBDA_FUNCTION_NAME"]
        != theirs.handler_environment()["AWS_LAMBDA_FUNCTION_NAME"]
    )
    assert mine.approver.name != theirs.approver.name
    # One validation team validates both (the config names the same one), in each model's role.
    assert mine.validator is theirs.validator


def test_the_other_models_approver_is_refused_and_the_own_approver_approves(
    batch_story: Any,
) -> None:
    from finmlops.registry.versions import describe_version

    s = batch_story.story
    assert "sagemaker:UpdateModelPackage refused" in batch_story.refused_other_approver
    assert "ModelRiskApprover" in batch_story.refused_other_approver
    version = describe_version(s.client("sagemaker"), s.summary.versions["v1"])
    assert version.status == "Approved"
    assert s.summary.handler_outcomes == ["started", "duplicate"]


def test_the_promotion_deployed_the_batch_pipeline_on_the_manifests_archive(
    batch_story: Any,
) -> None:
    s = batch_story.story
    sm = s.client("sagemaker")
    for environment in ("stage", "prod"):
        manifest = s.manifests[environment]
        pipeline = batch_story.batch_pipeline(environment)
        definition = json.loads(
            sm.describe_pipeline(PipelineName=pipeline.name)["PipelineDefinition"]
        )
        (step,) = definition["Steps"]
        (archive,) = [
            i["S3Input"]["S3Uri"]
            for i in step["Arguments"]["ProcessingInputs"]
            if i["InputName"] == "model"
        ]
        assert archive == manifest.model_data_url
        assert s.history().current(environment).manifest == manifest
    # The batch model has no endpoint anywhere; the first model's stacks were not deployed by it.
    names = {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    assert not any(n.startswith(batch_story.name) for n in names)


def test_the_nightly_run_scored_every_held_out_row_and_monitoring_read_its_captures(
    batch_story: Any,
) -> None:
    held_out = len(batch_story.story.test_rows())
    assert batch_story.batch.report["scored"] == held_out
    assert batch_story.drift["dataset"]["drift_share"] >= 0.0
    (window,) = [
        w for w in batch_story.quality["windows"] if w["start"] == batch_story.night.isoformat()
    ]
    assert window["labelled"] == held_out
    assert window["metrics"]["auc"] > batch_story.config.monitoring.min_auc


def test_the_inventory_lists_both_models_with_what_serves_where(portfolio_story_run: Any) -> None:
    first, (story,) = portfolio_story_run
    data = json.loads((first.work_dir / "inventory.json").read_text())
    models = {m["model"]: m for m in data["models"]}
    assert set(models) == {first.config.model.name, story.name}
    batch = models[story.name]
    assert batch["serving"] == "batch"
    assert {s["environment"]: s["version"] for s in batch["serving_now"]} == {"stage": 1, "prod": 1}
    assert batch["last_validation"]["validator"].endswith("dana-validation")
    assert (first.work_dir / "inventory.csv").read_text().count("\n") == 3
    assert story.paths["validation report"].read_text().count("Approved") >= 1


@pytest.mark.parametrize("environment", ["dev", "stage", "prod"])
def test_verify_of_the_batch_model_passes_against_the_world_it_leaves(
    batch_story: Any,
    config_path: Any,
    environment: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`finmlops verify --model credit-scoring`: its own stacks and the platform's. In stage and
    prod its batch pipeline on an ENABLED schedule, scoring with the recorded version's archive,
    in place of an endpoint."""
    from finmlops.cli import main
    from finmlops.emulator.world.provision import verify_arguments

    arguments = verify_arguments(batch_story.story.w, config_path)[environment]
    assert arguments[arguments.index("--model") + 1] == batch_story.config.model.name
    code = main([*arguments, "--json"])
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert not failed, json.dumps(failed, indent=1)
    assert code == 0
    seams = {c["seam"] for c in report["checks"]}
    if environment != "dev":
        assert {"batch pipeline", "served version", "monitoring schedule"} <= seams
        assert "endpoint" not in seams
