"""The PostgreSQL-backed configuration: snapshots, changesets, the setup flow, the watcher."""

from revaer.config._changeset import ApiKeyChange, SecretChange, SettingsChangeset, parse_changeset
from revaer.config._fields import FieldError, integer, string
from revaer.config._limits import AuthThrottle, HttpLimits
from revaer.config._schema import SECTIONS, Field, Section
from revaer.config._service import ChangeResult, ConfigService
from revaer.config._setup import (
    DEFAULT_TOKEN_TTL,
    MAX_TOKEN_TTL,
    IssuedToken,
    SetupResult,
    SetupService,
)
from revaer.config._snapshot import ApiKeyRecord, ConfigSnapshot, RateLimit
from revaer.config._watcher import CHANNEL, ConfigWatcher

__all__ = [
    "CHANNEL",
    "DEFAULT_TOKEN_TTL",
    "MAX_TOKEN_TTL",
    "SECTIONS",
    "ApiKeyChange",
    "ApiKeyRecord",
    "AuthThrottle",
    "ChangeResult",
    "ConfigService",
    "ConfigSnapshot",
    "ConfigWatcher",
    "Field",
    "FieldError",
    "HttpLimits",
    "IssuedToken",
    "RateLimit",
    "SecretChange",
    "Section",
    "SettingsChangeset",
    "SetupResult",
    "SetupService",
    "integer",
    "parse_changeset",
    "string",
]
