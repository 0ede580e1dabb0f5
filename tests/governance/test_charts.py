"""The reports' charts: matplotlib's SVG made deterministic and self-contained (ADR 0031).

Rendering twice in one process would only compare the memo (`charts._memo`): these tests draw
again with the memo cleared, and in another process, and compare bytes."""

from __future__ import annotations

import re
import subprocess
import sys

from finmlops.config import Config
from finmlops.governance.bundle import EvidenceBundle
from finmlops.governance.report import render_validation_report
from finmlops.reports import charts

ROC = ([0.0, 0.1, 0.25, 0.5, 1.0], [0.0, 0.35, 0.6, 0.85, 1.0], 0.7123)
DRAW = "from finmlops.reports import charts; print(charts.roc_curve(*{args!r}), end='')"


def test_a_chart_drawn_again_and_in_another_process_is_the_same_bytes() -> None:
    charts._DRAWN.clear()
    first = str(charts.roc_curve(*ROC))
    charts._DRAWN.clear()
    assert str(charts.roc_curve(*ROC)) == first
    other = subprocess.run(
        [sys.executable, "-c", DRAW.format(args=ROC)], check=True, capture_output=True, text=True
    ).stdout
    assert other == first


def test_the_report_is_the_same_bytes_when_every_chart_is_drawn_again(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    first = render_validation_report(config, complete_bundle, generated_at="x")
    charts._DRAWN.clear()
    assert render_validation_report(config, complete_bundle, generated_at="x") == first


def test_a_chart_is_an_inline_svg_with_its_text_as_text_and_no_url() -> None:
    svg = str(charts.bars("Rate by <group>", ["a & b", "c"], [0.5, 0.25], x_label="rate"))
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert 'role="img" aria-label="Rate by &lt;group&gt;"' in svg
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg
    assert not re.search(r"https?://|xmlns|xlink:", svg)
    assert ">a &amp; b<" in svg and ">0.500<" in svg  # labels and values as searchable text
    assert re.findall(r'<g id="bar-(\d+)">', svg) == ["0", "1"]
