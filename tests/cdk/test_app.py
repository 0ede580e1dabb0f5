"""The entry point: what `make synth`, cdk.json and the promotion pipeline run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import single_model_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_config(config_path: Path, tmp_path: Path) -> Any:
    """Write the repository's config with one change applied (dotted path -> value or None)."""

    def write(path: str, value: Any) -> Path:
        data = single_model_data(yaml.safe_load(config_path.read_text()))
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
        target = tmp_path / "platform.yaml"
        target.write_text(yaml.safe_dump(data))
        return target

    return write


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("environments.stage.account", None, "environments.stage.account"),
        (
            "environments.prod.instances.endpoint_count",
            1,
            "environments.prod.instances.endpoint_count",
        ),
        ("deployment.canary_share", 0.6, "deployment.canary_share"),
        ("monitoring.schedule", "every hour", "monitoring.schedule"),
        ("environments.stage.vpc", None, "environments.stage.vpc"),
    ],
)
def test_bad_config_stops_synth_naming_the_field_and_writes_nothing(
    write_config: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    value: Any,
    field: str,
) -> None:
    from finmlops_cdk.app import main

    out = tmp_path / "cdk.out"
    environments = ["--environment", "stage"] if path.endswith(".vpc") else []
    code = main(["--config", str(write_config(path, value)), "--out", str(out), *environments])
    assert code == 2
    assert field in capsys.readouterr().err
    assert not out.exists()


def test_a_manifest_for_another_group_stops_synth(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], variant_manifest: Any
) -> None:
    from finmlops_cdk.app import main

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({**variant_manifest, "model_package_group": "fraud-xgb"}))
    out = tmp_path / "cdk.out"
    code = main(["--config", str(config_path), "--out", str(out), "--manifest", str(manifest)])
    assert code == 2
    assert "model_package_group" in capsys.readouterr().err
    assert not out.exists()


def test_an_unreadable_manifest_stops_synth(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops_cdk.app import main

    code = main(["--config", str(config_path), "--manifest", str(tmp_path / "none.json")])
    assert code == 2
    assert "none.json" in capsys.readouterr().err


def test_a_retraining_schedule_must_be_an_expression(
    config_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from finmlops_cdk.app import main

    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"retrain_schedule": "daily"}))
    out = tmp_path / "cdk.out"
    assert main(["--config", str(config_path), "--out", str(out)]) == 2
    assert "retrain_schedule" in capsys.readouterr().err
    assert not out.exists()


def test_entry_point_takes_the_source_connection_from_cdk_context(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `cdk synth -c source_connection_arn=... -c source_repository=...` passes."""
    from finmlops_cdk.app import main

    connection = "arn:aws:codeconnections:us-east-1:444444444444:connection/abc"
    monkeypatch.setenv(
        "CDK_CONTEXT_JSON",
        json.dumps({"source_connection_arn": connection, "source_repository": "bank/finmlops"}),
    )
    out = tmp_path / "cdk.out"
    assert main(["--config", str(config_path), "--out", str(out), "--environment", "tooling"]) == 0
    template = next((out / "assembly-tooling").glob("*Promotion*.template.json")).read_text()
    assert connection in template
    assert not list(out.glob("assembly-dev"))


def test_a_connection_needs_a_repository(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops_cdk.app import main

    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"source_connection_arn": "arn:x"}))
    assert main(["--config", str(config_path), "--environment", "tooling"]) == 2
    assert "source_repository" in capsys.readouterr().err


def test_cdk_json_runs_the_entry_point_and_package_json_pins_the_cli() -> None:
    from finmlops_cdk.promotion import CDK_CLI_VERSION

    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert cdk_json["app"] == ".venv/bin/python -m finmlops_cdk.app"
    package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"]["aws-cdk"] == CDK_CLI_VERSION == "2.1148.1"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == CDK_CLI_VERSION


def test_feature_flags_are_those_of_the_pinned_cdk() -> None:
    from finmlops_cdk.feature_flags import FEATURE_FLAGS

    assert FEATURE_FLAGS["@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"] is True
    assert FEATURE_FLAGS["@aws-cdk/core:enablePartitionLiterals"] is True


def test_names_that_cross_accounts_are_derived_from_the_config(config: Any) -> None:
    from finmlops.naming import names

    prod = names(config, "prod")
    assert prod.endpoint_name == "credit-risk-prod"
    assert prod.bucket("capture") == "credit-risk-capture-333333333333-us-east-1"
    assert prod.model_packages_arn == (
        "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/*"
    )
    assert prod.role_arn("model") == "arn:aws:iam::333333333333:role/credit-risk-prod-model"
    with pytest.raises(ValueError, match="63"):
        prod.bucket("x" * 40)
