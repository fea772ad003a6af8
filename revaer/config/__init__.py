"""The PostgreSQL-backed configuration: snapshots, changesets, the setup flow, the watcher."""

from revaer.config._changeset import (
    ApiKeyChange,
    SecretChange,
    SettingsChangeset,
    parse_changeset,
    parse_key_fields,
)
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
from revaer.config._snapshot import (
    ROLES,
    ApiKeyRecord,
    ConfigSnapshot,
    RateLimit,
    Role,
    role_allows,
)
from revaer.config._watcher import CHANNEL, ConfigWatcher

__all__ = [
    "CHANNEL",
    "DEFAULT_TOKEN_TTL",
    "MAX_TOKEN_TTL",
    "ROLES",
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
    "Role",
    "SecretChange",
    "Section",
    "SettingsChangeset",
    "SetupResult",
    "SetupService",
    "integer",
    "parse_changeset",
    "parse_key_fields",
    "role_allows",
    "string",
]
