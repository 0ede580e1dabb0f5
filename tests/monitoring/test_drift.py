"""Drift decisions on known shifts, and the dataset verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finmlops.config import DriftThresholds
from finmlops.monitoring.baseline import Baseline
from finmlops.monitoring.drift import run_drift
from finmlops.monitoring.report import render_html


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_identical_distributions_are_not_flagged(baseline: Baseline, table, seed: int) -> None:
    report = run_drift(baseline, table(10_000, seed))
    assert not report.drifted
    assert report.dataset["drifted_features"] == 0
    assert {f.status for f in report.features} == {"ok"}
    assert report.violations == ()


def test_mean_shift_is_flagged_by_wasserstein_and_confirmed_by_ks(
    baseline: Baseline, table
) -> None:
    current = table(10_000, 21)
    current["rate"] += 0.3 * 3.0
    rate = run_drift(baseline, current).feature("rate")
    assert rate.drifted
    assert rate.decided_by is not None
    assert rate.decided_by["test"] == "wasserstein"
    assert rate.decided_by["comparison"] == ">="
    assert rate.decided_by["threshold"] == 0.1
    assert rate.decided_by["confirmed_by"]["test"] == "ks"
    assert rate.test("ks").details["p_value_adjusted"] < 1e-10


def test_variance_change_is_flagged(baseline: Baseline, table) -> None:
    current = table(10_000, 22)
    current["rate"] = 12.0 + (current["rate"] - 12.0) * 1.5
    report = run_drift(baseline, current)
    assert report.feature("rate").drifted
    assert report.dataset["drifted_feature_names"] == ["rate"]


def test_heavy_tail_contamination_is_flagged_by_wasserstein_though_psi_misses_it(
    baseline: Baseline, table
) -> None:
    current = table(10_000, 23)
    hit = np.random.default_rng(0).random(len(current)) < 0.05
    current.loc[hit, "income"] *= 5
    income = run_drift(baseline, current).feature("income")
    assert income.drifted
    assert income.decided_by["test"] == "wasserstein"
    assert income.test("psi").value < 0.1


def test_new_category_is_flagged_by_the_unseen_share(baseline: Baseline, table) -> None:
    current = table(10_000, 24)
    current.loc[current.sample(frac=0.05, random_state=1).index, "grade"] = "F"
    report = run_drift(baseline, current)
    grade = report.feature("grade")
    assert grade.drifted
    assert grade.decided_by["test"] == "unseen_share"
    assert grade.test("unseen_share").value == pytest.approx(0.05)
    assert grade.test("unseen_share").details["examples"] == ["F"]
    checks = {(v.feature_name, v.constraint_check_type) for v in report.violations}
    assert ("grade", "categorical_values_check") in checks


def test_category_mix_change_is_flagged_by_jensen_shannon_and_chi_square(
    baseline: Baseline, table
) -> None:
    current = table(10_000, 25)
    current["term"] = np.random.default_rng(3).choice(("36m", "60m"), len(current))
    term = run_drift(baseline, current).feature("term")
    assert term.drifted
    assert term.decided_by["test"] in {"psi", "jensen_shannon"}
    assert term.decided_by["confirmed_by"]["test"] == "chi_square"


def test_missing_value_surge_is_flagged_with_a_completeness_violation(
    baseline: Baseline, table
) -> None:
    current = table(10_000, 26)
    current.loc[current.sample(frac=0.2, random_state=2).index, "utilisation"] = np.nan
    report = run_drift(baseline, current)
    utilisation = report.feature("utilisation")
    assert utilisation.drifted
    assert utilisation.decided_by["test"] == "missing_share_increase"
    assert utilisation.completeness["current"] == pytest.approx(0.8)
    assert utilisation.test("wasserstein").value < 0.1  # the values themselves did not move
    assert ("utilisation", "completeness_check") in {
        (v.feature_name, v.constraint_check_type) for v in report.violations
    }


def test_dataset_verdict_is_drift_share_greater_or_equal_to_the_threshold(
    baseline: Baseline, table
) -> None:
    current = table(10_000, 27)
    current["rate"] += 2.0
    current["utilisation"] = current["utilisation"] ** 3
    features = len(baseline.feature_order)
    at = run_drift(baseline, current, dataset_drift_share=2 / features)
    assert at.dataset["drifted_features"] == 2
    assert at.dataset["comparison"] == ">="
    assert at.drift_share == at.dataset["threshold"]
    assert at.drifted
    above = run_drift(baseline, current, dataset_drift_share=2 / features + 1e-9)
    assert not above.drifted


def test_psi_in_the_watch_zone_is_reported_as_watch_not_drift(baseline: Baseline, table) -> None:
    current = table(10_000, 28)
    current["rate"] += 0.45 * 3.0
    lenient = DriftThresholds(wasserstein=10.0, jensen_shannon=1.0, psi_watch=0.1, psi_act=5.0)
    rate = run_drift(baseline, current, lenient).feature("rate")
    assert 0.1 <= rate.test("psi").value < 5.0
    assert rate.status == "watch"
    assert not rate.drifted


def test_a_material_shift_that_is_not_significant_is_watch_not_drift(
    baseline: Baseline, table
) -> None:
    current = table(40, 29)
    current["rate"] += 0.6
    rate = run_drift(baseline, current).feature("rate")
    assert rate.test("wasserstein").triggered
    assert not rate.test("ks").triggered
    assert rate.status == "watch"
    assert any("not significant" in note for note in rate.notes)


def test_the_report_is_the_same_bytes_for_the_same_input(baseline: Baseline, table) -> None:
    current = table(5_000, 30)
    current["rate"] += 1.0
    first = run_drift(baseline, current, threads=2)
    second = run_drift(baseline, current.copy(), threads=1)
    assert first.to_json() == second.to_json()
    assert render_html(first) == render_html(second)


def test_binned_mode_reaches_the_same_verdicts_with_stated_bounds(
    baseline: Baseline, table, numeric: tuple[str, ...]
) -> None:
    current = table(10_000, 31)
    current["rate"] += 0.9
    current.loc[current.index[:500], "grade"] = "Z"
    exact = run_drift(baseline, current)
    binned = run_drift(baseline, current, mode="binned")
    assert [f.drifted for f in binned.features] == [f.drifted for f in exact.features]
    for name in numeric:
        for test in ("ks", "wasserstein"):
            low, high = binned.feature(name).test(test).details["bounds"]
            value = exact.feature(name).test(test).value
            assert low - 1e-12 <= value <= high + 1e-12
            # The stated bound: about one fine bin's mass (1/2048) for KS, and for W1 (in
            # reference standard deviations) well under the 0.1 threshold's resolution.
            assert high - low <= 1e-3
        for test in ("psi", "jensen_shannon"):
            assert binned.feature(name).test(test).value == pytest.approx(
                exact.feature(name).test(test).value, rel=1e-12
            )


def test_column_mappings_and_chunks_give_the_same_report_as_a_table(
    baseline: Baseline, table
) -> None:
    current = table(5_000, 32)
    from finmlops.monitoring.readers import frame_chunks

    expected = run_drift(baseline, current).to_json()
    columns = {name: current[name].to_numpy() for name in current.columns}
    assert run_drift(baseline, columns).to_json() == expected
    assert run_drift(baseline, frame_chunks(current, chunk_rows=777)).to_json() == expected


def test_numeric_features_arriving_as_pandas_nullable_or_arrow_types_are_read(
    baseline: Baseline, table
) -> None:
    current = table(5_000, 33)
    expected = run_drift(baseline, current).to_json()
    converted = current.astype({"delinquencies": "Int64", "rate": "float64[pyarrow]"})
    converted["grade"] = converted["grade"].astype("category")
    assert run_drift(baseline, pd.DataFrame(converted)).to_json() == expected
