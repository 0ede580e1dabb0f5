"""The whole model card goes into the registry at registration (ADR 0032): the Evidence step
writes it as the RegisterModel step sends it, checked offline against what CreateModelPackage
accepts (SageMaker API reference `API_ModelPackageModelCard`, and botocore's service model of
it): at most 100,000 characters, the model package model card schema (no
`model_package_details`; `model_overview` of `model_creator` and `model_artifact` only), a
status of the enumeration."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from finmlops.config import Config
from finmlops.governance import evidence_step
from finmlops.governance.bundle import EvidenceBundle
from finmlops.governance.evidence import (
    MODEL_CARD_FILE,
    REGISTRY_CARD_CONTENT,
    REGISTRY_CARD_FILE,
    REGISTRY_CARD_STATUS,
    write_bundle,
)
from finmlops.governance.model_card import card_problems, registry_card_content

REASONS: dict[str, Any] = {
    "coverage": 0.97, "low_coverage": False, "covered_decisions": 97, "adverse_decisions": 100,
    "cutoff": 0.5, "top_k": 4, "min_coverage": 0.95, "default_text": "other factors",
    "features_without_text": [], "texts": {"int_rate": "Interest rate on the loan"},
    "principal_reason_counts": {"int_rate": 80, "annual_inc": 40},
}  # fmt: skip


def _shape() -> Any:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.shape_for("ModelPackageModelCard")


@pytest.fixture(scope="module")
def written(
    config: Config, complete_bundle: EvidenceBundle, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("evidence")
    write_bundle(config, replace(complete_bundle, reasons=REASONS), out)
    return json.loads((out / REGISTRY_CARD_FILE).read_text(encoding="utf-8")), out


def test_the_registry_card_fits_create_model_package(written: tuple[dict[str, Any], Path]) -> None:
    document, out = written
    content, status = document[REGISTRY_CARD_CONTENT], document[REGISTRY_CARD_STATUS]
    shape = _shape()
    assert (
        isinstance(content, str)
        and len(content) <= shape.members["ModelCardContent"].metadata["max"]
    )
    assert status in shape.members["ModelCardStatus"].enum
    card = json.loads(content)
    assert card_problems(card) == []
    assert "model_package_details" not in card
    assert set(card.get("model_overview") or {}) <= {"model_creator", "model_artifact"}
    # The same card as the evidence file, compact.
    assert card == json.loads((out / MODEL_CARD_FILE).read_text(encoding="utf-8"))


def test_the_registry_card_carries_use_limits_data_metrics_fairness_explanation_and_champion(
    config: Config, written: tuple[dict[str, Any], Path]
) -> None:
    card = json.loads(written[0][REGISTRY_CARD_CONTENT])
    assert card["intended_uses"]["risk_rating"] == "High"
    assert card["intended_uses"].get("intended_uses")
    assert card["additional_information"].get("caveats_and_recommendations")
    assert card["additional_information"].get("ethical_considerations")
    names = " | ".join(e["name"] for e in card["evaluation_details"])
    groups = " | ".join(
        g["name"] for e in card["evaluation_details"] for g in e.get("metric_groups") or []
    )
    assert "training data quality" in names  # the data
    assert "reason codes" in names  # the principal reasons and their coverage
    for expected in ("champion and challenger", "explanation: mean |SHAP|", "fairness"):
        assert expected in groups, (expected, groups)
    metrics = {
        m["name"] for e in card["evaluation_details"] for g in e.get("metric_groups") or []
        for m in g.get("metric_data") or []
    }  # fmt: skip
    assert {"auc", "reason_code_coverage"} <= metrics


def test_a_card_the_registry_would_refuse_is_not_registered_and_the_step_says_why(
    tmp_path: Path,
    step_config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    too_long = {
        "additional_information": {"custom_details": {f"k{i}": "x" * 1000 for i in range(120)}}
    }
    with pytest.raises(ValueError, match=r"ModelCardContent: .* above the 100,000"):
        registry_card_content(too_long)
    with pytest.raises(ValueError, match="model_package_details: not a model package model card"):
        registry_card_content({"model_package_details": {}})

    def refuse(*_: Any, **__: Any) -> Any:
        raise ValueError("the model card does not fit the registry:\n  ModelCardContent: ...")

    monkeypatch.setattr(evidence_step, "write_bundle", refuse)
    monkeypatch.setattr(evidence_step, "bundle_from_folders", lambda **_: EvidenceBundle())
    assert evidence_step.main(["--config", str(step_config), "--output", str(tmp_path)]) == 2
    assert "does not fit the registry" in capsys.readouterr().err
    assert not (tmp_path / REGISTRY_CARD_FILE).exists()
