"""People, as the systems that recorded them name them: AWS (STS, SageMaker) and Git.

Segregation of duties compares persons, never roles: a role is shared by everyone who may assume
it. AWS names the person behind a request in three ways, none of them chosen by the caller once
the roles are set up as this platform sets them up:

- the STS **source identity** of a role session (`UserContext.IamIdentity.SourceIdentity` in
  SageMaker's CreatedBy/LastModifiedBy): set when a person first assumes a role, it "cannot be
  changed during the role session" and follows role chaining (IAM User Guide, *Monitor and
  control actions taken with assumed roles*). Every role a person assumes requires it
  (`sts:SetSourceIdentity` and a `sts:SourceIdentity` condition in the trust policy);
- an **IAM user**'s name (its ARN `arn:aws:iam::<account>:user/<path>/<name>`);
- a SageMaker Studio **user profile** (`UserContext.UserProfileName`), assigned by an administrator.

A role session name is the caller's choice and names nobody, with one exception this module
relies on and says where: the approver role's trust policy requires `sts:RoleSessionName` and
`sts:SourceIdentity` to equal `${aws:username}` (cdk, approver role), so the session name in the
ARN that `sts:GetCallerIdentity` returns to `registry approve` is the person's user name.

Git names people by the commit's author and committer (name, email), which the committer chooses
unless the commit is signed and the signature verifies (`git verify-commit`).

Two identities are the same person when any of their person names match, case-insensitively
(source identity, user name, session name, Studio profile, e-mail and its local part). The match
is deliberately wide: a false match costs a second approver, a missed one defeats the control.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from finmlops.registry.errors import InvalidInputError

Recorder = Literal["aws", "git"]


def _lower(values: Iterable[str]) -> frozenset[str]:
    names: set[str] = set()
    for value in values:
        text = value.strip().lower()
        if not text:
            continue
        names.add(text)
        if "@" in text:  # an e-mail also names its mailbox owner by the local part
            names.add(text.split("@", 1)[0])
    return frozenset(names)


@dataclass(frozen=True)
class Identity:
    """One identity and where it was read (`source`, e.g. `DescribeModelPackage.LastModifiedBy`,
    or `git commit author`). `recorded_by` says which system vouches for it."""

    recorded_by: Recorder
    source: str
    arn: str = ""
    principal_id: str = ""
    source_identity: str = ""
    user_profile: str = ""
    name: str = ""  # Git: the author's or committer's name
    email: str = ""  # Git: the e-mail
    verified: bool = True  # Git: the commit's signature verified; AWS records always are
    detail: str = ""  # Git: the commit, and how the signature was checked

    # ---------------------------------------------------------------- reading
    @classmethod
    def from_user_context(cls, context: Any, source: str) -> Identity | None:
        """SageMaker's `UserContext` (CreatedBy, LastModifiedBy), or None when it names nobody."""
        if not isinstance(context, Mapping):
            return None
        iam = context.get("IamIdentity")
        iam = iam if isinstance(iam, Mapping) else {}
        found = cls(
            "aws",
            source,
            arn=str(iam.get("Arn", "")),
            principal_id=str(iam.get("PrincipalId", "")),
            source_identity=str(iam.get("SourceIdentity", "")),
            user_profile=str(context.get("UserProfileName", "")),
        )
        return found if (found.arn or found.user_profile) else None

    @classmethod
    def from_caller_arn(cls, arn: str) -> Identity:
        """The ARN `sts:GetCallerIdentity` returns (it carries no source identity)."""
        return cls("aws", "sts:GetCallerIdentity", arn=arn)

    # ---------------------------------------------------------------- judging
    @property
    def _arn_parts(self) -> tuple[str, str, str]:
        """(account, kind, rest) of the ARN: kind user, assumed-role, federated-user, root..."""
        parts = self.arn.split(":", 5)
        if len(parts) < 6 or not self.arn.startswith("arn:"):
            return "", "", ""
        kind, _, rest = parts[5].partition("/")
        return parts[4], kind, rest

    @property
    def user_name(self) -> str:
        account, kind, rest = self._arn_parts
        if kind == "user" and self.arn.split(":")[2] == "iam":
            return rest.rsplit("/", 1)[-1]
        if kind == "root" or self.arn.endswith(":root"):
            return f"root@{account}"
        return ""

    @property
    def session_name(self) -> str:
        _, kind, rest = self._arn_parts
        return rest.split("/", 1)[1] if kind == "assumed-role" and "/" in rest else ""

    @property
    def role_name(self) -> str:
        _, kind, rest = self._arn_parts
        return rest.split("/", 1)[0] if kind == "assumed-role" else ""

    @property
    def is_person(self) -> bool:
        """Whether the record names a person: a source identity, an IAM user (or root), a Studio
        user profile; for Git, a verified signature. A role session without a source identity
        names only the role (its session name is the caller's choice)."""
        if self.recorded_by == "git":
            return self.verified and bool(self.email or self.name)
        return bool(self.source_identity or self.user_name or self.user_profile)

    def names(self) -> frozenset[str]:
        """Every name under which this identity could be the same person as another."""
        if self.recorded_by == "git":
            return _lower((self.email, self.name))
        return _lower((self.source_identity, self.user_name, self.session_name, self.user_profile))

    def same_person(self, other: Identity) -> bool:
        return bool(self.names() & other.names())

    @property
    def person(self) -> str:
        """The name shown for the person: source identity, user, profile, Git e-mail."""
        if self.recorded_by == "git":
            return self.email or self.name
        return self.source_identity or self.user_name or self.user_profile or self.session_name

    def label(self) -> str:
        """e.g. `alice (source identity, via arn:...:assumed-role/Approver/alice; AWS
        DescribeModelPackage.LastModifiedBy)`."""
        if self.recorded_by == "git":
            trust = "signature verified" if self.verified else "unsigned or unverified"
            return f"{self.name} <{self.email}> (Git {self.source}, {trust})"
        how = (
            "source identity"
            if self.source_identity
            else "IAM user"
            if self.user_name
            else "Studio user profile"
            if self.user_profile
            else "role session, no source identity"
        )
        via = f", via {self.arn}" if self.arn and self.arn != self.person else ""
        return f"{self.person or self.arn} ({how}{via}; AWS {self.source})"

    # ---------------------------------------------------------------- records
    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}

    @classmethod
    def from_record(cls, data: Any, where: str) -> Identity:
        if not isinstance(data, Mapping) or data.get("recorded_by") not in ("aws", "git"):
            raise InvalidInputError(f"{where}: not an identity record ({data!r})")
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        if fields["recorded_by"] == "git":
            # A Git identity is verified only when its record says its signature verified.
            fields["verified"] = fields.get("verified") is True
        return cls(**fields)


def dump_identities(identities: Iterable[Identity]) -> str:
    """Identities as one audit-record value (records keep string maps)."""
    return json.dumps([i.to_record() for i in identities], sort_keys=True)


def load_identities(text: str, where: str) -> tuple[Identity, ...]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        raise InvalidInputError(f"{where}: not JSON ({text[:80]!r})") from None
    if not isinstance(data, list):
        raise InvalidInputError(f"{where}: expected a list of identities")
    return tuple(Identity.from_record(item, where) for item in data)


@dataclass(frozen=True)
class People:
    """A set of identities (e.g. a version's authors), with what is known and what is not."""

    identities: tuple[Identity, ...] = ()
    unknown: tuple[str, ...] = field(default=())  # why a person could not be named

    def persons(self) -> tuple[Identity, ...]:
        return tuple(i for i in self.identities if i.is_person)

    def matching(self, other: Identity) -> tuple[Identity, ...]:
        return tuple(i for i in self.identities if i.same_person(other))

    def describe(self) -> str:
        return "; ".join(i.label() for i in self.identities) or "nobody"
