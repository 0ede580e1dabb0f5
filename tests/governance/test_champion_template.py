"""The champion and challenger section inside the rendered validation report (the template
block): placed after the performance, with its chart; tests/governance/test_champion_section.py
holds the section's own figures."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from html import unescape
from typing import Any

from finmlops.config import Config
from finmlops.governance.bundle import EvidenceBundle
from finmlops.governance.report import render_validation_report

CHAMPION = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/1"
SECTION: dict[str, Any] = {
    "status": "compared", "model_package_arn": CHAMPION, "rows": 1971.0, "resamples": 1000,
    "seed": 7, "confidence_level": 0.95, "auc_drop": 0.0123,
    "challenger": {"auc": 0.7102, "ks": 0.3578}, "champion": {"auc": 0.7225, "ks": 0.3611},
    "difference": {"auc": {"value": -0.0123, "lower": -0.031, "upper": 0.0064},
                   "ks": {"value": -0.0033, "lower": -0.041, "upper": 0.035}},
}  # fmt: skip


def _section(html: str) -> str:
    match = re.search(r'<section id="champion"><h2>(\d+)\. (.*?)</h2>(.*?)</section>', html, re.S)
    assert match, "no champion section"
    body = re.sub(r"<(svg)\b.*?</\1>", " ", match.group(3), flags=re.S)
    return match.group(2) + " " + re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def _with(bundle: EvidenceBundle, section: Any) -> EvidenceBundle:
    evaluation = copy.deepcopy(dict(bundle.evaluation or {}))
    evaluation["champion"] = section
    return replace(bundle, evaluation=evaluation)


def test_challenger_beside_champion_with_difference_and_interval(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    html = render_validation_report(config, _with(complete_bundle, SECTION))
    text = _section(html)
    assert text.startswith("Champion and challenger")
    assert f"The champion {CHAMPION}" in text and "same 1,971 test rows" in text
    assert "95% paired percentile bootstrap intervals (1,000 resamples" in text
    assert "AUC 0.7102 0.7225 -0.0123 [-0.0310, 0.0064]" in text
    assert "KS 0.3578 0.3611 -0.0033 [-0.0410, 0.0350]" in text
    assert "The gate reads the AUC lost: 0.0123." in text
    assert 'aria-label="This version minus the champion (95% intervals)"' in html
    assert (
        html.index('id="performance"') < html.index('id="champion"') < html.index('id="fairness"')
    )


def test_a_first_version_says_there_was_no_champion(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    html = render_validation_report(config, _with(complete_bundle, {"status": "no_champion"}))
    assert "No champion: no version served in prod" in _section(html)


def test_without_a_comparison_the_section_says_it_is_missing(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    evaluation = {k: v for k, v in (complete_bundle.evaluation or {}).items() if k != "champion"}
    html = render_validation_report(config, replace(complete_bundle, evaluation=evaluation))
    assert "Missing: champion section of evaluation.json" in _section(html)
