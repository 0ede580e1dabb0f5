"""Production traffic of the story: the held-out rows as a scoring service sends them, and the
production shift of the second window, derived from the data and the trained model (never from
column names), so the story runs on any binary credit data set the config describes.

The rule (docs/emulator.md, "The production shift"):

1. Which features: the v1 model's own importances, XGBoost `gain` from the model artefact, most
   important first; as many as the config's `monitoring.dataset_drift_share` needs to call the
   data set drifted (ceil(share x features)), so the planted shift is one the monitor is
   configured to see. Features the model never splits on are not shifted.
2. Which rows: real held-out rows (the test split v1 never trained on), twice as many as there
   are, drawn with replacement with probability proportional to v1's score: the riskier
   applicants of the same population, with their real outcomes (a busier, riskier hour).
3. How: a numeric feature moves by two standard deviations of its held-out values in the
   direction that raises v1's mean score (the model decides, on the held-out rows), clipped to
   the range seen in the data; a column whose values are all whole numbers stays whole. A
   categorical feature moves half of the rows not already there to the category that gives the
   highest mean score, among the categories that hold at least 5 % of the held-out rows.

Step 3 is a documented concept change: the shifted applicants look riskier on the model's most
important features than their (real) outcomes say, as after a repricing or a change of
application form. The model, which learned the old relation, ranks them worse; a model trained
on the labelled window learns the new one. Every number is in the plan the story records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BATCH = 20  # rows per scoring request
RESAMPLE_SHARE = 2.0  # rows of the shifted window per held-out row (drawn with replacement)
SPREAD = 2.0  # a numeric feature moves by this many standard deviations of its held-out values
MOVED_SHARE = 0.5  # share of a categorical feature's rows moved to the riskier category
MIN_CATEGORY_SHARE = 0.05  # a category rarer than this in the held-out rows is not a target
RISK_POWER = 1.0  # rows are drawn with probability proportional to score ** RISK_POWER
SEED = 20260101  # the shift's own seed: the same data and model give the same window

Scorer = Callable[[pd.DataFrame], np.ndarray]  # raw rows -> v1's scores


@dataclass(frozen=True)
class FeatureShift:
    """How one feature moves in the shifted window."""

    feature: str
    gain_share: float  # the feature's share of the model's total gain
    kind: str  # "numeric" or "categorical"
    amount: float = 0.0  # numeric: added to every value (signed), in the feature's units
    whole: bool = False  # numeric: the column holds whole numbers only, and stays so
    low: float = -math.inf  # numeric: the range seen in the data, which the shift stays in
    high: float = math.inf
    to_category: str = ""  # categorical: where the moved rows go
    share: float = 0.0  # share of the rows that move (categorical: of those not already there)

    def describe(self) -> str:
        why = f"gain {self.gain_share:.0%}"
        if self.kind == "numeric":
            return f"{self.feature} {self.amount:+g} for {self.share:.0%} ({why})"
        return f"{self.feature} {self.share:.0%} to {self.to_category!r} ({why})"

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "feature": self.feature,
            "gain_share": round(self.gain_share, 4),
            "kind": self.kind,
        }
        if self.kind == "numeric":
            found.update(
                amount=self.amount, share=self.share, whole=self.whole, range=[self.low, self.high]
            )
        else:
            found.update(to_category=self.to_category, share=self.share)
        return found


@dataclass(frozen=True)
class ShiftPlan:
    """The shift of the second window: which rows (resampled toward risk) and how each feature
    moves. `apply` is a pure function of the rows, the plan and v1's scores of the rows."""

    shifts: tuple[FeatureShift, ...]
    features_needed: int  # ceil(dataset_drift_share x features)
    resample_share: float = RESAMPLE_SHARE
    seed: int = SEED

    def describe(self) -> str:
        return (
            f"{self.resample_share:g} rows per held-out row drawn toward v1's high scores, "
            f"then {', '.join(s.describe() for s in self.shifts)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": "docs/emulator.md, The production shift",
            "resample_share": self.resample_share,
            "seed": self.seed,
            "features_needed": self.features_needed,
            "shifts": [s.as_dict() for s in self.shifts],
        }

    def resample(self, rows: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
        """Real rows, with their real outcomes, drawn with replacement with probability
        proportional to v1's score: the riskier part of the population."""
        rng = np.random.default_rng(self.seed)
        weights = np.clip(np.asarray(scores, dtype=float), 1e-6, None) ** RISK_POWER
        count = max(1, round(len(rows) * self.resample_share))
        chosen = rng.choice(len(rows), size=count, replace=True, p=weights / weights.sum())
        return rows.iloc[np.sort(chosen)]

    def move(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The feature moves of the plan on raw rows (category strings, numbers)."""
        rng = np.random.default_rng(self.seed + 1)
        out = rows.copy()
        for shift in self.shifts:
            column = out[shift.feature]
            if shift.kind == "numeric":
                values = pd.to_numeric(column, errors="coerce").astype(float)
                picked = rng.choice(len(out), size=round(len(out) * shift.share), replace=False)
                moved = values.to_numpy(copy=True)
                moved[picked] = np.clip(moved[picked] + shift.amount, shift.low, shift.high)
                out[shift.feature] = np.round(moved) if shift.whole else moved
            else:
                eligible = np.flatnonzero(
                    (column.astype("string") != shift.to_category).fillna(True).to_numpy()
                )
                count = round(len(eligible) * shift.share)
                picked = rng.choice(eligible, size=count, replace=False)
                values = column.astype(object).to_numpy(copy=True)
                values[picked] = shift.to_category
                out[shift.feature] = values
        return out

    def apply(self, rows: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
        return self.move(self.resample(rows, scores))


def gain_shares(gains: Mapping[str, float], features: Sequence[str]) -> dict[str, float]:
    """Each feature's share of the model's total gain. A booster trained on CSV (SageMaker's
    built-in XGBoost contract) names its features f0, f1, ... in column order."""
    by_name = {
        (features[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k): float(v)
        for k, v in gains.items()
    }
    total = sum(by_name.values()) or 1.0
    ranked = sorted(by_name.items(), key=lambda item: (-item[1], item[0]))
    return {name: value / total for name, value in ranked if value > 0}


def plan_shift(
    rows: pd.DataFrame,
    score: Scorer,
    *,
    gains: Mapping[str, float],
    numeric: Sequence[str],
    categorical: Sequence[str],
    drift_share: float,
    data: pd.DataFrame | None = None,
) -> ShiftPlan:
    """The production shift for these held-out raw rows (docs: the rule above).

    `gains` is the booster's `get_score(importance_type="gain")`, `score` v1's scorer of raw
    rows, `data` the whole table (for the range a numeric feature stays in)."""
    features = [*numeric, *categorical]
    shares = gain_shares(gains, features)
    needed = max(1, math.ceil(drift_share * len(features)))
    reference = data if data is not None else rows
    base = float(np.mean(score(rows)))
    shifts: list[FeatureShift] = []
    for feature, share in shares.items():
        if len(shifts) == needed:
            break
        if feature in categorical:
            found = _categorical_shift(rows, score, feature, share, base)
        else:
            found = _numeric_shift(rows, score, feature, share, reference[feature])
        if found is not None:
            shifts.append(found)
    if not shifts:
        raise ValueError(
            "no feature moves the model's score: the v1 model has no gain on any feature, "
            "so no production shift can be derived from it"
        )
    return ShiftPlan(tuple(shifts), needed)


def _numeric_shift(
    rows: pd.DataFrame, score: Scorer, feature: str, share: float, seen: pd.Series
) -> FeatureShift | None:
    values = pd.to_numeric(rows[feature], errors="coerce").astype(float)
    spread = float(values.std())
    if not math.isfinite(spread) or spread == 0.0:
        return None
    present = pd.to_numeric(seen, errors="coerce").dropna().astype(float)
    whole = bool(np.all(np.mod(present, 1) == 0))
    spread *= SPREAD
    amount = round(spread) if whole else float(f"{spread:.3g}")
    if amount == 0:
        return None
    # The direction that raises risk is the model's: its mean score with the feature moved up
    # against moved down, on the same rows.
    up = rows.assign(**{feature: values + amount})
    down = rows.assign(**{feature: values - amount})
    effect = float(np.mean(score(up)) - np.mean(score(down)))
    if effect == 0.0:
        return None
    return FeatureShift(
        feature, share, "numeric", amount=amount if effect > 0 else -amount, whole=whole,
        low=float(present.min()), high=float(present.max()), share=MOVED_SHARE,
    )  # fmt: skip


def _categorical_shift(
    rows: pd.DataFrame, score: Scorer, feature: str, share: float, base: float
) -> FeatureShift | None:
    counts = rows[feature].astype("string").value_counts(normalize=True)
    candidates = [str(c) for c, s in counts.items() if s >= MIN_CATEGORY_SHARE]
    risk = {c: float(np.mean(score(rows.assign(**{feature: c})))) for c in candidates}
    if not risk:
        return None
    riskiest = max(sorted(risk), key=lambda c: risk[c])
    if risk[riskiest] <= base:
        return None
    return FeatureShift(feature, share, "categorical", to_category=riskiest, share=MOVED_SHARE)


def csv_cell(value: Any) -> str:
    """One value of a CSV scoring request: empty for missing, else the shortest float text."""
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{float(value):g}"
    )


def csv_body(values: np.ndarray) -> bytes:
    """A text/csv request body: one row per line, no header."""
    return "\n".join(",".join(csv_cell(v) for v in row) for row in values).encode()
