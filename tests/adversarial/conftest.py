"""The insider suite: each test plays someone holding one legitimate role who tries to get a
model into production without an independent approval, or to change the record afterwards.

The emulated account and people are the registry tests' (tests/registry/conftest.py), loaded here
so that both suites run on the same world: moto with the emulator's record of who made each
request (`finmlops.emulator.aws.identity`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "registry_world", Path(__file__).resolve().parents[1] / "registry" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_world = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _world  # dataclasses look their module up there
_spec.loader.exec_module(_world)

# The fixtures, as pytest finds them in a conftest: by name.
fake_aws_credentials = _world.fake_aws_credentials
config = _world.config
world = _world.world
register = _world.register
build = _world.build
pipeline = _world.pipeline
event = _world.event


@pytest.fixture(scope="session")
def synthesized_definition() -> str:
    """The model-build definition as synthesized from the repository (placeholders filled)."""
    text: str = _world.platform_definition()
    return text
