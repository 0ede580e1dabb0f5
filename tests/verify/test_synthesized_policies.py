"""The resource policies of the synthesized templates, put as CloudFormation would put them into
the emulator, which refuses what SageMaker and S3 refuse (finmlops.emulator.aws.resource_policies)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops.emulator.aws.resource_policies import s3_policy_problem, sagemaker_policy_problem
from finmlops.verify.policies import duplicate_principals


def test_the_dev_group_policy_is_accepted_exactly_when_no_principal_repeats(
    aws: Any, assemblies: dict[str, Any]
) -> None:
    """Issue 13, "dev fails to deploy": SageMaker refuses a group policy listing one account
    several times. The synthesized policy is refused here exactly when it does."""
    (group,) = assemblies["dev"].resources("AWS::SageMaker::ModelPackageGroup")
    name, policy = (
        group.properties["ModelPackageGroupName"],
        group.properties["ModelPackageGroupPolicy"],
    )
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=name)
    if duplicate_principals(policy):
        with pytest.raises(ClientError, match="Invalid policy provided: Duplicate principal"):
            sm.put_model_package_group_policy(
                ModelPackageGroupName=name, ResourcePolicy=json.dumps(policy)
            )
    else:
        sm.put_model_package_group_policy(
            ModelPackageGroupName=name, ResourcePolicy=json.dumps(policy)
        )
        assert sagemaker_policy_problem(json.dumps(policy)) is None


def test_every_synthesized_bucket_policy_passes_s3s_checks(
    assemblies: dict[str, Any], template_value: Any
) -> None:
    """What the platform deploys is not refused by the emulator's S3 validation."""
    resolve_template_value = template_value

    checked, problems = 0, []
    for environment, assembly in assemblies.items():
        for component, template in assembly.templates.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] != "AWS::S3::BucketPolicy":
                    continue
                bucket = resolve_template_value(resource["Properties"]["Bucket"], template)
                policy = resolve_template_value(resource["Properties"]["PolicyDocument"], template)
                checked += 1
                problem = s3_policy_problem(bucket, json.dumps(policy))
                if problem:
                    problems.append(f"{environment}/{component}/{logical_id}: {problem}")
    assert checked >= 8
    assert problems == []
