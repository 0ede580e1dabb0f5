"""Model Monitor file formats (statistics.json, constraints.json, constraint_violations.json) and
the canonical JSON every output of the engine is written with (same input, same bytes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
# The name Model Monitor's analyzer writes (the BYOC page spells it "constraints_violations").
VIOLATIONS_FILE = "constraint_violations.json"

# Model Monitor's constraint_check_type values, plus ours for the baseline's identity and for
# unreadable records.
MISSING_COLUMN = "missing_column_check"
EXTRA_COLUMN = "extra_column_check"
DATA_TYPE = "data_type_check"
COMPLETENESS = "completeness_check"
BASELINE_DRIFT = "baseline_drift_check"
CATEGORICAL_VALUES = "categorical_values_check"
BASELINE_IDENTITY = "baseline_identity_check"
# Ours: more than monitoring.max_bad_record_share of the window's records could not be read.
BAD_RECORDS = "bad_records_check"

KLL_BUCKETS = 10  # Model Monitor materialises its distribution in 10 buckets
KLL_C = 0.64  # Apache DataSketches' KLL default c
DATASET_FEATURE = "(dataset)"  # feature_name of a violation about the whole window


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


def clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to null, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    return value


def canonical_json(data: Any) -> str:
    """Sorted keys, two-space indent, shortest round-trip floats, trailing newline."""
    return json.dumps(clean(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(canonical_json(data), encoding="utf-8")
    return path


def violations_document(violations: Sequence[Violation]) -> dict[str, Any]:
    return {"violations": [v.to_dict() for v in violations]}


def kll_buckets(sorted_values: npt.NDArray[np.float64]) -> list[dict[str, float]]:
    """10 equal-width buckets from min to max with exact counts (Model Monitor's layout)."""
    if sorted_values.size == 0:
        return []
    low = float(sorted_values[0])
    high = float(sorted_values[-1])
    if high == low:
        return [{"lower_bound": low, "upper_bound": high, "count": float(sorted_values.size)}]
    bounds = np.linspace(low, high, KLL_BUCKETS + 1)
    cuts = np.searchsorted(sorted_values, bounds[1:-1], "left")
    edges = np.concatenate([[0], cuts, [sorted_values.size]])
    return [
        {
            "lower_bound": float(bounds[i]),
            "upper_bound": float(bounds[i + 1]),
            "count": float(edges[i + 1] - edges[i]),
        }
        for i in range(KLL_BUCKETS)
    ]


def kll_sketch(sorted_values: npt.NDArray[np.float64], k: int = 2048) -> dict[str, Any]:
    """A KLL-shaped summary: the order statistics every 2^h-th rank, held at level h.

    This is a deterministic compaction of the exact sorted data, not a randomised KLL sketch:
    each retained value stands for 2^h values, so a rank read from it is off by at most 2^h.
    """
    size = int(sorted_values.size)
    level = 0
    while size > k * (1 << level):
        level += 1
    weight = 1 << level
    retained = sorted_values[weight // 2 :: weight] if weight > 1 else sorted_values
    levels: list[list[float]] = [[] for _ in range(level)] + [[float(v) for v in retained]]
    return {"parameters": {"c": KLL_C, "k": float(k)}, "data": levels}


def numerical_statistics(
    *,
    present: int,
    missing: int,
    total: float,
    mean: float,
    std: float,
    minimum: float,
    maximum: float,
    sorted_values: npt.NDArray[np.float64] | None,
    buckets: list[dict[str, float]] | None = None,
) -> dict[str, Any]:
    kll: dict[str, Any] = {
        "buckets": buckets if buckets is not None else kll_buckets(_or_empty(sorted_values))
    }
    if sorted_values is not None and sorted_values.size:
        kll["sketch"] = kll_sketch(sorted_values)
    return {
        "common": {"num_present": present, "num_missing": missing},
        "mean": mean,
        "sum": total,
        "std_dev": std,
        "min": minimum,
        "max": maximum,
        "distribution": {"kll": kll},
    }


def _or_empty(values: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
    return values if values is not None else np.empty(0, dtype=np.float64)


def string_statistics(
    *, present: int, missing: int, categories: Sequence[str], counts: Sequence[int]
) -> dict[str, Any]:
    return {
        "common": {"num_present": present, "num_missing": missing},
        "distinct_count": float(sum(1 for c in counts if c > 0)),
        "distribution": {
            "categorical": {
                "buckets": [
                    {"value": value, "count": float(count)}
                    for value, count in zip(categories, counts, strict=True)
                    if count > 0
                ]
            }
        },
    }


def monitoring_config(comparison_threshold: float) -> dict[str, Any]:
    return {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        # Any value of the wrong type is reported: in credit data one is already a defect.
        "datatype_check_threshold": 0.0,
        "domain_content_threshold": 0.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": comparison_threshold,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": comparison_threshold,
            "categorical_drift_method": "LInfinity",
        },
    }
