"""Embedded AWS: moto's server on 127.0.0.1, on a free port, started and stopped by the project.

Every component reaches it through the boto3 code it uses on AWS, differing only by endpoint
URL and credentials (`EmbeddedAws.session`, `EmbeddedAws.client`).

The server holds one account: moto's default (123456789012), or the one `account` names (the
demo's world runs in the config's dev account, so the registry's ARNs are the ones the templates
name). moto files a request under the account of the access key that signed it, and under its
default account for a key it never issued (the `testing` keys, a container's environment, the
CLI's default credentials); `account` makes that default this server's account, for requests to
this server only (`mock_aws` tests and other servers keep moto's default).
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from finmlops.emulator.aws import accounts

LOOPBACK = "127.0.0.1"
# moto's default account: resources created with the default keys live here.
EMULATOR_ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedAws:
    """A running moto server; build clients with `client(service)`."""

    region: str
    port: int = field(default_factory=free_port)
    account: str = EMULATOR_ACCOUNT
    _server: Any = None
    # Clients of the default credentials, built once: building one re-reads botocore's data.
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _default: Any = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> EmbeddedAws:
        import logging

        from moto.server import ThreadedMotoServer

        from finmlops.emulator.aws import fidelity

        fidelity.install()  # moto made to keep, refuse and answer what AWS does
        accounts.serve(f"{LOOPBACK}:{self.port}", self.account)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        # moto serializes an STS AccessDenied (a refused AssumeRole, as AWS answers it) without an
        # error shape in its model and warns once per refusal; the client still gets AWS's error.
        warnings.filterwarnings(
            "ignore", message=r".*does not match an error shape", module="moto.core.serialize"
        )

        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        self._server.start()
        return self

    def reset(self) -> None:
        """Forget every resource: moto's backends are shared by all servers of one process."""
        import urllib.request

        url = f"{self.endpoint_url}/moto-api/reset"  # always http://127.0.0.1
        request = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            accounts.forget(f"{LOOPBACK}:{self.port}")

    def session(self, access_key: str = "testing", secret_key: str = "testing") -> Any:  # noqa: S107
        import boto3

        return boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=self.region
        )

    def client(self, service: str, session: Any = None) -> Any:
        from botocore.config import Config

        if session is None and service in self._clients:
            return self._clients[service]
        if session is None and self._default is None:
            self._default = self.session()
        # One attempt: the emulator answers at once, and a 500 from an action moto lacks should
        # surface, not be retried.
        client = (session or self._default).client(
            service, endpoint_url=self.endpoint_url, config=Config(retries={"max_attempts": 1})
        )
        if session is None:
            self._clients[service] = client
        return client


@contextmanager
def embedded_aws(
    region: str = "us-east-1", port: int | None = None, account: str | None = None
) -> Iterator[EmbeddedAws]:
    aws = EmbeddedAws(
        region=region, port=port or free_port(), account=account or EMULATOR_ACCOUNT
    ).start()
    aws.reset()
    try:
        yield aws
    finally:
        aws.stop()
