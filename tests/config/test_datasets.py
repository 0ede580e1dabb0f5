"""model.dataset.uri: package data, a local file (relative to the config file's folder, or
absolute as written) or an S3 URI. Each form reaches the build, the pipeline's files and the
emulator's upload; a path that would leave its folder is refused naming the field, and nothing
is read, copied or uploaded."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from finmlops_pipelines.definition import (
    default_input_uri,
    pipeline_files,
    ship_pipeline_files,
)
from moto import mock_aws

from finmlops.config import Config, ConfigError, dataset_path, load_config, parse_config
from finmlops.datasets import package_data_root

SHIPPED = package_data_root() / "lending_club.csv"
BUCKET = "artifacts-bucket"


def write_config(raw: dict[str, Any], folder: Path, uri: str) -> Path:
    """A copy of the shipped config in `folder`, its dataset at `uri`."""
    data = yaml.safe_load(yaml.safe_dump(raw))
    data["model"]["dataset"]["uri"] = uri
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refused_at_load(raw: dict[str, Any], folder: Path, uri: str) -> str:
    path = write_config(raw, folder, uri)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    ((field, reason),) = caught.value.problems
    assert field == "model.dataset.uri"
    return reason


def s3_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


# -- the forms that load -----------------------------------------------------------------------
def test_package_data_resolves_inside_the_package(config: Config) -> None:
    assert dataset_path(config) == SHIPPED
    assert default_input_uri(config) == "s3://${ArtifactBucket}/data/lending_club.csv"


def test_a_relative_path_resolves_against_the_config_folder_not_the_working_directory(
    raw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "team"
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(SHIPPED, folder / "data" / "loans.csv")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a relative path is not the cwd's
    config = load_config(write_config(raw, folder, "data/loans.csv"))
    assert config.source_dir == folder
    assert dataset_path(config) == (folder / "data" / "loans.csv").resolve()


def test_a_relative_path_that_wanders_but_stays_inside_is_accepted(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    shutil.copyfile(SHIPPED, tmp_path / "loans.csv")
    config = load_config(write_config(raw, tmp_path, "data/../loans.csv"))
    assert dataset_path(config) == (tmp_path / "loans.csv").resolve()


def test_an_absolute_path_is_used_as_written(raw: dict[str, Any], tmp_path: Path) -> None:
    data = tmp_path / "shared" / "loans.csv"
    data.parent.mkdir()
    shutil.copyfile(SHIPPED, data)
    config = load_config(write_config(raw, tmp_path / "team", str(data)))
    assert dataset_path(config) == data.resolve()


def test_an_s3_uri_is_read_where_it_is_and_nothing_is_shipped(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    uri = "s3://bank-data-lake/credit/loans-2026q3.csv"
    config = load_config(write_config(raw, tmp_path, uri))
    assert default_input_uri(config) == uri
    assert not [key for key in pipeline_files(config) if key.startswith("data/")]
    with pytest.raises(ConfigError, match="is in S3: a local build reads local files"):
        dataset_path(config)


# -- end to end: the build reads it, the pipeline ships it, the emulator uploads it ------------
def test_a_relative_local_file_is_what_the_local_build_reads(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    from finmlops.modelbuild import run_local

    folder = tmp_path / "team"
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(SHIPPED, folder / "data" / "loans.csv")
    config = load_config(write_config(raw, folder, "data/loans.csv"))
    build = run_local(config, tmp_path / "work")
    digest = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert digest in str(build.data_quality)
    assert build.rows["train"] > 0


@mock_aws
def test_a_local_file_is_shipped_content_addressed_and_is_the_pipelines_input(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "team"
    folder.mkdir()
    data = folder / "loans.csv"
    data.write_bytes(b"a,b\n1,2\n")
    config = load_config(write_config(raw, folder, "loans.csv"))
    key = f"data/loans-{hashlib.sha256(data.read_bytes()).hexdigest()[:12]}.csv"
    assert default_input_uri(config) == "s3://${ArtifactBucket}/" + key
    assert pipeline_files(config)[key] == data.resolve()

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    assert key in ship_pipeline_files(s3, BUCKET, config)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"a,b\n1,2\n"


def test_the_pipeline_definition_defaults_its_input_to_the_shipped_local_file(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    import json

    from finmlops_pipelines.definition import build_pipeline_definition

    from finmlops.contracts import Param

    shutil.copyfile(SHIPPED, tmp_path / "loans.csv")
    config = load_config(write_config(raw, tmp_path, "loans.csv"))
    definition = build_pipeline_definition(config)
    defaults = {p["Name"]: p.get("DefaultValue") for p in json.loads(definition.body)["Parameters"]}
    assert defaults[Param.INPUT_DATA_URI] == default_input_uri(config)
    assert definition.code_files[defaults[Param.INPUT_DATA_URI].split("}/", 1)[1]] == (
        (tmp_path / "loans.csv").resolve()
    )


# -- refused at load: lexical, no file touched ---------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("package:../../etc/passwd", "'..' would leave the package's data folder"),
        ("package:/etc/passwd", "must be a relative path inside the package's data folder"),
        ("package:", "names no file"),
        ("package:..\\..\\secret.csv", "use '/' as the path separator"),
        ("../outside.csv", "'..' would leave the configuration's folder"),
        ("data/../../outside.csv", "'..' would leave the configuration's folder"),
        ("~/loans.csv", "'~' is not expanded"),
        ("https://example.com/loans.csv", "unknown scheme 'https'"),
        ("S3://bucket/loans.csv", "unknown scheme 'S3'"),
        ("s3://Bank_Data/loans.csv", "is not an S3 bucket name"),
        ("s3://bank..data/loans.csv", "is not an S3 bucket name"),
        ("s3://192.168.10.1/loans.csv", "is not an S3 bucket name"),
        ("s3://bank-data", "needs an object key"),
        ("s3://bank-data/", "needs an object key"),
        (" loans.csv", "white space"),
    ],
)
def test_a_uri_out_of_bounds_is_refused_at_load_naming_the_field(
    raw: dict[str, Any], tmp_path: Path, uri: str, reason: str
) -> None:
    assert reason in refused_at_load(raw, tmp_path, uri)


# -- refused when the file is needed: symlinks followed, nothing read or uploaded ---------------
def escaping_config(raw: dict[str, Any], tmp_path: Path) -> Config:
    """A config whose relative dataset is a symlink, inside its folder, to a file outside it."""
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("account,balance\n")
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "loans.csv").symlink_to(secret)
    return load_config(write_config(raw, folder, "loans.csv"))


def test_a_symlink_out_of_the_config_folder_is_refused_and_nothing_is_uploaded(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    config = escaping_config(raw, tmp_path)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        with pytest.raises(ConfigError) as caught:
            ship_pipeline_files(s3, BUCKET, config)
        assert s3_keys(s3) == []
    ((field, reason),) = caught.value.problems
    assert field == "model.dataset.uri"
    assert "outside the configuration's folder" in reason
    assert str(config.source_file) in str(caught.value)


def test_a_symlink_out_of_the_package_data_is_refused(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The package's data folder, standing in a temporary folder so a link can be planted in it.
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    (root / "lending_club.csv").symlink_to(tmp_path / "passwd")
    monkeypatch.setattr("finmlops.datasets.package_data_root", root.resolve)
    with pytest.raises(ConfigError, match="outside the package's data folder"):
        dataset_path(config)


def test_synth_stops_before_writing_anything_when_the_dataset_escapes(
    raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops_cdk.app import main

    config = escaping_config(raw, tmp_path)
    out = tmp_path / "cdk.out"
    assert main(["--config", str(config.source_file), "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "synth stopped, nothing written" in err
    assert "model.dataset.uri" in err and "outside the configuration's folder" in err


def test_the_local_build_refuses_before_creating_its_work_folder(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    from finmlops.modelbuild import run_local

    config = escaping_config(raw, tmp_path)
    with pytest.raises(ConfigError, match=r"model\.dataset\.uri"):
        run_local(config, tmp_path / "work")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [("missing.csv", "does not exist"), ("folder", "is not a regular file")],
)
def test_a_missing_file_or_a_folder_is_named(
    raw: dict[str, Any], tmp_path: Path, name: str, reason: str
) -> None:
    (tmp_path / "folder").mkdir()
    config = load_config(write_config(raw, tmp_path, name))
    with pytest.raises(ConfigError) as caught:
        dataset_path(config)
    ((field, found),) = caught.value.problems
    assert field == "model.dataset.uri" and reason in found


def test_a_device_written_absolute_is_not_a_regular_file(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    config = load_config(write_config(raw, tmp_path, "/dev/zero"))
    with pytest.raises(ConfigError, match="is not a regular file"):
        dataset_path(config)


def test_a_relative_path_needs_the_file_it_is_relative_to(raw: dict[str, Any]) -> None:
    data = yaml.safe_load(yaml.safe_dump(raw))
    data["model"]["dataset"]["uri"] = "loans.csv"
    config = parse_config(data)  # no file: nothing to be relative to
    with pytest.raises(ConfigError, match="not read from a file"):
        dataset_path(config)
