"""What a build's MLflow run holds: parameters, metrics and tags, as pure functions of its outputs.

No MLflow here: `run_content` turns the step outputs (hyperparameters, data_quality.json,
evaluation.json, gate results) into plain names and values, so what is logged can be read and
tested without a tracking store. Names keep to letters, digits, `_ - . / space`, which every
MLflow version and SageMaker's managed servers accept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finmlops.gates import GateResult

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
_CONFUSION = {("0", "0"): "tn", ("0", "1"): "fp", ("1", "0"): "fn", ("1", "1"): "tp"}
# Entries of binary_classification_metrics that are not {"value": ...} scalars.
_STRUCTURED = {
    "confusion_matrix",
    "calibration",
    "receiver_operating_characteristic_curve",
    "precision_recall_curve",
}


class RunTag:
    """Tag names on a build's run. `MODEL_PACKAGE_ARN` is set once the version is registered."""

    GIT_COMMIT = "git_commit"
    PIPELINE_EXECUTION = "pipeline_execution_arn"
    MODEL_PACKAGE_GROUP = "model_package_group"
    MODEL_PACKAGE_ARN = "model_package_arn"
    DATA_FINGERPRINT = "data_fingerprint"
    # "passed", or "failed: <gate>, <gate>".
    GATES = "gates"
    # MLflow's own tag: the UI shows it as the run's source version.
    MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"


@dataclass(frozen=True)
class GateRow:
    """One gate's verdict, from a `finmlops.gates.GateResult` or a (name, value, threshold, passed)."""

    name: str
    value: float
    threshold: float
    passed: bool
    comparison: str = ""

    @classmethod
    def of(cls, gate: GateResult | tuple[str, float, float, bool]) -> GateRow:
        if isinstance(gate, tuple):
            name, value, threshold, passed = gate
            return cls(str(name), float(value), float(threshold), bool(passed))
        return cls(gate.gate.name, gate.value, gate.threshold, gate.passed, gate.gate.comparison)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int = 0


@dataclass(frozen=True)
class RunContent:
    params: dict[str, str]
    metrics: list[Metric]
    tags: dict[str, str]
    gates: list[GateRow] = field(default_factory=list)


def safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _binary_metrics(binary: Mapping[str, Any]) -> list[Metric]:
    metrics: list[Metric] = []
    for name, entry in sorted(binary.items()):
        if name in _STRUCTURED or not isinstance(entry, Mapping):
            continue
        value = _number(entry.get("value"))
        if value is not None:
            metrics.append(Metric(safe_name(name), value))
    matrix: Mapping[str, Any] = binary.get("confusion_matrix") or {}
    for (actual, predicted), cell in _CONFUSION.items():
        value = _number((matrix.get(actual) or {}).get(predicted))
        if value is not None:
            metrics.append(Metric(f"confusion_matrix/{cell}", value))
    # One point per score decile: MLflow draws it as a chart over the step axis.
    for decile, row in enumerate(binary.get("calibration") or []):
        for name in ("mean_predicted", "observed_rate"):
            value = _number(row.get(name))
            if value is not None:
                metrics.append(Metric(f"calibration/{name}", value, step=decile))
    return metrics


def _numbers(prefix: str, entries: Mapping[str, Any]) -> list[Metric]:
    metrics = []
    for name, raw in sorted(entries.items()):
        value = _number(raw)
        if value is not None:
            metrics.append(Metric(f"{prefix}{safe_name(name)}", value))
    return metrics


def evaluation_metrics(evaluation: Mapping[str, Any]) -> list[Metric]:
    """Every number of evaluation.json that is a metric; curves stay in the logged file."""
    metrics = _binary_metrics(evaluation.get("binary_classification_metrics") or {})
    fairness: Mapping[str, Any] = evaluation.get("fairness") or {}
    metrics += _numbers("fairness/", fairness)
    for key, group in fairness_group_keys(fairness).items():
        metrics += _numbers(f"fairness/group/{key}/", group)
    for attribute in fairness.get("attributes") or []:
        name = safe_name(str(attribute.get("name", "")))
        for row in attribute.get("by_value") or []:
            label = safe_name(str(row.get("group", "")))
            metrics += _numbers(f"fairness/value/{name}/{label}/", row)
    return metrics


def fairness_group_keys(fairness: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each protected group under a metric-safe key; two ids that read alike once made safe
    ("a,b" and "a_b") get distinct keys, and the params map every key to its exact id."""
    keys: dict[str, Mapping[str, Any]] = {}
    for group in fairness.get("groups") or []:
        base = safe_name(str(group.get("id", "")))
        key, n = base, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys[key] = group
    return keys


def data_metrics(data_quality: Mapping[str, Any]) -> list[Metric]:
    metrics = []
    for name in ("positive_share", "max_missing_share"):
        value = _number(data_quality.get(name))
        if value is not None:
            metrics.append(Metric(f"data/{name}", value))
    metrics += _numbers("data/missing_share/", data_quality.get("missing_share") or {})
    return metrics


def data_params(
    data_quality: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    dataset_sizes: Mapping[str, int] | None,
) -> dict[str, str]:
    params = {}
    if "data_fingerprint" in data_quality:
        params["data.fingerprint"] = str(data_quality["data_fingerprint"])
    for name in ("rows", "columns"):
        if name in data_quality:
            params[f"data.{name}"] = str(data_quality[name])
    sizes = dict(data_quality.get("splits") or {})
    if "test_rows" in evaluation:
        sizes.setdefault("test", evaluation["test_rows"])
    sizes.update(dataset_sizes or {})
    for split, count in sorted(sizes.items()):
        params[f"data.{safe_name(split)}_rows"] = str(count)
    fairness: Mapping[str, Any] = evaluation.get("fairness") or {}
    # The exact id and definition as JSON: a value holding a comma stays one value.
    for key, group in fairness_group_keys(fairness).items():
        params[f"fairness.group.{key}"] = json.dumps(
            {"id": group.get("id"), "definition": group.get("definition")}, ensure_ascii=False
        )
    if "min_group_size" in fairness:
        params["fairness.min_group_size"] = str(fairness["min_group_size"])
    return params


def gate_entries(gates: Iterable[GateRow]) -> tuple[dict[str, str], list[Metric], str]:
    """Params (the rule), metrics (value and 1/0 verdict) and the summary tag of the gates."""
    params: dict[str, str] = {}
    metrics: list[Metric] = []
    failed = []
    for gate in gates:
        name = safe_name(gate.name)
        params[f"gate.{name}"] = f"{gate.comparison} {gate.threshold:g}".strip()
        metrics.append(Metric(f"gate/{name}/value", gate.value))
        metrics.append(Metric(f"gate/{name}/passed", 1.0 if gate.passed else 0.0))
        if not gate.passed:
            failed.append(gate.name)
    summary = f"failed: {', '.join(failed)}" if failed else "passed"
    return params, metrics, summary


def run_content(
    *,
    hyperparameters: Mapping[str, str],
    data_quality: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    gates: Sequence[GateResult | tuple[str, float, float, bool] | GateRow],
    tags: Mapping[str, str],
    dataset_sizes: Mapping[str, int] | None = None,
) -> RunContent:
    """The parameters, metrics and tags of one build's run."""
    rows = [g if isinstance(g, GateRow) else GateRow.of(g) for g in gates]
    gate_params, gate_metrics, gate_summary = gate_entries(rows)
    params = {safe_name(k): str(v) for k, v in sorted(hyperparameters.items())}
    params.update(data_params(data_quality, evaluation, dataset_sizes))
    params.update(gate_params)
    metrics = [*evaluation_metrics(evaluation), *data_metrics(data_quality), *gate_metrics]
    run_tags = {str(k): str(v) for k, v in tags.items()}
    if "data_fingerprint" in data_quality:
        run_tags[RunTag.DATA_FINGERPRINT] = str(data_quality["data_fingerprint"])
    if rows:
        run_tags[RunTag.GATES] = gate_summary
    commit = run_tags.get(RunTag.GIT_COMMIT)
    if commit and commit != "unknown":
        run_tags[RunTag.MLFLOW_GIT_COMMIT] = commit
    return RunContent(params, metrics, run_tags, rows)


__all__ = ["GateRow", "Metric", "RunContent", "RunTag", "run_content"]
