"""The model card: SageMaker's model package card schema, filled from the config and the build."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from finmlops.config import Config
from finmlops.contracts import Meta
from finmlops.governance.bundle import EvidenceBundle, gate_rows
from finmlops.governance.model_card import (
    REGISTRATION_CARD_STATUS,
    build_model_card,
    card_problems,
    registration_card,
)
from finmlops.modelbuild import LocalBuild

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

SECTIONS = (
    "model_overview",
    "intended_uses",
    "business_details",
    "training_details",
    "evaluation_details",
    "additional_information",
)


def _card(config: Config, build: LocalBuild, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "evaluation": build.evaluation,
        "data_quality": build.data_quality,
        "training_image": IMAGE,
        "hyperparameters": config.model.hyperparameters.as_sagemaker(),
        "model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/3",
    }
    arguments.update(overrides)
    return build_model_card(config, **arguments)


def _with_tier(config: Config, tier: str) -> Config:
    governance = config.governance.model_copy(update={"risk_tier": tier})
    return config.model_copy(update={"governance": governance})


def _metrics(card: dict[str, Any], group: str) -> dict[str, Any]:
    for evaluation in card["evaluation_details"]:
        for metric_group in evaluation["metric_groups"]:
            if metric_group["name"] == group:
                return {m["name"]: m for m in metric_group["metric_data"]}
    raise AssertionError(f"no metric group {group!r}")


def test_version_card_has_every_section_and_fits_the_schema(
    config: Config, local_build: LocalBuild
) -> None:
    card = _card(config, local_build)
    assert set(card) == set(SECTIONS)
    assert card_problems(card) == []
    # The SDK's own shapes of the model card content accept it too.
    from sagemaker.core.shapes.model_card_shapes import ModelCardContent

    parsed = ModelCardContent.model_validate(card)
    assert parsed.intended_uses is not None
    assert parsed.intended_uses.risk_rating is not None
    assert parsed.intended_uses.risk_rating.value == "High"


@pytest.mark.parametrize(
    ("tier", "rating"), [("high", "High"), ("medium", "Medium"), ("low", "Low")]
)
def test_risk_rating_follows_the_inventory_risk_tier(
    config: Config, local_build: LocalBuild, tier: str, rating: str
) -> None:
    card = _card(_with_tier(config, tier), local_build)
    uses = card["intended_uses"]
    assert uses["risk_rating"] == rating
    assert uses["explanations_for_risk_rating"].startswith(f"Tier {tier}")
    assert (
        json.loads(registration_card(_with_tier(config, tier), IMAGE))["intended_uses"][
            "risk_rating"
        ]
        == rating
    )


def test_card_names_owner_validator_and_intended_use(
    config: Config, local_build: LocalBuild
) -> None:
    card = _card(config, local_build)
    g = config.governance
    details = card["additional_information"]["custom_details"]
    assert details["owner"] == g.owner
    assert details["validator"] == g.validator
    assert details["risk_tier"] == "high"
    assert card["model_overview"]["model_creator"] == g.owner
    assert g.validator in card["business_details"]["business_stakeholders"]
    assert card["intended_uses"]["intended_uses"] == g.intended_use
    assert card["additional_information"]["caveats_and_recommendations"] == g.limitations


def test_card_carries_the_evaluation_figures_as_numbers(
    config: Config, local_build: LocalBuild
) -> None:
    card = _card(config, local_build)
    metrics = local_build.evaluation["binary_classification_metrics"]
    discrimination = _metrics(card, "discrimination")
    assert discrimination["auc"] == {
        "name": "auc",
        "type": "number",
        "value": metrics["auc"]["value"],
        "notes": "area under the ROC curve",
    }
    assert discrimination["ks"]["value"] == metrics["ks"]["value"]
    recorded = local_build.evaluation["fairness"]
    fairness = _metrics(card, "fairness: worst protected group")
    assert fairness["disparate_impact"]["value"] == recorded["disparate_impact"]
    assert '"emp_length"' in fairness["disparate_impact"]["notes"]
    per_group = _metrics(card, "fairness by protected group")
    (group,) = recorded["groups"]
    assert per_group["emp_length: disparate_impact"]["value"] == group["disparate_impact"]
    assert (
        'emp_length in ["emp_lt_1", "emp_unk"]'
        in per_group["emp_length: disparate_impact"]["notes"]
    )
    by_value = _metrics(card, "fairness by value: favourable rate")
    (attribute,) = recorded["attributes"]
    assert set(by_value) == {f"emp_length: {row['group']}" for row in attribute["by_value"]}
    assert "protected group" in by_value["emp_length: emp_unk"]["notes"]
    data_quality = _metrics(card, "data quality")
    assert data_quality["rows"]["value"] == 9857


def test_card_records_gate_results_with_thresholds(
    config: Config, local_build: LocalBuild, complete_bundle: EvidenceBundle
) -> None:
    card = _card(config, local_build, gates=gate_rows(config, complete_bundle))
    gates = _metrics(card, "release gates")
    assert gates["min-auc"]["notes"] == ">= 0.65: pass"
    assert gates["min-rows"]["value"] == 9857.0


def test_card_describes_the_training_job(config: Config, local_build: LocalBuild) -> None:
    arn = "arn:aws:sagemaker:us-east-1:111111111111:training-job/credit-risk-train-1"
    card = _card(
        config,
        local_build,
        training_job_arn=arn,
        model_artifact="s3://b/model.tar.gz",
        git_commit=COMMIT,
    )
    job = card["training_details"]["training_job_details"]
    assert job["training_arn"] == arn
    assert job["training_environment"] == {"container_image": [IMAGE]}
    assert {"name": "max_depth", "value": "2"} in job["hyper_parameters"]
    assert [h["name"] for h in job["hyper_parameters"]] == sorted(
        config.model.hyperparameters.as_sagemaker()
    )
    assert job["training_datasets"] == ["package:lending_club.csv"]
    assert card["model_overview"]["model_artifact"] == ["s3://b/model.tar.gz"]
    assert card["additional_information"]["custom_details"]["git_commit"] == COMMIT


def test_card_without_evaluation_says_its_evidence_is_incomplete(
    config: Config, local_build: LocalBuild
) -> None:
    card = _card(config, local_build, evaluation=None)
    assert card_problems(card) == []
    assert [e["name"] for e in card["evaluation_details"]] == ["training data quality"]
    status = card["additional_information"]["custom_details"]["evidence_status"]
    assert status.startswith("INCOMPLETE")
    assert "evaluation.json" in status


def test_registration_card_fits_create_model_package(config: Config) -> None:
    content = registration_card(config, IMAGE)
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("ModelPackageModelCard")
    )
    assert len(content) <= shape.members["ModelCardContent"].metadata["max"]
    assert REGISTRATION_CARD_STATUS in shape.members["ModelCardStatus"].enum
    card = json.loads(content)
    assert card_problems(card) == []
    # Static: nothing of a particular build, so the pipeline definition stays the same per config.
    assert "evaluation_details" not in card
    assert card["training_details"]["training_job_details"]["training_environment"] == {
        "container_image": [IMAGE]
    }
    assert Meta.MODEL_CARD in card["additional_information"]["custom_details"]["evidence"]
    assert registration_card(config, IMAGE) == content


def test_registration_card_refuses_text_that_cloudformation_would_substitute(
    config: Config,
) -> None:
    model = config.model.model_copy(update={"description": "Score ${Applicant}"})
    with pytest.raises(ValueError, match="Fn::Sub"):
        registration_card(config.model_copy(update={"model": model}), IMAGE)


def test_card_problems_names_each_departure_from_the_schema() -> None:
    card = {
        "model_overview": {"model_creator": "me", "model_owner": "not in the package schema"},
        "intended_uses": {"risk_rating": "Severe"},
        "model_package_details": {},
        "evaluation_details": [
            {
                "name": "",
                "metric_groups": [
                    {
                        "name": "g",
                        "metric_data": [{"name": "auc", "type": "number", "value": "high"}],
                    }
                ],
            }
        ],
    }
    problems = card_problems(card)
    assert "model_package_details: not a model package model card section" in problems
    assert "model_overview.model_owner: not in the schema" in problems
    assert any(p.startswith("intended_uses.risk_rating: 'Severe'") for p in problems)
    assert "evaluation_details[0].name: required" in problems
    assert any("a number metric needs a numeric value" in p for p in problems)
