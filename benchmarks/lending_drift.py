"""Real-data drift scenarios: Lending Club rows resampled to any size, with nine planted shifts.

The model's 22 features (config/platform.yaml, `model.numeric_features` and
`model.categorical_features`) are drawn with replacement from the 9,857 shipped loans
(src/finmlops/data/lending_club.csv), the reference and the current window with different
seeds, so unshifted features differ only by resampling noise (small but non-zero KS distances,
the case where the KS p-value is slowest). Nine features of the current window are then shifted,
one kind of shift each (`SHIFTS`); the other thirteen are left as drawn and must not be flagged.

Used by benchmarks/bench_drift_real.py and by tests/monitoring/test_real_data.py (exactness of
every feature against scipy at 50,000 rows).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from finmlops.config import dataset_path, default_config_path, load_config

ROOT = Path(__file__).resolve().parent.parent


def _mean(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    return x + 0.5 * float(x.std())


def _scale(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    # Odd amounts become half dollars: fractional values in a feature whose reference is all
    # whole numbers (a data-type violation, counted), and the distribution moves (drift).
    return x * 1.5


def _variance(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    centre = float(x.mean())
    return centre + 1.8 * (x - centre)  # same mean, wider spread


def _heavy_tail(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    tail = rng.random(len(x)) < 0.10
    return x.where(~tail, x * 20)


def _missing(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    return x.where(rng.random(len(x)) >= 0.20)  # 20 % missing, the rest unchanged


def _count(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    return x + rng.poisson(1.0, len(x))  # a count stays a whole number


def _unseen(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    values = x.astype(object).to_numpy(copy=True)
    values[rng.random(len(x)) < 0.05] = "XX"  # a state code the model never saw
    return pd.Series(values, index=x.index)


def _grade_mix(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    # A third of the loans move to grades E-G: the book's credit mix worsens.
    values = x.astype(object).to_numpy(copy=True)
    moved = rng.random(len(x)) < 0.33
    values[moved] = rng.choice(["E1", "E5", "F3", "G1"], int(moved.sum()))
    return pd.Series(values, index=x.index)


def _verification_mix(x: pd.Series, rng: np.random.Generator) -> pd.Series:
    values = x.astype(object).to_numpy(copy=True)
    values[rng.random(len(x)) < 0.30] = "Not_Verified"
    return pd.Series(values, index=x.index)


# feature -> (kind of shift, how the current window is changed)
SHIFTS: dict[str, tuple[str, Callable[[pd.Series, np.random.Generator], pd.Series]]] = {
    "int_rate": ("mean shift (+0.5 sd)", _mean),
    "funded_amnt": ("scale (x1.5)", _scale),
    "revol_util": ("variance (x1.8 around the mean)", _variance),
    "total_bal_il": ("heavy tail (10 % of rows x20)", _heavy_tail),
    "all_util": ("missing-value surge (20 % missing)", _missing),
    "addr_state": ("unseen category (5 % 'XX')", _unseen),
    "sub_grade": ("categorical mix (33 % moved to E-G)", _grade_mix),
    "verification_status": ("categorical mix (30 % to Not_Verified)", _verification_mix),
    "inq_last_12m": ("count shift (+Poisson(1))", _count),
}


def features() -> tuple[list[str], list[str]]:
    """The model's numeric and categorical features, from the platform config."""
    config = load_config(default_config_path(ROOT), "credit-risk")
    return list(config.model.numeric_features), list(config.model.categorical_features)


def source() -> pd.DataFrame:
    """The shipped Lending Club rows, the model's features only, as pandas reads them."""
    numeric, categorical = features()
    config = load_config(default_config_path(ROOT), "credit-risk")
    frame = pd.read_csv(dataset_path(config), usecols=[*numeric, *categorical])
    return frame[[*numeric, *categorical]]


def resample(data: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` rows drawn with replacement; dtypes as read (int64, float64, str)."""
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(data), rows)
    return data.iloc[picked].reset_index(drop=True)


def window(data: pd.DataFrame, rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """A resampled window; with `shifted`, the nine features of `SHIFTS` changed."""
    frame = resample(data, rows, seed)
    if shifted:
        rng = np.random.default_rng(seed + 1000)
        for name, (_, change) in SHIFTS.items():
            frame[name] = change(frame[name], rng)
    return frame
