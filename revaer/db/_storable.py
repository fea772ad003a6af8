"""Values PostgreSQL will store: text without NUL, and strings asyncpg can encode.

PostgreSQL text and jsonb cannot hold NUL, and asyncpg cannot encode a lone surrogate (how
Python hands over bytes that are not UTF-8, e.g. a file name from an archive or a torrent).
Either makes a whole statement (or batch) fail. These replace them with U+FFFD: the last line
of defence for names and messages that come from outside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["storable", "storable_text"]


def storable_text(text: str) -> str:
    """``text`` with NUL and undecodable characters replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def storable(value: Any) -> Any:
    """``value`` with every string in it (keys included, through dicts and lists) storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
