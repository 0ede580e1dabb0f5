"""The HTML reports' one templating setup: Jinja2 templates shipped as package data (ADR 0031).

`render(name, **context)` renders `templates/<name>` with autoescaping on for every template
(configured text such as a model description is data, never markup), undefined names as errors
(a template that names a missing field fails its test instead of printing nothing), and the
number formats every report shares as filters, so one figure reads the same in each report.
Charts come from `finmlops.reports.charts`; they arrive in the templates as `Markup`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def num(value: Any, digits: int = 4) -> str:
    """A figure with `digits` decimals; amounts of 1000 or more grouped with one decimal;
    integers as integers; `n/a` for what is not a number."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def count(value: Any) -> str:
    """A count (rows, distinct values, an integer feature's bounds): JSON may carry it as 35.0,
    the reader sees 35."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return f"{int(value):,}"
    return num(value)


def share(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.2%}"
    return "n/a"


def interval(figure: Any) -> str:
    """`[lower, upper]` of a bootstrap interval, or `n/a`."""
    if not isinstance(figure, Mapping) or figure.get("lower") is None:
        return "n/a"
    return f"[{num(figure.get('lower'))}, {num(figure.get('upper'))}]"


def sci(value: Any, digits: int = 4) -> str:
    """The drift report's figures: p-values and tiny distances in scientific notation, a dash
    for what was not measured."""
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


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("finmlops.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(num=num, count=count, share=share, interval=interval, sci=sci)
    return env


def render(name: str, /, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def macros(name: str) -> Any:
    """The macros of a macro-only template, callable from Python (they return Markup): how a
    stored report's fragment is rendered again, by the same code as the whole report."""
    return environment().get_template(name).module


__all__ = ["count", "environment", "interval", "macros", "num", "render", "sci", "share"]
