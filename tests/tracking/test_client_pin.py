"""The MLflow client the Track step runs is of the line of the server the CDK creates.

AWS: "To ensure compatibility between your MLflow client and tracking server, use the
corresponding MLflow version based on your tracking server version" (docs page
mlflow-track-experiments: mlflow==3.0.x for a 3.0 server). The server's version is
`tracking.server_mlflow_version` (CreateMlflowTrackingServer MlflowVersion); the Track step's
client is the mlflow-skinny the project image installs from docker/monitoring/tracking-client.txt.
The project's own MLflow (requirements.lock) serves the offline store only and may differ.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finmlops.config import Config
from finmlops.tracking.settings import mlflow_line

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "docker" / "monitoring"
# The lines AWS documents for tracking servers (docs page mlflow-track-experiments).
DOCUMENTED_SERVER_LINES = {(2, 13), (2, 16), (3, 0)}


def client_pin_problems(server_version: str, image: Path) -> list[str]:
    """Every reason the image's Track step client is not pinned to the server's line."""
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==([0-9.]+)\s*$",
            (image / "tracking-client.txt").read_text(),
            re.MULTILINE,
        )
    )
    problems = []
    client = pins.get("mlflow-skinny")
    if client is None:
        problems.append("tracking-client.txt: mlflow-skinny is not pinned")
    elif mlflow_line(client) != mlflow_line(server_version):
        problems.append(
            f"tracking-client.txt: mlflow-skinny=={client} is not of the server's line "
            f"{server_version}"
        )
    if "sagemaker-mlflow" not in pins:
        problems.append("tracking-client.txt: sagemaker-mlflow (the SigV4 plugin) is not pinned")
    dockerfile = (image / "Dockerfile").read_text()
    if "-r /tmp/tracking-client.txt" not in dockerfile:
        problems.append("Dockerfile: the image does not install tracking-client.txt")
    if re.search(r"^mlflow", (image / "requirements.txt").read_text(), re.MULTILINE):
        problems.append("requirements.txt: a second MLflow client would come from the lock")
    return problems


def test_the_track_step_client_is_of_the_servers_mlflow_line(config: Config) -> None:
    assert client_pin_problems(config.tracking.server_mlflow_version, IMAGE) == []


def test_the_server_runs_a_line_aws_documents_for_tracking_servers(config: Config) -> None:
    assert mlflow_line(config.tracking.server_mlflow_version) in DOCUMENTED_SERVER_LINES


@pytest.mark.parametrize("server", ["2.16.2", "3.17", "4.0"])
def test_a_server_of_another_line_than_the_client_is_reported(server: str) -> None:
    problems = client_pin_problems(server, IMAGE)
    assert any("is not of the server's line" in p for p in problems), problems


def test_an_image_that_installs_no_pinned_client_is_reported(tmp_path: Path) -> None:
    for name in ("Dockerfile", "requirements.txt"):
        (tmp_path / name).write_text((IMAGE / name).read_text())
    (tmp_path / "tracking-client.txt").write_text("mlflow-skinny\n")
    assert client_pin_problems("3.0", tmp_path) == [
        "tracking-client.txt: mlflow-skinny is not pinned",
        "tracking-client.txt: sagemaker-mlflow (the SigV4 plugin) is not pinned",
    ]
