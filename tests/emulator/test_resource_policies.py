"""Resource policies in the emulator, as `resource_policies.install()` leaves moto (tests/conftest.py
installs it): SageMaker keeps a model package group's policy and refuses what SageMaker refuses;
S3 refuses the bucket policies S3 refuses. Each refusal leaves the previous policy in place.
Against moto alone (`pytest --noconftest`) the SageMaker calls do not exist and S3 accepts all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

GROUP = "credit-risk-xgb"
BUCKET = "credit-risk-audit-444444444444-us-east-1"


def _policy(principals: Any, **statement: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": principals},
                    "Action": ["sagemaker:DescribeModelPackage"],
                    "Resource": "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/*",
                    **statement,
                }
            ],
        }
    )


GOOD = _policy(["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"])


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def _refusal(sm: Any, policy: str) -> dict[str, str]:
    sm.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=GOOD)
    with pytest.raises(ClientError) as caught:
        sm.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=policy)
    kept = sm.get_model_package_group_policy(ModelPackageGroupName=GROUP)["ResourcePolicy"]
    assert kept == GOOD, "a refused policy must not replace the previous one"
    error: dict[str, str] = caught.value.response["Error"]
    return error


def test_a_group_keeps_the_policy_put_on_it(sm: Any) -> None:
    arn = sm.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=GOOD)
    assert arn["ModelPackageGroupArn"].endswith(f"model-package-group/{GROUP}")
    got = sm.get_model_package_group_policy(ModelPackageGroupName=GROUP)["ResourcePolicy"]
    assert json.loads(got) == json.loads(GOOD)


def test_a_deleted_policy_is_gone(sm: Any) -> None:
    sm.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=GOOD)
    sm.delete_model_package_group_policy(ModelPackageGroupName=GROUP)
    with pytest.raises(ClientError, match="not found"):
        sm.get_model_package_group_policy(ModelPackageGroupName=GROUP)


def test_a_policy_on_a_missing_group_is_refused(sm: Any) -> None:
    with pytest.raises(ClientError, match="does not exist"):
        sm.put_model_package_group_policy(ModelPackageGroupName="no-such", ResourcePolicy=GOOD)


def test_the_same_account_listed_twice_is_a_duplicate_principal(sm: Any) -> None:
    # The dev template's policy before the fix: each account once per role that reads.
    policy = _policy(["arn:aws:iam::222222222222:root", "arn:aws:iam::222222222222:root"])
    error = _refusal(sm, policy)
    assert error["Code"] == "ValidationException"
    assert error["Message"] == "Invalid policy provided: Duplicate principal"


def test_an_account_id_and_its_root_arn_are_the_same_principal(sm: Any) -> None:
    error = _refusal(sm, _policy(["222222222222", "arn:aws:iam::222222222222:root"]))
    assert error["Message"] == "Invalid policy provided: Duplicate principal"


def test_malformed_json_is_refused(sm: Any) -> None:
    error = _refusal(sm, GOOD[:-2])
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Invalid policy provided:")
    assert "JSON" in error["Message"]


def test_a_principal_that_is_not_an_account_or_arn_is_refused(sm: Any) -> None:
    error = _refusal(sm, _policy(["stage-account"]))
    assert error["Code"] == "ValidationException"
    assert "'stage-account' is not an account id or an IAM ARN" in error["Message"]


def test_a_statement_without_a_valid_effect_is_refused(sm: Any) -> None:
    error = _refusal(sm, _policy(["222222222222"], Effect="Permit"))
    assert "Effect must be Allow or Deny" in error["Message"]


# --------------------------------------------------------------------------- S3


def _create_only(**change: Any) -> dict[str, Any]:
    statement = {
        "Sid": "CreateOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
        "Condition": {"Null": {"s3:if-none-match": "true"}},
        **change,
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _s3_refusal(s3: Any, policy: str) -> dict[str, str]:
    good = json.dumps(_create_only())
    s3.put_bucket_policy(Bucket=BUCKET, Policy=good)
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=policy)
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == good
    error: dict[str, str] = caught.value.response["Error"]
    assert error["Code"] == "MalformedPolicy"
    return error


def test_s3_keeps_the_create_only_policy(s3: Any) -> None:
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(_create_only()))
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == _create_only()


def test_s3_refuses_a_condition_on_an_unknown_operator(s3: Any) -> None:
    error = _s3_refusal(
        s3, json.dumps(_create_only(Condition={"IsNull": {"s3:if-none-match": "true"}}))
    )
    assert "IsNull" in error["Message"]


def test_s3_accepts_operators_with_if_exists_and_set_qualifiers(s3: Any) -> None:
    condition = {
        "StringNotEqualsIfExists": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"},
        "ForAnyValue:StringLike": {"aws:TagKeys": "a*"},
        "Null": {"s3:if-none-match": "true"},
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(_create_only(Condition=condition)))


def test_s3_refuses_an_object_action_on_the_bucket_arn(s3: Any) -> None:
    error = _s3_refusal(s3, json.dumps(_create_only(Resource=f"arn:aws:s3:::{BUCKET}")))
    assert error["Message"].startswith("Action does not apply to any resource(s) in statement")


def test_s3_refuses_a_resource_of_another_bucket(s3: Any) -> None:
    error = _s3_refusal(s3, json.dumps(_create_only(Resource="arn:aws:s3:::other-bucket/*")))
    assert error["Message"] == "Policy has invalid resource: arn:aws:s3:::other-bucket/*"


def test_s3_refuses_text_that_is_not_json(s3: Any) -> None:
    error = _s3_refusal(s3, "Statement: deny")
    assert "not valid JSON" in error["Message"]


def test_s3_still_answers_no_such_bucket_first(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket="no-such-bucket-here", Policy="nope")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
