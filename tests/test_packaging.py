"""Everything imports after the install, with no sys.path tricks, and nothing is left unpackaged."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_folder_is_a_listed_package() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.parent.relative_to(ROOT / "src").parts)
        for path in (ROOT / "src").rglob("*")
        if path.suffix in {".py", ".csv"} and "__pycache__" not in path.parts
    }
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {sorted(found - listed)}"
    for folder in ("cdk", "pipelines"):
        assert not [
            p for p in (ROOT / folder).iterdir() if p.is_dir() and p.name != "__pycache__"
        ], f"{folder}/ is installed as one flat package"


def test_cdk_and_pipelines_install_under_names_that_cannot_shadow_aws_cdk() -> None:
    import finmlops_cdk
    import finmlops_pipelines

    assert Path(finmlops_cdk.__file__).parent == ROOT / "cdk"
    assert Path(finmlops_pipelines.__file__).parent == ROOT / "pipelines"


def test_ci_entry_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
