"""The validation report of a model version: one self-contained HTML file for the approver.

It opens with no network: CSS inline, charts as inline SVG drawn from evaluation.json, no
scripts, no fonts, no images, and a Content-Security-Policy that forbids loading anything. It
shows the data and its fingerprint, discrimination and calibration with their plots, fairness by
group, the data-quality and drift baseline summaries, every release gate with its threshold and
result, the lineage, and the approval record once there is one.

A version with missing outputs gets an INCOMPLETE EVIDENCE banner at the top listing each
missing piece (`missing_evidence`), and each empty section says what it lacks instead of
showing an empty table. The same bundle renders to the same bytes: nothing reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from finmlops.config import Config
from finmlops.contracts import Approval
from finmlops.fairness import definitions as fairness_definitions
from finmlops.governance import plots
from finmlops.governance.bundle import (
    Decision,
    EvidenceBundle,
    GateRow,
    gate_rows,
    missing_evidence,
)
from finmlops.governance.model_card import (
    DISCRIMINATION_METRICS,
    ECE_DEFINITION,
    risk_rating,
)

BANNER_INCOMPLETE = "INCOMPLETE EVIDENCE"

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1040px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
              word-break: break-all; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
.banner.incomplete { background: #ffebe9; border: 3px solid #cf222e; color: #82071e; }
.banner.incomplete strong.flag { font-size: 22px; letter-spacing: 0.04em; display: block; }
.banner.complete { background: #dafbe1; border: 1px solid #1a7f37; color: #044f1e; }
.banner.failed { background: #fff8c5; border: 2px solid #bf8700; color: #4d2d00; }
.missing { background: #ffebe9; border-left: 4px solid #cf222e; padding: 6px 10px; color: #82071e; }
.pass { color: #1a7f37; font-weight: 600; }
.FAIL { color: #cf222e; font-weight: 700; }
.not-evaluated { color: #9a6700; font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; }
nav ol { columns: 2; margin: 0; }
footer { color: #57606a; font-size: 12px; margin-top: 40px; border-top: 1px solid #d0d7de; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_SECTIONS = (
    ("summary", "Summary"),
    ("data", "Data"),
    ("performance", "Model performance"),
    ("champion", "Champion and challenger"),
    ("fairness", "Fairness"),
    ("stability", "Score stability"),
    ("explanation", "Explanation"),
    ("data-quality", "Data quality and drift baseline"),
    ("gates", "Release gates"),
    ("lineage", "Lineage"),
    ("decision", "Approval record"),
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Amounts (incomes, loan sizes) read better grouped and with one decimal.
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return _e(value)


def _count(value: Any) -> str:
    """A count (rows, distinct values, an integer feature's bounds): JSON may carry it as 35.0,
    the reader sees 35."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return f"{int(value):,}"
    return _num(value)


def _interval(figure: Any) -> str:
    """`[lower, upper]` of a bootstrap interval, or why there is none."""
    if not isinstance(figure, Mapping) or figure.get("lower") is None:
        return "n/a"
    return f"[{_num(figure.get('lower'))}, {_num(figure.get('upper'))}]"


def _share(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2%}"
    return "n/a"


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """Cells arrive escaped (or as trusted markup); `numeric` columns are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _missing(text: str) -> str:
    return f'<p class="missing"><strong>Missing:</strong> {_e(text)}</p>'


def _section(anchor: str, number: int, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{number}. {_e(title)}</h2>{body}</section>'


# --- sections -------------------------------------------------------------------------------------


def _banner(missing: Sequence[str], gates: Sequence[GateRow]) -> str:
    parts = []
    if missing:
        items = "".join(f"<li>{_e(m)}</li>" for m in missing)
        parts.append(
            f'<div class="banner incomplete" id="incomplete-evidence" role="alert">'
            f'<strong class="flag">{BANNER_INCOMPLETE}</strong>'
            f"This version lacks {len(missing)} piece(s) of evidence. The sections below show "
            "only what exists; the version must not be approved until these are produced:"
            f"<ul>{items}</ul></div>"
        )
    failed = [g for g in gates if g.status == "FAIL"]
    if failed:
        names = ", ".join(g.name for g in failed)
        parts.append(
            f'<div class="banner failed" role="alert"><strong>{len(failed)} release gate(s) '
            f"failed: {_e(names)}.</strong> The pipeline does not register a version that "
            "fails a gate.</div>"
        )
    if not parts:
        parts.append(
            '<div class="banner complete"><strong>Evidence complete.</strong> Every section '
            "below is filled from this version's own outputs, and every release gate passed.</div>"
        )
    return "".join(parts)


def _summary(config: Config, bundle: EvidenceBundle, gates: Sequence[GateRow]) -> str:
    g, model = config.governance, config.model
    passed = sum(1 for row in gates if row.status == "pass")
    failed = sum(1 for row in gates if row.status == "FAIL")
    unevaluated = len(gates) - passed - failed
    verdict = f"{passed} of {len(gates)} passed"
    if failed:
        verdict += f", {failed} FAILED"
    if unevaluated:
        verdict += f", {unevaluated} not evaluated"
    decision = bundle.decision
    status = decision.status if decision else f"{Approval.PENDING} (no decision yet)"
    metrics = (bundle.evaluation or {}).get("binary_classification_metrics") or {}
    headline = (
        f"AUC {_num(metrics.get('auc'))}, KS {_num(metrics.get('ks'))}, "
        f"Gini {_num(metrics.get('gini'))}"
        if metrics
        else '<span class="not-evaluated">no model metrics (evaluation.json missing)</span>'
    )
    return _facts(
        [
            ("Model", _e(model.name)),
            ("Purpose", _e(model.description or "not described")),
            ("Intended use", _e(g.intended_use or "not recorded")),
            ("Limitations", _e(g.limitations or "not recorded")),
            ("Risk tier", f"{_e(g.risk_tier)} (model card risk rating {_e(risk_rating(config))})"),
            ("Owner", _e(g.owner)),
            ("Independent validator", _e(g.validator)),
            ("Approver role", _e(g.approver_role)),
            ("Data classification", _e(g.data_classification)),
            ("Headline metrics", headline),
            ("Release gates", _e(verdict)),
            ("Registry status", _e(status)),
        ]
    )


def _data(config: Config, bundle: EvidenceBundle) -> str:
    dataset = config.model.dataset
    model = config.model
    rows = [
        ("Dataset", f"<code>{_e(dataset.uri)}</code>"),
        ("Source", _e(dataset.source or "not recorded")),
        ("Licence", _e(dataset.licence or "not recorded")),
        ("Target", f"{_e(model.target)} (positive class {_e(model.positive_class)})"),
        (
            "Features",
            f"{len(model.numeric_features)} numeric, {len(model.categorical_features)} categorical",
        ),
        ("Data fingerprint", f"<code>{_e(bundle.data_fingerprint or 'unknown')}</code>"),
    ]
    dq = bundle.data_quality
    if dq:
        rows[4:4] = [
            ("Rows", _count(dq.get("rows"))),
            ("Columns", _count(dq.get("columns"))),
            ("Positive share", _share(dq.get("positive_share"))),
        ]
    if bundle.split_rows:
        split = ", ".join(f"{_e(k)} {v:,}" for k, v in bundle.split_rows.items())
        rows.append(("Split", split))
    body = _facts(rows)
    if not dq:
        body = _missing("data_quality.json: row count, shares and fingerprint are unknown.") + body
    return body


def _performance(bundle: EvidenceBundle) -> str:
    evaluation = bundle.evaluation
    if not evaluation or not evaluation.get("binary_classification_metrics"):
        return _missing(
            "evaluation.json: no discrimination metrics, confusion matrix, ROC or calibration "
            "can be shown for this version."
        )
    metrics: Mapping[str, Any] = evaluation["binary_classification_metrics"]
    uncertainty = evaluation.get("uncertainty") or {}
    table = _table(
        ["metric", "value", f"{_interval_level(uncertainty)} interval", "meaning"],
        [
            (_e(name), _num(metrics.get(name)), _interval(uncertainty.get(name)), _e(meaning))
            for name, meaning in DISCRIMINATION_METRICS
        ],
        numeric=[1, 2],
    )
    parts = [
        f"<p>Measured on {_count(evaluation.get('test_rows'))} held-out test rows.</p>",
        "<h3>Discrimination</h3>",
        table,
        _uncertainty_note(uncertainty),
    ]
    confusion = metrics.get("confusion_matrix")
    if isinstance(confusion, Mapping):

        def cell(actual: str, predicted: str) -> str:
            return _count((confusion.get(actual) or {}).get(predicted))

        parts += [
            "<h3>Confusion matrix at the cut-off</h3>",
            _table(
                ["actual \\ predicted", "good (0)", "bad (1)"],
                [
                    ("good (0)", cell("0", "0"), cell("0", "1")),
                    ("bad (1)", cell("1", "0"), cell("1", "1")),
                ],
                numeric=[1, 2],
            ),
        ]
    else:
        parts.append(_missing("confusion matrix (binary_classification_metrics.confusion_matrix)"))
    charts = []
    roc = metrics.get("receiver_operating_characteristic_curve") or {}
    fpr, tpr = roc.get("false_positive_rates") or [], roc.get("true_positive_rates") or []
    if fpr and len(fpr) == len(tpr):
        auc = (metrics.get("auc") or {}).get("value")
        charts.append(plots.roc_curve(fpr, tpr, auc if isinstance(auc, int | float) else None))
    else:
        parts.append(_missing("ROC curve (receiver_operating_characteristic_curve)"))
    pr = metrics.get("precision_recall_curve") or {}
    precision, recall = pr.get("precisions") or [], pr.get("recalls") or []
    if precision and len(precision) == len(recall):
        base = (metrics.get("positive_rate") or {}).get("value", 0.0)
        charts.append(plots.precision_recall_curve(recall, precision, float(base or 0.0)))
    table_rows = metrics.get("calibration") or []
    if table_rows:
        charts.append(
            plots.calibration(
                [float(r["mean_predicted"]) for r in table_rows],
                [float(r["observed_rate"]) for r in table_rows],
            )
        )
    else:
        parts.append(_missing("calibration table (binary_classification_metrics.calibration)"))
    parts.append(f'<h3>Curves</h3><div class="charts">{"".join(charts)}</div>')
    if table_rows:
        parts += [
            "<h3>Calibration by score decile</h3>",
            f"<p>Brier score {_num(metrics.get('brier_score'))}; expected calibration error "
            f"{_num(metrics.get('expected_calibration_error'))} ({_e(ECE_DEFINITION)}; the "
            "deciles below show where the gaps are).</p>",
            _table(
                ["decile", "rows", "score range", "mean predicted", "observed rate"],
                [
                    (
                        str(i),
                        _count(r.get("count")),
                        f"{_num(r.get('min_score'))} - {_num(r.get('max_score'))}",
                        _num(r.get("mean_predicted")),
                        _num(r.get("observed_rate")),
                    )
                    for i, r in enumerate(table_rows, start=1)
                ],
                numeric=[0, 1, 3, 4],
            ),
        ]
    return "".join(parts)


def _interval_level(uncertainty: Mapping[str, Any]) -> str:
    level = uncertainty.get("confidence_level")
    return f"{level:.0%}" if isinstance(level, int | float) else "confidence"


def _uncertainty_note(uncertainty: Mapping[str, Any]) -> str:
    if not uncertainty:
        return _missing("uncertainty section of evaluation.json: no confidence intervals.")
    return (
        f"<p>Intervals: {_e(uncertainty.get('method'))}, {_count(uncertainty.get('resamples'))} "
        f"resamples, seed {_e(uncertainty.get('seed'))}, {_interval_level(uncertainty)} "
        "confidence. The same resamples feed every interval in this report.</p>"
    )


def champion_section(evaluation: Mapping[str, Any] | None) -> str:
    """This version (the challenger) beside the version serving in prod when it was built (the
    champion, read from the registry: ADR 0029), on the same test rows: each figure, the
    difference and its paired bootstrap interval. Separable: reads evaluation.json's `champion`
    section only."""
    section = (evaluation or {}).get("champion")
    if not isinstance(section, Mapping):
        return _missing("champion section of evaluation.json: no comparison with production.")
    if section.get("status") != "compared":
        return (
            "<p>No champion: no version served in prod (the registry's ModelLifeCycle) when "
            "this version was built, so there is nothing to compare with. Approval checked "
            "that claim against the registry.</p>"
        )
    mine, theirs = section.get("challenger") or {}, section.get("champion") or {}
    differences = section.get("difference") or {}
    labels = {
        "auc": "AUC",
        "ks": "KS",
        "worst_disparate_impact": "Disparate impact, worst group",
        "worst_statistical_parity_difference_abs": "Parity difference, worst group (abs)",
    }
    rows = [
        (
            _e(label), _num(mine.get(key)), _num(theirs.get(key)),
            _num(differences[key]) if key in differences else _num(
                mine[key] - theirs[key] if key in mine and key in theirs else None
            ),
            _interval(differences.get(key)),
        )
        for key, label in labels.items()
        if key in mine or key in theirs
    ]  # fmt: skip
    level = section.get("confidence_level")
    return (
        f"<p>The champion {_e(section.get('model_package_arn'))} (the version serving in prod "
        f"per the registry when this version was built) and this version, scored on the same "
        f"{_count(section.get('rows'))} test rows. Differences are this version minus the "
        f"champion; intervals are {_e(f'{level:.0%}' if isinstance(level, float) else level)} "
        f"paired percentile bootstrap intervals ({_count(section.get('resamples'))} resamples "
        f"of the rows, each scoring both models; seed {_e(section.get('seed'))}). The gate "
        f"reads the AUC lost: {_num(section.get('auc_drop'))}.</p>"
        + _table(
            ["figure", "this version", "champion", "difference", "interval"], rows,
            numeric=[1, 2, 3],
        )
    )  # fmt: skip


def _fairness_intro(config: Config) -> str:
    model = config.model
    items = []
    for attribute, (name, definition) in zip(
        model.fairness.protected_attributes, fairness_definitions(model), strict=True
    ):
        text = f"<code>{_e(name)}</code>: <code>{_e(definition)}</code>"
        if attribute.description:
            text += f" ({_e(attribute.description)})"
        if attribute.used_as_feature_because:
            text += (
                f". <strong>Used as a model input</strong> because: "
                f"{_e(attribute.used_as_feature_because)}"
            )
        items.append(f"<li>{text}</li>")
    crossed = "".join(
        f"<li>intersection <code>{_e(' & '.join(names))}</code></li>"
        for names in model.fairness.intersections
    )
    return (
        f"<p>Protected groups, each compared with the rest of the test rows whose value is "
        f"known; favourable outcome: predicted good (score below the cut-off "
        f"{model.cutoff:g}); a group needs {model.fairness.min_group_size} test rows on each "
        f"side to be measured:</p><ul>{''.join(items)}{crossed}</ul>"
    )


def _group_verdict(config: Config, row: Mapping[str, Any]) -> str:
    if not row.get("measurable"):
        return _e(row.get("reason") or "not measurable")
    impact, parity = row.get("disparate_impact"), row.get("statistical_parity_difference_abs")
    if not isinstance(impact, int | float) or not isinstance(parity, int | float):
        return "n/a"
    passed = (
        impact >= config.gates.min_disparate_impact
        and parity <= config.gates.max_fairness_disparity
    )
    return "pass" if passed else "<strong>FAIL</strong>"


def _fairness(config: Config, bundle: EvidenceBundle) -> str:
    fairness = (bundle.evaluation or {}).get("fairness")
    intro = _fairness_intro(config)
    if not isinstance(fairness, Mapping) or not fairness:
        return intro + _missing("fairness section of evaluation.json: no fairness figures.")
    uncertainty = (bundle.evaluation or {}).get("uncertainty") or {}
    level = _interval_level(uncertainty)
    rows = [
        ("Lowest disparate impact (group / rest)", f"{_num(fairness.get('disparate_impact'))} ({_e(fairness.get('disparate_impact_group'))}); {level} interval {_interval(uncertainty.get('worst_disparate_impact'))}"),
        ("Largest statistical parity difference (rest - group)", f"{_num(fairness.get('statistical_parity_difference'))} ({_e(fairness.get('statistical_parity_group'))}); {level} interval of its absolute value {_interval(uncertainty.get('worst_statistical_parity_difference_abs'))}"),
    ]  # fmt: skip
    parts = [intro, _facts(rows)]
    groups = fairness.get("groups") or []
    by_group = uncertainty.get("groups") or {}
    if groups:
        parts += [
            "<h3>By protected group</h3>",
            _table(
                ["group", "definition", "test rows, group / rest / unknown", "disparate impact",
                 f"{level} interval", "parity difference", f"{level} interval, absolute",
                 "equal-opportunity difference", "verdict"],
                [
                    (
                        f"<code>{_e(r.get('id'))}</code>",
                        f"<code>{_e(r.get('definition'))}</code>",
                        f"{_count(r.get('protected_count'))} / {_count(r.get('reference_count'))} / "
                        f"{_count(r.get('unknown_count'))}",
                        _num(r.get("disparate_impact")),
                        _interval((by_group.get(r.get("id")) or {}).get("disparate_impact")),
                        _num(r.get("statistical_parity_difference")),
                        _interval((by_group.get(r.get("id")) or {}).get("statistical_parity_difference_abs")),
                        _num(r.get("equal_opportunity_difference")),
                        _group_verdict(config, r),
                    )
                    for r in groups
                ],
                numeric=[3, 4, 5, 6, 7],
            ),
        ]  # fmt: skip
    else:
        parts.append(_missing("fairness by protected group (fairness.groups)"))
    for attribute in fairness.get("attributes") or []:
        by_value = attribute.get("by_value") or []
        if not by_value:
            continue
        parts += [
            f"<h3>By value of <code>{_e(attribute.get('column'))}</code></h3>",
            _table(
                ["value", "protected", "test rows", "favourable rate", "observed bad rate"],
                [
                    (
                        _e(r.get("group")),
                        "yes" if r.get("protected") else "no",
                        _count(r.get("count")),
                        _num(r.get("favourable_rate")),
                        _num(r.get("observed_bad_rate")),
                    )
                    for r in by_value
                ],
                numeric=[2, 3, 4],
            ),
            plots.group_bars(
                [str(r.get("group")) for r in by_value],
                [float(r.get("favourable_rate") or 0.0) for r in by_value],
                [bool(r.get("protected")) for r in by_value],
            ),
        ]
    return "".join(parts)


def _stability(bundle: EvidenceBundle) -> str:
    stability = (bundle.evaluation or {}).get("score_stability")
    if not isinstance(stability, Mapping):
        return _missing("score_stability section of evaluation.json: no score PSI.")
    parts = [
        "<p>Population stability index (PSI) of the score distribution: ten bins at the "
        "reference's score deciles, sum of (current share - reference share) x ln(current / "
        "reference). Below 0.1 reads as stable, 0.1 to 0.25 a moderate shift, above 0.25 a "
        "significant one.</p>"
    ]
    train = stability.get("train_vs_test")
    if isinstance(train, Mapping):
        parts.append(
            _facts(
                [
                    ("Train vs test", f"PSI {_num(train.get('psi'))} ({_e(train.get('reading'))}); "
                     f"{_count(train.get('reference_rows'))} train rows, "
                     f"{_count(train.get('current_rows'))} test rows"),
                    ("Test vs latest production window", _e(stability.get("production") or "n/a")),
                ]
            )
        )  # fmt: skip
        edges = train.get("edges") or []
        bounds = ["-inf", *(_num(e) for e in edges), "inf"]
        parts.append(
            _table(
                ["score bin", "train share", "test share"],
                [
                    (f"{lo} - {hi}", _share(p), _share(q))
                    for lo, hi, p, q in zip(
                        bounds[:-1], bounds[1:], train.get("reference_share") or [],
                        train.get("current_share") or [], strict=False,
                    )
                ],
                numeric=[1, 2],
            )
        )  # fmt: skip
    else:
        parts.append(_missing(str(stability.get("note") or "train vs test PSI")))
        parts.append(
            f"<p>Test vs latest production window: {_e(stability.get('production') or 'n/a')}</p>"
        )
    return "".join(parts)


def _explanation(bundle: EvidenceBundle) -> str:
    explanation = (bundle.evaluation or {}).get("explanation")
    if not isinstance(explanation, Mapping) or not explanation.get("importance"):
        return _missing("explanation section of evaluation.json: no SHAP importance.")
    importance = explanation.get("importance") or []
    parts = [
        f"<p>{_e(explanation.get('method'))}, on {_count(explanation.get('rows'))} test rows. "
        "A feature's SHAP value is how much it moved one applicant's score away from the "
        f"average margin ({_num(explanation.get('expected_margin'))} log-odds); the "
        "contributions of a row add up to its margin (largest gap "
        f"{_num(explanation.get('additivity_max_error'), 6)}).</p>",
        "<h3>Global importance: mean |SHAP|</h3>",
        _table(
            ["rank", "feature", "mean |SHAP| (log-odds)", "share of the total"],
            [
                (str(i), _e(r.get("feature")), _num(r.get("mean_abs_shap")), _share(r.get("share")))
                for i, r in enumerate(importance, start=1)
            ],
            numeric=[0, 2, 3],
        ),
        plots.group_bars(
            [str(r.get("feature")) for r in importance[:10]],
            [float(r.get("share") or 0.0) for r in importance[:10]],
            [False] * min(10, len(importance)),
        ),
    ]
    for item in explanation.get("dependence") or []:
        rows = item.get("by_value") or []
        parts += [
            f"<h3>Dependence: <code>{_e(item.get('feature'))}</code></h3>",
            _table(
                ["value", "test rows", "mean SHAP (log-odds; > 0 pushes toward bad)"],
                [
                    (
                        _e(r["value"]) if "value" in r
                        else f"{_num(r.get('low'))} - {_num(r.get('high'))}",
                        _count(r.get("count")),
                        _num(r.get("mean_shap")),
                    )
                    for r in rows
                ],
                numeric=[1, 2],
            ),
        ]  # fmt: skip
    return "".join(parts)


def _statistics_rows(statistics: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for feature in statistics.get("features") or []:
        numeric = feature.get("numerical_statistics")
        text = feature.get("string_statistics")
        stats = numeric or text or {}
        common = stats.get("common") or {}
        present = common.get("num_present")
        missing = common.get("num_missing")
        total = (present or 0) + (missing or 0)
        if numeric:
            # An integer feature's bounds are integers; its mean and spread are not.
            bound = _count if feature.get("inferred_type") == "Integral" else _num
            summary = (
                f"mean {_num(numeric.get('mean'))}, sd {_num(numeric.get('std_dev'))}, "
                f"min {bound(numeric.get('min'))}, max {bound(numeric.get('max'))}"
            )
        elif text:
            summary = f"{_count(text.get('distinct_count'))} distinct values"
        else:
            summary = "no statistics"
        rows.append(
            (
                _e(feature.get("name", "?")),
                _e(feature.get("inferred_type", "?")),
                _count(present),
                _share(missing / total) if total and missing is not None else "n/a",
                summary,
            )
        )
    return rows


def _data_quality(bundle: EvidenceBundle, require_drift_baseline: bool) -> str:
    parts = ["<h3>Training data quality (preprocess)</h3>"]
    dq = bundle.data_quality
    if dq:
        shares = dq.get("missing_share") or {}
        parts.append(
            f"<p>{_count(dq.get('rows'))} rows; largest missing share "
            f"{_share(dq.get('max_missing_share'))}; positive share {_share(dq.get('positive_share'))}.</p>"
        )
        if shares:
            ordered = sorted(shares.items(), key=lambda kv: (-float(kv[1]), kv[0]))
            parts.append(
                _table(
                    ["feature", "missing share"],
                    [(_e(name), _share(value)) for name, value in ordered],
                    numeric=[1],
                )
            )
    else:
        parts.append(_missing("data_quality.json: no data-quality baseline."))
    parts.append("<h3>Drift baseline (statistics.json)</h3>")
    statistics = bundle.baseline_statistics
    if statistics:
        count = (statistics.get("dataset") or {}).get("item_count")
        features = statistics.get("features") or []
        parts.append(
            f"<p>{_count(count)} baseline rows, {len(features)} features. Monitoring compares "
            "production inputs with these statistics.</p>"
        )
        parts.append(
            _table(
                ["feature", "type", "present", "missing share", "distribution"],
                _statistics_rows(statistics),
                numeric=[2, 3],
            )
        )
    elif require_drift_baseline:
        parts.append(_missing("statistics.json of the baseline step: no drift reference."))
    else:
        parts.append("<p>Not produced for this version (the deployment does not require it).</p>")
    constraints = bundle.baseline_constraints
    if constraints:
        features = constraints.get("features") or []
        config_block = constraints.get("monitoring_config") or {}
        threshold = (config_block.get("distribution_constraints") or {}).get("comparison_threshold")
        parts.append(
            f"<p>constraints.json: {len(features)} feature constraints"
            + (
                f"; distribution comparison threshold {_num(threshold)}"
                if threshold is not None
                else ""
            )
            + ".</p>"
        )
    return "".join(parts)


def _gate_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    # Counts (rows) read as counts; shares and scores with four decimals.
    return f"{value:,.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.4f}"


def _gates(gates: Sequence[GateRow]) -> str:
    rows = []
    for g in gates:
        css = "not-evaluated" if g.status == "not evaluated" else g.status
        value = _gate_value(g.value)
        result = f'<span class="{css}">{_e(g.status)}</span>'
        if g.note:
            result += f"<br>{_e(g.note)}"
        rows.append(
            (
                f"<strong>{_e(g.name)}</strong><br>{_e(g.description)}",
                f"<code>{_e(g.source_file)}: {_e(g.json_path)}</code>",
                value,
                _e(g.comparison),
                f"{g.threshold:g}",
                f"<code>{_e(g.parameter)}</code>",
                result,
            )
        )
    return (
        "<p>Each gate compares one value of a step output with a threshold (a pipeline "
        "parameter whose default is the config). A failed gate stops the pipeline before "
        "registration.</p>"
        + _table(
            ["gate", "value read from", "value", "rule", "threshold", "parameter", "result"],
            rows,
            numeric=[2, 4],
        )
    )


def _lineage(bundle: EvidenceBundle) -> str:
    lineage = bundle.lineage

    def known(value: str, what: str) -> str:
        if value.strip().lower() in {"", "unknown", "none"}:
            return f'<span class="not-evaluated">unknown ({_e(what)})</span>'
        return f"<code>{_e(value)}</code>"

    rows = [
        ("Git commit", known(lineage.git_commit, "missing")),
        ("Training image", known(lineage.training_image, "missing")),
        ("Data fingerprint", known(bundle.data_fingerprint, "missing")),
        ("Model artifact", known(lineage.model_artifact, "not recorded")),
        ("Training job", known(lineage.training_job_arn, "not a SageMaker training job")),
        ("Pipeline execution", known(lineage.pipeline_execution_arn, "not a pipeline run")),
        ("Model package", known(lineage.model_package_arn, _UNREGISTERED)),
        ("Registered by", known(lineage.created_by, _UNRECORDED)),
    ]
    body = _facts(rows)
    if bundle.hyperparameters:
        body += "<h3>Hyperparameters</h3>" + _table(
            ["name", "value"],
            [
                (_e(k), f"<code>{_e(bundle.hyperparameters[k])}</code>")
                for k in sorted(bundle.hyperparameters)
            ],
        )
    return body


def _decision(bundle: EvidenceBundle) -> str:
    return _decision_body(bundle.decision)


def _decision_body(decision: Decision | None, audit_record: str = "") -> str:
    if decision is None:
        return (
            f"<p>No decision yet: the version waits in {Approval.PENDING}. An approver who did "
            "not register it records the decision, with a reason, in the model registry; "
            "the decision is kept in the append-only audit trail.</p>"
        )
    record = decision.record
    css = "pass" if decision.status == Approval.APPROVED else "FAIL"
    rows = [
        ("Decision", f'<span class="{css}">{_e(decision.status)}</span>'),
        ("By", _e(record.approved_by or "not named")),
        ("At", _e(record.approved_at or "not recorded")),
        ("Reason", _e(record.reason or "none given")),
    ]
    if audit_record:
        rows.append(("Audit record", f"<code>{_e(audit_record)}</code>"))
    return _facts(rows)


_UNREGISTERED = "not registered yet"
_UNRECORDED = "not recorded"


def _subtitle_version(arn: str) -> str:
    return f"version <code>{_e(arn or _UNREGISTERED)}</code>"


def _lineage_row(name: str, markup: str) -> str:
    return f"<tr><th>{_e(name)}</th><td>{markup}</td></tr>"


def _unknown(what: str) -> str:
    return f'<span class="not-evaluated">unknown ({_e(what)})</span>'


def record_registration(html: str, model_package_arn: str, *, registered_by: str = "") -> str:
    """The report as the evidence step wrote it (before the version existed), with what the
    registry recorded since: the version's ARN in the title line and the lineage, and who
    registered it when `registered_by` is given and the report did not know. Nothing else
    changes. A report that already names this ARN is returned as it is; one naming another
    version, or not of this renderer, raises ValueError."""
    if not model_package_arn:
        raise ValueError("validation report: no model package ARN to record")
    named = _lineage_row("Model package", f"<code>{_e(model_package_arn)}</code>")
    pending = _lineage_row("Model package", _unknown(_UNREGISTERED))
    subtitle = _subtitle_version("")
    if named in html and _subtitle_version(model_package_arn) in html:
        filled = html
    elif html.count(pending) == 1 and html.count(subtitle) == 1:
        filled = html.replace(subtitle, _subtitle_version(model_package_arn)).replace(
            pending, named
        )
    else:
        raise ValueError(
            "validation report: it names another version, or has no version to fill in"
        )
    unknown_author = _lineage_row("Registered by", _unknown(_UNRECORDED))
    if registered_by and filled.count(unknown_author) == 1:
        filled = filled.replace(
            unknown_author, _lineage_row("Registered by", f"<code>{_e(registered_by)}</code>")
        )
    return filled


_PENDING_STATUS = f"{Approval.PENDING} (no decision yet)"
_DECISION_SECTION = re.compile(
    r'(<section id="decision"><h2>\d+\. Approval record</h2>)(.*?)(</section>)', re.DOTALL
)


def record_decision(html: str, decision: Decision, *, audit_record: str = "") -> str:
    """The report as the evidence step wrote it, with the decision filled in: the summary's
    registry status and the approval record section. Nothing else changes, byte for byte, so
    what the validator reviewed stays as it was. Raises ValueError for a document that is not a
    pending report of this renderer (no section to fill, or a decision already in it)."""
    pending_row = f"<tr><th>Registry status</th><td>{_e(_PENDING_STATUS)}</td></tr>"
    pending_body = _decision_body(None)
    match = _DECISION_SECTION.search(html)
    if html.count(pending_row) != 1 or match is None or match.group(2) != pending_body:
        raise ValueError(
            "validation report: not a pending report of this version (no approval record "
            "section waiting for a decision)"
        )
    status_row = f"<tr><th>Registry status</th><td>{_e(decision.status)}</td></tr>"
    before = html[: match.start(2)]  # the summary, with its one registry status row
    if pending_row not in before:
        raise ValueError("validation report: the registry status row is not in the summary")
    return (
        before.replace(pending_row, status_row)
        + _decision_body(decision, audit_record)
        + html[match.end(2) :]
    )


def render_validation_report(
    config: Config,
    bundle: EvidenceBundle,
    *,
    generated_at: str = "",
    require_drift_baseline: bool = True,
) -> str:
    """The report as one HTML document. `generated_at` is printed when given (the caller's
    clock, e.g. the pipeline execution start), so equal inputs give equal bytes."""
    gates = gate_rows(config, bundle)
    missing = missing_evidence(config, bundle, require_drift_baseline=require_drift_baseline)
    model = config.model
    subtitle = (
        f"Model package group <code>{_e(model.package_group)}</code> · "
        f"{_subtitle_version(bundle.lineage.model_package_arn)} · risk tier "
        f"{_e(config.governance.risk_tier)}"
        + (f" · generated {_e(generated_at)}" if generated_at else "")
    )
    status = "incomplete" if missing else "complete"
    bodies = {
        "summary": _summary(config, bundle, gates),
        "data": _data(config, bundle),
        "performance": _performance(bundle),
        "champion": champion_section(bundle.evaluation),
        "fairness": _fairness(config, bundle),
        "stability": _stability(bundle),
        "explanation": _explanation(bundle),
        "data-quality": _data_quality(bundle, require_drift_baseline),
        "gates": _gates(gates),
        "lineage": _lineage(bundle),
        "decision": _decision(bundle),
    }
    toc = "".join(f'<li><a href="#{anchor}">{_e(title)}</a></li>' for anchor, title in _SECTIONS)
    sections = "".join(
        _section(anchor, i, title, bodies[anchor])
        for i, (anchor, title) in enumerate(_SECTIONS, start=1)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="evidence-status" content="{status}">\n'
        f"<title>Validation report: {_e(model.name)}</title>\n"
        f"<style>{_CSS}{plots.SVG_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>Validation report: {_e(model.name)}</h1>"
        f'<p class="sub">{subtitle}</p></header>\n'
        f"{_banner(missing, gates)}\n"
        f"<nav><ol>{toc}</ol></nav>\n{sections}\n"
        "<footer><p>Generated by finmlops from the version's own step outputs "
        "(data_quality.json, evaluation.json, the drift baseline) and the deployment "
        "configuration. Self-contained: nothing in this file loads from the network.</p>"
        "</footer>\n</body>\n</html>\n"
    )


__all__ = [
    "BANNER_INCOMPLETE",
    "missing_evidence",
    "record_decision",
    "record_registration",
    "render_validation_report",
]
