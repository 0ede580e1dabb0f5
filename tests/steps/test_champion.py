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


# --------------------------------------------------------------------------- the champion's rows


def _split_of(tmp_path: Path, name: str, seed: int) -> tuple[Path, list[str]]:
    """Preprocess the shipped data with `seed`: the folder, and the arguments it used."""
    from finmlops.config import dataset_path, load_config
    from finmlops.modelbuild import step_arguments
    from finmlops.steps import preprocess

    config = load_config(
        Path(__file__).resolve().parents[2] / "config" / "platform.yaml", "credit-risk"
    )
    out = tmp_path / name
    args = step_arguments(config)
    argv = ["--input", str(dataset_path(config)), "--output", str(out), *args["preprocess"]]
    assert preprocess.main([*argv, "--seed", str(seed)]) == 0
    return out, args["evaluate"]


def test_the_champions_training_rows_are_left_out_and_the_count_is_reported(
    tmp_path: Path,
) -> None:
    """A champion split with another seed trained on about 70 % of the challenger's test rows:
    the comparison runs on the others only, and says how many it left out. The oracle: the
    raw rows of the challenger's test split that a pandas merge finds among the champion's
    train split's raw rows (NaN matching NaN), independently of the digests."""
    from finmlops.config import dataset_path, load_config
    from finmlops.fairness import write_spec
    from finmlops.steps import preprocess

    config = load_config(
        Path(__file__).resolve().parents[2] / "config" / "platform.yaml", "credit-risk"
    )
    old, _ = _split_of(tmp_path, "champion", seed=1)
    new, evaluate_args = _split_of(tmp_path, "challenger", seed=2)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}

    def trained(folder: Path, depth: int) -> xgb.Booster:
        rows = pd.read_csv(folder / "train" / "train.csv", header=None)
        matrix = xgb.DMatrix(rows.iloc[:, 1:].to_numpy(np.float32), label=rows[0])
        return xgb.train(params | {"max_depth": depth}, matrix, 20)

    champion_model, challenger_model = trained(old, 3), trained(new, 2)
    _, spec = write_spec(config.model, config.project, tmp_path / "fairness")
    argv = [
        "--model", str(_archive(challenger_model, tmp_path / "m" / "model.tar.gz")),
        "--test", str(new / "test"), "--fairness", str(spec), "--train", str(new / "train"),
        "--artifacts", str(new / "artifacts"), "--output", str(tmp_path / "out"),
        "--bootstrap-resamples", "30", *evaluate_args,
        "--champion", str(_archive(champion_model, tmp_path / "c" / "model.tar.gz")),
        "--champion-arn", ARN,
        "--champion-rows", str(old / "artifacts" / preprocess.TRAIN_ROWS_FILE),
    ]  # fmt: skip
    assert evaluate.main(argv) == 0
    section = _champion_section(tmp_path)

    # The oracle, from the raw table and the two splits.
    table = preprocess.read_table(dataset_path(config))
    spec_of = lambda seed: preprocess.Spec(  # noqa: E731
        target=config.model.target, positive_class=config.model.positive_class,
        numeric=tuple(config.model.numeric_features),
        categorical=tuple(config.model.categorical_features), protected=(),
        validation_share=config.model.split.validation, test_share=config.model.split.test,
        seed=seed,
    )  # fmt: skip
    columns = [*spec_of(1).features, config.model.target]
    champion_train = table.loc[preprocess.split(table, spec_of(1))[0], columns].drop_duplicates()
    challenger_test = table.loc[preprocess.split(table, spec_of(2))[2], columns]
    trained = challenger_test.reset_index().merge(champion_train, on=columns, how="inner")
    overlap = trained["index"].nunique()
    assert 0.5 * len(challenger_test) < overlap < len(challenger_test)
    assert section["excluded_training_rows"] == overlap
    assert section["test_rows"] == len(challenger_test)
    assert section["rows"] == len(challenger_test) - overlap
    # Both models were scored on exactly the rows the champion never saw.
    unseen = ~challenger_test.index.isin(trained["index"])
    test = pd.read_csv(new / "test" / "test.csv", header=None).to_numpy()[unseen]
    champion_score = champion_model.predict(xgb.DMatrix(test[:, 1:].astype(np.float32)))
    assert section["champion"]["auc"] == pytest.approx(  # type: ignore[index]
        roc_auc_score(test[:, 0], champion_score), abs=1e-6
    )
    # The version's own training rows go with its evidence, for the next challenger.
    assert (tmp_path / "out" / preprocess.TRAIN_ROWS_FILE).read_bytes() == (
        new / "artifacts" / preprocess.TRAIN_ROWS_FILE
    ).read_bytes()


def test_without_the_champions_rows_nothing_is_left_out_and_the_section_says_why(
    tmp_path: Path,
) -> None:
    argv = _inputs(tmp_path)
    champion = _archive(_model(4), tmp_path / "champion" / "model.tar.gz")
    marker = tmp_path / "rows" / "none.json"
    marker.parent.mkdir()
    marker.write_text('{"champion": "none"}\n')  # the definition's default: the marker
    argv += ["--champion", str(champion.parent), "--champion-arn", ARN,
             "--champion-rows", str(marker.parent)]  # fmt: skip
    assert evaluate.main(argv) == 0
    section = _champion_section(tmp_path)
    assert section["excluded_training_rows"] is None and section["rows"] == 200
    assert str(section["exclusion"]).startswith("not done: no digests of this build's test rows")
