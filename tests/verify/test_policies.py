"""Policies compared as IAM reads them, and the create-only probe of the audit bucket policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finmlops.verify.policies import (
    PolicyReadError,
    create_only_statement,
    duplicate_principals,
    policy_differences,
    resolve,
    statements,
)

BUCKET = "credit-risk-audit-444444444444-us-east-1"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


READ = {
    "Sid": "Read",
    "Effect": "Allow",
    "Principal": {"AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]},
    "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
    "Resource": "arn:aws:sagemaker:us-east-1:111111111111:model-package/g/*",
    "Condition": {"ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:role/model"]}},
}


def test_order_spelling_case_and_sids_do_not_make_policies_differ() -> None:
    same = {
        "Effect": "Allow",
        "Principal": {"AWS": ["333333333333", "arn:aws:iam::222222222222:root"]},
        "Action": ["SageMaker:ListModelPackages", "sagemaker:describemodelpackage"],
        "Resource": ["arn:aws:sagemaker:us-east-1:111111111111:model-package/g/*"],
        "Condition": {"ArnLike": {"AWS:PrincipalArn": "arn:aws:iam::222222222222:role/model"}},
    }
    assert policy_differences(_policy(READ), {"Statement": same}) == []
    assert policy_differences(json.dumps(_policy(READ)), json.dumps(_policy(same))) == []


def test_a_principal_added_is_named() -> None:
    changed = json.loads(json.dumps(READ))
    changed["Principal"]["AWS"].append("arn:aws:iam::999999999999:root")
    (difference,) = policy_differences(_policy(READ), _policy(changed))
    assert (
        difference
        == "statement 'Read' differs: principals: extra AWS:arn:aws:iam::999999999999:root"
    )


def test_a_resource_and_a_condition_that_differ_are_named() -> None:
    changed = json.loads(json.dumps(READ))
    changed["Resource"] = "*"
    changed["Condition"]["ArnLike"]["aws:PrincipalArn"] = ["arn:aws:iam::222222222222:role/*"]
    (difference,) = policy_differences(_policy(READ), _policy(changed))
    assert "resources: missing arn:aws:sagemaker" in difference and "extra *" in difference
    assert "conditions:" in difference and "role/*" in difference


def test_a_missing_and_an_extra_statement_are_named() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sagemaker:*", "Resource": "*"}
    differences = policy_differences(_policy(READ), _policy(deny))
    assert differences == [
        "statement 'Read' is missing",
        "Deny statement on sagemaker:* is not in the synthesized policy",
    ]


def test_duplicates_do_not_change_a_policy_but_are_listed() -> None:
    doubled = json.loads(json.dumps(READ))
    doubled["Principal"]["AWS"] += ["222222222222"]
    assert policy_differences(_policy(READ), _policy(doubled)) == []
    assert duplicate_principals(_policy(doubled)) == ["AWS arn:aws:iam::222222222222:root"]


def test_text_that_is_not_a_policy_cannot_be_read() -> None:
    with pytest.raises(PolicyReadError, match="not JSON"):
        statements("{")
    with pytest.raises(PolicyReadError, match="no Statement"):
        statements({"Version": "2012-10-17"})


def test_pseudo_parameters_resolve_and_deploy_time_values_are_refused() -> None:
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": "111111111111"}
    value = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"],
        ]
    }
    assert resolve(value, pseudo) == "arn:aws:iam::111111111111:root"
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}, pseudo) == "arn:aws:s3:::b"
    with pytest.raises(PolicyReadError, match="set at deploy time"):
        resolve({"Fn::GetAtt": ["Role", "Arn"]}, pseudo)


# --------------------------------------------------------------------------- create-only


def _deny(**change: Any) -> dict[str, Any]:
    statement = {
        "Sid": "CreateOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/audit/*",
        "Condition": {"Null": {"s3:if-none-match": "true"}},
    }
    return {**statement, **change}


TLS_ONLY = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def test_the_documented_statement_makes_writes_create_only() -> None:
    assert create_only_statement(_policy(TLS_ONLY, _deny()), BUCKET, "audit/r.json") == "CreateOnly"


def test_equivalent_spellings_are_recognized() -> None:
    for statement in (
        _deny(Principal="*", Action=["s3:Put*"], Resource=f"arn:aws:s3:::{BUCKET}/*"),
        _deny(Condition={"StringNotEquals": {"s3:if-none-match": "*"}}),
        _deny(
            Condition={
                "Null": {"S3:If-None-Match": "true"},
                "Bool": {"s3:ObjectCreationOperation": "true"},
            }
        ),
    ):
        assert create_only_statement(_policy(statement), BUCKET, "audit/r.json")


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        (TLS_ONLY, "denies only plain HTTP"),
        (_deny(Effect="Allow"), "an Allow denies nothing"),
        (_deny(Condition={}), "denies every write, with the header too"),
        (_deny(Principal={"AWS": "arn:aws:iam::444444444444:role/writer"}), "only one principal"),
        (_deny(Action="s3:DeleteObject"), "another action"),
        (_deny(Resource=f"arn:aws:s3:::{BUCKET}/other/*"), "another prefix"),
        (_deny(Condition={"Null": {"s3:if-match": "true"}}), "another header"),
    ],
)
def test_statements_that_do_not_make_writes_create_only(
    statement: dict[str, Any], why: str
) -> None:
    assert create_only_statement(_policy(statement), BUCKET, "audit/r.json") is None, why
