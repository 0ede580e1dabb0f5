"""The assembly verify reads (missing or stale: a usage error naming `make synth`), the CLI's
lines, JSON and exit codes, and read-only by construction."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.cli import main
from finmlops.config import single_model_data
from finmlops.verify.assembly import AssemblyError, load_assembly
from finmlops.verify.clients import READ_PREFIXES, Clients, WriteRefusedError, read_only
from finmlops.verify.run import verify


def test_a_missing_assembly_names_make_synth(tmp_path: Path, config: Any) -> None:
    with pytest.raises(AssemblyError, match=r"no cloud assembly .*make synth"):
        load_assembly(tmp_path / "cdk.out", config, "dev")


def test_a_missing_environment_names_it(cdk_out: Path, config: Any, tmp_path: Path) -> None:
    partial = tmp_path / "cdk.out"
    shutil.copytree(cdk_out, partial, ignore=shutil.ignore_patterns("assembly-stage"))
    with pytest.raises(AssemblyError, match="no stage stage"):
        load_assembly(partial, config, "stage")  # an assembly synthesized without stage


def test_an_assembly_older_than_the_config_is_stale(
    cdk_out: Path, config: Any, tmp_path: Path, config_path: Path
) -> None:
    newer = tmp_path / "platform.yaml"
    shutil.copy(config_path, newer)
    later = (cdk_out / "assembly-dev" / "manifest.json").stat().st_mtime + 60
    os.utime(newer, (later, later))
    with pytest.raises(AssemblyError, match=r"older than .*platform.yaml.*make synth"):
        load_assembly(cdk_out, config, "dev", newer)


def test_an_assembly_for_other_accounts_is_stale(cdk_out: Path, config: Any) -> None:
    dev = config.environments.dev.model_copy(update={"account": "999999999999"})
    other = config.model_copy(
        update={"environments": config.environments.model_copy(update={"dev": dev})}
    )
    with pytest.raises(AssemblyError, match=r"aws://111111111111/us-east-1.*999999999999"):
        load_assembly(cdk_out, other, "dev")


def test_the_cli_refuses_a_missing_assembly_with_exit_2(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["verify", "--environment", "dev", "--config", str(config_path), "--model", "credit-risk",
         "--cdk-out", str(tmp_path / "nothing"), "--json"]
    )  # fmt: skip
    assert code == 2
    out, err = capsys.readouterr()
    assert "make synth" in err
    assert json.loads(out)["error"] == "usage"


# --------------------------------------------------------------------------- the CLI


def _config_file(tmp_path: Path, config_path: Path, vpc_id: str, cdk_out: Path) -> Path:
    data = single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
    data["environments"]["dev"]["vpc"]["vpc_id"] = vpc_id
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    earlier = (cdk_out / "assembly-dev" / "manifest.json").stat().st_mtime - 60
    os.utime(path, (earlier, earlier))  # the assembly was synthesized after this config
    return path


@pytest.fixture
def deployed(
    deployment: Any, dev_vpc: tuple[str, Any], tmp_path: Path, config_path: Path, cdk_out: Path
) -> Any:
    deployment.config_file = _config_file(tmp_path, config_path, dev_vpc[0], cdk_out)
    return deployment


def _cli(deployed: Any, cdk_out: Path, environment: str, *extra: str) -> int:
    return main(
        ["verify", "--environment", environment, "--cdk-out", str(cdk_out),
         "--config", str(deployed.config_file), "--endpoint-url", deployed.aws.server.endpoint_url,
         *extra]
    )  # fmt: skip


def test_the_cli_prints_one_line_per_check_and_exits_0(
    deployed: Any, cdk_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(deployed, cdk_out, "prod") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("verify prod (333333333333, us-east-1) against ")
    assert [line.split()[0] for line in lines[1:-1]] == ["PASS"] * 6
    assert any("served version" in line and "credit-risk-xgb/1" in line for line in lines)
    assert lines[-1] == "6 passed, 0 failed, 0 skipped"


def test_the_cli_json_gives_the_same_checks_and_exits_1_on_a_failure(
    deployed: Any, cdk_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.client("sagemaker").stop_mlflow_tracking_server(
        TrackingServerName="credit-risk-mlflow"
    )
    assert _cli(deployed, cdk_out, "dev", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 1 and report["environment"] == "dev"
    statuses = {c["seam"]: c["status"] for c in report["checks"]}
    assert statuses["MLflow tracking server"] == "FAIL"
    assert [s for s, v in statuses.items() if v != "PASS"] == ["MLflow tracking server"]
    assert report["summary"] == {"PASS": 5, "FAIL": 1}


def test_the_cli_exits_4_when_aws_errors_alone_stop_the_checks(
    deployed: Any, cdk_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["verify", "--environment", "tooling", "--cdk-out", str(cdk_out),
         "--config", str(deployed.config_file), "--endpoint-url", "http://127.0.0.1:9"]
    )  # fmt: skip
    assert code == 4
    out = capsys.readouterr().out
    assert "could not read" in out and "0 passed, 5 failed" in out


# --------------------------------------------------------------------------- read-only


def test_verify_calls_only_describe_get_list_and_head(deployed: Any, cdk_out: Path) -> None:
    """Every AWS operation of every environment's checks, recorded by a before-call handler."""
    called: list[str] = []

    def factory(service: str) -> Any:
        client = deployed.aws.fresh_client(service)
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: called.append(f"{service}:{model.name}")
        )
        return client

    for environment in ("tooling", "dev", "prod"):
        assembly = deployed.assemblies[environment]
        verify(environment, deployed.config, assembly, Clients(env_factory=factory))
    operations = sorted(set(called))
    assert len(operations) >= 20, operations
    writes = [op for op in operations if not op.split(":")[1].startswith(READ_PREFIXES)]
    assert writes == []


def test_a_write_through_a_verify_client_is_refused_before_it_is_sent(deployed: Any) -> None:
    s3 = read_only(deployed.aws.fresh_client("s3"))
    bucket = deployed.aws.client("s3").list_buckets()["Buckets"][0]["Name"]
    with pytest.raises(WriteRefusedError, match="s3 PutObject refused"):
        s3.put_object(Bucket=bucket, Key="written-by-verify", Body=b"x")
    with pytest.raises(deployed.aws.client("s3").exceptions.ClientError):
        deployed.aws.client("s3").head_object(Bucket=bucket, Key="written-by-verify")
    assert s3.list_buckets()["Buckets"]  # reads still go through


def test_a_portfolios_assembly_gives_the_platforms_stacks_and_this_models_own(
    tmp_path: Path, config: Any
) -> None:
    """Each model's stacks sit under `<env>/<model>/` with the same stack ids (ADR 0033): verify
    of credit-risk reads its own ModelBuild and the platform's Data, never credit-scoring's."""
    folder = tmp_path / "cdk.out" / "assembly-dev"
    folder.mkdir(parents=True)
    dev = config.environments.dev
    artifacts = {}
    for display, marker in (
        ("dev/Data (credit-risk-dev-data)", "platform"),
        ("dev/credit-risk/ModelBuild (credit-risk-dev-model-build)", "own"),
        ("dev/credit-scoring/ModelBuild (credit-risk-credit-scoring-dev-model-build)", "other"),
    ):
        (folder / f"{marker}.template.json").write_text(json.dumps({"Description": marker}))
        artifacts[marker] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{dev.account}/{dev.region}",
            "displayName": display,
            "properties": {"templateFile": f"{marker}.template.json"},
        }
    (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))

    assembly = load_assembly(tmp_path / "cdk.out", config, "dev")

    described = {name: t["Description"] for name, t in assembly.templates.items()}
    assert described == {"Data": "platform", "ModelBuild": "own"}
