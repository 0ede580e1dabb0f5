"""Outputs of a drift run: Model Monitor files, the machine-readable report and the HTML report.

The HTML report is one self-contained file rendered from the Jinja2 template
`drift_report.html.j2` (inline CSS, matplotlib's SVG charts, no script, no network; ADR 0031):
the verdict first, an overview of every feature's PSI against its thresholds, the trend of the
drift share and the key features over the last windows when earlier runs are given, the summary
table, then one section per feature with the reference and current distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from finmlops.monitoring import formats
from finmlops.monitoring.drift import DriftReport, FeatureDrift, TestResult
from finmlops.monitoring.history import History, WindowSummary
from finmlops.reports import charts, render, sci

REPORT_JSON = "drift_report.json"
REPORT_HTML = "drift_report.html"
TEMPLATE = "drift_report.html.j2"


def _anchor(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in name) + f"-{len(name)}"


def _test_extra(test: TestResult) -> str:
    extra = []
    for key in ("p_value", "p_value_adjusted", "watch_threshold", "bounds", "examples"):
        if key in test.details and test.details[key] is not None:
            value = test.details[key]
            shown = (
                f"[{sci(value[0])}, {sci(value[1])}]"
                if key == "bounds"
                else str(value)
                if key == "examples"
                else sci(value)
            )
            extra.append(f"{key.replace('_', ' ')} {shown}")
    return "; ".join(extra)


def _decided(feature: FeatureDrift) -> str:
    decided = feature.decided_by
    if not decided:
        return ""
    text = f"{decided['test']}"
    if decided.get("value") is not None:
        text += f" {sci(decided['value'])} {decided['comparison']} {sci(decided['threshold'])}"
    confirmed = decided.get("confirmed_by")
    if confirmed:
        text += f" (confirmed: {confirmed['test']} adjusted p {sci(confirmed['value'])})"
    return text


def _feature_view(feature: FeatureDrift) -> dict[str, Any]:
    dist = feature.distribution
    # Category names where the baseline knows the encoder's codes, else the values themselves.
    labels: Sequence[str] = dist.get("labels") or dist.get("bins", [])
    chart = None
    bins: list[tuple[str, float, float]] = []
    if labels:
        reference, current = list(dist["reference"]), list(dist["current"])
        chart = charts.distribution(
            list(labels), reference, current, f"{feature.name}: share of values per bin"
        )
        bins = list(zip(labels, reference, current, strict=True))
    p_test = feature.test("ks") or feature.test("chi_square")
    return {
        "name": feature.name,
        "anchor": _anchor(feature.name),
        "kind": feature.kind,
        "inferred_type": feature.inferred_type,
        "status": feature.status,
        "decided": _decided(feature),
        "p_value": p_test.details.get("p_value_adjusted") if p_test else None,
        "summary": [feature.test(n) for n in _SUMMARY_TESTS],
        "missing": feature.completeness.get("missing_share_increase"),
        "counts": feature.counts,
        "completeness": feature.completeness,
        "chart": chart,
        "bins": bins,
        "tests": [
            {
                "name": t.name, "value": t.value, "threshold": t.threshold,
                "comparison": t.comparison or "", "triggered": t.triggered,
                "extra": _test_extra(t),
            }
            for t in feature.tests
        ],
        "quantiles": feature.quantiles,
        "violations": feature.violations,
        "notes": feature.notes,
    }  # fmt: skip


_SUMMARY_TESTS = ("psi", "wasserstein", "jensen_shannon", "unseen_share")
# How many features the trend follows besides the drift share: those with the largest PSI now.
TREND_FEATURES = 3


def _binding(report: DriftReport) -> dict[str, Any] | None:
    """How this baseline is known to be the deployed version's: what the baseline recorded and
    matched (the version and package ARN come from the registry: the baseline cannot record
    what registration assigns after it)."""
    expected = report.expected_model
    if not expected:
        return None
    model = report.model
    return {
        "version": expected.get("model_version") or "?",
        "arn": expected.get("model_package_arn") or "",
        "matched": [
            f"{name.replace('_', ' ')} {model[name]}"
            for name in ("model_id", "data_fingerprint")
            if model.get(name) and model.get(name) == expected.get(name)
        ],
    }


def _psi(feature: FeatureDrift) -> float | None:
    test = feature.test("psi")
    return test.value if test is not None else None


def _overview(report: DriftReport) -> Any:
    if not report.features:
        return None
    thresholds = report.thresholds
    return charts.drift_overview(
        [f.name for f in report.features],
        [_psi(f) for f in report.features],
        [f.status for f in report.features],
        float(thresholds.get("psi_watch", 0.1)),
        float(thresholds.get("psi_act", 0.25)),
    )


def _trend(report: DriftReport, history: History | None) -> dict[str, Any] | None:
    if history is None or not history.windows:
        return None
    current = WindowSummary.of(report.to_dict())
    windows = [*history.windows, current]
    names = [w.end[:16].replace("T", " ") or f"run {i}" for i, w in enumerate(windows, start=1)]
    ranked = sorted(
        (f for f in report.features if _psi(f) is not None), key=lambda f: -(_psi(f) or 0.0)
    )
    key_features = [f.name for f in ranked[:TREND_FEATURES]]
    share_chart = charts.trend(
        names, [("drift share", [w.drift_share for w in windows])],
        title="Share of features drifted", y_label="share of features",
        threshold=current.threshold, threshold_label=f"dataset drift at {current.threshold:g}",
    )  # fmt: skip
    feature_chart = (
        charts.trend(
            names,
            [(name, [w.psi.get(name) for w in windows]) for name in key_features],
            title="PSI of the key features",
            y_label="PSI",
            threshold=float(report.thresholds.get("psi_act", 0.25)),
            threshold_label="drift",
        )
        if key_features
        else None
    )
    return {
        "windows": windows,
        "source": history.source,
        "limit": history.limit,
        "skipped": history.skipped,
        "share_chart": share_chart,
        "feature_chart": feature_chart,
        "rows": [
            {"end": w.end or "–", "rows": w.rows, "share": w.drift_share, "drifted": w.drifted}
            for w in windows
        ],
    }


def render_html(
    report: DriftReport,
    *,
    history: History | None = None,
    extra_sections: Sequence[str] = (),
) -> str:
    """The self-contained HTML report (deterministic: same report and history, same bytes).

    `history`: earlier windows (finmlops.monitoring.history) for the trend section.
    `extra_sections`: HTML of sections other modules render (each escaped by its module),
    placed after the constraint violations."""
    dataset = report.dataset
    model = report.model
    if not dataset["evaluated"]:
        verdict_class, verdict = "v-none", "Not evaluated: the current window has no rows."
    else:
        verb = "DATASET DRIFT" if dataset["drifted"] else "No dataset drift"
        verdict_class = "v-drift" if dataset["drifted"] else "v-ok"
        verdict = (
            f"{verb}: {dataset['drifted_features']} of {dataset['features']} features drifted, "
            f"share {sci(dataset['drift_share'], 3)} {dataset['comparison']} threshold "
            f"{sci(dataset['threshold'], 3)} is {'true' if dataset['drifted'] else 'false'}."
        )
    expected = report.expected_model or {}
    version = model.get("model_version") or expected.get("model_version") or ""
    title = f"Data drift report: {model.get('model_id', '')} {'v' + version if version else ''}"
    return render(
        TEMPLATE,
        title=title.strip(),
        report=report,
        window=report.window,
        dataset=dataset,
        verdict=verdict,
        verdict_class=verdict_class,
        binding=_binding(report),
        overview=_overview(report),
        trend=_trend(report, history),
        features=[_feature_view(f) for f in report.features],
        thresholds="; ".join(f"{k} {sci(v, 3)}" for k, v in sorted(report.thresholds.items())),
        extra_sections=[Markup(s) for s in extra_sections],  # noqa: S704
    )


def explanation_html(data: dict[str, Any]) -> str:
    """The explanation-drift report (explanation_report.json's content in, one self-contained
    HTML page out, same bytes for the same data), from `explanation_report.html.j2`: verdict,
    NDCG and attribution shift against their thresholds, the two profiles side by side as a
    chart, then each feature's attribution and rank in the baseline and the window."""
    rows = [
        r for r in data.get("features") or []
        if isinstance(r.get("baseline_share"), int | float)
    ]  # fmt: skip
    chart = None
    if rows and data.get("window_profile"):
        shares = [r.get("window_share") for r in rows]
        chart = charts.distribution(
            [str(r["feature"]) for r in rows],
            [float(r["baseline_share"]) for r in rows],
            [float(v) if isinstance(v, int | float) else 0.0 for v in shares],
            "Share of mean |SHAP|: baseline and window",
            names=("baseline", "window"),
            x_label="share of total mean |SHAP|",
        )
    return render("explanation_report.html.j2", data=data, chart=chart)


def window_statistics(report: DriftReport) -> dict[str, Any]:
    """Model Monitor statistics.json of the current window."""
    features = []
    for feature in report.features:
        key = "numerical_statistics" if feature.kind == "numeric" else "string_statistics"
        stats = feature.statistics or {
            "common": {"num_present": 0, "num_missing": feature.counts["missing"]}
        }
        features.append({"name": feature.name, "inferred_type": feature.inferred_type, key: stats})
    return {"version": 0, "dataset": {"item_count": report.window["rows"]}, "features": features}


def write_outputs(
    report: DriftReport, out_dir: str | Path, *, history: History | None = None
) -> dict[str, Path]:
    """constraint_violations.json, statistics.json, drift_report.json and drift_report.html."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    written = {
        formats.VIOLATIONS_FILE: formats.write_json(
            root / formats.VIOLATIONS_FILE, formats.violations_document(report.violations)
        ),
        formats.STATISTICS_FILE: formats.write_json(
            root / formats.STATISTICS_FILE, window_statistics(report)
        ),
    }
    report_path = root / REPORT_JSON
    report_path.write_text(report.to_json(), encoding="utf-8")
    written[REPORT_JSON] = report_path
    html_path = root / REPORT_HTML
    html_path.write_text(render_html(report, history=history), encoding="utf-8")
    written[REPORT_HTML] = html_path
    return written
