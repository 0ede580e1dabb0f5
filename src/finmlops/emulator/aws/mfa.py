"""Time-based one-time passwords, as a virtual MFA device computes them (RFC 6238, RFC 4226).

IAM's virtual MFA devices are TOTP authenticators: a base32 seed (`Base32StringSeed` of
CreateVirtualMFADevice), 30-second steps, six digits, HMAC-SHA1 (IAM User Guide, "Assign a
virtual MFA device"). The emulator's people compute their codes with it, and the emulated STS
checks the code GetSessionToken receives. Written here rather than taken from a package: it is
one function of the standard library's hmac, and the emulator is a runtime part of the platform
that should not bring a dependency for it; tests/emulator/test_people.py checks it against the
RFC 6238 test vectors (Appendix B).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime

STEP_SECONDS = 30
DIGITS = 6


def code(secret: bytes, at: datetime, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The one-time code of `secret` for the 30-second step that holds `at`."""
    counter = int(at.astimezone(UTC).timestamp()) // STEP_SECONDS
    mac = hmac.new(secret, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def seed_bytes(base32_seed: str) -> bytes:
    return base64.b32decode(base32_seed + "=" * (-len(base32_seed) % 8))


def device_code(base32_seed: str, at: datetime | None = None) -> str:
    """What the person's authenticator shows now (or at `at`)."""
    return code(seed_bytes(base32_seed), at or datetime.now(UTC))


def accepts(base32_seed: str, given: str, at: datetime | None = None) -> bool:
    """Whether `given` is the code of this step or of the one before or after it (the clock
    drift authenticators are allowed)."""
    now = (at or datetime.now(UTC)).timestamp()
    secret = seed_bytes(base32_seed)
    return any(
        hmac.compare_digest(
            code(secret, datetime.fromtimestamp(now + d * STEP_SECONDS, UTC)), given
        )
        for d in (-1, 0, 1)
    )
