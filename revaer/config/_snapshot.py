"""The typed, frozen configuration snapshot every consumer reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, cast

from revaer.types import Revision

__all__ = [
    "ROLES",
    "ApiKeyRecord",
    "ConfigSnapshot",
    "RateLimit",
    "Role",
    "role_allows",
    "snapshot_from_row",
]

Mode = Literal["setup", "active"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Token bucket: ``burst`` requests refilled over ``per_seconds``."""

    burst: int
    per_seconds: int


Role = Literal["read", "operate", "admin"]
ROLES: tuple[Role, ...] = ("read", "operate", "admin")
"""Least to most privileged: each role may do what the roles before it may."""


def role_allows(held: Role, needed: Role) -> bool:
    """Whether a key with role ``held`` may call a route that needs ``needed``."""
    return ROLES.index(held) >= ROLES.index(needed)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """An API key as stored: argon2id hashes, never the secret."""

    key_id: str
    label: str
    enabled: bool
    role: Role = "admin"
    secret_hash: str = field(repr=False)
    previous_secret_hash: str | None = field(default=None, repr=False)
    """The secret before the last rotation, accepted until ``previous_valid_until``."""
    previous_valid_until: datetime | None = None
    rate_limit: RateLimit | None
    expires_at: datetime | None
    created_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Enabled and not expired."""
        return self.enabled and (self.expires_at is None or self.expires_at > now)

    def accepted_hashes(self, now: datetime) -> tuple[str, ...]:
        """The hashes a presented secret may match now: current, then previous within grace."""
        if (
            self.previous_secret_hash is not None
            and self.previous_valid_until is not None
            and self.previous_valid_until > now
        ):
            return (self.secret_hash, self.previous_secret_hash)
        return (self.secret_hash,)

    def view(self) -> dict[str, Any]:
        """The view shown to admins (no hashes)."""
        return {
            "key_id": self.key_id,
            "label": self.label,
            "role": self.role,
            "enabled": self.enabled,
            "rate_limit": (
                {"burst": self.rate_limit.burst, "per_seconds": self.rate_limit.per_seconds}
                if self.rate_limit
                else None
            ),
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "previous_secret_valid_until": _iso(self.previous_valid_until),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _freeze(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(doc))


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigSnapshot:
    """Revision plus every settings document, read in one consistent statement."""

    revision: Revision
    app_profile: Mapping[str, Any]
    engine_profile: Mapping[str, Any]
    fs_policy: Mapping[str, Any]
    api_keys: tuple[ApiKeyRecord, ...]
    secret_names: tuple[str, ...]

    @property
    def mode(self) -> Mode:
        """``setup`` until the setup flow completes, then ``active``."""
        return cast(Mode, self.app_profile["mode"])

    def section(self, name: str) -> Mapping[str, Any]:
        """A settings document by section name."""
        match name:
            case "app_profile":
                return self.app_profile
            case "engine_profile":
                return self.engine_profile
            case "fs_policy":
                return self.fs_policy
        raise KeyError(name)

    def api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key called ``key_id``, if any."""
        return next((k for k in self.api_keys if k.key_id == key_id), None)

    def to_json(self, *, with_keys: bool = True) -> dict[str, Any]:
        """The document (no secrets, no hashes); ``with_keys=False`` leaves the keys out.

        The public ``/.well-known/revaer.json`` has no keys: a key id is half a credential,
        and an unauthenticated caller must not learn which ones exist.
        """
        doc: dict[str, Any] = {
            "revision": int(self.revision),
            "app_profile": dict(self.app_profile),
            "engine_profile": dict(self.engine_profile),
            "fs_policy": dict(self.fs_policy),
            "secrets": list(self.secret_names),
        }
        if with_keys:
            doc["api_keys"] = [k.view() for k in self.api_keys]
        return doc


def _section_doc(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    # Internal columns stay out of the document.
    return _freeze({k: v for k, v in raw.items() if k not in {"singleton", "updated_at"}})


def _key(raw: Mapping[str, Any]) -> ApiKeyRecord:
    burst, per = raw.get("rate_limit_burst"), raw.get("rate_limit_per_seconds")
    return ApiKeyRecord(
        key_id=raw["key_id"],
        label=raw["label"],
        enabled=raw["enabled"],
        role=raw.get("role", "admin"),
        secret_hash=raw["secret_hash"],
        previous_secret_hash=raw.get("previous_secret_hash"),
        previous_valid_until=_time(raw.get("previous_valid_until")),
        rate_limit=RateLimit(burst=burst, per_seconds=per) if burst and per else None,
        expires_at=_time(raw.get("expires_at")),
        created_at=_time(raw.get("created_at")),
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def snapshot_from_row(row: Mapping[str, Any]) -> ConfigSnapshot:
    """Build a snapshot from the one-statement read in ``ConfigStore.load``."""
    return ConfigSnapshot(
        revision=Revision(row["revision"]),
        app_profile=_section_doc(row["app_profile"]),
        engine_profile=_section_doc(row["engine_profile"]),
        fs_policy=_section_doc(row["fs_policy"]),
        api_keys=tuple(_key(k) for k in row["api_keys"]),
        secret_names=tuple(row["secrets"]),
    )
