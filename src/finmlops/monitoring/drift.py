"""The drift run: a current window against a baseline, per feature and for the dataset.

The tests and the decision rule are described in docs/monitoring.md and the reasons for them in
docs/decisions/0005-drift-engine.md; `_decide` applies the rule.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from finmlops.config import DriftThresholds, Monitoring
from finmlops.monitoring import formats
from finmlops.monitoring.baseline import (
    Baseline,
    CategoricalReference,
    ModelIdentity,
    NumericReference,
)
from finmlops.monitoring.formats import Violation
from finmlops.monitoring.readers import Chunk
from finmlops.monitoring.stats import (
    FloatArray,
    Workspace,
    benjamini_hochberg,
    bin_counts_sorted,
    binned_numeric,
    chi_square,
    exact_numeric,
    import_scipy,
    jensen_shannon,
    ks_p_value,
    l_infinity,
    psi,
)
from finmlops.monitoring.window import (
    CategoricalWindow,
    NumericWindow,
    WindowPartial,
    accumulate,
)

REPORT_SCHEMA = "finmlops/drift-report/v1"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# W1 is scaled by max(reference sd, this): a constant reference feature still gets a finite score.
MIN_SCALE = 1e-3
# Categories drawn per categorical feature in the reports; the rest are summed as "(other)".
TOP_CATEGORIES = 20

STATUS_DRIFT = "drift"
STATUS_WATCH = "watch"
STATUS_OK = "ok"
STATUS_NO_DATA = "no_data"
STATUS_MISSING = "missing"


@dataclass(frozen=True)
class TestResult:
    """One test of one feature: its value, its threshold and the comparison that flags it."""

    name: str
    value: float | None
    threshold: float | None
    comparison: str
    triggered: bool
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "triggered": self.triggered,
        } | dict(self.details)


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str  # "numeric" | "categorical"
    inferred_type: str
    status: str
    drifted: bool
    decided_by: Mapping[str, Any] | None
    tests: tuple[TestResult, ...]
    completeness: Mapping[str, Any]
    counts: Mapping[str, Any]
    distribution: Mapping[str, Any]
    quantiles: Mapping[str, Any] | None
    statistics: Mapping[str, Any] | None  # the window's Model Monitor feature statistics
    baseline_drift: float | None  # Model Monitor's distance: KS D (numeric), L-infinity
    violations: tuple[Violation, ...] = ()
    notes: tuple[str, ...] = ()

    def test(self, name: str) -> TestResult | None:
        return next((t for t in self.tests if t.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "inferred_type": self.inferred_type,
            "status": self.status,
            "drifted": self.drifted,
            "decided_by": self.decided_by,
            "tests": [t.to_dict() for t in self.tests],
            "completeness": self.completeness,
            "counts": self.counts,
            "distribution": self.distribution,
            "quantiles": self.quantiles,
            "baseline_drift": self.baseline_drift,
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DriftReport:
    baseline_id: str
    model: Mapping[str, str]
    expected_model: Mapping[str, str] | None
    mode: str
    window: Mapping[str, Any]
    thresholds: Mapping[str, float]
    dataset: Mapping[str, Any]
    features: tuple[FeatureDrift, ...]
    violations: tuple[Violation, ...]
    messages: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.dataset["drifted"])

    @property
    def drift_share(self) -> float:
        return float(self.dataset["drift_share"])

    def feature(self, name: str) -> FeatureDrift:
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(f"no feature {name!r} in the report")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "baseline": {"baseline_id": self.baseline_id, "model": self.model},
            "expected_model": self.expected_model,
            "mode": self.mode,
            "window": self.window,
            "thresholds": self.thresholds,
            "dataset": self.dataset,
            "features": [f.to_dict() for f in self.features],
            "violations": [v.to_dict() for v in self.violations],
            "messages": list(self.messages),
        }

    def to_json(self) -> str:
        """The machine-readable report: same input, same bytes."""
        return formats.canonical_json(self.to_dict())


# --------------------------------------------------------------------------------------------
# Measurements (no decisions yet)


@dataclass
class _Measured:
    name: str
    kind: str
    inferred_type: str
    rows: int
    present: int  # rows that carried the column
    missing: int  # null or absent
    values: int  # values used by the distribution tests
    invalid: int
    invalid_what: str
    examples: list[str]
    baseline_completeness: float
    stats: dict[str, float] = field(default_factory=dict)  # test name -> value
    p_value: float = math.nan
    bounds: dict[str, list[float]] = field(default_factory=dict)
    distribution: dict[str, Any] = field(default_factory=dict)
    quantiles: dict[str, Any] | None = None
    statistics: dict[str, Any] | None = None
    unseen_examples: list[str] = field(default_factory=list)
    baseline_drift: float | None = None
    notes: list[str] = field(default_factory=list)


def _sorted_quantiles(values: FloatArray, qs: Sequence[float]) -> list[float]:
    """numpy's "linear" quantiles of already-sorted values, without re-sorting."""
    if values.size == 0:
        return [math.nan] * len(qs)
    out = []
    last = values.size - 1
    for q in qs:
        position = q * last
        low = math.floor(position)
        high = min(low + 1, last)
        fraction = position - low
        out.append(float(values[low] + (values[high] - values[low]) * fraction))
    return out


def _decile_labels(edges: FloatArray) -> list[str]:
    bounds = ["-inf", *(f"{e:.6g}" for e in edges.tolist()), "+inf"]
    return [f"({bounds[i]}, {bounds[i + 1]}]" for i in range(len(bounds) - 1)]


def _measure_numeric(
    ref: NumericReference,
    window: NumericWindow,
    rows: int,
    mode: str,
    work: Workspace | None = None,
) -> _Measured:
    integral = ref.inferred_type == "Integral"
    finite: FloatArray | None = None
    missing, non_finite, non_integral = window.missing, window.non_finite, window.non_integral
    if mode == "exact":
        finite, (missing, non_finite, non_integral) = window.sorted_finite(integral, work)
    count = finite.size if finite is not None else window.count
    absent = rows - window.rows_present if window.rows_present else rows
    measured = _Measured(
        name=ref.name,
        kind="numeric",
        inferred_type=ref.inferred_type,
        rows=rows,
        present=window.rows_present,
        missing=missing + absent,
        values=count,
        invalid=window.not_numbers + non_finite + non_integral,
        invalid_what="integers" if integral else "finite numbers",
        examples=list(window.examples),
        baseline_completeness=ref.completeness,
    )
    if count == 0:
        return measured
    if finite is not None:
        current_deciles = bin_counts_sorted(finite, ref.decile_edges)
        exact = exact_numeric(ref.prepared(), finite, work)
        ks_value = exact.ks_statistic
        w1 = exact.wasserstein
        measured.p_value = ks_p_value(ks_value, ref.count, count, ref.sorted_values, finite)
        total = float(np.sum(finite))
        mean = total / count
        deviation = work.get("f1", count, np.float64) if work else np.empty(count)
        np.subtract(finite, mean, out=deviation)
        np.square(deviation, out=deviation)
        std = math.sqrt(float(deviation.sum()) / count)
        minimum, maximum = float(finite[0]), float(finite[-1])
        assert ref.sorted_values is not None
        measured.quantiles = {
            "q": list(QUANTILES),
            "reference": _sorted_quantiles(ref.sorted_values, QUANTILES),
            "current": _sorted_quantiles(finite, QUANTILES),
        }
        buckets = formats.kll_buckets(finite)
    else:
        assert window.counts is not None and window.sums is not None
        lowest = min(ref.minimum, window.minimum)
        highest = max(ref.maximum, window.maximum)
        assert window.edge_counts is not None
        binned = binned_numeric(
            ref.edges,
            ref_counts=ref.counts,
            ref_sums=ref.sums,
            ref_edge_counts=ref.edge_counts,
            cur_counts=window.counts,
            cur_sums=window.sums,
            cur_edge_counts=window.edge_counts,
            lowest=lowest,
            highest=highest,
        )
        cumulative = np.cumsum(window.counts)
        at = np.searchsorted(ref.edges, ref.decile_edges, "left")
        current_deciles = np.diff(np.concatenate([[0], cumulative[at], [cumulative[-1]]]))
        ks_value = binned.ks_low
        w1 = binned.wasserstein_low
        scale = max(ref.std, MIN_SCALE)
        measured.bounds = {
            "ks": [binned.ks_low, binned.ks_high],
            "wasserstein": [binned.wasserstein_low / scale, binned.wasserstein_high / scale],
        }
        measured.p_value = ks_p_value(ks_value, ref.count, count)
        total = window.total
        mean = total / count
        variance = window.total_sq / count - (mean - ref.mean) ** 2
        std = math.sqrt(max(variance, 0.0))
        minimum, maximum = window.minimum, window.maximum
        buckets = [
            {"lower_bound": lo, "upper_bound": hi, "count": float(c)}
            for lo, hi, c in zip(
                [minimum, *ref.decile_edges.tolist()],
                [*ref.decile_edges.tolist(), maximum],
                current_deciles.tolist(),
                strict=True,
            )
        ]
        measured.notes.append(
            "binned mode: KS and W1 are lower bounds; the exact values lie within 'bounds'"
        )
    measured.stats = {
        "ks": ks_value,
        "wasserstein": w1 / max(ref.std, MIN_SCALE),
        "psi": psi(ref.decile_counts, current_deciles),
        "jensen_shannon": jensen_shannon(ref.decile_counts, current_deciles),
    }
    measured.baseline_drift = ks_value
    measured.distribution = {
        "bins": _decile_labels(ref.decile_edges),
        "reference": [float(c) for c in ref.decile_counts / max(ref.count, 1)],
        "current": [float(c) for c in current_deciles / count],
    }
    measured.statistics = formats.numerical_statistics(
        present=count,
        missing=measured.missing,
        total=total,
        mean=mean,
        std=std,
        minimum=minimum,
        maximum=maximum,
        sorted_values=finite,
        buckets=buckets,
    )
    return measured


def _measure_categorical(
    ref: CategoricalReference, window: CategoricalWindow, rows: int
) -> _Measured:
    absent = rows - window.rows_present if window.rows_present else rows
    unseen = int(sum(window.unseen.values()))
    count = int(window.counts.sum()) + unseen
    measured = _Measured(
        name=ref.name,
        kind="categorical",
        inferred_type=ref.inferred_type,
        rows=rows,
        present=window.rows_present,
        missing=window.missing + absent,
        values=count,
        invalid=0,
        invalid_what="",
        examples=[],
        baseline_completeness=ref.completeness,
    )
    if count == 0:
        return measured
    reference = np.concatenate([ref.counts, [0]]).astype(np.int64)
    current = np.concatenate([window.counts, [unseen]]).astype(np.int64)
    statistic, p_value = chi_square(reference, current)
    measured.p_value = p_value
    measured.stats = {
        "chi_square": statistic,
        "jensen_shannon": jensen_shannon(reference, current),
        "psi": psi(reference, current),
        "l_infinity": l_infinity(reference, current),
        "unseen_share": unseen / count,
    }
    measured.baseline_drift = measured.stats["l_infinity"]
    ranked = sorted(window.unseen.items(), key=lambda kv: (-kv[1], kv[0]))
    measured.unseen_examples = [value for value, _ in ranked[:5]]
    measured.distribution = _category_distribution(ref, window, unseen, count)
    measured.statistics = formats.string_statistics(
        present=count,
        missing=measured.missing,
        categories=[*ref.categories, *(v for v, _ in ranked)],
        counts=[*window.counts.tolist(), *(c for _, c in ranked)],
    )
    return measured


def _category_distribution(
    ref: CategoricalReference, window: CategoricalWindow, unseen: int, count: int
) -> dict[str, Any]:
    reference_total = max(ref.count, 1)
    order = sorted(
        range(len(ref.categories)),
        key=lambda i: (-(int(ref.counts[i]) + int(window.counts[i])), ref.categories[i]),
    )
    shown = order[:TOP_CATEGORIES]
    rest = order[TOP_CATEGORIES:]
    bins = [ref.categories[i] for i in shown]
    # Names for the reader where the baseline knows the encoder's codes; `bins` stay the values.
    labels = [_label(ref, i) for i in shown]
    reference = [int(ref.counts[i]) / reference_total for i in shown]
    current = [int(window.counts[i]) / count for i in shown]
    if rest:
        bins.append(f"(other {len(rest)})")
        reference.append(sum(int(ref.counts[i]) for i in rest) / reference_total)
        current.append(sum(int(window.counts[i]) for i in rest) / count)
    bins.append("(unseen)")
    reference.append(0.0)
    current.append(unseen / count)
    distribution: dict[str, Any] = {"bins": bins, "reference": reference, "current": current}
    if ref.labels:
        distribution["labels"] = [*labels, *bins[len(labels) :]]
    return distribution


def _label(ref: CategoricalReference, index: int) -> str:
    name = ref.labels[index] if ref.labels else ""
    return f"{name} (code {ref.categories[index]})" if name else ref.categories[index]


# --------------------------------------------------------------------------------------------
# Decisions


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class _Tests:
    significance: TestResult
    material: tuple[TestResult, ...]  # PSI (act), W1 (numeric), JS: effect sizes
    unseen: TestResult | None
    missing: TestResult
    invalid: TestResult | None
    listed: tuple[TestResult, ...]  # in report order


def _distance(m: _Measured, name: str, threshold: float, **extra: Any) -> TestResult:
    value = m.stats.get(name)
    triggered = value is not None and not math.isnan(value) and value >= threshold
    details = dict(extra) | ({"bounds": m.bounds[name]} if name in m.bounds else {})
    return TestResult(name, value, threshold, ">=", bool(triggered), details)


def _run_tests(m: _Measured, adjusted_p: float, t: DriftThresholds) -> _Tests:
    has_values = m.values > 0
    p_test = "ks" if m.kind == "numeric" else "chi_square"
    significant = has_values and not math.isnan(adjusted_p) and adjusted_p <= t.ks_p_value
    significance = TestResult(
        p_test,
        m.stats.get(p_test) if has_values else None,
        t.ks_p_value,
        "p_value_adjusted <=",
        significant,
        {
            "p_value": m.p_value if has_values else None,
            "p_value_adjusted": adjusted_p if has_values else None,
        }
        | ({"bounds": m.bounds[p_test]} if p_test in m.bounds else {}),
    )
    material = [_distance(m, "psi", t.psi_act, watch_threshold=t.psi_watch)]
    if m.kind == "numeric":
        material.append(_distance(m, "wasserstein", t.wasserstein))
    material.append(_distance(m, "jensen_shannon", t.jensen_shannon))
    listed = [significance, *material]
    unseen = None
    if m.kind == "categorical":
        listed.append(TestResult("l_infinity", m.stats.get("l_infinity"), None, "", False))
        value = m.stats.get("unseen_share")
        unseen = TestResult(
            "unseen_share",
            value,
            t.max_unseen_share,
            ">",
            bool(value is not None and value > t.max_unseen_share),
            {"examples": m.unseen_examples},
        )
        listed.append(unseen)
    increase = (m.missing - m.rows * (1.0 - m.baseline_completeness)) / m.rows if m.rows else None
    missing = TestResult(
        "missing_share_increase",
        increase,
        t.max_missing_share_increase,
        ">",
        bool(increase is not None and increase > t.max_missing_share_increase),
        {"baseline_missing_share": 1.0 - m.baseline_completeness},
    )
    listed.append(missing)
    invalid = None
    if m.kind == "numeric":
        checked = m.rows - m.missing
        share = m.invalid / checked if checked else None
        # Unusable values make a feature as blind as missing ones: the same threshold applies.
        invalid = TestResult(
            "type_violation_share",
            share,
            t.max_missing_share_increase,
            ">",
            bool(share is not None and share > t.max_missing_share_increase),
        )
        listed.append(invalid)
    return _Tests(significance, tuple(material), unseen, missing, invalid, tuple(listed))


def _decision(test: TestResult) -> dict[str, Any]:
    if test.comparison.startswith("p_value"):
        return {
            "test": test.name,
            "value": test.details.get("p_value_adjusted"),
            "threshold": test.threshold,
            "comparison": test.comparison,
        }
    return {
        "test": test.name,
        "value": test.value,
        "threshold": test.threshold,
        "comparison": test.comparison,
    }


def _rule_violations(
    m: _Measured, tests: _Tests, t: DriftThresholds, missing_column: bool
) -> tuple[list[Violation], dict[str, Any] | None]:
    """Violations of the data rules (which decide drift on their own) and the first decision."""
    if missing_column:
        text = f"column {m.name!r} is in the baseline but not in the current window"
        missing = {"test": "missing_column", "value": None, "threshold": None, "comparison": ""}
        return [Violation(m.name, formats.MISSING_COLUMN, text)], missing
    violations: list[Violation] = []
    decided: dict[str, Any] | None = None
    if m.invalid:
        checked = m.rows - m.missing  # present, non-null values
        violations.append(
            Violation(
                m.name,
                formats.DATA_TYPE,
                f"column {m.name!r}: {m.invalid} of {checked} values "
                f"({_share(m.invalid, checked):.2%}) are not {m.invalid_what}"
                + (f", e.g. {m.examples}" if m.examples else ""),
            )
        )
    if tests.invalid is not None and tests.invalid.triggered:
        decided = _decision(tests.invalid)
    if tests.missing.triggered:
        current = _share(m.rows - m.missing, m.rows)
        violations.append(
            Violation(
                m.name,
                formats.COMPLETENESS,
                f"column {m.name!r}: completeness {current:.4f} against "
                f"{m.baseline_completeness:.4f} in the baseline (missing share up "
                f"{tests.missing.value:.4f} > {t.max_missing_share_increase})",
            )
        )
        decided = decided or _decision(tests.missing)
    if tests.unseen is not None and tests.unseen.triggered:
        violations.append(
            Violation(
                m.name,
                formats.CATEGORICAL_VALUES,
                f"column {m.name!r}: {tests.unseen.value:.2%} of values are categories not in "
                f"the baseline (> {t.max_unseen_share:.2%}), e.g. {m.unseen_examples}",
            )
        )
        decided = decided or _decision(tests.unseen)
    return violations, decided


def _decide(
    m: _Measured, adjusted_p: float, t: DriftThresholds, missing_column: bool
) -> FeatureDrift:
    """Data rules decide alone (missing column, missing share up, unseen categories); a
    distribution shift is drift when material (PSI >= psi_act, W1/sd >= wasserstein or
    JS >= jensen_shannon) and significant (BH-adjusted p <= ks_p_value); material but not
    significant, or PSI >= psi_watch, is "watch".
    """
    tests = _run_tests(m, adjusted_p, t)
    violations, decided = _rule_violations(m, tests, t, missing_column)
    notes = list(m.notes)
    crossed = [r for r in tests.material if r.triggered]
    significance = tests.significance
    if crossed and significance.triggered:
        first = crossed[0]
        decided = decided or (_decision(first) | {"confirmed_by": _decision(significance)})
        violations.append(
            Violation(
                m.name,
                formats.BASELINE_DRIFT,
                f"column {m.name!r}: {first.name} {first.value:.4g} >= {first.threshold} and "
                f"{significance.name} adjusted p-value {adjusted_p:.3g} <= {t.ks_p_value}",
            )
        )
    elif crossed:
        notes.append(
            f"{', '.join(r.name for r in crossed)} crossed its threshold but the shift is not "
            f"significant ({significance.name} adjusted p-value {adjusted_p:.3g} > "
            f"{t.ks_p_value})"
        )
    psi_value = tests.material[0].value
    watch = bool(crossed) or (psi_value is not None and psi_value >= t.psi_watch)
    if m.values == 0 and not missing_column:
        notes.append("no values in the current window: distribution tests not run")
    if missing_column:
        status = STATUS_MISSING
    elif decided is not None:
        status = STATUS_DRIFT
    elif m.values == 0:
        status = STATUS_NO_DATA
    else:
        status = STATUS_WATCH if watch else STATUS_OK
    return FeatureDrift(
        name=m.name,
        kind=m.kind,
        inferred_type=m.inferred_type,
        status=status,
        drifted=decided is not None,
        decided_by=decided,
        tests=tests.listed,
        completeness={
            "baseline": m.baseline_completeness,
            "current": _share(m.rows - m.missing, m.rows) if m.rows else None,
            "missing_share_increase": tests.missing.value,
        },
        counts={
            "rows": m.rows,
            "rows_with_column": m.present,
            "missing": m.missing,
            "values": m.values,
            "type_violations": m.invalid,
        },
        distribution=m.distribution,
        quantiles=m.quantiles,
        statistics=m.statistics,
        baseline_drift=m.baseline_drift,
        violations=tuple(violations),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# The run


def _time(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _measure_all(
    baseline: Baseline, partial: WindowPartial, threads: int | None
) -> list[_Measured]:
    """Every feature measured, numeric ones in a thread pool (numpy releases the GIL)."""
    rows = partial.rows
    names = [n for n in baseline.feature_order if n in baseline.numeric]
    workers = threads or min(len(names) or 1, os.cpu_count() or 1)
    # One workspace per worker thread, dropped with this call (and the pool's threads).
    local = threading.local()

    def numeric(name: str) -> _Measured:
        work = getattr(local, "work", None)
        if work is None:
            work = local.work = Workspace()
        return _measure_numeric(
            baseline.numeric[name], partial.numeric[name], rows, partial.mode, work
        )

    if workers > 1 and len(names) > 1:
        import_scipy()  # here, not first in several pool threads at once
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip(names, pool.map(numeric, names), strict=True))
    else:
        done = {name: numeric(name) for name in names}
    return [
        done[name]
        if name in done
        else _measure_categorical(baseline.categorical[name], partial.categorical[name], rows)
        for name in baseline.feature_order
    ]


def _window_violations(
    baseline: Baseline,
    partial: WindowPartial,
    features: Sequence[FeatureDrift],
    identity_problems: Sequence[str],
    max_bad_record_share: float,
) -> tuple[list[Violation], list[str]]:
    violations: list[Violation] = []
    messages: list[str] = []
    if identity_problems:
        text = "the baseline belongs to another model version: " + "; ".join(identity_problems)
        violations.append(Violation(formats.DATASET_FEATURE, formats.BASELINE_IDENTITY, text))
        messages.append(text)
    violations.extend(
        Violation(
            column,
            formats.EXTRA_COLUMN,
            f"column {column!r} is in the current window but not in the baseline",
        )
        for column in sorted(partial.other_columns)
    )
    if partial.rows == 0:
        text = "the current window has no rows: nothing to compare with the baseline"
        messages.append(text)
        violations.extend(
            Violation(name, formats.COMPLETENESS, f"column {name!r}: {text}")
            for name in baseline.feature_order
        )
    bad = bad_records(partial, max_bad_record_share)
    if bad["count"]:
        first = bad["sample"][0] if bad["sample"] else None
        where = f"{first['file']}:{first['line']}: {first['reason']}" if first else ""
        text = (
            f"{bad['count']} record(s) could not be read and were skipped (share "
            f"{bad['share']:.4f} of {bad['count'] + partial.records}; the limit is "
            f"{bad['threshold']:g})" + (f", first: {where}" if where else "")
        )
        messages.append(text)
        if bad["exceeded"]:
            violations.append(Violation(formats.DATASET_FEATURE, formats.BAD_RECORDS, text))
    if partial.outside_window:
        messages.append(
            f"{partial.outside_window} capture record(s) outside the window were skipped"
        )
    for feature in features:
        violations.extend(feature.violations)
        if feature.status == STATUS_MISSING:
            messages.append(f"column {feature.name!r} is missing from the current window")
    return violations, messages


def bad_records(partial: WindowPartial, threshold: float) -> dict[str, Any]:
    """The window's unreadable records: count, share of all its records, the limit, whether the
    share is over it, and the bounded sample (file, line, reason) the readers kept."""
    total = partial.malformed + partial.records
    share = partial.malformed / total if total else 0.0
    return {
        "count": partial.malformed,
        "share": share,
        "threshold": threshold,
        "exceeded": share > threshold,
        "sample": [b.to_dict() for b in partial.bad_samples],
    }


def _drift_share_threshold(baseline: Baseline, given: float | None) -> float:
    if given is not None:
        return given
    if baseline.dataset_drift_share is not None:
        return baseline.dataset_drift_share
    return Monitoring().dataset_drift_share


def evaluate(
    baseline: Baseline,
    partial: WindowPartial,
    thresholds: DriftThresholds | None = None,
    dataset_drift_share: float | None = None,
    *,
    expected_identity: ModelIdentity | None = None,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    threads: int | None = None,
    max_bad_record_share: float | None = None,
) -> DriftReport:
    """The drift report of an accumulated (or merged) window.

    `max_bad_record_share` defaults to Config.monitoring's; above it the unreadable records are
    a `bad_records_check` violation, at or below it they are reported and skipped.
    """
    bad_limit = (
        Monitoring().max_bad_record_share if max_bad_record_share is None else max_bad_record_share
    )
    if partial.baseline_id != baseline.baseline_id:
        raise ValueError(
            f"the window was accumulated for baseline {partial.baseline_id}, "
            f"not {baseline.baseline_id}"
        )
    limits = thresholds if thresholds is not None else baseline.thresholds()
    share_threshold = _drift_share_threshold(baseline, dataset_drift_share)
    measured = _measure_all(baseline, partial, threads)
    adjusted = benjamini_hochberg([m.p_value if m.values else math.nan for m in measured])
    features = tuple(
        _decide(m, p, limits, missing_column=partial.rows > 0 and m.present == 0)
        for m, p in zip(measured, adjusted, strict=True)
    )
    identity_problems: list[str] = []
    unverified: list[str] = []
    if expected_identity is not None:
        identity_problems = baseline.identity.mismatches(expected_identity)
        unverified = baseline.identity.unverified(expected_identity)
    violations, messages = _window_violations(
        baseline, partial, features, identity_problems, bad_limit
    )
    if unverified:
        messages.append(f"the baseline does not record {', '.join(unverified)}: not verified")
    drifted = [f.name for f in features if f.drifted]
    share = len(drifted) / len(features) if features else 0.0
    dataset = {
        "features": len(features),
        "drifted_features": len(drifted),
        "drifted_feature_names": drifted,
        "watch_feature_names": [f.name for f in features if f.status == STATUS_WATCH],
        "drift_share": share,
        "threshold": share_threshold,
        "comparison": ">=",
        "drifted": partial.rows > 0 and share >= share_threshold,
        "evaluated": partial.rows > 0,
        "multiple_testing": {
            "method": "benjamini-hochberg",
            "tests": sum(1 for m in measured if m.values),
            "alpha": limits.ks_p_value,
        },
        "baseline_identity_ok": not identity_problems,
    }
    return DriftReport(
        baseline_id=baseline.baseline_id,
        model=baseline.identity.to_dict(),
        expected_model=expected_identity.to_dict() if expected_identity else None,
        mode=partial.mode,
        window={
            "start": _time(window_start),
            "end": _time(window_end),
            "rows": partial.rows,
            "records": partial.records,
            "shards": len(partial.shards) or None,
            "bad_records": bad_records(partial, bad_limit),
        },
        thresholds=limits.model_dump() | {"dataset_drift_share": share_threshold},
        dataset=dataset,
        features=features,
        violations=tuple(violations),
        messages=tuple(messages),
    )


def run_drift(
    baseline: Baseline,
    current: pd.DataFrame | Mapping[str, Any] | Iterable[Chunk] | WindowPartial,
    thresholds: DriftThresholds | None = None,
    dataset_drift_share: float | None = None,
    *,
    mode: str = "exact",
    expected_identity: ModelIdentity | None = None,
    ignore_columns: Sequence[str] = (),
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    threads: int | None = None,
    max_bad_record_share: float | None = None,
) -> DriftReport:
    """Compare a current window (table, column mapping, reader chunks or partial) with a baseline.

    Thresholds default to those recorded in the baseline, then to Config.monitoring's defaults.
    """
    partial = accumulate(
        baseline, current, mode=mode, ignore_columns=ignore_columns, threads=threads
    )
    return evaluate(
        baseline,
        partial,
        thresholds,
        dataset_drift_share,
        expected_identity=expected_identity,
        window_start=window_start,
        window_end=window_end,
        threads=threads,
        max_bad_record_share=max_bad_record_share,
    )
