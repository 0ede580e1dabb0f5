"""The synthesized templates the world is deployed from, read as CloudFormation would deploy them.

The demo synthesizes tooling and dev once (`synthesize`, the CDK app's `build_app`, without the
compliance packs: the templates are the same), and stage or prod each time a version is promoted
into it, from that promotion's manifest, as the promotion pipeline runs
`python -m finmlops_cdk.app --environment <env> --manifest manifest.json`. `Templates` keeps the
newest assembly of each environment and reads it with `finmlops.iam` (intrinsic functions and
pseudo parameters resolved, the same stand-ins for generated names every time), so the world
creates resources and decides requests from one reading of the templates, never a second
resolver.

Everything runs in moto's one account (the config's dev account, `EmbeddedAws.account`); the
templates name four. `Accounts` moves an ARN between the two: `local` turns a template's ARN of
any configured account into the ARN the resource has in moto, and `template_principal` turns the
principal moto authenticated back into the one the templates name (a role by its name, which is
unique across the environments because `finmlops.naming` puts the environment in it).
docs/emulator.md says what the one account changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finmlops.config import Config, Portfolio
from finmlops.contracts import DeploymentManifest
from finmlops.iam import Assembly, Platform, Role
from finmlops.iam.cloudformation import Stack


def synthesize(
    config: Config | Portfolio,
    out_dir: Path,
    environments: Sequence[str],
    manifest: DeploymentManifest | None = None,
    *,
    manifests: Sequence[DeploymentManifest] = (),
) -> Path:
    """`python -m finmlops_cdk.app --out DIR --environment E... [--manifest M]`, in-process
    (no compliance packs: they add no template content), for one model or a portfolio;
    `manifests` are the versions the other models serve there. Returns the assembly folder."""
    from finmlops_cdk.app import build_app

    build_app(
        config,
        outdir=str(out_dir),
        environments=list(environments),
        manifest=manifest,
        manifests=manifests,
        compliance=False,
    ).synth()
    return out_dir


@dataclass(frozen=True)
class Declared:
    """One resource of a template, its properties resolved as CloudFormation would pass them."""

    environment: str
    stack: Stack
    logical_id: str
    type: str
    properties: dict[str, Any]

    @property
    def component(self) -> str:
        return self.stack.component

    @property
    def key(self) -> tuple[str, str]:
        """(stack name, logical id): unique in the environment."""
        return (self.stack.stack_name, self.logical_id)


@dataclass
class Templates:
    """The newest synthesized assembly of each environment, and the IAM view of all of them."""

    config: Config
    folders: dict[str, Path] = field(default_factory=dict)  # environment -> its cdk.out
    _assemblies: dict[str, Assembly] = field(default_factory=dict)
    _platform: Platform | None = None

    def add(self, cdk_out: Path, environments: Sequence[str]) -> None:
        """Read `cdk_out` as the current templates of `environments` (replacing older ones)."""
        assembly = Assembly.load(cdk_out)
        present = {s.environment for s in assembly.stacks}
        missing = sorted(set(environments) - present)
        if missing:
            raise LookupError(f"{cdk_out}: no stacks for {', '.join(missing)}")
        for environment in environments:
            self.folders[environment] = cdk_out
            self._assemblies[environment] = assembly
        self._platform = None

    def folder(self, environment: str) -> Path:
        return self.folders[environment]

    def stacks(self, environment: str) -> list[Stack]:
        return [s for s in self._assemblies[environment].stacks if s.environment == environment]

    def resources(self, environment: str, kind: str | None = None) -> Iterator[Declared]:
        """Every resource of the environment (of one type), with resolved properties."""
        assembly = self._assemblies[environment]
        for stack in self.stacks(environment):
            for logical_id, resource in stack.resources(kind):
                properties = assembly.resolve(
                    stack, resource.get("Properties", {}), stack.where(logical_id)
                )
                yield Declared(environment, stack, logical_id, resource["Type"], properties or {})

    def attribute(self, declared: Declared, attribute: str) -> Any:
        """Ref (`"Ref"`) or Fn::GetAtt of a declared resource, as CloudFormation returns it."""
        assembly = self._assemblies[declared.environment]
        return assembly.attribute(
            declared.stack,
            declared.logical_id,
            attribute,
            declared.stack.where(declared.logical_id),
        )

    def one(self, environment: str, kind: str, component: str | None = None) -> Declared:
        found = [
            r
            for r in self.resources(environment, kind)
            if component is None or r.component == component
        ]
        if len(found) != 1:
            raise LookupError(
                f"{self.folders.get(environment)}: {len(found)} {kind} in {environment}"
                + (f"/{component}" if component else "")
                + ", expected one"
            )
        return found[0]

    @property
    def platform(self) -> Platform:
        """finmlops.iam over every environment's current templates (one Platform)."""
        if self._platform is None:
            roles: dict[str, Role] = {}
            resources = []
            distinct = {id(a): a for a in self._assemblies.values()}
            for assembly in distinct.values():
                loaded = Platform.load(assembly.root)
                # Only the environments this assembly is still the current one of.
                current = {e for e, a in self._assemblies.items() if a is assembly}
                roles.update({a: r for a, r in loaded.roles.items() if r.environment in current})
                resources += [r for r in loaded.resources if r.environment in current]
            first = next(iter(self._assemblies.values()))
            self._platform = Platform(first, roles, resources)
        return self._platform


_ARN_ACCOUNT = re.compile(r"(arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:)(\d{12})(:)")


@dataclass(frozen=True)
class Accounts:
    """The config's accounts and the one moto account the world runs in."""

    moto: str
    configured: frozenset[str]

    @classmethod
    def of(cls, config: Config) -> Accounts:
        envs = config.environments
        return cls(
            moto=envs.dev.account,
            configured=frozenset(
                e.account for e in (envs.tooling, envs.dev, envs.stage, envs.prod)
            ),
        )

    def local(self, value: Any) -> Any:
        """The value with every ARN of a configured account made an ARN of moto's account."""
        if isinstance(value, str):
            return _ARN_ACCOUNT.sub(
                lambda m: (
                    m.group(1)
                    + (self.moto if m.group(2) in self.configured else m.group(2))
                    + m.group(3)
                ),
                value,
            )
        if isinstance(value, list):
            return [self.local(v) for v in value]
        if isinstance(value, dict):
            return {k: self.local(v) for k, v in value.items()}
        return value

    def template_principal(self, platform: Platform, arn: str) -> str:
        """The principal the templates name for what moto authenticated: a role or a session
        of it in the role's own account; anything else as it is."""
        session = re.fullmatch(r"arn:(aws[a-z-]*):sts::\d{12}:assumed-role/([^/]+)/(.+)", arn)
        role = re.fullmatch(r"arn:(aws[a-z-]*):iam::\d{12}:role/(?:.*/)?([^/]+)", arn)
        match = session or role
        if match is None:
            return arn
        found = [r for r in platform.roles.values() if r.name == match.group(2)]
        if len(found) != 1:
            return arn
        return found[0].session_arn(match.group(3)) if session else found[0].arn
