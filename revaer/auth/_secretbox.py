"""Authenticated encryption of named secrets (AES-256-GCM) with a key kept outside the database."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from revaer.errors import FatalError, RevaerError

__all__ = ["SealedSecret", "SecretBox"]

_KEY_BYTES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedSecret:
    """Ciphertext of one secret; ``key_id`` names the key that sealed it."""

    nonce: bytes
    ciphertext: bytes = field(repr=False)
    key_id: str


class SecretBox:
    """Seals and opens secrets; the secret's name is bound in as associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise FatalError("the secrets key must be 32 bytes")
        self._aead = AESGCM(key)
        # Identifies the key without revealing it, so a later key rotation can find old rows.
        self.key_id = hashlib.sha256(b"revaer-secret-key:" + key).hexdigest()[:16]

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """Load the key from ``path``, creating it (mode 0600) with a random key on first use."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
        else:
            key = os.urandom(_KEY_BYTES)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
                out.flush()
                os.fsync(out.fileno())
        if len(key) != _KEY_BYTES:
            raise FatalError(f"secrets key file {path} is damaged (expected {_KEY_BYTES} bytes)")
        return cls(key)

    def seal(self, name: str, value: str) -> SealedSecret:
        """Encrypt ``value`` for the secret called ``name``."""
        nonce = os.urandom(12)
        return SealedSecret(
            nonce=nonce,
            ciphertext=self._aead.encrypt(nonce, value.encode(), name.encode()),
            key_id=self.key_id,
        )

    def open(self, name: str, sealed: SealedSecret) -> str:
        """Decrypt; refuses ciphertext that was altered, moved to another name or key."""
        if sealed.key_id != self.key_id:
            raise RevaerError(f"secret {name!r} was sealed with another key ({sealed.key_id})")
        try:
            return self._aead.decrypt(sealed.nonce, sealed.ciphertext, name.encode()).decode()
        except InvalidTag:
            raise RevaerError(f"secret {name!r} failed authentication") from None
