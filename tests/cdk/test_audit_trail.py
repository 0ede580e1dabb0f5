"""The audit trail's store on the synthesized templates of every environment, attacked by the
insider who holds one legitimate role and by the account's administrators.

Decisions are evaluated from the synthesized policies by `_decide` below, by hand: the project's
IAM evaluator (`finmlops.iam`) was not on main when this was written. `_decide` follows AWS's
policy evaluation logic (docs: "Policy evaluation logic", "Cross-account policy evaluation
logic"; for KMS, "Key policies in AWS KMS": identity policies count only where the key policy
delegates to the account) for the condition operators these policies use, and refuses any
operator it does not know, so a test cannot pass on a statement it did not understand.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

ACCOUNTS = {"tooling": "444444444444", "dev": "111111111111"}
REGION = "us-east-1"
KEY_DESTRUCTION = (
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:DeleteImportedKeyMaterial",
    "kms:PutKeyPolicy",
)
ENVS = ("tooling", "dev", "stage", "prod")
SECURE = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
ADMIN_POLICY = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]

# ------------------------------------------------------------------------------ evaluation


class UnmodelledError(Exception):
    """A policy element the hand evaluator does not model: the test must fail, not guess."""


def _resolve(value: Any, template: dict[str, Any], account: str) -> Any:
    resources = template["Resources"]
    if isinstance(value, list):
        return [_resolve(v, template, account) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(p, template, account)) for p in parts)
    if "Ref" in value:
        name = value["Ref"]
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": REGION}
        if name in pseudo:
            return pseudo[name]
        return resources[name]["Properties"].get("BucketName", name)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        resource = resources[logical_id]
        if resource["Type"] == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{resource['Properties']['BucketName']}"
        if resource["Type"] == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{REGION}:{account}:key/{logical_id}"
        return f"(attribute {attribute} of {logical_id})"  # another resource: matches nothing here
    if "Fn::GetStackOutput" in value:
        return "(another stack's output)"  # matches nothing here
    return {k: _resolve(v, template, account) for k, v in value.items()}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, wanted: Any, context: dict[str, Any]) -> bool:
    present = key in context
    values = [str(v) for v in _listed(context.get(key))] if present else []
    wanted_values = [str(w) for w in _listed(wanted)]
    if operator == "Null":
        return (not present) == (wanted_values[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = "Not" in base
    if not present:
        # AWS: a missing key makes IfExists and negated operators true, the others false.
        return if_exists or negated
    compare: dict[str, Any] = {
        "StringEquals": lambda v, w: v == w,
        "StringNotEquals": lambda v, w: v == w,
        "StringLike": fnmatchcase,
        "StringNotLike": fnmatchcase,
        "ArnLike": fnmatchcase,
        "ArnNotLike": fnmatchcase,
        "ArnEquals": lambda v, w: v == w,
        "ArnNotEquals": lambda v, w: v == w,
        "Bool": lambda v, w: v.lower() == w.lower(),
        "NumericLessThan": lambda v, w: float(v) < float(w),
        "NumericGreaterThanEquals": lambda v, w: float(v) >= float(w),
    }
    if base not in compare:
        raise UnmodelledError(f"condition operator {operator}")
    matched = any(compare[base](v, w) for v in values for w in wanted_values)
    return not matched if negated else matched


def _conditions_hold(conditions: dict[str, Any], context: dict[str, Any]) -> bool:
    for operator, block in conditions.items():
        if operator.startswith(("ForAnyValue:", "ForAllValues:")):
            raise UnmodelledError(f"set operator {operator}")
        for key, wanted in block.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def _applies(
    statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]
) -> bool:
    if {"NotAction", "NotResource", "NotPrincipal"} & set(statement):
        raise UnmodelledError("Not* elements")
    actions = _listed(statement["Action"])
    if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if not any(fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
        return False
    return _conditions_hold(statement.get("Condition", {}), context)


def _names(statement: dict[str, Any], principal: str) -> str:
    """'direct' when the resource policy names the principal (or everyone), 'account' when it
    names the principal's account (delegation to its IAM), else ''."""
    named = statement.get("Principal", {})
    arns = ["*"] if named == "*" else _listed(named.get("AWS", []))
    account = principal.split(":")[4]
    if "*" in arns or principal in arns:
        return "direct"
    if f"arn:aws:iam::{account}:root" in arns:
        return "account"
    return ""


def _decide(
    principal: str,
    action: str,
    resource: str,
    *,
    identity: list[dict[str, Any]],
    resource_policy: list[dict[str, Any]],
    resource_account: str,
    context: dict[str, Any] | None = None,
) -> str:
    """'allow', 'explicit deny' or 'implicit deny' for one request."""
    ctx = {**SECURE, **(context or {}), "aws:PrincipalArn": principal}
    for statement in (*identity, *resource_policy):
        in_resource = statement in resource_policy
        if statement["Effect"] != "Deny" or (in_resource and not _names(statement, principal)):
            continue
        if _applies(statement, action, resource, ctx):
            return "explicit deny"

    def allowed(statements: list[dict[str, Any]], how: set[str] | None) -> bool:
        return any(
            s["Effect"] == "Allow"
            and (how is None or _names(s, principal) in how)
            and _applies(s, action, resource, ctx)
            for s in statements
        )

    by_identity = allowed(identity, None)
    direct = allowed(resource_policy, {"direct"})
    delegated = allowed(resource_policy, {"account"})
    same_account = principal.split(":")[4] == resource_account
    if action.startswith("kms:"):
        # A key policy must allow the principal, or delegate to its account's IAM.
        verdict = direct or (delegated and by_identity)
    elif same_account:
        verdict = by_identity or direct
    else:
        verdict = by_identity and (direct or delegated)
    return "allow" if verdict else "implicit deny"


# ------------------------------------------------------------------------------ the templates


def _data(platform: Any, env: str) -> dict[str, Any]:
    return platform.templates[env]["Data"]


def _audit_bucket(template: dict[str, Any]) -> tuple[str, str]:
    for logical_id, resource in template["Resources"].items():
        name = resource["Properties"].get("BucketName", "")
        if resource["Type"] == "AWS::S3::Bucket" and "-audit-" in name:
            return logical_id, name
    raise AssertionError("no audit bucket")


def _bucket_policy(template: dict[str, Any], account: str) -> list[dict[str, Any]]:
    logical_id, _ = _audit_bucket(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy" and resource["Properties"]["Bucket"] == {
            "Ref": logical_id
        }:
            return _resolve(
                resource["Properties"]["PolicyDocument"]["Statement"], template, account
            )
    raise AssertionError("the audit bucket has no policy")


def _audit_key(
    template: dict[str, Any], account: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::KMS::Key" and "audit trail" in resource["Properties"].get(
            "Description", ""
        ):
            statements = resource["Properties"]["KeyPolicy"]["Statement"]
            return resource["Properties"], _resolve(statements, template, account)
    raise AssertionError("no audit key")


def _role_statements(platform: Any, env: str, role_name: str) -> list[dict[str, Any]]:
    """Every statement of the managed policies attached to the named role, resolved."""
    account = platform.stages[env].account
    for template in platform.templates[env].values():
        resources = template["Resources"]
        role_ids = [
            lid
            for lid, r in resources.items()
            if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == role_name
        ]
        if not role_ids:
            continue
        statements: list[dict[str, Any]] = []
        for resource in resources.values():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_ids[0]} in props.get(
                "Roles", []
            ):
                statements += _resolve(props["PolicyDocument"]["Statement"], template, account)
        return statements
    raise AssertionError(f"no role {role_name} in {env}")


def _writers(config: Any) -> list[tuple[str, str, str]]:
    """(environment, role name, principal ARN) of every role that appends to the audit trail."""
    from finmlops.naming import Role, names

    tooling = names(config, "tooling")
    approver = config.governance.approver_role
    return [
        ("tooling", tooling.role(Role.RESOLVER), tooling.role_arn(Role.RESOLVER)),
        *(
            ("tooling", tooling.role(Role.promote(env)), tooling.role_arn(Role.promote(env)))
            for env in ("stage", "prod")
        ),
        ("tooling", tooling.role(Role.START_BUILD), tooling.role_arn(Role.START_BUILD)),
        ("dev", approver, f"arn:aws:iam::{ACCOUNTS['dev']}:role/{approver}"),
    ]


def _record_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}/audit/credit-risk-xgb/000000000007.json"


CONDITIONAL = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "true"}
PLAIN = {"s3:ObjectCreationOperation": "true"}


# ------------------------------------------------------------------------------ the bucket


@pytest.mark.parametrize("env", ENVS)
def test_every_audit_bucket_denies_object_writes_without_if_none_match(platform, env):
    account = platform.stages[env].account
    template = _data(platform, env)
    _, bucket = _audit_bucket(template)
    by_sid = {s.get("Sid"): s for s in _bucket_policy(template, account)}

    deny = by_sid["DenyObjectWritesWithoutIfNoneMatch"]

    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:PutObject"  # CopyObject and CompleteMultipartUpload included
    assert deny["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert deny["Condition"] == {
        "Null": {"s3:if-none-match": "true"},
        "BoolIfExists": {"s3:ObjectCreationOperation": "true"},
    }
    assert "DenyRecordDeletionExceptBreakGlass" in by_sid
    assert "DenyRetentionShorterThanTheDefault" in by_sid


@pytest.mark.parametrize("env", ENVS)
def test_nobody_overwrites_copies_into_or_deletes_a_record_of_any_audit_bucket(platform, env):
    """The account's own administrator, in every environment: Allow *:* in IAM is not enough."""
    account = platform.stages[env].account
    template = _data(platform, env)
    _, bucket = _audit_bucket(template)
    policy = _bucket_policy(template, account)
    record = _record_arn(bucket)
    for admin in (f"arn:aws:iam::{account}:role/Administrator", f"arn:aws:iam::{account}:root"):

        def decide(action: str, context: dict[str, Any], who: str = admin) -> str:
            return _decide(who, action, record, identity=ADMIN_POLICY, resource_policy=policy,
                           resource_account=account, context=context)  # fmt: skip

        assert decide("s3:PutObject", PLAIN) == "explicit deny"
        copy = {**PLAIN, "s3:x-amz-copy-source": f"{bucket}/audit/other.json"}
        assert decide("s3:PutObject", copy) == "explicit deny"
        assert decide("s3:DeleteObject", {}) == "explicit deny"
        assert decide("s3:DeleteObjectVersion", {}) == "explicit deny"
        assert decide("s3:PutObject", CONDITIONAL) == "allow"
        # A request that says nothing about creating counts as creating.
        assert decide("s3:PutObject", {}) == "explicit deny"


def test_a_writers_plain_put_is_denied_and_its_conditional_put_allowed(platform, config):
    """Every writer of the platform (the approval handler, the promotion build, the approver in
    dev) appends through `put_new`, which always sends If-None-Match: that is allowed, with the
    reads an append needs; a plain PutObject over a record, a copy onto it, a completed
    multipart upload without the header, a shorter or GOVERNANCE retention, a delete: denied."""
    tooling_account = platform.stages["tooling"].account
    template = _data(platform, "tooling")
    _, bucket = _audit_bucket(template)
    policy = _bucket_policy(template, tooling_account)
    record = _record_arn(bucket)
    for env, role, principal in _writers(config):
        identity = _role_statements(platform, env, role)

        def decide(
            action: str,
            context: dict[str, Any],
            resource: str = record,
            principal: str = principal,
            identity: list[dict[str, Any]] = identity,
        ) -> str:
            return _decide(principal, action, resource, identity=identity, resource_policy=policy,
                           resource_account=tooling_account, context=context)  # fmt: skip

        assert decide("s3:PutObject", CONDITIONAL) == "allow", role
        listing = {"s3:prefix": "audit/credit-risk-xgb/"}
        assert decide("s3:ListBucketVersions", listing, f"arn:aws:s3:::{bucket}") == "allow", role
        assert decide("s3:GetObjectVersion", {}) == "allow", role
        assert decide("s3:GetObjectRetention", {}) == "allow", role
        with_days = {**CONDITIONAL, "s3:object-lock-mode": "COMPLIANCE",
                     "s3:object-lock-remaining-retention-days": "2556"}  # fmt: skip
        assert decide("s3:PutObject", with_days) == "allow", role

        assert decide("s3:PutObject", PLAIN) == "explicit deny", role
        copy = {**PLAIN, "s3:x-amz-copy-source": f"{bucket}/audit/credit-risk-xgb/1.json"}
        assert decide("s3:PutObject", copy) == "explicit deny", role
        # Multipart: the parts cannot carry the header (false), the completion must.
        assert decide("s3:PutObject", {"s3:ObjectCreationOperation": "false"}) == "allow", role
        assert decide("s3:PutObject", PLAIN) == "explicit deny", role
        governance = {**CONDITIONAL, "s3:object-lock-mode": "GOVERNANCE"}
        assert decide("s3:PutObject", governance) == "explicit deny", role
        short = {**with_days, "s3:object-lock-remaining-retention-days": "30"}
        assert decide("s3:PutObject", short) == "explicit deny", role
        assert decide("s3:DeleteObject", {}) == "explicit deny", role


def test_only_the_break_glass_role_may_delete_a_record(platform, config):
    account = platform.stages["tooling"].account
    template = _data(platform, "tooling")
    _, bucket = _audit_bucket(template)
    policy = _bucket_policy(template, account)
    break_glass = f"arn:aws:iam::{account}:role/{config.governance.break_glass_role}"

    decision = _decide(break_glass, "s3:DeleteObjectVersion", _record_arn(bucket),
                       identity=ADMIN_POLICY, resource_policy=policy, resource_account=account)  # fmt: skip

    # Allowed by the bucket policy; Object Lock still refuses a version under retention.
    assert decision == "allow"
    elsewhere = f"arn:aws:iam::{ACCOUNTS['dev']}:role/{config.governance.break_glass_role}"
    assert _decide(elsewhere, "s3:DeleteObject", _record_arn(bucket), identity=ADMIN_POLICY,
                   resource_policy=policy, resource_account=account) != "allow"  # fmt: skip


# ------------------------------------------------------------------------------ the key


@pytest.mark.parametrize("env", ENVS)
def test_administrators_cannot_delete_disable_or_repolice_an_audit_key_but_break_glass_can(
    platform, config, env
):
    """The account root, an administrator role and CloudFormation's execution role (which has
    AdministratorAccess after `cdk bootstrap`) hold kms:* through the key policy's delegation
    to the account; the key policy's Deny stops each of them, and only them."""
    from finmlops.naming import names

    account = platform.stages[env].account
    props, policy = _audit_key(_data(platform, env), account)
    key = f"arn:aws:kms:{REGION}:{account}:key/audit"
    break_glass = f"arn:aws:iam::{account}:role/{config.governance.break_glass_role}"
    insiders = {
        "account root": f"arn:aws:iam::{account}:root",
        "an administrator": f"arn:aws:iam::{account}:role/Administrator",
        "CloudFormation's role": names(config, env).bootstrap_role_arn("cfn-exec"),
    }

    for who, principal in insiders.items():
        for action in KEY_DESTRUCTION:
            decision = _decide(principal, action, key, identity=ADMIN_POLICY,
                               resource_policy=policy, resource_account=account)  # fmt: skip
            assert decision == "explicit deny", (who, action)
        # Everything else the key policy's delegation grants stays, e.g. reading the records.
        assert _decide(principal, "kms:Decrypt", key, identity=ADMIN_POLICY,
                       resource_policy=policy, resource_account=account) == "allow"  # fmt: skip
    for action in KEY_DESTRUCTION:
        assert _decide(break_glass, action, key, identity=ADMIN_POLICY, resource_policy=policy,
                       resource_account=account) == "allow", action  # fmt: skip
    # Without an IAM grant of its own, the break-glass role gets nothing from the key policy.
    assert _decide(break_glass, "kms:ScheduleKeyDeletion", key, identity=[],
                   resource_policy=policy, resource_account=account) == "implicit deny"  # fmt: skip
    # KMS would refuse this policy under CloudFormation's role (the lockout safety check).
    assert props["BypassPolicyLockoutSafetyCheck"] is True
    assert props["PendingWindowInDays"] == 30


def test_the_approver_writing_cross_account_is_not_denied_the_audit_key(platform, config):
    account = platform.stages["tooling"].account
    _, policy = _audit_key(_data(platform, "tooling"), account)
    approver = f"arn:aws:iam::{ACCOUNTS['dev']}:role/{config.governance.approver_role}"
    key = f"arn:aws:kms:{REGION}:{account}:key/audit"
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    identity = [{"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key}]

    assert _decide(approver, "kms:GenerateDataKey", key, identity=identity, resource_policy=policy,
                   resource_account=account, context=via_s3) == "allow"  # fmt: skip
    assert _decide(approver, "kms:ScheduleKeyDeletion", key, identity=ADMIN_POLICY,
                   resource_policy=policy, resource_account=account) == "explicit deny"  # fmt: skip


def test_the_hand_evaluator_refuses_what_it_does_not_model():
    statement = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Principal": "*",
                 "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}}  # fmt: skip
    with pytest.raises(UnmodelledError):
        _decide("arn:aws:iam::1:role/x", "s3:GetObject", "arn:aws:s3:::b/k", identity=[],
                resource_policy=[statement], resource_account="1", context={"aws:CurrentTime": "x"})  # fmt: skip


def test_the_synthesized_policies_are_what_the_evaluator_reads(platform):
    """A guard on the evaluation above: the audit statements resolve to plain strings."""
    account = platform.stages["tooling"].account
    text = json.dumps(_bucket_policy(_data(platform, "tooling"), account))
    assert "Fn::" not in text and "Ref" not in text
