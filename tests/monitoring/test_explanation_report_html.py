"""The explanation-drift page as a template: verdict against both thresholds, each feature's
attribution and rank in the baseline and the window, moved ranks marked, escaped, byte-stable."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from finmlops.monitoring.report import explanation_html


def _data(drifted: bool = True) -> dict[str, Any]:
    return {
        "check": "explanation drift (feature attribution)",
        "evaluated": True, "reason": "", "drifted": drifted,
        "ndcg": 0.8123, "attribution_shift": 0.2311,
        "thresholds": {"min_ndcg": 0.9, "max_attribution_shift": 0.2},
        "window": {"start": "2026-11-28T10:00:00Z", "end": "2026-11-28T11:00:00Z", "rows": 500,
                   "bad_records": 0},
        "baseline_profile": {"rows": 1000, "model_sha256": "ab12", "method": "exact TreeSHAP"},
        "window_profile": {"rows": 480},
        "features": [
            {"feature": "int_rate", "baseline": 0.41, "baseline_share": 0.5, "baseline_rank": 1,
             "window": 0.2, "window_share": 0.25, "window_rank": 2},
            {"feature": "<term>", "baseline": 0.2, "baseline_share": 0.25, "baseline_rank": 2,
             "window": 0.4, "window_share": 0.5, "window_rank": 1},
            {"feature": "emp_length", "baseline": 0.2, "baseline_share": 0.25, "baseline_rank": 3,
             "window": None, "window_share": None, "window_rank": None},
        ],
        "violations": [{"constraint_check_type": "explanation_drift_check",
                        "description": "NDCG 0.8123 < 0.9"}],
    }  # fmt: skip


def _text(html: str) -> str:
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_explanation_page_states_the_verdict_against_both_thresholds_and_each_rank() -> None:
    page = explanation_html(_data())
    text = _text(page)
    assert (
        "EXPLANATION DRIFT: NDCG 0.8123 (violation below 0.90), attribution shift 0.2311 "
        "(violation above 0.20)." in text
    )
    assert "int_rate 0.4100 0.500 1 0.2000 0.250 2" in text
    assert "emp_length 0.2000 0.250 3 – – –" in text
    assert page.count('class="n hit"') == 2  # the two features whose rank moved
    assert "&lt;term&gt;" in page and "<term>" not in page
    assert "explanation_drift_check NDCG 0.8123 < 0.9" in text
    assert 'aria-label="Share of mean |SHAP|: baseline and window"' in page
    assert not re.search(r"<script|https?://", page)
    assert explanation_html(_data()) == page


def test_a_window_that_could_not_be_explained_says_not_evaluated() -> None:
    data = _data() | {"evaluated": False, "reason": "no rows", "window_profile": None}
    text = _text(explanation_html(data))
    assert "Not evaluated: no rows" in text
    assert "EXPLANATION DRIFT" not in text
