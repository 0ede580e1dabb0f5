"""Outputs of a drift run: Model Monitor files, the machine-readable report and the HTML report.

The HTML report is one self-contained file (inline CSS and SVG, no script, no network): the
summary first, then one section per feature with the reference and current distributions.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finmlops.monitoring import formats
from finmlops.monitoring.drift import DriftReport, FeatureDrift, TestResult

REPORT_JSON = "drift_report.json"
REPORT_HTML = "drift_report.html"

_CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:16px;margin:26px 0 6px}.meta{color:#5b6475;margin:0 0 14px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{padding:3px 9px;border-bottom:1px solid #e3e6ec;
text-align:left;vertical-align:top}th{background:#f4f6f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:12px 16px;border-radius:6px;font-size:16px;margin:8px 0 16px}
.v-drift{background:#fde8e8;border:1px solid #e0a0a0}.v-ok{background:#e7f6ec;border:1px solid #9fd3b0}
.v-none{background:#f1f1f1;border:1px solid #c8c8c8}
.s{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.s-drift,.s-missing{background:#d64545;color:#fff}.s-watch{background:#e8a33d;color:#fff}
.s-ok{background:#3d9a5f;color:#fff}.s-no_data{background:#8a8f99;color:#fff}
.hit{color:#b42323;font-weight:600}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
.note{color:#5b6475}svg text{font:11px -apple-system,Segoe UI,Helvetica,Arial,sans-serif;fill:#1d2330}
"""
_REFERENCE_COLOUR = "#9aa3b2"
_CURRENT_COLOUR = "#2f6fdf"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if number != 0 and (abs(number) < 1e-3 or abs(number) >= 1e6):
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}f}"


def _anchor(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in name) + f"-{len(name)}"


def _bars(feature: FeatureDrift) -> str:
    """Horizontal bars, reference over current, one row per bin or category."""
    dist = feature.distribution
    # Category names where the baseline knows the encoder's codes, else the values themselves.
    bins: Sequence[str] = dist.get("labels") or dist.get("bins", [])
    if not bins:
        return '<p class="note">No distribution to draw.</p>'
    reference: Sequence[float] = dist["reference"]
    current: Sequence[float] = dist["current"]
    label_width = min(260, 16 + 7 * max(len(b) for b in bins))
    bar_width = 420
    row = 26
    top = max(*reference, *current, 1e-9)
    height = row * len(bins) + 8
    parts = [
        f'<svg width="{label_width + bar_width + 70}" '
        f'height="{height}" role="img" aria-label="{_e(feature.name)} distribution">'
    ]
    for i, (label, ref, cur) in enumerate(zip(bins, reference, current, strict=True)):
        y = 4 + i * row
        text = label if len(label) <= 36 else label[:35] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_e(text)}</text>'
        )
        for offset, value, colour in ((0, ref, _REFERENCE_COLOUR), (11, cur, _CURRENT_COLOUR)):
            width = bar_width * value / top
            parts.append(
                f'<rect x="{label_width}" y="{y + offset}" width="{width:.1f}" height="10" '
                f'fill="{colour}"><title>{_e(label)}: {value:.2%}</title></rect>'
            )
        parts.append(
            f'<text x="{label_width + bar_width + 6}" y="{y + 15}">{cur - ref:+.1%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _test_row(test: TestResult) -> str:
    extra = []
    for key in ("p_value", "p_value_adjusted", "watch_threshold", "bounds", "examples"):
        if key in test.details and test.details[key] is not None:
            value = test.details[key]
            shown = (
                f"[{_num(value[0])}, {_num(value[1])}]"
                if key == "bounds"
                else _e(value)
                if key == "examples"
                else _num(value)
            )
            extra.append(f"{key.replace('_', ' ')} {shown}")
    comparison = test.comparison or ""
    rule = f"{_e(comparison)} {_num(test.threshold)}" if test.threshold is not None else ""
    css = ' class="hit"' if test.triggered else ""
    return (
        f"<tr><td>{_e(test.name)}</td><td class=n{css}>{_num(test.value)}</td><td>{rule}</td>"
        f"<td{css}>{'yes' if test.triggered else 'no'}</td><td>{'; '.join(extra)}</td></tr>"
    )


def _decided(feature: FeatureDrift) -> str:
    decided = feature.decided_by
    if not decided:
        return ""
    text = f"{decided['test']}"
    if decided.get("value") is not None:
        text += f" {_num(decided['value'])} {decided['comparison']} {_num(decided['threshold'])}"
    confirmed = decided.get("confirmed_by")
    if confirmed:
        text += f" (confirmed: {confirmed['test']} adjusted p {_num(confirmed['value'])})"
    return _e(text)


def _summary_row(feature: FeatureDrift) -> str:
    def value(name: str) -> str:
        test = feature.test(name)
        if test is None:
            return "<td></td>"
        css = ' class="n hit"' if test.triggered else " class=n"
        return f"<td{css}>{_num(test.value)}</td>"

    p_test = feature.test("ks") or feature.test("chi_square")
    p_value = p_test.details.get("p_value_adjusted") if p_test else None
    missing = feature.completeness.get("missing_share_increase")
    return (
        f'<tr><td><a href="#{_anchor(feature.name)}">{_e(feature.name)}</a></td>'
        f"<td>{_e(feature.kind)}</td><td><span class='s s-{_e(feature.status)}'>"
        f"{_e(feature.status)}</span></td><td>{_decided(feature)}</td>"
        f"<td class=n>{_num(p_value, 3)}</td>{value('psi')}{value('wasserstein')}"
        f"{value('jensen_shannon')}{value('unseen_share')}<td class=n>{_num(missing)}</td></tr>"
    )


def _feature_section(feature: FeatureDrift) -> str:
    parts = [
        f'<h3 id="{_anchor(feature.name)}">{_e(feature.name)} '
        f"<span class='s s-{_e(feature.status)}'>{_e(feature.status)}</span></h3>",
        f'<p class="meta">{_e(feature.kind)}, {_e(feature.inferred_type)}; '
        f"{feature.counts['values']} values of {feature.counts['rows']} rows, "
        f"{feature.counts['missing']} missing, {feature.counts['type_violations']} type "
        f"violations; completeness {_num(feature.completeness['baseline'])} in the baseline, "
        f"{_num(feature.completeness['current'])} now"
        + (f"; decided by {_decided(feature)}" if feature.decided_by else "")
        + "</p>",
        '<p class="legend">Share of values per bin:'
        f'<span style="background:{_REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{_CURRENT_COLOUR}"></span>current'
        " (right: current minus reference)</p>",
        _bars(feature),
        "<table><tr><th>test</th><th>value</th><th>drift when</th><th>triggered</th>"
        "<th>details</th></tr>",
        *(_test_row(t) for t in feature.tests),
        "</table>",
    ]
    if feature.quantiles:
        q = feature.quantiles
        header = "".join(f"<th>p{round(100 * x)}</th>" for x in q["q"])
        ref = "".join(f"<td class=n>{_num(v)}</td>" for v in q["reference"])
        cur = "".join(f"<td class=n>{_num(v)}</td>" for v in q["current"])
        parts.append(
            f"<table><tr><th>quantile</th>{header}</tr><tr><td>reference</td>{ref}</tr>"
            f"<tr><td>current</td>{cur}</tr></table>"
        )
    parts.extend(
        f'<p class="note">{_e(v.constraint_check_type)}: {_e(v.description)}</p>'
        for v in feature.violations
    )
    parts.extend(f'<p class="note">{_e(note)}</p>' for note in feature.notes)
    return "\n".join(parts)


def _binding(report: DriftReport) -> str:
    """How this baseline is known to be the deployed version's: what the baseline recorded and
    matched, and why the version and package ARN come from the registry instead."""
    expected = report.expected_model
    if not expected:
        return '<p class="note">No deployed version was named to this run: the baseline\'s ' \
            "identity was not checked.</p>"  # fmt: skip
    model = report.model
    matched = [
        f"{name.replace('_', ' ')} {_e(model[name])}"
        for name in ("model_id", "data_fingerprint")
        if model.get(name) and model.get(name) == expected.get(name)
    ]
    version = expected.get("model_version") or "?"
    arn = expected.get("model_package_arn") or ""
    text = (
        f"Baseline of version {_e(version)}"
        + (f" (<code>{_e(arn)}</code>)" if arn else "")
        + (f": the baseline records and matches {'; '.join(matched)}. " if matched else ". ")
        + "The version number and package ARN are assigned at registration, after the model "
        "build computed this baseline, so the baseline cannot record them: the run read it "
        "from the folder the version's registered DriftCheckBaselines name, and verified its "
        f"content id {_e(report.baseline_id)} on load."
    )
    return f'<p class="meta">{text}</p>'


def render_html(report: DriftReport) -> str:
    """The self-contained HTML report (deterministic: same report, same bytes)."""
    dataset = report.dataset
    model = report.model
    if not dataset["evaluated"]:
        verdict_class, verdict = "v-none", "Not evaluated: the current window has no rows."
    else:
        verb = "DATASET DRIFT" if dataset["drifted"] else "No dataset drift"
        verdict_class = "v-drift" if dataset["drifted"] else "v-ok"
        verdict = (
            f"{verb}: {dataset['drifted_features']} of {dataset['features']} features drifted, "
            f"share {_num(dataset['drift_share'], 3)} {dataset['comparison']} threshold "
            f"{_num(dataset['threshold'], 3)} is {'true' if dataset['drifted'] else 'false'}."
        )
    window = report.window
    expected = report.expected_model or {}
    version = model.get("model_version") or expected.get("model_version") or ""
    title = f"Data drift report: {model.get('model_id', '')} {'v' + version if version else ''}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title.strip())}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title.strip())}</h1>",
        f'<p class="meta">baseline {_e(report.baseline_id)}; window {_e(window.get("start") or "–")} '
        f"to {_e(window.get('end') or '–')}, {window['rows']} rows; engine mode "
        f"{_e(report.mode)}; multiple testing: Benjamini-Hochberg at "
        f"{_num(dataset['multiple_testing']['alpha'], 3)} over "
        f"{dataset['multiple_testing']['tests']} p-values</p>",
        f'<div class="verdict {verdict_class}">{_e(verdict)}</div>',
    ]
    parts.append(_binding(report))
    if report.messages:
        parts.append("<ul>" + "".join(f"<li>{_e(m)}</li>" for m in report.messages) + "</ul>")
    bad = window.get("bad_records") or {}
    if bad.get("count"):
        parts.append(
            f"<h2>Unreadable records ({bad['count']}, share {_num(bad['share'])}, limit "
            f'{_num(bad["threshold"])})</h2><p class="note">Skipped; the first '
            f"{len(bad['sample'])} are listed.</p><table><tr><th>file</th><th>line</th>"
            "<th>reason</th></tr>"
            + "".join(
                f"<tr><td>{_e(b['file'])}</td><td class=n>{b['line']}</td>"
                f"<td>{_e(b['reason'])}</td></tr>"
                for b in bad["sample"]
            )
            + "</table>"
        )
    parts.append(
        "<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>status</th>"
        "<th>decided by</th><th>adjusted p</th><th>PSI</th><th>W1/sd</th><th>JS</th>"
        "<th>unseen</th><th>missing share up</th></tr>"
    )
    parts.extend(_summary_row(f) for f in report.features)
    parts.append("</table>")
    parts.append(f"<h2>Constraint violations ({len(report.violations)})</h2>")
    if report.violations:
        parts.append("<table><tr><th>feature</th><th>check</th><th>description</th></tr>")
        parts.extend(
            f"<tr><td>{_e(v.feature_name)}</td><td>{_e(v.constraint_check_type)}</td>"
            f"<td>{_e(v.description)}</td></tr>"
            for v in report.violations
        )
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    thresholds = "; ".join(f"{k} {_num(v, 3)}" for k, v in sorted(report.thresholds.items()))
    parts.append(f'<p class="note">Thresholds: {_e(thresholds)}.</p>')
    parts.append("<h2>Per feature</h2>")
    parts.extend(_feature_section(f) for f in report.features)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


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


def write_outputs(report: DriftReport, out_dir: str | Path) -> dict[str, Path]:
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
    html_path.write_text(render_html(report), encoding="utf-8")
    written[REPORT_HTML] = html_path
    return written


def explanation_html(data: dict[str, Any]) -> str:
    """The explanation-drift report (explanation_report.json's content in, one self-contained
    HTML page out, same bytes for the same data): verdict, NDCG and attribution shift against
    their thresholds, then each feature's attribution and rank in the baseline and the window."""
    thresholds = data["thresholds"]
    window = data["window"]
    if not data["evaluated"]:
        verdict_class, verdict = "v-none", f"Not evaluated: {data['reason']}"
    else:
        verdict_class = "v-drift" if data["drifted"] else "v-ok"
        verdict = (
            f"{'EXPLANATION DRIFT' if data['drifted'] else 'No explanation drift'}: NDCG "
            f"{_num(data['ndcg'])} (violation below {_num(thresholds['min_ndcg'], 2)}), "
            f"attribution shift {_num(data['attribution_shift'])} (violation above "
            f"{_num(thresholds['max_attribution_shift'], 2)})."
        )
    base = data["baseline_profile"]
    live = data["window_profile"] or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Explanation drift report</title>",
        f"<style>{_CSS}</style></head><body><h1>Explanation drift report</h1>",
        f'<p class="meta">window {_e(window["start"] or "–")} to {_e(window["end"] or "–")}, '
        f"{window['rows']} rows, {live.get('rows', 0)} explained; baseline profile on "
        f"{base['rows']} rows; model {_e(base['model_sha256'])}; {_e(base['method'])}</p>",
        f'<div class="verdict {verdict_class}">{_e(verdict)}</div>',
        "<h2>Global attribution (mean |SHAP|)</h2><table><tr><th>feature</th>"
        "<th>baseline</th><th>share</th><th>rank</th><th>window</th><th>share</th>"
        "<th>rank</th></tr>",
    ]
    for row in data["features"]:
        moved = row["window_rank"] is not None and row["window_rank"] != row["baseline_rank"]
        rank_css = ' class="n hit"' if moved else " class=n"
        parts.append(
            f"<tr><td>{_e(row['feature'])}</td><td class=n>{_num(row['baseline'])}</td>"
            f"<td class=n>{_num(row['baseline_share'], 3)}</td>"
            f"<td class=n>{row['baseline_rank']}</td><td class=n>{_num(row['window'])}</td>"
            f"<td class=n>{_num(row['window_share'], 3)}</td>"
            f"<td{rank_css}>{_num(row['window_rank'])}</td></tr>"
        )
    parts.append(f"</table><h2>Constraint violations ({len(data['violations'])})</h2>")
    parts.append(
        "<table><tr><th>check</th><th>description</th></tr>"
        + "".join(
            f"<tr><td>{_e(v['constraint_check_type'])}</td><td>{_e(v['description'])}</td></tr>"
            for v in data["violations"]
        )
        + "</table>"
        if data["violations"]
        else "<p>None.</p>"
    )
    parts.append(
        '<p class="note">NDCG as SageMaker Clarify defines it for feature attribution drift '
        "(baseline attributions as gains, in the window's order, over their ideal order); "
        "attribution shift: half the L1 distance between the two profiles as shares.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
