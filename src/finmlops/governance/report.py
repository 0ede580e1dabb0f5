"""The validation report of a model version: one self-contained HTML file for the approver.

Rendered from the Jinja2 template `validation_report.html.j2` (finmlops.reports, ADR 0031); this
module gathers what the template shows. The file opens with no network: CSS inline, charts as
inline SVG drawn by matplotlib from evaluation.json, no scripts, no fonts, no images, and a
Content-Security-Policy that forbids loading anything. It shows the data and its fingerprint,
discrimination and calibration with their plots and intervals, fairness by group, score
stability, the model's own explanation (importance and dependence), the data-quality and drift
baseline summaries, every release gate with its threshold and result, the lineage, and the
approval record once there is one.

A version with missing outputs gets an INCOMPLETE EVIDENCE banner at the top listing each
missing piece (`missing_evidence`), and each empty section says what it lacks instead of
showing an empty table. The same bundle renders to the same bytes: nothing reads a clock.

`record_registration` and `record_decision` fill a stored report with what the registry learnt
later; they render the same template macros the report uses (`_validation.html.j2`), so a filled
report equals, byte for byte, the report rendered with the same facts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from finmlops.config import Config
from finmlops.contracts import Approval
from finmlops.fairness import definitions as fairness_definitions
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
from finmlops.registry.gatecheck import REQUIRED_EVIDENCE, evidence_present
from finmlops.reports import charts, count, macros, num, render, share

BANNER_INCOMPLETE = "INCOMPLETE EVIDENCE"
TEMPLATE = "validation_report.html.j2"
_FRAGMENTS = "_validation.html.j2"

# (anchor, title) in the order of the report. A section another module adds is rendered by its
# own function into `extra_sections` of `render_validation_report`.
SECTIONS: tuple[tuple[str, str], ...] = (
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

PENDING_STATUS = f"{Approval.PENDING} (no decision yet)"


@dataclass(frozen=True)
class _DecisionView:
    status: str
    approved: bool
    by: str
    at: str
    reason: str
    signoff: str = ""


def decision_view(decision: Decision | None) -> _DecisionView | None:
    if decision is None:
        return None
    record = decision.record
    return _DecisionView(
        status=decision.status,
        approved=decision.status == Approval.APPROVED,
        by=record.approved_by or "not named",
        at=record.approved_at or "not recorded",
        reason=record.reason or "none given",
        signoff=decision.signoff,
    )


def _verdict(gates: Sequence[GateRow]) -> str:
    passed = sum(1 for row in gates if row.status == "pass")
    failed = sum(1 for row in gates if row.status == "FAIL")
    unevaluated = len(gates) - passed - failed
    verdict = f"{passed} of {len(gates)} passed"
    if failed:
        verdict += f", {failed} FAILED"
    if unevaluated:
        verdict += f", {unevaluated} not evaluated"
    return verdict


def _gate_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    # Counts (rows) read as counts; shares and scores with four decimals.
    return f"{value:,.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.4f}"


def _interval_level(uncertainty: Mapping[str, Any]) -> str:
    level = uncertainty.get("confidence_level")
    return f"{level:.0%}" if isinstance(level, int | float) else "confidence"


def _group_verdict(config: Config, row: Mapping[str, Any]) -> str:
    if not row.get("measurable"):
        return str(row.get("reason") or "not measurable")
    impact, parity = row.get("disparate_impact"), row.get("statistical_parity_difference_abs")
    if not isinstance(impact, int | float) or not isinstance(parity, int | float):
        return "n/a"
    passed = (
        impact >= config.gates.min_disparate_impact
        and parity <= config.gates.max_fairness_disparity
    )
    return "pass" if passed else "FAIL"


def _statistics_rows(statistics: Mapping[str, Any]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
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
            bound = count if feature.get("inferred_type") == "Integral" else num
            summary = (
                f"mean {num(numeric.get('mean'))}, sd {num(numeric.get('std_dev'))}, "
                f"min {bound(numeric.get('min'))}, max {bound(numeric.get('max'))}"
            )
        elif text:
            summary = f"{count(text.get('distinct_count'))} distinct values"
        else:
            summary = "no statistics"
        rows.append(
            {
                "name": str(feature.get("name", "?")),
                "type": str(feature.get("inferred_type", "?")),
                "present": count(present),
                "missing": share(missing / total) if total and missing is not None else "n/a",
                "summary": summary,
            }
        )
    return rows


def _score_bins(stability: Any) -> list[tuple[str, str, Any, Any]]:
    train = stability.get("train_vs_test") if isinstance(stability, Mapping) else None
    if not isinstance(train, Mapping):
        return []
    bounds = ["-inf", *(num(e) for e in train.get("edges") or []), "inf"]
    return list(
        zip(
            bounds[:-1], bounds[1:], train.get("reference_share") or [],
            train.get("current_share") or [], strict=False,
        )
    )  # fmt: skip


def _numbers(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values]


def performance_charts(
    metrics: Mapping[str, Any], uncertainty: Mapping[str, Any]
) -> dict[str, Any]:
    drawn: dict[str, Any] = {}
    roc = metrics.get("receiver_operating_characteristic_curve") or {}
    fpr, tpr = roc.get("false_positive_rates") or [], roc.get("true_positive_rates") or []
    if fpr and len(fpr) == len(tpr):
        auc = (metrics.get("auc") or {}).get("value")
        drawn["roc"] = charts.roc_curve(
            _numbers(fpr), _numbers(tpr), float(auc) if isinstance(auc, int | float) else None
        )
    pr = metrics.get("precision_recall_curve") or {}
    precision, recall = pr.get("precisions") or [], pr.get("recalls") or []
    if precision and len(precision) == len(recall):
        base = (metrics.get("positive_rate") or {}).get("value", 0.0)
        drawn["pr"] = charts.precision_recall_curve(
            _numbers(recall), _numbers(precision), float(base or 0.0)
        )
    table = metrics.get("calibration") or []
    if table:
        drawn["calibration"] = charts.calibration(
            [float(r["mean_predicted"]) for r in table], [float(r["observed_rate"]) for r in table]
        )
    rows: list[tuple[str, float, float, float]] = []
    for key, label in (("auc", "AUC"), ("ks", "KS"), ("gini", "Gini")):
        value, spread = (metrics.get(key) or {}).get("value"), uncertainty.get(key) or {}
        if spread.get("lower") is not None and isinstance(value, int | float):
            rows.append((label, float(value), float(spread["lower"]), float(spread["upper"])))
    if rows:
        drawn["intervals"] = charts.intervals(
            f"{_interval_level(uncertainty)} intervals (bootstrap)",
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
        )  # fmt: skip
    return drawn


def fairness_charts(
    config: Config, fairness: Mapping[str, Any], uncertainty: Mapping[str, Any]
) -> dict[str, Any]:
    drawn: dict[str, Any] = {
        "by_value": [
            charts.bars(
                f"Favourable-outcome rate by {attribute.get('column')}",
                [str(r.get("group")) for r in attribute.get("by_value") or []],
                [float(r.get("favourable_rate") or 0.0) for r in attribute.get("by_value") or []],
                highlighted=[bool(r.get("protected")) for r in attribute.get("by_value") or []],
                x_label="share predicted good",
                note="protected groups highlighted",
            )
            for attribute in fairness.get("attributes") or []
            if attribute.get("by_value")
        ]
    }
    spreads = uncertainty.get("groups") or {}
    rows = []
    for group in fairness.get("groups") or []:
        figure = (spreads.get(group.get("id")) or {}).get("disparate_impact") or {}
        value = group.get("disparate_impact")
        if isinstance(value, int | float) and figure.get("lower") is not None:
            rows.append((str(group.get("id")), float(value), figure["lower"], figure["upper"]))
    if rows:
        drawn["fairness_intervals"] = charts.intervals(
            "Disparate impact by group",
            [r[0] for r in rows], [r[1] for r in rows],
            [float(r[2]) for r in rows], [float(r[3]) for r in rows],
            reference=config.gates.min_disparate_impact,
            reference_label=f"gate {config.gates.min_disparate_impact:g}",
        )  # fmt: skip
    return drawn


def explanation_charts(explanation: Any) -> dict[str, Any]:
    if not isinstance(explanation, Mapping) or not explanation.get("importance"):
        return {}
    importance = explanation.get("importance") or []
    top = importance[:10]
    dependence = []
    for item in explanation.get("dependence") or []:
        rows = [
            r for r in item.get("by_value") or [] if isinstance(r.get("mean_shap"), int | float)
        ]
        labels = [
            str(r["value"]) if "value" in r else f"{num(r.get('low'))} - {num(r.get('high'))}"
            for r in rows
        ]
        dependence.append(
            charts.signed_bars(
                f"Dependence: {item.get('feature')}", labels,
                [float(r["mean_shap"]) for r in rows],
                "mean SHAP, log-odds (> 0 toward bad)",
            ) if rows else None
        )  # fmt: skip
    return {
        "importance": charts.bars(
            "Global importance (top 10)",
            [str(r.get("feature")) for r in top],
            [float(r.get("share") or 0.0) for r in top],
            x_label="share of total mean |SHAP|",
            value_format="{:.1%}",
        ),
        "dependence": dependence,
    }


_CHAMPION_FIGURES = {
    "auc": "AUC",
    "ks": "KS",
    "worst_disparate_impact": "Disparate impact, worst group",
    "worst_statistical_parity_difference_abs": "Parity difference, worst group (abs)",
}


def champion_rows(evaluation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The challenger beside the champion (evaluation.json's `champion` section, ADR 0029): each
    figure either has, the difference (the recorded one, else challenger minus champion) and its
    paired bootstrap interval."""
    section = evaluation.get("champion")
    if not isinstance(section, Mapping) or section.get("status") != "compared":
        return []
    mine, theirs = section.get("challenger") or {}, section.get("champion") or {}
    differences = section.get("difference") or {}
    rows = []
    for key, label in _CHAMPION_FIGURES.items():
        if key not in mine and key not in theirs:
            continue
        difference = differences.get(key)
        if difference is None and key in mine and key in theirs:
            difference = mine[key] - theirs[key]
        rows.append(
            {
                "label": label,
                "mine": mine.get(key),
                "theirs": theirs.get(key),
                "difference": difference,
                "interval": differences.get(key),
            }
        )
    return rows


def _champion_chart(rows: Sequence[Mapping[str, Any]], level: str) -> Any:
    drawn = [
        (str(r["label"]), float(r["interval"]["value"]), float(r["interval"]["lower"]),
         float(r["interval"]["upper"]))
        for r in rows
        if isinstance(r.get("interval"), Mapping) and r["interval"].get("lower") is not None
        and isinstance(r["interval"].get("value"), int | float)
    ]  # fmt: skip
    if not drawn:
        return None
    return charts.intervals(
        f"This version minus the champion ({level} intervals)",
        [d[0] for d in drawn], [d[1] for d in drawn], [d[2] for d in drawn], [d[3] for d in drawn],
        reference=0.0, reference_label="no difference",
    )  # fmt: skip


def _champion_drawn(evaluation: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Any:
    champion = evaluation.get("champion")
    if not rows or not isinstance(champion, Mapping):
        return None
    level = champion.get("confidence_level")
    return _champion_chart(rows, f"{level:.0%}" if isinstance(level, int | float) else "bootstrap")


def champion_section(evaluation: Mapping[str, Any] | None) -> str:
    """The champion and challenger section's body (ADR 0029), as the report shows it: this
    version beside the version serving in prod when it was built, on the same test rows, each
    figure, the difference and its paired bootstrap interval; a first version says there was
    none; an evaluation without the section says it is missing."""
    evaluation = evaluation or {}
    rows = champion_rows(evaluation)
    return str(
        macros("_champion.html.j2").champion(
            evaluation.get("champion"), rows, _champion_drawn(evaluation, rows)
        )
    )


def render_validation_report(
    config: Config,
    bundle: EvidenceBundle,
    *,
    generated_at: str = "",
    require_drift_baseline: bool = True,
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The report as one HTML document. `generated_at` is printed when given (the caller's
    clock, e.g. the pipeline execution start), so equal inputs give equal bytes.

    `extra_sections`: (anchor, title, HTML body) of sections other modules render, placed before
    the lineage, numbered with the rest; a body is trusted markup that module escaped."""
    gates = gate_rows(config, bundle)
    missing = missing_evidence(config, bundle, require_drift_baseline=require_drift_baseline)
    evaluation = bundle.evaluation or {}
    metrics = evaluation.get("binary_classification_metrics") or {}
    uncertainty = evaluation.get("uncertainty") or {}
    fairness = evaluation.get("fairness")
    model = config.model
    protected = [
        {
            "name": name,
            "definition": definition,
            "description": attribute.description,
            "because": attribute.used_as_feature_because,
        }
        for attribute, (name, definition) in zip(
            model.fairness.protected_attributes, fairness_definitions(model), strict=True
        )
    ]
    drawn: dict[str, Any] = {"by_value": [], "dependence": []}
    drawn |= performance_charts(metrics, uncertainty)
    if isinstance(fairness, Mapping):
        drawn |= fairness_charts(config, fairness, uncertainty)
    drawn |= explanation_charts(evaluation.get("explanation"))
    rows = champion_rows(evaluation)
    drawn["champion"] = _champion_drawn(evaluation, rows)
    sections = list(SECTIONS)
    at = sections.index(("lineage", "Lineage"))
    sections[at:at] = [(anchor, title) for anchor, title, _ in extra_sections]
    shares = (bundle.data_quality or {}).get("missing_share") or {}
    return render(
        TEMPLATE,
        model=model,
        governance=config.governance,
        bundle=bundle,
        ev=evaluation,
        metrics=metrics,
        uncertainty=uncertainty,
        level=_interval_level(uncertainty),
        generated_at=generated_at,
        missing=missing,
        failed=[g.name for g in gates if g.status == "FAIL"],
        banner_incomplete=BANNER_INCOMPLETE,
        sections=sections,
        extra_sections={anchor: Markup(body) for anchor, _, body in extra_sections},  # noqa: S704
        rating=risk_rating(config),
        verdict=_verdict(gates),
        status=bundle.decision.status if bundle.decision else PENDING_STATUS,
        split=", ".join(f"{k} {v:,}" for k, v in bundle.split_rows.items()),
        discrimination_metrics=DISCRIMINATION_METRICS,
        ece_definition=ECE_DEFINITION,
        protected=protected,
        verdicts=[
            _group_verdict(config, r)
            for r in ((fairness or {}).get("groups") or [] if isinstance(fairness, Mapping) else [])
        ],
        score_bins=_score_bins(evaluation.get("score_stability")),
        missing_shares=sorted(shares.items(), key=lambda kv: (-float(kv[1]), kv[0])),
        statistics_rows=_statistics_rows(bundle.baseline_statistics or {}),
        require_drift_baseline=require_drift_baseline,
        gates=gates,
        gate_values=[_gate_value(g.value) for g in gates],
        decision=decision_view(bundle.decision),
        pending=Approval.PENDING,
        charts=drawn,
        champion_rows=rows,
        tier_evidence=list(
            evidence_present(evaluation, config.governance.tier.required_evidence).items()
        ),
        tier_evidence_needs=REQUIRED_EVIDENCE,
    )


def record_registration(html: str, model_package_arn: str, *, registered_by: str = "") -> str:
    """The report as the evidence step wrote it (before the version existed), with what the
    registry recorded since: the version's ARN in the title line and the lineage, and who
    registered it when `registered_by` is given and the report did not know. Nothing else
    changes. A report that already names this ARN is returned as it is; one naming another
    version, or not of this renderer, raises ValueError."""
    if not model_package_arn:
        raise ValueError("validation report: no model package ARN to record")
    fragments = macros(_FRAGMENTS)
    named, pending = str(fragments.package_row(model_package_arn)), str(fragments.package_row(""))
    subtitle, titled = str(fragments.version("")), str(fragments.version(model_package_arn))
    if named in html and titled in html:
        filled = html
    elif html.count(pending) == 1 and html.count(subtitle) == 1:
        filled = html.replace(subtitle, titled).replace(pending, named)
    else:
        raise ValueError(
            "validation report: it names another version, or has no version to fill in"
        )
    unknown_author = str(fragments.author_row(""))
    if registered_by and filled.count(unknown_author) == 1:
        filled = filled.replace(unknown_author, str(fragments.author_row(registered_by)))
    return filled


_PRODUCTION_ROW = re.compile(r"<tr><th>Test vs latest production window</th><td>.*?</td></tr>")


def record_production(html: str, text: str) -> str:
    """The report with its score-stability row of the latest production window filled in with
    `text` (`governance.production_stability.production_text`); nothing else changes. A report
    without the row (no train vs test PSI recorded) raises ValueError."""
    rows = _PRODUCTION_ROW.findall(html)
    if len(rows) != 1:
        raise ValueError(
            "validation report: no score-stability row for the latest production window"
        )
    return html.replace(rows[0], str(macros(_FRAGMENTS).production_row(text)))


_DECISION_SECTION = re.compile(
    r'(<section id="decision"><h2>\d+\. Approval record</h2>)(.*?)(</section>)', re.DOTALL
)


def record_decision(html: str, decision: Decision, *, audit_record: str = "") -> str:
    """The report as the evidence step wrote it, with the decision filled in: the summary's
    registry status and the approval record section. Nothing else changes, byte for byte, so
    what the validator reviewed stays as it was. Raises ValueError for a document that is not a
    pending report of this renderer (no section to fill, or a decision already in it)."""
    fragments = macros(_FRAGMENTS)
    pending_row = str(fragments.status_row(PENDING_STATUS))
    pending_body = str(fragments.decision_body(None, "", Approval.PENDING))
    match = _DECISION_SECTION.search(html)
    if html.count(pending_row) != 1 or match is None or match.group(2) != pending_body:
        raise ValueError(
            "validation report: not a pending report of this version (no approval record "
            "section waiting for a decision)"
        )
    before = html[: match.start(2)]  # the summary, with its one registry status row
    if pending_row not in before:
        raise ValueError("validation report: the registry status row is not in the summary")
    body = str(fragments.decision_body(decision_view(decision), audit_record, Approval.PENDING))
    status_row = str(fragments.status_row(decision.status))
    return before.replace(pending_row, status_row) + body + html[match.end(2) :]


__all__ = [
    "BANNER_INCOMPLETE",
    "SECTIONS",
    "champion_section",
    "missing_evidence",
    "record_decision",
    "record_production",
    "record_registration",
    "render_validation_report",
]
