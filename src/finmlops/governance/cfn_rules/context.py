"""What a rule knows besides the template: the stage's account and region, and its sibling templates.

CDK writes each stage to `assembly-<env>/` with a `manifest.json` whose stack artifacts carry
`environment: aws://<account>/<region>`. A rule that needs the account (principal normalisation,
name lengths) or another stack of the same stage (VPC endpoints live in the network stack) reads
them from there, by the template's filename that cfn-lint hands the rule. A template outside a
cloud assembly (the tests' small templates) has no account: `${AWS::AccountId}` stays a symbol.

Values are resolved where they are literal: `Ref` to a pseudo parameter, `Fn::Sub` and `Fn::Join`
of literal pieces. Anything else (a `Ref` to a resource, `Fn::GetAtt`, `Fn::GetStackOutput`) is an
opaque piece: equal intrinsics render equal, and a length counts only what is known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_GLOB = "*.template.json"
ACCOUNT_ID_LENGTH = 12  # an AWS account id is always 12 digits
_SUB_SLOT = re.compile(r"\$\{([^}]*)\}")
_ENVIRONMENT = re.compile(r"^aws://(\d{12}|unknown-account)/([a-z0-9-]+|unknown-region)$")


def partition_of(region: str) -> str:
    """The partition a region belongs to (ARNs and principals name it)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


@dataclass(frozen=True)
class Opaque:
    """A piece of a value that is not literal in the template."""

    label: str
    length: int = 0  # the characters it is known to have (an account id has 12)


Piece = str | Opaque


@dataclass(frozen=True)
class Rendered:
    """A value as literal text where possible, opaque pieces where not."""

    pieces: tuple[Piece, ...]

    @property
    def text(self) -> str:
        """The value with each opaque piece as `{label}` (equal intrinsics give equal text)."""
        return "".join(p if isinstance(p, str) else "{" + p.label + "}" for p in self.pieces)

    @property
    def literal(self) -> str | None:
        if all(isinstance(p, str) for p in self.pieces):
            return "".join(p for p in self.pieces if isinstance(p, str))
        return None

    @property
    def known_length(self) -> int:
        """A lower bound of the deployed value's length."""
        return sum(len(p) if isinstance(p, str) else p.length for p in self.pieces)

    @property
    def complete(self) -> bool:
        return self.literal is not None


@dataclass(frozen=True)
class Stage:
    """The deployment a template belongs to."""

    region: str
    account: str | None = None
    template_file: Path | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    @classmethod
    def for_template(cls, filename: str | None, regions: Sequence[str] = ()) -> Stage:
        """The stage of a template file: account and region from the assembly's manifest, else
        the first region cfn-lint was given (us-east-1 by default) and no account."""
        default_region = regions[0] if regions else "us-east-1"
        if not filename:
            return cls(region=default_region)
        path = Path(filename).resolve()
        account, region = _manifest_environment(path)
        return cls(region=region or default_region, account=account, template_file=path)

    def siblings(self) -> list[tuple[Path, Mapping[str, Any]]]:
        """Every template of the same cloud-assembly folder (this one included), parsed."""
        if self.template_file is None:
            return []
        folder = self.template_file.parent
        return [(path, _read_template(str(path), _mtime(path))) for path in _templates_in(folder)]

    # --- resolution ------------------------------------------------------------------------------

    def render(self, value: Any, variables: Mapping[str, Any] | None = None) -> Rendered:
        return Rendered(tuple(_merge(self._pieces(value, variables or {}))))

    def literal(self, value: Any, variables: Mapping[str, Any] | None = None) -> str | None:
        return self.render(value, variables).literal

    def _pseudo(self, name: str) -> Piece | None:
        if name == "AWS::AccountId":
            return self.account or Opaque("AWS::AccountId", ACCOUNT_ID_LENGTH)
        if name == "AWS::Region":
            return self.region
        if name == "AWS::Partition":
            return self.partition
        if name == "AWS::URLSuffix":
            return self.url_suffix
        if name.startswith("AWS::"):
            return Opaque(name)
        return None

    def _pieces(self, value: Any, variables: Mapping[str, Any]) -> Iterator[Piece]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, bool):
            yield "true" if value else "false"
        elif isinstance(value, int | float):
            yield str(value)
        elif isinstance(value, Mapping) and len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref" and isinstance(argument, str):
                yield self._pseudo(argument) or Opaque(f"Ref:{argument}")
            elif name == "Fn::Sub":
                yield from self._sub(argument)
            elif name == "Fn::Join" and _is_join(argument):
                separator, parts = argument
                for index, part in enumerate(parts):
                    if index:
                        yield separator
                    yield from self._pieces(part, variables)
            elif name == "Fn::GetAtt":
                attribute = argument if isinstance(argument, str) else ".".join(map(str, argument))
                yield Opaque(f"GetAtt:{attribute}")
            else:
                yield Opaque(json.dumps(value, sort_keys=True, default=str))
        else:
            yield Opaque(json.dumps(value, sort_keys=True, default=str))

    def _sub(self, argument: Any) -> Iterator[Piece]:
        local: Mapping[str, Any] = {}
        if isinstance(argument, str):
            text = argument
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text = argument[0]
            local = argument[1] if isinstance(argument[1], Mapping) else {}
        else:
            yield Opaque(json.dumps({"Fn::Sub": argument}, sort_keys=True, default=str))
            return
        position = 0
        for slot in _SUB_SLOT.finditer(text):
            yield text[position : slot.start()]
            position = slot.end()
            name = slot.group(1)
            if name.startswith("!"):  # ${!Literal} writes ${Literal}
                yield "${" + name[1:] + "}"
            elif name in local:
                yield from self._pieces(local[name], {})
            elif (pseudo := self._pseudo(name)) is not None:
                yield pseudo
            elif "." in name:
                yield Opaque(f"GetAtt:{name}")
            else:
                yield Opaque(f"Ref:{name}")
        yield text[position:]


def _is_join(argument: Any) -> bool:
    return (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], list)
    )


def _merge(pieces: Iterator[Piece]) -> Iterator[Piece]:
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        if text:
            yield text
            text = ""
        yield piece
    if text:
        yield text


# --- the cloud assembly ------------------------------------------------------------------------


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _templates_in(folder: Path) -> list[Path]:
    return sorted(folder.glob(TEMPLATE_GLOB))


@lru_cache(maxsize=256)
def _read_template(path: str, _mtime: float) -> Mapping[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


@lru_cache(maxsize=64)
def _read_manifest(path: str, _mtime: float) -> Mapping[str, Any]:
    return _read_template(path, _mtime)


def _manifest_environment(template: Path) -> tuple[str | None, str | None]:
    manifest_path = template.parent / "manifest.json"
    if not manifest_path.is_file():
        return None, None
    manifest = _read_manifest(str(manifest_path), _mtime(manifest_path))
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, Mapping):
        return None, None
    for artifact in artifacts.values():
        if not isinstance(artifact, Mapping):
            continue
        properties = artifact.get("properties")
        if not isinstance(properties, Mapping):
            continue
        if properties.get("templateFile") != template.name:
            continue
        found = _ENVIRONMENT.match(str(artifact.get("environment", "")))
        if not found:
            return None, None
        account, region = found.groups()
        return (
            None if account == "unknown-account" else account,
            None if region == "unknown-region" else region,
        )
    return None, None


@dataclass
class Resources:
    """The resources of a template, by type (a small index several rules share)."""

    template: Mapping[str, Any]
    by_type: dict[str, list[tuple[str, Mapping[str, Any]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        resources = self.template.get("Resources")
        if not isinstance(resources, Mapping):
            return
        for logical_id, resource in resources.items():
            if not isinstance(resource, Mapping):
                continue
            properties = resource.get("Properties")
            if not isinstance(properties, Mapping):
                properties = {}
            kind = str(resource.get("Type", ""))
            self.by_type.setdefault(kind, []).append((str(logical_id), properties))

    def of(self, *kinds: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(type, logical id, properties) of every resource of the given types."""
        for kind in kinds:
            for logical_id, properties in self.by_type.get(kind, []):
                yield kind, logical_id, properties

    def properties(self, logical_id: str) -> Mapping[str, Any] | None:
        for resources in self.by_type.values():
            for candidate, properties in resources:
                if candidate == logical_id:
                    return properties
        return None
