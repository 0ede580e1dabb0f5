"""Who may decide on one model's versions: its registry group, its approver role and its
validator role, each model its own (issue 17: a validator of one model may author another, and
the approver of one model may not approve another's version).

The people are what AWS records, never a parameter: the role comes from the ARN that
`sts:GetCallerIdentity` returns for the caller's role session,
`arn:aws:sts::<account>:assumed-role/<role name>/<session name>` (IAM User Guide, "IAM
identifiers", assumed-role ARNs; the role's name, without its path). What a model's block says
is the rule: `governance.approver_role` for approvals and rejections, dev's validator role of
the model (`finmlops.naming`, `Role.VALIDATOR`) for sign-offs. The version's group is what
SageMaker recorded for it (`ModelPackageGroupName`), so a version of model B is judged by B's
block whatever model the caller named.

On AWS the same rule is IAM's: each model's approver and validator roles may update only their
own group's packages (the stacks). This module is the runtime's own check, made before any write,
so a refusal is explained and audited rather than left to an AccessDenied. Runs in Lambda as well:
standard library only (the config is read by the caller, `from_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from finmlops.registry.identity import Identity

if TYPE_CHECKING:
    from finmlops.config import Config
    from finmlops.registry.versions import ModelVersion

Duty = Literal["approve", "reject", "validate"]


@dataclass(frozen=True)
class ModelDuties:
    """One model's decision rights, from its block of the config."""

    model: str
    group: str
    approver_role: str  # IAM role name whose sessions approve and reject the group's versions
    validator_role: str  # IAM role name whose sessions sign off the group's versions

    @classmethod
    def from_config(cls, config: Config) -> ModelDuties:
        from finmlops.naming import Role, names

        return cls(
            model=config.model.name,
            group=config.model.package_group,
            approver_role=config.governance.approver_role,
            validator_role=names(config, "dev").role(Role.VALIDATOR),
        )

    def role_for(self, duty: Duty) -> str:
        return self.validator_role if duty == "validate" else self.approver_role

    def problems(self, version: ModelVersion, caller: Identity, duty: Duty) -> list[str]:
        """Why `caller` may not do `duty` on `version` for this model (empty: it may). Each
        line opens with its rule's name, as the other checks' lines do."""
        found: list[str] = []
        if version.group != self.group:
            found.append(
                f"model: {version.label} is a version of group {version.group!r}, not of model "
                f"{self.model!r} (group {self.group!r}); it is judged by its own model's block"
            )
        role = self.role_for(duty)
        if caller.role_name != role:
            held = f"role {caller.role_name!r}" if caller.role_name else "no role session"
            found.append(
                f"segregation of duties: {caller.label()} ({held}) may not {duty} versions of "
                f"model {self.model!r}; only a session of its role {role!r} may "
                "(sts:GetCallerIdentity)"
            )
        return found

    def signoff_problems(self, validators: Sequence[Identity], record_id: str) -> list[str]:
        """Why the sign-off an approval relies on is not this model's validator's: each person
        SageMaker recorded for its ModelLifeCycle write (LastModifiedBy, bound by the handler in
        `record_id`) must have made it in the model's validator role."""
        return [
            f"segregation of duties: the sign-off in audit record {record_id} was written by "
            f"{v.label()}, not in model {self.model!r}'s validator role {self.validator_role!r}"
            for v in validators
            if v.role_name != self.validator_role
        ]


__all__ = ["Duty", "ModelDuties"]
