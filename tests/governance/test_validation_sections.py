"""The validation report's validator sections and its consistency: the registered version filled
in after registration, one calibration error everywhere, counts printed as counts, intervals,
score stability and the model's own explanation."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from typing import Any

import pytest

from finmlops.config import Config
from finmlops.governance.bundle import EvidenceBundle, missing_evidence
from finmlops.governance.model_card import build_model_card
from finmlops.governance.report import (
    BANNER_INCOMPLETE,
    record_registration,
    render_validation_report,
)

ARN = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/3"
AT = "2026-12-07T10:00:00Z"


def _text(html: str) -> str:
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert match, anchor
    return _text(match.group(1))


@pytest.fixture(scope="module")
def stored_html(config: Config, complete_bundle: EvidenceBundle) -> str:
    """The report as the evidence step stores it: before the version exists."""
    return render_validation_report(config, complete_bundle, generated_at=AT)


def test_report_written_before_registration_says_so(stored_html: str) -> None:
    assert "version not registered yet" in _text(stored_html)


def test_registration_fills_the_version_exactly_as_rendering_with_it(
    config: Config, complete_bundle: EvidenceBundle, stored_html: str
) -> None:
    registered = replace(
        complete_bundle,
        lineage=replace(complete_bundle.lineage, model_package_arn=ARN, created_by="alice"),
    )
    expected = render_validation_report(config, registered, generated_at=AT)
    filled = record_registration(stored_html, ARN, registered_by="alice")
    assert filled == expected
    assert "not registered yet" not in _text(filled)
    # Filling twice is harmless; another version's ARN is refused, the text unchanged.
    assert record_registration(filled, ARN) == filled
    with pytest.raises(ValueError, match="another version"):
        record_registration(filled, ARN.replace("/3", "/4"))


def test_report_shows_the_one_calibration_error_of_evaluation_json(
    config: Config, complete_bundle: EvidenceBundle, stored_html: str
) -> None:
    metrics: Any = (complete_bundle.evaluation or {})["binary_classification_metrics"]
    ece = metrics["expected_calibration_error"]["value"]
    section = _section(stored_html, "performance")
    assert re.findall(r"expected calibration error (\S+)", section) == [f"{ece:.4f}"]
    card = build_model_card(
        config, evaluation=complete_bundle.evaluation, data_quality=complete_bundle.data_quality,
        training_image="img", hyperparameters={}, model_package_arn=None,
    )  # fmt: skip
    values = [
        m["value"]
        for d in card["evaluation_details"]
        for g in d.get("metric_groups", [])
        for m in g["metric_data"]
        if m["name"] == "expected_calibration_error"
    ]
    assert values == [ece]


def test_counts_read_as_counts_and_integer_features_as_integers(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    statistics: Any = {
        "dataset": {"item_count": 6407.0},
        "features": [
            {"name": "funded_amnt", "inferred_type": "Integral",
             "numerical_statistics": {"common": {"num_present": 6407.0, "num_missing": 0.0},
                                      "mean": 15625.9, "std_dev": 8898.3, "min": 1000.0,
                                      "max": 40000.0}},
            {"name": "sub_grade", "inferred_type": "String",
             "string_statistics": {"common": {"num_present": 6407.0, "num_missing": 0.0},
                                   "distinct_count": 35.0}},
        ],
    }  # fmt: skip
    html = render_validation_report(
        config, replace(complete_bundle, baseline_statistics=statistics), generated_at=AT
    )
    section = _section(html, "data-quality")
    assert "35 distinct values" in section
    assert "min 1,000, max 40,000" in section
    assert "6,407 baseline rows" in section
    assert ".0000 distinct" not in section


def test_report_shows_intervals_for_auc_ks_and_every_gated_fairness_figure(
    complete_bundle: EvidenceBundle, stored_html: str
) -> None:
    spread: Any = (complete_bundle.evaluation or {})["uncertainty"]
    performance = _section(stored_html, "performance")
    auc = spread["auc"]
    assert f"[{auc['lower']:.4f}, {auc['upper']:.4f}]" in performance
    assert "percentile bootstrap" in performance
    assert f"{spread['resamples']:,} resamples, seed {spread['seed']}" in performance
    fairness = _section(stored_html, "fairness")
    worst = spread["worst_disparate_impact"]
    assert f"interval [{worst['lower']:.4f}, {worst['upper']:.4f}]" in fairness
    for figures in spread["groups"].values():
        low = figures["disparate_impact"]["lower"]
        assert f"[{low:.4f}," in fairness


def test_report_shows_score_psi_and_says_production_is_not_known_at_build_time(
    complete_bundle: EvidenceBundle, stored_html: str
) -> None:
    psi: Any = (complete_bundle.evaluation or {})["score_stability"]["train_vs_test"]
    section = _section(stored_html, "stability")
    assert f"Train vs test PSI {psi['psi']:.4f}" in section
    assert "not available at build time" in section


def test_report_shows_the_models_own_shap_importance_and_dependence(
    config: Config, complete_bundle: EvidenceBundle, stored_html: str
) -> None:
    explanation: Any = (complete_bundle.evaluation or {})["explanation"]
    section = _section(stored_html, "explanation")
    top = explanation["importance"][0]
    assert f"1 {top['feature']} {top['mean_abs_shap']:.4f}" in section
    assert f"Dependence: {top['feature']}" in section
    # Named features, categorical codes mapped back to the encoder's categories.
    names = {r["feature"] for r in explanation["importance"]}
    assert names == {*config.model.numeric_features, *config.model.categorical_features}
    categorical = [
        d for d in explanation["dependence"] if d["feature"] in config.model.categorical_features
    ]
    for item in categorical:
        assert all(not str(b["value"]).replace(".", "").isdigit() for b in item["by_value"])


def test_an_evaluation_without_the_validator_sections_is_incomplete(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    evaluation = {
        k: v
        for k, v in (complete_bundle.evaluation or {}).items()
        if k not in {"uncertainty", "score_stability", "explanation"}
    }
    bundle = replace(complete_bundle, evaluation=evaluation)
    missing = missing_evidence(config, bundle)
    assert "confidence intervals (evaluation.json uncertainty)" in missing
    assert "explanation: SHAP importance (evaluation.json explanation)" in missing
    html = render_validation_report(config, bundle, generated_at=AT)
    assert BANNER_INCOMPLETE in html
    assert "no SHAP importance" in _section(html, "explanation")
