"""The commands `make demo ARGS=--keep-running` prints run as printed: each line, in a shell
with no AWS credentials of its own, against the demo's world (the session's `story`), signed as
the person it names."""

from __future__ import annotations

import configparser
import os
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from finmlops.demo import EMULATOR_PROFILE, explore_commands
from finmlops.naming import Role

pytestmark = pytest.mark.slow


def _shell_without_aws(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)  # no ~/.aws of whoever runs the tests
    return env


def test_every_command_keep_running_prints_runs_as_printed(
    story: tuple[Any, Any], config_path: Path, tmp_path: Path
) -> None:
    lifecycle, _ = story
    commands = explore_commands(lifecycle, config_path, tmp_path / "work")
    env = _shell_without_aws(tmp_path)

    def run(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", line], cwd=Path.cwd(), env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, [c.line for c in commands]))

    failed = [
        f"{c.who}: {c.line}\n  exit {r.returncode}: {r.stderr[-600:]}"
        for c, r in zip(commands, results, strict=True)
        if r.returncode != 0
    ]
    assert not failed, "\n".join(failed)
    words = [shlex.split(c.line) for c in commands]
    verbs = {
        " ".join(w[i + 1 : i + 3]) for w in words for i, word in enumerate(w)
        if word.endswith("finmlops")
    }  # fmt: skip
    assert {"registry list", "registry show", "audit verify", "verify --environment"} <= verbs
    assert sum(" verify --environment " in c.line for c in commands) == 4


def test_the_printed_credentials_are_the_peoples_sessions_in_their_roles(
    story: tuple[Any, Any], config_path: Path, tmp_path: Path
) -> None:
    lifecycle, _ = story
    explore_commands(lifecycle, config_path, tmp_path)
    profiles = configparser.ConfigParser()
    profiles.read(tmp_path / "aws" / "credentials")
    w = lifecycle.w

    def caller(profile: str) -> str:
        section = profiles[profile]
        session = boto3.Session(
            aws_access_key_id=section["aws_access_key_id"],
            aws_secret_access_key=section["aws_secret_access_key"],
            aws_session_token=section.get("aws_session_token"),
            region_name=lifecycle.aws.region,
        )
        return str(lifecycle.aws.client("sts", session).get_caller_identity()["Arn"])

    data_scientist = w.names["dev"].role(Role.DATA_SCIENTIST)
    operator = w.names["tooling"].role(Role.OPERATOR)
    approver = lifecycle.config.governance.approver_role
    assert caller(w.author.name).endswith(f":assumed-role/{data_scientist}/{w.author.name}")
    assert caller(w.approver.name).endswith(f":assumed-role/{approver}/{w.approver.name}")
    assert caller(w.operator.name).endswith(f":assumed-role/{operator}/{w.operator.name}")
    assert set(profiles.sections()) == {w.author.name, w.approver.name, w.operator.name,
                                        EMULATOR_PROFILE}  # fmt: skip
    assert oct((tmp_path / "aws" / "credentials").stat().st_mode & 0o777) == "0o600"
