"""A real local build logged to the offline store, read back with MlflowClient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from finmlops.config import Config
from finmlops.gates import GATES
from finmlops.modelbuild import LocalBuild
from finmlops.tracking.content import RunTag
from finmlops.tracking.local import track_local_build
from finmlops.tracking.runs import local_store_uri, log_build, resolve_tracking_uri, ui_command
from finmlops.tracking.settings import TrackingSettings

GROUP = "credit-risk-xgb"


def artifacts_of(build: LocalBuild) -> dict[str, Path]:
    return {
        "data": build.work_dir / "preprocess" / "artifacts",
        "evaluation": build.work_dir / "evaluation",
        "model": build.model_archive,
    }


def log(config: Config, build: LocalBuild, work_dir: Path, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "run_name": "build-1",
        "hyperparameters": config.model.hyperparameters.as_sagemaker(),
        "data_quality": build.data_quality,
        "evaluation": build.evaluation,
        "gates": build.gates,
        "artifacts": artifacts_of(build),
        "tags": {
            RunTag.GIT_COMMIT: "0123abc",
            RunTag.PIPELINE_EXECUTION: "arn:aws:sagemaker:us-east-1:111111111111:pipeline/p/execution/e1",
            RunTag.MODEL_PACKAGE_GROUP: GROUP,
        },
        "dataset_sizes": build.rows,
        "work_dir": work_dir,
    }
    arguments.update(overrides)
    return log_build(TrackingSettings(), **arguments)


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found |= artifact_paths(client, run_id, item.path)
        else:
            found.add(item.path)
    return found


@pytest.fixture
def logged(config: Config, build: LocalBuild, work_dir: Path) -> tuple[MlflowClient, str]:
    run_id = log(config, build, work_dir)
    return MlflowClient(tracking_uri=local_store_uri(work_dir)), run_id


def test_build_run_holds_hyperparameters_dataset_fingerprint_and_sizes(
    config: Config, build: LocalBuild, logged: tuple[MlflowClient, str]
) -> None:
    client, run_id = logged
    params = client.get_run(run_id).data.params
    for name, value in config.model.hyperparameters.as_sagemaker().items():
        assert params[name] == value
    assert params["data.fingerprint"] == build.data_quality["data_fingerprint"]
    assert params["data.rows"] == "9857"
    assert params["data.columns"] == str(build.data_quality["columns"])
    assert params["data.train_rows"] == str(build.rows["train"])
    assert params["data.validation_rows"] == str(build.rows["validation"])
    assert params["data.test_rows"] == str(build.rows["test"])
    assert json.loads(params["fairness.group.emp_length"]) == {
        "id": "emp_length",
        "definition": 'emp_length in ["emp_lt_1", "emp_unk"]',
    }
    assert params["fairness.min_group_size"] == "30"


def test_build_run_holds_every_evaluation_and_fairness_metric(
    build: LocalBuild, logged: tuple[MlflowClient, str]
) -> None:
    client, run_id = logged
    metrics = client.get_run(run_id).data.metrics
    binary = build.evaluation["binary_classification_metrics"]
    for name in ("auc", "gini", "ks", "accuracy", "precision", "recall", "f1", "brier_score"):
        assert metrics[name] == pytest.approx(binary[name]["value"])
    matrix = binary["confusion_matrix"]
    assert metrics["confusion_matrix/tp"] == matrix["1"]["1"]
    assert metrics["confusion_matrix/fp"] == matrix["0"]["1"]
    fairness = build.evaluation["fairness"]
    for name in (
        "disparate_impact",
        "statistical_parity_difference",
        "statistical_parity_difference_abs",
    ):
        assert metrics[f"fairness/{name}"] == pytest.approx(fairness[name])
    for group in fairness["groups"]:
        for name in ("disparate_impact", "equal_opportunity_difference", "protected_count"):
            key = f"fairness/group/{group['id']}/{name}"
            assert metrics[key] == pytest.approx(group[name])
    for row in fairness["attributes"][0]["by_value"]:
        key = f"fairness/value/emp_length/{row['group']}/favourable_rate"
        assert metrics[key] == pytest.approx(row["favourable_rate"])
    history = client.get_metric_history(run_id, "calibration/observed_rate")
    assert [m.step for m in history] == list(range(len(binary["calibration"])))


def test_build_run_holds_each_gate_rule_value_and_verdict(
    build: LocalBuild, logged: tuple[MlflowClient, str]
) -> None:
    client, run_id = logged
    data = client.get_run(run_id).data
    assert len(build.gates) == len(GATES)
    for result in build.gates:
        name = result.gate.name
        assert data.params[f"gate.{name}"] == f"{result.gate.comparison} {result.threshold:g}"
        assert data.metrics[f"gate/{name}/value"] == pytest.approx(result.value)
        assert data.metrics[f"gate/{name}/passed"] == 1.0
    assert data.tags[RunTag.GATES] == "passed"
    gates_file = client.download_artifacts(run_id, "gates/gates.json")
    assert [g["name"] for g in json.loads(Path(gates_file).read_text())] == [
        r.gate.name for r in build.gates
    ]


def test_build_run_holds_evaluation_files_model_and_data_artifacts(
    logged: tuple[MlflowClient, str],
) -> None:
    client, run_id = logged
    assert artifact_paths(client, run_id) == {
        "data/data_quality.json",
        "data/encoders.json",
        # Digests of the rows each split holds: which rows trained the version, so a later
        # build leaves them out when it scores this one as its champion (ADR 0029).
        "data/train_rows.txt",
        "data/test_rows.txt",
        "evaluation/train_rows.txt",
        "evaluation/evaluation.json",
        "evaluation/fairness.json",
        "model/model.tar.gz",
        "gates/gates.json",
    }


def test_build_run_is_tagged_with_commit_execution_group_and_fingerprint(
    build: LocalBuild, logged: tuple[MlflowClient, str]
) -> None:
    client, run_id = logged
    run = client.get_run(run_id)
    tags = run.data.tags
    assert tags[RunTag.GIT_COMMIT] == "0123abc"
    assert tags[RunTag.MLFLOW_GIT_COMMIT] == "0123abc"
    assert tags[RunTag.PIPELINE_EXECUTION].endswith("/execution/e1")
    assert tags[RunTag.MODEL_PACKAGE_GROUP] == GROUP
    assert tags[RunTag.DATA_FINGERPRINT] == build.data_quality["data_fingerprint"]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "build-1"
    assert client.get_experiment(run.info.experiment_id).name == GROUP


def test_local_store_and_artifacts_stay_inside_the_work_folder(
    config: Config,
    build: LocalBuild,
    work_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_id = log(config, build, work_dir)
    run = MlflowClient(tracking_uri=local_store_uri(work_dir)).get_run(run_id)
    assert run.info.artifact_uri.startswith((work_dir / "mlflow" / "artifacts").resolve().as_uri())
    assert list(elsewhere.iterdir()) == []


def test_repeated_builds_are_runs_of_one_experiment(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    first = log(config, build, work_dir)
    second = log(config, build, work_dir, run_name="build-2")
    client = MlflowClient(tracking_uri=local_store_uri(work_dir))
    experiment = client.get_experiment_by_name(GROUP)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} == {first, second}


def test_configured_experiment_name_wins_over_the_group(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    run_id = log_build(
        TrackingSettings(experiment="credit-risk-challengers"),
        run_name="challenger",
        hyperparameters={},
        data_quality=build.data_quality,
        evaluation=build.evaluation,
        gates=build.gates,
        artifacts={},
        tags={RunTag.MODEL_PACKAGE_GROUP: GROUP},
        work_dir=work_dir,
    )
    client = MlflowClient(tracking_uri=local_store_uri(work_dir))
    experiment = client.get_experiment(client.get_run(run_id).info.experiment_id)
    assert experiment.name == "credit-risk-challengers"


def test_build_stopped_by_a_data_gate_is_still_logged_with_the_failure(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    from finmlops.gates import check

    gates = check(config, {"data_quality": build.data_quality}, overrides={"MinRows": 100_000})
    run_id = log(
        config,
        build,
        work_dir,
        evaluation={},
        gates=gates,
        artifacts={"data": build.work_dir / "preprocess" / "artifacts"},
        dataset_sizes=None,
    )
    data = MlflowClient(tracking_uri=local_store_uri(work_dir)).get_run(run_id).data
    assert data.tags[RunTag.GATES] == "failed: min-rows"
    assert data.metrics["gate/min-rows/passed"] == 0.0
    assert "auc" not in data.metrics


def test_local_build_tracking_logs_the_demo_run_under_the_package_group(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    outcome = track_local_build(
        TrackingSettings(), config, build, store_dir=work_dir, git_commit="0123abc"
    )
    assert outcome.status == "logged"
    assert outcome.experiment == GROUP
    assert outcome.tracking_uri == local_store_uri(work_dir)
    assert outcome.run_id in outcome.line()
    client = MlflowClient(tracking_uri=outcome.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.info.experiment_id == outcome.experiment_id
    assert run.data.tags[RunTag.PIPELINE_EXECUTION] == "local"
    assert "model/model.tar.gz" in artifact_paths(client, outcome.run_id)


def test_ui_command_opens_the_local_store_of_the_work_folder(work_dir: Path) -> None:
    command = ui_command(TrackingSettings(), work_dir)
    db = (work_dir / "mlflow" / "mlflow.db").resolve()
    assert command.startswith("MLFLOW_DISABLE_TELEMETRY=true ")
    assert command.endswith(f"mlflow ui --backend-store-uri sqlite:///{db} --port 5000")


def test_sagemaker_mode_offline_logs_to_the_work_folder(work_dir: Path) -> None:
    settings = TrackingSettings(
        mode="sagemaker",
        uri="arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/credit-risk-mlflow",
    )
    assert resolve_tracking_uri(settings, work_dir) == local_store_uri(work_dir)


def test_local_mode_uri_path_is_a_sqlite_store_relative_to_the_work_folder(
    work_dir: Path,
) -> None:
    settings = TrackingSettings(uri="shared/mlflow.db")
    expected = "sqlite:///" + str((work_dir / "shared" / "mlflow.db").resolve())
    assert resolve_tracking_uri(settings, work_dir) == expected
    assert ui_command(settings, work_dir).endswith(f"--backend-store-uri {expected} --port 5000")


def test_build_stopped_before_training_does_not_log_an_earlier_builds_model(
    config: Config, build: LocalBuild
) -> None:
    from dataclasses import replace

    from finmlops.tracking.local import local_artifacts

    stopped = replace(build, evaluation={}, gates=build.gates[:3], rows={})
    assert set(local_artifacts(stopped)) == {"data"}
    assert set(local_artifacts(build)) == {"data", "evaluation", "model"}
