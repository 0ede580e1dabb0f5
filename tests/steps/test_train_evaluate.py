"""Train follows the built-in XGBoost contract; evaluate's metrics agree with scipy and sklearn."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats
from sklearn.metrics import roc_auc_score

from finmlops.steps import evaluate, train
from finmlops.steps.evaluate import EvaluationError


def write_channel(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0.8).astype(int)
    path.mkdir(parents=True)
    pd.DataFrame(np.column_stack([y, x])).to_csv(path / "data.csv", header=False, index=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    write_channel(root / "train", 600, 0)
    write_channel(root / "validation", 200, 1)
    hp = {
        "objective": "binary:logistic",
        "num_round": "20",
        "max_depth": "3",
        "eta": "0.3",
        "eval_metric": "auc",
    }
    (root / "hyperparameters.json").write_text(json.dumps(hp))
    code = train.main(
        ["--train", str(root / "train"), "--validation", str(root / "validation"),
         "--hyperparameters", str(root / "hyperparameters.json"), "--model-dir", str(root / "model")]
    )  # fmt: skip
    assert code == 0
    return root


def test_model_is_saved_as_xgboost_model_and_packed_at_the_archive_root(trained: Path) -> None:
    archive = train.pack_model(trained / "model", trained / "out" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["xgboost-model"]
    booster = evaluate.load_booster(archive)
    assert booster.num_features() == 3


def test_packing_is_byte_reproducible(trained: Path) -> None:
    a = train.pack_model(trained / "model", trained / "a" / "model.tar.gz").read_bytes()
    b = train.pack_model(trained / "model", trained / "b" / "model.tar.gz").read_bytes()
    assert a == b


def test_container_hyperparameters_are_parsed_like_the_builtin_algorithm() -> None:
    params, rounds, early = train.booster_params(
        {
            "num_round": "50",
            "eta": "0.1",
            "max_depth": "4",
            "objective": "binary:logistic",
            "early_stopping_rounds": "5",
        }
    )
    assert (rounds, early) == (50, 5)
    assert params["eta"] == 0.1 and params["max_depth"] == 4
    assert "num_round" not in params


def test_num_round_is_required_as_in_the_container() -> None:
    with pytest.raises(ValueError, match="num_round"):
        train.booster_params({"eta": "0.1"})


def scores(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.15).astype(int)
    score = np.clip(0.1 + 0.25 * y + rng.normal(0, 0.12, n), 0.001, 0.999)
    groups = pd.DataFrame({"g": rng.choice(["p", "q", "r"], n)})
    return y, score, groups


def one_group(*values: str, column: str = "g") -> dict[str, object]:
    return {
        "protected_attributes": [{"name": column, "column": column, "values": list(values)}],
        "intersections": [],
        "min_group_size": 1,
    }


def test_auc_matches_sklearn_and_ks_matches_scipy() -> None:
    y, score, groups = scores()
    result = evaluate.evaluate(y, score, groups, one_group("p"), 0.3)
    metrics = result["binary_classification_metrics"]
    assert metrics["auc"]["value"] == pytest.approx(roc_auc_score(y, score), abs=1e-6)
    ks = stats.ks_2samp(score[y == 1], score[y == 0]).statistic
    assert metrics["ks"]["value"] == pytest.approx(ks, abs=1e-6)
    assert metrics["gini"]["value"] == pytest.approx(2 * metrics["auc"]["value"] - 1, abs=1e-6)


def test_confusion_matrix_and_precision_recall_at_the_cutoff() -> None:
    y = np.array([1, 1, 0, 0, 1, 0])
    score = np.array([0.9, 0.2, 0.8, 0.1, 0.7, 0.3])
    result = evaluate.discrimination(y, score, 0.5)
    assert result["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 1, "1": 2}}
    assert result["precision"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert result["recall"]["value"] == pytest.approx(2 / 3, abs=1e-6)


def test_fairness_figures_on_a_hand_computed_case() -> None:
    # Protected group: 4 rows, 1 favourable (score < 0.5); the rest: 4 rows, 3 favourable.
    y = np.array([0, 0, 0, 1, 0, 0, 0, 1])
    score = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.1, 0.9])
    groups = pd.DataFrame({"g": ["p", "p", "p", "p", "q", "q", "q", "q"]})
    fair = evaluate.fairness(y, score, groups, one_group("p"), 0.5)
    (group,) = fair["groups"]
    assert group["disparate_impact"] == pytest.approx(0.25 / 0.75, abs=1e-6)
    assert group["statistical_parity_difference"] == pytest.approx(0.5, abs=1e-6)
    # Truly good rows: protected 1 of 3 approved, reference 3 of 3.
    assert group["equal_opportunity_difference"] == pytest.approx(1 - 1 / 3, abs=1e-6)
    assert fair["disparate_impact"] == group["disparate_impact"]
    assert fair["disparate_impact_group"] == "g"


def test_fairness_without_protected_rows_is_an_error_not_a_pass() -> None:
    y, score, groups = scores()
    with pytest.raises(EvaluationError, match=r'configured value\(s\) \["absent"\] occur in none'):
        evaluate.evaluate(y, score, groups, one_group("absent"), 0.3)


def test_single_class_test_labels_are_an_error() -> None:
    _, score, groups = scores()
    with pytest.raises(EvaluationError, match="single class"):
        evaluate.evaluate(np.zeros(len(score), dtype=int), score, groups, one_group("p"), 0.3)


def test_feature_count_mismatch_is_named() -> None:
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(np.ones((4, 3)), label=[0, 1, 0, 1]),
        2,
    )
    with pytest.raises(EvaluationError, match=r"expects 3 features.*has 5"):
        evaluate.score_rows(booster, np.ones((2, 5), dtype=np.float32))


def test_evaluation_file_is_in_the_registry_model_quality_format(tmp_path: Path) -> None:
    y, score, groups = scores()
    spec = one_group("p")
    result = evaluate.evaluate(y, score, groups, spec, 0.3)
    evaluate.write(result, "Class", tmp_path)
    document = json.loads((tmp_path / "evaluation.json").read_text())
    auc = document["binary_classification_metrics"]["auc"]
    assert set(auc) == {"value", "standard_deviation"}
    bias = json.loads((tmp_path / "fairness.json").read_text())
    names = [m["name"] for m in bias["post_training_bias_metrics"]["facets"]["g"][0]["metrics"]]
    assert names == ["DI", "DPPL", "TPRD"]
    fairness_paths = [
        evaluate.fairness_gate_path(metric, spec, 0.3) for metric in evaluate.FAIRNESS_GATE_METRICS
    ]
    for path in [*evaluate.GATE_PATHS.values(), *fairness_paths]:
        node = document
        for part in path.split("."):
            node = node[part]
        assert isinstance(node, float)
