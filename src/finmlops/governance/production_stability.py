"""Score stability against production: the PSI of the latest production window's scores against
the version's training scores, for the decided validation report (issue 15: "PSI of scores,
train vs test vs latest production window").

The window is what monitoring recorded of a version in production: a drift run's
`drift_report.json` (its window's start and end, and the version the deployment says it
checked, `expected_model.model_package_arn`) and the captured requests of that window, whose
`endpointOutput` carries the scores. Captures are read with the monitoring engine's own capture
parsing (`monitoring.quality.read_jsonl`, `readers.event_time`, the score extraction the quality
job uses), and the PSI is the drift engine's (`monitoring.stats.psi`), over the bins of the train
vs test PSI that the evaluate step recorded: its edges (the train scores' deciles) and its train
shares. The train counts are the shares times the train rows: the shares are rounded to 1e-6, so
the product rounds back to the exact count for any split under 500,000 rows (checked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from finmlops.monitoring import stats
from finmlops.monitoring.quality import MALFORMED_KEY, read_jsonl
from finmlops.monitoring.quality import _scores as captured_scores
from finmlops.monitoring.readers import BadRecordError, event_time, parse_time
from finmlops.reports import count, num

# The customary reading of a PSI (finmlops.steps.evaluate.score_psi reads it the same way).
_READINGS = ((0.1, "stable"), (0.25, "moderate shift"))


class ProductionWindowError(ValueError):
    """The production window cannot be used for this version; the message names the file and
    the field."""


@dataclass(frozen=True)
class ProductionWindow:
    """The scores a version served in one monitored window."""

    source: str  # the drift report's file, for the report
    start: str
    end: str
    scores: tuple[float, ...]
    skipped: int  # capture records outside the window or unreadable


def _reading(value: float) -> str:
    return next((text for bound, text in _READINGS if value < bound), "significant shift")


def read_window(
    report: Mapping[str, Any],
    captures: Iterable[Mapping[str, Any]],
    version_arn: str,
    *,
    source: str,
) -> ProductionWindow:
    """The scores of the drift report's window among `captures`, when the report says the
    deployment that ran it served `version_arn` and its baseline was that version's."""
    expected = report.get("expected_model")
    arn = expected.get("model_package_arn", "") if isinstance(expected, Mapping) else ""
    if arn != version_arn:
        raise ProductionWindowError(
            f"{source}: expected_model.model_package_arn is {arn or 'not recorded'}, not "
            f"{version_arn}: the window is not of this version"
        )
    dataset = report.get("dataset")
    if not isinstance(dataset, Mapping) or dataset.get("baseline_identity_ok") is not True:
        raise ProductionWindowError(
            f"{source}: dataset.baseline_identity_ok is not true: the run compared another "
            "version's baseline"
        )
    found = report.get("window")
    window: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    try:
        start, end = parse_time(window.get("start")), parse_time(window.get("end"))
    except ValueError:
        start = end = None
    if start is None or end is None:
        raise ProductionWindowError(f"{source}: window.start and window.end must be times")
    scores: list[float] = []
    skipped = 0
    for record in captures:
        try:
            if MALFORMED_KEY in record:
                raise BadRecordError(str(record[MALFORMED_KEY]))
            _, when = event_time(record)
            if when is None or not start <= when < end:
                skipped += 1
                continue
            scores.extend(captured_scores(record))
        except BadRecordError:
            skipped += 1
    return ProductionWindow(
        source, str(window["start"]), str(window["end"]), tuple(scores), skipped
    )


def load_window(drift_report: Path, captures: Path, version_arn: str) -> ProductionWindow:
    """`read_window` from files: a drift run's drift_report.json and a folder of captured
    requests (JSON lines, as SageMaker data capture writes them)."""
    import json

    try:
        report = json.loads(drift_report.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ProductionWindowError(f"{drift_report}: not a drift report ({exc})") from None
    if not isinstance(report, Mapping):
        raise ProductionWindowError(f"{drift_report}: not a drift report (not a JSON object)")
    files = sorted(
        p for p in captures.rglob("*") if p.is_file() and p.suffix in {".jsonl", ".json"}
    )
    if not files:
        raise ProductionWindowError(f"{captures}: no captured requests (.jsonl files)")
    return read_window(report, read_jsonl(files, captures), version_arn, source=str(drift_report))


def train_counts(train_vs_test: Mapping[str, Any]) -> npt.NDArray[np.int64]:
    """The train scores' count per bin, back from the recorded shares and row count."""
    rows = int(train_vs_test["reference_rows"])
    shares = np.asarray(train_vs_test["reference_share"], dtype=float)
    counts: npt.NDArray[np.int64] = np.rint(shares * rows).astype(np.int64)
    if int(counts.sum()) != rows:
        raise ProductionWindowError(
            f"score_stability.train_vs_test: the shares give {int(counts.sum())} rows, not the "
            f"recorded {rows}"
        )
    return counts


def production_stability(
    train_vs_test: Mapping[str, Any], window: ProductionWindow
) -> dict[str, Any]:
    """The window's scores against the train scores: PSI over the train vs test bins (the same
    left-closed bins the evaluate step counted the train scores in)."""
    edges = np.asarray(train_vs_test.get("edges") or [], dtype=float)
    reference = train_counts(train_vs_test)
    if reference.size != edges.size + 1:
        raise ProductionWindowError(
            f"score_stability.train_vs_test: {edges.size} edges for {reference.size} bins"
        )
    scores = np.asarray(window.scores, dtype=float)
    current = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=edges.size + 1)
    value = stats.psi(reference, current.astype(np.int64)) if scores.size else None
    return {
        "psi": value,
        "reading": _reading(value) if value is not None else "no scores in the window",
        "rows": int(scores.size),
        "train_rows": int(reference.sum()),
        "start": window.start,
        "end": window.end,
        "source": window.source,
        "skipped": window.skipped,
    }


def production_text(evaluation: Mapping[str, Any], window: ProductionWindow | None) -> str:
    """The report's line for the latest production window: the PSI with the window's time, or
    plainly why there is none."""
    if window is None:
        return (
            "no production window: no monitoring output of this version was given "
            "(finmlops registry report --drift-report ... --captures ...)"
        )
    stability = evaluation.get("score_stability")
    train = stability.get("train_vs_test") if isinstance(stability, Mapping) else None
    if not isinstance(train, Mapping):
        return f"window {window.start} to {window.end}: no train score bins recorded to compare"
    found = production_stability(train, window)
    if found["psi"] is None:
        return f"window {found['start']} to {found['end']}: no scores captured in the window"
    return (
        f"PSI {num(found['psi'])} ({found['reading']}) vs train; {count(found['rows'])} scores "
        f"of the window {found['start']} to {found['end']} ({found['source']}), "
        f"{count(found['train_rows'])} train scores"
    )
