"""Charts of the reports as inline SVG, drawn by matplotlib (ADR 0031).

Each function returns one `<svg>` element as `Markup`, ready for a Jinja2 template: text stays
text (`svg.fonttype: none`, so labels are searchable and the file small), every point is drawn
(`path.simplify: False`: a curve in the report has the points of evaluation.json), and the ids
matplotlib derives for clip paths come from a fixed salt (`svg.hashsalt`), with no date in the
metadata, so the same numbers give the same bytes. The XML prolog, DOCTYPE, RDF metadata and
namespace declarations are dropped: inline SVG inside HTML needs none of them, and the reports
then hold no URL at all. Only `matplotlib.figure.Figure` is used (no pyplot): no global figure
state, safe in a long-running process.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from markupsafe import Markup, escape

# One palette for every report (GitHub Primer colours, readable in print).
BLUE = "#0969da"
GREY = "#8c959f"
AMBER = "#bf8700"
RED = "#cf222e"
GREEN = "#1a7f37"
STATUS_COLOURS = {"drift": RED, "missing": RED, "watch": AMBER, "ok": GREEN, "no_data": GREY}

_RC: Any = {
    "svg.hashsalt": "finmlops",
    "svg.fonttype": "none",
    "path.simplify": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.edgecolor": GREY,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#eaeef2",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#57606a",
    "ytick.color": "#57606a",
    "axes.labelcolor": "#57606a",
    "legend.frameon": False,
    "legend.fontsize": 7.5,
}
_WIDTH_IN = 3.9  # inches at 72 pt: about 280 pt, two charts side by side in the report


def _svg(figure: Any, label: str) -> Markup:
    """The figure as an inline `<svg>` element with no prolog, metadata or URL."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")  # SVG 2: plain href, no namespace
    opening = text.index(">")
    text = text[:opening] + f' role="img" aria-label="{escape(label)}"' + text[opening:]
    return Markup(text.strip())  # noqa: S704  (matplotlib's output; every label escaped by it)


_F = TypeVar("_F", bound=Callable[..., Markup])
_DRAWN: OrderedDict[str, Markup] = OrderedDict()
_KEEP = 256


def _memo(function: _F) -> _F:
    """The same numbers give the same SVG, so a chart drawn once is not drawn again: the
    evidence step renders the report and the card document from one bundle, and matplotlib
    takes tens of milliseconds per chart. Keyed by the arguments' repr (floats repr exactly);
    the newest `_KEEP` charts are kept."""

    @functools.wraps(function)
    def drawn(*args: Any, **kwargs: Any) -> Markup:
        key = repr((function.__name__, args, sorted(kwargs.items())))
        if key in _DRAWN:
            _DRAWN.move_to_end(key)
            return _DRAWN[key]
        svg = function(*args, **kwargs)
        _DRAWN[key] = svg
        if len(_DRAWN) > _KEEP:
            _DRAWN.popitem(last=False)
        return svg

    return drawn  # type: ignore[return-value]


def _render(draw: Any, label: str, height_in: float = 3.1, width_in: float = _WIDTH_IN) -> Markup:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width_in, height_in), dpi=72, layout="constrained")
        axes = figure.add_subplot()
        draw(axes)
        return _svg(figure, label)


@_memo
def roc_curve(fpr: Sequence[float], tpr: Sequence[float], auc: float | None) -> Markup:
    """The ROC curve over the chance diagonal, AUC in the title."""
    title = "ROC curve" + (f" (AUC {auc:.3f})" if auc is not None else "")

    def draw(ax: Any) -> None:
        ax.plot([0, 1], [0, 1], ls="--", lw=1, color=GREY, gid="reference")
        ax.plot(list(fpr), list(tpr), lw=1.8, color=BLUE, gid="curve")
        ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
        ax.set(xlabel="false positive rate", ylabel="true positive rate")

    return _render(draw, title)


@_memo
def precision_recall_curve(
    recall: Sequence[float], precision: Sequence[float], base: float
) -> Markup:
    """Precision against recall, with the positive rate (a random model) as reference."""
    title = "Precision-recall curve"

    def draw(ax: Any) -> None:
        ax.plot([0, 1], [base, base], ls="--", lw=1, color=GREY, gid="reference")
        ax.plot(list(recall), list(precision), lw=1.8, color=BLUE, gid="curve")
        ax.set(xlim=(0, 1), ylim=(0, 1), title=title, xlabel="recall", ylabel="precision")

    return _render(draw, title)


@_memo
def calibration(predicted: Sequence[float], observed: Sequence[float]) -> Markup:
    """Observed rate against mean predicted probability per score band (reliability diagram)."""
    title = "Calibration by score decile"
    finite = [v for v in (*predicted, *observed) if math.isfinite(v)]
    top = min(1.0, max([0.05, *finite]) * 1.1)

    def draw(ax: Any) -> None:
        ax.plot([0, top], [0, top], ls="--", lw=1, color=GREY, gid="reference")
        ax.plot(list(predicted), list(observed), lw=1.8, color=BLUE, marker="o", ms=4, gid="curve")
        ax.set(xlim=(0, top), ylim=(0, top), title=title)
        ax.set(xlabel="mean predicted probability", ylabel="observed rate")

    return _render(draw, title)


@_memo
def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    highlighted: Sequence[bool] = (),
    x_label: str = "",
    value_format: str = "{:.3f}",
    note: str = "",
) -> Markup:
    """Horizontal bars, one per label, top to bottom in the given order, each with its value;
    the highlighted ones (protected groups) in the accent colour."""
    accents = list(highlighted) or [False] * len(labels)
    height = 0.9 + 0.24 * max(len(labels), 1)

    def draw(ax: Any) -> None:
        positions = list(range(len(labels)))
        colours = [AMBER if accent else GREY for accent in accents]
        drawn = _named(ax.barh(positions, list(values), color=colours, height=0.7), "bar")
        ax.bar_label(drawn, labels=[value_format.format(v) for v in values], padding=2, size=7)
        ax.set_yticks(positions, [label[:28] for label in labels])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.18)
        ax.set(title=title, xlabel=(x_label + (f"\n{note}" if note else "")).strip())

    return _render(draw, title, height_in=height)


@_memo
def signed_bars(title: str, labels: Sequence[str], values: Sequence[float], x_label: str) -> Markup:
    """Horizontal bars around zero: red to the right (toward bad), blue to the left."""
    height = 0.9 + 0.22 * max(len(labels), 1)

    def draw(ax: Any) -> None:
        positions = list(range(len(labels)))
        colours = [RED if v > 0 else BLUE for v in values]
        _named(ax.barh(positions, list(values), color=colours, height=0.7), "bar")
        ax.axvline(0, color=GREY, lw=1)
        ax.set_yticks(positions, [label[:28] for label in labels])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set(title=title, xlabel=x_label)

    return _render(draw, title, height_in=height)


@_memo
def intervals(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    *,
    reference: float | None = None,
    reference_label: str = "",
) -> Markup:
    """Point estimates with their confidence intervals, one row per figure; an optional vertical
    reference line (a gate's threshold)."""
    height = 0.9 + 0.3 * max(len(labels), 1)

    def draw(ax: Any) -> None:
        positions = list(range(len(labels)))
        below = [v - lo for v, lo in zip(values, lower, strict=True)]
        above = [hi - v for v, hi in zip(values, upper, strict=True)]
        ax.errorbar(
            list(values), positions, xerr=[below, above], fmt="o", color=BLUE, ms=4,
            capsize=3, lw=1.4, gid="intervals",
        )  # fmt: skip
        if reference is not None:
            ax.axvline(reference, color=RED, ls="--", lw=1, label=reference_label or None)
            if reference_label:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1)
        ax.set_yticks(positions, list(labels))
        ax.invert_yaxis()
        ax.margins(y=0.3)
        ax.grid(axis="y", visible=False)
        ax.set(title=title)

    return _render(draw, title, height_in=height)


@_memo
def distribution(
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    title: str,
    *,
    names: tuple[str, str] = ("reference", "current"),
    x_label: str = "share of values",
) -> Markup:
    """Shares per bin or category: reference over current, one row per bin."""
    height = 0.9 + 0.26 * max(len(labels), 1)

    def draw(ax: Any) -> None:
        positions = list(range(len(labels)))
        _named(ax.barh([p - 0.19 for p in positions], list(reference), height=0.38,
                       color=GREY, label=names[0]), "reference")  # fmt: skip
        _named(ax.barh([p + 0.19 for p in positions], list(current), height=0.38,
                       color=BLUE, label=names[1]), "current")  # fmt: skip
        shown = [label if len(label) <= 36 else label[:35] + "…" for label in labels]
        ax.set_yticks(positions, shown)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(_percent())
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set(title=title, xlabel=x_label)

    return _render(draw, title, height_in=height, width_in=5.4)


@_memo
def drift_overview(
    features: Sequence[str],
    psi: Sequence[float | None],
    statuses: Sequence[str],
    watch: float,
    act: float,
) -> Markup:
    """Each feature's PSI against the watch and act thresholds, coloured by the feature's status
    (which the report decides from all its tests, not PSI alone)."""
    title = "Drift by feature: PSI against its thresholds"
    height = 1.1 + 0.22 * max(len(features), 1)
    values = [0.0 if v is None or not math.isfinite(v) else float(v) for v in psi]

    def draw(ax: Any) -> None:
        positions = list(range(len(features)))
        colours = [STATUS_COLOURS.get(s, GREY) for s in statuses]
        _named(ax.barh(positions, values, color=colours, height=0.7), "psi")
        ax.axvline(watch, color=AMBER, ls="--", lw=1, label=f"watch {watch:g}")
        ax.axvline(act, color=RED, ls="--", lw=1, label=f"drift {act:g}")
        ax.set_yticks(
            positions,
            [f"{name} ({status})" for name, status in zip(features, statuses, strict=True)],
        )
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set(title=title, xlabel="population stability index (bar colour: status)")

    return _render(draw, title, height_in=height, width_in=5.4)


@_memo
def trend(
    windows: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    y_label: str,
    threshold: float | None = None,
    threshold_label: str = "",
) -> Markup:
    """One line per series across the windows (oldest first); a gap where a window lacks the
    value; an optional horizontal threshold."""
    palette = [BLUE, AMBER, GREEN, RED, "#8250df", GREY]

    def draw(ax: Any) -> None:
        positions = list(range(len(windows)))
        for i, (name, values) in enumerate(series):
            ys = [math.nan if v is None else float(v) for v in values]
            ax.plot(positions, ys, marker="o", ms=3.5, lw=1.6, color=palette[i % len(palette)],
                    label=name, gid=f"series-{i}")  # fmt: skip
        if threshold is not None:
            ax.axhline(threshold, color=RED, ls="--", lw=1, label=threshold_label or None)
        ax.set_xticks(positions, list(windows), rotation=30, ha="right")
        ax.legend(loc="upper left")
        ax.set(title=title, ylabel=y_label)

    return _render(draw, title, height_in=3.2, width_in=5.4)


def _named(bars: Any, prefix: str) -> Any:
    """One id per bar (`psi-0`, `psi-1`, ...): ids stay unique, and a reader (or a test) finds
    each bar of a series."""
    for i, patch in enumerate(bars):
        patch.set_gid(f"{prefix}-{i}")
    return bars


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)
