"""moto's S3, made to answer GetObjectRetention as S3 does.

moto (5.2.x) keeps each object version's Object Lock mode and retain-until date (from the
request's headers or the bucket's default retention, as S3 does) and shows them on HeadObject and
GetObject, but has no GetObjectRetention: `GET /<key>?retention` falls through to GetObject and
the response cannot be serialised (HTTP 500). `finmlops audit verify` reads each record's
retention with GetObjectRetention, the API S3 documents for it. `install()` answers it from what
moto keeps: `Retention` {Mode, RetainUntilDate} for the version asked (the latest without
`versionId`), or the error NoSuchObjectLockConfiguration when that version has no retention (HTTP 400 here, 404 on S3: callers match the code)
(API reference, GetObjectRetention). `tests/emulator/test_s3_fidelity.py` pins both answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_INSTALLED = "_finmlops_s3_fidelity"


def _until(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def install() -> None:
    """Patch moto in this process (idempotent), for `mock_aws` and the embedded server alike."""
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    if getattr(S3Response, _INSTALLED, False):
        return

    class NoSuchObjectLockConfigurationError(S3ClientError):
        code = "NoSuchObjectLockConfiguration"

        def __init__(self) -> None:
            super().__init__("The specified object does not have a ObjectLock configuration")

    original_get = S3Response._key_response_get

    def key_response_get(self: Any, query: dict[str, Any], key_name: str) -> Any:
        if "retention" not in query:
            return original_get(self, query, key_name)
        self._set_action("KEY", "GET", query)
        self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name, key_name=key_name)
        key, _ = self._get_key()
        if not key.lock_mode or not key.lock_until:
            raise NoSuchObjectLockConfigurationError()
        self.data["Action"] = "GetObjectRetention"
        retention = {"Mode": key.lock_mode, "RetainUntilDate": _until(str(key.lock_until))}
        return self.serialized(ActionResult({"Retention": retention}))

    S3Response._key_response_get = key_response_get  # type: ignore[method-assign]
    setattr(S3Response, _INSTALLED, True)
