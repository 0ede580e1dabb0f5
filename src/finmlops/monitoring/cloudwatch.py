"""CloudWatch metrics of drift and model-quality runs, two ways.

- As a bring-your-own-container Model Monitor job: JSON lines in /opt/ml/output/metrics/cloudwatch,
  which SageMaker publishes (namespace aws/sagemaker/Endpoints/data-metrics for endpoints).
- As a pipeline processing step: PutMetricData with a boto3 CloudWatch client passed in.
Metric names follow Model Monitor (feature_baseline_drift_<f>, feature_non_null_<f>,
feature_data_<f>) plus the engine's own (feature_drift_<f>, dataset_drift_share, ...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from finmlops.monitoring.drift import DriftReport
    from finmlops.monitoring.explanation import ExplanationReport
    from finmlops.monitoring.quality import QualityReport

METRICS_DIR = Path("/opt/ml/output/metrics/cloudwatch")
# The metrics "location" of the BYOC contract is a directory; the file name is ours.
METRICS_FILE = "cloudwatch_metrics.jsonl"
# Namespaces of the PutMetricData path (names under "AWS/" are reserved for AWS services).
DATA_NAMESPACE = "finmlops/data-metrics"
QUALITY_NAMESPACE = "finmlops/model-metrics"
# Clarify's feature-attribution jobs publish into aws/sagemaker/Endpoints/explainability-metrics
# (docs page clarify-feature-attribute-drift-cw); the pipeline step's own namespace mirrors it.
EXPLANATION_NAMESPACE = "finmlops/explainability-metrics"
EXPLANATION_VIOLATIONS = "explanation_violations"
EXPLANATION_NDCG = "feature_attribution_ndcg"
EXPLANATION_SHIFT = "feature_attribution_shift"
# PutMetricData accepts up to 1000 values per request; fewer keeps each request small.
PUT_BATCH = 500
# Published by every run of both jobs, stamped with the run's time (the alarms watch them).
BAD_RECORD_SHARE = "bad_record_share"
BAD_RECORD_COUNT = "bad_record_count"
QUALITY_VIOLATIONS = "quality_violations"
NOT_COMPUTABLE = "quality_not_computable"

Dimension = Mapping[str, str]


class CloudWatchClient(Protocol):
    def put_metric_data(self, **kwargs: Any) -> Any: ...


def dimensions(
    *, endpoint: str | None = None, schedule: str | None = None, model: str | None = None
) -> list[dict[str, str]]:
    """Model Monitor's recommended dimensions (Endpoint, MonitoringSchedule), else Model."""
    out = []
    if endpoint:
        out.append({"Name": "Endpoint", "Value": endpoint})
    if schedule:
        out.append({"Name": "MonitoringSchedule", "Value": schedule})
    if not out and model:
        out.append({"Name": "Model", "Value": model})
    return out


def _datum(
    name: str, value: float, timestamp: datetime, dims: Sequence[Dimension], unit: str = "None"
) -> dict[str, Any] | None:
    if value is None or not math.isfinite(value):
        return None  # CloudWatch rejects NaN and infinities
    return {
        "MetricName": name,
        "Timestamp": timestamp,
        "Dimensions": [dict(d) for d in dims],
        "Value": float(value),
        "Unit": unit,
    }


def drift_metrics(
    report: DriftReport, *, timestamp: datetime, dims: Sequence[Dimension] = ()
) -> list[dict[str, Any]]:
    """PutMetricData MetricData entries of a drift report (non-finite values left out)."""
    out: list[dict[str, Any] | None] = []
    for feature in report.features:
        name = feature.name
        if feature.baseline_drift is not None:
            out.append(
                _datum(f"feature_baseline_drift_{name}", feature.baseline_drift, timestamp, dims)
            )
        current = feature.completeness.get("current")
        if current is not None:
            out.append(_datum(f"feature_non_null_{name}", current, timestamp, dims))
        out.append(_datum(f"feature_drift_{name}", float(feature.drifted), timestamp, dims))
        psi = feature.test("psi")
        if psi is not None and psi.value is not None:
            out.append(_datum(f"feature_psi_{name}", psi.value, timestamp, dims))
        stats = feature.statistics
        if feature.kind == "numeric" and stats and stats["common"]["num_present"]:
            out.append(
                {
                    "MetricName": f"feature_data_{name}",
                    "Timestamp": timestamp,
                    "Dimensions": [dict(d) for d in dims],
                    "StatisticValues": {
                        "SampleCount": float(stats["common"]["num_present"]),
                        "Sum": float(stats["sum"]),
                        "Minimum": float(stats["min"]),
                        "Maximum": float(stats["max"]),
                    },
                    "Unit": "None",
                }
            )
    dataset = report.dataset
    # A window without rows was not judged: no drift value, so the monitor-silent alarm (which
    # counts dataset_drift_share) still sees an endpoint nobody's traffic was checked for.
    if dataset.get("evaluated", True):
        out.append(_datum("dataset_drift_share", dataset["drift_share"], timestamp, dims))
        out.append(_datum("dataset_drift", float(dataset["drifted"]), timestamp, dims))
        out.append(
            _datum(
                "dataset_drifted_features", dataset["drifted_features"], timestamp, dims, "Count"
            )
        )
    out.append(_datum("dataset_item_count", report.window["rows"], timestamp, dims, "Count"))
    # Every run, an idle one included (0): the bad-records alarm treats a missing value as
    # breaching, since only a run that did not finish publishes none.
    bad = report.window["bad_records"]
    out.append(_datum(BAD_RECORD_SHARE, bad["share"], timestamp, dims))
    out.append(_datum(BAD_RECORD_COUNT, bad["count"], timestamp, dims, "Count"))
    out.append(_datum("constraint_violations", len(report.violations), timestamp, dims, "Count"))
    return [d for d in out if d is not None]


def quality_metrics(
    report: QualityReport,
    *,
    dims: Sequence[Dimension] = (),
    timestamp: datetime | None = None,
) -> list[dict[str, Any]]:
    """One set of model-quality values per window, stamped with the window's start, and the
    run's own values, stamped with the run's time (`timestamp`, else the report's end, else now).

    The run's values are published by every run, an idle one included (zeros): the alarms watch
    them and treat a missing value as breaching, since only a run that did not finish leaves
    one out. A window's values are history for the dashboard: they are stamped a label delay in
    the past, where no alarm evaluation range reaches.
    """
    out: list[dict[str, Any] | None] = []
    for window in report.windows:
        if window.start is None:
            continue
        stamp = window.start
        out.append(_datum("label_coverage", window.label_coverage, stamp, dims, "None"))
        out.append(_datum("captured_count", window.captured, stamp, dims, "Count"))
        out.append(_datum("labelled_count", window.labelled, stamp, dims, "Count"))
        for key in ("auc", "ks", "precision", "recall", "f1", "accuracy", "brier_score"):
            value = window.metrics.get(key)
            if value is not None:
                out.append(_datum(key, value, stamp, dims))
    run = timestamp or report.evaluated_at or datetime.now(UTC).replace(microsecond=0)
    out.append(_datum(QUALITY_VIOLATIONS, len(report.violations), run, dims, "Count"))
    out.append(_datum(NOT_COMPUTABLE, report.not_computable, run, dims, "Count"))
    out.append(_datum(BAD_RECORD_SHARE, report.bad_records.get("share", 0.0), run, dims))
    out.append(_datum(BAD_RECORD_COUNT, report.bad_records.get("count", 0), run, dims, "Count"))
    return [d for d in out if d is not None]


def explanation_metrics(
    report: ExplanationReport, *, timestamp: datetime, dims: Sequence[Dimension] = ()
) -> list[dict[str, Any]]:
    """An explanation-drift run's values, stamped with the run's time. `explanation_violations`
    (what the alarm watches) and `explanation_evaluated` are published by every run, an idle
    one included; NDCG and the attribution shift only for a window that was judged, so a
    dashboard never shows a pass where nothing was measured."""
    out: list[dict[str, Any] | None] = [
        _datum(EXPLANATION_VIOLATIONS, len(report.violations), timestamp, dims, "Count"),
        _datum("explanation_evaluated", int(report.evaluated), timestamp, dims, "Count"),
        _datum("explanation_rows", report.window_rows, timestamp, dims, "Count"),
    ]
    if report.evaluated:
        out.append(_datum(EXPLANATION_NDCG, report.ndcg, timestamp, dims))  # type: ignore[arg-type]
        out.append(_datum(EXPLANATION_SHIFT, report.attribution_shift, timestamp, dims))  # type: ignore[arg-type]
    return [d for d in out if d is not None]


def _line(datum: Mapping[str, Any]) -> str:
    stamp = datum["Timestamp"]
    if isinstance(stamp, datetime):
        stamp = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(dict(datum) | {"Timestamp": stamp}, sort_keys=True)


def write_metrics_file(
    metric_data: Sequence[Mapping[str, Any]], directory: str | Path = METRICS_DIR
) -> Path:
    """The BYOC metrics file: one PutMetricData-shaped JSON object per line."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    path = root / METRICS_FILE
    path.write_text("".join(_line(d) + "\n" for d in metric_data), encoding="utf-8")
    return path


def put_metrics(
    client: CloudWatchClient,
    metric_data: Sequence[Mapping[str, Any]],
    *,
    namespace: str = DATA_NAMESPACE,
    batch: int = PUT_BATCH,
) -> int:
    """PutMetricData in batches through the given client; returns the number of values sent."""
    for begin in range(0, len(metric_data), batch):
        client.put_metric_data(
            Namespace=namespace, MetricData=[dict(d) for d in metric_data[begin : begin + batch]]
        )
    return len(metric_data)


def put_drift_metrics(
    client: CloudWatchClient,
    report: DriftReport,
    *,
    timestamp: datetime,
    dims: Sequence[Dimension] = (),
    namespace: str = DATA_NAMESPACE,
) -> int:
    """A drift report's metrics through PutMetricData with the given CloudWatch client."""
    return put_metrics(
        client, drift_metrics(report, timestamp=timestamp, dims=dims), namespace=namespace
    )


def put_quality_metrics(
    client: CloudWatchClient,
    report: QualityReport,
    *,
    dims: Sequence[Dimension] = (),
    namespace: str = QUALITY_NAMESPACE,
    timestamp: datetime | None = None,
) -> int:
    """A model-quality report's per-window and per-run metrics through PutMetricData."""
    return put_metrics(
        client, quality_metrics(report, dims=dims, timestamp=timestamp), namespace=namespace
    )
