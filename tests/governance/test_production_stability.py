"""Score stability against production (issue 15: "PSI of scores, train vs test vs latest
production window"): the window's captured scores against the train scores, with the drift
engine's PSI, checked against an independent computation (pandas binning, scipy's relative
entropy); a window of another version is refused; no window is said plainly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from finmlops.emulator.aws.serving import capture_record
from finmlops.governance.production_stability import (
    ProductionWindow,
    ProductionWindowError,
    load_window,
    production_stability,
    production_text,
    read_window,
)
from finmlops.steps.evaluate import score_psi

ARN = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk/2"
START = datetime(2026, 12, 1, 10, tzinfo=UTC)


def _drift_report(arn: str = ARN, identity_ok: bool = True) -> dict[str, Any]:
    return {
        "expected_model": {"model_id": "credit-risk", "model_package_arn": arn},
        "dataset": {"baseline_identity_ok": identity_ok},
        "window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "rows": 0},
    }


def _captures(scores: np.ndarray, at: datetime) -> list[dict[str, Any]]:
    return [
        capture_record(
            "0.1,2,3", f"{s:.6f}", event_id=f"e{i}", inference_id=None,
            at=at + timedelta(seconds=i % 3000),
        )
        for i, s in enumerate(scores)
    ]  # fmt: skip


def _oracle_psi(edges: list[float], train: np.ndarray, window: np.ndarray) -> float:
    """Left-closed bins by pandas, PSI as the symmetrised relative entropy (scipy): with no
    empty bin, sum((q - p) ln(q / p)) = sum(rel_entr(q, p) + rel_entr(p, q))."""
    bins = [-np.inf, *edges, np.inf]
    p = pd.Series(pd.cut(train, bins, right=False)).value_counts(sort=False).to_numpy() / train.size
    q = (
        pd.Series(pd.cut(window, bins, right=False)).value_counts(sort=False).to_numpy()
        / window.size
    )
    assert (p > 0).all() and (q > 0).all()
    return float(np.sum(rel_entr(q, p) + rel_entr(p, q)))


def test_the_windows_psi_against_train_matches_an_independent_computation() -> None:
    rng = np.random.default_rng(7)
    train, test = rng.beta(2, 8, 6000), rng.beta(2, 8, 2000)
    shifted = rng.beta(3, 7, 1500)  # production drifted toward higher scores
    section = score_psi(train, test)
    captured = _captures(shifted, START)
    outside = _captures(rng.beta(2, 8, 40), START + timedelta(hours=2))
    window = read_window(_drift_report(), [*captured, *outside, {"_malformed": "x"}], ARN,
                         source="drift_report.json")  # fmt: skip

    found = production_stability(section, window)

    assert found["rows"] == 1500 and found["train_rows"] == 6000 and window.skipped == 41
    rounded = np.round(shifted, 6)  # the captures carry six decimals
    assert found["psi"] == pytest.approx(_oracle_psi(section["edges"], train, rounded), rel=1e-9)
    assert found["psi"] > 0.1 and found["reading"] != "stable"
    text = production_text({"score_stability": {"train_vs_test": section}}, window)
    assert "2026-12-01T10:00:00Z to 2026-12-01T11:00:00Z" in text and "1,500 scores" in text


def test_a_window_scored_like_train_reads_stable() -> None:
    rng = np.random.default_rng(8)
    train = rng.beta(2, 8, 6000)
    section = score_psi(train, rng.beta(2, 8, 2000))
    same = ProductionWindow("r", "s", "e", tuple(rng.beta(2, 8, 3000)), 0)
    found = production_stability(section, same)
    assert found["psi"] < 0.1 and found["reading"] == "stable"


def test_a_window_of_another_version_or_baseline_is_refused_naming_the_field() -> None:
    other = ARN.replace("/2", "/1")
    with pytest.raises(ProductionWindowError, match=r"expected_model.model_package_arn is .*/1"):
        read_window(_drift_report(arn=other), [], ARN, source="r.json")
    with pytest.raises(ProductionWindowError, match=r"dataset.baseline_identity_ok"):
        read_window(_drift_report(identity_ok=False), [], ARN, source="r.json")


def test_no_window_is_said_plainly() -> None:
    assert production_text({}, None).startswith("no production window: no monitoring output")


def test_files_are_read_as_monitoring_writes_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    report = tmp_path / "drift_report.json"
    report.write_text(json.dumps(_drift_report()))
    captures = tmp_path / "capture" / "AllTraffic" / "2026" / "12" / "01" / "10"
    captures.mkdir(parents=True)
    lines = _captures(rng.beta(2, 8, 50), START)
    (captures / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    window = load_window(report, tmp_path / "capture", ARN)
    assert len(window.scores) == 50 and window.skipped == 0
    with pytest.raises(ProductionWindowError, match="no captured requests"):
        load_window(report, tmp_path / "empty", ARN)
