"""The synthesized templates verify compares a deployment with: the cloud assembly `make synth`
writes (`cdk.out/assembly-<environment>/`), read for one environment of one config.

A missing assembly, a missing environment, or one synthesized for other accounts or from an
older config file is refused, naming what to run: verify must compare with what would be
deployed now, not with what was synthesized some time ago.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finmlops.config import Config

SYNTH_HINT = "run `make synth` (or `python -m finmlops_cdk.app --out DIR --config FILE`)"


class AssemblyError(Exception):
    """The assembly cannot be used; the message names the file and what to run."""


@dataclass(frozen=True)
class SynthesizedResource:
    component: str  # the stack's component: Data, Network, ModelBuild, Endpoint, Monitoring, ...
    logical_id: str
    type: str
    properties: dict[str, Any]


@dataclass
class Assembly:
    """One environment's synthesized stacks, by component."""

    environment: str
    folder: Path
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resources(self, kind: str, component: str | None = None) -> Iterator[SynthesizedResource]:
        for name, template in sorted(self.templates.items()):
            if component is not None and name != component:
                continue
            for logical_id, resource in sorted(template.get("Resources", {}).items()):
                if resource.get("Type") == kind:
                    yield SynthesizedResource(
                        name, logical_id, kind, dict(resource.get("Properties", {}))
                    )

    def one(self, kind: str, component: str | None = None) -> SynthesizedResource | None:
        found = list(self.resources(kind, component))
        return found[0] if len(found) == 1 else None


def load_assembly(
    cdk_out: Path, config: Config, environment: str, config_path: Path | None = None
) -> Assembly:
    """The environment's templates from `cdk_out`; AssemblyError when missing or stale."""
    folder = cdk_out / f"assembly-{environment}"
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        what = "no cloud assembly" if not cdk_out.is_dir() else f"no {environment} stage"
        raise AssemblyError(
            f"--cdk-out {cdk_out}: {what} ({manifest_path} is missing): {SYNTH_HINT}"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AssemblyError(f"{manifest_path}: unreadable ({exc}): {SYNTH_HINT}") from None
    if (
        config_path is not None
        and config_path.is_file()
        and config_path.stat().st_mtime > manifest_path.stat().st_mtime
    ):
        raise AssemblyError(
            f"{manifest_path} is older than {config_path}: the templates may not be those "
            f"of this config; {SYNTH_HINT}"
        )
    env = config.environments.by_name(environment)
    expected = f"aws://{env.account}/{env.region}"
    assembly = Assembly(environment=environment, folder=folder)
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if artifact.get("environment") != expected:
            raise AssemblyError(
                f"{manifest_path}: stack {artifact.get('displayName')} was synthesized for "
                f"{artifact.get('environment')}, the config says {expected}: {SYNTH_HINT}"
            )
        # `<env>/<Stack>` is the platform's, `<env>/<model>/<Stack>` a model's own (ADR 0033):
        # the platform's and this model's are checked, never another model's.
        path = str(artifact.get("displayName", "")).split(" ")[0].split("/")
        if len(path) > 2 and path[1] != config.model.name:
            continue
        component = path[-1]
        template_file = folder / artifact["properties"]["templateFile"]
        try:
            assembly.templates[component] = json.loads(template_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AssemblyError(f"{template_file}: unreadable ({exc}): {SYNTH_HINT}") from None
    if not assembly.templates:
        raise AssemblyError(f"{manifest_path}: no stacks in the {environment} stage: {SYNTH_HINT}")
    return assembly
