"""AWS's rules (cfn-lint rules E9101-E9106) over every synthesized template of every stage.

The test asserts the exact findings on today's templates, each listed with why it is expected:
a new finding fails here, and so does a fixed one until its line is removed (the lead removes
them as the fixes of issue 13 merge). The rules run as pure checks with the stage read from the
cloud assembly (account, region, sibling templates), exactly as cfn-lint runs them in `make scan`;
one test runs them through cfn-lint's own runner on the same files and compares.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from finmlops.governance.cfn_rules import RULES
from finmlops.governance.cfn_rules.context import Stage

# (assembly, environment, stack, rule, resource type, subject) -> count, with the reason.
# None today: ws/seams fixed E9103-E9105, ws/cdk-iam the dev group policy's duplicate principals
# (E9101), the guardrail on sagemaker:VolumeKmsKey and s3:prefix on GetBucketLocation (E9102).
EXPECTED_TODAY: dict[tuple[str, str, str, str, str, str], tuple[int, str]] = {}


def _expect(count: int, reason: str, *key: str) -> None:
    """List a finding expected today, with why (none at the moment)."""
    EXPECTED_TODAY[key] = (count, reason)  # type: ignore[index]


def _component(template: Path) -> str:
    """The stack's name within its stage ("Data", "ModelBuild"), from the assembly's manifest."""
    manifest = json.loads((template.parent / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        if artifact.get("properties", {}).get("templateFile") == template.name:
            return str(artifact["displayName"].split(" ")[0].split("/")[-1])
    raise AssertionError(f"{template} is not in its manifest")


def findings(label: str, synth: Any) -> Counter[tuple[str, str, str, str, str, str]]:
    found: Counter[tuple[str, str, str, str, str, str]] = Counter()
    for path in synth.template_files():
        template = json.loads(path.read_text())
        stage = Stage.for_template(str(path))
        environment = path.parent.name.removeprefix("assembly-")
        assert stage.account is not None, f"{path}: no account in the manifest"
        for rule in RULES:
            for finding in rule.check(template, stage):
                kind = template["Resources"][finding.logical_id]["Type"]
                found[(label, environment, _component(path), rule.id, kind, finding.subject)] += 1
    return found


def test_every_synthesized_template_breaks_only_the_rules_listed_for_today(
    platform: Any, variant: Any
) -> None:
    found = findings("platform", platform) + findings("variant", variant)
    expected = Counter({key: count for key, (count, _reason) in EXPECTED_TODAY.items()})
    new = sorted((found - expected).elements())
    fixed = sorted((expected - found).elements())
    assert not new, "new findings (fix the template, or list them with a reason):\n" + "\n".join(
        map(str, new)
    )
    assert not fixed, "fixed findings: remove their lines from EXPECTED_TODAY:\n" + "\n".join(
        map(str, fixed)
    )


def _broken_copy(platform: Any, folder: Path) -> Path:
    """dev's assembly with one finding planted (the group policy names an account twice), so the
    comparison has something to compare now that today's templates break no rule."""
    import shutil

    copy = folder / "assembly-dev"
    shutil.copytree(platform.outdir / "assembly-dev", copy)
    for path in copy.glob("*.template.json"):
        template = json.loads(path.read_text())
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::SageMaker::ModelPackageGroup":
                principal = resource["Properties"]["ModelPackageGroupPolicy"]["Statement"][0]
                accounts = principal["Principal"]["AWS"]
                principal["Principal"]["AWS"] = [*accounts, accounts[0]]
                path.write_text(json.dumps(template))
                return path
    raise AssertionError("no model package group in dev")


def test_cfn_lint_reports_the_same_findings_through_its_own_runner(
    platform: Any, tmp_path: Path
) -> None:
    from cfnlint.config import ConfigMixIn
    from cfnlint.rules import Rules
    from cfnlint.runner.template.runner import run_template_by_file_path

    rules = Rules.create_from_module("finmlops.governance.cfn_rules")
    config = ConfigMixIn(["--regions", "us-east-1"])
    compared = 0
    for path in [*platform.template_files(), _broken_copy(platform, tmp_path)]:
        template = json.loads(path.read_text())
        stage = Stage.for_template(str(path))
        ours = sorted(
            (r.id, "/".join(map(str, f.path))) for r in RULES for f in r.check(template, stage)
        )
        matches = run_template_by_file_path(str(path), config, rules, ignore_bad_template=False)
        theirs = sorted(
            (m.rule.id, "/".join(map(str, m.path))) for m in matches if m.rule.id.startswith("E91")
        )
        assert theirs == ours, path.name
        compared += len(ours)
    assert compared, "no finding to compare: the comparison proved nothing"
