"""Inline SVG charts for the validation report: no plotting library, no fonts, no network.

Each function returns one `<svg>` element as text, drawn from the numbers alone with fixed
formatting, so the same numbers always give the same bytes. Inline SVG inside HTML needs no
namespace declaration, which keeps the report free of any URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 360
HEIGHT = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 28, 44


def _n(value: float) -> str:
    """Coordinates with one decimal: enough for the eye, stable as text."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


@dataclass(frozen=True)
class Frame:
    """A plot area mapping data ranges to pixels (y grows upwards in data, downwards on screen)."""

    x_max: float = 1.0
    y_max: float = 1.0
    x_min: float = 0.0
    y_min: float = 0.0

    @property
    def inner_width(self) -> float:
        return WIDTH - _LEFT - _RIGHT

    @property
    def inner_height(self) -> float:
        return HEIGHT - _TOP - _BOTTOM

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return (
            _LEFT + (min(max(value, self.x_min), self.x_max) - self.x_min) / span * self.inner_width
        )

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        clipped = min(max(value, self.y_min), self.y_max)
        return _TOP + self.inner_height - (clipped - self.y_min) / span * self.inner_height


def nice_max(values: Sequence[float], floor: float = 0.05) -> float:
    """The smallest of 0.05, 0.1, 0.2, 0.25, 0.5, 1 x 10^k at or above the largest value."""
    top = max([floor, *[v for v in values if math.isfinite(v)]])
    exponent = math.floor(math.log10(top))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10**exponent
        if candidate >= top - 1e-12:
            return float(f"{candidate:.6g}")
    return float(top)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    return [low + (high - low) * i / count for i in range(count + 1)]


def _tick_label(value: float, high: float) -> str:
    return f"{value:.2f}" if high <= 1.0 else f"{value:g}"


def _axes(frame: Frame, title: str, x_label: str, y_label: str) -> list[str]:
    parts = [
        f'<text x="{WIDTH / 2:.0f}" y="16" class="t">{escape(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_n(frame.inner_width)}" '
        f'height="{_n(frame.inner_height)}" class="frame"/>',
    ]
    for value in _ticks(frame.x_min, frame.x_max):
        px = _n(frame.x(value))
        parts.append(
            f'<line x1="{px}" y1="{_TOP}" x2="{px}" y2="{_n(_TOP + frame.inner_height)}" class="grid"/>'
        )
        parts.append(
            f'<text x="{px}" y="{_n(_TOP + frame.inner_height + 14)}" class="tick">'
            f"{_tick_label(value, frame.x_max)}</text>"
        )
    for value in _ticks(frame.y_min, frame.y_max):
        py = _n(frame.y(value))
        parts.append(
            f'<line x1="{_LEFT}" y1="{py}" x2="{_n(_LEFT + frame.inner_width)}" y2="{py}" class="grid"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{py}" class="tick ty">{_tick_label(value, frame.y_max)}</text>'
        )
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 8}" class="lab">{escape(x_label)}</text>')
    parts.append(
        f'<text x="14" y="{_n(_TOP + frame.inner_height / 2)}" class="lab" '
        f'transform="rotate(-90 14 {_n(_TOP + frame.inner_height / 2)})">{escape(y_label)}</text>'
    )
    return parts


def _svg(parts: list[str], label: str) -> str:
    body = "".join(parts)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">{body}</svg>'
    )


def _polyline(frame: Frame, xs: Sequence[float], ys: Sequence[float], css: str) -> str:
    points = " ".join(f"{_n(frame.x(x))},{_n(frame.y(y))}" for x, y in zip(xs, ys, strict=True))
    return f'<polyline points="{points}" class="{css}"/>'


def roc_curve(fpr: Sequence[float], tpr: Sequence[float], auc: float | None) -> str:
    """The ROC curve over the chance diagonal, AUC in the title."""
    frame = Frame()
    title = "ROC curve" + (f" (AUC {auc:.3f})" if auc is not None else "")
    parts = _axes(frame, title, "false positive rate", "true positive rate")
    parts.append(_polyline(frame, [0.0, 1.0], [0.0, 1.0], "ref"))
    parts.append(_polyline(frame, fpr, tpr, "curve"))
    return _svg(parts, title)


def precision_recall_curve(recall: Sequence[float], precision: Sequence[float], base: float) -> str:
    """Precision against recall, with the positive rate (a random model) as reference."""
    frame = Frame()
    title = "Precision-recall curve"
    parts = _axes(frame, title, "recall", "precision")
    parts.append(_polyline(frame, [0.0, 1.0], [base, base], "ref"))
    parts.append(_polyline(frame, recall, precision, "curve"))
    return _svg(parts, title)


def calibration(predicted: Sequence[float], observed: Sequence[float]) -> str:
    """Observed rate against mean predicted probability per score band (reliability diagram)."""
    top = nice_max([*predicted, *observed])
    frame = Frame(x_max=top, y_max=top)
    title = "Calibration by score decile"
    parts = _axes(frame, title, "mean predicted probability", "observed rate")
    parts.append(_polyline(frame, [0.0, top], [0.0, top], "ref"))
    parts.append(_polyline(frame, predicted, observed, "curve"))
    for x, y in zip(predicted, observed, strict=True):
        parts.append(f'<circle cx="{_n(frame.x(x))}" cy="{_n(frame.y(y))}" r="3" class="dot"/>')
    return _svg(parts, title)


def group_bars(labels: Sequence[str], values: Sequence[float], highlighted: Sequence[bool]) -> str:
    """Horizontal bars of one rate per group; the protected groups drawn in the accent colour."""
    row = 22
    height = _TOP + row * max(len(labels), 1) + 30
    left = 150
    inner = WIDTH - left - 50
    parts = [f'<text x="{WIDTH / 2:.0f}" y="16" class="t">Favourable-outcome rate by group</text>']
    for i, (label, value, accent) in enumerate(zip(labels, values, highlighted, strict=True)):
        y = _TOP + i * row
        middle = _n(y + row / 2)
        width = max(0.0, min(1.0, value)) * inner
        parts.append(
            f'<text x="{left - 6}" y="{middle}" class="tick ty">{escape(label[:24])}</text>'
        )
        parts.append(
            f'<rect x="{left}" y="{_n(y + 3)}" width="{_n(width)}" height="{row - 6}" '
            f'class="{"bar accent" if accent else "bar"}"/>'
        )
        parts.append(
            f'<text x="{_n(left + width + 4)}" y="{middle}" class="val">{value:.3f}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2:.0f}" y="{height - 8}" class="lab">'
        "protected groups highlighted; rate = share predicted good</text>"
    )
    body = "".join(parts)
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="Favourable-outcome rate by group">{body}</svg>'
    )


# Shared by every chart; the report inlines it once in its <style>.
SVG_CSS = """
svg { background: #fff; border: 1px solid #d0d7de; border-radius: 4px; margin: 4px 12px 12px 0; }
svg .t { font: bold 13px sans-serif; text-anchor: middle; fill: #1f2328; }
svg .lab { font: 11px sans-serif; text-anchor: middle; fill: #57606a; }
svg .tick { font: 10px sans-serif; text-anchor: middle; fill: #57606a; }
svg .ty { text-anchor: end; dominant-baseline: middle; }
svg .val { font: 10px sans-serif; fill: #1f2328; dominant-baseline: middle; }
svg .frame { fill: none; stroke: #8c959f; }
svg .grid { stroke: #eaeef2; }
svg .ref { fill: none; stroke: #8c959f; stroke-dasharray: 4 3; }
svg .curve { fill: none; stroke: #0969da; stroke-width: 2; }
svg .dot { fill: #0969da; }
svg .bar { fill: #8c959f; }
svg .bar.accent { fill: #bf8700; }
"""
