"""The evaluate step's champion comparison: the paired bootstrap of the difference against a
seeded reference drawn by hand, the pairing itself, the gated figure, and the step scoring the
champion's archive on the same test rows (or saying there is none)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score, roc_curve

from finmlops.steps import evaluate

RESAMPLES = 200
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/credit-risk-xgb/1"


def two_models(n: int = 1200, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a challenger's scores and a weaker champion's scores on the same rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    signal = y + rng.normal(0, 0.8, n)
    challenger = 1 / (1 + np.exp(-(signal - 1)))
    champion = 1 / (1 + np.exp(-(0.6 * signal + rng.normal(0, 0.6, n) - 1)))
    return y, challenger, champion


def test_paired_difference_interval_equals_a_reference_drawn_from_the_same_seed() -> None:
    y, new, old = two_models()
    section = evaluate.champion_comparison(
        y, new, old, champion_arn=ARN, resamples=RESAMPLES, seed=13
    )
    # The reference: one draw of rows per resample, both models scored on it, percentiles.
    draws = np.random.default_rng(13).integers(0, len(y), (RESAMPLES, len(y)))
    differences = [roc_auc_score(y[i], new[i]) - roc_auc_score(y[i], old[i]) for i in draws]
    low, high = np.percentile(differences, [2.5, 97.5])
    auc = section["difference"]["auc"]  # type: ignore[index]
    assert auc["lower"] == pytest.approx(low, abs=1e-6)
    assert auc["upper"] == pytest.approx(high, abs=1e-6)
    assert auc["standard_error"] == pytest.approx(np.std(differences, ddof=1), abs=1e-6)
    point = roc_auc_score(y, new) - roc_auc_score(y, old)
    assert auc["value"] == pytest.approx(point, abs=1e-6)


def test_the_same_model_as_champion_has_a_zero_width_interval_because_resamples_are_paired() -> (
    None
):
    """Two independent bootstraps would give a wide interval around zero; paired rows give none."""
    y, new, _ = two_models()
    section = evaluate.champion_comparison(y, new, new.copy(), champion_arn=ARN, resamples=50)
    for metric in ("auc", "ks"):
        difference = section["difference"][metric]  # type: ignore[index]
        assert difference["value"] == difference["lower"] == difference["upper"] == 0.0
    assert section["auc_drop"] == 0.0


def test_auc_drop_is_what_the_challenger_loses_against_the_champion() -> None:
    y, new, old = two_models()
    better = evaluate.champion_comparison(y, new, old, champion_arn=ARN, resamples=50)
    worse = evaluate.champion_comparison(y, old, new, champion_arn=ARN, resamples=50)
    assert better["auc_drop"] < 0 < worse["auc_drop"]  # type: ignore[operator]
    assert worse["auc_drop"] == pytest.approx(
        roc_auc_score(y, new) - roc_auc_score(y, old), abs=1e-6
    )
    fpr, tpr, _ = roc_curve(y, new)
    assert worse["champion"]["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-6)  # type: ignore[index]
    assert better["model_package_arn"] == ARN and better["status"] == evaluate.COMPARED


def test_the_gate_reads_the_auc_drop_and_no_loss_without_a_champion() -> None:
    from finmlops.gates import json_get

    assert evaluate.CHAMPION_GATE_PATH == "champion.auc_drop"
    first = {"champion": evaluate.no_champion()}
    assert json_get(first, evaluate.CHAMPION_GATE_PATH) == 0.0
    assert first["champion"]["status"] == first["champion"]["model_package_arn"] == "none"


# --------------------------------------------------------------------------- the step


def _model(seed: int, features: int = 3) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, features))
    y = (x[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=3 + seed)


def _archive(booster: xgb.Booster, path: Path) -> Path:
    """A model.tar.gz as the package step writes it: xgboost-model at the top."""
    raw = booster.save_raw(raw_format="ubj")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(evaluate.MODEL_FILE)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(bytes(raw)))
    return path


def _inputs(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    (tmp_path / "test").mkdir()
    pd.DataFrame(np.column_stack([y, x])).to_csv(
        tmp_path / "test" / "test.csv", header=False, index=False
    )
    pd.DataFrame({"grp": ["a", "b"] * 100}).to_csv(tmp_path / "test" / "groups.csv", index=False)
    spec = tmp_path / "fairness.json"
    spec.write_text(json.dumps({"min_group_size": 10,
                                "protected_attributes": [{"column": "grp", "values": ["a"]}]}))  # fmt: skip
    model = _archive(_model(1), tmp_path / "model" / "model.tar.gz")
    return ["--model", str(model), "--test", str(tmp_path / "test"), "--fairness", str(spec),
            "--train", str(tmp_path / "no-train"), "--artifacts", str(tmp_path / "no-artifacts"),
            "--output", str(tmp_path / "out"), "--bootstrap-resamples", "30"]  # fmt: skip


def _champion_section(tmp_path: Path) -> dict[str, object]:
    section = json.loads((tmp_path / "out" / evaluate.EVALUATION_FILE).read_text())["champion"]
    assert isinstance(section, dict)
    return section


def test_the_first_versions_build_says_no_champion_and_reads_no_marker(tmp_path: Path) -> None:
    (tmp_path / "champion").mkdir()
    (tmp_path / "champion" / "none.json").write_text("{}")
    assert evaluate.main([*_inputs(tmp_path), "--champion", str(tmp_path / "champion")]) == 0
    section = _champion_section(tmp_path)
    assert section["status"] == "none" and section["auc_drop"] == 0.0


def test_the_step_scores_the_champions_archive_on_the_same_test_rows(tmp_path: Path) -> None:
    argv = _inputs(tmp_path)
    champion = _archive(_model(4), tmp_path / "champion" / "model.tar.gz")
    assert evaluate.main([*argv, "--champion", str(champion.parent), "--champion-arn", ARN]) == 0
    section = _champion_section(tmp_path)
    test = pd.read_csv(tmp_path / "test" / "test.csv", header=None).to_numpy()
    champion_score = _model(4).predict(xgb.DMatrix(test[:, 1:].astype(np.float32)))
    assert section["model_package_arn"] == ARN and section["rows"] == 200
    assert section["champion"]["auc"] == pytest.approx(  # type: ignore[index]
        roc_auc_score(test[:, 0], champion_score), abs=1e-6
    )
    assert "worst_disparate_impact" in section["champion"]  # type: ignore[operator]


def test_a_champion_named_without_its_archive_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "champion").mkdir()
    argv = [*_inputs(tmp_path), "--champion", str(tmp_path / "champion"), "--champion-arn", ARN]
    assert evaluate.main(argv) == 2
    assert f"expected the model archive of {ARN}" in capsys.readouterr().err
    assert not (tmp_path / "out" / evaluate.EVALUATION_FILE).exists()


def test_a_champion_on_other_features_cannot_be_compared_and_the_step_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _inputs(tmp_path)
    champion = _archive(_model(2, features=4), tmp_path / "champion" / "model.tar.gz")
    assert evaluate.main([*argv, "--champion", str(champion), "--champion-arn", ARN]) == 2
    assert f"the champion {ARN} expects 4 features, the test data has 3" in capsys.readouterr().err
