"""Bad input becomes violations with a clear message: never a crash, never a silent skip."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finmlops.monitoring.baseline import Baseline, ModelIdentity
from finmlops.monitoring.drift import DriftReport, run_drift


def _checks(report: DriftReport) -> set[tuple[str, str]]:
    return {(v.feature_name, v.constraint_check_type) for v in report.violations}


def test_a_missing_column_is_a_violation_and_counts_as_drifted(baseline: Baseline, table) -> None:
    report = run_drift(baseline, table(5_000, 41).drop(columns=["rate"]))
    rate = report.feature("rate")
    assert rate.status == "missing"
    assert rate.drifted
    assert rate.decided_by["test"] == "missing_column"
    assert ("rate", "missing_column_check") in _checks(report)
    assert any("'rate'" in m and "missing" in m for m in report.messages)


def test_an_extra_column_is_a_violation(baseline: Baseline, table) -> None:
    current = table(5_000, 42).assign(customer_id=np.arange(5_000))
    report = run_drift(baseline, current)
    assert ("customer_id", "extra_column_check") in _checks(report)
    assert not report.drifted
    ignored = run_drift(baseline, current, ignore_columns=("customer_id",))
    assert ignored.violations == ()


def test_text_in_a_numeric_column_is_a_data_type_violation_naming_column_and_values(
    baseline: Baseline, table
) -> None:
    current = table(5_000, 43).astype({"rate": object})
    current.loc[:49, "rate"] = "n/a-ish"
    report = run_drift(baseline, current)
    rate = report.feature("rate")
    assert rate.counts["type_violations"] == 50
    violation = next(v for v in report.violations if v.constraint_check_type == "data_type_check")
    assert violation.feature_name == "rate"
    assert "'rate'" in violation.description
    assert "50 of 5000" in violation.description
    assert "n/a-ish" in violation.description
    assert rate.counts["values"] == 4_950  # the other values are still tested


def test_fractional_values_in_an_integral_feature_are_type_violations(
    baseline: Baseline, table
) -> None:
    current = table(5_000, 44)
    current.loc[:9, "delinquencies"] = 0.5
    report = run_drift(baseline, current)
    assert report.feature("delinquencies").counts["type_violations"] == 10
    assert ("delinquencies", "data_type_check") in _checks(report)


def test_infinite_values_are_type_violations(baseline: Baseline, table) -> None:
    current = table(5_000, 45)
    current.loc[:2, "income"] = np.inf
    report = run_drift(baseline, current)
    assert report.feature("income").counts["type_violations"] == 3
    assert ("income", "data_type_check") in _checks(report)


def test_an_empty_window_is_reported_as_not_evaluated(baseline: Baseline, table) -> None:
    report = run_drift(baseline, table(5, 46).iloc[:0])
    assert report.window["rows"] == 0
    assert not report.dataset["evaluated"]
    assert not report.drifted
    assert {f.status for f in report.features} == {"no_data"}
    assert "no rows" in report.messages[0]
    assert {c for _, c in _checks(report)} == {"completeness_check"}
    assert report.to_json()  # serialisable: no NaN leaks into the JSON


def test_an_all_null_feature_is_a_completeness_violation(baseline: Baseline, table) -> None:
    current = table(5_000, 47)
    current["utilisation"] = np.nan
    current["grade"] = None
    report = run_drift(baseline, current)
    for name in ("utilisation", "grade"):
        feature = report.feature(name)
        assert feature.drifted
        assert feature.decided_by["test"] == "missing_share_increase"
        assert feature.completeness["current"] == 0.0
        assert feature.counts["values"] == 0
        assert (name, "completeness_check") in _checks(report)
        assert any("no values" in note for note in feature.notes)


def test_a_baseline_of_another_model_version_is_reported(baseline: Baseline, table) -> None:
    expected = ModelIdentity(model_id="credit-risk", model_version="4")
    report = run_drift(baseline, table(5_000, 48), expected_identity=expected)
    assert not report.dataset["baseline_identity_ok"]
    violation = next(
        v for v in report.violations if v.constraint_check_type == "baseline_identity_check"
    )
    assert "model_version is '3' in the baseline, expected '4'" in violation.description
    same = run_drift(
        baseline, table(5_000, 48), expected_identity=ModelIdentity("credit-risk", "3")
    )
    assert same.dataset["baseline_identity_ok"]


def test_a_categorical_feature_arriving_as_numbers_is_read_as_text(
    baseline: Baseline, table
) -> None:
    current = table(5_000, 49)
    current["term"] = np.where(current["term"] == "36m", 36, 60)
    term = run_drift(baseline, current).feature("term")
    assert term.test("unseen_share").value == 1.0
    assert set(term.test("unseen_share").details["examples"]) == {"36", "60"}


def test_a_numeric_feature_arriving_as_numeric_text_is_parsed(baseline: Baseline, table) -> None:
    current = table(5_000, 50)
    as_text = current.assign(rate=current["rate"].map(repr).astype(object))
    assert (
        run_drift(baseline, as_text).feature("rate").to_dict()
        == run_drift(baseline, current).feature("rate").to_dict()
    )


def test_missing_tokens_in_text_are_missing_values_not_type_violations(
    baseline: Baseline, table
) -> None:
    current = table(1_000, 51).astype({"rate": object})
    current.loc[:9, "rate"] = ""
    current.loc[10:19, "rate"] = "NA"
    rate = run_drift(baseline, pd.DataFrame(current)).feature("rate")
    assert rate.counts["missing"] == 20
    assert rate.counts["type_violations"] == 0


def test_json_lists_and_objects_where_values_belong_are_type_violations_or_categories(
    baseline: Baseline, table
) -> None:
    current = table(200, 52).astype({"rate": object, "grade": object})
    current.at[0, "rate"] = [1, 2]
    current.at[1, "grade"] = {"nested": True}
    report = run_drift(baseline, current)
    assert report.feature("rate").counts["type_violations"] == 1
    assert "{'nested': True}" in report.feature("grade").test("unseen_share").details["examples"]


def test_a_numeric_feature_of_the_wrong_type_throughout_is_drifted(
    baseline: Baseline, table
) -> None:
    current = table(1_000, 53)
    current["rate"] = pd.date_range("2026-01-01", periods=1_000)
    report = run_drift(baseline, current)
    rate = report.feature("rate")
    assert rate.drifted
    assert rate.decided_by["test"] == "type_violation_share"
    assert rate.test("type_violation_share").value == 1.0
    assert ("rate", "data_type_check") in _checks(report)
