"""API keys and the redaction that keeps secrets out of diagnostics and error output.

Output a command produces on purpose (the key ``setup complete`` issues) is not redacted; what
is redacted is every line the CLI writes about something going wrong or about its own traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MASK", "ApiKey", "Redactor", "mask_api_key"]

MASK = "***"


@dataclass(frozen=True, repr=False)
class ApiKey:
    """A ``key_id:secret`` credential; its ``repr`` and ``str`` never show the secret."""

    key_id: str
    secret: str

    @classmethod
    def parse(cls, value: str) -> ApiKey | None:
        """Split ``key_id:secret``; ``None`` when either part is empty or not header-safe."""
        key_id, sep, secret = value.partition(":")
        if not sep or not key_id or not secret:
            return None
        if not (_header_safe(key_id) and _header_safe(secret)) or ":" in key_id:
            return None
        return cls(key_id=key_id, secret=secret)

    def header_value(self) -> str:
        """The credential as the ``x-revaer-api-key`` header carries it."""
        return f"{self.key_id}:{self.secret}"

    def masked(self) -> str:
        """``key_id:***``, safe to show anywhere."""
        return f"{self.key_id}:{MASK}"

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"ApiKey({self.masked()!r})"


def mask_api_key(value: str) -> str:
    """Mask the secret part of a ``key_id:secret`` string (the whole value if it has none)."""
    key_id, sep, _ = value.partition(":")
    return f"{key_id}:{MASK}" if sep and key_id else MASK


def _header_safe(text: str) -> bool:
    # Visible ASCII only: anything else could not travel in an HTTP header unchanged.
    return all(0x21 <= ord(char) <= 0x7E for char in text)


class Redactor:
    """Replaces known secrets in text with ``***``.

    Secrets are registered as they become known during an invocation (the API key from the
    global options, a setup token, a passphrase), so one redactor serves the whole run.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` (ignored when ``None`` or empty)."""
        if secret:
            self._secrets.add(secret)

    def add_api_key(self, value: str | None) -> None:
        """Remember the secret part of a raw ``--api-key`` value, or all of it if malformed."""
        if not value:
            return
        key_id, sep, secret = value.partition(":")
        self.add(secret if sep and key_id and secret else value)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        # Longest first, so a secret containing another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text
