"""Fixtures of the config tests: the shipped config as plain data, for tests to copy and break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="module")
def raw(config_path: Path) -> dict[str, Any]:
    """config/platform.yaml as parsed YAML; tests deep-copy it before changing anything."""
    data: dict[str, Any] = yaml.safe_load(config_path.read_text())
    return data
