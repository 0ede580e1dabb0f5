"""The model card of a version as a document: `model_card.html`, beside `model_card.json`.

Rendered from the Jinja2 template `model_card.html.j2` (ADR 0031) from the same card the registry
carries (the SageMaker model package model card content, `build_model_card`) and the version's
evidence bundle for the charts, so the document and the card on AWS cannot say different things.
Sections: intended use and limitations, data, training, metrics, fairness, explanations (SHAP
importance and the reason codes), sign-offs (owner, independent validator, approver role, the
registered version and its author) and the approval record. The registration and the decision
are filled in later by `finmlops.governance.report.record_registration` / `record_decision`,
which render the same fragments, exactly as for the validation report.

PDF: not produced. The kept libraries that write PDF from HTML need system packages
(WeasyPrint: Pango) or reimplement CSS partially (xhtml2pdf); a browser's print of this file
keeps its layout (the template has print rules). See ADR 0031.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from finmlops.config import Config
from finmlops.contracts import Approval
from finmlops.governance.bundle import EvidenceBundle
from finmlops.governance.report import (
    PENDING_STATUS,
    decision_view,
    explanation_charts,
    fairness_charts,
    performance_charts,
)
from finmlops.reports import render

MODEL_CARD_HTML = "model_card.html"
TEMPLATE = "model_card.html.j2"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("intended-use", "Intended use and limitations"),
    ("data", "Data"),
    ("training", "Training"),
    ("metrics", "Metrics"),
    ("fairness", "Fairness"),
    ("explanations", "Explanations"),
    ("signoffs", "Sign-offs"),
    ("decision", "Approval record"),
)


def render_model_card_html(
    config: Config,
    card: Mapping[str, Any],
    bundle: EvidenceBundle,
    *,
    missing: Sequence[str] = (),
    generated_at: str = "",
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The card as one self-contained HTML document; same card and bundle, same bytes.

    `extra_sections`: (anchor, title, HTML body) another module renders, placed before the
    sign-offs; a body is markup that module escaped."""
    details: list[Mapping[str, Any]] = list(card.get("evaluation_details") or [])

    def detail(name: str, whole: bool = False) -> Any:
        found = next((d for d in details if d.get("name") == name), None)
        if whole:
            return found
        return list((found or {}).get("metric_groups") or [])

    def groups(*names: str) -> list[Mapping[str, Any]]:
        every = [g for d in details for g in d.get("metric_groups") or []]
        return [g for name in names for g in every if g.get("name") == name]

    evaluation = bundle.evaluation or {}
    metrics = evaluation.get("binary_classification_metrics") or {}
    uncertainty = evaluation.get("uncertainty") or {}
    fairness = evaluation.get("fairness")
    drawn: dict[str, Any] = {"by_value": [], "dependence": []}
    drawn |= performance_charts(metrics, uncertainty)
    if isinstance(fairness, Mapping):
        drawn |= fairness_charts(config, fairness, uncertainty)
    drawn |= explanation_charts(evaluation.get("explanation"))
    sections = list(SECTIONS)
    at = sections.index(("signoffs", "Sign-offs"))
    sections[at:at] = [(anchor, title) for anchor, title, _ in extra_sections]
    return render(
        TEMPLATE,
        card=card,
        model=config.model,
        governance=config.governance,
        bundle=bundle,
        missing=list(missing),
        generated_at=generated_at,
        sections=sections,
        extra_sections={anchor: Markup(body) for anchor, _, body in extra_sections},  # noqa: S704
        split=", ".join(f"{k} {v:,}" for k, v in bundle.split_rows.items()),
        detail=detail,
        groups=groups,
        charts=drawn,
        status=bundle.decision.status if bundle.decision else PENDING_STATUS,
        decision=decision_view(bundle.decision),
        pending=Approval.PENDING,
    )


__all__ = ["MODEL_CARD_HTML", "SECTIONS", "render_model_card_html"]
