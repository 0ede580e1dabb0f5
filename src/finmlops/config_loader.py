"""Reading a configuration file into plain data, with limits: PyYAML's SafeLoader, extended
through its own hooks (the composer and the constructor), never a parser of our own.

What plain `yaml.safe_load` lets through, and what this loader does instead:

- duplicate keys: YAML says keys are unique, PyYAML keeps the last one silently (`min_auc: 0.65`
  then `min_auc: 0.5` deploys 0.5). Here a duplicate anywhere is an error naming the key's
  path, its line and the first occurrence's line. Keys brought in by a merge key (`<<: *base`)
  may be overridden, as YAML's merge-key spec intends.
- aliases: PyYAML shares an aliased node, so a few KB of nested aliases (the "billion laughs")
  load in milliseconds but expand into billions of values in whatever walks the data next
  (JSON, validation). Here the composer counts the expanded size as it goes (each alias adds
  the size of the node it names) and stops at the alias that crosses `MAX_EXPANDED_NODES`, or
  at the alias after `MAX_ALIASES`. An alias to a node that contains it (a recursive
  structure) is refused at that alias.
- nesting deeper than `MAX_DEPTH` is refused before Python's recursion limit is reached.
- size: a file larger than `MAX_FILE_BYTES` is refused before it is parsed; non-UTF-8 bytes are
  refused with their line.

Every refusal is a `ConfigLoadError(field, reason)`: one line, with the line number in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The shipped config is 4.9 KB and 280 values (tests/config/test_loader.py checks a twentyfold
# margin at least); the limits stay well below what makes loading or validating slow.
MAX_FILE_BYTES = 256 * 1024
MAX_EXPANDED_NODES = 100_000
MAX_ALIASES = 100
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigLoadError(Exception):
    """A file that cannot be read as a configuration: `field` is the key path or `(file)`."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _line(mark: Any) -> int:
    return int(mark.line) + 1


class LimitedSafeLoader(yaml.SafeLoader):
    """SafeLoader with the limits of the module docstring; one document per file."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once the node is complete
        self._paths: dict[int, str] = {}  # id(mapping node) -> its key path, for messages
        self._path: list[str] = []
        self._expanded = 0
        self._aliases = 0
        self._depth = 0

    # -- composer: the node graph, with aliases still shared --------------------------------
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        segment = self._segment(parent, index)
        if segment is not None:
            self._path.append(segment)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                self._alias(event, target)
        else:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ConfigLoadError(
                    self._where(),
                    f"nested deeper than {MAX_DEPTH} levels at line {_line(event.start_mark)}",
                )
        node = super().compose_node(parent, index)
        if node is not None and not isinstance(event, yaml.AliasEvent):
            self._depth -= 1
            if isinstance(node, MappingNode):
                self._paths.setdefault(id(node), self._where())
            self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in _children(node))
            self._grow(1, f"line {_line(node.start_mark)}")
        if segment is not None:
            self._path.pop()
        return node

    def _alias(self, event: Any, target: Node) -> None:
        line = _line(event.start_mark)
        size = self._sizes.get(id(target))
        if size is None:
            # The anchor is registered when its node starts, so an alias inside it finds it
            # unfinished: the structure would contain itself.
            raise ConfigLoadError(
                self._where(),
                f"alias *{event.anchor} at line {line} refers to a node that contains it "
                "(a recursive structure)",
            )
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise ConfigLoadError(
                self._where(), f"more than {MAX_ALIASES} aliases (the last at line {line})"
            )
        self._grow(size, f"alias *{event.anchor} on line {line}")

    def _grow(self, size: int, where: str) -> None:
        self._expanded += size
        if self._expanded > MAX_EXPANDED_NODES:
            raise ConfigLoadError(
                self._where(),
                f"the document expands to more than {MAX_EXPANDED_NODES} values at {where} "
                "(an alias repeats all that its anchor names)",
            )

    def _segment(self, parent: Node | None, index: Any) -> str | None:
        if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            return str(index.value)
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            return f"[{index}]"
        return None

    def _where(self) -> str:
        text = ""
        path = self._path if len(self._path) <= 12 else [*self._path[:12], "[...]"]
        for segment in path:
            text += segment if segment.startswith("[") or not text else f".{segment}"
        return text or "(top level)"

    # -- constructor: Python values ----------------------------------------------------------
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first.get(key)
            except TypeError:
                continue  # unhashable: SafeConstructor refuses it with its own line
            line = _line(key_node.start_mark)
            if seen is not None:
                base = self._paths.get(id(node), "")
                field = f"{base}.{key}" if base and base != "(top level)" else str(key)
                raise ConfigLoadError(
                    field,
                    f"duplicate key {key!r} at line {line}; first at line {seen} "
                    "(YAML keeps only one: remove the other)",
                )
            first[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_text(file: Path) -> str:
    """The file's text: at most MAX_FILE_BYTES, UTF-8 (a byte-order mark is dropped)."""
    try:
        with file.open("rb") as handle:
            # Read one byte past the limit rather than trust the size the file system reports
            # (a FIFO or /dev/zero has none).
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigLoadError("(file)", f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigLoadError(
            "(file)", f"is larger than {MAX_FILE_BYTES // 1024} KiB: not a configuration file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigLoadError(
            "(file)", f"is not UTF-8: byte 0x{data[exc.start]:02x} at line {line}"
        ) from None


def load_yaml(text: str) -> Any:
    """Plain data from one YAML document, within the limits; raises ConfigLoadError."""
    loader: LimitedSafeLoader | None = None
    try:
        # The reader checks every character as it is built: inside the try.
        loader = LimitedSafeLoader(text)
        return loader.get_single_data()
    except ConfigLoadError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {_line(mark)}, column {mark.column + 1}: " if mark else ""
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigLoadError("(file)", f"is not valid YAML: {where}{what}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        character = exc.character if isinstance(exc.character, int) else 0
        raise ConfigLoadError(
            "(file)",
            f"is not valid YAML: line {line}: character #x{character:04x} is not allowed",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigLoadError("(file)", f"is not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "ConfigLoadError",
    "LimitedSafeLoader",
    "load_yaml",
    "read_text",
]
