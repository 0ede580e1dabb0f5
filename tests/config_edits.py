"""A broken copy of the shipped config, loaded from a file: the problems `load_config` names."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import ConfigError, load_config

Change = Callable[[dict[str, Any]], None]


def problems_of(raw: dict[str, Any], change: Change, tmp_path: Path) -> list[tuple[str, str]]:
    """Apply `change` to a copy of `raw`, write it, load it: the (field, reason) pairs refused;
    the error must name the file."""
    data = copy.deepcopy(raw)
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    return caught.value.problems
