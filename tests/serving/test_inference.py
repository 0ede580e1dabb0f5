"""The inference script's reasons against a brute-force oracle, and its hooks called as the
SageMaker XGBoost container calls them (sagemaker-containers' Transformer: model_fn once, then
input_fn, predict_fn, output_fn per request)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from reasons_support import (
    FEATURES,
    TEXTS,
    extract,
    import_script,
    model_block,
    synthetic,
    train_tiny,
)

from finmlops.serving import inference
from finmlops.serving.source import reasons_document, source_archive
from finmlops.steps.train import save_model


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    return train_tiny()


def _expected_value(tree: pd.DataFrame, node: str, x: np.ndarray, known: set[int]) -> float:
    """E[tree(x) | x_S], the path-dependent expectation TreeSHAP uses: follow x on known
    features, else both children weighted by their training cover."""
    row = tree.loc[node]
    if row.Feature == "Leaf":
        return float(row.Gain)
    feature = int(str(row.Feature).lstrip("f"))
    if feature in known:
        value = x[feature]
        child = row.Missing if math.isnan(value) else (row.Yes if value < row.Split else row.No)
        return _expected_value(tree, child, x, known)
    yes, no = tree.loc[row.Yes], tree.loc[row.No]
    return (
        yes.Cover * _expected_value(tree, row.Yes, x, known)
        + no.Cover * _expected_value(tree, row.No, x, known)
    ) / row.Cover


def brute_force_shapley(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """Shapley values by enumerating every coalition (2^M value functions per feature)."""
    frame = booster.trees_to_dataframe()
    trees = [t.set_index("ID") for _, t in frame.groupby("Tree")]
    roots = [f"{tree_id}-0" for tree_id in sorted(frame.Tree.unique())]
    m = len(x)

    def value(known: set[int]) -> float:
        return sum(_expected_value(t, r, x, known) for t, r in zip(trees, roots, strict=True))

    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in itertools.combinations(others, size):
                phi[i] += weight * (value({*subset, i}) - value(set(subset)))
    return phi


def test_top_reasons_equal_a_brute_force_shapley_ranking_on_a_tiny_model(
    booster: xgb.Booster,
) -> None:
    x, _ = synthetic(rows=12, seed=7)
    computed = inference.contributions(booster, xgb.DMatrix(x, missing=np.nan))
    for row, contribution in zip(x, computed, strict=True):
        oracle = brute_force_shapley(booster, row)
        np.testing.assert_allclose(contribution, oracle, atol=1e-4)
        by_oracle = [int(i) for i in np.argsort(-oracle, kind="stable") if oracle[i] > 0]
        assert inference.top_reasons(contribution, 2) == by_oracle[:2]


def test_contributions_and_bias_sum_to_the_margin(booster: xgb.Booster) -> None:
    x, _ = synthetic(rows=50, seed=3)
    data = xgb.DMatrix(x, missing=np.nan)
    full = booster.predict(data, pred_contribs=True)
    margin = booster.predict(data, output_margin=True)
    np.testing.assert_allclose(full.sum(axis=1), margin, atol=1e-5)
    assert inference.contributions(booster, data).shape == (50, len(FEATURES))


def test_top_reasons_keep_only_features_that_pushed_toward_bad() -> None:
    row = np.array([-0.4, 0.2, 0.2, 0.0])
    assert inference.top_reasons(row, 3) == [1, 2]  # a tie goes to the earlier feature


@pytest.fixture
def container(booster: xgb.Booster, tmp_path: Path, config: Any) -> tuple[Any, Path]:
    """The source directory extracted as /opt/ml/code and the model artifact as /opt/ml/model."""
    model = model_block(config.model, FEATURES, TEXTS, top_k=2)
    code = extract(source_archive(model), tmp_path / "code")
    save_model(booster, tmp_path / "model")
    return import_script(code, f"inference_{tmp_path.name}"), tmp_path / "model"


def test_hooks_score_csv_and_give_reasons_for_json_as_the_container_calls_them(
    container: tuple[Any, Path], booster: xgb.Booster
) -> None:
    script, model_dir = container
    model = script.model_fn(str(model_dir))
    x, _ = synthetic(rows=3, seed=11)
    body = "\n".join(",".join("" if math.isnan(v) else repr(float(v)) for v in r) for r in x)
    expected = booster.predict(xgb.DMatrix(x, missing=np.nan))

    csv_body, csv_type = script.output_fn(
        script.predict_fn(script.input_fn(body, "text/csv"), model), "text/csv"
    )
    assert csv_type == "text/csv"
    assert [float(v) for v in csv_body.splitlines()] == pytest.approx(expected, abs=1e-6)

    # The transformer hands bytes over when a charset follows the media type.
    data = script.input_fn(body.encode(), "text/csv; charset=utf-8")
    json_body, json_type = script.output_fn(script.predict_fn(data, model), "application/json")
    assert json_type == "application/json"
    predictions = json.loads(json_body)["predictions"]
    assert [p["score"] for p in predictions] == pytest.approx(expected, abs=1e-6)
    contributions = booster.predict(xgb.DMatrix(x, missing=np.nan), pred_contribs=True)[:, :-1]
    for prediction, row in zip(predictions, contributions, strict=True):
        ranked = [FEATURES[i] for i in np.argsort(-row, kind="stable") if row[i] > 0][:2]
        assert [r["feature"] for r in prediction["reasons"]] == ranked
        for reason in prediction["reasons"]:
            assert reason["text"] == TEXTS.get(reason["feature"], "Other reasons")
            assert reason["contribution"] > 0


def test_a_feature_without_a_text_gets_the_default(container: tuple[Any, Path]) -> None:
    script, model_dir = container
    model = script.model_fn(str(model_dir))
    # tenure (no text) pushed furthest toward bad in this applicant's file.
    body = "-2.0,-2.0,2.0,8.0"
    contributions = model.booster.predict(
        xgb.DMatrix(np.array([[-2.0, -2.0, 2.0, 8.0]], dtype=np.float32)), pred_contribs=True
    )[0, :-1]
    assert int(np.argmax(contributions)) == FEATURES.index("tenure") and contributions[3] > 0
    answer, _ = script.output_fn(
        script.predict_fn(script.input_fn(body, "text/csv"), model), "application/json"
    )
    first = json.loads(answer)["predictions"][0]["reasons"][0]
    assert first == {
        "feature": "tenure", "text": "Other reasons", "contribution": pytest.approx(contributions[3], abs=1e-6),
    }  # fmt: skip


def test_other_content_types_are_refused_as_unsupported(container: tuple[Any, Path]) -> None:
    script, model_dir = container
    model = script.model_fn(str(model_dir))
    with pytest.raises(script.UnsupportedFormatError, match="application/json"):
        script.input_fn('{"instances": [[1, 2, 3, 4]]}', "application/json")
    prediction = script.predict_fn(script.input_fn("1,2,3,4", "text/csv"), model)
    with pytest.raises(script.UnsupportedFormatError, match="application/x-npy"):
        script.output_fn(prediction, "application/x-npy")
    with pytest.raises(script.RequestError, match="row 2 has 3 values"):
        script.input_fn("1,2,3,4\n1,2,3", "text/csv")
    with pytest.raises(script.RequestError, match="the model takes 4"):
        script.predict_fn(script.input_fn("1,2,3", "text/csv"), model)


def test_model_fn_refuses_reasons_for_another_model(
    container: tuple[Any, Path], tmp_path: Path
) -> None:
    script, model_dir = container
    other = tmp_path / "other-reasons.json"
    other.write_text(
        json.dumps({"features": ["a", "b"], "texts": {}, "default_text": "x", "top_k": 1})
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(inference.REASONS_ENV, str(other))
        with pytest.raises(ValueError, match=r"names 2 features, the model .* has 4"):
            script.model_fn(str(model_dir))


def test_the_reasons_document_follows_the_models_column_order(config: Any) -> None:
    document = reasons_document(config.model)
    assert document["features"] == list(
        config.model.numeric_features + config.model.categorical_features
    )
    assert document["top_k"] == config.model.reasons.top_k
    assert source_archive(config.model) == source_archive(config.model)
