"""AWS's access rules in the emulator, decided by `finmlops.iam` on the synthesized templates.

`Rules.install()` plugs two decisions into the emulated AWS (ADR 0010, 0017):

- STS AssumeRole (`emulator.aws.identity.set_trust_evaluator`): the role's synthesized trust
  policy, with what the request carries (`sts:RoleSessionName`, `sts:SourceIdentity`) and what
  STS recorded for the caller (`aws:username`, `aws:MultiFactorAuthPresent`,
  `aws:SourceIdentity`), as `Platform.can_assume` decides it. A role no template declares cannot
  be assumed (moto lets anyone assume any ARN).
- S3 object writes and SageMaker registry writes (`emulator.aws.access.set_authorizer`): the
  caller's synthesized identity policies, the resource's synthesized policy and the request's
  condition keys, as `Platform.decide` decides it (explicit Deny wins; across accounts both
  sides must allow).

Who the caller is comes from what the emulated STS and IAM recorded for the request's access
key, turned into the principal the templates name (`Accounts.template_principal`). Three kinds
of caller are not in the templates:
- people's IAM users, who may only assume roles (`ANY_ROLE_CALLER`): a person writing to the
  registry or the audit trail with their own keys is refused, as on AWS where their user holds
  no such grant;
- the services' stand-in users, judged as the service principal of their name;
- the emulator's own hand (requests signed with keys moto never issued: what CloudFormation and
  the services' own machinery do in the world, and the story's reads), an administrator of the
  resource's account: an explicit Deny of a resource policy still refuses it, as it refuses an
  administrator on AWS.

Every decision is kept in `decisions`, for the story and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from finmlops.emulator.aws import access, identity
from finmlops.emulator.aws.access import ContextValue, Verdict
from finmlops.emulator.aws.identity import Caller
from finmlops.emulator.world.people import SERVICE_PATH
from finmlops.emulator.world.templates import Accounts, Templates
from finmlops.iam import ANY_ROLE_CALLER

# What the emulator's own hand may do in the account it acts in (an administrator's grant).
ADMINISTRATOR: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "EmulatorAdministrator", "Effect": "Allow", "Action": "*", "Resource": "*"}
    ],
}


@dataclass(frozen=True)
class Recorded:
    caller: str  # the principal as the templates name it
    action: str
    resource: str
    allowed: bool
    reason: str


@dataclass
class Rules:
    templates: Templates
    accounts: Accounts
    account_of_path: Mapping[str, str]  # IAM user path -> the account its people belong to
    decisions: list[Recorded] = field(default_factory=list)

    host: str | None = None  # the embedded server whose requests these rules decide

    def install(self, host: str | None = None) -> None:
        """Decide the requests made to `host` (the world's embedded server)."""
        self.host = host
        identity.set_trust_evaluator(self.trust, host)
        access.set_authorizer(self.authorize, host)

    def uninstall(self) -> None:
        identity.set_trust_evaluator(None, self.host)
        access.set_authorizer(None, self.host)

    # ------------------------------------------------------------------ principals
    def _user(self, arn: str) -> tuple[str, str] | None:
        """(path, name) of an IAM user ARN."""
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("user/"):
            return None
        rest = parts[5].removeprefix("user")
        path, _, name = rest.rpartition("/")
        return f"{path}/", name

    def principal(self, caller: Caller) -> tuple[str, list[Mapping[str, Any]] | None]:
        """(the principal the templates name, its identity policies when the templates hold
        none for it): roles and their sessions, people, services, the emulator's hand."""
        user = self._user(caller.arn)
        if user is not None:
            path, name = user
            if path == SERVICE_PATH:
                return name, [ANY_ROLE_CALLER]
            account = self.account_of_path.get(path, self.accounts.moto)
            return f"arn:aws:iam::{account}:user{path}{name}", [ANY_ROLE_CALLER]
        if caller.arn.endswith(":user/moto"):  # keys moto never issued: the emulator's hand
            return caller.arn, [ADMINISTRATOR]
        return self.accounts.template_principal(self.templates.platform, caller.arn), None

    def _template_role(self, role_arn: str) -> str | None:
        found = self.accounts.template_principal(self.templates.platform, role_arn)
        return found if found in self.templates.platform.roles else None

    # ------------------------------------------------------------------ decisions
    def trust(self, caller_arn: str, role_arn: str, context: Mapping[str, str]) -> bool:
        platform = self.templates.platform
        role = self._template_role(role_arn)
        if role is None:
            self._keep(
                caller_arn, "sts:AssumeRole", role_arn, False, "no template declares the role"
            )
            return False
        caller = identity.Caller(caller_arn, "")
        principal, policies = self.principal(caller)
        values: dict[str, ContextValue] = dict(context.items())
        if principal.endswith(".amazonaws.com"):
            values["aws:SourceAccount"] = platform.roles[role].account
        if "aws:MultiFactorAuthPresent" in values:
            values["aws:MultiFactorAuthPresent"] = values["aws:MultiFactorAuthPresent"] == "true"
        if principal.endswith(":user/moto"):
            principal, policies = f"arn:aws:iam::{platform.roles[role].account}:root", None
        # aws:username is AWS's to set from the principal (finmlops.iam refuses it in context).
        values.pop("aws:username", None)
        decision = platform.can_assume(principal, role, values, caller_policies=policies)
        self._keep(principal, "sts:AssumeRole", role, decision.allowed, decision.reason)
        return decision.allowed

    def authorize(
        self, caller: Caller, action: str, resource: str, context: Mapping[str, ContextValue]
    ) -> Verdict:
        platform = self.templates.platform
        principal, policies = self.principal(caller)
        target = platform.resource(resource)
        account = target.account if target else self.accounts.moto
        if principal.endswith(":user/moto"):
            principal = f"arn:aws:iam::{account}:role/emulator-deployer"
        values = dict(context)
        if caller.source_identity:
            values["aws:SourceIdentity"] = caller.source_identity
        if caller.mfa is not None:
            values["aws:MultiFactorAuthPresent"] = caller.mfa
        decision = platform.decide(
            principal,
            action,
            resource,
            values,
            resource_account=account,
            principal_policies=policies,
        )
        self._keep(principal, action, resource, decision.allowed, decision.reason)
        return Verdict(decision.allowed, decision.reason)

    def _keep(self, caller: str, action: str, resource: str, allowed: bool, reason: str) -> None:
        self.decisions.append(Recorded(caller, action, resource, allowed, reason))

    def refused(self) -> list[Recorded]:
        return [d for d in self.decisions if not d.allowed]
