"""argon2id hashing of setup tokens and API key secrets, and secret generation."""

from __future__ import annotations

import base64
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["decoy_hash", "generate_secret", "hash_secret", "verify_secret"]

# argon2-cffi defaults: the RFC 9106 "low memory" profile (64 MiB, t=3), 50 to 200 ms a hash.
_HASHER = PasswordHasher()


def generate_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret from the OS CSPRNG."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """argon2id hash (PHC string) of ``secret``. CPU-heavy: call it off the event loop."""
    return _HASHER.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``secret_hash``. CPU-heavy: call it off the event loop."""
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def decoy_hash() -> str:
    """A well-formed argon2id hash with the current parameters that no secret matches.

    Verifying against it costs what verifying against a real key costs, so a key id that does
    not exist takes as long to refuse as a wrong secret (no timing oracle). Verification time
    depends on the parameters only, so no hashing is needed to make one.
    """

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode().rstrip("=")

    h = _HASHER
    return (
        f"$argon2id$v=19$m={h.memory_cost},t={h.time_cost},p={h.parallelism}"
        f"${b64(secrets.token_bytes(h.salt_len))}${b64(secrets.token_bytes(h.hash_len))}"
    )
