"""The whole story on the second data set, by its config alone (`make demo ARGS="--config
docs/examples/credit_data.yaml"`): every test of test_lifecycle_e2e.py, on this story.

Its world resets moto's backends, which every embedded server of the process shares, so this
module sorts after test_lifecycle_verify.py, the last reader of the default story's world.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _checks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "story_checks", Path(__file__).with_name("test_lifecycle_e2e.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


globals().update({name: f for name, f in vars(_checks()).items() if name.startswith("test_")})


@pytest.fixture
def story(credit_story_run: tuple[Any, Any]) -> tuple[Any, Any]:
    lifecycle, _ = credit_story_run
    groups = lifecycle.client("sagemaker").list_model_package_groups()[
        "ModelPackageGroupSummaryList"
    ]
    if lifecycle.config.model.package_group not in {g["ModelPackageGroupName"] for g in groups}:
        pytest.fail("the lifecycle's world was reset by a mock_aws test run in between")
    return credit_story_run


def test_every_stage_ran_and_took_the_full_path(credit_story_run: tuple[Any, Any]) -> None:
    """On credit_data every branch is taken: drift and quality alarms, v2 approved on the
    comparison, promoted, and rolled back with the stated reason."""
    from finmlops.emulator.story import STORY

    lifecycle, summary = credit_story_run
    assert [s.name for s in summary.stages] == [name for name, _ in STORY]
    assert summary.decisions == {"v2": "Approved"}
    assert summary.comparison["recommended"] is True
    assert summary.rollback["reason"].startswith("v2 learned from outcomes")
    assert list(summary.quality_verdicts.values()) == ["ok", "violation"]
    assert summary.quality_alarm_state == "ALARM"
    columns = {
        *lifecycle.config.model.numeric_features,
        *lifecycle.config.model.categorical_features,
    }
    assert {s["feature"] for s in summary.shift["shifts"]} <= columns
