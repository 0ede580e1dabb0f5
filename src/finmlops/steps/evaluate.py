"""Evaluate step: discrimination, calibration and fairness of the trained model on the test split.

Runs inside a SageMaker processing job (the XGBoost image, which carries xgboost, pandas and
scikit-learn) and locally. Writes, in the evaluation output folder:

- `evaluation.json`: the Model Registry model-quality format (`binary_classification_metrics`
  with `{"value", "standard_deviation"}` entries, confusion matrix, ROC and PR curves) plus a
  `fairness` section; the pipeline's condition steps read the gate values from it (`GATE_PATHS`).
- `fairness.json`: the post-training bias report in SageMaker Clarify's layout, registered as
  the version's bias metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xgboost as xgb

# xgboost and scikit-learn are imported where they are used: the gates and the evidence and
# track steps import this module for GATE_PATHS alone, and those two imports cost about a second.

EVALUATION_FILE = "evaluation.json"
FAIRNESS_FILE = "fairness.json"
MODEL_FILE = "xgboost-model"

# JSON paths in evaluation.json that the pipeline's gates compare with their thresholds.
GATE_PATHS = {
    "auc": "binary_classification_metrics.auc.value",
    "ks": "binary_classification_metrics.ks.value",
    "disparate_impact": "fairness.disparate_impact",
    "parity_difference": "fairness.statistical_parity_difference_abs",
}


# SageMaker's container paths are the defaults; the offline emulator runs this same file with
# the container's /opt/ml tree under another root, named by this variable.
CONTAINER_ROOT_ENV = "FINMLOPS_CONTAINER_ROOT"


def container_path(path: str) -> Path:
    return Path(os.environ.get(CONTAINER_ROOT_ENV, "/")) / path.lstrip("/")


class EvaluationError(ValueError):
    """The inputs cannot be evaluated; the message says which input and why."""


@dataclass(frozen=True)
class Groups:
    column: str
    protected_values: tuple[str, ...]


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


def fairness(
    y: np.ndarray, score: np.ndarray, group: pd.Series, groups: Groups, cutoff: float
) -> dict[str, object]:
    """Favourable outcome = predicted good (score below the cut-off), protected group vs the rest."""
    protected = group.isin(groups.protected_values).to_numpy()
    if not protected.any():
        raise EvaluationError(
            f"no test row has {groups.column} in {list(groups.protected_values)}: "
            "fairness cannot be measured"
        )
    if protected.all():
        raise EvaluationError(f"every test row is in the protected group of {groups.column}")
    favourable = score < cutoff
    good = y == 0
    rate_p, rate_r = favourable[protected].mean(), favourable[~protected].mean()
    disparate_impact = rate_p / rate_r if rate_r > 0 else math.inf
    parity = rate_r - rate_p

    def tpr(mask: np.ndarray) -> float:
        chosen = mask & good
        return float(favourable[chosen].mean()) if chosen.any() else math.nan

    equal_opportunity = tpr(~protected) - tpr(protected)
    per_group = []
    for value in sorted(group.dropna().unique()):
        mask = (group == value).to_numpy()
        per_group.append(
            {
                "group": str(value),
                "protected": bool(value in groups.protected_values),
                "count": int(mask.sum()),
                "favourable_rate": _round(favourable[mask].mean()),
                "observed_bad_rate": _round(float(np.mean(y[mask]))),
            }
        )
    return {
        "sensitive_attribute": groups.column,
        "protected_values": list(groups.protected_values),
        "protected_count": int(protected.sum()),
        "reference_count": int((~protected).sum()),
        "favourable_rate_protected": _round(rate_p),
        "favourable_rate_reference": _round(rate_r),
        "disparate_impact": _round(disparate_impact) if math.isfinite(disparate_impact) else 1e9,
        "statistical_parity_difference": _round(parity),
        "statistical_parity_difference_abs": _round(abs(parity)),
        "equal_opportunity_difference": _round(equal_opportunity),
        "by_group": per_group,
    }


def clarify_bias_report(fair: dict[str, object], label: str) -> dict[str, object]:
    """The same fairness figures in Clarify's post-training bias report layout."""
    return {
        "version": "1.0",
        "post_training_bias_metrics": {
            "label": label,
            "label_value_or_threshold": "0",
            "facets": {
                str(fair["sensitive_attribute"]): [
                    {
                        "value_or_threshold": ",".join(fair["protected_values"]),  # type: ignore[arg-type]
                        "metrics": [
                            {
                                "name": "DI",
                                "description": "Disparate Impact (DI)",
                                "value": fair["disparate_impact"],
                            },
                            {
                                "name": "DPPL",
                                "description": "Difference in Positive Proportions in Predicted Labels (DPPL)",
                                "value": fair["statistical_parity_difference"],
                            },
                            {
                                "name": "TPRD",
                                "description": "True Positive Rate Difference (TPRD)",
                                "value": fair["equal_opportunity_difference"],
                            },
                        ],
                    }
                ]
            },
        },
    }


def evaluate(
    y: np.ndarray, score: np.ndarray, group: pd.Series, groups: Groups, cutoff: float
) -> dict[str, object]:
    """The whole step as a pure function: the content of evaluation.json."""
    if len(y) != len(score) or len(y) != len(group):
        raise EvaluationError(
            f"labels ({len(y)}), scores ({len(score)}) and groups ({len(group)}) differ in length"
        )
    if not np.all(np.isfinite(score)):
        raise EvaluationError("the model produced non-finite scores")
    metrics = discrimination(y, score, cutoff)
    metrics["calibration"] = calibration(y, score)
    return {
        "binary_classification_metrics": metrics,
        "fairness": fairness(y, score, group, groups, cutoff),
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


def read_test(test_dir: Path) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    frame = pd.read_csv(test_dir / "test.csv", header=None)
    groups_file = test_dir / "groups.csv"
    if not groups_file.exists():
        raise EvaluationError(f"{groups_file} is missing: fairness needs the sensitive attribute")
    group = pd.read_csv(groups_file, dtype=str, keep_default_na=False)["group"]
    y = frame.iloc[:, 0].to_numpy(dtype=int)
    x = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    return y, x, group


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
    parser.add_argument("--sensitive", required=True)
    parser.add_argument("--protected-values", required=True, help="comma-separated")
    parser.add_argument("--label", default="label")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    groups = Groups(args.sensitive, tuple(v for v in args.protected_values.split(",") if v))
    try:
        y, x, group = read_test(args.test)
        score = score_rows(load_booster(args.model), x)
        result = evaluate(y, score, group, groups, args.cutoff)
    except EvaluationError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    write(result, args.label, args.output)
    metrics = result["binary_classification_metrics"]
    fair = result["fairness"]
    print(
        f"evaluate: AUC {metrics['auc']['value']:.4f}, KS {metrics['ks']['value']:.4f}, "  # type: ignore[index]
        f"disparate impact {fair['disparate_impact']:.3f}"  # type: ignore[index]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
