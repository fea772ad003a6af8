"""Domain identifiers shared across layers."""

from __future__ import annotations

from typing import NewType

__all__ = ["ApiKeyId", "ByteRate", "Revision"]

#: Monotonic configuration revision, bumped once per committing transaction.
Revision = NewType("Revision", int)
#: The public half of an API key (``key_id:secret``).
ApiKeyId = NewType("ApiKeyId", str)
#: Bytes per second.
ByteRate = NewType("ByteRate", int)
