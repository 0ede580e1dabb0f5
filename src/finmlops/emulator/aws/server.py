"""Embedded AWS: moto's server on 127.0.0.1, on a free port, started and stopped by the project.

Every component reaches it through the boto3 code it uses on AWS, differing only by endpoint
URL and credentials (`EmbeddedAws.session`, `EmbeddedAws.client`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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
    _server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> EmbeddedAws:
        import logging

        from moto.server import ThreadedMotoServer

        from finmlops.emulator.aws import fidelity

        fidelity.install()  # moto made to keep, refuse and answer what AWS does
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

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

    def session(self, access_key: str = "testing", secret_key: str = "testing") -> Any:  # noqa: S107
        import boto3

        return boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=self.region
        )

    def client(self, service: str, session: Any = None) -> Any:
        from botocore.config import Config

        # One attempt: the emulator answers at once, and a 500 from an action moto lacks should
        # surface, not be retried.
        return (session or self.session()).client(
            service, endpoint_url=self.endpoint_url, config=Config(retries={"max_attempts": 1})
        )


@contextmanager
def embedded_aws(region: str = "us-east-1", port: int | None = None) -> Iterator[EmbeddedAws]:
    aws = EmbeddedAws(region=region, port=port or free_port()).start()
    aws.reset()
    try:
        yield aws
    finally:
        aws.stop()
