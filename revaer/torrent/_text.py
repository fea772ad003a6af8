"""Text that reaches logs, PostgreSQL and terminals: cleaned or refused at the engine's edge.

Torrent names come from strangers (a magnet's ``dn``, a .torrent's ``name``): control characters
in them are removed (a NUL cannot be stored in PostgreSQL; an escape sequence rewrites a
terminal), and lone surrogates become U+FFFD (they cannot be encoded as UTF-8). Fields the user
chose (tags, tracker URLs, paths, globs) are refused instead, so the user sees what is wrong.
"""

from __future__ import annotations

import unicodedata

__all__ = ["clean_name", "control_character"]

_REPLACEMENT = "\ufffd"


def control_character(text: str) -> str | None:
    """A description of the first control character or lone surrogate in ``text``, or None."""
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cc":
            return f"contains the control character U+{ord(char):04X} at {index}"
        if category == "Cs":
            return f"contains a lone surrogate at {index} (not valid Unicode)"
    return None


def clean_name(text: str) -> str:
    """``text`` without control characters and with lone surrogates replaced."""
    if control_character(text) is None:
        return text  # the common case: nothing to copy
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            continue
        out.append(_REPLACEMENT if category == "Cs" else char)
    return "".join(out)
