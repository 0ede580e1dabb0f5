"""The one shape every project rule has: a pure check over a template, wrapped for cfn-lint.

Each check is a function `(template, stage) -> list[Finding]`; tests call it directly on small
templates and on the synthesized ones. `ProjectRule` turns it into a cfn-lint rule: cfn-lint hands
the rule the decoded template and its filename, the rule works out the stage from the cloud
assembly beside it (context.Stage) and reports each finding at its path in the template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from finmlops.governance.cfn_rules.context import Stage


@dataclass(frozen=True)
class Finding:
    """One broken rule: where (a path in the template), what (the message) and about what
    (`subject`: the principal, condition key, variable, service or name, for tests and reports)."""

    path: tuple[str | int, ...]
    message: str
    subject: str

    @property
    def logical_id(self) -> str:
        return str(self.path[1]) if len(self.path) > 1 else ""


Check = Callable[[Mapping[str, Any], Stage], list[Finding]]


def where(path: Sequence[str | int]) -> str:
    """A template path as the message shows it: Resources/X/Properties/A/0/B."""
    return "/".join(map(str, path))


class ProjectRule(CloudFormationLintRule):  # type: ignore[misc]  # cfn-lint ships no types
    """A cfn-lint rule around a pure check (subclasses set `check` and the rule's metadata)."""

    check: ClassVar[Check]

    def match(self, cfn: Any) -> list[RuleMatch]:
        stage = Stage.for_template(getattr(cfn, "filename", None), getattr(cfn, "regions", ()))
        template = getattr(cfn, "template", None)
        if not isinstance(template, Mapping):
            return []
        return [RuleMatch(list(f.path), f.message) for f in type(self).check(template, stage)]
