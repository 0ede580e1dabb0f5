"""The config's protected groups as the evaluate step receives them, and where its gates look.

One definition for every side: the local build and the pipeline ship the same spec file
(`spec`, `shipped_spec`), the gates read the worst group at the path the evaluate step writes it
for that spec and cut-off (`gate_path`), and approval re-checks the same path. The spec travels
as a JSON file, never as comma-joined arguments (docs/decisions/0020).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from finmlops.config import Model
from finmlops.steps import evaluate


def spec(model: Model) -> dict[str, Any]:
    """`model.fairness` as the evaluate step reads it: every attribute named, unset keys left
    out, so the same groups always give the same JSON (and the same gate path)."""
    body: dict[str, Any] = model.fairness.model_dump(mode="json", exclude_none=True)
    for attribute, source in zip(
        body["protected_attributes"], model.fairness.protected_attributes, strict=True
    ):
        attribute["name"] = source.key
        attribute.setdefault("description", "")
    body["intersections"] = [list(names) for names in body["intersections"]]
    return body


def shipped_spec(config_model: Model, project: str) -> tuple[str, str]:
    """The spec as the pipeline ships it: an S3 key in the artifact bucket (content-addressed,
    so a change of groups changes the definition) and the body."""
    text = json.dumps(spec(config_model), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"fairness/{project}-{digest}.json", text


def write_spec(config_model: Model, project: str, folder: Path) -> tuple[str, Path]:
    """`shipped_spec` written to `folder`: the S3 key, and the local file."""
    key, text = shipped_spec(config_model, project)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(key).name
    path.write_text(text, encoding="utf-8")
    return key, path


def gate_path(model: Model, metric: str) -> str:
    """Where the fairness gate `metric` (disparate_impact, parity_difference) reads its value."""
    return evaluate.fairness_gate_path(metric, spec(model), model.cutoff)


def group_ids(model: Model) -> list[str]:
    """The ids of the configured attribute groups, as the evaluate step names them."""
    ids: list[str] = []
    for attribute in model.fairness.protected_attributes:
        if attribute.bins is None:
            ids.append(attribute.key)
        else:
            ids += [f"{attribute.key}[{b.label}]" for b in attribute.bins]
    return ids


def definitions(model: Model) -> list[tuple[str, str]]:
    """(attribute name, definition) of each protected attribute, in the evaluate step's words."""
    return [
        (a["name"], evaluate.attribute_definition(a)) for a in spec(model)["protected_attributes"]
    ]
