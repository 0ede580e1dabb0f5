"""Drift and model-quality monitoring engine: baseline, drift run, delayed-label quality, Model Monitor formats."""

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
