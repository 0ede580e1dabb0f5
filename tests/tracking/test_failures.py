"""A run that cannot be logged fails the build with the reason, or says so under `warn`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from finmlops.config import Config
from finmlops.modelbuild import LocalBuild
from finmlops.tracking.content import RunTag
from finmlops.tracking.runs import (
    NOT_LOGGED,
    TrackingError,
    log_build,
    record_build,
    resolve_tracking_uri,
    ui_command,
)
from finmlops.tracking.settings import TrackingSettings


def arguments(config: Config, build: LocalBuild, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "run_name": "build",
        "hyperparameters": config.model.hyperparameters.as_sagemaker(),
        "data_quality": build.data_quality,
        "evaluation": build.evaluation,
        "gates": build.gates,
        "artifacts": {"evaluation": build.work_dir / "evaluation"},
        "tags": {RunTag.MODEL_PACKAGE_GROUP: "credit-risk-xgb"},
    }
    values.update(overrides)
    return values


def test_unreachable_tracking_server_fails_the_build_with_the_reason(
    config: Config, build: LocalBuild, closed_port_uri: str
) -> None:
    with pytest.raises(TrackingError) as caught:
        log_build(TrackingSettings(uri=closed_port_uri), **arguments(config, build))
    message = str(caught.value)
    assert f"cannot log the build to {closed_port_uri}" in message
    assert "Connection refused" in message or "Max retries" in message


def test_unreachable_tracking_server_under_fail_policy_raises_from_record_build(
    config: Config, build: LocalBuild, closed_port_uri: str
) -> None:
    with pytest.raises(TrackingError, match=closed_port_uri):
        record_build(TrackingSettings(uri=closed_port_uri), **arguments(config, build))


def test_unreachable_tracking_server_under_warn_policy_says_not_logged_and_why(
    config: Config, build: LocalBuild, closed_port_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TrackingSettings(uri=closed_port_uri, on_failure="warn")
    with caplog.at_level(logging.WARNING, logger="finmlops.tracking.runs"):
        outcome = record_build(settings, **arguments(config, build))
    assert outcome.status == "not-logged"
    assert outcome.run_id == NOT_LOGGED
    assert closed_port_uri in outcome.reason
    assert outcome.line().startswith("NOT LOGGED (tracking.on_failure: warn): ")
    assert "MLflow run not logged" in caplog.text


def test_unknown_tracking_uri_scheme_fails_with_the_reason(
    config: Config, build: LocalBuild
) -> None:
    with pytest.raises(TrackingError, match=r"unsupported tracking URI 'nosuch://x': use a sqlite"):
        log_build(TrackingSettings(), tracking_uri="nosuch://x", **arguments(config, build))


def test_store_that_cannot_be_created_fails_with_the_reason(
    config: Config, build: LocalBuild, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(TrackingError, match="cannot log the build to sqlite:///"):
        log_build(TrackingSettings(), work_dir=blocked, **arguments(config, build))


def test_missing_artifact_fails_before_anything_is_logged(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    from mlflow.tracking import MlflowClient

    missing = build.work_dir / "nowhere" / "report.html"
    with pytest.raises(TrackingError, match=r"artifacts to log do not exist: evidence: .*report"):
        log_build(
            TrackingSettings(),
            work_dir=work_dir,
            **arguments(config, build, artifacts={"evidence": missing}),
        )
    client = MlflowClient(tracking_uri=resolve_tracking_uri(TrackingSettings(), work_dir))
    assert client.get_experiment_by_name("credit-risk-xgb") is None


def test_tracking_off_logs_nothing_and_says_so(
    config: Config, build: LocalBuild, work_dir: Path
) -> None:
    settings = TrackingSettings(mode="off")
    outcome = record_build(settings, work_dir=work_dir, **arguments(config, build))
    assert outcome.status == "off"
    assert outcome.run_id == NOT_LOGGED
    assert outcome.line() == "off (tracking.mode: off): no run logged"
    assert ui_command(settings, work_dir) == ""
    with pytest.raises(TrackingError, match=r"tracking\.mode is off"):
        log_build(settings, work_dir=work_dir, **arguments(config, build))


def test_local_store_without_a_work_folder_is_an_error_naming_the_fix() -> None:
    with pytest.raises(TrackingError, match=r"pass work_dir, or set tracking\.uri"):
        resolve_tracking_uri(TrackingSettings(), None)


def test_a_run_without_an_experiment_name_is_refused(config: Config, build: LocalBuild) -> None:
    with pytest.raises(TrackingError, match="no experiment name"):
        log_build(
            TrackingSettings(),
            tracking_uri="sqlite:///unused.db",
            **arguments(config, build, tags={}),
        )


def test_sagemaker_server_out_of_reach_fails_with_the_reason_and_its_endpoint(
    config: Config, build: LocalBuild
) -> None:
    import mlflow

    arn = "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/credit-risk-mlflow"
    before = mlflow.get_tracking_uri()
    with pytest.raises(TrackingError) as caught:
        log_build(
            TrackingSettings(mode="sagemaker", uri=arn),
            tracking_uri=arn,
            **arguments(config, build),
        )
    # The plugin signed the request for the ARN and sent it to the SageMaker MLflow endpoint;
    # this test environment refuses to resolve it, a job without a route fails the same way.
    assert f"cannot log the build to {arn}" in str(caught.value)
    assert "us-east-1.experiments.sagemaker.aws" in str(caught.value)
    assert mlflow.get_tracking_uri() == before
