"""Who makes a request (the caller), and how a policy's Principal element names callers.

Sources (IAM User Guide): "AWS JSON policy elements: Principal" (account principals delegate to
the account; role, assumed-role session, IAM user, service and federated principals; no
wildcards in principal ARNs except `*` alone), "AWS JSON policy elements: NotPrincipal" (to
exclude a role session, name the session, its role and its account), "AWS global condition
context keys" (aws:PrincipalArn of a role session is the role's ARN).

A caller is identified by what AWS authenticated: the ARN `sts:GetCallerIdentity` returns
(`arn:aws:sts::111122223333:assumed-role/Role/session`, `arn:aws:iam::111122223333:user/name`),
or a service principal (`sagemaker.amazonaws.com`). A bare role ARN stands for "some session of
that role": it matches the role but never a session ARN named in a policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from finmlops.iam.conditions import PolicyError

CallerKind = Literal["role-session", "role", "user", "root", "service", "federated"]
# How a statement's Principal names the caller: by its own ARN (a user, the session itself,
# the root user), by its role or `*` (limited by boundaries and session policies), or through
# its account (which delegates the decision to the account's identity policies).
MatchLevel = Literal["exact", "role", "account"]

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<rest>.+)$"
)


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request."""

    kind: CallerKind
    arn: str  # the session, user, root or role ARN; the service name for a service
    account: str | None
    partition: str = "aws"
    role_arn: str | None = None
    session_name: str | None = None
    user_name: str | None = None

    @classmethod
    def parse(cls, text: str, *, role_path: str = "/") -> Caller:  # noqa: PLR0911 - one per kind
        """A caller from its ARN; `role_path` is the role's path (IAM keeps it out of session ARNs)."""
        if _ACCOUNT.match(text):
            return cls("root", f"arn:aws:iam::{text}:root", text)
        if not text.startswith("arn:") and text.endswith((".amazonaws.com", ".amazonaws.com.cn")):
            return cls("service", text, None)
        match = _IAM_ARN.match(text)
        if not match:
            raise ValueError(
                f"not a caller identity: {text!r} (expected an assumed-role session, role, user "
                "or root ARN, an account id, or a service principal)"
            )
        partition, service, account, rest = match.group("partition", "service", "account", "rest")
        if service == "sts" and rest.startswith("assumed-role/"):
            parts = rest.split("/")
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"malformed assumed-role ARN: {text!r}")
            role_arn = f"arn:{partition}:iam::{account}:role{_path(role_path)}{parts[1]}"
            return cls("role-session", text, account, partition, role_arn, session_name=parts[2])
        if service == "iam" and rest == "root":
            return cls("root", text, account, partition)
        if service == "iam" and rest.startswith("role/"):
            return cls("role", text, account, partition, role_arn=text)
        if service == "iam" and rest.startswith("user/"):
            return cls("user", text, account, partition, user_name=rest.rsplit("/", 1)[-1])
        if service == "iam" and rest.startswith(("saml-provider/", "oidc-provider/")):
            return cls.federated(text)
        raise ValueError(f"unsupported caller identity: {text!r}")

    @classmethod
    def federated(cls, provider: str) -> Caller:
        """A web identity or SAML caller (AssumeRoleWithWebIdentity/WithSAML), named by its
        provider as a trust policy's `Federated` names it: an IAM OIDC or SAML provider ARN, or
        a provider such as `cognito-identity.amazonaws.com`."""
        match = _IAM_ARN.match(provider)
        return cls("federated", provider, match.group("account") if match else None)

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: a session's role ARN, else the caller's own ARN."""
        return (
            self.role_arn if self.kind in ("role-session", "role") and self.role_arn else self.arn
        )

    @property
    def principal_type(self) -> str:
        """aws:PrincipalType as AWS sets it."""
        return {
            "role-session": "AssumedRole",
            "role": "AssumedRole",
            "user": "User",
            "root": "Account",
            "service": "Service",
            "federated": "WebIdentityUser",
        }[self.kind]

    def levels(self) -> list[str]:
        """Every principal a NotPrincipal must name to exclude this caller."""
        if self.kind in ("service", "federated"):
            return [self.arn]
        root = f"arn:{self.partition}:iam::{self.account}:root"
        if self.kind == "role-session":
            return [root, str(self.role_arn), self.arn]
        if self.kind in ("role", "user"):
            return [root, self.arn]
        return [root]


def _path(path: str) -> str:
    if not path.startswith("/") or not path.endswith("/"):
        raise ValueError(f"an IAM path starts and ends with '/': {path!r}")
    return path


@dataclass(frozen=True)
class PrincipalSpec:
    """A Principal or NotPrincipal element, by type (AWS, Service, Federated, CanonicalUser)."""

    aws: frozenset[str]
    service: frozenset[str]
    federated: frozenset[str]
    canonical: frozenset[str]

    @classmethod
    def parse(cls, element: Any, where: str) -> PrincipalSpec:
        if element == "*":
            return cls(frozenset({"*"}), frozenset(), frozenset(), frozenset())
        if not isinstance(element, Mapping):
            raise PolicyError(f"{where}: Principal must be '*' or an object, not {element!r}")
        known = {"AWS", "Service", "Federated", "CanonicalUser"}
        unknown = set(element) - known
        if unknown:
            raise PolicyError(f"{where}: unknown principal type(s) {sorted(unknown)}")
        values = {k: frozenset(_strings(element.get(k, []), f"{where}.{k}")) for k in known}
        for value in values["AWS"]:
            _check_aws_principal(value, where)
        return cls(values["AWS"], values["Service"], values["Federated"], values["CanonicalUser"])

    def _names(self, principal: str) -> bool:
        return principal in self.aws or (
            principal.endswith(":root") and principal.split(":")[4] in self.aws
        )

    def match(self, caller: Caller) -> MatchLevel | None:
        """How this element names the caller, at its most specific; None when it does not."""
        if caller.kind == "service":
            return "exact" if caller.arn in self.service or "*" in self.aws else None
        if caller.kind == "federated":
            return "exact" if caller.arn in self.federated or "*" in self.aws else None
        best: MatchLevel | None = None
        if "*" in self.aws:
            best = "role"
        if caller.kind == "root":
            return "exact" if self._names(caller.arn) else best
        if caller.arn in self.aws:
            return "exact"
        if caller.role_arn and caller.role_arn in self.aws:
            return "role"
        if best is None and self._names(f"arn:{caller.partition}:iam::{caller.account}:root"):
            best = "account"
        return best

    def excludes(self, caller: Caller) -> bool:
        """NotPrincipal: the caller is left out only when every level of it is named."""
        if "*" in self.aws:
            return True
        if caller.kind == "service":
            return caller.arn in self.service
        if caller.kind == "federated":
            return caller.arn in self.federated
        return all(self._names(level) for level in caller.levels())


def _strings(value: Any, where: str) -> Iterable[str]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"{where}: principal values are strings, not {item!r}")
        yield item


def _check_aws_principal(value: str, where: str) -> None:
    if value == "*" or _ACCOUNT.match(value):
        return
    if value.startswith("AROA") or value.startswith("AIDA"):
        return  # a unique id: what IAM stores once the named role or user is deleted
    match = _IAM_ARN.match(value)
    if not match or "*" in value or "?" in value:
        raise PolicyError(
            f"{where}: {value!r} is not a principal IAM accepts (an account id, `*`, or an IAM "
            "root, user or role ARN, or an STS assumed-role or federated-user ARN, no wildcards)"
        )
