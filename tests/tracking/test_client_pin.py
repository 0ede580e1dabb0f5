"""The MLflow client the Track step runs is of the line of the server the CDK creates.

AWS: "To ensure compatibility between your MLflow client and tracking server, use the
corresponding MLflow version based on your tracking server version" (docs page
mlflow-track-experiments). The server's version is `tracking.server_mlflow_version`
(CreateMlflowTrackingServer MlflowVersion); the client is the mlflow-skinny that
requirements.lock pins, pyproject.toml declares and the project image installs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finmlops.config import Config
from finmlops.tracking.settings import mlflow_line

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PACKAGES = ("mlflow-skinny", "mlflow")


def _pins(text: str, pattern: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for m in re.finditer(pattern, text, re.MULTILINE)}


def client_pin_problems(server_version: str, root: Path) -> list[str]:
    """Every place the MLflow client is pinned or installed whose line is not the server's."""
    server = mlflow_line(server_version)
    lock = _pins((root / "requirements.lock").read_text(), r"^([A-Za-z0-9_.-]+)==([0-9.]+)\s*$")
    declared = _pins((root / "pyproject.toml").read_text(), r'"([A-Za-z0-9_.-]+)==([0-9.]+)"')
    problems = []
    for package in CLIENT_PACKAGES:
        for source, pins in (("requirements.lock", lock), ("pyproject.toml", declared)):
            version = pins.get(package)
            if version is None:
                problems.append(f"{source}: {package} is not pinned")
            elif mlflow_line(version) != server:
                problems.append(
                    f"{source}: {package}=={version} is not of the server's line {server_version}"
                )
    image = (root / "docker" / "monitoring" / "requirements.txt").read_text().split()
    dockerfile = (root / "docker" / "monitoring" / "Dockerfile").read_text()
    if "mlflow-skinny" not in image:
        problems.append("docker/monitoring/requirements.txt: mlflow-skinny is not installed")
    if "-c /tmp/requirements.lock" not in dockerfile:
        problems.append("docker/monitoring/Dockerfile: the image does not install the lock's pins")
    return problems


def test_the_track_step_client_is_of_the_servers_mlflow_line(config: Config) -> None:
    assert client_pin_problems(config.tracking.server_mlflow_version, ROOT) == []


@pytest.mark.parametrize("server", ["3.0", "2.16.2", "4.17"])
def test_a_server_of_another_line_than_the_client_is_reported(server: str) -> None:
    problems = client_pin_problems(server, ROOT)
    assert any("requirements.lock: mlflow-skinny==" in p for p in problems), problems
    assert any("pyproject.toml: mlflow-skinny==" in p for p in problems), problems
