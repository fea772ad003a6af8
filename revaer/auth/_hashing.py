"""argon2id hashing of setup tokens and API key secrets, and secret generation."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["generate_secret", "hash_secret", "verify_secret"]

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
