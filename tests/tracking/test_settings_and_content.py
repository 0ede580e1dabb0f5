"""The `tracking:` settings and what a run holds, without a tracking store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from finmlops.modelbuild import LocalBuild
from finmlops.tracking.content import GateRow, RunTag, run_content
from finmlops.tracking.runs import sagemaker_ui_command, tracking_server_arn
from finmlops.tracking.settings import TrackingSettings

SERVER_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/credit-risk-mlflow"


def load(data: dict[str, object]) -> TrackingSettings:
    # JSON mode, as finmlops.config.parse_config validates a file.
    return TrackingSettings.model_validate_json(json.dumps(data))


def test_default_tracking_is_a_local_store_that_fails_the_build_on_error() -> None:
    settings = load({})
    assert (settings.mode, settings.uri, settings.on_failure) == ("local", None, "fail")
    assert settings.server_size == "Small"
    assert settings.experiment_name("credit-risk-xgb") == "credit-risk-xgb"
    assert settings.tracking_server_name("credit-risk") == "credit-risk-mlflow"


def test_sagemaker_mode_accepts_a_tracking_server_or_mlflow_app_arn() -> None:
    assert load({"mode": "sagemaker", "uri": SERVER_ARN}).uri == SERVER_ARN
    app = "arn:aws:sagemaker:us-east-1:111111111111:mlflow-app/app-abc123"
    assert load({"mode": "sagemaker", "uri": app}).uri == app


def test_sagemaker_mode_refuses_a_uri_that_is_not_an_mlflow_arn() -> None:
    with pytest.raises(ValidationError, match="with mode sagemaker it is the ARN"):
        load({"mode": "sagemaker", "uri": "http://mlflow.internal:5000"})


def test_local_mode_refuses_an_unknown_uri_scheme() -> None:
    with pytest.raises(ValidationError, match="with mode local it is a SQLite file path"):
        load({"mode": "local", "uri": "ftp://store"})


def test_a_uri_with_tracking_off_is_refused() -> None:
    with pytest.raises(ValidationError, match="uri is set but mode is off"):
        load({"mode": "off", "uri": "mlflow.db"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"mode": "remote"}, "mode"),
        ({"on_failure": "ignore"}, "on_failure"),
        ({"server_size": "XLarge"}, "server_size"),
        ({"server_name": "bad_name"}, "server_name"),
        ({"experiment": "has spaces"}, "experiment"),
        ({"url": "x"}, "url"),
    ],
)
def test_bad_tracking_value_is_refused_naming_the_field(
    data: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        load(data)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TrackingSettings().mode = "off"  # type: ignore[misc]


def test_pipeline_logs_to_the_server_the_cdk_creates_unless_a_uri_is_given() -> None:
    created = tracking_server_arn(TrackingSettings(mode="sagemaker"), "credit-risk")
    assert created == (
        "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
        "mlflow-tracking-server/credit-risk-mlflow"
    )
    given = TrackingSettings(mode="sagemaker", uri=SERVER_ARN)
    assert tracking_server_arn(given, "credit-risk") == SERVER_ARN


def test_sagemaker_ui_command_asks_for_a_presigned_url_of_the_server() -> None:
    assert sagemaker_ui_command(SERVER_ARN) == (
        "aws sagemaker create-presigned-mlflow-tracking-server-url "
        "--tracking-server-name credit-risk-mlflow --region eu-west-1 "
        "--query AuthorizedUrl --output text"
    )


def test_run_content_covers_hyperparameters_data_metrics_and_gates(build: LocalBuild) -> None:
    content = run_content(
        hyperparameters={"eta": "0.03"},
        data_quality=build.data_quality,
        evaluation=build.evaluation,
        gates=build.gates,
        tags={RunTag.GIT_COMMIT: "unknown"},
    )
    keys = {m.key for m in content.metrics}
    assert {"auc", "ks", "fairness/disparate_impact", "data/positive_share"} <= keys
    assert "data/missing_share/emp_length" in keys
    # Curves and strings are in the logged evaluation.json, not metrics.
    assert not any("curve" in key or "protected_values" in key for key in keys)
    assert content.params["eta"] == "0.03"
    # An unknown commit is not passed off as MLflow's source version.
    assert RunTag.MLFLOW_GIT_COMMIT not in content.tags


def test_gates_given_as_tuples_log_the_threshold_and_the_failures() -> None:
    content = run_content(
        hyperparameters={},
        data_quality={},
        evaluation={},
        gates=[("min-auc", 0.61, 0.65, False), ("min-ks", 0.3, 0.2, True)],
        tags={},
    )
    assert content.params["gate.min-auc"] == "0.65"
    assert content.tags[RunTag.GATES] == "failed: min-auc"
    assert content.gates[0] == GateRow("min-auc", 0.61, 0.65, False)


def test_metric_names_keep_to_characters_every_mlflow_server_accepts() -> None:
    evaluation = {
        "fairness": {
            "disparate_impact": 0.9,
            "groups": [
                {"id": 'age<25 & "new"', "definition": "age < 25", "disparate_impact": 0.7},
                {"id": "age_25 _ _new_", "definition": "x", "disparate_impact": 0.8},
            ],
            "attributes": [
                {"name": "region", "by_value": [{"group": "North, East", "favourable_rate": 0.6}]}
            ],
        }
    }
    content = run_content(
        hyperparameters={}, data_quality={}, evaluation=evaluation, gates=[], tags={}
    )
    keys = {m.key for m in content.metrics}
    assert "fairness/group/age_25 _ _new_/disparate_impact" in keys
    # Two ids that read alike once made safe keep apart, and the params say which is which.
    assert "fairness/group/age_25 _ _new__2/disparate_impact" in keys
    assert json.loads(content.params["fairness.group.age_25 _ _new_"])["id"] == 'age<25 & "new"'
    assert json.loads(content.params["fairness.group.age_25 _ _new__2"])["id"] == "age_25 _ _new_"
    assert "fairness/value/region/North_ East/favourable_rate" in keys


def test_settings_import_nothing_of_finmlops_so_config_can_import_them() -> None:
    code = "import sys, finmlops.tracking.settings; print(sorted(m for m in sys.modules if m.startswith('finmlops')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert (
        result.stdout.strip() == "['finmlops', 'finmlops.tracking', 'finmlops.tracking.settings']"
    )


def test_importing_the_tracking_modules_does_not_import_mlflow() -> None:
    code = (
        "import sys, finmlops.tracking.runs, finmlops.tracking.track_step, "
        "finmlops.tracking.local; print('mlflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
