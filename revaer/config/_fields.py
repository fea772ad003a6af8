"""Field validators for settings documents: each converts a JSON value or reports a problem.

A validator returns the converted value, or raises ``FieldError`` with a message; the caller
attaches the JSON pointer. JSON booleans are never accepted as integers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

__all__ = [
    "FieldError",
    "Validator",
    "abs_path",
    "bool_map",
    "boolean",
    "choice",
    "integer",
    "ip_address",
    "json_object",
    "keyed_objects",
    "nullable",
    "octal_mode",
    "relative_path",
    "string",
    "string_list",
    "timestamp",
]

Validator = Callable[[Any], Any]

_MAX_PATH = 4096


class FieldError(ValueError):
    """A value does not fit its field; the message says why, the caller knows where."""


def boolean(value: Any) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise FieldError("must be a boolean")
    return value


def integer(minimum: int, maximum: int) -> Validator:
    """A JSON integer within ``[minimum, maximum]``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("must be an integer")
        if not minimum <= value <= maximum:
            raise FieldError(f"must be between {minimum} and {maximum}")
        return value

    return check


def string(*, min_len: int = 0, max_len: int = 256, pattern: str | None = None) -> Validator:
    """A JSON string of bounded length, optionally matching ``pattern`` in full."""
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError("must be a string")
        if not min_len <= len(value) <= max_len:
            raise FieldError(f"must be {min_len}–{max_len} characters long")
        if compiled is not None and not compiled.fullmatch(value):
            raise FieldError(f"must match {pattern}")
        if "\x00" in value:
            raise FieldError("must not contain NUL characters")
        return value

    return check


def choice(*allowed: str) -> Validator:
    """One of a fixed set of strings."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise FieldError("must be one of " + ", ".join(allowed))
        return value

    return check


def nullable(inner: Validator) -> Validator:
    """``null`` or whatever ``inner`` accepts."""

    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def ip_address(value: Any) -> str:
    """An IPv4 or IPv6 address, normalised."""
    if not isinstance(value, str):
        raise FieldError("must be a string")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise FieldError("must be an IPv4 or IPv6 address") from None


def abs_path(value: Any) -> str:
    """An absolute POSIX path without ``..`` components, normalised."""
    if not isinstance(value, str) or not value:
        raise FieldError("must be a non-empty string")
    if len(value) > _MAX_PATH or "\x00" in value:
        raise FieldError("is not a valid path")
    path = PurePosixPath(value)
    if not path.is_absolute():
        raise FieldError("must be an absolute path")
    if ".." in path.parts:
        raise FieldError("must not contain '..'")
    return str(path)


def relative_path(value: Any) -> str:
    """A relative POSIX path without ``..`` or empty components, normalised (e.g. ``tv/hd``)."""
    if not isinstance(value, str) or not value:
        raise FieldError("must be a non-empty string")
    if len(value) > _MAX_PATH or "\x00" in value or "\\" in value:
        raise FieldError("is not a valid path")
    path = PurePosixPath(value)
    if path.is_absolute():
        raise FieldError("must be a relative path")
    if ".." in path.parts or not path.parts:
        raise FieldError("must not contain '..'")
    return str(path)


def keyed_objects(key: Validator, value: Validator, *, max_keys: int = 64) -> Validator:
    """An object whose keys and values are each validated (e.g. tag → rule)."""

    def check(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise FieldError("must be an object")
        if len(raw) > max_keys:
            raise FieldError(f"must have at most {max_keys} keys")
        out: dict[str, Any] = {}
        for name, entry in raw.items():
            try:
                key(name)
                out[name] = value(entry)
            except ItemError as exc:
                inner = exc.index if isinstance(exc.index, tuple) else (exc.index,)
                raise ItemError((name, *inner), str(exc)) from None
            except FieldError as exc:
                raise ItemError(name, str(exc)) from None
        return out

    return check


def octal_mode(value: Any) -> str:
    """A permission mode in octal, e.g. ``"0644"``."""
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise FieldError("must be an octal mode such as 0644")
    return value.rjust(4, "0")


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with a timezone."""
    if not isinstance(value, str):
        raise FieldError("must be an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError("must be an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise FieldError("must include a timezone (e.g. 2030-01-01T00:00:00Z)")
    return parsed.astimezone(UTC)


def string_list(item: Validator, *, max_items: int = 64) -> Validator:
    """A JSON array of items; an item problem names its index."""

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise FieldError("must be an array")
        if len(value) > max_items:
            raise FieldError(f"must have at most {max_items} items")
        out: list[Any] = []
        for index, entry in enumerate(value):
            try:
                out.append(item(entry))
            except FieldError as exc:
                raise ItemError(index, str(exc)) from None
        return out

    return check


class ItemError(FieldError):
    """A problem with one array item; carries its index for the pointer."""

    def __init__(self, index: int | str | tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.index = index


def json_object(*, max_keys: int = 64) -> Validator:
    """A free-form JSON object of bounded size."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise FieldError("must be an object")
        if len(value) > max_keys:
            raise FieldError(f"must have at most {max_keys} keys")
        return dict(value)

    return check


def bool_map(value: Any) -> dict[str, bool]:
    """An object of named switches, each a boolean."""
    if not isinstance(value, dict):
        raise FieldError("must be an object of booleans")
    for key, flag in value.items():
        if not isinstance(flag, bool):
            raise ItemError(key, "must be a boolean")
    return dict(value)


def typed_object(fields: dict[str, Validator]) -> Validator:
    """An object with known optional keys, each validated; unknown keys are refused."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise FieldError("must be an object")
        out: dict[str, Any] = {}
        for key, entry in value.items():
            validator = fields.get(key)
            if validator is None:
                raise ItemError(key, "unknown field")
            try:
                out[key] = validator(entry)
            except FieldError as exc:
                raise ItemError(key, str(exc)) from None
        return out

    return check


def listen_interface(value: Any) -> str:
    """``address:port`` as libtorrent's listen_interfaces takes it (IPv6 in brackets)."""
    if not isinstance(value, str):
        raise FieldError("must be a string like 0.0.0.0:6881 or [::]:6881")
    match = re.fullmatch(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d{1,5})", value)
    if match is None:
        raise FieldError("must be address:port, e.g. 0.0.0.0:6881 or [::]:6881")
    try:
        ipaddress.ip_address(match["v6"] or match["v4"])
    except ValueError:
        raise FieldError("has an invalid address") from None
    if not 0 <= int(match["port"]) <= 65535:
        raise FieldError("has a port outside 0–65535")
    return value


def url(value: Any) -> str:
    """An http(s) or udp tracker URL."""
    if not isinstance(value, str) or not re.fullmatch(r"(https?|udp)://[^\s]{1,2000}", value):
        raise FieldError("must be an http(s):// or udp:// URL")
    return value


def one_of_sequence(values: Sequence[str]) -> Validator:
    """A string naming one of ``values`` (computed lists such as known keys)."""
    allowed = frozenset(values)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise FieldError("must name a settings section or field (e.g. engine_profile.dht)")
        return value

    return check
