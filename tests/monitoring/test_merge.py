"""Partial results per shard merge to the result of the whole window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from finmlops.monitoring.baseline import Baseline, ModelIdentity, build_baseline
from finmlops.monitoring.drift import evaluate, run_drift
from finmlops.monitoring.window import (
    PartialError,
    accumulate,
    find_partials,
    load_partial,
    merge_partials,
    save_partial,
)


def _shards(frame, parts: int):
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    return [frame.iloc[bounds[i] : bounds[i + 1]] for i in range(parts)]


def _drifted_window(table):
    current = table(9_000, 71)
    current["rate"] += 1.0
    current.loc[current.index[::50], "grade"] = "G"
    current.loc[current.index[::7], "utilisation"] = np.nan
    current = current.astype({"income": object})
    current.loc[current.index[:3], "income"] = "unknown"
    return current


def test_merged_exact_shards_give_the_same_bytes_as_the_whole_window(
    baseline: Baseline, table, tmp_path: Path
) -> None:
    current = _drifted_window(table)
    whole = run_drift(baseline, current)
    for index, shard in enumerate(_shards(current, 4)):
        partial = accumulate(baseline, shard)
        partial.shards = [f"algo-{index + 1}"]
        save_partial(baseline, partial, tmp_path / f"algo-{index + 1}")
    files = find_partials(tmp_path)
    assert len(files) == 4
    merged = merge_partials([load_partial(f) for f in files])
    report = evaluate(baseline, merged)
    assert report.window["shards"] == 4
    assert report.to_json().replace('"shards": 4', '"shards": null') == whole.to_json()


def test_merging_in_memory_exact_partials_equals_the_whole(baseline: Baseline, table) -> None:
    current = _drifted_window(table)
    partials = [accumulate(baseline, shard) for shard in _shards(current, 3)]
    merged = merge_partials(partials, baseline)
    assert evaluate(baseline, merged).to_json() == run_drift(baseline, current).to_json()


def test_binned_shards_merge_counts_exactly_and_sums_to_rounding(
    baseline: Baseline, table, tmp_path: Path
) -> None:
    current = _drifted_window(table)
    whole = accumulate(baseline, current, mode="binned")
    for index, shard in enumerate(_shards(current, 5)):
        save_partial(baseline, accumulate(baseline, shard, mode="binned"), tmp_path / str(index))
    merged = merge_partials([load_partial(f) for f in find_partials(tmp_path)])
    for name, window in whole.numeric.items():
        other = merged.numeric[name]
        assert np.array_equal(other.counts, window.counts)
        assert np.array_equal(other.edge_counts, window.edge_counts)
        assert np.allclose(other.sums, window.sums, rtol=1e-12, atol=1e-9)
        assert (other.missing, other.not_numbers, other.count) == (
            window.missing,
            window.not_numbers,
            window.count,
        )
    for name, window in whole.categorical.items():
        assert np.array_equal(merged.categorical[name].counts, window.counts)
        assert merged.categorical[name].unseen == window.unseen
    merged_report = evaluate(baseline, merged)
    whole_report = evaluate(baseline, whole)
    for feature in whole_report.features:
        other = merged_report.feature(feature.name)
        assert other.drifted == feature.drifted
        for test in feature.tests:
            if test.value is not None:
                assert other.test(test.name).value == pytest.approx(test.value, rel=1e-9)


def test_partials_of_different_baselines_or_modes_refuse_to_merge(
    baseline: Baseline, reference, table
) -> None:
    other = build_baseline(
        reference.iloc[:5_000],
        ("income", "rate", "utilisation", "delinquencies"),
        ("grade", "term"),
        identity=ModelIdentity("credit-risk", "4"),
    )
    shard = table(1_000, 72)
    with pytest.raises(PartialError, match="different baselines"):
        merge_partials([accumulate(baseline, shard), accumulate(other, shard)], baseline)
    with pytest.raises(PartialError, match="different modes"):
        merge_partials(
            [accumulate(baseline, shard), accumulate(baseline, shard, mode="binned")], baseline
        )
    with pytest.raises(ValueError, match="accumulated for baseline"):
        evaluate(other, accumulate(baseline, shard))
