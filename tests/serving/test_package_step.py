"""The Package step: the served artifact carries the inference script where the container looks
for it, and the reason codes' coverage on the test split is computed right and reaches the card."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
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

from finmlops.governance.model_card import build_model_card, card_problems
from finmlops.serving import package_step
from finmlops.serving.source import source_archive
from finmlops.steps.train import pack_model, save_model


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    return train_tiny()


@pytest.fixture
def inputs(booster: xgb.Booster, tmp_path: Path) -> dict[str, Path]:
    """The step's inputs as its processing job receives them: training artifact, test split."""
    save_model(booster, tmp_path / "trained")
    model = pack_model(tmp_path / "trained", tmp_path / "model" / "model.tar.gz")
    x, y = synthetic(rows=300, seed=5)
    test = tmp_path / "test"
    test.mkdir()
    rows = np.column_stack([y, x])
    np.savetxt(test / "test.csv", rows, delimiter=",", fmt="%.6g")
    return {"model": model, "test": test / "test.csv"}


def _source(tmp_path: Path, model: Any) -> Path:
    path = tmp_path / "sourcedir.tar.gz"
    path.write_bytes(source_archive(model))
    return path


def test_the_packaged_artifact_serves_reasons_from_code_as_the_container_loads_it(
    inputs: dict[str, Path], tmp_path: Path, config: Any
) -> None:
    model = model_block(config.model, FEATURES, TEXTS, top_k=2)
    package_step.package(
        model, inputs["model"], inputs["test"], _source(tmp_path, model), tmp_path / "out"
    )
    # SageMaker extracts the artifact into /opt/ml/model; SAGEMAKER_SUBMIT_DIRECTORY names code/.
    model_dir = extract((tmp_path / "out" / "model.tar.gz").read_bytes(), tmp_path / "opt-ml-model")
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["code/inference.py", "code/reasons.json", "xgboost-model"]
    script = import_script(model_dir / "code", f"packaged_{tmp_path.name}")
    served = script.model_fn(str(model_dir))
    answer, media = script.output_fn(
        script.predict_fn(script.input_fn("2,0,0,0", "text/csv"), served), "application/json"
    )
    assert media == "application/json"
    assert json.loads(answer)["predictions"][0]["reasons"][0]["feature"] == "debt_ratio"
    again = package_step.served_archive(inputs["model"], _source(tmp_path, model))
    assert again == (tmp_path / "out" / "model.tar.gz").read_bytes()  # byte-stable


@pytest.mark.parametrize("texts", [TEXTS, {f: f"text {f}" for f in FEATURES}, {}])
def test_coverage_is_the_share_of_adverse_decisions_whose_reasons_all_have_a_text(
    inputs: dict[str, Path],
    booster: xgb.Booster,
    tmp_path: Path,
    config: Any,
    texts: dict[str, str],
) -> None:
    model = model_block(config.model, FEATURES, texts, top_k=2)
    evidence = package_step.package(
        model, inputs["model"], inputs["test"], _source(tmp_path, model), tmp_path / "out"
    )
    # The oracle: every adverse row's two largest positive contributions, counted by hand.
    frame = np.loadtxt(inputs["test"], delimiter=",")
    x = frame[:, 1:].astype(np.float32)
    data = xgb.DMatrix(x, missing=np.nan)
    adverse = booster.predict(data) >= model.cutoff
    contributions = booster.predict(data, pred_contribs=True)[adverse, :-1]
    covered = 0
    for row in contributions:
        top = [FEATURES[i] for i in np.argsort(-row, kind="stable")[:2] if row[i] > 0]
        covered += bool(top) and all(f in texts for f in top)
    assert evidence["adverse_decisions"] == int(adverse.sum()) > 0
    assert evidence["covered_decisions"] == covered
    assert evidence["coverage"] == pytest.approx(covered / int(adverse.sum()), abs=1e-6)
    assert evidence["low_coverage"] == (covered / int(adverse.sum()) < model.reasons.min_coverage)
    if len(texts) == len(FEATURES):
        assert covered + evidence["adverse_decisions_without_reasons"] == int(adverse.sum())
    if not texts:
        assert evidence["coverage"] == 0.0 and evidence["low_coverage"]
    written = json.loads((tmp_path / "out" / "reasons.json").read_text())
    assert written == evidence


def test_the_model_card_shows_the_texts_and_flags_low_coverage(
    inputs: dict[str, Path], tmp_path: Path, config: Any
) -> None:
    model = model_block(config.model, FEATURES, TEXTS, top_k=2)
    evidence = package_step.package(
        model, inputs["model"], inputs["test"], _source(tmp_path, model), tmp_path / "out"
    )
    low = evidence | {"coverage": 0.5, "low_coverage": True}
    card = build_model_card(
        config, evaluation=None, data_quality=None, training_image="img", hyperparameters={},
        model_package_arn=None, reasons=low,
    )  # fmt: skip
    assert card_problems(card) == []
    (detail,) = [d for d in card["evaluation_details"] if d["name"].startswith("reason codes")]
    assert detail["evaluation_observation"].startswith("LOW COVERAGE: ")
    assert "Too many recent inquiries" in detail["evaluation_observation"]
    assert "tenure" in detail["evaluation_observation"]  # named as a feature without a text
    metrics = {m["name"]: m["value"] for g in detail["metric_groups"] for m in g["metric_data"]}
    assert metrics["reason_code_coverage"] == 0.5


def test_the_step_refuses_a_source_for_another_model_naming_it(
    inputs: dict[str, Path], tmp_path: Path, config: Any
) -> None:
    model = model_block(config.model, FEATURES, TEXTS, top_k=2)
    other = model_block(config.model, ("a", "b", "c", "d"), {}, top_k=1)
    with pytest.raises(
        package_step.PackageInputError, match=r"--source: reasons\.json names features"
    ):
        package_step.package(
            model, inputs["model"], inputs["test"], _source(tmp_path, other), tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()
