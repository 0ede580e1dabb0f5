"""What one check of `finmlops verify` found: PASS, FAIL or SKIP, the seam it looked at, and a
detail that tells the operator what to do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check outcome, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. `aws_error` names the AWS error code when the check could not
    read what it needed (the CLI exits 4 when that is the only kind of failure)."""

    status: Status
    seam: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    aws_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": str(self.status), "seam": self.seam, "detail": self.detail}
        if self.data:
            out["data"] = self.data
        if self.aws_error:
            out["aws_error"] = self.aws_error
        return out

    @property
    def line(self) -> str:
        return f"{self.status:<4}  {self.seam:<26}  {self.detail}"


def passed(seam: str, detail: str, **data: Any) -> CheckResult:
    return CheckResult(Status.PASS, seam, detail, dict(data))


def failed(seam: str, detail: str, **data: Any) -> CheckResult:
    return CheckResult(Status.FAIL, seam, detail, dict(data))


def skipped(seam: str, detail: str, **data: Any) -> CheckResult:
    return CheckResult(Status.SKIP, seam, detail, dict(data))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error (`AccessDenied`, ...), else the exception's type."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def guarded(seam: str, what: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; an AWS error that stops it from reading becomes its FAIL line (naming the
    error and what it was reading), so one denied call does not hide the other checks."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return check()
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc)
        return CheckResult(
            Status.FAIL,
            seam,
            f"could not read {what}: {code}: {exc}. Check the credentials (--profile) and "
            "their read permissions in this account",
            aws_error=code,
        )


def exit_status(results: Sequence[CheckResult]) -> int:
    """0 every check passed or was skipped; 1 a check failed; 4 only AWS errors stopped checks."""
    failures = [r for r in results if r.status is Status.FAIL]
    if not failures:
        return 0
    return 4 if all(r.aws_error for r in failures) else 1
