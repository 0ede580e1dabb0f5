"""A numeric feature whose reference values are all whole numbers is an integer feature.

Fractional values in its window are a data-type violation reported with their share; the
feature drifts only when its distribution moves (issue 16, item 4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finmlops.monitoring.baseline import Baseline, ModelIdentity, build_baseline
from finmlops.monitoring.drift import evaluate, run_drift
from finmlops.monitoring.readers import csv_chunks
from finmlops.monitoring.window import accumulate, load_partial, merge_partials, save_partial


def _amounts(rows: int, seed: int) -> pd.DataFrame:
    """Loan amounts in whole dollars (int64, as read_csv gives them) and a second feature."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": np.round(rng.normal(10_000, 2_000, rows)).astype(np.int64),
            "rate": rng.normal(12.0, 3.0, rows),
        }
    )


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline(
        _amounts(20_000, 1), ["amount", "rate"], [], identity=ModelIdentity("loans", "1")
    ).prepare()


def _with_cents(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """The same amounts, a `share` of them with cents added (< $1: the distribution is kept)."""
    rng = np.random.default_rng(seed)
    amount = frame["amount"].astype(np.float64)
    cents = rng.random(len(frame)) < share
    amount[cents] += np.round(rng.uniform(0.01, 0.99, int(cents.sum())), 2)
    return frame.assign(amount=amount)


def test_a_reference_of_whole_numbers_makes_an_integral_feature(baseline: Baseline) -> None:
    assert baseline.numeric["amount"].inferred_type == "Integral"
    assert baseline.numeric["rate"].inferred_type == "Fractional"


def test_fractional_values_in_an_integer_feature_are_a_type_violation_with_share_not_drift(
    baseline: Baseline,
) -> None:
    current = _with_cents(_amounts(20_000, 2), share=0.2, seed=3)
    fractional = int((current["amount"] % 1 != 0).sum())
    report = run_drift(baseline, current)
    amount = report.feature("amount")

    assert not amount.drifted
    assert amount.status == "ok"
    assert amount.counts["non_integral"] == fractional
    share = amount.test("non_integral_share")
    assert share is not None
    assert share.value == pytest.approx(fractional / 20_000)
    assert not share.triggered
    assert amount.test("type_violation_share").value == 0.0  # every value is a usable number
    (violation,) = [v for v in amount.violations if v.constraint_check_type == "data_type_check"]
    assert f"{fractional} of 20000 values ({fractional / 20_000:.2%})" in violation.description
    assert "not whole numbers" in violation.description
    assert not report.drifted


def test_an_integer_feature_with_fractions_drifts_when_its_distribution_moves(
    baseline: Baseline,
) -> None:
    moved = _amounts(20_000, 4)
    moved["amount"] = moved["amount"] * 1.25  # half of the odd quarters become fractions
    report = run_drift(baseline, moved)
    amount = report.feature("amount")
    assert amount.drifted
    assert amount.decided_by["test"] in {"psi", "wasserstein", "jensen_shannon"}
    assert amount.counts["non_integral"] > 0
    assert any(v.constraint_check_type == "data_type_check" for v in amount.violations)


def test_whole_values_sent_as_floats_are_not_violations(baseline: Baseline) -> None:
    current = _amounts(5_000, 5).astype({"amount": np.float64})
    amount = run_drift(baseline, current).feature("amount")
    assert amount.counts["non_integral"] == 0
    assert amount.counts["type_violations"] == 0
    assert amount.violations == ()


def test_the_same_window_gives_the_same_report_as_int64_int32_or_float64(
    baseline: Baseline,
) -> None:
    current = _amounts(10_000, 6)
    reports = [
        run_drift(baseline, current.astype({"amount": dtype})).to_dict()
        for dtype in (np.int64, np.int32, np.float64)
    ]
    assert reports[0] == reports[1] == reports[2]


def test_csv_chunks_of_int64_then_float64_give_the_report_of_the_whole_frame(
    baseline: Baseline, tmp_path: Path
) -> None:
    # read_csv gives int64 for a chunk of whole amounts and float64 for one with a gap: the
    # window keeps each chunk as parsed and converts them together when it sorts.
    current = _amounts(3_000, 7).astype({"amount": np.float64})
    current.loc[2_500, "amount"] = np.nan
    path = tmp_path / "window.csv"
    current.to_csv(path, index=False, float_format="%.10g")
    chunks = list(csv_chunks([path], chunk_rows=1_000))
    assert [c.columns["amount"].dtype.kind for c in chunks] == ["i", "i", "f"]
    from_csv = run_drift(baseline, iter(chunks)).to_dict()
    whole = run_drift(baseline, pd.read_csv(path)).to_dict()
    assert from_csv == whole
    assert from_csv["features"][0]["counts"]["missing"] == 1


def test_int64_shards_saved_and_merged_equal_the_whole_window(
    baseline: Baseline, tmp_path: Path
) -> None:
    current = _amounts(6_000, 8)
    assert current["amount"].dtype == np.int64
    halves = [current.iloc[:3_000], current.iloc[3_000:]]
    paths = []
    for index, half in enumerate(halves):
        partial = accumulate(baseline, half)
        paths.append(save_partial(baseline, partial, tmp_path / f"shard{index}"))
    merged = merge_partials([load_partial(p) for p in paths])
    assert evaluate(baseline, merged).features == run_drift(baseline, current).features
