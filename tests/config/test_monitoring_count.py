"""`environments.<env>.instances.monitoring_count`: how many instances one drift run spreads a
window over (docs/decisions/0027). A bad value is refused at load, naming the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_edits import problems_of

from finmlops.config import load_config


def count(env: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: (
        d["environments"][env].setdefault("instances", {}).update(monitoring_count=value)
    )


@pytest.mark.parametrize("value", [0, -1, 101, "2", 1.5, True])
def test_a_count_sagemaker_would_not_run_is_refused_naming_the_field(
    raw: dict[str, Any], tmp_path: Path, value: Any
) -> None:
    """ProcessingClusterConfig.InstanceCount takes 1-100 (SageMaker API Reference); the config
    is strict, so a quoted number or a boolean is no count either."""
    problems = problems_of(raw, count("prod", value), tmp_path)
    assert [field for field, _ in problems] == ["environments.prod.instances.monitoring_count"]


def test_model_monitor_mode_refuses_more_than_one_instance_naming_each_environment(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    def change(data: dict[str, Any]) -> None:
        data["monitoring"]["mode"] = "model_monitor"
        count("stage", 3)(data)
        count("prod", 2)(data)

    problems = dict(problems_of(raw, change, tmp_path))
    assert set(problems) == {
        "environments.stage.instances.monitoring_count",
        "environments.prod.instances.monitoring_count",
    }
    assert "no step to merge shards" in problems["environments.prod.instances.monitoring_count"]


def test_the_default_is_one_instance_and_the_shipped_config_shards_prod(config_path: Path) -> None:
    config = load_config(config_path, "credit-risk")
    assert config.environments.dev.instances.monitoring_count == 1
    assert config.environments.stage.instances.monitoring_count == 1
    assert config.environments.prod.instances.monitoring_count == 2
