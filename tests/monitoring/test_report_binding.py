"""The drift report as a reader sees it: how its baseline is bound to the deployed version (no
false "not verified" for what a baseline built before registration cannot know, a real one for
what it could have recorded and did not), and encoded categories shown by their names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd

from finmlops.monitoring import baseline_step
from finmlops.monitoring.baseline import (
    ModelIdentity,
    build_baseline,
    load_baseline,
    save_baseline,
)
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


def _encoded(rows: int, seed: int) -> pd.DataFrame:
    """Training data as preprocess writes it: categoricals as the encoder's codes (floats)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "rate": rng.normal(12, 4, rows),
            "term": rng.choice([0.0, 1.0], rows, p=[0.7, 0.3]),
            "emp_length": rng.integers(0, 12, rows).astype(float),
        }
    )


NAMES = {
    "term": [" 36 months", " 60 months"],
    "emp_length": ["emp_1", "emp_10", "emp_2", "emp_3", "emp_4", "emp_5", "emp_6", "emp_7",
                   "emp_8", "emp_9", "emp_lt_1", "emp_unk"],
}  # fmt: skip


def test_drift_report_names_encoded_categories_and_survives_save_and_load(
    tmp_path: Path,
) -> None:
    baseline = build_baseline(
        _encoded(3_000, 1), ("rate",), ("term", "emp_length"),
        identity=ModelIdentity(model_id="credit-risk"), category_names=NAMES,
    )  # fmt: skip
    save_baseline(baseline, tmp_path / "b")
    loaded = load_baseline(tmp_path / "b").prepare()
    assert loaded.categorical["term"].labels == (" 36 months", " 60 months")
    report = run_drift(loaded, _encoded(1_000, 2))
    term = report.feature("term").distribution
    assert term["bins"][:2] == ["0", "1"]  # the values, for machines
    assert term["labels"][:2] == [" 36 months (code 0)", " 60 months (code 1)"]
    html = render_html(report)  # the bars' labels, in the inline SVG
    assert ">emp_lt_1 (code 10)<" in html
    assert "> 36 months (code 0)<" in html


def test_a_baseline_without_the_encoders_keeps_showing_the_values(tmp_path: Path) -> None:
    baseline = build_baseline(
        _encoded(3_000, 1), ("rate",), ("term",), identity=ModelIdentity(model_id="m")
    ).prepare()
    distribution = run_drift(baseline, _encoded(500, 3)).feature("term").distribution
    assert "labels" not in distribution
    assert distribution["bins"][:2] == ["0", "1"]


def test_baseline_step_reads_the_encoders_and_refuses_a_file_that_is_not_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    _encoded(2_000, 1).to_csv(tmp_path / "in" / "baseline.csv", index=False)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "encoders.json").write_text(json.dumps({"categorical": NAMES}))
    args = ["--input", str(tmp_path / "in"), "--numeric", "rate",
            "--categorical", "term,emp_length", "--model-id", "credit-risk"]  # fmt: skip
    code = baseline_step.main([*args, "--output", str(tmp_path / "out"),
                               "--encoders", str(tmp_path / "artifacts")])  # fmt: skip
    assert code == 0
    emp = load_baseline(tmp_path / "out").categorical["emp_length"]
    assert dict(zip(emp.categories, emp.labels, strict=True))["10"] == "emp_lt_1"
    (tmp_path / "bad.json").write_text("[1, 2]")
    code = baseline_step.main([*args, "--output", str(tmp_path / "out2"),
                               "--encoders", str(tmp_path / "bad.json")])  # fmt: skip
    assert code == 2
    assert not (tmp_path / "out2").exists()
