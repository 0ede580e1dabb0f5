"""Resource ids the caller chooses, with moto's `_custom_id_` tag, where moto 5.2.5 lacks it.

moto generates the ids of VPCs, subnets, route tables, security groups and KMS keys; only a few
of its services (API Gateway, Secrets Manager, Route 53, Resource Groups) read the `_custom_id_`
tag that moto's id manager defines (`moto.utilities.id_generator.TAG_KEY_CUSTOM_ID`) for a
resource to get the id its tags name. The world names resources as the templates and the config
name them: the config's existing VPC, subnets and route tables (the network stacks create
endpoints in them), and the templates' security groups and keys (referenced by id in pipeline
definitions, VPC endpoints, encrypted topics and endpoint configs). `install()` makes these five
create calls honour the tag, as moto's id manager does for its other services: the tag stays on
the resource, and an id already in use is refused as the service refuses a duplicate.
`tests/emulator/test_world.py` pins it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

TAG = "_custom_id_"
_INSTALLED = "_finmlops_custom_ids"
_wanted = threading.local()


def _custom_id(value: Any) -> str | None:
    """The `_custom_id_` tag's value anywhere in a create call's arguments (moto's backends take
    tags as a list of Key/Value or TagKey/TagValue maps, or as a map by resource type)."""
    if isinstance(value, dict):
        for key_field, value_field in (("Key", "Value"), ("TagKey", "TagValue")):
            if value.get(key_field) == TAG and isinstance(value.get(value_field), str):
                return str(value[value_field])
        if isinstance(value.get(TAG), str):
            return str(value[TAG])
        return next((v for v in map(_custom_id, value.values()) if v), None)
    if isinstance(value, list | tuple):
        return next((v for v in map(_custom_id, value) if v), None)
    return None


def _generator(original: Callable[..., str]) -> Callable[..., str]:
    def generate(*args: Any, **kwargs: Any) -> str:
        wanted: str | None = getattr(_wanted, "id", None)
        if wanted:
            _wanted.id = None  # one id per create call
            return wanted
        return original(*args, **kwargs)

    return generate


def _create(original: Callable[..., Any], taken: Callable[[Any, str], bool]) -> Callable[..., Any]:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        wanted = _custom_id([list(args), kwargs])
        if wanted and taken(self, wanted):
            raise _in_use(self, wanted)
        _wanted.id = wanted
        try:
            return original(self, *args, **kwargs)
        finally:
            _wanted.id = None

    return create


def _in_use(backend: Any, wanted: str) -> Exception:
    from moto.kms.exceptions import AlreadyExistsException
    from moto.kms.models import KmsBackend

    if isinstance(backend, KmsBackend):
        return AlreadyExistsException(f"the key id {wanted} is already in use")
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError("InvalidParameterValue", f"the id {wanted} is already in use")


def install() -> None:
    """Patch moto in this process (idempotent)."""
    from moto.ec2.models import route_tables, security_groups, subnets, vpcs
    from moto.kms import models as kms

    if getattr(vpcs.VPCBackend, _INSTALLED, False):
        return
    for module, name in (
        (vpcs, "random_vpc_id"),
        (subnets, "random_subnet_id"),
        (route_tables, "random_route_table_id"),
        (security_groups, "random_security_group_id"),
        (kms, "generate_key_id"),
    ):
        setattr(module, name, _generator(getattr(module, name)))
    for cls, method, taken in (
        (vpcs.VPCBackend, "create_vpc", lambda b, i: i in b.vpcs),
        (
            subnets.SubnetBackend,
            "create_subnet",
            lambda b, i: any(i in s for s in b.subnets.values()),
        ),
        (route_tables.RouteBackend, "create_route_table", lambda b, i: i in b.route_tables),
        (
            security_groups.SecurityGroupBackend,
            "create_security_group",
            lambda b, i: any(i in g for g in b.groups.values()),
        ),
        (kms.KmsBackend, "create_key", lambda b, i: i in b.keys),
    ):
        setattr(cls, method, _create(getattr(cls, method), taken))
    setattr(vpcs.VPCBackend, _INSTALLED, True)
