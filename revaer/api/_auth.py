"""API key verification that is cheap on the hot path.

argon2id costs ~50 ms, far too much per request. A key is verified with argon2 once; after that
the verifier remembers a SHA-256 digest of the accepted secret, bound to the stored hash, and
compares digests in constant time. Rotating or revoking a key changes its stored hash or state
in the snapshot, which invalidates the remembered digest at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import trio

from revaer.auth import verify_secret
from revaer.config import ApiKeyRecord, ConfigSnapshot
from revaer.errors import InvalidParam, Unauthorized

__all__ = ["ApiKeyVerifier", "parse_api_key"]

_HEADER_POINTER = "/headers/x-revaer-api-key"


def parse_api_key(value: str | None) -> tuple[str, str]:
    """Split ``key_id:secret``; a missing or malformed header is ``Unauthorized``."""
    if not value:
        raise Unauthorized(
            "an API key is required (header x-revaer-api-key: key_id:secret)",
            invalid_params=[InvalidParam(pointer=_HEADER_POINTER, message="missing")],
        )
    key_id, sep, secret = value.partition(":")
    if not sep or not key_id or not secret or len(value) > 512:
        raise Unauthorized(
            "the API key must look like key_id:secret",
            invalid_params=[InvalidParam(pointer=_HEADER_POINTER, message="malformed")],
        )
    return key_id, secret


class ApiKeyVerifier:
    """Checks ``key_id:secret`` against the current snapshot's keys."""

    def __init__(
        self,
        snapshot: Callable[[], ConfigSnapshot],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._snapshot = snapshot
        self._now = now
        # key_id → (stored hash the secret was verified against, sha256 of that secret)
        self._verified: dict[str, tuple[str, bytes]] = {}
        self._limiter = trio.CapacityLimiter(2)

    async def verify(self, header: str | None) -> ApiKeyRecord:
        """The key record for a valid header; ``Unauthorized`` otherwise (never says which part)."""
        key_id, secret = parse_api_key(header)
        record = self._snapshot().api_key(key_id)
        if record is None or not record.enabled:
            raise Unauthorized("invalid API key")
        if record.expires_at is not None and record.expires_at <= self._now():
            raise Unauthorized("invalid API key")
        digest = hashlib.sha256(secret.encode()).digest()
        cached = self._verified.get(key_id)
        if cached is not None and cached[0] == record.secret_hash:
            if hmac.compare_digest(cached[1], digest):
                return record
            raise Unauthorized("invalid API key")
        ok = await trio.to_thread.run_sync(
            verify_secret, record.secret_hash, secret, limiter=self._limiter
        )
        if not ok:
            raise Unauthorized("invalid API key")
        self._verified[key_id] = (record.secret_hash, digest)
        return record
