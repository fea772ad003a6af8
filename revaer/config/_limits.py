"""HTTP bounds, server timeouts and the failed-authentication throttle, with their defaults.

Stored as the ``app_profile.http_limits`` and ``app_profile.auth_throttle`` objects; a key that
is absent takes the default here. ``LIMIT_FIELDS`` / ``THROTTLE_FIELDS`` validate patches and
``HttpLimits.of`` / ``AuthThrottle.of`` read a snapshot, so the names and ranges live once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from revaer.config import _fields as f

__all__ = ["LIMIT_FIELDS", "THROTTLE_FIELDS", "AuthThrottle", "HttpLimits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Bounds of one HTTP request and of the server's connections."""

    header_timeout_seconds: int = 5
    """A client must send its whole request head within this time."""
    keep_alive_seconds: int = 15
    """An idle keep-alive connection is closed after this time."""
    max_connections: int = 1024
    """Open HTTP connections at most; more wait in the listen backlog."""
    max_headers: int = 100
    max_header_bytes: int = 16_384
    """All request header names and values together (431 above)."""
    max_url_bytes: int = 8_192
    """Path and query string together (414 above)."""
    max_body_bytes: int = 1 << 20
    """JSON bodies (413 above)."""
    max_upload_bytes: int = 32 << 20
    """Adds carrying .torrent files, base64 or multipart (413 above)."""
    max_json_depth: int = 32
    max_json_string: int = 65_536
    """Characters in one JSON string (an add's base64 .torrent: bounded by the upload size)."""
    max_json_items: int = 10_000
    """Elements of one JSON array or members of one object."""

    @classmethod
    def of(cls, app_profile: Mapping[str, Any]) -> HttpLimits:
        """The limits stored in ``app_profile``, defaults for what is absent."""
        return cls(**(app_profile.get("http_limits") or {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthThrottle:
    """How many failed authentications a client address (or a key id) may have in a window."""

    failures: int = 10
    window_seconds: int = 60

    @classmethod
    def of(cls, app_profile: Mapping[str, Any]) -> AuthThrottle:
        """The throttle stored in ``app_profile``, defaults for what is absent."""
        return cls(**(app_profile.get("auth_throttle") or {}))


_RANGES: dict[str, tuple[int, int]] = {
    "header_timeout_seconds": (1, 300),
    "keep_alive_seconds": (1, 3600),
    "max_connections": (16, 1_000_000),
    "max_headers": (16, 1_000),
    "max_header_bytes": (1_024, 1 << 20),
    "max_url_bytes": (256, 1 << 20),
    "max_body_bytes": (1_024, 1 << 30),
    "max_upload_bytes": (1_024, 1 << 30),
    "max_json_depth": (4, 256),
    "max_json_string": (256, 1 << 30),
    "max_json_items": (16, 10_000_000),
}
assert set(_RANGES) == {fd.name for fd in fields(HttpLimits)}

LIMIT_FIELDS: dict[str, f.Validator] = {name: f.integer(*r) for name, r in _RANGES.items()}
THROTTLE_FIELDS: dict[str, f.Validator] = {
    "failures": f.integer(1, 10_000),
    "window_seconds": f.integer(1, 86_400),
}
