"""docs/configuration.md documents every field of the config: a field added to the models without
a row in the doc fails here, naming it."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from finmlops.config import ENVIRONMENT_NAMES, Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# The fairness schema is documented in docs/governance.md; the doc has one row pointing there.
DOCUMENTED_ELSEWHERE = ("model.fairness",)


def _nested_model(annotation: object) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        nested = _nested_model(field.annotation)
        if nested is None or ".".join(path).startswith(DOCUMENTED_ELSEWHERE):
            yield path
        else:
            yield from leaves(nested, path)


def names_in_doc(path: tuple[str, ...]) -> set[str]:
    """How a row may name the field: its full path, or its path inside its section."""
    inner = path[2:] if path[0] == "environments" and path[1] in ENVIRONMENT_NAMES else path[1:]
    return {".".join(path), ".".join(inner or path)}


def test_every_field_of_the_config_has_a_row_in_the_configuration_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        ".".join(path)
        for path in sorted(set(leaves(Config)))
        if not any(f"| `{name}` |" in text for name in names_in_doc(path))
    ]
    assert missing == []


def test_the_walk_reaches_nested_and_optional_models() -> None:
    found = {".".join(path) for path in leaves(Config)}
    assert {
        "environments.prod.vpc.route_table_ids",
        "model.hyperparameters.eta",
        "gates.data_quality.min_rows",
        "tracking.server_mlflow_version",
        "model.fairness",
    } <= found
