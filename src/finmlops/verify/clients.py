"""The AWS clients verify reads through, read-only by construction.

Every client verify builds refuses, before it is sent, any operation that is not a read
(`Describe*`, `Get*`, `List*`, `Head*`): a botocore `before-call` handler raises on anything
else, so no check can change the deployment it inspects, whatever its code does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

READ_PREFIXES = ("Describe", "Get", "List", "Head")


class WriteRefusedError(RuntimeError):
    """verify tried an operation that is not a read (a bug: verify never writes)."""


def _refuse_writes(model: Any, **_: Any) -> None:
    name = str(model.name)
    if not name.startswith(READ_PREFIXES):
        raise WriteRefusedError(
            f"verify is read-only: {model.service_model.service_name} {name} refused"
        )


def read_only(client: Any) -> Any:
    """The client, with every non-read operation refused before it is sent."""
    client.meta.events.register("before-call.*.*", _refuse_writes, unique_id="finmlops-read-only")
    return client


ClientFactory = Callable[[str], Any]


@dataclass
class Clients:
    """Clients for the environment's account, and for tooling's (deployment history)."""

    env_factory: ClientFactory
    tooling_factory: ClientFactory | None = None
    _built: dict[tuple[str, str], Any] = field(default_factory=dict)

    def env(self, service: str) -> Any:
        return self._client("env", service, self.env_factory)

    def tooling(self, service: str) -> Any:
        return self._client("tooling", service, self.tooling_factory or self.env_factory)

    def _client(self, side: str, service: str, factory: ClientFactory) -> Any:
        if (side, service) not in self._built:
            self._built[(side, service)] = read_only(factory(service))
        return self._built[(side, service)]


def session_factory(*, profile: str | None, region: str, endpoint_url: str | None) -> ClientFactory:
    """Clients of one named profile (or the default credentials) in one region."""
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)

    def build(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    return build
