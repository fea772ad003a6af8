"""Snapshots with chosen API keys, for unit tests of the API's key handling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from revaer.config import ApiKeyRecord, ConfigSnapshot, RateLimit, Role
from revaer.types import Revision


def key(
    key_id: str,
    *,
    role: Role = "admin",
    secret_hash: str = "hash-of-right",
    enabled: bool = True,
    rate_limit: RateLimit | None = None,
    expires_at: datetime | None = None,
    previous: tuple[str, datetime] | None = None,
) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=key_id,
        label=key_id,
        enabled=enabled,
        role=role,
        secret_hash=secret_hash,
        previous_secret_hash=previous[0] if previous else None,
        previous_valid_until=previous[1] if previous else None,
        rate_limit=rate_limit,
        expires_at=expires_at,
    )


def snapshot_with(*keys: ApiKeyRecord, revision: int = 1, **app_profile: Any) -> ConfigSnapshot:
    return ConfigSnapshot(
        revision=Revision(revision),
        app_profile={"mode": "active", **app_profile},
        engine_profile={},
        fs_policy={},
        api_keys=keys,
        secret_names=(),
    )
