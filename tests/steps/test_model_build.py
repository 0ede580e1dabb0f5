"""The local model build on the shipped Lending Club data, through the pipeline's step code."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmlops.config import Config
from finmlops.gates import GATES, check, json_get
from finmlops.modelbuild import LocalBuild, run_local


@pytest.fixture(scope="module")
def build(config: Config, tmp_path_factory: pytest.TempPathFactory) -> LocalBuild:
    return run_local(config, tmp_path_factory.mktemp("build"))


def test_real_data_build_passes_every_gate(build: LocalBuild) -> None:
    assert [g.gate.name for g in build.gates] == [g.name for g in GATES]
    assert build.passed, [g.line() for g in build.gates]
    assert build.data_quality["rows"] == 9857
    assert build.model_archive.exists()


def test_real_data_model_separates_bad_from_good(build: LocalBuild) -> None:
    metrics = build.evaluation["binary_classification_metrics"]
    assert 0.65 <= metrics["auc"]["value"] < 0.9
    (group,) = build.evaluation["fairness"]["groups"]
    assert group["id"] == "emp_length" and group["protected_count"] > 100


def test_build_is_reproducible(config: Config, build: LocalBuild, tmp_path: Path) -> None:
    again = run_local(config, tmp_path)
    assert again.evaluation == build.evaluation
    assert again.model_archive.read_bytes() == build.model_archive.read_bytes()


def test_raised_threshold_fails_the_gate_that_names_it(config: Config, build: LocalBuild) -> None:
    results = check(config, {"evaluation": build.evaluation}, overrides={"MinAuc": 0.99})
    failed = [r.gate.name for r in results if not r.passed]
    assert failed == ["min-auc"]
    assert "FAIL  min-auc" in next(r.line() for r in results if not r.passed)


def test_a_missing_gate_value_is_an_error_not_a_pass() -> None:
    with pytest.raises(KeyError, match="binary_classification_metrics"):
        json_get({"fairness": {}}, "binary_classification_metrics.auc.value")
