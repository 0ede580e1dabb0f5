"""The request context (condition keys and their values) and policy variables.

- Condition key names are case-insensitive; values are case-sensitive unless the operator says
  otherwise (IAM User Guide, "IAM JSON policy elements: Condition").
- A key holds one value or, for a multivalued key (`aws:TagKeys`, `kms:ResourceAliases`, ...),
  a list ("Single-valued vs. multivalued context keys"). A list given here is multivalued, even
  with one element.
- Policy variables (`${aws:username}`) are replaced by the key's value, only in policies whose
  Version is 2012-10-17 and only by single-valued keys; `${*}`, `${?}` and `${$}` stand for the
  literal characters; `${key, 'default'}` falls back to the default ("IAM policy elements:
  Variables and tags"). A variable that cannot be resolved makes the value match nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from finmlops.iam.wildcards import LITERAL_QUESTION, LITERAL_STAR

Scalar = Union[str, bool, int, float]  # noqa: UP007 - a runtime alias
ContextValue = Union[Scalar, Sequence[Scalar]]  # noqa: UP007


def scalar_text(value: object) -> str:
    """A policy or context value as IAM compares it: booleans as `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError(f"not a scalar condition value: {value!r}")


@dataclass(frozen=True)
class ContextEntry:
    values: tuple[str, ...]
    multivalued: bool


class RequestContext(Mapping[str, ContextEntry]):
    """Condition keys of one request, looked up case-insensitively."""

    def __init__(self, values: Mapping[str, ContextValue] | None = None):
        self._entries: dict[str, ContextEntry] = {}
        self._names: dict[str, str] = {}
        for key, value in (values or {}).items():
            self._set(key, value)

    def _set(self, key: str, value: ContextValue) -> None:
        if isinstance(value, str | bool | int | float):
            entry = ContextEntry((scalar_text(value),), multivalued=False)
        else:
            entry = ContextEntry(tuple(scalar_text(v) for v in value), multivalued=True)
        self._entries[key.lower()] = entry
        self._names[key.lower()] = key

    def with_values(self, values: Mapping[str, ContextValue]) -> RequestContext:
        """A copy with more keys (replacing those of the same name)."""
        merged = RequestContext()
        merged._entries = dict(self._entries)
        merged._names = dict(self._names)
        for key, value in values.items():
            merged._set(key, value)
        return merged

    def __getitem__(self, key: str) -> ContextEntry:
        return self._entries[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._entries

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._names[k] for k in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def single(self, key: str) -> str | None:
        """The value of a single-valued key; None when absent or multivalued."""
        entry = self._entries.get(key.lower())
        if entry is None or entry.multivalued:
            return None
        return entry.values[0]

    def as_dict(self) -> dict[str, str | list[str]]:
        return {
            self._names[k]: list(e.values) if e.multivalued else e.values[0]
            for k, e in self._entries.items()
        }


# ${key} or ${key, 'default'}; '' inside a default is one quote.
_VARIABLE = re.compile(r"\$\{\s*([^}',]+?)\s*(?:,\s*'((?:[^']|'')*)'\s*)?\}")
_SPECIAL = {"*": LITERAL_STAR, "?": LITERAL_QUESTION, "$": "$"}


@dataclass(frozen=True)
class Template:
    """A policy string with its variables located, parsed once."""

    parts: tuple[tuple[str, str, str | None], ...]  # (kind, text or key, default)
    has_variables: bool

    def render(self, context: RequestContext) -> str | None:
        """The string with variables replaced; None when one cannot be resolved.

        Characters that came from a variable or from `${*}`/`${?}` are literal (they never act
        as wildcards): they are returned as LITERAL_STAR/LITERAL_QUESTION."""
        if not self.has_variables:
            return self.parts[0][1] if self.parts else ""
        out: list[str] = []
        for kind, text, default in self.parts:
            if kind == "text":
                out.append(text)
            elif kind == "special":
                out.append(_SPECIAL[text])
            else:
                value = context.single(text)
                if value is None:
                    value = default
                if value is None:
                    return None
                out.append(value.replace("*", LITERAL_STAR).replace("?", LITERAL_QUESTION))
        return "".join(out)


@lru_cache(maxsize=16384)
def parse_template(value: str, variables: bool = True) -> Template:
    """Locate `${...}` variables in a policy string (only when the policy allows them)."""
    if not variables or "${" not in value:
        return Template((("text", value, None),), has_variables=False)
    parts: list[tuple[str, str, str | None]] = []
    position = 0
    for match in _VARIABLE.finditer(value):
        if match.start() > position:
            parts.append(("text", value[position : match.start()], None))
        name = match.group(1)
        default = match.group(2)
        if name in _SPECIAL and default is None:
            parts.append(("special", name, None))
        else:
            parts.append(
                ("variable", name, default.replace("''", "'") if default is not None else None)
            )
        position = match.end()
    if position < len(value):
        parts.append(("text", value[position:], None))
    return Template(tuple(parts), has_variables=True)
