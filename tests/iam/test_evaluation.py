"""The evaluation logic against the IAM and KMS documentation.

Pages cited by their titles:
- EVAL: IAM User Guide, "How AWS enforcement code logic evaluates requests to allow or deny
  access" and "Policy evaluation for requests within a single account"
- XACCT: IAM User Guide, "Cross-account policy evaluation logic"
- ELEM: IAM User Guide, "IAM JSON policy elements: Action / NotAction / Resource / NotResource /
  Principal / NotPrincipal"
- PB: IAM User Guide, "Permissions boundaries for IAM entities" and "Session policies"
- KMS: AWS KMS Developer Guide, "Default key policy" ("Allows access to the AWS account and
  enables IAM policies")
- ROLES: IAM User Guide, "How IAM roles differ from resource-based policies"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from finmlops.iam.conditions import PolicyError
from finmlops.iam.context import RequestContext
from finmlops.iam.evaluate import Decision, Request, ResourceRule, evaluate
from finmlops.iam.policy import Policy
from finmlops.iam.principals import Caller

A, B = "111122223333", "444455556666"
CARLOS = f"arn:aws:iam::{A}:user/carlossalazar"
ROLE = f"arn:aws:iam::{A}:role/Analyst"
SESSION = f"arn:aws:sts::{A}:assumed-role/Analyst/carlos"
B_SESSION = f"arn:aws:sts::{B}:assumed-role/Reader/maria"
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs"


def identity(*statements: Mapping[str, Any]) -> Policy:
    return Policy.parse({"Version": "2012-10-17", "Statement": list(statements)}, name="identity")


def resource_policy(*statements: Mapping[str, Any]) -> Policy:
    return Policy.parse(
        {"Version": "2012-10-17", "Statement": list(statements)}, name="resource", kind="resource"
    )


def decide(
    caller: str,
    action: str,
    resource: str,
    *,
    account: str = A,
    ids: Sequence[Policy] = (),
    res: Policy | None = None,
    rule: ResourceRule = "default",
    boundary: Policy | None = None,
    session: Sequence[Policy] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    request = Request(
        Caller.parse(caller), action, resource, account, RequestContext(context or {})
    )
    return evaluate(
        request,
        identity=ids,
        resource_policy=res,
        rule=rule,
        boundary=boundary,
        session_policies=session,
    )


ALLOW_PUT = {
    "Sid": "AllowPut",
    "Effect": "Allow",
    "Action": "s3:PutObject",
    "Resource": f"{BUCKET}/*",
}

# --------------------------------------------------------------------------- deny and allow


def test_by_default_every_request_is_implicitly_denied() -> None:
    # EVAL: "By default, all requests are implicitly denied".
    decision = decide(SESSION, "s3:PutObject", f"{BUCKET}/x")
    assert decision.outcome == "implicit-deny" and not decision


def test_an_explicit_deny_in_any_policy_overrides_an_allow() -> None:
    # EVAL: "An explicit deny overrides an explicit allow", wherever it is.
    deny = {"Sid": "NoPut", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    assert decide(SESSION, "s3:PutObject", f"{BUCKET}/x", ids=[identity(ALLOW_PUT)]).allowed
    denied = decide(
        SESSION, "s3:PutObject", f"{BUCKET}/x", ids=[identity(ALLOW_PUT), identity(deny)]
    )
    assert denied.explicitly_denied and denied.sids == {"NoPut"}
    by_resource = decide(
        SESSION,
        "s3:PutObject",
        f"{BUCKET}/x",
        ids=[identity(ALLOW_PUT)],
        res=resource_policy({**deny, "Principal": {"AWS": A}}),
    )
    assert by_resource.explicitly_denied  # an account-wide Deny reaches every principal in it
    assert "resource policy" in by_resource.reason


def test_the_carlos_example_identity_or_resource_policy_within_one_account() -> None:
    # EVAL, "Example identity-based and resource-based policy evaluation": within one account
    # either policy may allow; a Deny in the bucket policy still wins.
    bucket = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": CARLOS},
            "Action": "s3:PutObject",
            "Resource": f"{BUCKET}/*",
        }
    )
    assert decide(CARLOS, "s3:PutObject", f"{BUCKET}/x", res=bucket).allowed
    assert decide(CARLOS, "s3:PutObject", f"{BUCKET}/x", ids=[identity(ALLOW_PUT)]).allowed
    assert not decide(CARLOS, "s3:GetObject", f"{BUCKET}/x", res=bucket).allowed


def test_actions_are_case_insensitive_resources_are_case_sensitive() -> None:
    # ELEM, Action: "action names are not case sensitive"; Resource ARNs are.
    policy = identity({"Effect": "Allow", "Action": "S3:get*", "Resource": f"{BUCKET}/Logs/*"})
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/Logs/a", ids=[policy]).allowed
    assert not decide(SESSION, "s3:GetObject", f"{BUCKET}/logs/a", ids=[policy]).allowed
    assert not decide(SESSION, "s3:PutObject", f"{BUCKET}/Logs/a", ids=[policy]).allowed


def test_not_action_and_not_resource_match_everything_else() -> None:
    # ELEM, NotAction: allow everything but IAM; NotResource: deny outside one bucket.
    everything_but_iam = identity({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[everything_but_iam]).allowed
    assert not decide(SESSION, "iam:CreateUser", "*", ids=[everything_but_iam]).allowed
    outside = {
        "Sid": "Outside",
        "Effect": "Deny",
        "Action": "s3:*",
        "NotResource": [BUCKET, f"{BUCKET}/*"],
    }
    fence = [everything_but_iam, identity(outside)]
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", ids=fence).allowed
    assert decide(SESSION, "s3:GetObject", "arn:aws:s3:::other/a", ids=fence).explicitly_denied


def test_a_statement_whose_condition_fails_does_not_apply_it_does_not_deny() -> None:
    # EVAL: an Allow that does not match leaves the request to the other policies (moto 5.2.5
    # answers DENIED here instead: see test_moto_oracle).
    conditional = identity(
        {
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}},
        }
    )
    decision = decide(
        SESSION, "s3:PutObject", f"{BUCKET}/x", ids=[conditional, identity(ALLOW_PUT)]
    )
    assert decision.allowed and decision.sids == {"AllowPut"}


# --------------------------------------------------------------------------- across accounts


def test_cross_account_needs_both_the_identity_and_the_resource_policy() -> None:
    # XACCT: "the resource-based policy in the trusting account must specify the principal ...
    # The principal's identity-based policy must allow the requested access".
    reader = identity({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})
    bucket = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET}/*",
        }
    )
    assert decide(B_SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[reader], res=bucket).allowed
    only_identity = decide(
        B_SESSION,
        "s3:GetObject",
        f"{BUCKET}/a",
        ids=[reader],
        res=resource_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "s3:*",
                "Resource": "*",
            }
        ),
    )
    assert not only_identity.allowed and "grants this caller nothing" in only_identity.reason
    only_resource = decide(B_SESSION, "s3:GetObject", f"{BUCKET}/a", res=bucket)
    assert not only_resource.allowed and "both must" in only_resource.reason
    no_policy = decide(B_SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[reader])
    assert not no_policy.allowed and "no resource-based policy" in no_policy.reason


def test_cross_account_a_role_named_by_arn_still_needs_its_identity_policy() -> None:
    bucket = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:role/Reader"},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    assert not decide(B_SESSION, "s3:GetObject", f"{BUCKET}/a", res=bucket).allowed
    reader = identity({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert decide(B_SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[reader], res=bucket).allowed


def test_an_account_principal_with_a_principal_arn_condition_admits_only_the_named_roles() -> None:
    # The shape CDK writes for cross-account grants to named roles (dev's registry and bucket).
    bucket = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": [f"arn:aws:iam::{B}:role/Reader"]}},
        }
    )
    reader = identity({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    allowed = decide(
        B_SESSION,
        "s3:GetObject",
        f"{BUCKET}/a",
        ids=[reader],
        res=bucket,
        context={"aws:PrincipalArn": f"arn:aws:iam::{B}:role/Reader"},
    )
    other = decide(
        f"arn:aws:sts::{B}:assumed-role/Other/x",
        "s3:GetObject",
        f"{BUCKET}/a",
        ids=[reader],
        res=bucket,
        context={"aws:PrincipalArn": f"arn:aws:iam::{B}:role/Other"},
    )
    assert allowed.allowed and not other.allowed


# --------------------------------------------------------------------------- KMS and trust policies


KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USE_KEY = identity({"Sid": "UseKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY})


def test_a_key_policy_must_allow_identity_policies_alone_cannot() -> None:
    # KMS: "Unless the key policy explicitly allows it, you cannot use IAM policies to allow
    # access to a KMS key."
    only_admin = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:role/KeyAdmin"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    decision = decide(SESSION, "kms:Decrypt", KEY, ids=[USE_KEY], res=only_admin, rule="key")
    assert not decision.allowed and "does not allow this caller" in decision.reason
    assert not decide(SESSION, "kms:Decrypt", KEY, ids=[USE_KEY], rule="key").allowed


def test_the_default_key_policy_delegates_to_the_accounts_identity_policies() -> None:
    # KMS, "Allows access to the AWS account and enables IAM policies": the root principal
    # lets IAM policies decide; by itself it gives no role access.
    default = resource_policy(
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert decide(SESSION, "kms:Decrypt", KEY, ids=[USE_KEY], res=default, rule="key").allowed
    without = decide(SESSION, "kms:Decrypt", KEY, res=default, rule="key")
    assert not without.allowed and "no identity policy" in without.reason


def test_a_key_policy_that_names_the_role_allows_it_without_an_identity_policy() -> None:
    direct = resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    assert decide(SESSION, "kms:Decrypt", KEY, res=direct, rule="key").allowed
    # From another account the caller's own policies must allow as well (XACCT).
    other_key = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:role/Reader"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    assert not decide(B_SESSION, "kms:Decrypt", KEY, res=other_key, rule="key").allowed


TRUST_ACCOUNT = resource_policy(
    {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
    }
)
ASSUME = identity(
    {"Sid": "MayAssume", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
)
APPROVER = f"arn:aws:iam::{A}:role/Approver"


def test_a_trust_policy_naming_the_account_needs_the_callers_identity_policy_and_its_condition() -> (
    None
):
    # ROLES: the trust policy is the role's resource-based policy; naming the account
    # delegates to the account's identity policies.
    mfa = {"aws:MultiFactorAuthPresent": True}
    assert decide(
        CARLOS,
        "sts:AssumeRole",
        APPROVER,
        ids=[ASSUME],
        res=TRUST_ACCOUNT,
        rule="trust",
        context=mfa,
    ).allowed
    assert not decide(
        CARLOS, "sts:AssumeRole", APPROVER, res=TRUST_ACCOUNT, rule="trust", context=mfa
    ).allowed
    assert not decide(
        CARLOS, "sts:AssumeRole", APPROVER, ids=[ASSUME], res=TRUST_ACCOUNT, rule="trust"
    ).allowed


def test_a_trust_policy_must_allow_even_when_the_identity_policy_does() -> None:
    other = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    decision = decide(CARLOS, "sts:AssumeRole", APPROVER, ids=[ASSUME], res=other, rule="trust")
    assert not decision.allowed and "trust policy" in decision.reason


def test_a_service_principal_is_allowed_by_the_trust_policy_alone() -> None:
    sagemaker = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": A}},
        }
    )
    request: dict[str, Any] = {"res": sagemaker, "rule": "trust"}
    assert decide(
        "sagemaker.amazonaws.com",
        "sts:AssumeRole",
        APPROVER,
        context={"aws:SourceAccount": A},
        **request,
    ).allowed
    assert not decide(
        "sagemaker.amazonaws.com",
        "sts:AssumeRole",
        APPROVER,
        context={"aws:SourceAccount": B},
        **request,
    ).allowed
    assert not decide(
        "lambda.amazonaws.com",
        "sts:AssumeRole",
        APPROVER,
        context={"aws:SourceAccount": A},
        **request,
    ).allowed


# --------------------------------------------------------------------------- principals


def test_a_role_arn_in_a_resource_policy_matches_every_session_a_session_arn_only_its_own() -> None:
    # ELEM, Principal: "Role sessions" vs "IAM roles".
    by_role = resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": "*"}
    )
    by_session = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": SESSION},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    maria = f"arn:aws:sts::{A}:assumed-role/Analyst/maria"
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=by_role).allowed
    assert decide(maria, "s3:GetObject", f"{BUCKET}/a", res=by_role).allowed
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=by_session).allowed
    assert not decide(maria, "s3:GetObject", f"{BUCKET}/a", res=by_session).allowed


def test_an_account_principal_in_the_same_account_does_not_grant_by_itself() -> None:
    # ELEM, Principal, "AWS account principals": the account principal delegates to the
    # account's IAM policies.
    account = resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:GetObject", "Resource": "*"}
    )
    assert not decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=account).allowed


def test_not_principal_with_deny_excludes_a_session_only_when_role_session_and_account_are_named() -> (
    None
):
    # ELEM, NotPrincipal: name the session, its role and the account to exclude a session.
    everyone_else = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    full = resource_policy(
        {**everyone_else, "NotPrincipal": {"AWS": [SESSION, ROLE, f"arn:aws:iam::{A}:root"]}}
    )
    partial = resource_policy({**everyone_else, "NotPrincipal": {"AWS": [SESSION, ROLE]}})
    allow = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[allow], res=full).allowed
    assert decide(
        SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[allow], res=partial
    ).explicitly_denied
    assert decide(
        f"arn:aws:sts::{A}:assumed-role/Other/x",
        "s3:GetObject",
        f"{BUCKET}/a",
        ids=[allow],
        res=full,
    ).explicitly_denied


def test_the_wildcard_principal_names_everyone() -> None:
    public = resource_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    )
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=public).allowed


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": "arn:aws:iam::111122223333:role/*"},
        {"AWS": "arn:aws:iam::*:root"},
        {"AWS": "someone"},
        "everyone",
    ],
)
def test_principals_iam_would_refuse_are_refused_by_name(principal: Any) -> None:
    # ELEM, Principal: no wildcards in principal ARNs (only `*` alone).
    with pytest.raises(PolicyError, match="Statement\\[0\\]"):
        resource_policy(
            {"Effect": "Allow", "Principal": principal, "Action": "s3:*", "Resource": "*"}
        )


# --------------------------------------------------------------------------- boundaries, sessions


def test_a_permissions_boundary_limits_identity_policies() -> None:
    # PB: "An entity's permissions boundary allows it to perform only the actions that are
    # allowed by both its identity-based policies and its permissions boundaries."
    everything = identity({"Effect": "Allow", "Action": "*", "Resource": "*"})
    s3_only = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert decide(
        SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[everything], boundary=s3_only
    ).allowed
    denied = decide(SESSION, "iam:CreateUser", "*", ids=[everything], boundary=s3_only)
    assert not denied.allowed and "boundary" in denied.reason


def test_a_resource_policy_naming_the_session_is_not_limited_by_a_boundary_naming_the_role_is() -> (
    None
):
    # PB, "Resource-based policies": an implicit deny in a boundary does not limit a grant to
    # the session ARN; it does limit a grant to the role ARN.
    nothing = identity({"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"})
    to_session = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": SESSION},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    to_role = resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": "*"}
    )
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=to_session, boundary=nothing).allowed
    assert not decide(SESSION, "s3:GetObject", f"{BUCKET}/a", res=to_role, boundary=nothing).allowed


def test_session_policies_limit_the_role_and_their_deny_wins() -> None:
    # IAM User Guide, "Session policies": the session's permissions are the intersection of
    # the role's identity policies and the session policies.
    role = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    reads = identity({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})
    assert decide(SESSION, "s3:GetObject", f"{BUCKET}/a", ids=[role], session=[reads]).allowed
    assert not decide(SESSION, "s3:PutObject", f"{BUCKET}/a", ids=[role], session=[reads]).allowed


# --------------------------------------------------------------------------- bad documents


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, "Effect"),
        ({"Effect": "Allow", "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "s3:*"}, "Resource"),
        ({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}, "both"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}, "no Principal"),
        (
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": "x"},
            },
            "map keys",
        ),
    ],
)
def test_an_identity_policy_iam_would_refuse_is_refused_with_the_statement_named(
    statement: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as error:
        identity({"Sid": "Broken", **statement})
    assert "identity: Statement[0] (Broken)" in str(error.value)


def test_a_caller_identity_that_is_not_an_arn_is_refused() -> None:
    with pytest.raises(ValueError, match="not a caller identity"):
        Caller.parse("alice")


def test_a_web_identity_is_trusted_only_for_the_repository_its_token_names() -> None:
    # IAM User Guide, "Create a role for OpenID Connect federation" (the GitHub Actions example):
    # Federated principal, sts:AssumeRoleWithWebIdentity, conditions on the token's claims.
    provider = f"arn:aws:iam::{A}:oidc-provider/token.actions.githubusercontent.com"
    trust = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:bank/finmlops:*"},
            },
        }
    )
    claims = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    ours = {
        **claims,
        "token.actions.githubusercontent.com:sub": "repo:bank/finmlops:ref:refs/heads/main",
    }
    fork = {
        **claims,
        "token.actions.githubusercontent.com:sub": "repo:someone/finmlops:ref:refs/heads/main",
    }
    action = "sts:AssumeRoleWithWebIdentity"
    assert decide(provider, action, APPROVER, res=trust, rule="trust", context=ours).allowed
    assert not decide(provider, action, APPROVER, res=trust, rule="trust", context=fork).allowed
    other = f"arn:aws:iam::{A}:oidc-provider/gitlab.example"
    assert not decide(other, action, APPROVER, res=trust, rule="trust", context=ours).allowed
