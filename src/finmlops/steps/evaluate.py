"""Evaluate step: discrimination, calibration and fairness of the trained model on the test split.

Runs inside a SageMaker processing job (the XGBoost image, which carries xgboost, pandas and
scikit-learn) and locally. Writes, in the evaluation output folder:

- `evaluation.json`: the Model Registry model-quality format (`binary_classification_metrics`
  with `{"value", "standard_deviation"}` entries, confusion matrix, ROC and PR curves) plus a
  `fairness` section; the pipeline's condition steps read the gate values from it (`GATE_PATHS`,
  `fairness_gate_path`).
- `fairness.json`: the post-training bias report in SageMaker Clarify's layout, registered as
  the version's bias metrics.

The protected groups come as a JSON file (`--fairness`, the config's `model.fairness`): values
never travel comma-joined, and a processing job's arguments are limited to 256 characters each
(SageMaker API reference, `AppSpecification.ContainerArguments`), too few for a list of groups.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xgboost as xgb

# xgboost and scikit-learn are imported where they are used: the gates and the evidence and
# track steps import this module for GATE_PATHS alone, and those two imports cost about a second.

EVALUATION_FILE = "evaluation.json"
FAIRNESS_FILE = "fairness.json"
MODEL_FILE = "xgboost-model"

# JSON paths in evaluation.json that the pipeline's gates compare with their thresholds. The
# fairness gates read the worst group under a key derived from the fairness spec and cut-off the
# step measured (`fairness_gate_path`): a run that measured other groups, or another cut-off,
# than the platform's has no value where the platform's gate looks (docs/decisions/0020).
GATE_PATHS = {
    "auc": "binary_classification_metrics.auc.value",
    "ks": "binary_classification_metrics.ks.value",
}
FAIRNESS_GATE_METRICS = {
    "disparate_impact": "disparate_impact",
    "parity_difference": "statistical_parity_difference_abs",
}


def spec_key(spec: Mapping[str, Any], cutoff: float) -> str:
    """The key the worst-group values are written under: a digest of what was measured."""
    canonical = json.dumps(
        {"cutoff": float(cutoff), "fairness": spec}, sort_keys=True, separators=(",", ":")
    )
    return "spec_" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def fairness_gate_path(metric: str, spec: Mapping[str, Any], cutoff: float) -> str:
    """The JSON path of a fairness gate's value (`metric` is a key of FAIRNESS_GATE_METRICS)."""
    return f"fairness.{spec_key(spec, cutoff)}.{FAIRNESS_GATE_METRICS[metric]}"


# SageMaker's container paths are the defaults; the offline emulator runs this same file with
# the container's /opt/ml tree under another root, named by this variable.
CONTAINER_ROOT_ENV = "FINMLOPS_CONTAINER_ROOT"


def container_path(path: str) -> Path:
    return Path(os.environ.get(CONTAINER_ROOT_ENV, "/")) / path.lstrip("/")


class EvaluationError(ValueError):
    """The inputs cannot be evaluated; the message says which input and why."""


def _metric(value: float) -> dict[str, object]:
    return {"value": _round(value), "standard_deviation": "NaN"}


def _round(value: float) -> float:
    return float(round(float(value), 6))


def _curve(values: np.ndarray, points: int = 101) -> list[float]:
    """Curves thinned to a fixed number of points, so the file stays small and deterministic."""
    if len(values) <= points:
        return [_round(v) for v in values]
    idx = np.linspace(0, len(values) - 1, points).round().astype(int)
    return [_round(v) for v in values[idx]]


def discrimination(y: np.ndarray, score: np.ndarray, cutoff: float) -> dict[str, object]:
    from sklearn.metrics import (
        brier_score_loss,
        confusion_matrix,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    if len(np.unique(y)) < 2:
        raise EvaluationError("the test labels hold a single class: AUC and KS are undefined")
    auc = roc_auc_score(y, score)
    fpr, tpr, _ = roc_curve(y, score)
    precision_c, recall_c, _ = precision_recall_curve(y, score)
    predicted = (score >= cutoff).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "auc": _metric(auc),
        "gini": _metric(2 * auc - 1),
        # KS: the largest gap between the score distributions of bad and good loans.
        "ks": _metric(float(np.max(tpr - fpr))),
        "accuracy": _metric((tp + tn) / len(y)),
        "precision": _metric(precision),
        "recall": _metric(recall),
        "f1": _metric(f1),
        "brier_score": _metric(brier_score_loss(y, score)),
        "positive_rate": _metric(float(np.mean(y))),
        "cutoff": _metric(cutoff),
        "confusion_matrix": {
            "0": {"0": int(tn), "1": int(fp)},
            "1": {"0": int(fn), "1": int(tp)},
        },
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": _curve(fpr),
            "true_positive_rates": _curve(tpr),
        },
        "precision_recall_curve": {
            "precisions": _curve(precision_c),
            "recalls": _curve(recall_c),
        },
    }


def calibration(y: np.ndarray, score: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed bad rate against mean predicted probability, per score decile."""
    order = np.argsort(score, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part) == 0:
            continue
        rows.append(
            {
                "count": len(part),
                "mean_predicted": _round(float(np.mean(score[part]))),
                "observed_rate": _round(float(np.mean(y[part]))),
                "min_score": _round(float(np.min(score[part]))),
                "max_score": _round(float(np.max(score[part]))),
            }
        )
    return rows


@dataclass(frozen=True)
class Group:
    """One protected group, as rows of the test split: in the group, and with a known value of
    every attribute it is defined on (the others are the reference it is compared with)."""

    id: str
    kind: str  # "attribute" or "intersection"
    attributes: tuple[str, ...]
    label: str
    member: np.ndarray
    known: np.ndarray


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


_LOWER = {"at_least": "<=", "above": "<"}
_UPPER = {"below": "<", "at_most": "<="}


def range_label(column: str, bounds: Mapping[str, float]) -> str:
    """`25 <= age < 40`, `age < 25`, `age >= 65`: the bounds as the reader writes them."""
    lower = next(((k, bounds[k]) for k in _LOWER if k in bounds), None)
    upper = next(((k, bounds[k]) for k in _UPPER if k in bounds), None)
    if lower and upper:
        return f"{_number(lower[1])} {_LOWER[lower[0]]} {column} {_UPPER[upper[0]]} {_number(upper[1])}"
    if lower:
        return f"{column} {'>=' if lower[0] == 'at_least' else '>'} {_number(lower[1])}"
    if upper:
        return f"{column} {_UPPER[upper[0]]} {_number(upper[1])}"
    raise EvaluationError(f"range of {column}: no bound")


def values_label(column: str, values: Sequence[str]) -> str:
    """`emp_length in ["emp_lt_1", "emp_unk"]`: a JSON list, so a value holding a comma or a
    quote reads as one value."""
    return f"{column} in {json.dumps(list(values), ensure_ascii=False)}"


def attribute_definition(attribute: Mapping[str, Any]) -> str:
    """How an attribute's protected group(s) are defined, in one unambiguous line."""
    column = str(attribute["column"])
    if "values" in attribute:
        return values_label(column, attribute["values"])
    if "range" in attribute:
        return range_label(column, attribute["range"])
    return "; ".join(
        f"{json.dumps(b['label'], ensure_ascii=False)}: {range_label(column, _bounds(b))}"
        for b in attribute["bins"]
    )


def _bounds(item: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(item[k]) for k in (*_LOWER, *_UPPER) if item.get(k) is not None}


def _in_range(numbers: np.ndarray, bounds: Mapping[str, float]) -> np.ndarray:
    inside = np.ones(len(numbers), dtype=bool)
    if "at_least" in bounds:
        inside &= numbers >= bounds["at_least"]
    if "above" in bounds:
        inside &= numbers > bounds["above"]
    if "below" in bounds:
        inside &= numbers < bounds["below"]
    if "at_most" in bounds:
        inside &= numbers <= bounds["at_most"]
    return inside


def _name(attribute: Mapping[str, Any]) -> str:
    return str(attribute.get("name") or attribute["column"])


def attribute_groups(frame: pd.DataFrame, attribute: Mapping[str, Any]) -> list[Group]:
    """The protected group(s) of one attribute on the test rows. Fails, naming the attribute,
    when a configured value occurs in no test row, or a range or bin selects no row or every
    row: a partly wrong definition must not quietly measure another group."""
    name, column = _name(attribute), str(attribute["column"])
    if column not in frame.columns:
        raise EvaluationError(
            f"protected attribute {name}: the test groups have no column {column!r}"
        )
    raw = frame[column].astype(str)
    known = (raw != "").to_numpy()
    if "values" in attribute:
        values = [str(v) for v in attribute["values"]]
        present = set(raw[known])
        absent = [v for v in values if v not in present]
        if absent:
            raise EvaluationError(
                f"protected attribute {name}: configured value(s) {json.dumps(absent)} occur in "
                f"none of the {len(raw)} test rows of {column!r} (values present: "
                f"{json.dumps(sorted(present)[:20])}); a partly wrong list would measure "
                "another group"
            )
        member = raw.isin(values).to_numpy()
        groups = [Group(name, "attribute", (name,), values_label(column, values), member, known)]
    else:
        numbers = pd.to_numeric(raw.where(known), errors="coerce").to_numpy(dtype=float)
        unreadable = sorted(set(raw[known & np.isnan(numbers)]))
        if unreadable:
            raise EvaluationError(
                f"protected attribute {name}: a range needs numbers, but {column!r} holds "
                f"{json.dumps(unreadable[:5])}"
            )
        parts = (
            [(name, attribute["range"])]
            if "range" in attribute
            else [(f"{name}[{b['label']}]", b) for b in attribute["bins"]]
        )
        groups = []
        for group_id, item in parts:
            bounds = _bounds(item)
            label = range_label(column, bounds)
            member = known & _in_range(np.nan_to_num(numbers, nan=np.inf), bounds)
            groups.append(Group(group_id, "attribute", (name,), label, member, known))
    for group in groups:
        selected, rows = int(group.member.sum()), int(group.known.sum())
        if selected in (0, rows):
            raise EvaluationError(
                f"protected group {group.id} ({group.label}) selects "
                f"{'no' if selected == 0 else 'every one'} of the {rows} test rows with a known "
                f"{column!r}: fairness cannot compare it with anyone"
            )
    return groups


def intersection_groups(groups: Mapping[str, list[Group]], names: Sequence[str]) -> list[Group]:
    """Rows protected on every named attribute at once: one group per combination of their
    groups (a binned attribute contributes each bin)."""
    combined: list[Group] = []

    def cross(index: int, chosen: list[Group]) -> None:
        if index == len(names):
            member = np.logical_and.reduce([g.member for g in chosen])
            known = np.logical_and.reduce([g.known for g in chosen])
            combined.append(
                Group(
                    " & ".join(g.id for g in chosen), "intersection", tuple(names),
                    " and ".join(g.label for g in chosen), member, known,
                )
            )  # fmt: skip
            return
        for group in groups[names[index]]:
            cross(index + 1, [*chosen, group])

    cross(0, [])
    return combined


def compare(
    y: np.ndarray, favourable: np.ndarray, group: Group, min_size: int
) -> dict[str, object]:
    """The group against the rest of the rows whose attributes are known. Favourable outcome =
    predicted good. Below `min_size` rows on either side the group is reported, not measured."""
    protected = group.member
    reference = group.known & ~group.member
    row: dict[str, object] = {
        "id": group.id,
        "kind": group.kind,
        "attributes": list(group.attributes),
        "definition": group.label,
        "protected_count": int(protected.sum()),
        "reference_count": int(reference.sum()),
        "unknown_count": int((~group.known).sum()),
    }
    small = [
        f"{side} {int(mask.sum())} test rows"
        for side, mask in (("protected", protected), ("reference", reference))
        if mask.sum() < min_size
    ]
    if small:
        row["measurable"] = False
        row["reason"] = f"not measurable: {' and '.join(small)}, fewer than {min_size}"
        return row
    good = y == 0
    rate_p, rate_r = float(favourable[protected].mean()), float(favourable[reference].mean())
    impact = rate_p / rate_r if rate_r > 0 else math.inf
    parity = rate_r - rate_p

    def tpr(mask: np.ndarray) -> float:
        chosen = mask & good
        return float(favourable[chosen].mean()) if chosen.any() else math.nan

    opportunity = tpr(reference) - tpr(protected)
    row.update(
        measurable=True,
        favourable_rate_protected=_round(rate_p),
        favourable_rate_reference=_round(rate_r),
        disparate_impact=_round(impact) if math.isfinite(impact) else 1e9,
        statistical_parity_difference=_round(parity),
        statistical_parity_difference_abs=_round(abs(parity)),
        equal_opportunity_difference=_round(opportunity) if math.isfinite(opportunity) else None,
    )
    return row


def breakdown(
    y: np.ndarray, favourable: np.ndarray, frame: pd.DataFrame, attribute: Mapping[str, Any],
    groups: Sequence[Group],
) -> list[dict[str, object]]:  # fmt: skip
    """Favourable and observed bad rates per value (exact values) or per group and the rest
    (ranges, bins): what the report plots."""
    raw = frame[str(attribute["column"])].astype(str)
    cells: list[tuple[str, bool, np.ndarray]] = []
    if "values" in attribute:
        protected = {str(v) for v in attribute["values"]}
        cells = [(v, v in protected, (raw == v).to_numpy()) for v in sorted(set(raw) - {""})]
    else:
        outside = groups[0].known.copy()
        for group in groups:
            cells.append((group.label, True, group.member))
            outside &= ~group.member
        cells.append(("other known values", False, outside))
    missing = (raw == "").to_numpy()
    if missing.any():
        cells.append(("(missing)", False, missing))
    return [
        {
            "group": label,
            "protected": is_protected,
            "count": int(mask.sum()),
            "favourable_rate": _round(float(favourable[mask].mean())) if mask.any() else None,
            "observed_bad_rate": _round(float(np.mean(y[mask]))) if mask.any() else None,
        }
        for label, is_protected, mask in cells
    ]


def fairness(
    y: np.ndarray, score: np.ndarray, frame: pd.DataFrame, spec: Mapping[str, Any], cutoff: float
) -> dict[str, object]:
    """Every protected group of the spec against the rest; the worst group carries the gates."""
    attributes = list(spec.get("protected_attributes") or [])
    if not attributes:
        raise EvaluationError("fairness spec: protected_attributes is empty")
    min_size = int(spec.get("min_group_size", 1))
    favourable = score < cutoff
    by_attribute = {_name(a): attribute_groups(frame, a) for a in attributes}
    rows = [compare(y, favourable, g, min_size) for gs in by_attribute.values() for g in gs]
    small = [r for r in rows if not r["measurable"]]
    if small:
        # A configured group the gates cannot judge would pass unjudged: fail instead.
        raise EvaluationError(
            "; ".join(
                f"protected group {r['id']} ({r['definition']}): {r['reason']}" for r in small
            )
            + " (widen the group, enlarge split.test or lower fairness.min_group_size)"
        )
    for names in spec.get("intersections") or []:
        rows += [
            compare(y, favourable, g, min_size)
            for g in intersection_groups(by_attribute, [str(n) for n in names])
        ]
    measured = [r for r in rows if r["measurable"]]
    worst_impact = min(measured, key=lambda r: float(r["disparate_impact"]))  # type: ignore[arg-type]
    worst_parity = max(measured, key=lambda r: float(r["statistical_parity_difference_abs"]))  # type: ignore[arg-type]
    worst = {
        "disparate_impact": worst_impact["disparate_impact"],
        "disparate_impact_group": worst_impact["id"],
        "statistical_parity_difference_abs": worst_parity["statistical_parity_difference_abs"],
        "statistical_parity_difference": worst_parity["statistical_parity_difference"],
        "statistical_parity_group": worst_parity["id"],
    }
    return {
        "favourable_outcome": f"predicted good: score below the cut-off {cutoff:g}",
        "min_group_size": min_size,
        "attributes": [
            {
                "name": _name(a),
                "column": a["column"],
                "description": a.get("description", ""),
                "definition": attribute_definition(a),
                "used_as_feature_because": a.get("used_as_feature_because"),
                "by_value": breakdown(y, favourable, frame, a, by_attribute[_name(a)]),
            }
            for a in attributes
        ],
        "groups": rows,
        "not_measurable": [r["id"] for r in rows if not r["measurable"]],
        **worst,
        # The gates read the worst group here, under the key of what was measured.
        spec_key(spec, cutoff): {
            "disparate_impact": worst["disparate_impact"],
            "statistical_parity_difference_abs": worst["statistical_parity_difference_abs"],
        },
    }


def clarify_bias_report(fair: Mapping[str, Any], label: str) -> dict[str, object]:
    """The same fairness figures in Clarify's post-training bias report layout: one facet per
    attribute (or intersection of attributes), one entry per measured group."""
    facets: dict[str, list[dict[str, object]]] = {}
    for row in fair["groups"]:
        if not row["measurable"]:
            continue
        facets.setdefault(" & ".join(row["attributes"]), []).append(
            {
                "value_or_threshold": row["definition"],
                "metrics": [
                    {"name": "DI", "description": "Disparate Impact (DI)",
                     "value": row["disparate_impact"]},
                    {"name": "DPPL",
                     "description": "Difference in Positive Proportions in Predicted Labels (DPPL)",
                     "value": row["statistical_parity_difference"]},
                    {"name": "TPRD", "description": "True Positive Rate Difference (TPRD)",
                     "value": row["equal_opportunity_difference"]},
                ],
            }
        )  # fmt: skip
    return {
        "version": "1.0",
        "post_training_bias_metrics": {
            "label": label,
            "label_value_or_threshold": "0",
            "facets": facets,
        },
    }


def evaluate(
    y: np.ndarray, score: np.ndarray, groups: pd.DataFrame, spec: Mapping[str, Any], cutoff: float
) -> dict[str, object]:
    """The whole step as a pure function: the content of evaluation.json."""
    if len(y) != len(score) or len(y) != len(groups):
        raise EvaluationError(
            f"labels ({len(y)}), scores ({len(score)}) and groups ({len(groups)}) differ in length"
        )
    if not np.all(np.isfinite(score)):
        raise EvaluationError("the model produced non-finite scores")
    metrics = discrimination(y, score, cutoff)
    metrics["calibration"] = calibration(y, score)
    return {
        "binary_classification_metrics": metrics,
        "fairness": fairness(y, score, groups, spec, cutoff),
        "test_rows": len(y),
    }


def load_booster(model_path: Path) -> xgb.Booster:
    import xgboost as xgb

    booster = xgb.Booster()
    archive = model_path / "model.tar.gz" if model_path.is_dir() else model_path
    if archive.name.endswith(".tar.gz") and archive.exists():
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MODEL_FILE)
            if member is None:
                raise EvaluationError(f"{MODEL_FILE} is missing from {archive}")
            booster.load_model(bytearray(member.read()))
        return booster
    booster.load_model(str(model_path / MODEL_FILE if model_path.is_dir() else model_path))
    return booster


def read_test(test_dir: Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    frame = pd.read_csv(test_dir / "test.csv", header=None)
    groups_file = test_dir / "groups.csv"
    if not groups_file.exists():
        raise EvaluationError(f"{groups_file} is missing: fairness needs the protected attributes")
    # Every value as the text it is in the file; a missing value is the empty string.
    groups = pd.read_csv(groups_file, dtype=str, keep_default_na=False)
    y = frame.iloc[:, 0].to_numpy(dtype=int)
    x = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    return y, x, groups


def read_spec(path: Path) -> dict[str, Any]:
    """The fairness spec: a JSON file, or the one .json file in a folder (a processing input)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if len(files) != 1:
            raise EvaluationError(
                f"--fairness: expected one .json file under {path}, found {len(files)}"
            )
        path = files[0]
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EvaluationError(f"--fairness {path}: cannot be read as JSON ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("protected_attributes"), list):
        raise EvaluationError(f"--fairness {path}: expected an object with protected_attributes")
    for number, attribute in enumerate(spec["protected_attributes"]):
        if not isinstance(attribute, dict) or "column" not in attribute:
            raise EvaluationError(
                f"--fairness {path}: protected_attributes[{number}] has no column"
            )
        if sum(k in attribute for k in ("values", "range", "bins")) != 1:
            raise EvaluationError(
                f"--fairness {path}: protected_attributes[{number}] needs exactly one of "
                "values, range or bins"
            )
    return spec


def score_rows(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    expected = booster.num_features()
    if x.shape[1] != expected:
        raise EvaluationError(
            f"the model expects {expected} features, the test data has {x.shape[1]}"
        )
    return np.asarray(booster.predict(xgb.DMatrix(x, missing=np.nan)), dtype=float)


def write(result: dict[str, object], label: str, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVALUATION_FILE).write_text(json.dumps(result, indent=2, sort_keys=True))
    bias = clarify_bias_report(result["fairness"], label)  # type: ignore[arg-type]
    (output_dir / FAIRNESS_FILE).write_text(json.dumps(bias, indent=2, sort_keys=True))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=container_path("/opt/ml/processing/model"))
    parser.add_argument("--test", type=Path, default=container_path("/opt/ml/processing/test"))
    parser.add_argument(
        "--output", type=Path, default=container_path("/opt/ml/processing/evaluation")
    )
    parser.add_argument("--cutoff", type=float, default=0.5)
    parser.add_argument(
        "--fairness",
        type=Path,
        default=container_path("/opt/ml/processing/fairness"),
        help="the protected groups (model.fairness as JSON): a file, or a folder holding one",
    )
    parser.add_argument("--label", default="label")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = read_spec(args.fairness)
        y, x, groups = read_test(args.test)
        score = score_rows(load_booster(args.model), x)
        result = evaluate(y, score, groups, spec, args.cutoff)
    except EvaluationError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    write(result, args.label, args.output)
    metrics = result["binary_classification_metrics"]
    fair = result["fairness"]
    print(
        f"evaluate: AUC {metrics['auc']['value']:.4f}, KS {metrics['ks']['value']:.4f}, "  # type: ignore[index]
        f"worst disparate impact {fair['disparate_impact']:.3f} ({fair['disparate_impact_group']})"  # type: ignore[index]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
