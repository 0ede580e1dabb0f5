"""The baseline: what it records, its artifact, and its Model Monitor files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finmlops.config import DriftThresholds
from finmlops.monitoring.baseline import (
    Baseline,
    BaselineError,
    ModelIdentity,
    build_baseline,
    load_baseline,
    save_baseline,
)
from finmlops.monitoring.drift import run_drift

NUMERIC = ("income", "rate", "utilisation", "delinquencies")
CATEGORICAL = ("grade", "term")


def test_baseline_records_type_completeness_and_reference_per_feature(
    reference: pd.DataFrame,
) -> None:
    frame = reference.copy()
    frame.loc[:1999, "rate"] = np.nan
    baseline = build_baseline(frame, NUMERIC, CATEGORICAL, identity="credit-risk")
    rate = baseline.numeric["rate"]
    assert rate.inferred_type == "Fractional"
    assert baseline.numeric["delinquencies"].inferred_type == "Integral"
    assert rate.completeness == pytest.approx(0.9)
    assert rate.sorted_values is not None
    assert np.all(np.diff(rate.sorted_values) >= 0)
    assert rate.decile_edges.size == 9
    assert set(rate.decile_edges) <= set(rate.edges)
    assert int(rate.counts.sum()) == rate.count == 18_000
    grade = baseline.categorical["grade"]
    assert grade.categories == ("A", "B", "C", "D", "E")
    assert int(grade.counts.sum()) == 20_000
    assert baseline.feature_order == (*NUMERIC, *CATEGORICAL)


def test_features_are_inferred_from_column_types_when_not_listed(reference: pd.DataFrame) -> None:
    baseline = build_baseline(reference, identity="m", ignore_columns=("term",))
    assert set(baseline.numeric) == set(NUMERIC)
    assert set(baseline.categorical) == {"grade"}


def test_saved_artifact_is_byte_identical_and_loads_to_the_same_baseline(
    baseline: Baseline, tmp_path: Path
) -> None:
    first = save_baseline(baseline, tmp_path / "a")
    second = save_baseline(baseline, tmp_path / "b")
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name
    loaded = load_baseline(tmp_path / "a")
    assert loaded.baseline_id == baseline.baseline_id
    assert loaded.identity == baseline.identity
    assert np.array_equal(
        loaded.numeric["income"].sorted_values, baseline.numeric["income"].sorted_values
    )
    manifest = json.loads((tmp_path / "a" / "baseline.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["model"]["model_version"] == "3"


def test_a_tampered_artifact_is_refused(baseline: Baseline, tmp_path: Path) -> None:
    written = save_baseline(baseline, tmp_path)
    target = next(p for name, p in written.items() if name.endswith(".sorted.npy"))
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(BaselineError, match="sha256"):
        load_baseline(tmp_path)


def test_statistics_and_constraints_follow_the_model_monitor_schema(
    baseline: Baseline, tmp_path: Path
) -> None:
    save_baseline(baseline, tmp_path)
    statistics = json.loads((tmp_path / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    assert statistics["version"] == 0
    assert statistics["dataset"]["item_count"] == 20_000
    by_name = {f["name"]: f for f in statistics["features"]}
    income = by_name["income"]["numerical_statistics"]
    assert income["common"] == {"num_present": 20_000, "num_missing": 0}
    assert {"mean", "sum", "std_dev", "min", "max"} <= set(income)
    kll = income["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert sum(b["count"] for b in kll["buckets"]) == 20_000
    assert set(kll["sketch"]["parameters"]) == {"c", "k"}
    grade = by_name["grade"]["string_statistics"]
    assert grade["distinct_count"] == 5
    assert sum(b["count"] for b in grade["distribution"]["categorical"]["buckets"]) == 20_000
    features = {f["name"]: f for f in constraints["features"]}
    assert features["income"]["inferred_type"] == "Fractional"
    assert features["income"]["num_constraints"] == {"is_non_negative": True}
    assert features["grade"]["string_constraints"]["domains"] == ["A", "B", "C", "D", "E"]
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.1


def test_text_in_a_numeric_training_column_fails_naming_the_column(
    reference: pd.DataFrame,
) -> None:
    frame = reference.astype({"rate": object})
    frame.loc[5, "rate"] = "twelve"
    with pytest.raises(BaselineError, match=r"'rate'.*twelve"):
        build_baseline(frame, NUMERIC, CATEGORICAL, identity="m")


def test_a_listed_feature_missing_from_the_training_data_fails_naming_it(
    reference: pd.DataFrame,
) -> None:
    with pytest.raises(BaselineError, match="fico"):
        build_baseline(reference, (*NUMERIC, "fico"), CATEGORICAL, identity="m")


def test_thresholds_recorded_with_the_baseline_are_used_by_default(
    reference: pd.DataFrame, table
) -> None:
    strict = DriftThresholds(wasserstein=0.01, ks_p_value=0.5)
    baseline = build_baseline(
        reference, NUMERIC, CATEGORICAL, identity="m", thresholds=strict, dataset_drift_share=0.9
    )
    report = run_drift(baseline, table(5_000, 99))
    assert report.thresholds["wasserstein"] == 0.01
    assert report.dataset["threshold"] == 0.9


def test_baseline_without_raw_values_supports_the_binned_mode_only(
    reference: pd.DataFrame, table, tmp_path: Path
) -> None:
    baseline = build_baseline(
        reference, NUMERIC, CATEGORICAL, identity=ModelIdentity("m"), keep_sorted_reference=False
    )
    save_baseline(baseline, tmp_path)
    assert not list((tmp_path / "arrays").glob("*.sorted.npy"))
    loaded = load_baseline(tmp_path)
    with pytest.raises(ValueError, match="binned"):
        run_drift(loaded, table(1_000, 5))
    report = run_drift(loaded, table(5_000, 5), mode="binned")
    assert not report.drifted
