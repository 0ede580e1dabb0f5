"""Explanation drift: the window's feature-attribution profile against the baseline's.

A profile is the global importance of each feature as the model itself attributes it: the mean
|TreeSHAP contribution| over a seeded sample of rows (XGBoost's exact TreeSHAP,
`Booster.predict(pred_contribs=True)`, in margin units; the same computation as the validation
report's, `finmlops.steps.evaluate.shap_contributions`). The baseline step records the profile of
the training features with the version's own model (`attribution.json` beside the drift
baseline, so the version's registered DriftCheckBaselines folder binds it, ADR 0025); the
monitoring step computes the window's profile with the deployed model and compares the two:

- **NDCG**, as SageMaker Clarify's feature attribution drift defines it (docs page
  clarify-model-monitor-feature-attribution-drift): F = features by baseline attribution,
  F' = features by window attribution, a(f) the baseline attribution,
  DCG = sum_i a(F'_i) / log2(i + 1), iDCG = sum_i a(F_i) / log2(i + 1), NDCG = DCG / iDCG;
  Clarify alerts below 0.90. The worked example of that page (SAT 0.70, GPA 0.50, class rank
  0.05 reversed) gives 0.69.
- **Attribution shift**: half the L1 distance between the two profiles as shares of their
  totals, the share of the model's attribution that moved between features. NDCG weighs each
  feature by its baseline attribution: when one feature holds half of it, a reordering below it
  barely moves NDCG (ADR 0028 gives the measurement).

NDCG is a few lines of numpy here rather than scikit-learn's `ndcg_score`, which computes the same
for one query (linear gain, log2 discount) but averages tied scores; the tests hold the two
equal on untied profiles and on Clarify's worked example.

Violations are written in Clarify's format for this check (docs page
clarify-model-monitor-model-attribution-drift-violations: `label`, `metric_name` "shap",
`constraint_check_type` "feature_attribution_drift_check", `description`).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from finmlops.monitoring import formats

if TYPE_CHECKING:
    import xgboost as xgb

    from finmlops.monitoring.readers import Chunk

PROFILE_FILE = "attribution.json"
PROFILE_FORMAT = "finmlops/attribution-profile"
FORMAT_VERSION = 1
MODEL_FILE = "xgboost-model"  # what SageMaker's built-in XGBoost writes into model.tar.gz
REPORT_JSON = "explanation_report.json"
REPORT_HTML = "explanation_report.html"
METHOD = "exact TreeSHAP, xgboost Booster.predict(pred_contribs=True); mean |SHAP|, log-odds units"
# Clarify's names for this check (violations file) and its placeholder label.
CHECK = "feature_attribution_drift_check"
METRIC = "shap"
LABEL = "label0"
BAD_RECORDS = formats.BAD_RECORDS
SAMPLE_SEED = 20261207
# Contributions must add up to the margin: otherwise they explain another model (float32 sums).
ADDITIVITY_TOLERANCE = 1e-3

FloatArray = npt.NDArray[np.float64]


class ExplanationError(ValueError):
    """The profile cannot be computed or compared; the message names the file, field or row."""


# --------------------------------------------------------------------------------------------
# The model


def model_bytes(path: str | Path) -> bytes:
    """The `xgboost-model` file from a model archive (model.tar.gz, as SageMaker stores it and as
    the served artifact holds it beside code/), a folder holding one of them, or the file."""
    source = Path(path)
    if source.is_dir():
        direct = source / MODEL_FILE
        if direct.is_file():
            return direct.read_bytes()
        archives = sorted(p for p in source.rglob("*.tar.gz") if p.is_file())
        if len(archives) != 1:
            raise ExplanationError(
                f"--model {source}: expected {MODEL_FILE} or one .tar.gz, found "
                f"{len(archives)} archive(s)"
            )
        source = archives[0]
    if not source.is_file():
        raise ExplanationError(f"--model {source}: no such file")
    if source.name.endswith(".tar.gz"):
        try:
            with tarfile.open(source, mode="r:gz") as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.removeprefix("./") == MODEL_FILE:
                        handle = tar.extractfile(member)
                        if handle is not None:
                            return handle.read()
        except (tarfile.TarError, OSError) as exc:
            raise ExplanationError(f"--model {source}: not a readable archive ({exc})") from None
        raise ExplanationError(f"--model {source}: holds no {MODEL_FILE}")
    return source.read_bytes()


def load_model(path: str | Path) -> tuple[xgb.Booster, str]:
    """The booster and the sha256 of its `xgboost-model` bytes (what binds a profile to it)."""
    import xgboost as xgb

    data = model_bytes(path)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as exc:
        raise ExplanationError(f"--model {path}: not an XGBoost model ({exc})") from None
    return booster, "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    """Global attribution of one data set by one model: mean |SHAP| per feature."""

    features: tuple[str, ...]
    mean_abs_shap: tuple[float, ...]
    rows: int  # rows explained (the sample)
    population: int  # rows the sample was drawn from
    seed: int
    model_sha256: str
    expected_value: float  # mean bias term: the margin with no feature known
    additivity_max_error: float  # max |sum of contributions - margin| over the sample
    method: str = METHOD

    def values(self) -> FloatArray:
        return np.asarray(self.mean_abs_shap, dtype=np.float64)

    def shares(self) -> FloatArray:
        values = self.values()
        total = float(values.sum())
        return values / total if total > 0 else values

    def ranking(self) -> list[str]:
        """Features by attribution, largest first; ties in feature order."""
        order = np.argsort(-self.values(), kind="stable")
        return [self.features[i] for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "model_sha256": self.model_sha256,
            "rows": self.rows,
            "population": self.population,
            "seed": self.seed,
            "expected_value": self.expected_value,
            "additivity_max_error": self.additivity_max_error,
            "features": [
                {"name": n, "mean_abs_shap": v}
                for n, v in zip(self.features, self.mean_abs_shap, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Profile:
        if data.get("format") != PROFILE_FORMAT:
            raise ExplanationError(f"{source}: not a {PROFILE_FORMAT} document")
        if data.get("format_version") != FORMAT_VERSION:
            raise ExplanationError(
                f"{source}: format_version {data.get('format_version')}, this engine reads "
                f"{FORMAT_VERSION}"
            )
        try:
            features = tuple(str(f["name"]) for f in data["features"])
            values = tuple(float(f["mean_abs_shap"]) for f in data["features"])
            return cls(
                features=features,
                mean_abs_shap=values,
                rows=int(data["rows"]),
                population=int(data["population"]),
                seed=int(data["seed"]),
                model_sha256=str(data["model_sha256"]),
                expected_value=float(data["expected_value"]),
                additivity_max_error=float(data["additivity_max_error"]),
                method=str(data.get("method", METHOD)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExplanationError(f"{source}: field {exc} missing or malformed") from None


def sample_index(population: int, sample_rows: int, seed: int = SAMPLE_SEED) -> npt.NDArray[Any]:
    """A seeded sample without replacement, in row order; every row when there are few."""
    if population <= sample_rows:
        return np.arange(population)
    chosen = np.random.default_rng(seed).choice(population, size=sample_rows, replace=False)
    return np.sort(chosen)


def attribution_profile(
    booster: xgb.Booster,
    x: npt.NDArray[Any],
    features: Sequence[str],
    *,
    model_sha256: str,
    sample_rows: int,
    seed: int = SAMPLE_SEED,
) -> Profile:
    """The profile of rows `x` (model column order) on a seeded sample of at most
    `sample_rows` rows. Refuses rows the model does not take and contributions that do not
    add up to the model's margin."""
    from finmlops.steps.evaluate import shap_contributions

    matrix = np.asarray(x, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != len(features):
        raise ExplanationError(
            f"{len(features)} features named, the rows have shape {tuple(matrix.shape)}"
        )
    if booster.num_features() != len(features):
        raise ExplanationError(
            f"the model takes {booster.num_features()} features, {len(features)} are named: "
            f"{', '.join(features)}"
        )
    if len(matrix) == 0:
        raise ExplanationError("no rows to explain")
    index = sample_index(len(matrix), sample_rows, seed)
    contributions, margin = shap_contributions(booster, matrix[index])
    error = float(np.max(np.abs(contributions.sum(axis=1) - margin)))
    if not error <= ADDITIVITY_TOLERANCE:
        raise ExplanationError(
            f"SHAP contributions miss the model's margin by up to {error:g} "
            f"(tolerance {ADDITIVITY_TOLERANCE:g}): they do not explain this model"
        )
    mean_abs = np.abs(contributions[:, :-1]).mean(axis=0)
    return Profile(
        features=tuple(features),
        mean_abs_shap=tuple(float(v) for v in mean_abs),
        rows=len(index),
        population=len(matrix),
        seed=seed,
        model_sha256=model_sha256,
        expected_value=float(contributions[:, -1].mean()),
        additivity_max_error=error,
    )


def save_profile(profile: Profile, directory: str | Path) -> Path:
    return formats.write_json(Path(directory) / PROFILE_FILE, profile.to_dict())


def load_profile(path: str | Path) -> Profile:
    """attribution.json from itself or the baseline folder that holds it."""
    file = Path(path)
    if file.is_dir():
        file = file / PROFILE_FILE
    if not file.is_file():
        raise ExplanationError(
            f"no {PROFILE_FILE} at {path}: the version's baseline has no attribution profile "
            "(built before explanation drift, or without --model): rebuild the version"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExplanationError(f"{file}: cannot be read as JSON ({exc})") from None
    return Profile.from_dict(data, str(file))


# --------------------------------------------------------------------------------------------
# Comparison


def ndcg(baseline: Sequence[float] | FloatArray, window: Sequence[float] | FloatArray) -> float:
    """Clarify's NDCG of the window's ranking against the baseline's (module docstring): the
    baseline attributions are the gains, taken in the window's order, over their ideal order."""
    gains = np.asarray(baseline, dtype=np.float64)
    live = np.asarray(window, dtype=np.float64)
    if gains.shape != live.shape or gains.ndim != 1 or gains.size == 0:
        raise ExplanationError(
            f"profiles of different features: {gains.shape} against {live.shape}"
        )
    if not (np.all(np.isfinite(gains)) and np.all(np.isfinite(live))):
        raise ExplanationError("an attribution is not a finite number")
    if np.any(gains < 0) or np.any(live < 0):
        raise ExplanationError("global attributions are mean |SHAP|: none can be negative")
    discount = 1.0 / np.log2(np.arange(2, gains.size + 2))
    ideal = float(np.sort(gains)[::-1] @ discount)
    if ideal == 0.0:
        raise ExplanationError("the baseline attributes nothing to any feature: nothing to rank")
    return float(gains[np.argsort(-live, kind="stable")] @ discount) / ideal


def attribution_shift(
    baseline: Sequence[float] | FloatArray, window: Sequence[float] | FloatArray
) -> float:
    """Half the L1 distance between the profiles as shares: 0 same, 1 disjoint."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(window, dtype=np.float64)
    if a.shape != b.shape or a.sum() <= 0 or b.sum() <= 0:
        raise ExplanationError(
            "attribution shift needs two profiles of the same, attributed features"
        )
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


@dataclass
class ExplanationReport:
    """One run's verdict; `to_dict` is explanation_report.json."""

    evaluated: bool
    baseline: Profile
    thresholds: dict[str, float]
    window_rows: int
    window: Profile | None = None
    ndcg: float | None = None
    attribution_shift: float | None = None
    reason: str = ""  # why a window was not evaluated
    bad_records: dict[str, Any] = field(default_factory=dict)
    window_start: str | None = None
    window_end: str | None = None
    violations: list[dict[str, str]] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(v["constraint_check_type"] == CHECK for v in self.violations)

    def features(self) -> list[dict[str, Any]]:
        """Per feature: baseline and window attribution, shares and ranks (baseline order)."""
        base_rank = {f: i + 1 for i, f in enumerate(self.baseline.ranking())}
        window_rank = {f: i + 1 for i, f in enumerate(self.window.ranking())} if self.window else {}
        base_share = self.baseline.shares()
        window_share = self.window.shares() if self.window else None
        rows = []
        for i, name in enumerate(self.baseline.features):
            rows.append(
                {
                    "feature": name,
                    "baseline": self.baseline.mean_abs_shap[i],
                    "baseline_share": float(base_share[i]),
                    "baseline_rank": base_rank[name],
                    "window": self.window.mean_abs_shap[i] if self.window else None,
                    "window_share": float(window_share[i]) if window_share is not None else None,
                    "window_rank": window_rank.get(name),
                }
            )
        return sorted(rows, key=lambda r: r["baseline_rank"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": "explanation drift (feature attribution)",
            "evaluated": self.evaluated,
            "reason": self.reason,
            "drifted": self.drifted,
            "ndcg": self.ndcg,
            "attribution_shift": self.attribution_shift,
            "thresholds": self.thresholds,
            "window": {
                "start": self.window_start,
                "end": self.window_end,
                "rows": self.window_rows,
                "bad_records": self.bad_records,
            },
            "baseline_profile": self.baseline.to_dict(),
            "window_profile": self.window.to_dict() if self.window else None,
            "features": self.features(),
            "violations": self.violations,
        }


def _violation(check: str, description: str) -> dict[str, str]:
    return {
        "label": LABEL,
        "metric_name": METRIC,
        "constraint_check_type": check,
        "description": description,
    }


def compare(
    baseline: Profile,
    window: Profile,
    *,
    min_ndcg: float,
    max_attribution_shift: float,
) -> tuple[float, float, list[dict[str, str]]]:
    """NDCG, attribution shift and the violations of one window's profile. Profiles of another
    model or other features are refused: the comparison would mean nothing."""
    if window.features != baseline.features:
        raise ExplanationError(
            f"the window's features {list(window.features)} are not the baseline profile's "
            f"{list(baseline.features)}"
        )
    if window.model_sha256 != baseline.model_sha256:
        raise ExplanationError(
            f"the baseline's attribution profile was computed with model {baseline.model_sha256}, "
            f"the window's with {window.model_sha256}: not the deployed version's baseline"
        )
    score = ndcg(baseline.values(), window.values())
    shift = attribution_shift(baseline.values(), window.values())
    violations = []
    if score < min_ndcg:
        violations.append(
            _violation(
                CHECK,
                f"NDCG {score:.4f} of the window's feature-attribution ranking against the "
                f"baseline's is below {min_ndcg:g}; window top: {', '.join(window.ranking()[:5])}",
            )
        )
    if shift > max_attribution_shift:
        moved = sorted(
            zip(window.features, window.shares() - baseline.shares(), strict=True),
            key=lambda item: -abs(item[1]),
        )[:3]
        violations.append(
            _violation(
                CHECK,
                f"attribution shift {shift:.4f} above {max_attribution_shift:g}: "
                + ", ".join(f"{name} {delta:+.3f}" for name, delta in moved)
                + " (share of total attribution)",
            )
        )
    return score, shift, violations


@dataclass
class Window:
    """The window's rows in model column order, with what could not be read."""

    x: FloatArray
    malformed: int = 0
    bad_samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        total = len(self.x) + self.malformed
        return self.malformed / total if total else 0.0


def read_window(chunks: Iterable[Chunk], features: Sequence[str], source: str) -> Window:
    """The window's rows from the readers' chunks (captures, CSV, JSON lines, Parquet), in the
    profile's feature order. A feature no row carries is an error naming it: explaining the
    window without it would explain another input."""
    from finmlops.monitoring.columns import to_numeric

    parts: list[FloatArray] = []
    malformed = 0
    samples: list[dict[str, Any]] = []
    seen: dict[str, int] = dict.fromkeys(features, 0)
    for chunk in chunks:
        malformed += chunk.malformed
        samples += [b.to_dict() for b in chunk.bad_samples][: max(0, 10 - len(samples))]
        if not chunk.rows:
            continue
        block = np.full((chunk.rows, len(features)), np.nan, dtype=np.float64)
        for j, name in enumerate(features):
            column = chunk.columns.get(name)
            if column is None:
                continue
            seen[name] += chunk.present_rows.get(name, chunk.rows)
            block[:, j] = to_numeric(column).values
        parts.append(block)
    rows = sum(len(p) for p in parts)
    absent = [name for name, count in seen.items() if count == 0]
    if rows and absent:
        raise ExplanationError(
            f"{source}: feature(s) {', '.join(absent)} of the baseline profile are in no row of "
            "the window"
        )
    x = np.concatenate(parts) if parts else np.empty((0, len(features)))
    return Window(x=x, malformed=malformed, bad_samples=samples)


def evaluate_window(
    booster: xgb.Booster,
    model_sha256: str,
    baseline: Profile,
    window: Window,
    *,
    min_ndcg: float,
    max_attribution_shift: float,
    sample_rows: int,
    min_rows: int,
    max_bad_record_share: float,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> ExplanationReport:
    """The whole check of one window as a pure function of the model, profile and rows."""
    if model_sha256 != baseline.model_sha256:
        raise ExplanationError(
            f"the deployed model is {model_sha256}, the baseline's attribution profile was "
            f"computed with {baseline.model_sha256}: not the deployed version's baseline"
        )
    report = ExplanationReport(
        evaluated=False,
        baseline=baseline,
        thresholds={
            "min_ndcg": min_ndcg,
            "max_attribution_shift": max_attribution_shift,
            "min_rows": float(min_rows),
            "max_bad_record_share": max_bad_record_share,
        },
        window_rows=len(window.x),
        bad_records={
            "count": window.malformed,
            "share": window.bad_share,
            "threshold": max_bad_record_share,
            "sample": window.bad_samples,
        },
        window_start=window_start.isoformat() if window_start else None,
        window_end=window_end.isoformat() if window_end else None,
    )
    if window.bad_share > max_bad_record_share:
        report.violations.append(
            _violation(
                BAD_RECORDS,
                f"{window.malformed} of {window.malformed + len(window.x)} records unreadable "
                f"(share {window.bad_share:.4f} > {max_bad_record_share:g})",
            )
        )
    if len(window.x) < min_rows:
        report.reason = (
            f"the window has {len(window.x)} row(s), fewer than {min_rows}: too few to rank "
            "the features (not a pass: nothing was judged)"
        )
        return report
    profile = attribution_profile(
        booster,
        window.x,
        baseline.features,
        model_sha256=model_sha256,
        sample_rows=sample_rows,
        seed=baseline.seed,
    )
    score, shift, violations = compare(
        baseline, profile, min_ndcg=min_ndcg, max_attribution_shift=max_attribution_shift
    )
    report.evaluated = True
    report.window = profile
    report.ndcg = score
    report.attribution_shift = shift
    report.violations += violations
    return report


def write_outputs(report: ExplanationReport, out_dir: str | Path) -> dict[str, Path]:
    """constraint_violations.json (Clarify's layout), explanation_report.json and .html."""
    from finmlops.monitoring.report import explanation_html

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    written = {
        formats.VIOLATIONS_FILE: formats.write_json(
            root / formats.VIOLATIONS_FILE, {"version": "1.0", "violations": report.violations}
        ),
        REPORT_JSON: formats.write_json(root / REPORT_JSON, report.to_dict()),
    }
    html_path = root / REPORT_HTML
    html_path.write_text(explanation_html(report.to_dict()), encoding="utf-8")
    written[REPORT_HTML] = html_path
    return written
