"""A two-model portfolio on the registry tests' world (tests/registry/conftest.py, `World`).

The portfolio is the shipped config's real-time model with a second block built here: that model's block
under another name and group (`provisions`, `provisions-xgb`), serving in batch, with its own
people (owner, validator, approver role). Each person works in a role session as themselves
(session name and source identity their user name), as the roles' trust policies require on AWS.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from finmlops.config import Config, Portfolio, load_portfolio
from finmlops.contracts import Meta
from finmlops.naming import Role, names

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "platform.yaml"
SECOND = "provisions"
SECOND_GROUP = "provisions-xgb"
SECOND_APPROVER_ROLE = "ProvisionsApprover"

_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ],
    }
)


def two_model_data() -> dict[str, Any]:
    """The shipped portfolio's data with a second, batch model of its own people."""
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    first = data["models"]["credit-risk"]
    data["models"] = {"credit-risk": first}  # the shipped real-time model, and this one
    second = copy.deepcopy(first)
    second["package_group"] = SECOND_GROUP
    second["description"] = "IFRS 9 provisions: probability of default of the book, monthly"
    second["serving"] = {"mode": "batch", "schedule": "cron(0 2 1 * ? *)"}
    second["monitoring"]["schedule"] = "cron(0 3 * * ? *)"
    second["governance"].update(
        risk_tier="medium",
        owner="provisioning-analytics",
        validator="model-validation-credit",
        approver_role=SECOND_APPROVER_ROLE,
    )
    data["models"][SECOND] = second
    return data


def write_two_models(folder: Path) -> tuple[Path, Portfolio]:
    """The two-model portfolio as a file in `folder` (its dataset path made absolute, since the
    file no longer sits next to the shipped data), and as loaded."""
    data = two_model_data()
    for block in data["models"].values():
        uri = block["dataset"]["uri"]
        if not uri.startswith("package:"):
            block["dataset"]["uri"] = str((SHIPPED.parent / uri).resolve())
    path = folder / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, load_portfolio(path)


def role_arn(world: Any, role_name: str) -> str:
    """The role's ARN in the world's account, created with the people's trust when missing."""
    iam = world.client("iam")
    try:
        return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_TRUST)["Role"]["Arn"]
        )


def in_role(world: Any, person: Any, role_name: str) -> Any:
    """`person` in the role, as themselves (session name and source identity)."""
    return person.assume(role_arn(world, role_name), person.name, person.name)


def approver_of(world: Any, config: Config, person: Any) -> Any:
    """`person` in the model's approver role (its block's governance.approver_role)."""
    return in_role(world, person, config.governance.approver_role)


def validator_of(world: Any, config: Config, person: Any) -> Any:
    """`person` in dev's validator role of the model (`finmlops.naming`)."""
    return in_role(world, person, names(config, "dev").role(Role.VALIDATOR))


def add_group(world: Any, config: Config) -> str:
    """The model's registry group, created as its first build would."""
    group = config.model.package_group
    world.sm.create_model_package_group(ModelPackageGroupName=group)
    return group


def inventory_metadata(config: Config) -> dict[str, str]:
    """The inventory metadata the register step writes for the model's versions."""
    g = config.governance
    return {
        Meta.MODEL_ID: config.model.name,
        Meta.RISK_TIER: g.risk_tier,
        Meta.OWNER: g.owner,
        Meta.VALIDATOR: g.validator,
    }


def observe(world: Any, arn: str, event_id: str = "evt-signoff") -> Any:
    """SageMaker's state-change event for the version as it stands, to the handler, which the
    stack sets up with every model's group (the world's own settings know only the first)."""
    from dataclasses import replace

    from finmlops.registry.handler import handle_state_change

    described = world.describe(arn)
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-12-07T06:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": described["ModelPackageGroupName"],
            "ModelPackageVersion": described["ModelPackageVersion"],
            "ModelPackageArn": arn,
            "ModelApprovalStatus": described["ModelApprovalStatus"],
            "ModelPackageStatus": "Completed",
        },
    }
    groups = frozenset({world.group, SECOND_GROUP})
    return handle_state_change(
        event,
        sagemaker=world.sm,
        s3=world.s3,
        codepipeline=world.client("codepipeline"),
        cloudwatch=world.client("cloudwatch"),
        settings=replace(world.handler_settings(), groups=groups),
    )


def sign_off(
    world: Any,
    arn: str,
    person: Any,
    *,
    findings: tuple[Any, ...] = (),
    duties: Any = None,
    summary: str = "validation MRM-2026-201: sound",
) -> Any:
    """`registry validate` as `person`, then its state-change event to the handler."""
    from finmlops.registry.signoff import submit_signoff

    submitted = submit_signoff(
        person.client("sagemaker"),
        person.client("sts"),
        world.audit(),
        arn=arn,
        summary=summary,
        findings=findings,
        duties=duties,
    )
    outcome = observe(world, arn, event_id=f"evt-{submitted.digest[-8:]}")
    assert outcome.result == "recorded", outcome.reason
    return submitted
