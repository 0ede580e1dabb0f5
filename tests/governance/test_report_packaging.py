"""The reports render where they run: their templates ship with the package, and the project
image (the evidence step, the drift job) installs the libraries they import, at the lock's pins."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "src" / "finmlops" / "reports"


def _imported_roots() -> set[str]:
    roots: set[str] = set()
    for path in REPORTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots.add(node.module.split(".")[0])
    return roots - set(sys.stdlib_module_names) - {"__future__", "finmlops"}


def test_the_project_image_and_the_package_install_what_the_reports_import() -> None:
    imported = _imported_roots()
    assert imported == {"jinja2", "markupsafe", "matplotlib"}
    image = {
        line.strip().lower()
        for line in (ROOT / "docker" / "monitoring" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert imported <= image
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = {re.split(r"==", d)[0].lower(): d for d in project["project"]["dependencies"]}
    lock = (ROOT / "requirements.lock").read_text().lower()
    for name in imported:
        assert "==" in pinned[name], f"{name} is not pinned exactly in pyproject.toml"
        assert pinned[name].lower() in lock, f"{pinned[name]} differs from requirements.lock"


def test_the_templates_ship_as_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["finmlops.reports"]
    templates = sorted(p.relative_to(REPORTS) for p in (REPORTS / "templates").iterdir())
    assert templates, "no templates"
    assert all(any(t.match(p) for p in patterns) for t in templates)
