"""The account a request to an embedded server belongs to, when its access key says none.

moto files each request under an account (`BaseResponse.get_current_account`): `MOTO_ACCOUNT_ID`
when set, else the `x-moto-account-id` header, else the account whose IAM issued the request's
access key, else its default account 123456789012. A server started for one account
(`EmbeddedAws(account=...)`) registers its host here, and a request to that host signed with a
key moto never issued (the emulator's `testing` keys, the CLI's default credentials) is filed
under that account instead of the default: every client of the server, the ones the demo prints
included, sees the same account without an environment variable that would also move the
process's `mock_aws` tests. Keys moto issued keep their own account.
"""

from __future__ import annotations

import threading
from typing import Any

_hosts: dict[str, str] = {}
_lock = threading.Lock()
_INSTALLED = "_finmlops_server_accounts"


def serve(host: str, account: str) -> None:
    """Requests to `host` (`127.0.0.1:<port>`) with unknown keys belong to `account`."""
    install()
    with _lock:
        _hosts[host] = account


def forget(host: str) -> None:
    with _lock:
        _hosts.pop(host, None)


def install() -> None:
    """Patch moto in this process (idempotent)."""
    import os

    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.core.responses import BaseResponse
    from moto.iam.models import get_account_id_from

    if getattr(BaseResponse, _INSTALLED, False):
        return
    original = BaseResponse.get_current_account

    def get_current_account(self: Any) -> str:
        if "MOTO_ACCOUNT_ID" in os.environ or "x-moto-account-id" in self.headers:
            return str(original(self))
        account = str(get_account_id_from(self.get_access_key()))
        if account != DEFAULT_ACCOUNT_ID:
            return account
        host = str(self.headers.get("Host", ""))
        return _hosts.get(host, account)

    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]
    setattr(BaseResponse, _INSTALLED, True)
