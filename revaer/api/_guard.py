"""Who may call the operator routes: an API key, on an instance whose setup is complete."""

from __future__ import annotations

from revaer.api._deps import ApiDeps
from revaer.api._request import authenticate
from revaer.config import ApiKeyRecord
from revaer.errors import Conflict

__all__ = ["operator"]


async def operator(deps: ApiDeps) -> ApiKeyRecord:
    """The caller's verified key; 401 without one, 409 while the instance is in setup mode."""
    key = await authenticate(deps.verifier)
    if deps.snapshots.value.mode != "active":
        raise Conflict("complete setup first: the instance is in setup mode")
    return key
