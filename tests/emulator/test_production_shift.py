"""The production shift is derived from the data, the config and the model's own importances
(`emulator.story.traffic`), never from column names; the shipped second data set is the file
its README documents."""

from __future__ import annotations

import hashlib
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finmlops.config import Config, load_config
from finmlops.emulator.story.production import Model, ProductionData
from finmlops.emulator.story.traffic import ShiftPlan, gain_shares, plan_shift
from finmlops.steps import preprocess

os.environ.setdefault("OMP_NUM_THREADS", "1")

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "credit_data.yaml"
CREDIT_DATA_SHA256 = "43c83a4630f1995f00b456becc4a84219616a2f2bae445e86c706264cc9050a4"


def test_shipped_credit_data_is_the_documented_extraction() -> None:
    path = Path(str(resources.files("finmlops.data").joinpath("credit_data.csv")))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CREDIT_DATA_SHA256
    table = pd.read_csv(path)
    assert table.shape == (4454, 14)
    assert table["Status"].value_counts().to_dict() == {"good": 3200, "bad": 1254}
    assert int(table["Income"].isna().sum()) == 381  # real missing values, kept
    assert CREDIT_DATA_SHA256 in (path.parent / "README.md").read_text()


def _trained(config: Config, table: pd.DataFrame) -> tuple[ProductionData, Model]:
    """v1 as the build trains it (the train step's own booster parameters, few rounds)."""
    import xgboost as xgb

    spec = preprocess_spec(config)
    prepared = preprocess.prepare(table, spec, "test")
    data = ProductionData.split(config, table)
    train = prepared.train
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "nthread": 1},
        xgb.DMatrix(train.iloc[:, 1:].to_numpy(np.float32), label=train.iloc[:, 0]),
        num_boost_round=40,
    )
    return data, Model(booster, prepared.encoders)


def preprocess_spec(config: Config) -> preprocess.Spec:
    from finmlops.emulator.story.production import spec_of

    return spec_of(config)


def _plan(config: Config, held: pd.DataFrame, v1: Model, table: pd.DataFrame) -> ShiftPlan:
    """The story's shift of the held-out rows, as the lifecycle plans it from the config."""
    m = config.model
    return plan_shift(
        held, v1.score, gains=v1.gains(), numeric=m.numeric_features,
        categorical=m.categorical_features,
        drift_share=config.monitoring.dataset_drift_share, data=table,
    )  # fmt: skip


@pytest.fixture(scope="module")
def credit() -> tuple[Config, pd.DataFrame]:
    config = load_config(EXAMPLE)
    path = Path(str(resources.files("finmlops.data").joinpath("credit_data.csv")))
    return config, preprocess.read_table(path)


def test_shift_takes_the_most_important_features_as_many_as_drift_needs(
    credit: tuple[Config, pd.DataFrame],
) -> None:
    config, table = credit
    data, v1 = _trained(config, table)
    held = data.held_out_rows()
    m = config.model
    plan = _plan(config, held, v1, table)
    features = [*m.numeric_features, *m.categorical_features]
    ranked = list(gain_shares(v1.gains(), features))
    needed = math.ceil(config.monitoring.dataset_drift_share * len(features))
    assert plan.features_needed == needed
    chosen = [s.feature for s in plan.shifts]
    assert len(chosen) == needed
    # Most important first, in the model's own order (a feature is skipped only if moving it
    # does not move the score).
    assert chosen == sorted(chosen, key=ranked.index)
    assert chosen[0] == ranked[0]
    base = float(np.mean(v1.score(held)))
    for shift in plan.shifts:
        moved = plan.move(held)
        assert set(moved.columns) == set(held.columns)
        if shift.kind == "numeric":
            # Along the direction that raises v1's risk, whole numbers stay whole, in range.
            alone = held.assign(**{shift.feature: moved[shift.feature]})
            assert float(np.mean(v1.score(alone))) > base
            values = moved[shift.feature].dropna()
            if shift.whole:
                assert bool(np.all(np.mod(values, 1) == 0))
            assert values.min() >= shift.low and values.max() <= shift.high
        else:
            assert shift.to_category in set(table[shift.feature].dropna().astype(str))
            share = (moved[shift.feature].astype(str) == shift.to_category).mean()
            before = (held[shift.feature].astype(str) == shift.to_category).mean()
            assert share > before


def test_shift_names_no_column_it_was_not_given(credit: tuple[Config, pd.DataFrame]) -> None:
    """The same data under other column names gives the same plan under those names."""
    config, table = credit
    renamed = {c: f"col_{i}" for i, c in enumerate(table.columns)}
    model = config.model
    other = config.model_copy(
        update={
            "model": model.model_copy(
                update={
                    "target": renamed[model.target],
                    "numeric_features": tuple(renamed[c] for c in model.numeric_features),
                    "categorical_features": tuple(renamed[c] for c in model.categorical_features),
                    "fairness": model.fairness.model_copy(
                        update={
                            "protected_attributes": tuple(
                                a.model_copy(update={"column": renamed[a.column]})
                                for a in model.fairness.protected_attributes
                            )
                        }
                    ),
                }
            )
        }
    )
    plans = []
    for cfg, frame in ((config, table), (other, table.rename(columns=renamed))):
        data, v1 = _trained(cfg, frame)
        plans.append(_plan(cfg, data.held_out_rows(), v1, frame))
    assert [renamed[s.feature] for s in plans[0].shifts] == [s.feature for s in plans[1].shifts]


def test_retraining_data_holds_the_labelled_windows_but_never_a_comparison_row(
    credit: tuple[Config, pd.DataFrame],
) -> None:
    config, table = credit
    data, v1 = _trained(config, table)
    held = data.held_out_rows()
    plan = _plan(config, held, v1, table)
    data.windows = [held, plan.apply(held, v1.score(held))]
    retraining = data.retraining_table()
    production = [w[~data.in_comparison(w)] for w in data.windows]
    # One record per applicant, the latest seen (the shifted window draws with replacement).
    applicants = set().union(*(set(p.index) for p in production))
    assert len(applicants) < sum(len(p) for p in production)
    assert len(retraining) == len(data.train) + len(applicants)
    latest = pd.concat(production)
    latest = latest[~latest.index.duplicated(keep="last")]
    assert (
        retraining.iloc[len(data.train) :]
        .reset_index(drop=True)
        .equals(latest.reset_index(drop=True))
    )
    assert list(retraining.columns) == list(table.columns)
    kept = data.comparison_rows()
    assert all(len(k) > 0 for k in kept)
    # No comparison row, nor any copy of its source row, is in v1's or v2's training data.
    assert not set(data.comparison) & set(data.train)
    for window in production:
        assert not set(window.index) & set(data.comparison)
