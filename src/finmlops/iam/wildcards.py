"""IAM's wildcard matching: `*` and `?` in actions, resources, ARNs and StringLike values.

Rules (IAM User Guide, "IAM JSON policy elements: Action", "...: Resource", "Condition
operators", ARN section):
- Action: case-insensitive; `*` any run of characters, `?` one character.
- Resource and ARN conditions: case-sensitive; the six colon-separated parts of an ARN
  (`arn:partition:service:region:account:resource`) are matched one by one, and the resource
  part as a whole (it may itself contain colons, e.g. `log-group:/aws/x:*`).
- StringLike: case-sensitive, the whole string.

A literal `*` or `?` that must not act as a wildcard (the policy variables `${*}` and `${?}`,
or characters substituted from a policy variable's value) is carried as LITERAL_STAR /
LITERAL_QUESTION, two private-use characters no AWS name contains.
"""

from __future__ import annotations

import re
from functools import lru_cache

LITERAL_STAR = "\ue000"
LITERAL_QUESTION = "\ue001"


@lru_cache(maxsize=8192)
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A compiled regex for an IAM glob (the whole string must match)."""
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == LITERAL_STAR:
            parts.append(re.escape("*"))
        elif char == LITERAL_QUESTION:
            parts.append(re.escape("?"))
        else:
            parts.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return glob_regex(pattern, ignore_case).fullmatch(value) is not None


def literal(pattern: str) -> str:
    """The text of a pattern read without wildcards (for StringEquals and friends)."""
    return pattern.replace(LITERAL_STAR, "*").replace(LITERAL_QUESTION, "?")


def action_matches(pattern: str, action: str) -> bool:
    """`sagemaker:Update*` against `sagemaker:UpdateModelPackage`, case-insensitively."""
    return glob_match(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """An ARN pattern against an ARN, part by part; `*` alone matches every resource.

    A pattern or value that is not a six-part ARN is matched as one string (e.g. `*`, or the
    names some services accept in place of an ARN)."""
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    value_parts = arn.split(":", 5)
    if len(value_parts) != 6:
        return glob_match(pattern, arn)
    if len(pattern_parts) < 6:
        # Fewer parts: only a `*` that ends the last one reaches across the remaining colons
        # ("If the * wildcard is the last character of a resource ARN segment, it can expand
        # to match beyond the colon boundaries", IAM JSON policy elements: Resource).
        count = len(pattern_parts)
        if not pattern_parts[-1].endswith("*"):
            return False
        head = zip(pattern_parts[:-1], value_parts[: count - 1], strict=True)
        rest = ":".join(value_parts[count - 1 :])
        return all(glob_match(p, v) for p, v in head) and glob_match(pattern_parts[-1], rest)
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))
