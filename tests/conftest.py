"""Shared fixtures: the default config, and an environment in which nothing can reach AWS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "config" / "platform.yaml"

# No test may reach AWS: fake credentials, a fixed region, no metadata-service lookups.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "OMP_NUM_THREADS": "1",
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
)
os.environ.pop("AWS_PROFILE", None)

# moto made to keep, refuse and answer what AWS does, for `mock_aws` tests as for the embedded
# server (finmlops.emulator.aws.fidelity; each behaviour pinned in tests/emulator).
from finmlops.emulator.aws import fidelity  # noqa: E402

fidelity.install()

# The synthesized platforms (`platform`, `variant`, ...), once per session for every folder.
pytest_plugins = ["synth_fixtures"]


@pytest.fixture(scope="session")
def config_path() -> Path:
    return CONFIG_PATH


@pytest.fixture(scope="session")
def config():  # type: ignore[no-untyped-def]
    from finmlops.config import load_config

    return load_config(CONFIG_PATH, "credit-risk")


@pytest.fixture(scope="session")
def step_config(config, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The shipped real-time model's config as its pipeline ships it to a step: one model's
    canonical JSON (finmlops.governance.evidence_step.shipped_config), not the portfolio file."""
    from finmlops.governance.evidence_step import write_shipped_config

    return write_shipped_config(config, tmp_path_factory.mktemp("step-config"))[1]
