"""Fixtures for the tracking tests: one real local build, fresh MLflow stores, no network.

MLflow is told not to phone home (telemetry off) and not to retry, and every test runs with
outbound connections refused except to loopback, so an unreachable server fails fast and
nothing can leave the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finmlops.config import Config
from finmlops.modelbuild import LocalBuild, run_local

os.environ.update(
    {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
)
os.environ.pop("MLFLOW_TRACKING_URI", None)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _host(address: Any) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # a unix socket path


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = _host(address)
        if host is not None and host not in _LOOPBACK:
            raise AssertionError(f"a tracking test tried to connect to {address}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK and host is not None:
            raise AssertionError(f"a tracking test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="session")
def build(config: Config, tmp_path_factory: pytest.TempPathFactory) -> LocalBuild:
    """The real build on the shipped Lending Club data (about 1 s)."""
    return run_local(config, tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its schema created once: migrations take seconds."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def work_dir(tmp_path: Path, migrated_store: Path) -> Iterator[Path]:
    """A run's work folder whose local store (work/mlflow/mlflow.db) starts empty."""
    store = tmp_path / "work" / "mlflow"
    store.mkdir(parents=True)
    shutil.copy(migrated_store, store / "mlflow.db")
    yield tmp_path / "work"


@pytest.fixture
def closed_port_uri() -> str:
    """An http server address on loopback where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
