"""Security bar items 3-7 and 14 on the synthesized templates of every environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from synth_fixtures import pipeline_steps

WORKLOADS = ("dev", "stage", "prod")


def _role_id(template: dict[str, Any], role_name: str) -> str:
    for logical_id, resource in template["Resources"].items():
        if (
            resource["Type"] == "AWS::IAM::Role"
            and resource["Properties"].get("RoleName") == role_name
        ):
            return logical_id
    raise AssertionError(f"no role {role_name}")


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of the managed policies attached to a role."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- 3. KMS everywhere


def test_every_kms_key_rotates_and_is_kept(platform: Any) -> None:
    keys = list(platform.resources("AWS::KMS::Key"))
    assert len(keys) == 12  # data, ops, audit in each of four environments
    for *_, key in keys:
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"


def test_every_bucket_is_encrypted_with_a_customer_key_except_the_access_log_target(
    platform: Any,
) -> None:
    for env, _, logical_id, bucket in platform.resources("AWS::S3::Bucket"):
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        default = rule["ServerSideEncryptionByDefault"]
        if "AccessLogs" in logical_id:
            # S3 log delivery writes only to SSE-S3 buckets (acknowledged with that reason).
            assert default == {"SSEAlgorithm": "AES256"}
        else:
            assert default["SSEAlgorithm"] == "aws:kms", (env, logical_id)
            assert "KMSMasterKeyID" in default, (env, logical_id)


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("AWS::SNS::Topic", "KmsMasterKeyId"),
        ("AWS::SQS::Queue", "KmsMasterKeyId"),
        ("AWS::Logs::LogGroup", "KmsKeyId"),
        ("AWS::CodeBuild::Project", "EncryptionKey"),
    ],
)
def test_topics_queues_logs_and_builds_use_customer_keys(
    platform: Any, kind: str, field: str
) -> None:
    found = list(platform.resources(kind))
    assert found, kind
    for env, _, logical_id, resource in found:
        assert resource["Properties"].get(field), (env, logical_id)


def test_pipeline_artifacts_are_encrypted_in_a_named_bucket(platform: Any, config: Any) -> None:
    from finmlops.naming import names

    bucket = names(config, "tooling").pipeline_artifact_bucket
    pipelines = list(platform.resources("AWS::CodePipeline::Pipeline"))
    assert len(pipelines) == 2
    for *_, pipeline in pipelines:
        store = pipeline["Properties"]["ArtifactStore"]
        assert store["EncryptionKey"]["Type"] == "KMS"
    platform.template("tooling", "Promotion").has_resource_properties(
        "AWS::S3::Bucket", {"BucketName": bucket, "BucketEncryption": Match.any_value()}
    )


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_endpoint_config_encrypts_volumes_and_captured_data(platform: Any, env: str) -> None:
    platform.template(env, "Endpoint").has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": Match.any_value(),
            "DataCaptureConfig": Match.object_like({"KmsKeyId": Match.any_value()}),
        },
    )


def test_model_monitor_jobs_encrypt_volumes_and_outputs(variant: Any) -> None:
    template = variant.template("prod", "Monitoring")
    for kind, output in (
        ("AWS::SageMaker::DataQualityJobDefinition", "DataQualityJobOutputConfig"),
        ("AWS::SageMaker::ModelQualityJobDefinition", "ModelQualityJobOutputConfig"),
    ):
        template.resource_count_is(kind, 1)
        template.has_resource_properties(
            kind,
            {
                "JobResources": {
                    "ClusterConfig": Match.object_like({"VolumeKmsKeyId": Match.any_value()})
                },
                output: Match.object_like({"KmsKeyId": Match.any_value()}),
            },
        )


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_monitoring_pipeline_jobs_encrypt_run_in_the_vpc_and_encrypt_traffic(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    steps = pipeline_steps(monitoring_definition(platform, env))
    jobs = [s for s in steps.values() if s["Type"] == "Processing"]
    expected = {"DataDrift", "ModelQuality", "ExplanationDrift"}
    if config.environments.by_name(env).instances.monitoring_count > 1:
        expected |= {"CaptureManifest", "DriftShards", "DataDriftEmptyWindow"}
    assert {s["Name"] for s in jobs} == expected
    for step in jobs:
        job = step["Arguments"]
        assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "TOKEN"
        assert job["ProcessingOutputConfig"]["KmsKeyId"] == "TOKEN"
        assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
        vpc = job["NetworkConfig"]["VpcConfig"]
        assert vpc["Subnets"] == list(config.environments.by_name(env).vpc.subnet_ids)


# --------------------------------------------------------------------------- 4. network


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_models_are_network_isolated_in_the_configured_subnets(
    platform: Any, config: Any, env: str
) -> None:
    subnets = list(config.environments.by_name(env).vpc.subnet_ids)
    platform.template(env, "Endpoint").has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "VpcConfig": {"Subnets": subnets, "SecurityGroupIds": [Match.any_value()]},
        },
    )


def test_model_monitor_jobs_run_in_the_vpc_with_inter_container_encryption(
    variant: Any, config: Any
) -> None:
    subnets = list(config.environments.prod.vpc.subnet_ids)
    template = variant.template("prod", "Monitoring")
    for kind in (
        "AWS::SageMaker::DataQualityJobDefinition",
        "AWS::SageMaker::ModelQualityJobDefinition",
    ):
        template.has_resource_properties(
            kind,
            {
                "NetworkConfig": {
                    "EnableInterContainerTrafficEncryption": True,
                    "EnableNetworkIsolation": False,
                    "VpcConfig": {"Subnets": subnets, "SecurityGroupIds": [Match.any_value()]},
                }
            },
        )


@pytest.mark.parametrize("env", WORKLOADS)
def test_vpc_endpoints_reach_sagemaker_sts_logs_kms_ecr_and_s3(platform: Any, env: str) -> None:
    services = set()
    for *_, endpoint in platform.resources("AWS::EC2::VPCEndpoint", env):
        name = endpoint["Properties"]["ServiceName"]
        services.add(
            (
                name if isinstance(name, str) else json.dumps(name),
                endpoint["Properties"].get("VpcEndpointType", "Interface"),
            )
        )
    region = "us-east-1"
    for service in (
        "sagemaker.api",
        "sagemaker.runtime",
        "sts",
        "logs",
        "kms",
        "ecr.api",
        "ecr.dkr",
    ):
        assert (f"com.amazonaws.{region}.{service}", "Interface") in services, service
    assert (f"com.amazonaws.{region}.s3", "Gateway") in services


@pytest.mark.parametrize("env", WORKLOADS)
def test_interface_endpoints_admit_https_from_the_job_security_group_only(
    platform: Any, env: str
) -> None:
    template = platform.templates[env]["Network"]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for rule in resource["Properties"].get("SecurityGroupIngress", []):
                assert "CidrIp" not in rule, rule
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            assert "CidrIp" not in resource["Properties"], resource


def test_synth_looks_nothing_up(platform: Any) -> None:
    manifest = json.loads((platform.outdir / "manifest.json").read_text())
    assert "missing" not in manifest
    for env in platform.stages:
        nested = json.loads((platform.outdir / f"assembly-{env}" / "manifest.json").read_text())
        assert "missing" not in nested


# --------------------------------------------------------------------------- 5. preventive IAM

GUARDRAILS = {
    "DenyJobsOutsideVpc": {"Null": {"sagemaker:VpcSubnets": "true"}},
    "DenyJobsWithoutSecurityGroup": {"Null": {"sagemaker:VpcSecurityGroupIds": "true"}},
    "DenyJobsWithoutVolumeKey": {"Null": {"sagemaker:VolumeKmsKeyArn": "true"}},
    "DenyJobsWithoutOutputKey": {"Null": {"sagemaker:OutputKmsKeyArn": "true"}},
    "DenyUnencryptedInterContainerTraffic": {
        "Bool": {"sagemaker:InterContainerTrafficEncryption": "false"}
    },
}


@pytest.mark.parametrize(
    ("env", "component", "purpose"),
    [
        ("dev", "ModelBuild", "sagemaker-build"),
        ("stage", "Endpoint", "model"),
        ("prod", "Endpoint", "model"),
        ("stage", "Monitoring", "monitoring"),
        ("prod", "Monitoring", "monitoring"),
    ],
)
def test_execution_roles_deny_jobs_without_vpc_volume_key_or_encryption(
    platform: Any, config: Any, env: str, component: str, purpose: str
) -> None:
    from finmlops.naming import names

    template = platform.templates[env][component]
    statements = _statements(template, _role_id(template, names(config, env).role(purpose)))
    by_sid = {s.get("Sid"): s for s in statements}
    for sid, condition in GUARDRAILS.items():
        statement = by_sid[sid]
        assert statement["Effect"] == "Deny"
        assert statement["Resource"] == "*"
        assert statement["Condition"] == condition
        actions = _as_list(statement["Action"])
        assert "sagemaker:CreateProcessingJob" in actions
    assert "sagemaker:CreateModel" in _as_list(by_sid["DenyJobsOutsideVpc"]["Action"])


@pytest.mark.parametrize(("env", "component"), [("dev", "ModelBuild"), ("prod", "Endpoint")])
def test_models_and_training_are_denied_without_network_isolation(
    platform: Any, config: Any, env: str, component: str
) -> None:
    from finmlops.naming import names

    purpose = "sagemaker-build" if env == "dev" else "model"
    template = platform.templates[env][component]
    by_sid = {
        s.get("Sid"): s
        for s in _statements(template, _role_id(template, names(config, env).role(purpose)))
    }
    off = by_sid["DenyWithoutNetworkIsolation"]
    unset = by_sid["DenyNetworkIsolationUnset"]
    assert off["Condition"] == {"Bool": {"sagemaker:NetworkIsolation": "false"}}
    assert unset["Condition"] == {"Null": {"sagemaker:NetworkIsolation": "true"}}
    for statement in (off, unset):
        assert statement["Effect"] == "Deny"
        assert {"sagemaker:CreateModel", "sagemaker:CreateTrainingJob"} <= set(
            _as_list(statement["Action"])
        )
        # Processing and monitoring jobs call S3 and CloudWatch: isolation does not apply.
        assert "sagemaker:CreateProcessingJob" not in _as_list(statement["Action"])


# --------------------------------------------------------------------------- 6. buckets


def test_every_bucket_blocks_public_access_keeps_versions_and_logs_access(platform: Any) -> None:
    buckets = list(platform.resources("AWS::S3::Bucket"))
    assert len(buckets) == 16  # tooling 5, dev 3, stage and prod 4 each
    for env, _, logical_id, bucket in buckets:
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        if "AccessLogs" not in logical_id:
            assert props["LoggingConfiguration"]["DestinationBucketName"], (env, logical_id)


def test_every_bucket_refuses_requests_without_tls(platform: Any) -> None:
    buckets = {(env, lid) for env, _, lid, _ in platform.resources("AWS::S3::Bucket")}
    protected = set()
    for env, _, _, policy in platform.resources("AWS::S3::BucketPolicy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false":
                assert statement["Effect"] == "Deny"
                protected.add((env, policy["Properties"]["Bucket"]["Ref"]))
    assert protected == buckets


@pytest.mark.parametrize("env", ["tooling", *WORKLOADS])
def test_audit_bucket_locks_records_in_compliance_mode(platform: Any, env: str) -> None:
    from finmlops_cdk.data_stack import AUDIT_RETENTION_DAYS

    platform.template(env, "Data").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": Match.string_like_regexp(r"-audit-"),
            "ObjectLockEnabled": True,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": AUDIT_RETENTION_DAYS}},
            },
        },
    )


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_captured_personal_data_expires_with_its_versions(
    platform: Any, config: Any, env: str
) -> None:
    days = config.monitoring.capture_retention_days
    platform.template(env, "Data").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": Match.string_like_regexp(r"-capture-"),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "ExpirationInDays": days,
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )
    # Captured data must be erasable: no Object Lock on the capture bucket.
    for _, _, lid, bucket in platform.resources("AWS::S3::Bucket", env):
        if "Capture" in lid:
            assert "ObjectLockEnabled" not in bucket["Properties"]


def test_stateful_stacks_of_stage_and_prod_have_termination_protection(platform: Any) -> None:
    assert platform.protection["stage"]["Data"] is True
    assert platform.protection["prod"]["Data"] is True
    assert platform.protection["dev"]["Data"] is False
    assert platform.protection["prod"]["Endpoint"] is False  # stateless: replaceable


def test_stateful_resources_are_retained_when_a_stack_goes(platform: Any) -> None:
    for kind in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        for env, _, lid, resource in platform.resources(kind):
            assert resource.get("DeletionPolicy") == "Retain", (env, lid)


# --------------------------------------------------------------------------- 7. least privilege


def test_no_inline_policies_every_permission_is_a_managed_policy(
    platform: Any, variant: Any
) -> None:
    for synth in (platform, variant):
        assert list(synth.resources("AWS::IAM::Policy")) == []
        for env, _, lid, role in synth.resources("AWS::IAM::Role"):
            assert "Policies" not in role["Properties"], (env, lid)
            assert "ManagedPolicyArns" not in role["Properties"], (env, lid)  # no AWS-managed


def _policy_documents(synth: Any) -> Any:
    for env, _, lid, resource in synth.all_resources():
        props = resource.get("Properties", {})
        for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
            if isinstance(props.get(key), dict):
                yield env, lid, key, props[key]
        if resource["Type"] == "AWS::SageMaker::ModelPackageGroup":
            yield env, lid, "ModelPackageGroupPolicy", props["ModelPackageGroupPolicy"]
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            yield env, lid, "Statement", {"Statement": [props["Statement"]]}


def test_no_allow_statement_grants_every_action_of_a_service(platform: Any, config: Any) -> None:
    for env, lid, key, document in _policy_documents(platform):
        own_root = f"arn:aws:iam::{config.environments.by_name(env).account}:root"
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow" or "Action" not in statement:
                continue
            if key == "KeyPolicy" and statement.get("Principal") == {"AWS": own_root}:
                continue  # a key's own account administers it through IAM policies
            for action in _as_list(statement["Action"]):
                assert action != "*" and not str(action).endswith(":*"), (env, lid, action)


def _root_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal", {})
    aws = principal.get("AWS", []) if isinstance(principal, dict) else []
    return [json.dumps(p) for p in _as_list(aws) if ":root" in json.dumps(p)]


def test_trust_of_a_whole_account_always_carries_a_condition(platform: Any, config: Any) -> None:
    checked = 0
    for env, lid, key, document in _policy_documents(platform):
        for statement in document["Statement"]:
            roots = _root_principals(statement)
            if not roots or statement["Effect"] != "Allow":
                continue
            own = config.environments.by_name(env).account
            foreign = [r for r in roots if own not in r]
            if key == "KeyPolicy" and not foreign:
                continue  # the key's own account administers it through IAM
            checked += 1
            assert statement.get("Condition"), (env, lid, key, statement)
    assert checked >= 6


PEOPLE_ROLES = (
    ("dev", "ModelRiskApprover"),
    ("dev", "credit-risk-dev-data-scientist"),
    ("tooling", "credit-risk-tooling-operator"),
)


def test_people_assume_registry_roles_only_with_mfa(platform: Any) -> None:
    """Every role a person assumes trusts IAM users of its account with MFA, as themselves: the
    session's source identity and name must both be the user's own name (aws:username)."""
    from finmlops_cdk.security import people_trust_policy

    for env, name in PEOPLE_ROLES:
        account = {"dev": "111111111111", "tooling": "444444444444"}[env]
        template = next(t for t in platform.templates[env].values() if _has_role(t, name))
        trust = template["Resources"][_role_id(template, name)]["Properties"][
            "AssumeRolePolicyDocument"
        ]
        assert trust == people_trust_policy(f"arn:aws:iam::{account}:root"), name
        (assume,) = [s for s in trust["Statement"] if s["Action"] == "sts:AssumeRole"]
        assert assume["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
        assert assume["Condition"]["StringEquals"] == {
            "sts:SourceIdentity": "${aws:username}",
            "sts:RoleSessionName": "${aws:username}",
        }


def _has_role(template: dict[str, Any], role_name: str) -> bool:
    return any(
        r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == role_name
        for r in template["Resources"].values()
    )


# --------------------------------------------------------------------------- 14. SoD

APPROVAL_CHANGES = {
    "sagemaker:UpdateModelPackage",
    "sagemaker:DeleteModelPackage",
    "sagemaker:PutModelPackageGroupPolicy",
    "sagemaker:DeleteModelPackageGroupPolicy",
}


@pytest.mark.parametrize("purpose", ["sagemaker-build", "data-scientist"])
def test_build_pipeline_and_data_scientist_roles_are_denied_approval_changes(
    platform: Any, config: Any, purpose: str
) -> None:
    from finmlops.naming import names

    n = names(config, "dev")
    template = platform.templates["dev"]["ModelBuild"]
    statements = _statements(template, _role_id(template, n.role(purpose)))
    (deny,) = [s for s in statements if s.get("Sid") == "DenyApprovalStatusChanges"]
    assert deny["Effect"] == "Deny"
    assert set(_as_list(deny["Action"])) == APPROVAL_CHANGES
    assert set(_as_list(deny["Resource"])) == {n.model_package_group_arn, n.model_packages_arn}


LIFECYCLE_ONLY = {
    "StringEquals": {
        "sagemaker:ModelLifeCycle:stage": ["Staging", "Production"],
        "sagemaker:ModelLifeCycle:stageStatus": ["Deployed", "Replaced", "RolledBack"],
    },
    "Null": {"sagemaker:ModelApprovalStatus": "true"},
}


DECISION_ONLY = {"StringEquals": {"sagemaker:ModelApprovalStatus": ["Approved", "Rejected"]}}

# The validators' sign-off (ADR 0030): a Validation lifecycle, no status.
SIGNOFF_ONLY = {
    "StringEquals": {
        "sagemaker:ModelLifeCycle:Stage": "Validation",
        "sagemaker:ModelLifeCycle:StageStatus": ["SignedOff", "FindingsOpen"],
    },
    "Null": {"sagemaker:ModelApprovalStatus": "true"},
}


def _policy_of(template: dict[str, Any], role_name: str) -> str:
    """The managed policy that grants the role its permissions (not its guardrails)."""
    role = _role_id(template, role_name)
    (policy,) = [
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        and {"Ref": role} in r["Properties"]["Roles"]
        and any(s["Effect"] == "Allow" for s in r["Properties"]["PolicyDocument"]["Statement"])
    ]
    return policy


def test_only_the_approver_role_may_change_approval_status(platform: Any, config: Any) -> None:
    """Across every environment, UpdateModelPackage is allowed to the approver role, and to dev's
    registry-lifecycle role only for requests that carry a promotion lifecycle and no status,
    and to dev's validator role only for a sign-off lifecycle and no status."""
    decision_only, lifecycle_only, signoff_only, other = set(), set(), set(), set()
    for env, lid, _, document in _policy_documents(platform):
        for statement in document["Statement"]:
            actions = set(_as_list(statement.get("Action", [])))
            if statement["Effect"] == "Allow" and actions & {
                "sagemaker:UpdateModelPackage",
                "sagemaker:*",
            }:
                assert actions == {"sagemaker:UpdateModelPackage"}, (env, lid)
                if statement.get("Condition") == LIFECYCLE_ONLY:
                    lifecycle_only.add((env, lid))
                elif statement.get("Condition") == DECISION_ONLY:
                    decision_only.add((env, lid))
                elif statement.get("Condition") == SIGNOFF_ONLY:
                    signoff_only.add((env, lid))
                else:
                    other.add((env, lid))
    template = platform.templates["dev"]["ModelBuild"]
    assert other == set()
    assert decision_only == {("dev", _policy_of(template, config.governance.approver_role))}
    assert lifecycle_only == {("dev", _policy_of(template, "credit-risk-dev-registry-lifecycle"))}
    assert signoff_only == {("dev", _policy_of(template, "credit-risk-dev-validator"))}


def test_registry_lifecycle_role_is_denied_status_changes_and_every_other_registry_change(
    platform: Any,
) -> None:
    template = platform.templates["dev"]["ModelBuild"]
    statements = {
        s["Sid"]: s
        for s in _statements(template, _role_id(template, "credit-risk-dev-registry-lifecycle"))
    }
    assert set(statements) == {
        "ReadVersions",
        "SetLifecycleOnly",
        "DenyApprovalStatus",
        "DenyRegistryChanges",
    }
    status = statements["DenyApprovalStatus"]
    assert (status["Effect"], status["Action"]) == ("Deny", "sagemaker:UpdateModelPackage")
    assert status["Condition"] == {"Null": {"sagemaker:ModelApprovalStatus": "false"}}
    others = statements["DenyRegistryChanges"]
    assert others["Effect"] == "Deny" and "Condition" not in others
    assert set(_as_list(others["Action"])) == (
        APPROVAL_CHANGES - {"sagemaker:UpdateModelPackage"}
    ) | {"sagemaker:CreateModelPackage"}
    assert statements["SetLifecycleOnly"]["Resource"] == (
        "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/*"
    )


STAGE, STATUS, APPROVAL = (
    "sagemaker:ModelLifeCycle:stage",
    "sagemaker:ModelLifeCycle:stageStatus",
    "sagemaker:ModelApprovalStatus",
)


@pytest.mark.parametrize(
    ("request_keys", "decision"),
    [
        ({STAGE: "Staging", STATUS: "Deployed"}, "Allow"),
        ({STAGE: "Production", STATUS: "RolledBack"}, "Allow"),
        ({STAGE: "Production", STATUS: "Deployed", APPROVAL: "Approved"}, "Deny"),
        ({APPROVAL: "Approved"}, "Deny"),
        ({STAGE: "Development", STATUS: "Deployed"}, "implicit deny"),
        ({STAGE: "Production", STATUS: "Approved"}, "implicit deny"),
        ({}, "implicit deny"),  # a metadata-only update carries no lifecycle
    ],
)
def test_registry_lifecycle_role_decisions_per_request(
    iam_platform: Any, request_keys: dict[str, str], decision: str
) -> None:
    """finmlops.iam's decision for the promotion's session of the lifecycle role."""
    role = iam_platform.role("credit-risk-dev-registry-lifecycle")
    version = "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/3"
    result = iam_platform.decide(
        role.session_arn("finmlops-lifecycle"),
        "sagemaker:UpdateModelPackage",
        version,
        request_keys,
    )
    expected = {"Allow": "allow", "Deny": "explicit-deny", "implicit deny": "implicit-deny"}
    assert result.outcome == expected[decision], result.reason


def test_registry_lets_stage_prod_and_tooling_read_versions_never_approve(
    platform: Any, config: Any
) -> None:
    template = platform.templates["dev"]["Data"]
    (group,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    ]
    assert group["Properties"]["ModelPackageGroupName"] == config.model.package_group
    (statement,) = group["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    accounts = {config.environments.by_name(e).account for e in ("stage", "prod", "tooling")}
    assert {p.split(":")[4] for p in statement["Principal"]["AWS"]} == accounts
    assert "sagemaker:UpdateModelPackage" not in statement["Action"]
    assert "sagemaker:DescribeModelPackage" in statement["Action"]
    arns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert all(":role/" in arn for arn in arns)


def test_serving_accounts_decrypt_registry_artifacts_only_through_s3_as_named_roles(
    platform: Any,
) -> None:
    template = platform.templates["dev"]["Data"]
    grants = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::KMS::Key"
        for s in r["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "DecryptModelBuildOutputsFromServingAccounts"
    ]
    (grant,) = grants
    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert set(_as_list(grant["Action"])) == {"kms:Decrypt", "kms:DescribeKey"}
    assert grant["Condition"]["ArnLike"]["aws:PrincipalArn"]


def test_serving_roles_read_and_list_only_the_model_build_prefix_of_the_registry_bucket(
    platform: Any,
) -> None:
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for *_, r in platform.resources("AWS::S3::BucketPolicy", "dev")
        if any(
            s.get("Sid", "").endswith("FromServingAccounts")
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    by_sid = {s.get("Sid"): s for s in policy}
    read = by_sid["ReadModelBuildOutputsFromServingAccounts"]
    listing = by_sid["ListModelBuildOutputsFromServingAccounts"]
    assert json.dumps(read["Resource"]).endswith('/model-build/*"]]}')
    assert listing["Condition"]["StringLike"] == {"s3:prefix": ["model-build/*"]}
    # Every model's endpoint and monitoring roles, one name pattern per account and purpose
    # (`credit-risk-*stage-model` is `credit-risk-stage-model` and each model's
    # `credit-risk-<model>-stage-model`; ADR 0033).
    for statement in (read, listing):
        arns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert sorted(arns) == sorted(
            f"arn:aws:iam::{a}:role/credit-risk-*{e}-{p}"
            for e, a in (("stage", "222222222222"), ("prod", "333333333333"))
            for p in ("model", "monitoring")
        )


# --------------------------------------------------------------------------- 18. one audit trail


def test_approvers_in_dev_append_decisions_to_the_one_tooling_audit_trail(
    platform: Any, config: Any
) -> None:
    from finmlops.naming import names

    tooling, dev = names(config, "tooling"), names(config, "dev")
    approver = f"arn:aws:iam::{dev.env.account}:role/{config.governance.approver_role}"
    statements = {
        s.get("Sid"): s
        for *_, policy in platform.resources("AWS::S3::BucketPolicy", "tooling")
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    append = statements["ApproversAppendDecisions"]
    validator = f"arn:aws:iam::{dev.env.account}:role/credit-risk-dev-validator"
    assert append["Condition"] == {"ArnLike": {"aws:PrincipalArn": [approver, validator]}}
    assert "s3:DeleteObject" not in append["Action"]
    assert "s3:PutObject" in append["Action"]
    # The dev approver role writes there, not to a second trail of its own.
    template = platform.templates["dev"]["ModelBuild"]
    written = json.dumps(
        [
            s
            for r in template["Resources"].values()
            if r["Type"] == "AWS::IAM::ManagedPolicy"
            for s in r["Properties"]["PolicyDocument"]["Statement"]
            if s.get("Sid", "").startswith("WriteAuditRecords")
        ]
    )
    assert tooling.audit_bucket in written
    assert dev.audit_bucket not in written


# --------------------------------------------------------------------------- condition keys (SAR)


# Every condition key of every policy of every environment is checked against the Service
# Authorization Reference by cfn-lint rule E9102 (tests/cdk/test_aws_rules.py, ADR 0009); the
# tests here pin what the guardrails and the approver's policy rely on.


def _defined_keys(action: str, *, with_resource_keys: bool = True) -> set[str]:
    """Condition keys the reference defines for an action (lower case, renames applied):
    its own, and with `with_resource_keys` those of the resource types it acts on."""
    from finmlops.governance.cfn_rules import iam_reference

    service, name = action.split(":")
    entry = iam_reference.action(service, name)
    assert entry is not None, action
    if with_resource_keys:
        return set(entry.keys)
    own = iam_reference.package_data()[service]["privileges"][entry.name]["resource_types"]
    keys = {k.lower() for rt in own.values() for k in rt["condition_keys"]}
    renamed = {r.old.lower(): r.new.lower() for r in iam_reference.renames()}
    return {renamed.get(k, k) for k in keys}


def _identity_and_trust_statements(synth: Any) -> Any:
    for env, _, lid, resource in synth.all_resources():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for statement in props["PolicyDocument"]["Statement"]:
                yield env, lid, statement
        if resource["Type"] == "AWS::IAM::Role":
            for statement in props["AssumeRolePolicyDocument"]["Statement"]:
                yield env, lid, statement


def test_the_service_reference_sees_status_metadata_and_lifecycle_of_a_version_and_nothing_else() -> (
    None
):
    """What IAM can judge in UpdateModelPackage: no key covers InferenceSpecification, ModelCard
    or SourceUri, so IAM cannot keep an approver from changing them. What stands in: approval
    records bind the image and artifact, and the promotion gate refuses a version whose
    artifacts changed (tests/registry/test_promotion.py::
    test_gate_refuses_a_version_whose_artifacts_changed_after_approval, ADR 0008). When AWS adds
    such a key, this test fails: use it in guardrails.approver_decisions."""
    from finmlops_cdk.guardrails import UPDATE_MODEL_PACKAGE_KEYS

    defined = _defined_keys("sagemaker:UpdateModelPackage", with_resource_keys=False)
    assert defined == {k.lower() for k in UPDATE_MODEL_PACKAGE_KEYS}
    resource = _defined_keys("sagemaker:UpdateModelPackage") - defined
    assert all("tag" in k for k in resource), resource  # the version's tags, nothing of a request
    for field in ("inferencespecification", "modelcard", "sourceuri", "image", "modeldataurl"):
        assert not [k for k in defined if field in k], field
    create = _defined_keys("sagemaker:CreateModelPackage")
    assert "sagemaker:modelapprovalstatus" in create
    assert "sagemaker:customermetadataproperties/${metadatakey}" in create


def test_guardrail_action_lists_name_actions_that_define_their_keys() -> None:
    """The action lists guardrails.py builds its denies from, key by key (with AWS's renames:
    sagemaker:VolumeKmsKeyArn and OutputKmsKeyArn, iam-amendments.yaml)."""
    from finmlops_cdk import guardrails as g

    for key, actions in (
        ("sagemaker:VpcSubnets", g.VPC_ACTIONS),
        ("sagemaker:VpcSecurityGroupIds", g.VPC_ACTIONS),
        ("sagemaker:VolumeKmsKeyArn", g.VOLUME_KEY_ACTIONS),
        ("sagemaker:OutputKmsKeyArn", g.OUTPUT_KEY_ACTIONS),
        ("sagemaker:NetworkIsolation", g.ISOLATION_ACTIONS),
        ("sagemaker:InterContainerTrafficEncryption", g.ENCRYPTION_ACTIONS),
    ):
        for action in actions:
            assert key.lower() in _defined_keys(action), (action, key)


# --------------------------------------------------------------------------- insider: people

DEV, TOOLING = "111111111111", "444444444444"
ALICE = f"arn:aws:iam::{DEV}:user/alice"  # the author of a version
BUILD_ROLE = f"arn:aws:iam::{DEV}:role/credit-risk-dev-sagemaker-build"


def _assume(
    iam: Any, caller: str, role: str, *, name: str, identity: str | None, mfa: bool = True
) -> Any:
    context: dict[str, Any] = {"aws:MultiFactorAuthPresent": mfa, "sts:RoleSessionName": name}
    if identity is not None:
        context["sts:SourceIdentity"] = identity
    return iam.can_assume(caller, iam.role(role).arn, context)


@pytest.mark.parametrize(
    ("attempt", "call"),
    [
        ("as another person's session name", {"name": "bob", "identity": "alice"}),
        ("as another person's source identity", {"name": "alice", "identity": "bob"}),
        ("without a source identity", {"name": "alice", "identity": None}),
        ("without MFA", {"name": "alice", "identity": "alice", "mfa": False}),
    ],
)
@pytest.mark.parametrize(("env", "role_name"), PEOPLE_ROLES)
def test_a_person_cannot_assume_a_people_role_under_another_name(
    iam_platform: Any, env: str, role_name: str, attempt: str, call: dict[str, Any]
) -> None:
    """The author who holds the data-scientist role tries the approver role (or any person's
    role) under a name of their choosing: the trust policy refuses (finmlops.iam, the caller
    an IAM user of the role's account whose own policy would allow the call)."""
    account = {"dev": DEV, "tooling": TOOLING}[env]
    caller = f"arn:aws:iam::{account}:user/alice"
    refused = _assume(iam_platform, caller, role_name, **call)
    assert not refused.allowed, (attempt, refused.reason)
    # Under her own name she gets in, and AWS records her: the segregation-of-duties check
    # compares that source identity with the author's (finmlops.registry).
    admitted = _assume(iam_platform, caller, role_name, name="alice", identity="alice")
    assert admitted.allowed, admitted.reason


@pytest.mark.parametrize(("env", "role_name"), PEOPLE_ROLES)
def test_roles_and_other_accounts_cannot_assume_a_people_role(
    iam_platform: Any, env: str, role_name: str
) -> None:
    """aws:username exists only for IAM users: a role session (an administrator's, a pipeline's)
    matches no source identity, whatever names it passes; another account is not trusted."""
    account = {"dev": DEV, "tooling": TOOLING}[env]
    admin = f"arn:aws:sts::{account}:assumed-role/Administrator/bob"
    assert not _assume(iam_platform, admin, role_name, name="bob", identity="bob").allowed
    stranger = "arn:aws:iam::999999999999:user/alice"
    assert not _assume(iam_platform, stranger, role_name, name="alice", identity="alice").allowed


# --------------------------------------------------------------------------- insider: registry

PENDING, APPROVED = "PendingManualApproval", "Approved"
VERSION = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/credit-risk-xgb/3"
GROUP = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package-group/credit-risk-xgb"
OUTCOME = {"Allow": "allow", "Deny": "explicit-deny", "implicit deny": "implicit-deny"}
STATUS = "sagemaker:ModelApprovalStatus"
META = "sagemaker:CustomerMetadataProperties/"


@pytest.mark.parametrize(
    ("request_keys", "decision"),
    [
        ({STATUS: PENDING}, "Allow"),
        ({STATUS: APPROVED}, "Deny"),  # born approved
        ({STATUS: "Rejected"}, "Deny"),
        ({}, "Deny"),  # the status omitted: no default is relied on
        ({STATUS: PENDING, META + "approved-by": "arn:aws:iam::1:user/bob"}, "Deny"),
        ({STATUS: PENDING, META + "Approved-By": "bob"}, "Deny"),  # keys are case-insensitive
        ({STATUS: PENDING, "sagemaker:ModelLifeCycle:Stage": "Production"}, "Deny"),
        ({STATUS: PENDING, META + "created-by": "alice", META + "git-commit": "abc"}, "Allow"),
    ],
)
def test_build_role_registers_versions_only_pending_without_a_decision(
    iam_platform: Any, request_keys: dict[str, str], decision: str
) -> None:
    """The pipeline's role (what SageMaker Pipelines registers with) asks for a version born
    approved, without a status, with a decision or a lifecycle in it: denied. SageMaker
    authorizes CreateModelPackage on the group (finmlops.iam's docs)."""
    build = iam_platform.role("credit-risk-dev-sagemaker-build").session_arn("pipelines")
    result = iam_platform.decide(build, "sagemaker:CreateModelPackage", GROUP, request_keys)
    assert result.outcome == OUTCOME[decision], result.reason


def test_only_the_build_role_may_register_and_only_pending_versions(
    platform: Any, variant: Any
) -> None:
    """Every Allow of CreateModelPackage in every environment carries the Pending condition and
    sits beside the explicit denies; the people roles have none."""
    from finmlops_cdk.guardrails import register_pending_only  # noqa: F401 - the one definition

    allowing: set[tuple[str, str]] = set()
    for synth in (platform, variant):
        for env, lid, statement in _identity_and_trust_statements(synth):
            actions = [a.lower() for a in _as_list(statement.get("Action", []))]
            if statement["Effect"] == "Allow" and any(
                a in {"sagemaker:createmodelpackage", "sagemaker:*", "sagemaker:create*"}
                for a in actions
            ):
                assert statement["Condition"] == {"StringEquals": {STATUS: PENDING}}, (env, lid)
                allowing.add((env, lid))
    assert {env for env, _ in allowing} == {"dev"}
    template = platform.templates["dev"]["ModelBuild"]
    statements = _statements(template, _role_id(template, "credit-risk-dev-sagemaker-build"))
    sids = {s.get("Sid") for s in statements}
    assert {"DenyRegisteringAnyOtherStatus", "DenyRegisteringWithApprovedBy",
            "DenyRegisteringWithModelLifeCycleStage"} <= sids  # fmt: skip


@pytest.mark.parametrize("role_name", ["ModelRiskApprover", "credit-risk-dev-data-scientist"])
def test_people_cannot_register_versions_themselves(iam_platform: Any, role_name: str) -> None:
    person = iam_platform.role(role_name).session_arn("alice")
    result = iam_platform.decide(person, "sagemaker:CreateModelPackage", GROUP, {STATUS: PENDING})
    assert not result.allowed, result.reason


def _approver_decides(iam: Any, context: dict[str, Any]) -> Any:
    bob = iam.role("ModelRiskApprover").session_arn("bob")
    return iam.decide(bob, "sagemaker:UpdateModelPackage", VERSION, context)


def _request_context(params: dict[str, Any]) -> dict[str, Any]:
    """The condition keys SageMaker puts in an UpdateModelPackage request's context, from its
    parameters (Service Authorization Reference: status, each metadata key, the keys to remove,
    the lifecycle's stage and status)."""
    context: dict[str, Any] = {}
    if "ModelApprovalStatus" in params:
        context[STATUS] = params["ModelApprovalStatus"]
    for key, value in params.get("CustomerMetadataProperties", {}).items():
        context[META + key] = value
    if params.get("CustomerMetadataPropertiesToRemove"):
        context["sagemaker:CustomerMetadataPropertiesToRemove"] = list(
            params["CustomerMetadataPropertiesToRemove"]
        )
    if "ModelLifeCycle" in params:
        context["sagemaker:ModelLifeCycle:Stage"] = params["ModelLifeCycle"]["Stage"]
        context["sagemaker:ModelLifeCycle:StageStatus"] = params["ModelLifeCycle"]["StageStatus"]
    return context


def _sent_update(**update: Any) -> dict[str, Any]:
    """The UpdateModelPackage request the runtime's one writer (finmlops.registry.versions.
    update_version) sends, captured on the wire against moto."""
    import boto3
    from moto import mock_aws

    from finmlops.registry.versions import update_version

    sent: list[dict[str, Any]] = []
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_model_package_group(ModelPackageGroupName="credit-risk-xgb")
        arn = sm.create_model_package(
            ModelPackageGroupName="credit-risk-xgb",
            ModelApprovalStatus=PENDING,
            CustomerMetadataProperties={"created-by": "alice", "approved-by": "x"},
            InferenceSpecification={
                "Containers": [{"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        sm.meta.events.register(
            "provide-client-params.sagemaker.UpdateModelPackage",
            lambda params, **_: sent.append(dict(params)),
        )
        update_version(sm, arn, **update)
    (params,) = sent
    return params


def test_the_approvers_own_approve_and_reject_requests_are_allowed(iam_platform: Any) -> None:
    """What `finmlops registry approve`/`reject` send (status, description, the approver's own
    metadata; a rejection removes it), and the console's status change, pass the policy."""
    from finmlops.contracts import Meta
    from finmlops.registry.approval import APPROVAL_KEYS

    approve = _sent_update(
        status=APPROVED,
        approval_description="Approved by bob at t: validated",
        metadata={
            Meta.APPROVED_BY: "arn:aws:sts::1:assumed-role/A/bob",
            Meta.APPROVED_AT: "t",
            Meta.APPROVAL_REASON: "validated",
        },
    )
    reject = _sent_update(
        status="Rejected", approval_description="Rejected: drift", remove_metadata=APPROVAL_KEYS
    )
    console = {"ModelPackageArn": VERSION, "ModelApprovalStatus": APPROVED}
    for params in (approve, reject, console):
        result = _approver_decides(iam_platform, _request_context(params))
        assert result.allowed, result.reason
    assert reject["CustomerMetadataPropertiesToRemove"] == [Meta.APPROVED_BY]


def _other_platform_keys() -> list[str]:
    from finmlops_cdk.guardrails import APPROVER_METADATA, platform_metadata_keys

    return [k for k in platform_metadata_keys() if k not in APPROVER_METADATA]


@pytest.mark.parametrize("key", _other_platform_keys())
def test_approver_cannot_rewrite_any_metadata_but_the_decision(iam_platform: Any, key: str) -> None:
    """The insider with the approver role rewrites authorship (created-by), lineage or
    inventory while approving: denied, key by key."""
    rewrite = _approver_decides(iam_platform, {STATUS: APPROVED, META + key: "someone-else"})
    assert rewrite.outcome == "explicit-deny", rewrite.reason
    removal = {STATUS: "Rejected", "sagemaker:CustomerMetadataPropertiesToRemove": [key]}
    assert _approver_decides(iam_platform, removal).outcome == "explicit-deny"


@pytest.mark.parametrize(
    ("request_keys", "decision"),
    [
        ({META + "created-by": "bob"}, "Deny"),  # metadata alone, no decision
        ({STATUS: PENDING}, "implicit deny"),  # back to pending is no decision
        (
            {
                STATUS: APPROVED,
                "sagemaker:ModelLifeCycle:Stage": "Production",
                "sagemaker:ModelLifeCycle:StageStatus": "Deployed",
            },
            "Deny",
        ),
        (
            {
                STATUS: APPROVED,
                "sagemaker:CustomerMetadataPropertiesToRemove": ["approved-by", "created-by"],
            },
            "Deny",
        ),
        # The inference specification has no condition key: IAM sees a plain decision. The
        # approval record binds the artifacts and the promotion gate refuses a changed version.
        ({STATUS: APPROVED}, "Allow"),
    ],
)
def test_approver_changes_the_decision_and_nothing_else_iam_can_see(
    iam_platform: Any, request_keys: dict[str, Any], decision: str
) -> None:
    result = _approver_decides(iam_platform, request_keys)
    assert result.outcome == OUTCOME[decision], result.reason


def test_approver_metadata_keys_are_the_runtimes() -> None:
    from finmlops_cdk.guardrails import APPROVER_METADATA

    from finmlops.registry.approval import APPROVAL_KEYS

    assert set(APPROVER_METADATA) == set(APPROVAL_KEYS)


def test_registry_policy_names_each_principal_once(platform: Any, variant: Any) -> None:
    """SageMaker refuses a group policy that names a principal twice ("Invalid policy provided:
    Duplicate principal"; awslabs/aiops-modules PR #397): the dev deploy failed on it."""
    for synth in (platform, variant):
        for env, lid, _, document in _policy_documents(synth):
            for statement in document["Statement"]:
                principal = statement.get("Principal")
                if not isinstance(principal, dict):
                    continue
                for kind, values in principal.items():
                    listed = [json.dumps(v, sort_keys=True) for v in _as_list(values)]
                    assert len(listed) == len(set(listed)), (env, lid, kind, listed)
