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
        data = single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
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


# --------------------------------------------------------------------------- a portfolio


def _two_models(config_path: Path, **second: Any) -> Any:
    """The shipped platform with a second model copied from the first (`second` overrides the
    copy's block: name, package_group, governance)."""
    import copy

    from finmlops.config import parse_portfolio

    data = yaml.safe_load(config_path.read_text())
    (name, block) = next(iter(data["models"].items()))
    other = copy.deepcopy(block)
    other["package_group"] = "behaviour-xgb"
    other["governance"]["approver_role"] = "BehaviourApprover"
    other_name = second.pop("name", "behaviour")
    for key, value in second.items():
        if key == "governance":
            other["governance"].update(value)
        else:
            other[key] = value
    data["models"] = {name: block, other_name: other}
    return parse_portfolio(data, "platform.yaml")


def test_a_model_whose_role_names_pass_64_characters_stops_synth_naming_its_block(
    config_path: Path,
) -> None:
    """IAM role names are at most 64 characters (IAM User Guide, "IAM object names"): a model's
    roles carry its name (`credit-risk-<model>-stage-revalidation-forwarder`), so a long model
    name is refused at preflight, naming the block to shorten."""
    from finmlops_cdk.app import preflight

    from finmlops.config import ConfigError

    long_name = "behavioural-scoring-of-revolving-credit-lines"
    portfolio = _two_models(config_path, name=long_name)
    with pytest.raises(ConfigError) as refused:
        preflight(portfolio, ["tooling", "dev", "stage", "prod"])
    fields = {field for field, _ in refused.value.problems}
    assert fields == {f"models.{long_name}"}
    (reason, *_) = [reason for _, reason in refused.value.problems]
    assert "64" in reason and f"models.{long_name}" in reason


def test_two_models_with_one_approver_role_stop_synth_naming_the_second(
    config_path: Path,
) -> None:
    """Each model's approver decides on its own group only (ADR 0033): one role for two models
    would be created twice (a role name is unique in its account)."""
    from finmlops_cdk.app import preflight

    from finmlops.config import ConfigError

    portfolio = _two_models(config_path, governance={"approver_role": "ModelRiskApprover"})
    with pytest.raises(ConfigError) as refused:
        preflight(portfolio, ["dev"])
    ((field, reason),) = refused.value.problems
    assert field == "models.behaviour.governance.approver_role"
    assert "ModelRiskApprover" in reason and "models.credit-risk.governance.approver_role" in reason


def test_a_manifest_is_the_version_of_the_model_whose_group_it_names(
    config_path: Path,
) -> None:
    from finmlops_cdk.app import manifests_for
    from finmlops_cdk.manifest import ManifestError, default_manifest

    portfolio = _two_models(config_path)
    second = portfolio.config("behaviour")
    chosen = default_manifest(second)
    found = manifests_for(portfolio, chosen)
    assert found["behaviour"] is chosen
    assert found["credit-risk"] == default_manifest(portfolio.config("credit-risk"))
    stranger = chosen.__class__.from_json(chosen.to_json().replace("behaviour-xgb", "nobodys-xgb"))
    with pytest.raises(ManifestError, match="group of no model"):
        manifests_for(portfolio, stranger)


def test_several_manifests_give_each_model_its_version_and_two_for_one_group_are_refused(
    config_path: Path,
) -> None:
    """A serving environment synthesized for one model's promotion keeps every other model's
    current version: one manifest per registry group (`manifests=`), `manifest=` still one."""
    from finmlops_cdk.app import manifests_for
    from finmlops_cdk.manifest import ManifestError, default_manifest

    portfolio = _two_models(config_path)
    first = default_manifest(portfolio.config("credit-risk"))
    second = default_manifest(portfolio.config("behaviour"))
    found = manifests_for(portfolio, None, [first, second])
    assert found == {"credit-risk": first, "behaviour": second}
    assert manifests_for(portfolio, second, [first]) == found
    with pytest.raises(
        ManifestError, match="two manifests for model_package_group 'behaviour-xgb'"
    ):
        manifests_for(portfolio, second, [second])
