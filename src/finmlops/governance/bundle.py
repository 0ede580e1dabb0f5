"""The evidence of one model version, gathered in one object, and what of it is missing.

The validation report and the model card are both rendered from an `EvidenceBundle`: the
step outputs of the build (data_quality.json, evaluation.json, the drift baseline), its lineage
and, once decided, the approval record. `missing_evidence` names every piece that a complete
version has and this one lacks; the report puts that list in its INCOMPLETE EVIDENCE banner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finmlops.config import Config
from finmlops.contracts import ApprovalRecord
from finmlops.gates import GATES, json_get

GateStatus = Literal["pass", "FAIL", "not evaluated"]

EVALUATION_FILE = "evaluation.json"
DATA_QUALITY_FILE = "data_quality.json"
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"

_SOURCE_FILE = {"data_quality": DATA_QUALITY_FILE, "evaluation": EVALUATION_FILE}
_UNKNOWN = {"", "unknown", "none"}


@dataclass(frozen=True)
class Lineage:
    """Where the version came from. Empty strings are unknown; the data fingerprint defaults to
    the one data_quality.json records."""

    git_commit: str = ""
    training_image: str = ""
    data_fingerprint: str = ""
    model_artifact: str = ""
    training_job_arn: str = ""
    pipeline_execution_arn: str = ""
    model_package_arn: str = ""
    created_by: str = ""


@dataclass(frozen=True)
class Decision:
    """The approver's decision on the version, once there is one."""

    status: str  # Approved or Rejected
    record: ApprovalRecord
    # The validator's sign-off the approval checked (the approval's audit record names it), as
    # "<validator> (audit record <id>)"; "" when the tier required none or it is not recorded.
    signoff: str = ""


@dataclass(frozen=True)
class EvidenceBundle:
    data_quality: Mapping[str, Any] | None = None
    evaluation: Mapping[str, Any] | None = None
    baseline_statistics: Mapping[str, Any] | None = None
    baseline_constraints: Mapping[str, Any] | None = None
    lineage: Lineage = Lineage()
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    split_rows: Mapping[str, int] = field(default_factory=dict)
    # Gate thresholds the run used when they differ from the config (pipeline parameters).
    threshold_overrides: Mapping[str, float] = field(default_factory=dict)
    decision: Decision | None = None
    # The reason codes' texts and coverage on the test split (finmlops.serving.package_step).
    reasons: Mapping[str, Any] | None = None

    @property
    def data_fingerprint(self) -> str:
        if self.lineage.data_fingerprint:
            return self.lineage.data_fingerprint
        return str((self.data_quality or {}).get("data_fingerprint", ""))


@dataclass(frozen=True)
class GateRow:
    """One release gate as the version met it, or why it could not be evaluated."""

    name: str
    description: str
    source_file: str
    json_path: str
    parameter: str
    comparison: str
    threshold: float
    value: float | None
    status: GateStatus
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def gate_rows(config: Config, bundle: EvidenceBundle) -> list[GateRow]:
    """Every gate of `finmlops.gates.GATES`, in pipeline order, with value, threshold and result."""
    rows: list[GateRow] = []
    sources: dict[str, Mapping[str, Any] | None] = {
        "data_quality": bundle.data_quality,
        "evaluation": bundle.evaluation,
    }
    for gate in GATES:
        threshold = float(bundle.threshold_overrides.get(gate.parameter, gate.threshold(config)))
        document = sources[gate.source]
        source_file = _SOURCE_FILE[gate.source]
        value: float | None = None
        status: GateStatus = "not evaluated"
        note = ""
        if not document:
            note = f"{source_file} is missing"
        else:
            try:
                value = json_get(document, gate.path(config))
            except (KeyError, TypeError, ValueError):
                note = f"{source_file} has no {gate.path(config)}"
            else:
                status = "pass" if gate.passes(value, threshold) else "FAIL"
        rows.append(
            GateRow(
                name=gate.name,
                description=gate.description,
                source_file=source_file,
                json_path=gate.path(config),
                parameter=gate.parameter,
                comparison=gate.comparison,
                threshold=threshold,
                value=value,
                status=status,
                note=note,
            )
        )
    return rows


def _has(document: Mapping[str, Any] | None, path: str) -> bool:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return node is not None and node not in ([], {})


_EVALUATION_PARTS: tuple[tuple[str, str], ...] = (
    ("binary_classification_metrics.auc.value", "model metrics: AUC"),
    ("binary_classification_metrics.ks.value", "model metrics: KS"),
    ("binary_classification_metrics.confusion_matrix", "model metrics: confusion matrix"),
    (
        "binary_classification_metrics.receiver_operating_characteristic_curve.false_positive_rates",
        "ROC curve (evaluation.json binary_classification_metrics.receiver_operating_characteristic_curve)",
    ),
    (
        "binary_classification_metrics.calibration",
        "calibration table (evaluation.json binary_classification_metrics.calibration)",
    ),
    ("fairness.disparate_impact", "fairness: disparate impact"),
    ("fairness.statistical_parity_difference_abs", "fairness: statistical parity difference"),
    ("fairness.groups", "fairness by protected group (evaluation.json fairness.groups)"),
    (
        "binary_classification_metrics.expected_calibration_error.value",
        "expected calibration error (evaluation.json binary_classification_metrics)",
    ),
    ("uncertainty.auc.lower", "confidence intervals (evaluation.json uncertainty)"),
    (
        "score_stability.train_vs_test.psi",
        "score stability: train vs test PSI (evaluation.json score_stability)",
    ),
    ("explanation.importance", "explanation: SHAP importance (evaluation.json explanation)"),
)


def missing_evidence(
    config: Config, bundle: EvidenceBundle, *, require_drift_baseline: bool = True
) -> list[str]:
    """Each piece of evidence a complete version has and this one lacks, in report order.

    A whole missing file is one item naming what it would have carried; a file that is there but
    lacks a section gets one item per section. Gates that could not be evaluated are listed too.
    """
    missing: list[str] = []
    if not bundle.data_quality:
        missing.append(
            "data_quality.json (preprocess output: rows, missing shares, positive share, "
            "data fingerprint)"
        )
    elif not bundle.data_quality.get("data_fingerprint"):
        missing.append("data fingerprint (data_quality.json data_fingerprint)")
    if not bundle.evaluation:
        missing.append(
            "evaluation.json (evaluate output: model metrics, ROC and calibration curves, "
            "fairness by group)"
        )
    else:
        missing.extend(
            label for path, label in _EVALUATION_PARTS if not _has(bundle.evaluation, path)
        )
    if require_drift_baseline and not bundle.baseline_statistics:
        missing.append("drift baseline statistics.json (baseline step output)")
    for row in gate_rows(config, bundle):
        if row.status == "not evaluated":
            missing.append(f"gate {row.name}: not evaluated ({row.note})")
    if bundle.lineage.git_commit.strip().lower() in _UNKNOWN:
        missing.append("lineage: git commit")
    if bundle.lineage.training_image.strip().lower() in _UNKNOWN:
        missing.append("lineage: training image")
    return missing


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when the file is absent (the caller reports it missing)."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} holds {type(document).__name__}, not a JSON object")
    return document


def find_file(folder: Path | None, name: str) -> Path | None:
    """`name` directly in the folder, else the only file of that name below it (SageMaker copies
    an S3 prefix with its sub-folders)."""
    if folder is None or not folder.exists():
        return None
    if folder.is_file():
        return folder if folder.name == name else None
    direct = folder / name
    if direct.is_file():
        return direct
    found = sorted(folder.rglob(name))
    if len(found) > 1:
        raise ValueError(f"{len(found)} files named {name} under {folder}: expected one")
    return found[0] if found else None
