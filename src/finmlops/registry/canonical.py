"""The canonical JSON form of an audit record, so that a hash of it means the same everywhere.

This is RFC 8785 (JSON Canonicalization Scheme) for the values an audit record holds: objects,
arrays, strings, integers, booleans and null. The `rfc8785` package implements the whole RFC,
but the approval-event Lambda ships the `finmlops` package with the standard library and boto3
only (`finmlops_cdk.assets.package_code`), so the subset is written here and tested against
`rfc8785` as the oracle (tests/registry/test_audit_chain.py). Floats are refused rather than
serialised: the RFC's number form is ECMAScript's, and no record field is a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

# RFC 8785 section 3.2.2.3: numbers are IEEE-754 doubles, so integers beyond 2**53 lose digits.
_MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """A value that has no canonical form here (a float, a lone surrogate, an unknown type)."""


def canonical_json(value: object) -> bytes:
    """The RFC 8785 serialisation of `value`, UTF-8 encoded."""
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate (json.loads accepts "\\ud800") is not valid I-JSON (RFC 7493).
        raise CanonicalizationError(f"not valid Unicode: {exc.reason}") from None


def _write(value: object, parts: list[str]) -> None:
    if value is None or isinstance(value, bool):
        parts.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"integer {value} is outside the I-JSON range")
        parts.append(str(value))
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, Mapping):
        keys = list(value)
        if not all(isinstance(k, str) for k in keys):
            raise CanonicalizationError("object keys must be strings")
        # Section 3.2.3: members sorted by their names as UTF-16 code units (not code points:
        # the orders differ for characters beyond U+FFFF against U+E000..U+FFFF).
        keys.sort(key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        parts.append("{")
        for index, key in enumerate(keys):
            if index:
                parts.append(",")
            parts.append(_string(key))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise CanonicalizationError(f"{type(value).__name__} has no canonical form here")


def _string(text: str) -> str:
    # Section 3.2.2.2 escapes exactly what JSON.stringify does: '"', '\\', and the controls
    # U+0000..U+001F (\b \t \n \f \r by name, the rest as lower-case \\u00xx); everything else
    # is written as itself. json.dumps with ensure_ascii=False escapes the same set the same way.
    return json.dumps(text, ensure_ascii=False)
