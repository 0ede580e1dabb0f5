"""Reading a cloud assembly: intrinsic functions resolved as CloudFormation would, roles and
resource policies gathered across stacks and accounts, and requests decided on them.

Each test writes a small cdk.out of its own (the layout CDK writes: a root manifest naming one
nested assembly per stage, each with its stacks' templates). Sources: AWS CloudFormation User
Guide, "Intrinsic function reference", "Pseudo parameters reference", and the "Return values"
of each resource type; AWS STS, "Monitor and control actions taken with assumed roles" (source
identity).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finmlops.iam import Assembly, AssemblyError, Platform, PolicyError

DEV, TOOLING = "111111111111", "444444444444"
REGION = "eu-west-1"


def write_assembly(
    root: Path, stages: dict[str, dict[str, dict[str, Any]]], accounts: dict[str, str]
) -> Path:
    """cdk.out with one nested assembly per stage: {stage: {stack name: template}}."""
    out = root / "cdk.out"
    artifacts: dict[str, Any] = {}
    for stage, stacks in stages.items():
        folder = out / f"assembly-{stage}"
        folder.mkdir(parents=True)
        nested: dict[str, Any] = {}
        for stack_name, template in stacks.items():
            artifact = stack_name.replace("-", "")
            (folder / f"{artifact}.template.json").write_text(json.dumps(template))
            nested[artifact] = {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{accounts[stage]}/{REGION}",
                "properties": {
                    "templateFile": f"{artifact}.template.json",
                    "stackName": stack_name,
                },
                "displayName": f"{stage}/{stack_name.split('-')[-1].title()}",
            }
        (folder / "manifest.json").write_text(
            json.dumps({"version": "55.0.0", "artifacts": nested})
        )
        artifacts[f"assembly-{stage}"] = {
            "type": "cdk:cloud-assembly",
            "properties": {"directoryName": f"assembly-{stage}", "displayName": stage},
        }
    (out / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return out


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


DATA = {
    "Conditions": {"IsDev": {"Fn::Equals": [{"Ref": "AWS::AccountId"}, DEV]}},
    "Resources": {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Fn::Sub": "data-${AWS::AccountId}-${AWS::Region}"}},
        },
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "KeyPolicy": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                        },
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                )
            },
        },
        "KeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": "alias/data",
                "TargetKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
            },
        },
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "alerts"}},
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Queue"}],
                "PolicyDocument": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
                        "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "Topic"}}},
                    }
                ),
            },
        },
        "BucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Bucket"},
                "PolicyDocument": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{TOOLING}:root"},
                        "Action": "s3:GetObject",
                        "Resource": {
                            "Fn::Join": [
                                "",
                                [
                                    {"Fn::GetAtt": ["Bucket", "Arn"]},
                                    "/",
                                    {"Fn::Select": [1, {"Fn::Split": ["/", "a/shared/b"]}]},
                                    "/*",
                                ],
                            ]
                        },
                    }
                ),
            },
        },
    },
    "Outputs": {
        "BucketArn": {
            "Value": {"Fn::GetAtt": ["Bucket", "Arn"]},
            "Export": {"Name": "data-bucket-arn"},
        },
        "KeyArn": {"Value": {"Fn::If": ["IsDev", {"Fn::GetAtt": ["Key", "Arn"]}, "no-key"]}},
    },
}

APP = {
    "Resources": {
        "Reader": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "reader",
                "Path": "/app/",
                "AssumeRolePolicyDocument": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ),
                "Policies": [
                    {
                        "PolicyName": "inline",
                        "PolicyDocument": doc(
                            {
                                "Sid": "ReadData",
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Resource": {
                                    "Fn::Sub": [
                                        "${Arn}/*",
                                        {"Arn": {"Fn::ImportValue": "data-bucket-arn"}},
                                    ]
                                },
                            }
                        ),
                    }
                ],
                "ManagedPolicyArns": [
                    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                ],
                "Tags": [{"Key": "team", "Value": "risk"}],
            },
        },
        "Unnamed": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::GetAtt": ["Reader", "Arn"]}},
                        "Action": "sts:AssumeRole",
                    }
                )
            },
        },
        "KeyUse": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Roles": [{"Ref": "Reader"}],
                "PolicyDocument": doc(
                    {
                        "Sid": "UseKey",
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": {
                            "Fn::GetStackOutput": {
                                "StackName": "app-data",
                                "Region": REGION,
                                "OutputName": "KeyArn",
                            }
                        },
                        "Condition": {
                            "StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}
                        },
                    }
                ),
            },
        },
    },
}


@pytest.fixture(scope="module")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_assembly(
        tmp_path_factory.mktemp("small"), {"dev": {"app-data": DATA, "app-app": APP}}, {"dev": DEV}
    )


@pytest.fixture(scope="module")
def small(assembly_dir: Path) -> Platform:
    return Platform.load(assembly_dir)


def test_ref_and_getatt_resolve_to_physical_names_and_arns(small: Platform) -> None:
    reader = small.role("reader")
    assert reader.arn == f"arn:aws:iam::{DEV}:role/app/reader"
    assert reader.environment == "dev" and reader.tags == {"team": "risk"}
    bucket = small.resource(f"arn:aws:s3:::data-{DEV}-{REGION}/x")
    assert bucket is not None and bucket.kind == "s3-bucket"


def test_fn_sub_with_a_map_import_value_join_select_and_split(small: Platform) -> None:
    (inline, _) = small.role("reader").policies
    (template,) = inline.statements[0].resources or ()
    assert template.parts[0][1] == f"arn:aws:s3:::data-{DEV}-{REGION}/*"
    bucket = small.resource(f"arn:aws:s3:::data-{DEV}-{REGION}")
    assert bucket is not None and bucket.policy is not None
    (grant,) = bucket.policy.statements
    assert grant.resources is not None
    assert grant.resources[0].parts[0][1] == f"arn:aws:s3:::data-{DEV}-{REGION}/shared/*"


def test_generated_names_get_a_deterministic_stand_in(assembly_dir: Path) -> None:
    first = Platform.load(assembly_dir)
    second = Platform.load(assembly_dir)
    unnamed = [r for r in first.roles.values() if r.name != "reader"]
    assert len(unnamed) == 1 and unnamed[0].name.startswith("app-app-Unnamed-")
    assert sorted(first.roles) == sorted(second.roles)
    topics = [r.arn for r in first.resources if r.kind == "sqs-queue"]
    assert topics == [f"arn:aws:sqs:{REGION}:{DEV}:alerts"]


def test_fn_if_and_get_stack_output_resolve_across_stacks(small: Platform) -> None:
    key = next(r for r in small.resources if r.kind == "kms-key")
    assert key.aliases == ("alias/data",)
    managed = small.role("reader").policies[1]
    (use,) = managed.statements
    assert use.resources is not None and use.resources[0].parts[0][1] == key.arn


def test_aws_managed_policies_are_listed_as_unknown_not_guessed(small: Platform) -> None:
    assert small.role("reader").unknown_policies == (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )


def test_the_key_policy_delegates_and_principal_tags_feed_variables(small: Platform) -> None:
    key = next(r for r in small.resources if r.kind == "kms-key")
    reader = small.role("reader").session_arn("fn")
    decision = small.decide(reader, "kms:Decrypt", key.arn)
    assert decision.allowed, decision.reason
    assert decision.request.context.single("aws:PrincipalTag/team") == "risk"
    assert decision.request.context["kms:ResourceAliases"].values == ("alias/data",)


def test_cross_account_reads_need_the_bucket_policy_and_a_role_in_the_other_account(
    small: Platform,
) -> None:
    shared = f"arn:aws:s3:::data-{DEV}-{REGION}/shared/report.csv"
    outsider = f"arn:aws:sts::{TOOLING}:assumed-role/auditor/x"
    reads = [doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})]
    assert small.decide(outsider, "s3:GetObject", shared, principal_policies=reads).allowed
    assert not small.decide(outsider, "s3:GetObject", shared).allowed
    private = f"arn:aws:s3:::data-{DEV}-{REGION}/private/x"
    assert not small.decide(outsider, "s3:GetObject", private, principal_policies=reads).allowed


def test_a_service_sends_to_a_queue_only_from_the_named_topic(small: Platform) -> None:
    queue = f"arn:aws:sqs:{REGION}:{DEV}:alerts"
    # The topic has no name: its ARN is the stand-in CloudFormation's generated name stands for.
    stack = small.assembly.stack_named("app-data")
    topic_arn = small.assembly.attribute(stack, "Topic", "Ref", "test")
    assert topic_arn == Assembly.load(small.assembly.root).attribute(stack, "Topic", "Ref", "test")
    assert small.decide(
        "sns.amazonaws.com", "sqs:SendMessage", queue, {"aws:SourceArn": topic_arn}
    ).allowed
    other = f"arn:aws:sns:{REGION}:{DEV}:other"
    assert not small.decide(
        "sns.amazonaws.com", "sqs:SendMessage", queue, {"aws:SourceArn": other}
    ).allowed


def test_context_keys_aws_derives_cannot_be_passed_in(small: Platform) -> None:
    reader = small.role("reader").session_arn("fn")
    for key in (
        "aws:PrincipalArn",
        "AWS:principaltag/team",
        "aws:ResourceAccount",
        "kms:ResourceAliases",
        "aws:username",
    ):
        with pytest.raises(ValueError, match="set by AWS"):
            small.decide(
                reader, "s3:GetObject", f"arn:aws:s3:::data-{DEV}-{REGION}/x", {key: "forged"}
            )


def test_a_bucket_outside_the_assembly_needs_its_account(small: Platform) -> None:
    reader = small.role("reader").session_arn("fn")
    with pytest.raises(ValueError, match="resource_account"):
        small.decide(reader, "s3:GetObject", "arn:aws:s3:::elsewhere/x")
    assert not small.decide(
        reader, "s3:GetObject", "arn:aws:s3:::elsewhere/x", resource_account=DEV
    ).allowed


# --------------------------------------------------------------------------- source identity


PEOPLE = {
    "Resources": {
        "Approver": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "approver",
                "AssumeRolePolicyDocument": doc(
                    {
                        "Sid": "People",
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                        "Condition": {
                            "Bool": {"aws:MultiFactorAuthPresent": "true"},
                            "StringLike": {"sts:SourceIdentity": "*@bank.example"},
                        },
                    }
                ),
            },
        },
        "Legacy": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "legacy",
                "AssumeRolePolicyDocument": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
                        "Action": "sts:AssumeRole",
                    }
                ),
                "Policies": [
                    {
                        "PolicyName": "chain",
                        "PolicyDocument": doc(
                            {
                                "Effect": "Allow",
                                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                                "Resource": {"Fn::GetAtt": ["Approver", "Arn"]},
                            }
                        ),
                    }
                ],
            },
        },
    },
}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    return Platform.load(
        write_assembly(
            tmp_path_factory.mktemp("people"), {"dev": {"app-people": PEOPLE}}, {"dev": DEV}
        )
    )


def test_a_person_assumes_the_approver_role_only_with_mfa_and_a_source_identity(
    people: Platform,
) -> None:
    approver = people.role("approver").arn
    alice = f"arn:aws:iam::{DEV}:user/alice"
    mfa = {"aws:MultiFactorAuthPresent": True}
    assert people.can_assume(
        alice, approver, {**mfa, "sts:SourceIdentity": "alice@bank.example"}
    ).allowed
    assert not people.can_assume(alice, approver, mfa).allowed
    assert not people.can_assume(alice, approver, {**mfa, "sts:SourceIdentity": "alice"}).allowed


def test_setting_a_source_identity_needs_set_source_identity_in_the_trust_policy(
    people: Platform,
) -> None:
    legacy = people.role("legacy").arn
    alice = f"arn:aws:iam::{DEV}:user/alice"
    assert people.can_assume(alice, legacy).allowed
    decision = people.can_assume(alice, legacy, {"sts:SourceIdentity": "alice@bank.example"})
    assert not decision.allowed and decision.request.action == "sts:SetSourceIdentity"


def test_a_source_identity_follows_role_chaining_and_cannot_be_changed(people: Platform) -> None:
    approver = people.role("approver").arn
    chained = f"arn:aws:sts::{DEV}:assumed-role/legacy/s"
    session = {"aws:MultiFactorAuthPresent": True, "aws:SourceIdentity": "alice@bank.example"}
    carried = people.can_assume(chained, approver, session)
    assert carried.allowed, carried.reason
    assert carried.request.context.single("sts:SourceIdentity") == "alice@bank.example"
    changed = people.can_assume(
        chained, approver, {**session, "sts:SourceIdentity": "bob@bank.example"}
    )
    assert not changed.allowed and "cannot be" in changed.reason


# --------------------------------------------------------------------------- bad assemblies


def test_a_folder_without_a_manifest_is_not_an_assembly(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"no manifest\.json"):
        Platform.load(tmp_path)


def test_an_unresolvable_value_in_a_policy_names_the_template_and_resource(tmp_path: Path) -> None:
    broken = {
        "Resources": {
            "Thing": {"Type": "AWS::Custom::Thing"},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "r",
                    "AssumeRolePolicyDocument": doc(
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ),
                    "Policies": [
                        {
                            "PolicyName": "p",
                            "PolicyDocument": doc(
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:*",
                                    "Resource": {"Fn::GetAtt": ["Thing", "Arn"]},
                                }
                            ),
                        }
                    ],
                },
            },
        }
    }
    root = write_assembly(tmp_path, {"dev": {"app-broken": broken}}, {"dev": DEV})
    with pytest.raises(
        AssemblyError, match=r"appbroken.template.json: Role.Policies\[0\].*AWS::Custom::Thing"
    ):
        Platform.load(root)


def test_a_policy_iam_would_refuse_names_the_stack_and_resource(tmp_path: Path) -> None:
    bad = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "r",
                    "AssumeRolePolicyDocument": doc(
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::*:root"},
                            "Action": "sts:AssumeRole",
                        }
                    ),
                },
            }
        }
    }
    root = write_assembly(tmp_path, {"dev": {"app-bad": bad}}, {"dev": DEV})
    with pytest.raises(PolicyError, match=r"dev/Bad Role: Statement\[0\]"):
        Platform.load(root)


def test_pass_role_is_decided_by_identity_policies_not_by_the_trust_policy(small: Platform) -> None:
    # IAM User Guide, "Grant a user permissions to pass a role to an AWS service": iam:PassRole
    # is granted by the caller's identity policy; the role's trust policy plays no part.
    reader = small.role("reader")
    lambda_service_trust = small.decide(
        f"arn:aws:iam::{DEV}:user/ops",
        "iam:PassRole",
        reader.arn,
        principal_policies=[
            doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": reader.arn})
        ],
    )
    assert lambda_service_trust.allowed
    assert not small.decide(f"arn:aws:iam::{DEV}:user/ops", "iam:PassRole", reader.arn).allowed


def test_a_session_policy_narrows_what_the_role_may_do(small: Platform) -> None:
    # IAM User Guide, "Session policies": the session gets the intersection.
    reader = small.role("reader").session_arn("fn")
    shared = f"arn:aws:s3:::data-{DEV}-{REGION}/shared/a"
    assert small.decide(reader, "s3:GetObject", shared).allowed
    nothing_but_kms = [doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]
    narrowed = small.decide(reader, "s3:GetObject", shared, session_policies=nothing_but_kms)
    assert not narrowed.allowed and "session policy" in narrowed.reason
