"""The control map (docs/compliance.md) names only tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def test_every_test_the_control_map_names_exists() -> None:
    text = (ROOT / "docs" / "compliance.md").read_text()
    references = REFERENCE.findall(text)
    assert len(references) > 30
    missing = []
    for path, name in references:
        source = ROOT / path
        tree = (
            ast.parse(source.read_text())
            if source.exists()
            else ast.Module(body=[], type_ignores=[])
        )
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_control_map_covers_every_sr_11_7_element() -> None:
    text = (ROOT / "docs" / "compliance.md").read_text()
    for element in (
        "Model inventory", "Development documentation", "Independent validation", "Approval",
        "Ongoing monitoring", "Outcomes analysis", "Change control",
    ):  # fmt: skip
        assert f"| {element} |" in text, element


def _regulatory_map() -> list[dict[str, object]]:
    import yaml

    data = yaml.safe_load((ROOT / "compliance" / "regulatory-map.yaml").read_text())
    return [r for f in data["frameworks"] for r in f["requirements"]]


def test_the_machine_readable_map_and_the_doc_say_the_same() -> None:
    """compliance/regulatory-map.yaml and docs/compliance.md: one row per requirement id, naming
    the same tests, and no row in the doc's tables that the map lacks."""
    text = (ROOT / "docs" / "compliance.md").read_text()
    rows = {
        line.split("|")[1].strip(): line
        for line in text.splitlines()
        if re.match(r"^\| [A-Z0-9]+(-[A-Z0-9]+)+ \|", line)
    }
    requirements = _regulatory_map()
    assert sorted(rows) == sorted(str(r["id"]) for r in requirements)
    for requirement in requirements:
        row = rows[str(requirement["id"])]
        named = set(REFERENCE.findall(row))
        listed = {tuple(str(t).split("::")) for t in requirement["tests"]}  # type: ignore[attr-defined]
        assert named == listed, requirement["id"]
        assert requirement["bank"], f"{requirement['id']}: say what is left to the bank"


def test_the_doc_names_sr_26_2_as_the_us_frame_and_sr_11_7_only_as_superseded() -> None:
    text = (ROOT / "docs" / "compliance.md").read_text()
    assert "SR 26-2" in text.splitlines()[0]
    for line in text.splitlines():
        if "SR 11-7" in line:
            assert "supersed" in line, line
