"""The drift report says how its baseline is bound to the deployed version: no false "not
verified" for what a baseline built before registration cannot know, a real one for what it
could have recorded and did not."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pandas as pd

from finmlops.monitoring.baseline import ModelIdentity, build_baseline
from finmlops.monitoring.drift import run_drift
from finmlops.monitoring.report import render_html

NUMERIC = ("income", "rate", "utilisation", "delinquencies")  # the conftest table's columns
CATEGORICAL = ("grade", "term")

ARN = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/7"
FINGERPRINT = "sha256:" + "ab" * 32
DEPLOYED = ModelIdentity("credit-risk", "7", ARN, FINGERPRINT)


def _text(html: str) -> str:
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_a_pipeline_baseline_is_not_called_unverified_for_the_version_it_predates(
    reference: pd.DataFrame, table: Callable[[int, int], pd.DataFrame]
) -> None:
    # What the model build's baseline step records: the model and the data, no version yet.
    baseline = build_baseline(
        reference, NUMERIC, CATEGORICAL,
        identity=ModelIdentity(model_id="credit-risk", data_fingerprint=FINGERPRINT),
    ).prepare()  # fmt: skip
    report = run_drift(baseline, table(2_000, 9), expected_identity=DEPLOYED)
    assert not [m for m in report.messages if "not verified" in m]
    assert not any("identity" in v.constraint_check_type for v in report.violations)
    text = _text(render_html(report))
    assert "Data drift report: credit-risk v7" in text
    assert f"Baseline of version 7 ( {ARN} )" in text
    assert f"records and matches model id credit-risk; data fingerprint {FINGERPRINT}" in text
    assert f"verified its content id {report.baseline_id} on load" in text
    assert "not verified" not in text


def test_a_baseline_that_could_have_recorded_the_data_and_did_not_is_still_flagged(
    reference: pd.DataFrame, table: Callable[[int, int], pd.DataFrame]
) -> None:
    baseline = build_baseline(
        reference, NUMERIC, CATEGORICAL, identity=ModelIdentity(model_id="credit-risk")
    ).prepare()
    report = run_drift(baseline, table(2_000, 9), expected_identity=DEPLOYED)
    assert "the baseline does not record data_fingerprint: not verified" in report.messages
