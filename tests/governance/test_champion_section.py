"""The champion-and-challenger section of the validation report and the model card's metric
group: both models side by side, the difference and its interval; a first version says none."""

from __future__ import annotations

import re
from typing import Any

from finmlops.governance.model_card import champion_metrics
from finmlops.governance.report import champion_section

ARN = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/1"
COMPARED: dict[str, Any] = {
    "champion": {
        "status": "compared", "model_package_arn": ARN, "rows": 1971,
        "challenger": {"auc": 0.7764, "ks": 0.4585, "worst_disparate_impact": 0.97},
        "champion": {"auc": 0.7784, "ks": 0.4601, "worst_disparate_impact": 0.99},
        "difference": {
            "auc": {"value": -0.0019, "lower": -0.0151, "upper": 0.0118, "standard_error": 0.007},
            "ks": {"value": -0.0016, "lower": -0.03, "upper": 0.02, "standard_error": 0.01},
        },
        "auc_drop": 0.0019, "confidence_level": 0.95, "resamples": 1000, "seed": 20260417,
    }
}  # fmt: skip


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_report_shows_both_models_the_difference_and_its_interval() -> None:
    text = _text(champion_section(COMPARED))

    assert ARN in text and "1,971 test rows" in text and "1,000 resamples" in text
    assert "AUC 0.7764 0.7784 -0.0019 [-0.0151, 0.0118]" in text
    assert "KS 0.4585 0.4601 -0.0016 [-0.0300, 0.0200]" in text
    # Fairness figures are points: their difference, no interval.
    assert "Disparate impact, worst group 0.9700 0.9900 -0.0200 n/a" in text
    assert "The gate reads the AUC lost: 0.0019" in text


def test_the_report_of_a_first_version_says_there_was_no_champion() -> None:
    none = {"champion": {"status": "none", "model_package_arn": "none", "auc_drop": 0.0}}
    assert "No champion: no version served in prod" in _text(champion_section(none))
    assert "Missing:" in champion_section({})


def test_the_model_card_carries_both_aucs_and_the_difference_interval() -> None:
    metrics = {m["name"]: m for m in champion_metrics(COMPARED) if m}

    assert metrics["champion_auc"]["value"] == 0.7784
    assert metrics["challenger_auc"]["value"] == 0.7764
    assert metrics["auc_difference_lower"]["value"] == -0.0151
    assert metrics["auc_difference_upper"]["notes"] == "AUC: 95% paired bootstrap"
    assert ARN in metrics["champion_auc"]["notes"]
    first = champion_metrics({"champion": {"status": "none", "auc_drop": 0.0}})
    assert [m["name"] for m in first if m] == ["champion_auc_drop"]


def test_the_report_and_the_card_say_how_many_of_the_champions_training_rows_were_left_out() -> (
    None
):
    excluded = {"champion": {**COMPARED["champion"], "rows": 594, "test_rows": 1971,
                             "excluded_training_rows": 1377, "exclusion": "by row digest"}}  # fmt: skip
    text = _text(champion_section(excluded))
    assert "1,377 of the 1,971 test rows were among them, so 594 rows neither model" in text
    assert "594 test rows" in text
    notes = {m["name"]: m for m in champion_metrics(excluded) if m}["champion_auc"]["notes"]
    assert "same 594 test rows (1377 it was trained on left out)" in notes
    unknown = {"champion": {**COMPARED["champion"], "test_rows": 1971,
                            "excluded_training_rows": None,
                            "exclusion": "not done: no digests of the champion's training rows"}}  # fmt: skip
    assert "The champion's training rows: not done: no digests" in _text(champion_section(unknown))
