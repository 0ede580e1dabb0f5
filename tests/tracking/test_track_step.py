"""The pipeline's Track step, run on the local build's folders laid out as its processing inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from finmlops.modelbuild import LocalBuild
from finmlops.tracking import track_step
from finmlops.tracking.content import RunTag
from finmlops.tracking.runs import NOT_LOGGED, local_store_uri


def step_argv(build: LocalBuild, config_path: Path, output: Path, uri: str) -> list[str]:
    work = build.work_dir
    return [
        "--config", str(config_path),
        "--artifacts", str(work / "preprocess" / "artifacts"),
        "--model", str(work / "train" / "output"),
        "--evaluation", str(work / "evaluation"),
        "--evidence", str(output.parent / "no-evidence"),
        "--output", str(output),
        "--message-file", str(output.parent / "message"),
        "--tracking-uri", uri,
        "--run-name", "execution-e1",
        "--git-commit", "0123abc",
        "--pipeline-execution-arn", "arn:aws:sagemaker:us-east-1:111111111111:pipeline/p/execution/e1",
    ]  # fmt: skip


def read_run_file(output: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((output / track_step.RUN_FILE).read_text())
    return data


def test_track_step_logs_the_build_and_writes_the_run_id_for_the_register_step(
    build: LocalBuild, step_config: Path, work_dir: Path, tmp_path: Path
) -> None:
    uri = local_store_uri(work_dir)
    output = tmp_path / "out"
    code = track_step.main(step_argv(build, step_config, output, uri))
    assert code == 0
    run_file = read_run_file(output)
    assert run_file["status"] == "logged"
    assert run_file["tracking_uri"] == uri
    assert run_file["experiment"] == "credit-risk-xgb"
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_file["run_id"])
    assert run.info.experiment_id == run_file["experiment_id"]
    assert run.info.run_name == "execution-e1"
    assert run.data.tags[RunTag.GIT_COMMIT] == "0123abc"
    assert run.data.tags[RunTag.MODEL_PACKAGE_GROUP] == "credit-risk-xgb"
    assert run.data.params["num_round"] == "400"
    assert run.data.tags[RunTag.GATES] == "passed"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
        "data", "evaluation", "model", "gates",
    }  # fmt: skip


def test_track_step_records_the_thresholds_the_execution_used(
    build: LocalBuild, step_config: Path, work_dir: Path, tmp_path: Path
) -> None:
    uri = local_store_uri(work_dir)
    output = tmp_path / "out"
    argv = [*step_argv(build, step_config, output, uri), "--threshold", "MinAuc", "0.99"]
    assert track_step.main(argv) == 0
    data = MlflowClient(tracking_uri=uri).get_run(read_run_file(output)["run_id"]).data
    assert data.params["gate.min-auc"] == ">= 0.99"
    assert data.tags[RunTag.GATES] == "failed: min-auc"


def test_track_step_logs_the_evidence_when_it_exists(
    build: LocalBuild, step_config: Path, work_dir: Path, tmp_path: Path
) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "validation_report.html").write_text("<html>report</html>")
    uri = local_store_uri(work_dir)
    output = tmp_path / "out"
    argv = [*step_argv(build, step_config, output, uri), "--evidence", str(evidence)]
    assert track_step.main(argv) == 0
    run_id = read_run_file(output)["run_id"]
    listed = MlflowClient(tracking_uri=uri).list_artifacts(run_id, "evidence")
    assert [a.path for a in listed] == ["evidence/validation_report.html"]


def test_track_step_fails_with_the_reason_in_the_exit_message(
    build: LocalBuild,
    step_config: Path,
    tmp_path: Path,
    closed_port_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "out"
    code = track_step.main(step_argv(build, step_config, output, closed_port_uri))
    assert code == track_step.EXIT_NOT_LOGGED
    assert not (output / track_step.RUN_FILE).exists()
    message = (tmp_path / "message").read_text()
    assert message.startswith(f"MLflow run not logged: cannot log the build to {closed_port_uri}")
    assert len(message) <= 1024
    assert "MLflow run not logged" in capsys.readouterr().err


def test_track_step_under_warn_writes_not_logged_with_the_reason(
    build: LocalBuild, step_config: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    argv = [*step_argv(build, step_config, output, "nosuch://server"), "--on-failure", "warn"]
    assert track_step.main(argv) == 0
    run_file = read_run_file(output)
    assert run_file["status"] == "not-logged"
    assert run_file["run_id"] == NOT_LOGGED
    assert "unsupported tracking URI 'nosuch://server'" in run_file["reason"]
    assert (tmp_path / "message").read_text().startswith("NOT LOGGED")


def test_track_step_refuses_an_unknown_threshold_even_under_warn(
    build: LocalBuild, step_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    argv = [
        *step_argv(build, step_config, output, "sqlite:///unused.db"),
        "--on-failure", "warn",
        "--threshold", "MinAcc", "0.9",
    ]  # fmt: skip
    assert track_step.main(argv) == track_step.EXIT_BAD_INPUT
    assert "--threshold MinAcc: not a gate parameter" in capsys.readouterr().err


def test_track_step_names_a_missing_evaluation_input(
    build: LocalBuild, step_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    argv = [
        *step_argv(build, step_config, output, "sqlite:///unused.db"),
        "--evaluation", str(tmp_path / "empty"),
    ]  # fmt: skip
    assert track_step.main(argv) == track_step.EXIT_BAD_INPUT
    assert f"evaluation: {tmp_path / 'empty' / 'evaluation.json'} does not exist" in (
        capsys.readouterr().err
    )


def test_track_step_finds_the_one_config_file_in_its_input_folder(
    config_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "config"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "platform.yaml").write_bytes(config_path.read_bytes())
    assert track_step.find_config(folder) == folder / "nested" / "platform.yaml"
    (folder / "other.yaml").write_text("{}")
    with pytest.raises(track_step.InputError, match=r"expected one \.yaml/\.yml/\.json file"):
        track_step.find_config(folder)
