"""IAM's decision for one request, from the policies that apply to it.

Sources (IAM User Guide): "Policy evaluation logic", "How AWS enforcement code logic evaluates
requests to allow or deny access" (the order below), "Policy evaluation for requests within a
single account", "Cross-account policy evaluation logic", "Permissions boundaries for IAM
entities" (the effect of a boundary and of session policies on resource-based grants);
AWS KMS Developer Guide, "Key policies in AWS KMS" ("Unless the key policy explicitly allows
it, you cannot use IAM policies to allow access to a KMS key"; the account principal in a key
policy lets IAM policies decide); IAM User Guide, "How IAM roles differ from resource-based
policies" (a trust policy is the role's resource-based policy and must allow the caller).

1. An explicit Deny in any applicable policy (identity, resource, boundary, session) decides.
2. Within one account, an Allow in the caller's identity policies (within its permissions
   boundary and session policies), or an Allow in the resource's policy that names the caller,
   allows. A resource policy that names the caller's role or `*` is limited by the boundary and
   session policies; one that names the session or user itself is not.
3. Across accounts, both must allow: the caller's identity policies and the resource's policy.
4. A KMS key and a role's trust policy trust no one by default: their policy must allow the
   caller, directly, or through the caller's account (`arn:aws:iam::<account>:root`), in which
   case the caller's identity policies must allow as well.
5. Otherwise: implicit deny.

Not modelled: Organizations SCPs and RCPs, VPC endpoint policies, the root user's special
rights, and service-specific rules (S3 ACLs and Block Public Access, grants in KMS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from finmlops.iam.context import RequestContext
from finmlops.iam.policy import Policy, Statement
from finmlops.iam.principals import Caller, MatchLevel

Outcome = Literal["allow", "explicit-deny", "implicit-deny"]
PolicyRole = Literal["identity", "resource", "boundary", "session"]
# How the resource's own policy takes part: most services trust their own account's identity
# policies; a KMS key and a role (trust policy) do not.
ResourceRule = Literal["default", "key", "trust"]


@dataclass(frozen=True)
class Request:
    caller: Caller
    action: str
    resource: str
    resource_account: str | None
    context: RequestContext


@dataclass(frozen=True)
class Match:
    """A statement that applies to the request."""

    role: PolicyRole
    statement: Statement
    level: MatchLevel | None = None  # for resource-policy statements: how it names the caller

    @property
    def effect(self) -> str:
        return self.statement.effect

    @property
    def sid(self) -> str | None:
        return self.statement.sid

    @property
    def policy(self) -> str:
        return self.statement.policy

    def __str__(self) -> str:
        return f"{self.role} policy {self.statement.label} ({self.statement.effect})"


@dataclass(frozen=True)
class Decision:
    """IAM's answer and why: the statements that decided, or the reason for an implicit deny."""

    outcome: Outcome
    reason: str
    request: Request
    statements: tuple[Match, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def explicitly_denied(self) -> bool:
        return self.outcome == "explicit-deny"

    @property
    def sids(self) -> set[str | None]:
        return {m.sid for m in self.statements}

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        r = self.request
        return f"{self.outcome}: {r.caller.arn} {r.action} {r.resource}: {self.reason}"


def _applicable(
    policies: Sequence[Policy], role: PolicyRole, request: Request
) -> tuple[list[Match], list[Match]]:
    allows: list[Match] = []
    denies: list[Match] = []
    for policy in policies:
        for statement in policy.statements:
            if not statement.matches_action(request.action):
                continue
            level = statement.principal_level(request.caller)
            if level is None:
                continue
            if not statement.matches_resource(request.resource, request.context):
                continue
            if not statement.conditions_hold(request.context):
                continue
            match = Match(role, statement, level if role == "resource" else None)
            (allows if statement.effect == "Allow" else denies).append(match)
    return allows, denies


def evaluate(  # noqa: PLR0911, PLR0912 - the decision table, read top to bottom
    request: Request,
    *,
    identity: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    rule: ResourceRule = "default",
    boundary: Policy | None = None,
    session_policies: Sequence[Policy] | None = None,
) -> Decision:
    """The decision for a request under the given policies (see the module docstring)."""
    caller = request.caller
    id_allow, id_deny = _applicable(identity, "identity", request)
    res_allow, res_deny = _applicable(
        [resource_policy] if resource_policy else [], "resource", request
    )
    pb_allow, pb_deny = _applicable([boundary] if boundary else [], "boundary", request)
    sp_allow, sp_deny = _applicable(session_policies or [], "session", request)

    denies = id_deny + res_deny + pb_deny + sp_deny
    if denies:
        return Decision(
            "explicit-deny", f"explicitly denied by {denies[0]}", request, tuple(denies)
        )

    def decided(outcome: Outcome, reason: str, matches: Sequence[Match] = ()) -> Decision:
        return Decision(outcome, reason, request, tuple(matches))

    limits_ok = (boundary is None or bool(pb_allow)) and (
        session_policies is None or bool(sp_allow)
    )
    limits = pb_allow + sp_allow
    identity_grant = bool(id_allow) and limits_ok
    exact = [m for m in res_allow if m.level == "exact"]
    by_role = [m for m in res_allow if m.level == "role"]
    by_account = [m for m in res_allow if m.level == "account"]
    direct = exact or (by_role if limits_ok else [])

    if caller.kind in ("service", "federated"):
        # A service principal or a web identity has no identity policies: the resource's
        # policy (for a web identity, the role's trust policy) alone grants.
        if exact:
            return decided("allow", f"allowed by {exact[0]}", exact)
        return decided(
            "implicit-deny", f"no resource policy statement names this {caller.kind} caller"
        )

    same_account = caller.account is not None and caller.account == request.resource_account
    why_not_identity = (
        "no identity policy allows it"
        if not id_allow
        else "the permissions boundary or session policy does not allow it"
    )

    if rule == "default":
        if same_account:
            if identity_grant:
                return decided("allow", f"allowed by {id_allow[0]}", id_allow + limits)
            if direct:
                return decided("allow", f"allowed by {direct[0]}, which names the caller", direct)
            return decided(
                "implicit-deny",
                f"same account: {why_not_identity}, nor a resource policy naming the caller",
            )
        if resource_policy is None:
            return decided(
                "implicit-deny",
                f"cross-account (caller {caller.account}, resource {request.resource_account}): "
                "the resource has no resource-based policy",
            )
        granted = exact + by_role + by_account
        if not granted:
            return decided(
                "implicit-deny",
                f"cross-account: the resource policy {resource_policy.name} grants this caller nothing",
            )
        if not identity_grant:
            return decided(
                "implicit-deny",
                f"cross-account: {granted[0]} allows, but {why_not_identity} (both must)",
                granted,
            )
        return decided(
            "allow", f"cross-account: allowed by {granted[0]} and {id_allow[0]}", granted + id_allow
        )

    holder = "key policy" if rule == "key" else "trust policy"
    if resource_policy is None:
        return decided("implicit-deny", f"no {holder}: nothing can allow the request")
    if same_account and direct:
        return decided("allow", f"allowed by {direct[0]}, which names the caller", direct)
    if direct or by_account:
        trusted = direct or by_account
        if identity_grant:
            return decided(
                "allow",
                f"{trusted[0]} trusts the caller's account and {id_allow[0]} allows",
                trusted + id_allow,
            )
        return decided(
            "implicit-deny",
            f"{trusted[0]} trusts the caller{'' if direct else chr(39) + 's account'}, "
            f"but {why_not_identity}",
            trusted,
        )
    return decided(
        "implicit-deny", f"the {holder} {resource_policy.name} does not allow this caller"
    )
