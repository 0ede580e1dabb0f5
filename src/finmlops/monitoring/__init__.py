"""Drift and model-quality monitoring engine: baseline, drift run, delayed-label quality, Model Monitor formats."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finmlops.monitoring.baseline import (
        Baseline,
        BaselineError,
        ModelIdentity,
        build_baseline,
        load_baseline,
        save_baseline,
    )
    from finmlops.monitoring.cloudwatch import (
        dimensions,
        drift_metrics,
        put_drift_metrics,
        put_metrics,
        put_quality_metrics,
        quality_metrics,
        write_metrics_file,
    )
    from finmlops.monitoring.drift import DriftReport, FeatureDrift, evaluate, run_drift
    from finmlops.monitoring.quality import (
        QualityReport,
        compute_model_quality,
        read_jsonl,
        write_quality_outputs,
    )
    from finmlops.monitoring.readers import open_dataset, parse_dataset_format
    from finmlops.monitoring.report import render_html, write_outputs
    from finmlops.monitoring.window import (
        WindowAccumulator,
        WindowPartial,
        accumulate,
        load_partial,
        merge_partials,
        save_partial,
    )

# Importing the package imports none of its modules: the engine needs pandas, pyarrow and scipy,
# which take seconds to import, and each entry point (`python -m finmlops.monitoring`,
# `python -m finmlops.monitoring.baseline_step`) imports only what its command uses. A name
# below is imported from its module on first use.
_EXPORTS = {
    "Baseline": "finmlops.monitoring.baseline",
    "BaselineError": "finmlops.monitoring.baseline",
    "ModelIdentity": "finmlops.monitoring.baseline",
    "build_baseline": "finmlops.monitoring.baseline",
    "load_baseline": "finmlops.monitoring.baseline",
    "save_baseline": "finmlops.monitoring.baseline",
    "dimensions": "finmlops.monitoring.cloudwatch",
    "drift_metrics": "finmlops.monitoring.cloudwatch",
    "put_drift_metrics": "finmlops.monitoring.cloudwatch",
    "put_metrics": "finmlops.monitoring.cloudwatch",
    "put_quality_metrics": "finmlops.monitoring.cloudwatch",
    "quality_metrics": "finmlops.monitoring.cloudwatch",
    "write_metrics_file": "finmlops.monitoring.cloudwatch",
    "DriftReport": "finmlops.monitoring.drift",
    "FeatureDrift": "finmlops.monitoring.drift",
    "evaluate": "finmlops.monitoring.drift",
    "run_drift": "finmlops.monitoring.drift",
    "QualityReport": "finmlops.monitoring.quality",
    "compute_model_quality": "finmlops.monitoring.quality",
    "read_jsonl": "finmlops.monitoring.quality",
    "write_quality_outputs": "finmlops.monitoring.quality",
    "open_dataset": "finmlops.monitoring.readers",
    "parse_dataset_format": "finmlops.monitoring.readers",
    "render_html": "finmlops.monitoring.report",
    "write_outputs": "finmlops.monitoring.report",
    "WindowAccumulator": "finmlops.monitoring.window",
    "WindowPartial": "finmlops.monitoring.window",
    "accumulate": "finmlops.monitoring.window",
    "load_partial": "finmlops.monitoring.window",
    "merge_partials": "finmlops.monitoring.window",
    "save_partial": "finmlops.monitoring.window",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "Baseline",
    "BaselineError",
    "DriftReport",
    "FeatureDrift",
    "ModelIdentity",
    "QualityReport",
    "WindowAccumulator",
    "WindowPartial",
    "accumulate",
    "build_baseline",
    "compute_model_quality",
    "dimensions",
    "drift_metrics",
    "evaluate",
    "load_baseline",
    "load_partial",
    "merge_partials",
    "open_dataset",
    "parse_dataset_format",
    "put_drift_metrics",
    "put_metrics",
    "put_quality_metrics",
    "quality_metrics",
    "read_jsonl",
    "render_html",
    "run_drift",
    "save_baseline",
    "save_partial",
    "write_metrics_file",
    "write_outputs",
    "write_quality_outputs",
]
