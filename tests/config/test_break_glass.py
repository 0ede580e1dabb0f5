"""governance.break_glass_role: required, a role name, and neither the approver nor a platform role."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import ConfigError, load_config


def _problems(raw: dict[str, Any], tmp_path: Path, **governance: Any) -> list[tuple[str, str]]:
    data = copy.deepcopy(raw)
    data["governance"].update(governance)
    for key in [k for k, v in governance.items() if v is None]:
        del data["governance"][key]
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_the_repository_config_names_a_break_glass_role(config_path: Path) -> None:
    assert load_config(config_path, "credit-risk").governance.break_glass_role == "AuditBreakGlass"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "required value is missing"),
        ("not a role name", "should match pattern"),
        ("ModelRiskApprover", "must not be the approver role"),
        ("credit-risk-tooling-promotion-build", "named like the platform's own roles"),
    ],
)
def test_a_break_glass_role_that_would_weaken_the_control_is_refused(
    raw: dict[str, Any], tmp_path: Path, value: Any, reason: str
) -> None:
    [(field, message)] = _problems(raw, tmp_path, break_glass_role=value)
    assert field == "governance.break_glass_role"
    assert reason in message
