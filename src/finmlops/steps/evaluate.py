"""Evaluate step: discrimination, calibration and fairness of the trained model on the test split.

Runs inside a SageMaker processing job (the XGBoost image, which carries xgboost, pandas and
scikit-learn) and locally. Writes, in the evaluation output folder:

- `evaluation.json`: the Model Registry model-quality format (`binary_classification_metrics`
  with `{"value", "standard_deviation"}` entries, confusion matrix, ROC and PR curves) plus a
  `fairness` section; the pipeline's condition steps read the gate values from it (`GATE_PATHS`,
  `fairness_gate_path`).
- `fairness.json`: the post-training bias report in SageMaker Clarify's layout, registered as
  the version's bias metrics.

evaluation.json also carries the validator's figures: `uncertainty` (seeded percentile bootstrap
intervals of AUC, KS and every gated fairness figure, `scipy.stats.bootstrap`),
`score_stability` (PSI of the score distribution, train vs test, when the train split is given)
and `explanation` (exact TreeSHAP from XGBoost itself: global mean |SHAP| and the dependence of
the top features), and `champion`: the version serving in prod (`--champion`, `--champion-arn`,
set from the registry, ADR 0029) scored on the same test rows, side by side with this one, with
a paired bootstrap interval of each difference, and `auc_drop`, which the gate
`max-auc-drop-vs-champion` reads ("none" and no loss for the first version).
`binary_classification_metrics.expected_calibration_error` is the one ECE
definition of the platform (`expected_calibration_error`, also used by the quality monitor).

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
import shutil
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
ENCODERS_FILE = "encoders.json"  # preprocess.ENCODERS_FILE (this file ships alone)

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


CALIBRATION_BINS = 10


def expected_calibration_error(
    y: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """The platform's one ECE: count-weighted mean |observed bad rate - mean predicted
    probability| over `bins` equal-count score bins (the deciles of the calibration table:
    rows sorted by score, stable, split into `bins` parts), computed from unrounded scores.

    Equal-count, not equal-width on [0, 1]: with a bad rate near 5 % the scores sit below about
    0.25, so equal-width bins put most rows into one bin and average their miscalibration away
    (on the shipped data: 0.0007 equal-width against 0.0100 by deciles, measured 2026-12-07).
    The quality monitor (`finmlops.monitoring.quality`) calls this same function on production
    windows, so a validation ECE and a production ECE are the same measure."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    if y.size == 0:
        return math.nan
    order = np.argsort(score, kind="stable")
    gap = sum(abs(float(y[part].sum() - score[part].sum())) for part in np.array_split(order, bins))
    return gap / y.size


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


# --- uncertainty ----------------------------------------------------------------------------------

# 1,000 resamples: on the shipped data's test split (1,971 rows) the AUC interval's end points
# move by about 0.005 between seeds, and the bootstrap takes 2 to 3 s with one thread on this
# 2-core machine, loaded (2,000 resamples: 6.6 s); measured 2026-12-07, docs/governance.md
# "Uncertainty". The seed is fixed so the same rows give the same interval, byte for byte.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20260417
BOOTSTRAP_METHOD = "percentile"


def _roc_points(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None) -> tuple[float, float]:
    """AUC and KS from one ROC curve (sklearn's roc_auc_score is the trapezoid under this same
    curve); weights are bootstrap multiplicities. NaN when a resample holds one class only."""
    from sklearn.metrics import auc, roc_curve

    chosen = y if weight is None else y[weight > 0]
    if chosen.size == 0 or chosen.min() == chosen.max():
        return math.nan, math.nan
    fpr, tpr, _ = roc_curve(y, score, sample_weight=weight)
    return float(auc(fpr, tpr)), float(np.max(tpr - fpr))


def _group_rates(
    favourable: np.ndarray, masks: Sequence[tuple[np.ndarray, np.ndarray]], weight: np.ndarray
) -> list[tuple[float, float]]:
    """(disparate impact, |parity difference|) of each (protected, reference) pair of masks,
    rows counted `weight` times."""
    out = []
    fav = weight * favourable
    for protected, reference in masks:
        n_p, n_r = float(weight @ protected), float(weight @ reference)
        if n_p == 0 or n_r == 0:
            out.append((math.nan, math.nan))
            continue
        rate_p, rate_r = float(fav @ protected) / n_p, float(fav @ reference) / n_r
        out.append((rate_p / rate_r if rate_r > 0 else math.nan, abs(rate_r - rate_p)))
    return out


def bootstrap_intervals(
    y: np.ndarray,
    score: np.ndarray,
    groups: Sequence[Group],
    cutoff: float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = BOOTSTRAP_CONFIDENCE,
) -> dict[str, object]:
    """Bootstrap confidence intervals of AUC, KS and the gated fairness figures (each group's
    disparate impact and |parity difference|, and the worst group's, as the gates read them).

    `scipy.stats.bootstrap` resamples the test rows (one resample feeds every figure, so they
    stay consistent with each other). Percentile, not BCa: BCa's acceleration needs a jackknife,
    one more evaluation of every figure per test row (thousands), and the worst-group figures
    are a minimum and a maximum over groups, non-smooth statistics for which BCa's
    bias-correction is not reliable; the percentile interval is the same for all figures and
    transparent to a reader. The standard error is the resamples' standard deviation.
    """
    from scipy import stats

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    favourable = (score < cutoff).astype(float)
    masks = [(g.member.astype(float), (g.known & ~g.member).astype(float)) for g in groups]
    n = y.size

    def statistic(index: np.ndarray) -> np.ndarray:
        weight = np.bincount(index, minlength=n).astype(float)
        auc, ks = _roc_points(y, score, weight)
        rates = _group_rates(favourable, masks, weight)
        impacts = [r[0] for r in rates]
        parities = [r[1] for r in rates]
        worst = [
            float(np.nanmin(impacts)) if rates and not all(map(math.isnan, impacts)) else math.nan,
            float(np.nanmax(parities))
            if rates and not all(map(math.isnan, parities))
            else math.nan,
        ]
        return np.array([auc, ks, *worst, *impacts, *parities])

    point = statistic(np.arange(n))
    result = stats.bootstrap(
        (np.arange(n),), statistic, n_resamples=resamples, vectorized=False,
        confidence_level=confidence, method=BOOTSTRAP_METHOD, **_seeded(seed),
    )  # fmt: skip
    low, high = result.confidence_interval
    error = result.standard_error

    def interval(i: int) -> dict[str, object]:
        values = (point[i], low[i], high[i], error[i])
        if not all(math.isfinite(v) for v in values):
            return {"value": _maybe(point[i]), "lower": None, "upper": None,
                    "standard_error": None}  # fmt: skip
        return {"value": _round(point[i]), "lower": _round(low[i]), "upper": _round(high[i]),
                "standard_error": _round(error[i])}  # fmt: skip

    k = len(groups)
    return {
        "method": f"{BOOTSTRAP_METHOD} bootstrap (scipy.stats.bootstrap), test rows resampled",
        "confidence_level": confidence,
        "resamples": resamples,
        "seed": seed,
        "auc": interval(0),
        # Gini is 2 AUC - 1, monotone: a percentile interval maps through it exactly.
        "gini": _gini(interval(0)),
        "ks": interval(1),
        "worst_disparate_impact": interval(2),
        "worst_statistical_parity_difference_abs": interval(3),
        "groups": {
            g.id: {
                "disparate_impact": interval(4 + i),
                "statistical_parity_difference_abs": interval(4 + k + i),
            }
            for i, g in enumerate(groups)
        },
    }


def _gini(auc: Mapping[str, Any]) -> dict[str, object]:
    return {
        key: (
            None
            if value is None
            else _round(2 * value - 1 if key != "standard_error" else 2 * value)
        )
        for key, value in auc.items()
    }


def _seeded(seed: int) -> dict[str, object]:
    """scipy renamed `random_state` to `rng` in 1.15; the processing image may carry either."""
    import inspect

    from scipy import stats

    name = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def _maybe(value: float) -> float | None:
    return _round(value) if math.isfinite(value) else None


# --- champion and challenger ----------------------------------------------------------------------

# evaluation.json's section of the comparison with the version serving in prod, and its values
# when nothing serves there (registry.champion: NO_CHAMPION, COMPARED; this file ships alone).
CHAMPION_SECTION = "champion"
NO_CHAMPION = "none"
COMPARED = "compared"
# The gated figure: the champion's AUC minus the challenger's (a loss is positive).
CHAMPION_GATE_PATH = f"{CHAMPION_SECTION}.auc_drop"


def _worst_fairness(fair: Mapping[str, Any]) -> dict[str, object]:
    return {
        "worst_disparate_impact": fair["disparate_impact"],
        "worst_statistical_parity_difference_abs": fair["statistical_parity_difference_abs"],
    }


def no_champion() -> dict[str, object]:
    """The section of the first version: nothing serves in prod, nothing to compare; the gate
    reads no loss. Approval checks the claim against the registry (registry.champion)."""
    return {
        "status": NO_CHAMPION,
        "model_package_arn": NO_CHAMPION,
        "auc_drop": 0.0,
        "note": "no version serves in prod per the registry's ModelLifeCycle: the first version",
    }


def champion_comparison(
    y: np.ndarray,
    score: np.ndarray,
    champion_score: np.ndarray,
    *,
    champion_arn: str,
    fairness_figures: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = BOOTSTRAP_CONFIDENCE,
) -> dict[str, object]:
    """The challenger (`score`) against the champion (`champion_score`) on the same test rows:
    both AUCs and KSs, the differences (challenger minus champion) and a paired percentile
    bootstrap interval of each difference.

    Paired: each resample draws test rows once and scores both models on them
    (`scipy.stats.bootstrap` over row indices, one statistic returning both), so the interval is
    that of the difference on common rows. Two independent bootstraps would add the variance the
    rows share and make every difference look insignificant. `fairness_figures` are the worst
    groups' (challenger, champion) figures from `fairness`, shown side by side (points only)."""
    from scipy import stats

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    champion_score = np.asarray(champion_score, dtype=float)
    if champion_score.shape != score.shape:
        raise EvaluationError(
            f"champion scores ({champion_score.size}) and challenger scores ({score.size}) differ"
        )
    if not np.all(np.isfinite(champion_score)):
        raise EvaluationError(f"the champion {champion_arn} produced non-finite scores")
    n = y.size

    def statistic(index: np.ndarray) -> np.ndarray:
        weight = np.bincount(index, minlength=n).astype(float)
        auc_new, ks_new = _roc_points(y, score, weight)
        auc_old, ks_old = _roc_points(y, champion_score, weight)
        return np.array([auc_new - auc_old, ks_new - ks_old])

    new, old = _roc_points(y, score, None), _roc_points(y, champion_score, None)
    point = np.array([new[0] - old[0], new[1] - old[1]])
    result = stats.bootstrap(
        (np.arange(n),), statistic, n_resamples=resamples, vectorized=False,
        confidence_level=confidence, method=BOOTSTRAP_METHOD, **_seeded(seed),
    )  # fmt: skip
    low, high = result.confidence_interval

    def difference(i: int) -> dict[str, object]:
        if not all(math.isfinite(v) for v in (point[i], low[i], high[i])):
            return {"value": _maybe(point[i]), "lower": None, "upper": None,
                    "standard_error": None}  # fmt: skip
        return {"value": _round(point[i]), "lower": _round(low[i]), "upper": _round(high[i]),
                "standard_error": _round(result.standard_error[i])}  # fmt: skip

    section: dict[str, object] = {
        "status": COMPARED,
        "model_package_arn": champion_arn,
        "rows": int(n),
        "challenger": {"auc": _round(new[0]), "ks": _round(new[1])},
        "champion": {"auc": _round(old[0]), "ks": _round(old[1])},
        "difference": {"auc": difference(0), "ks": difference(1)},
        "auc_drop": _round(old[0] - new[0]),
        "method": f"paired {BOOTSTRAP_METHOD} bootstrap (scipy.stats.bootstrap): the same "
        "resampled test rows score both models; differences are challenger minus champion",
        "confidence_level": confidence,
        "resamples": resamples,
        "seed": seed,
    }
    if fairness_figures is not None:
        challenger_fair, champion_fair = fairness_figures
        section["challenger"].update(_worst_fairness(challenger_fair))  # type: ignore[attr-defined]
        section["champion"].update(_worst_fairness(champion_fair))  # type: ignore[attr-defined]
    return section


def read_champion(champion_dir: Path, champion_arn: str) -> xgb.Booster | None:
    """The champion's model, or None when the build names none (`--champion-arn none`: its
    input then holds the pipeline's no-champion marker, never read)."""
    if champion_arn == NO_CHAMPION:
        return None
    if not champion_arn.startswith("arn:"):
        raise EvaluationError(
            f"--champion-arn {champion_arn!r}: neither a model package ARN nor none"
        )
    if champion_dir.is_file():
        return load_booster(champion_dir)
    archives = sorted(champion_dir.glob("*.tar.gz")) if champion_dir.is_dir() else []
    if len(archives) != 1:
        raise EvaluationError(
            f"--champion {champion_dir}: expected the model archive of {champion_arn}, "
            f"found {len(archives)} .tar.gz files"
        )
    return load_booster(archives[0])


# --- the champion's training rows -------------------------------------------------------------

# preprocess's row digests (preprocess.TRAIN_ROWS_FILE, TEST_ROWS_FILE, ROW_DIGESTS_FORMAT; this
# file ships alone). The step copies its train digests into its output, beside evaluation.json,
# so the version's registered evidence names the rows it was trained on.
TRAIN_ROWS_FILE = "train_rows.txt"
TEST_ROWS_FILE = "test_rows.txt"
ROW_DIGESTS_FORMAT = "finmlops-row-digests/1"
EXCLUSION_METHOD = (
    "test rows whose digest (sha256 of the raw features and label, preprocess.row_digests) is "
    "among the champion's training rows (its train_rows.txt, beside its registered "
    "evaluation.json) are left out of the comparison"
)


def read_row_digests(path: Path) -> tuple[tuple[str, ...], list[str]] | None:
    """(columns, digests) of a row-digests file (or of the one file in a folder); None when
    there is none, or the file is not one (the no-champion marker of an old build)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if len(files) != 1:
            return None
        path = files[0]
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        try:
            header = json.loads(handle.readline())
        except ValueError:
            return None
        if not isinstance(header, dict) or header.get("format") != ROW_DIGESTS_FORMAT:
            return None
        digests = [line.strip() for line in handle if line.strip()]
    if len(digests) != header.get("rows"):
        raise EvaluationError(
            f"{path}: {len(digests)} digests, the header says {header.get('rows')}"
        )
    return tuple(str(c) for c in header.get("columns") or []), digests


def training_overlap(
    test: tuple[tuple[str, ...], list[str]] | None,
    champion: tuple[tuple[str, ...], list[str]] | None,
    rows: int,
) -> tuple[np.ndarray, dict[str, object]]:
    """(which test rows to keep, what the section records): the test rows the champion was not
    trained on. Without both digests, or with digests of other columns (the versions' features
    differ), nothing can be matched: every row is kept and the section says why; the comparison
    then leans toward the champion, which makes the gate stricter, never looser."""
    keep = np.ones(rows, dtype=bool)
    if test is None or champion is None:
        missing = "this build's test rows" if test is None else "the champion's training rows"
        return keep, {"excluded_training_rows": None,
                      "exclusion": f"not done: no digests of {missing}; the champion may have "
                      "trained on some of these rows"}  # fmt: skip
    if test[0] != champion[0]:
        return keep, {"excluded_training_rows": None,
                      "exclusion": "not done: the champion's row digests cover other columns "
                      f"({', '.join(champion[0])}); the champion may have trained on some of "
                      "these rows"}  # fmt: skip
    if len(test[1]) != rows:
        raise EvaluationError(f"{len(test[1])} test row digests for {rows} test rows")
    trained = set(champion[1])
    keep = np.array([d not in trained for d in test[1]], dtype=bool)
    return keep, {"excluded_training_rows": int(rows - keep.sum()), "exclusion": EXCLUSION_METHOD}


# --- score stability ------------------------------------------------------------------------------

PSI_BINS = 10
# The monitoring engine's floor for an empty bin's share (finmlops.monitoring.stats.PSI_FLOOR).
PSI_FLOOR = 1e-4


def score_psi(
    reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS
) -> dict[str, object]:
    """Population stability index of the score distribution: `bins` bins at the reference's
    quantiles (equal shares of the reference), shares floored at PSI_FLOOR,
    sum((q - p) * ln(q / p)). The customary reading: below 0.1 stable, 0.1 to 0.25 a moderate
    shift, above 0.25 a significant one."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    p_counts = np.bincount(
        np.searchsorted(inner, reference, side="right"), minlength=inner.size + 1
    )
    q_counts = np.bincount(np.searchsorted(inner, current, side="right"), minlength=inner.size + 1)
    p = np.maximum(p_counts / p_counts.sum(), PSI_FLOOR)
    q = np.maximum(q_counts / q_counts.sum(), PSI_FLOOR)
    value = float(np.sum((q - p) * np.log(q / p)))
    return {
        "psi": _round(value),
        "bins": int(inner.size + 1),
        "edges": [_round(e) for e in inner],
        "reference_share": [_round(v) for v in p_counts / p_counts.sum()],
        "current_share": [_round(v) for v in q_counts / q_counts.sum()],
        "reference_rows": int(reference.size),
        "current_rows": int(current.size),
        "reading": "stable"
        if value < 0.1
        else "moderate shift"
        if value < 0.25
        else "significant shift",
    }


# --- explanation ----------------------------------------------------------------------------------

EXPLAIN_TOP = 5
EXPLAIN_MAX_ROWS = 5000
DEPENDENCE_BINS = 10


def shap_contributions(booster: xgb.Booster, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact TreeSHAP contributions from XGBoost itself (`pred_contribs=True`; Lundberg et al.
    2020, path-dependent): one column per feature plus the bias, in margin (log-odds) units,
    and the margin they add up to."""
    import xgboost as xgb

    matrix = xgb.DMatrix(x, missing=np.nan)
    contributions = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=float)
    margin = np.asarray(booster.predict(matrix, output_margin=True), dtype=float)
    return contributions, margin


def _dependence(
    values: np.ndarray, shap: np.ndarray, categories: Sequence[str] | None
) -> list[dict[str, object]]:
    """Mean SHAP value by the feature's value: per category (named, when the encoder's
    categories are known), per distinct value when there are few, else per decile of the value;
    missing values apart."""
    rows: list[dict[str, object]] = []
    missing = np.isnan(values)
    present = ~missing
    distinct = np.unique(values[present])
    if categories is not None or distinct.size <= DEPENDENCE_BINS:
        for value in distinct:
            mask = present & (values == value)
            code = int(value)
            label = (
                categories[code]
                if categories is not None
                and float(value).is_integer()
                and 0 <= code < len(categories)
                else _number(float(value))
            )
            rows.append({"value": label, "count": int(mask.sum()),
                         "mean_shap": _round(float(shap[mask].mean()))})  # fmt: skip
    elif distinct.size:
        edges = np.unique(np.quantile(values[present], np.linspace(0, 1, DEPENDENCE_BINS + 1)))
        index = np.clip(
            np.searchsorted(edges, values[present], side="right") - 1, 0, edges.size - 2
        )
        for b in range(edges.size - 1):
            mask = index == b
            if not mask.any():
                continue
            chosen = values[present][mask]
            rows.append({"low": _round(float(chosen.min())), "high": _round(float(chosen.max())),
                         "count": int(mask.sum()),
                         "mean_shap": _round(float(shap[present][mask].mean()))})  # fmt: skip
    if missing.any():
        rows.append({"value": "(missing)", "count": int(missing.sum()),
                     "mean_shap": _round(float(shap[missing].mean()))})  # fmt: skip
    return rows


def explain(
    booster: xgb.Booster,
    x: np.ndarray,
    feature_names: Sequence[str],
    categories: Mapping[str, Sequence[str]] | None = None,
    *,
    top: int = EXPLAIN_TOP,
    max_rows: int = EXPLAIN_MAX_ROWS,
) -> dict[str, object]:
    """Global explanation of the model on the test rows: mean |SHAP| per feature (the global
    importance), and the dependence of the top features (mean SHAP by value). Fails when the
    contributions do not add up to the model's margin: then they explain another model."""
    if len(feature_names) != x.shape[1]:
        raise EvaluationError(f"{len(feature_names)} feature names for {x.shape[1]} test columns")
    rows = x if len(x) <= max_rows else x[:max_rows]  # the split is already shuffled
    contributions, margin = shap_contributions(booster, rows)
    error = float(np.max(np.abs(contributions.sum(axis=1) - margin))) if len(rows) else 0.0
    if error > 1e-3:
        raise EvaluationError(f"SHAP contributions miss the margin by up to {error:g}")
    shap = contributions[:, :-1]
    importance = np.abs(shap).mean(axis=0)
    order = sorted(range(len(feature_names)), key=lambda i: (-importance[i], feature_names[i]))
    total = float(importance.sum()) or 1.0
    categories = categories or {}
    return {
        "method": "exact TreeSHAP, xgboost Booster.predict(pred_contribs=True); log-odds units",
        "rows": len(rows),
        "expected_margin": _round(float(contributions[:, -1].mean())) if len(rows) else None,
        "additivity_max_error": _round(error),
        "importance": [
            {
                "feature": feature_names[i],
                "mean_abs_shap": _round(float(importance[i])),
                "share": _round(float(importance[i]) / total),
            }
            for i in order
        ],
        "dependence": [
            {
                "feature": feature_names[i],
                "by_value": _dependence(
                    rows[:, i].astype(float), shap[:, i], categories.get(feature_names[i])
                ),
            }
            for i in order[:top]
        ],
    }


def all_groups(frame: pd.DataFrame, spec: Mapping[str, Any]) -> list[Group]:
    """Every protected group of the spec, attributes first, then intersections."""
    by_attribute = {_name(a): attribute_groups(frame, a) for a in spec["protected_attributes"]}
    groups = [g for gs in by_attribute.values() for g in gs]
    for names in spec.get("intersections") or []:
        groups += intersection_groups(by_attribute, [str(n) for n in names])
    return groups


def evaluate(
    y: np.ndarray,
    score: np.ndarray,
    groups: pd.DataFrame,
    spec: Mapping[str, Any],
    cutoff: float,
    *,
    train_score: np.ndarray | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, object]:
    """The whole step as a pure function (the explanation apart, which needs the model): the
    content of evaluation.json."""
    if len(y) != len(score) or len(y) != len(groups):
        raise EvaluationError(
            f"labels ({len(y)}), scores ({len(score)}) and groups ({len(groups)}) differ in length"
        )
    if not np.all(np.isfinite(score)):
        raise EvaluationError("the model produced non-finite scores")
    metrics = discrimination(y, score, cutoff)
    metrics["calibration"] = calibration(y, score)
    metrics["expected_calibration_error"] = _metric(expected_calibration_error(y, score))
    fair = fairness(y, score, groups, spec, cutoff)
    measured = {str(r["id"]) for r in fair["groups"] if r["measurable"]}  # type: ignore[attr-defined]
    uncertainty = bootstrap_intervals(
        y, score, [g for g in all_groups(groups, spec) if g.id in measured], cutoff,
        resamples=resamples, seed=seed,
    )  # fmt: skip
    # The registry's model-quality format has a standard deviation per metric: the bootstrap's.
    for name in ("auc", "ks"):
        error = uncertainty[name]["standard_error"]  # type: ignore[index]
        if error is not None:
            metrics[name]["standard_deviation"] = error  # type: ignore[index]
    stability: dict[str, object] = {
        "production": "not available at build time: the version has served no traffic yet; "
        "the drift monitor compares production windows with the baseline after deployment",
    }
    if train_score is not None:
        stability["train_vs_test"] = score_psi(np.asarray(train_score, dtype=float), score)
    else:
        stability["train_vs_test"] = None
        stability["note"] = "train split not given to the evaluate step: no train vs test PSI"
    return {
        "binary_classification_metrics": metrics,
        "fairness": fair,
        "uncertainty": uncertainty,
        "score_stability": stability,
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


def score_rows(booster: xgb.Booster, x: np.ndarray, who: str = "the model") -> np.ndarray:
    import xgboost as xgb

    expected = booster.num_features()
    if x.shape[1] != expected:
        raise EvaluationError(f"{who} expects {expected} features, the test data has {x.shape[1]}")
    return np.asarray(booster.predict(xgb.DMatrix(x, missing=np.nan)), dtype=float)


def champion_line(section: Mapping[str, Any]) -> str:
    """The comparison in one line, for logs and the demo."""
    if section.get("status") != COMPARED:
        return "no champion (nothing serves in prod)"
    auc = section["difference"]["auc"]
    interval = (
        f" [{auc['lower']:+.4f}, {auc['upper']:+.4f}]" if auc.get("lower") is not None else ""
    )
    return (
        f"champion {section['model_package_arn'].rsplit('/', 1)[-1]} AUC "
        f"{section['champion']['auc']:.4f} vs challenger {section['challenger']['auc']:.4f}, "
        f"difference {auc['value']:+.4f}{interval} ({section['confidence_level']:.0%} paired "
        f"bootstrap) on {section['rows']} rows{_left_out(section)}"
    )


def _left_out(section: Mapping[str, Any]) -> str:
    excluded = section.get("excluded_training_rows")
    if isinstance(excluded, int):
        return f" ({excluded} of {section.get('test_rows')} left out: the champion trained on them)"
    return " (the champion's training rows not excluded)" if "exclusion" in section else ""


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
    parser.add_argument(
        "--train", type=Path, default=container_path("/opt/ml/processing/train"),
        help="the train split (label first, no header): the reference of the score PSI; "
        "skipped, and said so in evaluation.json, when absent",
    )  # fmt: skip
    parser.add_argument(
        "--artifacts", type=Path, default=container_path("/opt/ml/processing/artifacts"),
        help="preprocess artifacts: encoders.json names the features and their categories",
    )  # fmt: skip
    parser.add_argument(
        "--champion", type=Path, default=container_path("/opt/ml/processing/champion"),
        help="the champion's model archive (the version serving in prod), scored on the same "
        "test rows; ignored when --champion-arn is none",
    )  # fmt: skip
    parser.add_argument(
        "--champion-rows", type=Path, default=container_path("/opt/ml/processing/champion-rows"),
        help="the champion's training-row digests (its train_rows.txt): those test rows are "
        "left out of the comparison",
    )  # fmt: skip
    parser.add_argument(
        "--champion-arn", default=NO_CHAMPION,
        help="the champion's model package ARN, or none (the first version)",
    )  # fmt: skip
    parser.add_argument("--bootstrap-resamples", type=int, default=BOOTSTRAP_RESAMPLES)
    parser.add_argument("--bootstrap-seed", type=int, default=BOOTSTRAP_SEED)
    return parser.parse_args(argv)


def read_train(train_dir: Path) -> np.ndarray | None:
    """The train split's features, or None when the step was not given it."""
    files = sorted(train_dir.glob("*.csv")) if train_dir.is_dir() else []
    if not files:
        return None
    frame = pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)
    features: np.ndarray = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    return features


def read_encoders(artifacts: Path, columns: int) -> tuple[list[str], dict[str, list[str]]]:
    """Feature names in column order and the categories of each categorical feature (a code is
    the index into its list), from preprocess's encoders.json; f0, f1, ... without it."""
    path = artifacts / ENCODERS_FILE
    if not path.is_file():
        return [f"f{i}" for i in range(columns)], {}
    try:
        encoders = json.loads(path.read_text(encoding="utf-8"))
        names = [str(n) for n in encoders["features"]]
        categories = {str(k): [str(v) for v in vs] for k, vs in encoders["categorical"].items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvaluationError(f"{path}: not an encoders file ({exc})") from None
    if len(names) != columns:
        raise EvaluationError(f"{path} names {len(names)} features, the test data has {columns}")
    return names, categories


def compare_with_champion(
    champion: xgb.Booster,
    args: argparse.Namespace,
    *,
    y: np.ndarray,
    x: np.ndarray,
    score: np.ndarray,
    groups: pd.DataFrame,
    spec: Mapping[str, Any],
) -> dict[str, object]:
    """The champion section on the test rows the champion was not trained on
    (`training_overlap`): both models scored on the same kept rows, how many were compared and
    how many left out."""
    keep, exclusion = training_overlap(
        read_row_digests(args.artifacts / TEST_ROWS_FILE), read_row_digests(args.champion_rows),
        len(y),
    )  # fmt: skip
    if not keep.any():
        raise EvaluationError(
            f"every test row is among the champion {args.champion_arn}'s training rows: "
            "nothing to compare on"
        )
    kept_y, kept_x, kept_score = y[keep], x[keep], score[keep]
    kept_groups = groups.loc[keep].reset_index(drop=True)
    champion_score = score_rows(champion, kept_x, who=f"the champion {args.champion_arn}")
    section = champion_comparison(
        kept_y, kept_score, champion_score, champion_arn=args.champion_arn,
        fairness_figures=(
            fairness(kept_y, kept_score, kept_groups, spec, args.cutoff),
            fairness(kept_y, champion_score, kept_groups, spec, args.cutoff),
        ),
        resamples=args.bootstrap_resamples, seed=args.bootstrap_seed,
    )  # fmt: skip
    return {**section, "test_rows": len(y), **exclusion}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = read_spec(args.fairness)
        y, x, groups = read_test(args.test)
        booster = load_booster(args.model)
        score = score_rows(booster, x)
        train_x = read_train(args.train)
        result = evaluate(
            y, score, groups, spec, args.cutoff,
            train_score=None if train_x is None else score_rows(booster, train_x),
            resamples=args.bootstrap_resamples, seed=args.bootstrap_seed,
        )  # fmt: skip
        names, categories = read_encoders(args.artifacts, x.shape[1])
        result["explanation"] = explain(booster, x, names, categories)
        champion = read_champion(args.champion, args.champion_arn)
        if champion is None:
            result[CHAMPION_SECTION] = no_champion()
        else:
            result[CHAMPION_SECTION] = compare_with_champion(
                champion, args, y=y, x=x, score=score, groups=groups, spec=spec
            )
    except EvaluationError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    write(result, args.label, args.output)
    trained_on = args.artifacts / TRAIN_ROWS_FILE
    if trained_on.is_file():
        shutil.copyfile(trained_on, args.output / TRAIN_ROWS_FILE)
    metrics = result["binary_classification_metrics"]
    fair = result["fairness"]
    print(
        f"evaluate: AUC {metrics['auc']['value']:.4f}, KS {metrics['ks']['value']:.4f}, "  # type: ignore[index]
        f"worst disparate impact {fair['disparate_impact']:.3f} ({fair['disparate_impact_group']}); "  # type: ignore[index]
        f"{champion_line(result[CHAMPION_SECTION])}"  # type: ignore[arg-type]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
