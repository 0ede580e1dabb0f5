"""The command line's own behaviour: its version, what it says when there is no configuration
or region (instead of botocore's "You must specify a region"), one program name for the demo,
and exit codes that match docs/cli.md."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finmlops import demo
from finmlops.cli import ExitCode, main

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])

    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"finmlops {importlib.metadata.version('finmlops')}"


@pytest.fixture
def outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with no config/platform.yaml, and no AWS region or profile around."""
    monkeypatch.chdir(tmp_path)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return tmp_path


def test_a_missing_default_config_names_the_path_looked_for_and_how_to_pass_one(
    outside_the_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["registry", "approve", "credit-risk-xgb/1", "--reason", "r"])

    err = capsys.readouterr().err
    assert code == ExitCode.USAGE == 2
    assert f"no configuration file at {outside_the_repository / 'config' / 'platform.yaml'}" in err
    assert "pass --config PATH" in err


def test_a_missing_named_config_names_it(
    outside_the_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["registry", "approve", "x/1", "--reason", "r", "--config", "mine.yaml"])

    assert code == 2
    assert "no configuration file at mine.yaml (--config)" in capsys.readouterr().err


def test_without_config_or_region_the_cli_says_how_to_give_one_before_any_aws_call(
    outside_the_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["registry", "list", "--endpoint-url", "http://127.0.0.1:9"])

    err = capsys.readouterr().err
    assert code == 2
    assert "no AWS region: pass --region REGION, or --config PATH" in err
    assert str(outside_the_repository / "config" / "platform.yaml") in err
    assert "You must specify a region" not in err


def test_the_demo_calls_itself_what_runs() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "finmlops.demo", "--help"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip

    assert helped.returncode == 0
    assert helped.stdout.startswith(f"usage: {demo.PROGRAM} ")
    assert demo.PROGRAM == "python -m finmlops.demo"
    assert "finmlops demo" not in helped.stdout.replace("finmlops.demo", "")


def test_no_file_names_a_finmlops_demo_command_that_does_not_exist() -> None:
    mentions = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in [
            ROOT / "README.md",
            ROOT / "Makefile",
            *(ROOT / "docs").rglob("*.md"),
            *(ROOT / "src").rglob("*.py"),
        ]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bfinmlops demo\b", line)
    ]
    assert mentions == []


def test_the_demo_without_its_config_names_the_path_and_exits_2(
    outside_the_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = demo.main([])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("python -m finmlops.demo: no configuration file at ")
    assert "pass --config PATH" in err


def test_the_exit_codes_of_docs_cli_md_are_the_programs() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d) \|", section, re.MULTILINE)}

    assert documented == {int(code) for code in ExitCode}
    assert "2 usage/config error" in subprocess.run(
        [sys.executable, "-m", "finmlops.cli", "--help"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    ).stdout  # fmt: skip
