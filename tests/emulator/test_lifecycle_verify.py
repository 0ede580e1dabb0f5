"""`finmlops verify` against the world the demo's lifecycle leaves (the session's `story`):
every check of every environment passes, or is SKIP with its stated reason. The commands are
the ones `make demo ARGS=--keep-running` prints (`verify_arguments`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finmlops.cli import main
from finmlops.emulator.world.provision import verify_arguments

pytestmark = pytest.mark.slow

# A check may be skipped only for a reason the emulator cannot change (none today).
ALLOWED_SKIPS: dict[str, str] = {}


@pytest.mark.parametrize("environment", ["tooling", "dev", "stage", "prod"])
def test_verify_passes_every_check_against_the_demos_world(
    story: tuple[Any, Any],
    config_path: Any,
    environment: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lifecycle, _ = story
    arguments = verify_arguments(lifecycle.w, config_path)[environment]
    code = main([*arguments, "--json"])
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert not failed, json.dumps(failed, indent=1)
    skipped = {c["seam"]: c["detail"] for c in report["checks"] if c["status"] == "SKIP"}
    assert skipped == {k: v for k, v in ALLOWED_SKIPS.items() if k in skipped}
    assert code == 0
    assert report["checks"], "verify ran no check"


def test_verify_reports_each_seam_of_the_demo(
    story: tuple[Any, Any], config_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seams issue 13 names, one line each, across the four environments."""
    lifecycle, _ = story
    seams: set[str] = set()
    for arguments in verify_arguments(lifecycle.w, config_path).values():
        main([*arguments, "--json"])
        seams |= {c["seam"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert {
        "registry group", "registry group policy", "model-build pipeline", "latest build",
        "MLflow tracking server", "MLflow VPC endpoint", "endpoint", "served version",
        "monitoring schedule", "drift baseline", "drift alarm", "model-quality alarm",
        "audit Object Lock", "audit versioning", "audit create-only policy",
        "promotion pipeline", "approval handler",
    } <= seams  # fmt: skip
