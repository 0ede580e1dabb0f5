"""Every `finmlops verify` command docs/verify.md shows is one the CLI accepts (the commands
themselves run against the emulator in test_assembly_and_cli.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from finmlops.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify.md"


def test_every_verify_command_in_the_docs_parses() -> None:
    commands = re.findall(r"^\$ (finmlops verify[^#\n]*)", DOC.read_text(), re.MULTILINE)
    assert len(commands) >= 4
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.run.__name__ == "_verify", command
        assert args.environment in ("tooling", "dev", "stage", "prod")


def test_the_docs_describe_every_check_verify_runs() -> None:
    text = DOC.read_text()
    seams = [
        "registry group", "registry group policy", "model-build pipeline", "latest build",
        "MLflow tracking server", "MLflow VPC endpoint", "endpoint", "served version",
        "monitoring schedule", "drift baseline", "drift alarm", "model-quality alarm",
        "audit Object Lock", "audit versioning", "audit create-only policy",
        "promotion pipeline", "approval handler",
    ]  # fmt: skip
    documented = {
        name.strip()
        for first in re.findall(r"^\| ([^|]+) \|", text, re.MULTILINE)
        for name in first.split(",")
    }
    missing = [s for s in seams if s not in documented]
    assert missing == []
