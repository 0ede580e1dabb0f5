"""Production traffic of the story: the held-out rows as a scoring service sends them, and the
documented shift of the second window.

The shift moves the loan book to riskier, longer loans for poorer applicants; whole-number
columns stay whole, since the shift is of the population, not of the data types.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BATCH = 20  # rows per scoring request

# The documented production shift of the demo's second traffic window. Each entry:
# feature -> (what, how much).
SHIFT: dict[str, tuple[str, float]] = {
    "int_rate": ("add", 4.0),  # interest rates up 4 percentage points
    "annual_inc": ("scale", 0.7),  # incomes 30 % lower
    "funded_amnt": ("scale", 1.5),  # loans half as large again
    "revol_util": ("add", 20.0),  # revolving utilisation up 20 points
    "all_util": ("add", 15.0),  # overall utilisation up 15 points
    "inq_last_6mths": ("add", 2.0),  # two more credit inquiries in six months
    "inq_last_12m": ("add", 3.0),  # three more in twelve
    "open_il_12m": ("add", 1.0),  # one more instalment account opened this year
}
SHIFT_TO_CATEGORY = ("term", "term_60")  # every loan on the 60-month term


def shifted(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows after the documented shift (`rows.attrs["encoders"]` maps the categories)."""
    out = rows.copy()
    for column, (how, amount) in SHIFT.items():
        moved = out[column] + amount if how == "add" else out[column] * amount
        whole = bool(np.all(np.mod(rows[column].dropna(), 1) == 0))
        out[column] = moved.round() if whole else moved
    column, value = SHIFT_TO_CATEGORY
    out[column] = float(rows.attrs["encoders"]["categorical"][column].index(value))
    return out


def csv_cell(value: Any) -> str:
    """One value of a CSV scoring request: empty for missing, else the shortest float text."""
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{float(value):g}"
    )


def csv_body(values: np.ndarray) -> bytes:
    """A text/csv request body: one row per line, no header."""
    return "\n".join(",".join(csv_cell(v) for v in row) for row in values).encode()
