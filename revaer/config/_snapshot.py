"""The typed, frozen configuration snapshot every consumer reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, cast

from revaer.types import Revision

__all__ = ["ApiKeyRecord", "ConfigSnapshot", "RateLimit", "snapshot_from_row"]

Mode = Literal["setup", "active"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Token bucket: ``burst`` requests refilled over ``per_seconds``."""

    burst: int
    per_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """An API key as stored: the argon2id hash, never the secret."""

    key_id: str
    label: str
    enabled: bool
    secret_hash: str = field(repr=False)
    rate_limit: RateLimit | None
    expires_at: datetime | None

    def view(self) -> dict[str, Any]:
        """The public view (no hash)."""
        return {
            "key_id": self.key_id,
            "label": self.label,
            "enabled": self.enabled,
            "rate_limit": (
                {"burst": self.rate_limit.burst, "per_seconds": self.rate_limit.per_seconds}
                if self.rate_limit
                else None
            ),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


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

    def to_json(self) -> dict[str, Any]:
        """The public document (``/.well-known/revaer.json``): no secrets, no hashes."""
        return {
            "revision": int(self.revision),
            "app_profile": dict(self.app_profile),
            "engine_profile": dict(self.engine_profile),
            "fs_policy": dict(self.fs_policy),
            "api_keys": [k.view() for k in self.api_keys],
            "secrets": list(self.secret_names),
        }


def _section_doc(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    # Internal columns stay out of the document.
    return _freeze({k: v for k, v in raw.items() if k not in {"singleton", "updated_at"}})


def _key(raw: Mapping[str, Any]) -> ApiKeyRecord:
    burst, per = raw.get("rate_limit_burst"), raw.get("rate_limit_per_seconds")
    expires = raw.get("expires_at")
    return ApiKeyRecord(
        key_id=raw["key_id"],
        label=raw["label"],
        enabled=raw["enabled"],
        secret_hash=raw["secret_hash"],
        rate_limit=RateLimit(burst=burst, per_seconds=per) if burst and per else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


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
