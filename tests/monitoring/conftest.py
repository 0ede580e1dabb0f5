"""Shared data for the monitoring tests: a small credit-like table and its baseline."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from finmlops.monitoring.baseline import Baseline, ModelIdentity, build_baseline  # noqa: E402

NUMERIC = ("income", "rate", "utilisation", "delinquencies")
CATEGORICAL = ("grade", "term")
GRADES = ("A", "B", "C", "D", "E")
GRADE_P = (0.3, 0.3, 0.2, 0.15, 0.05)


def make_table(rows: int, seed: int) -> pd.DataFrame:
    """Loan-like features: skewed income, bounded rate, utilisation, small-integer counts."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.lognormal(11.0, 0.5, rows),
            "rate": rng.normal(12.0, 3.0, rows),
            "utilisation": rng.uniform(0.0, 1.0, rows),
            "delinquencies": rng.poisson(0.4, rows).astype(np.float64),
            "grade": rng.choice(GRADES, rows, p=GRADE_P),
            "term": rng.choice(("36m", "60m"), rows, p=(0.7, 0.3)),
        }
    )


@pytest.fixture(scope="session")
def numeric() -> tuple[str, ...]:
    return NUMERIC


@pytest.fixture(scope="session")
def categorical() -> tuple[str, ...]:
    return CATEGORICAL


@pytest.fixture(scope="session")
def table() -> Callable[[int, int], pd.DataFrame]:
    return make_table


@pytest.fixture(scope="session")
def reference() -> pd.DataFrame:
    return make_table(20_000, seed=1)


@pytest.fixture(scope="session")
def baseline(reference: pd.DataFrame) -> Baseline:
    return build_baseline(
        reference,
        NUMERIC,
        CATEGORICAL,
        identity=ModelIdentity(model_id="credit-risk", model_version="3"),
    ).prepare()
