"""The deployed pipeline definition against the one synthesized into the template's `Fn::Sub`.

CloudFormation fills each `${Name}` slot of the body (AWS CloudFormation User Guide, "Fn::Sub":
`${Name}` is a variable of the map or a pseudo parameter, `${!Literal}` is the literal
`${Literal}`), and SageMaker stores the filled JSON (DescribePipeline returns it as
`PipelineDefinition`). Rather than resolve the slots (their values are stack outputs and
attributes known only after deploy), each slot is matched to the text at its place in the
deployed definition, and every occurrence of a slot must be matched by one and the same value.
Both sides are parsed as JSON, so spacing and key order do not count; everything outside the
slots must be equal.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SLOT = re.compile(r"\$\{(!?)([^}]+)\}")


@dataclass
class DefinitionMatch:
    """Slot values found in the deployed definition, and where it differs from the template."""

    bindings: dict[str, str] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences


def _pattern(
    template: str, bound: Mapping[str, str] | None = None
) -> tuple[re.Pattern[str], list[str]]:
    """A regex for one templated string: literal text, a bound slot as its value, and one group
    per other slot (a slot repeated in the string must repeat its text)."""
    bound = bound or {}
    parts: list[str] = []
    slots: list[str] = []
    position = 0
    for match in _SLOT.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name = match.group(2)
        if match.group(1):  # ${!Literal}: Fn::Sub writes `${Literal}`
            parts.append(re.escape("${" + name + "}"))
        elif name in bound:
            parts.append(re.escape(bound[name]))
        elif name in slots:
            parts.append(f"(?P=s{slots.index(name)})")
        else:
            parts.append(f"(?P<s{len(slots)}>.*?)")
            slots.append(name)
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts), re.DOTALL), slots


def _has_slot(text: str) -> bool:
    return any(not m.group(1) for m in _SLOT.finditer(text))


class _Matcher:
    def __init__(self, fixed: Mapping[str, str]):
        self.result = DefinitionMatch(bindings=dict(fixed))
        self.pending: list[tuple[str, str, str]] = []  # (path, template, deployed)

    def differ(self, path: str, message: str) -> None:
        if len(self.result.differences) < 20:
            self.result.differences.append(f"{path or '(root)'}: {message}")

    def walk(self, path: str, want: Any, have: Any) -> None:
        if isinstance(want, dict):
            self._walk_object(path, want, have)
        elif isinstance(want, list):
            self._walk_list(path, want, have)
        elif isinstance(want, str) and _has_slot(want):
            if not isinstance(have, str):
                self.differ(path, f"text with slots in the template, {have!r} deployed")
            else:
                self.pending.append((path, want, have))
        else:
            literal = (
                _SLOT.sub(lambda m: "${" + m.group(2) + "}", want)
                if isinstance(want, str)
                else want
            )
            if literal != have or type(literal) is not type(have):
                self.differ(path, f"{have!r} deployed, {literal!r} in the template")

    def _walk_object(self, path: str, want: dict[str, Any], have: Any) -> None:
        if not isinstance(have, dict):
            self.differ(path, f"an object in the template, {type(have).__name__} deployed")
            return
        for key in sorted(set(want) | set(have), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in have:
                self.differ(where, "in the template, not deployed")
            elif key not in want:
                self.differ(where, "deployed, not in the template")
            else:
                self.walk(where, want[key], have[key])

    def _walk_list(self, path: str, want: list[Any], have: Any) -> None:
        if not isinstance(have, list):
            self.differ(path, f"a list in the template, {type(have).__name__} deployed")
            return
        if len(want) != len(have):
            self.differ(path, f"{len(want)} items in the template, {len(have)} deployed")
        for index, (w, h) in enumerate(zip(want, have, strict=False)):
            self.walk(f"{path}[{index}]", w, h)

    def bind(self) -> None:
        # Each slot takes the value most of its occurrences show (the template's own value for
        # a slot the Fn::Sub map states), then every occurrence must show exactly that value:
        # one drifted occurrence is named, not taken for the truth.
        seen: dict[str, Counter[str]] = {}
        for _, template, deployed in self.pending:
            pattern, slots = _pattern(template)
            match = pattern.fullmatch(deployed)
            if match is not None:
                for index, slot in enumerate(slots):
                    seen.setdefault(slot, Counter())[match.group(f"s{index}")] += 1
        bound = self.result.bindings
        for slot, counts in seen.items():
            bound.setdefault(slot, counts.most_common(1)[0][0])
        for path, template, deployed in self.pending:
            if _pattern(template, bound)[0].fullmatch(deployed):
                continue
            free_pattern, names = _pattern(template)
            found = free_pattern.fullmatch(deployed)
            if found is None:
                self.differ(path, f"{deployed!r} deployed does not fit {template!r}")
                continue
            clashes = [
                f"${{{name}}} is {found.group(f's{i}')!r} here but {bound[name]!r} elsewhere"
                for i, name in enumerate(names)
                if name in bound and found.group(f"s{i}") != bound[name]
            ]
            self.differ(path, "; ".join(clashes) or f"{deployed!r} does not fit {template!r}")


def match_definition(
    template_body: str, deployed: str, fixed: Mapping[str, str] | None = None
) -> DefinitionMatch:
    """Match a deployed definition (JSON text) to the template body with `${...}` slots.

    `fixed` gives slots whose value the template states (the literal entries of the Fn::Sub
    map): they must appear with exactly that value. Unparseable text is a difference."""
    matcher = _Matcher(fixed or {})
    try:
        want = json.loads(template_body)
    except json.JSONDecodeError as exc:
        matcher.differ("template", f"the synthesized body is not JSON: {exc}")
        return matcher.result
    try:
        have = json.loads(deployed)
    except json.JSONDecodeError as exc:
        matcher.differ("deployed", f"the deployed definition is not JSON: {exc}")
        return matcher.result
    matcher.walk("", want, have)
    matcher.bind()
    return matcher.result
