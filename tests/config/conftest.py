"""Fixtures of the config tests: the shipped config as plain data, for tests to copy and break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import single_model_data


@pytest.fixture(scope="module")
def raw(config_path: Path) -> dict[str, Any]:
    """config/platform.yaml's model as a single-model file's data (the shape each model of a
    portfolio is validated in); tests deep-copy it before changing anything. The portfolio's own
    rules and paths are tested in test_portfolio.py."""
    return single_model_data(yaml.safe_load(config_path.read_text()), "credit-risk")
