"""Each condition rule against the IAM User Guide's own examples.

Pages cited by their titles (IAM User Guide):
- CO: "IAM JSON policy elements: Condition operators"
- MV: "Conditions with multiple context keys or values" and "Single-valued vs. multivalued
  context keys" (set operators)
- VAR: "IAM policy elements: Variables and tags"
- COND: "IAM JSON policy elements: Condition" (key names are case-insensitive)
"""

from __future__ import annotations

from typing import Any

import pytest

from finmlops.iam.conditions import Operator, PolicyError

# --------------------------------------------------------------------------- string (CO)


def test_string_equals_is_case_sensitive_and_matches_the_principal_tag_example(holds: Any) -> None:
    # CO, "String condition operators": aws:PrincipalTag/job-category must be iamuser-admin.
    key, value = "aws:PrincipalTag/job-category", "iamuser-admin"
    assert holds("StringEquals", key, value, {key: "iamuser-admin"})
    assert not holds("StringEquals", key, value, {key: "IAMUser-Admin"})
    assert not holds("StringEquals", key, value, {key: "iamuser-admin-2"})


def test_string_equals_does_not_read_wildcards(holds: Any) -> None:
    assert not holds("StringEquals", "s3:prefix", "home/*", {"s3:prefix": "home/carlos"})
    assert holds("StringEquals", "s3:prefix", "home/*", {"s3:prefix": "home/*"})


def test_string_equals_ignore_case(holds: Any) -> None:
    assert holds(
        "StringEqualsIgnoreCase", "aws:PrincipalTag/team", "Risk", {"aws:PrincipalTag/team": "RISK"}
    )
    assert not holds(
        "StringNotEqualsIgnoreCase",
        "aws:PrincipalTag/team",
        "Risk",
        {"aws:PrincipalTag/team": "rIsK"},
    )


def test_string_like_wildcards_star_and_question_mark(holds: Any) -> None:
    # CO, StringLike: "*" any run of characters, "?" exactly one.
    assert holds("StringLike", "s3:prefix", "home/*", {"s3:prefix": "home/carlos/x"})
    assert holds("StringLike", "s3:prefix", "v?", {"s3:prefix": "v1"})
    assert not holds("StringLike", "s3:prefix", "v?", {"s3:prefix": "v10"})
    assert not holds("StringLike", "s3:prefix", "Home/*", {"s3:prefix": "home/x"})


def test_string_like_with_the_username_variable_from_the_documentation(holds: Any) -> None:
    # CO and VAR: "s3:prefix": ["", "home/", "home/${aws:username}/"] lets a user list their home.
    values = ["", "home/", "home/${aws:username}/"]
    assert holds(
        "StringLike", "s3:prefix", values, {"s3:prefix": "home/carlos/", "aws:username": "carlos"}
    )
    assert holds("StringLike", "s3:prefix", values, {"s3:prefix": "", "aws:username": "carlos"})
    assert not holds(
        "StringLike", "s3:prefix", values, {"s3:prefix": "home/maria/", "aws:username": "carlos"}
    )


# --------------------------------------------------------------------------- numeric, date, bool


def test_numeric_less_than_equals_the_max_keys_example(holds: Any) -> None:
    # CO, "Numeric condition operators": s3:max-keys at most 10.
    assert holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "10"})
    assert holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": 2})
    assert not holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "11"})
    assert not holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "ten"})


@pytest.mark.parametrize(
    ("operator", "request_value", "expected"),
    [
        ("NumericEquals", "1.2", True),
        ("NumericNotEquals", "1.3", True),
        ("NumericLessThan", "1.1", True),
        ("NumericGreaterThan", "1.2", False),
        ("NumericGreaterThanEquals", "1.2", True),
    ],
)
def test_numeric_operators_compare_numbers(
    holds: Any, operator: str, request_value: str, expected: bool
) -> None:
    # The S3 TLS guard CDK writes: {"NumericLessThan": {"s3:TlsVersion": 1.2}}.
    assert holds(operator, "s3:TlsVersion", 1.2, {"s3:TlsVersion": request_value}) is expected


def test_date_greater_than_the_token_issue_time_example(holds: Any) -> None:
    # CO, "Date condition operators": aws:TokenIssueTime after 2020-01-01T00:00:01Z.
    key, value = "aws:TokenIssueTime", "2020-01-01T00:00:01Z"
    assert holds("DateGreaterThan", key, value, {key: "2020-01-01T00:00:02Z"})
    assert not holds("DateGreaterThan", key, value, {key: "2019-12-31T23:59:59Z"})
    # Epoch seconds are dates too.
    assert holds(
        "DateLessThan",
        "aws:CurrentTime",
        "2030-01-01T00:00:00Z",
        {"aws:CurrentTime": 1_700_000_000},
    )
    assert holds(
        "DateEquals", "aws:CurrentTime", "1577836801", {"aws:CurrentTime": "2020-01-01T00:00:01Z"}
    )


def test_bool_the_secure_transport_example(decide: Any) -> None:
    # CO, "Boolean condition operators": deny requests that are not sent over TLS.
    deny = {
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert decide(deny, {"aws:SecureTransport": False}).explicitly_denied
    assert decide(deny, {"aws:SecureTransport": "FALSE"}).explicitly_denied
    assert not decide(deny, {"aws:SecureTransport": True}).explicitly_denied
    # The key missing: Bool is false, so the Deny does not apply (use BoolIfExists to make it).
    assert not decide(deny, {}).explicitly_denied
    deny_if_exists = {**deny, "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}}
    assert decide(deny_if_exists, {}).explicitly_denied


def test_binary_equals_compares_the_decoded_bytes(holds: Any) -> None:
    # CO, "Binary condition operators": the value is base64 encoded.
    assert holds(
        "BinaryEquals",
        "key",
        "QmluYXJ5VmFsdWVJbkJhc2U2NA==",
        {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="},
    )
    assert not holds("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", {"key": "b3RoZXI="})


def test_ip_address_and_not_ip_address_the_documented_ranges(holds: Any) -> None:
    # CO, "IP address condition operators": 203.0.113.0/24 and 2001:DB8:1234:5678::/64.
    ranges = ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]
    assert holds("IpAddress", "aws:SourceIp", ranges, {"aws:SourceIp": "203.0.113.7"})
    assert holds("IpAddress", "aws:SourceIp", ranges, {"aws:SourceIp": "2001:db8:1234:5678::1"})
    assert not holds("IpAddress", "aws:SourceIp", ranges, {"aws:SourceIp": "198.51.100.7"})
    assert holds("NotIpAddress", "aws:SourceIp", ranges, {"aws:SourceIp": "198.51.100.7"})
    assert not holds("NotIpAddress", "aws:SourceIp", ranges, {"aws:SourceIp": "203.0.113.7"})


def test_arn_like_matches_each_of_the_six_parts(holds: Any) -> None:
    # CO, "ARN condition operators": each colon-delimited part is matched separately.
    key = "aws:SourceArn"
    topic = "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"
    assert holds("ArnEquals", key, topic, {key: topic})
    assert holds("ArnLike", key, "arn:aws:sns:*:123456789012:*", {key: topic})
    assert not holds(
        "ArnLike",
        key,
        "arn:aws:sns:*:123456789012:*",
        {key: "arn:aws:sqs:us-east-1:123456789012:q"},
    )
    # A `*` in the account part does not reach across the colon into the resource part.
    assert not holds(
        "ArnLike", key, "arn:aws:iam::*role/x", {key: "arn:aws:iam::123456789012:role/x"}
    )
    assert holds(
        "ArnNotLike", key, "arn:aws:iam::*:role/admin", {key: "arn:aws:iam::123456789012:role/x"}
    )
    assert not holds("ArnLike", key, "arn:aws:sns:*", {key: "not-an-arn"})


# --------------------------------------------------------------------------- missing keys (CO)


def test_a_missing_key_fails_a_positive_operator_and_satisfies_a_negated_one(holds: Any) -> None:
    # CO, Important: "If the key ... is not present ... the condition is false. If the policy
    # condition requires that the key is not matched, such as StringNotLike or ArnNotLike, and the
    # right key is not present, the condition is true."
    assert not holds("StringEquals", "aws:PrincipalTag/team", "risk", {})
    assert not holds("StringLike", "aws:PrincipalTag/team", "*", {})
    assert not holds("NumericLessThan", "s3:max-keys", "10", {})
    assert holds("StringNotEquals", "aws:PrincipalTag/team", "risk", {})
    assert holds("StringNotLike", "aws:PrincipalTag/team", "risk*", {})
    assert holds("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*", {})


def test_if_exists_the_instance_type_example(holds: Any) -> None:
    # CO, "...IfExists condition operators": t1.*, t2.*, m3.* when the key is present; true
    # when it is absent.
    types = ["t1.*", "t2.*", "m3.*"]
    assert holds("StringLikeIfExists", "ec2:InstanceType", types, {"ec2:InstanceType": "t2.micro"})
    assert not holds(
        "StringLikeIfExists", "ec2:InstanceType", types, {"ec2:InstanceType": "m5.large"}
    )
    assert holds("StringLikeIfExists", "ec2:InstanceType", types, {})


def test_null_tests_presence_the_token_issue_time_example(holds: Any) -> None:
    # CO, "Condition operator to check existence of condition keys": Null true = absent.
    assert holds("Null", "aws:TokenIssueTime", "true", {})
    assert not holds(
        "Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}
    )
    assert holds(
        "Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}
    )
    assert not holds("Null", "aws:TokenIssueTime", False, {})


# --------------------------------------------------------------------------- keys and values


def test_condition_key_names_are_case_insensitive_values_are_not(holds: Any) -> None:
    # COND: "Condition key names are not case-sensitive"; the value comparison of StringEquals is.
    assert holds("StringEquals", "AWS:PrincipalTag/Team", "risk", {"aws:principaltag/team": "risk"})
    assert not holds(
        "StringEquals", "aws:PrincipalTag/team", "risk", {"aws:PrincipalTag/team": "Risk"}
    )


def test_several_values_are_or_several_keys_and_operators_are_and(decide: Any) -> None:
    # MV, "Evaluation logic for multiple context keys or values".
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "aws:PrincipalTag/department": ["finance", "hr"],
                "aws:PrincipalTag/role": "audit",
            },
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"},
        },
    }
    everything = {
        "aws:PrincipalTag/department": "hr",
        "aws:PrincipalTag/role": "audit",
        "aws:PrincipalArn": "arn:aws:iam::111122223333:role/Analyst",
    }
    assert decide(statement, everything).allowed
    for missing in everything:
        assert not decide(statement, {k: v for k, v in everything.items() if k != missing}).allowed


def test_a_negated_operator_with_several_values_is_nor(holds: Any) -> None:
    # MV: "If a single negated matching condition operator includes multiple values for a context
    # key, those values are evaluated using a logical NOR."
    values = ["audit", "security"]
    assert not holds(
        "StringNotEquals", "aws:PrincipalTag/role", values, {"aws:PrincipalTag/role": "audit"}
    )
    assert not holds(
        "StringNotEquals", "aws:PrincipalTag/role", values, {"aws:PrincipalTag/role": "security"}
    )
    assert holds(
        "StringNotEquals", "aws:PrincipalTag/role", values, {"aws:PrincipalTag/role": "dev"}
    )


# --------------------------------------------------------------------------- set operators (MV)


def test_for_all_values_the_requested_attributes_example(holds: Any) -> None:
    # MV: ForAllValues:StringLike dynamodb:requestedAttributes PostDateTime, Message, Tags.
    allowed = ["PostDateTime", "Message", "Tags"]
    key = "dynamodb:requestedAttributes"
    assert holds("ForAllValues:StringLike", key, allowed, {key: ["PostDateTime", "Message"]})
    assert not holds("ForAllValues:StringLike", key, allowed, {key: ["PostDateTime", "UserName"]})
    # "If the key values in the request resolve to an empty data set ... ForAllValues returns
    # true, and ... ForAnyValue returns false." A missing key reads the same way.
    assert holds("ForAllValues:StringLike", key, allowed, {key: []})
    assert holds("ForAllValues:StringLike", key, allowed, {})
    assert not holds("ForAnyValue:StringLike", key, allowed, {key: []})
    assert not holds("ForAnyValue:StringLike", key, allowed, {})


def test_for_any_value_the_put_item_deny_example(decide: Any) -> None:
    # MV: Deny PutItem when any requested attribute is ID or PostDateTime.
    deny = {
        "Effect": "Deny",
        "Action": "dynamodb:PutItem",
        "Resource": "*",
        "Condition": {
            "ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}
        },
    }
    key = "dynamodb:requestedAttributes"
    assert decide(deny, {key: ["UserName", "Message", "PostDateTime"]}).explicitly_denied
    assert not decide(deny, {key: ["UserName"]}).explicitly_denied


def test_for_all_values_with_tag_keys_restricts_which_tags_a_request_may_carry(holds: Any) -> None:
    # MV, the aws:TagKeys example: only environment and cost-center tags.
    allowed = ["environment", "cost-center"]
    assert holds(
        "ForAllValues:StringEquals", "aws:TagKeys", allowed, {"aws:TagKeys": ["environment"]}
    )
    assert not holds(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        allowed,
        {"aws:TagKeys": ["environment", "owner"]},
    )


def test_a_multivalued_key_without_a_set_operator_never_matches(holds: Any) -> None:
    # MV: a multivalued key is compared through ForAllValues/ForAnyValue; a single-valued
    # operator does not read a set (so a policy that forgets the set operator grants nothing).
    assert not holds("StringEquals", "aws:TagKeys", "environment", {"aws:TagKeys": ["environment"]})
    assert holds(
        "ForAnyValue:StringEquals", "aws:TagKeys", "environment", {"aws:TagKeys": ["environment"]}
    )


def test_for_all_values_with_a_negated_operator_checks_every_value(holds: Any) -> None:
    key = "aws:TagKeys"
    assert holds("ForAllValues:StringNotEquals", key, ["owner"], {key: ["environment", "team"]})
    assert not holds(
        "ForAllValues:StringNotEquals", key, ["owner"], {key: ["environment", "owner"]}
    )
    assert holds("ForAnyValue:StringNotEquals", key, ["owner"], {key: ["environment", "owner"]})


def test_if_exists_with_a_set_operator_accepts_a_missing_key(holds: Any) -> None:
    assert holds("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", "environment", {})


# --------------------------------------------------------------------------- variables (VAR)


def test_a_variable_in_a_resource_the_home_folder_example(decide: Any) -> None:
    # VAR, "Using variables in policies": arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*",
    }
    carlos = {"aws:username": "carlos"}
    assert decide(
        statement, carlos, resource="arn:aws:s3:::amzn-s3-demo-bucket/home/carlos/a.txt"
    ).allowed
    assert not decide(
        statement, carlos, resource="arn:aws:s3:::amzn-s3-demo-bucket/home/maria/a.txt"
    ).allowed
    # "Policy variables with no value": a role session has no aws:username, so nothing matches.
    assert not decide(
        statement, {}, resource="arn:aws:s3:::amzn-s3-demo-bucket/home/carlos/a.txt"
    ).allowed


def test_variables_only_under_the_2012_10_17_version(decide: Any) -> None:
    # VAR: "you must include the Version element and set it to ... 2012-10-17"; otherwise the
    # variable is literal text.
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/${aws:username}",
    }
    literal = "arn:aws:s3:::b/${aws:username}"
    assert decide(statement, {"aws:username": "carlos"}, resource="arn:aws:s3:::b/carlos").allowed
    old = {"aws:username": "carlos"}
    assert not decide(
        statement, old, resource="arn:aws:s3:::b/carlos", version="2008-10-17"
    ).allowed
    assert decide(statement, old, resource=literal, version="2008-10-17").allowed


def test_a_variable_default_value_and_the_principal_tag_variable(holds: Any) -> None:
    # VAR, "Specifying default values": ${aws:PrincipalTag/team, 'company-wide'}.
    value = "${aws:PrincipalTag/team, 'company-wide'}"
    assert holds(
        "StringEquals", "s3:prefix", value, {"s3:prefix": "risk", "aws:PrincipalTag/team": "risk"}
    )
    assert holds("StringEquals", "s3:prefix", value, {"s3:prefix": "company-wide"})
    assert not holds("StringEquals", "s3:prefix", value, {"s3:prefix": "risk"})


def test_source_identity_as_a_variable(holds: Any) -> None:
    # The pattern issue 12 relies on: a person may touch only records named after their own
    # source identity (VAR lists aws:SourceIdentity among the keys usable as variables).
    value = "audit/${aws:SourceIdentity}/*"
    assert holds(
        "StringLike",
        "s3:prefix",
        value,
        {"s3:prefix": "audit/alice/1", "aws:SourceIdentity": "alice"},
    )
    assert not holds(
        "StringLike",
        "s3:prefix",
        value,
        {"s3:prefix": "audit/bob/1", "aws:SourceIdentity": "alice"},
    )
    assert not holds("StringLike", "s3:prefix", value, {"s3:prefix": "audit/alice/1"})


def test_special_character_variables_are_literal(holds: Any) -> None:
    # VAR, "Special characters": ${*}, ${?} and ${$} stand for the characters themselves.
    assert holds("StringLike", "s3:prefix", "a${*}b", {"s3:prefix": "a*b"})
    assert not holds("StringLike", "s3:prefix", "a${*}b", {"s3:prefix": "axxb"})
    assert holds("StringLike", "s3:prefix", "a${?}", {"s3:prefix": "a?"})
    assert not holds("StringLike", "s3:prefix", "a${?}", {"s3:prefix": "ab"})
    assert holds("StringEquals", "s3:prefix", "${$}{x}", {"s3:prefix": "${x}"})


def test_a_variable_value_never_acts_as_a_wildcard(holds: Any) -> None:
    # A username of "*" must not turn the pattern into "home/*".
    assert not holds(
        "StringLike",
        "s3:prefix",
        "home/${aws:username}",
        {"s3:prefix": "home/maria", "aws:username": "*"},
    )


def test_an_unresolvable_variable_under_a_negated_operator_does_not_hold(holds: Any) -> None:
    assert not holds("StringNotEquals", "s3:prefix", "${aws:username}", {"s3:prefix": "x"})


def test_numeric_operators_do_not_resolve_variables(holds: Any) -> None:
    # CO: Numeric operators, "Policy variables – Not supported".
    assert not holds(
        "NumericEquals", "s3:max-keys", "${aws:username}", {"s3:max-keys": "5", "aws:username": "5"}
    )


# --------------------------------------------------------------------------- bad policies


@pytest.mark.parametrize(
    "text", ["StringEqualz", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null"]
)
def test_unknown_or_malformed_operators_are_refused_by_name(text: str) -> None:
    with pytest.raises(PolicyError, match=r"operator|Null"):
        Operator.parse(text)


def test_operator_names_parse_into_their_parts() -> None:
    op = Operator.parse("ForAnyValue:StringNotLikeIfExists")
    assert (op.set_operator, op.base, op.positive, op.negated, op.if_exists) == (
        "ForAnyValue",
        "StringNotLike",
        "StringLike",
        True,
        True,
    )
