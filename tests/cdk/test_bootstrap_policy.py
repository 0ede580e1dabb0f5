"""The CloudFormation execution policy shipped for `cdk bootstrap` (issue 13): generated from each
environment's synthesized templates, covering every resource type, nothing wildcarded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ENVIRONMENTS = ("tooling", "dev", "stage", "prod")


def _actions(documents: list[dict[str, Any]]) -> set[str]:
    return {a for d in documents for s in d["Statement"] for a in s["Action"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_resource_type_of_the_environment_is_covered(platform: Any, env: str) -> None:
    from finmlops_cdk.bootstrap_policy import coverage, policies_for, resource_types, templates_of

    documents = policies_for(platform.outdir, env, "us-east-1")
    granted = _actions(documents)
    kinds = resource_types(templates_of(platform.outdir, env))
    assert "AWS::IAM::Role" in kinds and len(kinds) > 15
    for kind, needed in coverage(kinds, "us-east-1").items():
        assert needed <= granted, (kind, sorted(needed - granted))


def test_the_variant_environments_are_covered_too(variant: Any) -> None:
    """Model Monitor schedules, retraining rules, a connection source: other resource types."""
    from finmlops_cdk.bootstrap_policy import coverage, policies_for, resource_types, templates_of

    for env in variant.stages:
        granted = _actions(policies_for(variant.outdir, env, "us-east-1"))
        for kind, needed in coverage(
            resource_types(templates_of(variant.outdir, env)), "us-east-1"
        ).items():
            assert needed <= granted, (env, kind)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_wildcard_action_and_each_part_fits_a_managed_policy(platform: Any, env: str) -> None:
    from finmlops_cdk.bootstrap_policy import MANAGED_POLICY_MAX_CHARS, policies_for

    documents = policies_for(platform.outdir, env, "us-east-1")
    for document in documents:
        assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            services = {a.split(":")[0] for a in statement["Action"]}
            assert len(services) == 1, statement["Sid"]
            for action in statement["Action"]:
                assert action != "*" and "*" not in action, action
    # Nothing the templates do not need: no IAM user management, no organizations.
    granted = _actions(documents)
    assert not {a for a in granted if a.startswith(("organizations:", "iam:CreateUser"))}


def test_custom_resources_need_only_their_provider_invoked() -> None:
    from finmlops_cdk.bootstrap_policy import handler_actions

    assert handler_actions("Custom::CDKBucketDeployment", "us-east-1") == {"lambda:InvokeFunction"}


def test_only_codebuild_projects_need_the_non_registry_table(platform: Any) -> None:
    """Every other type's actions come from its registry schema; the table stays one entry."""
    from finmlops_cdk.bootstrap_policy import NON_REGISTRY_TYPES

    assert set(NON_REGISTRY_TYPES) == {"AWS::CodeBuild::Project"}


def test_a_resource_type_without_a_schema_stops_the_command_naming_it() -> None:
    from finmlops_cdk.bootstrap_policy import PolicyError, handler_actions

    with pytest.raises(PolicyError, match="AWS::Nothing::Here"):
        handler_actions("AWS::Nothing::Here", "us-east-1")


def test_an_action_that_is_not_of_one_service_is_refused() -> None:
    from finmlops_cdk.bootstrap_policy import PolicyError, execution_policies

    with pytest.raises(PolicyError, match=r"\*:\*"):
        execution_policies(["*:*"])
    assert len(execution_policies([f"s3:Action{i:04d}" for i in range(5)])) == 1


def test_the_documented_command_writes_the_parts_and_says_how_to_bootstrap(
    platform: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command docs/deploy.md shows, as written there, with --cdk-out (the session's
    synthesized assembly) and the output in a temporary folder."""
    import shlex

    from finmlops_cdk.bootstrap_policy import main

    docs = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    (line,) = [
        raw.strip() for raw in docs.splitlines() if "-m finmlops_cdk.bootstrap_policy" in raw
    ]
    args = shlex.split(line)[3:]  # after `.venv/bin/python -m finmlops_cdk.bootstrap_policy`
    assert args == ["--environment", "dev", "--out", "policy.json"]
    out = tmp_path / args[3]
    code = main([*args[:3], str(out), "--cdk-out", str(platform.outdir)])
    assert code == 0
    written = sorted(tmp_path.glob("policy*.json"))
    assert written and all(json.loads(p.read_text())["Statement"] for p in written)
    printed = capsys.readouterr().out
    assert (
        "cdk bootstrap aws://111111111111/us-east-1 --cloudformation-execution-policies" in printed
    )
    assert printed.count("arn:aws:iam::111111111111:policy/credit-risk-cfn-exec-") == len(written)


def test_a_missing_assembly_stops_the_command_and_writes_nothing(tmp_path: Path) -> None:
    from finmlops_cdk.bootstrap_policy import main

    code = main(
        ["--environment", "prod", "--cdk-out", str(tmp_path), "--out", str(tmp_path / "p.json")]
    )
    assert code == 2
    assert not list(tmp_path.glob("*.json"))
