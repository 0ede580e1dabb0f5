"""E9101: a statement of a resource or trust policy names each principal once.

AWS rule: SageMaker rejects a model package group policy that lists the same principal twice
("Invalid policy provided: Duplicate principal"), as it happens when two stages' account ids are
the same account or an account appears both as its id and as `arn:<partition>:iam::<id>:root`.
Source: awslabs/aiops-modules PR #397 (ModelPackageGroupPolicy, 2026-01-23) and PR #402 (the same
error from KMS key and S3 bucket policies, 2026-01-26). SQS, SNS, EventBridge and IAM trust
policies use the same grammar; for those the rule keeps the policy free of a principal that
reads as two.

Principals are compared after normalisation: an account id and the account's root ARN are one
principal, service principals compare without case, and literal Fn::Sub/Fn::Join pieces and
pseudo parameters are resolved with the stage's account and region (context.Stage).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import Stage
from finmlops.governance.cfn_rules.policies import as_list, statements

SOURCE = "awslabs/aiops-modules PR #397 and #402 (SageMaker, KMS and S3 reject it)"
_ACCOUNT = re.compile(r"^(\d{12}|\{AWS::AccountId\})$")
_ROOT = re.compile(r"^arn:[a-z-]+:iam::(\d{12}|\{AWS::AccountId\}):root$")


def normalise(kind: str, text: str, stage: Stage) -> str:
    """The principal a policy entry names, in one canonical spelling."""
    if kind == "AWS":
        if _ACCOUNT.match(text):
            return f"arn:{stage.partition}:iam::{text}:root"
        root = _ROOT.match(text)
        if root:
            return f"arn:{stage.partition}:iam::{root.group(1)}:root"
        return text
    if kind == "Service":
        return text.lower()
    return text


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    for statement in statements(template, "resource", "trust"):
        principal = statement.body.get("Principal")
        if not isinstance(principal, Mapping):
            continue  # "*" names everyone once
        for kind, values in principal.items():
            seen: dict[str, tuple[int, str]] = {}
            for index, value in enumerate(as_list(values)):
                text = stage.render(value).text
                canonical = normalise(str(kind), text, stage)
                if canonical not in seen:
                    seen[canonical] = (index, text)
                    continue
                first_index, first_text = seen[canonical]
                path = (*statement.path, "Principal", kind, index)
                same = "" if first_text == text else f" (written {first_text!r} there)"
                findings.append(
                    Finding(
                        path,
                        f"{statement.logical_id} ({statement.resource_type}) {where(path)}: "
                        f"principal {text!r} is already named at index {first_index} of the same "
                        f"statement{statement.sid}{same}. AWS rule: a resource policy must not "
                        f"list the same principal twice; SageMaker rejects it with 'Invalid "
                        f"policy provided: Duplicate principal'. Source: {SOURCE}.",
                        canonical,
                    )
                )
    return findings


class UniquePrincipals(ProjectRule):
    id = "E9101"
    shortdesc = "Each principal once per policy statement"
    description = (
        "A resource or trust policy statement names each principal once, after normalising "
        "account ids and root ARNs; SageMaker rejects duplicates ('Duplicate principal')."
    )
    source_url = "https://github.com/awslabs/aiops-modules/pull/397"
    tags: ClassVar[list[str]] = ["iam", "policy", "principal", "finmlops"]
    check: ClassVar[Check] = check
