"""The quality monitor's second AUC rule: a window's AUC against the deployed version's
validated AUC, with DeLong's standard error telling a real drop from a small window's chance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from finmlops.monitoring import entrypoint
from finmlops.monitoring.quality import AucDropRule, auc_delong, compute_model_quality

START = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _pairwise_delong(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from the definition: psi(x, y) = 1, 1/2, 0 for every pair."""
    positive, negative = score[y == 1], score[y == 0]
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    variance = v10.var(ddof=1) / positive.size + v01.var(ddof=1) / negative.size
    return float(psi.mean()), float(np.sqrt(variance))


def _scored(rng: np.random.Generator, n: int, separation: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores whose AUC grows with `separation` (binormal, 10 % positives)."""
    y = (rng.random(n) < 0.1).astype(np.int64)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + separation * y - 2)))
    return y, score


def _records(capture: Any, y: np.ndarray, score: np.ndarray) -> tuple[list[Any], list[Any]]:
    captures, truth = [], []
    for i, (label, value) in enumerate(zip(y, score, strict=True)):
        captures.append(
            capture(
                [1.0], event_id=f"e{i}", time=f"2026-11-28T10:{i % 60:02d}:00Z", score=float(value)
            )
        )
        truth.append(
            {
                "groundTruthData": {"data": str(int(label)), "encoding": "CSV"},
                "eventMetadata": {"eventId": f"e{i}"},
                "eventVersion": "0",
            }
        )
    return captures, truth


def test_delong_equals_its_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.3).astype(np.int64)
    score = np.round(rng.random(300) + 0.3 * y, 1)  # rounded: many ties across classes

    auc, standard_error = auc_delong(y, score)

    expected_auc, expected_se = _pairwise_delong(y, score)
    assert auc == pytest.approx(expected_auc, abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert standard_error == pytest.approx(expected_se, rel=1e-10)


def test_delong_standard_error_agrees_with_the_spread_of_scipys_bootstrap() -> None:
    rng = np.random.default_rng(11)
    y, score = _scored(rng, 3000, 1.0)

    _, standard_error = auc_delong(y, score)

    resampled = stats.bootstrap(
        (y, score),
        roc_auc_score,
        paired=True,
        vectorized=False,
        n_resamples=400,
        method="percentile",
        random_state=np.random.default_rng(5),
    )
    assert standard_error == pytest.approx(resampled.standard_error, rel=0.15)


def test_delong_refuses_a_class_with_fewer_than_two_members() -> None:
    with pytest.raises(ValueError, match="1 positive"):
        auc_delong(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3]))


def test_a_window_measurably_below_the_validated_auc_is_a_violation_naming_the_drop(
    capture: Any,
) -> None:
    y, score = _scored(np.random.default_rng(1), 4000, 0.8)
    captures, truth = _records(capture, y, score)
    window_auc = roc_auc_score(y, score)
    rule = AucDropRule(validated_auc=window_auc + 0.08, max_drop=0.02)

    report = compute_model_quality(captures, truth, 0.5, min_auc=0.5, auc_drop=rule)

    hour, pooled = [v for v in report.violations if v["metric_name"] == "auc_drop"]
    assert hour["constraint_check_type"] == "GreaterThanThreshold"
    assert "window 2026-11-28T10:00:00+00:00" in hour["description"]
    assert "0.0800 below the version's validated" in hour["description"]
    assert "window all windows" in pooled["description"]
    window = report.windows[0].metrics
    assert window["auc_drop_lower_bound"] == pytest.approx(
        0.08 - stats.norm.ppf(0.95) * window["auc_standard_error"]
    )
    assert report.to_dict()["auc_drop_rule"] == rule.to_dict()
    # The AUC floor alone would not have seen it.
    assert not [v for v in report.violations if v["metric_name"] == "auc"]


def test_the_same_drop_on_a_small_window_is_within_noise_and_not_a_violation(
    capture: Any,
) -> None:
    y, score = _scored(np.random.default_rng(1), 150, 0.8)
    captures, truth = _records(capture, y, score)
    rule = AucDropRule(validated_auc=roc_auc_score(y, score) + 0.08, max_drop=0.02)

    report = compute_model_quality(captures, truth, 0.5, auc_drop=rule)

    assert report.windows[0].metrics["auc_drop_lower_bound"] <= rule.max_drop
    assert report.violations == ()


def test_a_drop_within_the_tolerance_is_not_a_violation(capture: Any) -> None:
    y, score = _scored(np.random.default_rng(2), 6000, 0.8)
    captures, truth = _records(capture, y, score)
    rule = AucDropRule(validated_auc=roc_auc_score(y, score) + 0.01, max_drop=0.02)

    report = compute_model_quality(captures, truth, 0.5, auc_drop=rule)

    assert report.violations == ()


def test_a_window_with_one_positive_says_the_drop_was_not_judged(capture: Any) -> None:
    y = np.array([1] + [0] * 30)
    score = np.linspace(0.9, 0.1, 31)
    captures, truth = _records(capture, y, score)

    report = compute_model_quality(
        captures, truth, 0.5, auc_drop=AucDropRule(validated_auc=0.9, max_drop=0.02)
    )

    assert report.windows[0].metrics["auc"] == 1.0
    assert any("AUC drop not judged" in note for note in report.windows[0].notes)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"validated_auc": 1.3, "max_drop": 0.02}, "validated AUC 1.3"),
        ({"validated_auc": 0.7, "max_drop": -0.1}, "max AUC drop -0.1"),
        ({"validated_auc": 0.7, "max_drop": 0.02, "confidence": 1.0}, "confidence 1.0"),
    ],
)
def test_an_impossible_rule_is_refused_by_name(fields: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AucDropRule(**fields)


def _quality_folders(capture: Any, tmp_path: Path) -> tuple[Path, Path]:
    y, score = _scored(np.random.default_rng(1), 800, 0.8)
    captures, truth = _records(capture, y, score)
    for name, records in (("capture", captures), ("truth", truth)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path / "capture", tmp_path / "truth"


def test_the_quality_command_judges_the_drop_from_its_arguments(
    capture: Any, tmp_path: Path
) -> None:
    captures, truth = _quality_folders(capture, tmp_path)
    arguments = ["quality", "--captures", str(captures), "--ground-truth", str(truth)]
    arguments += ["--output-path", str(tmp_path / "out"), "--cutoff", "0.5"]

    code = entrypoint.main([*arguments, "--validated-auc", "0.99", "--max-auc-drop", "0.02"], {})

    assert code == 0
    report = json.loads((tmp_path / "out" / "model_quality.json").read_text())
    assert report["auc_drop_rule"] == {"validated_auc": 0.99, "max_drop": 0.02, "confidence": 0.95}
    assert [v["metric_name"] for v in report["violations"]].count("auc_drop") == 2  # hour, all


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-auc-drop", "0.02"], "--max-auc-drop needs --validated-auc"),
        (["--validated-auc", "0.8"], "--validated-auc needs --max-auc-drop"),
        (["--validated-auc", "1.4", "--max-auc-drop", "0.02"], "validated AUC 1.4"),
    ],
)
def test_the_quality_command_refuses_half_a_rule_and_writes_nothing(
    capture: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    captures, truth = _quality_folders(capture, tmp_path)
    arguments = ["quality", "--captures", str(captures), "--ground-truth", str(truth)]
    arguments += ["--output-path", str(tmp_path / "out"), "--cutoff", "0.5"]

    assert entrypoint.main([*arguments, *extra], {}) == 2

    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
