"""Shared data for the monitoring tests: a small credit-like table and its baseline."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from finmlops.monitoring.baseline import Baseline, ModelIdentity, build_baseline

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


def capture_record(
    values: Sequence[Any],
    *,
    event_id: str,
    time: str,
    score: float = 0.5,
    inference_id: str | None = None,
    encoding: str = "CSV",
) -> dict[str, Any]:
    """One SageMaker data-capture record (endpoint input as CSV, JSON or base64 CSV)."""
    text = ",".join(
        "" if v is None else repr(v) if isinstance(v, float) else str(v) for v in values
    )
    if encoding == "JSON":
        data, content_type = json.dumps({"instances": [list(values)]}), "application/json"
    elif encoding == "BASE64":
        data, content_type = base64.b64encode(text.encode()).decode(), "text/csv"
    else:
        data, content_type = text, "text/csv"
    meta = {"eventId": event_id, "inferenceTime": time}
    if inference_id:
        meta["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": data,
                "encoding": encoding,
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": repr(score),
                "encoding": "CSV",
            },
        },
        "eventMetadata": meta,
        "eventVersion": "0",
    }


@pytest.fixture(scope="session")
def capture() -> Callable[..., dict[str, Any]]:
    return capture_record
