"""Wire shapes of the HTTP API, shared by the server and the CLI.

These are the JSON documents exchanged on the wire, typed as ``TypedDict`` so both sides (and
the OpenAPI export) read one definition. The CLI imports only this module from ``revaer.api``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

# pydantic (OpenAPI) reads these on Python 3.11 only from typing_extensions.
from typing_extensions import TypedDict

__all__ = [
    "API_KEY_HEADER",
    "PROBLEM_CONTENT_TYPE",
    "REQUEST_ID_HEADER",
    "SETUP_TOKEN_HEADER",
    "ApiKeyChange",
    "ApiKeyIssueRequest",
    "ApiKeyIssued",
    "ApiKeyList",
    "ApiKeyListItem",
    "ApiKeyRotateRequest",
    "ApiKeyUpdateRequest",
    "ApiKeyView",
    "ConfigSnapshotDoc",
    "HealthDoc",
    "HealthFullDoc",
    "InvalidParamDoc",
    "ProblemDoc",
    "PublicSnapshotDoc",
    "RateLimitDoc",
    "Role",
    "SecretChange",
    "SettingsChangesetDoc",
    "SettingsPatchResponse",
    "SetupCompleteResponse",
    "SetupStartRequest",
    "SetupStartResponse",
    "TorrentListDoc",
]

API_KEY_HEADER = "x-revaer-api-key"
SETUP_TOKEN_HEADER = "x-revaer-setup-token"  # noqa: S105 -- a header name, not a secret
REQUEST_ID_HEADER = "x-request-id"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class InvalidParamDoc(TypedDict):
    """One field problem: a JSON pointer into the request body and a message."""

    pointer: str
    message: str


class ProblemDoc(TypedDict):
    """RFC 9457 problem details as Revaer renders them."""

    type: str
    title: str
    status: int
    detail: str
    instance: NotRequired[str]
    request_id: NotRequired[str]
    invalid_params: NotRequired[list[InvalidParamDoc]]


class RateLimitDoc(TypedDict):
    """Token bucket: ``burst`` requests per ``per_seconds``."""

    burst: int
    per_seconds: int


Role = Literal["read", "operate", "admin"]


class ApiKeyView(TypedDict):
    """An API key as admins see it (never the secret or its hash)."""

    key_id: str
    label: str
    role: Role
    enabled: bool
    rate_limit: RateLimitDoc | None
    expires_at: str | None
    created_at: str | None
    previous_secret_valid_until: str | None
    """After a rotation with a grace period: until when the old secret still works."""


class ApiKeyListItem(ApiKeyView):
    """``GET /v1/keys`` items: the view plus when the key was last used."""

    last_used_at: str | None


class ApiKeyList(TypedDict):
    """``GET /v1/keys``."""

    keys: list[ApiKeyListItem]


class ApiKeyIssueRequest(TypedDict, total=False):
    """``POST /v1/keys``: every field optional; the secret is generated."""

    key_id: str
    """Letters, digits, ``_.-``, up to 64; generated when absent."""
    label: str
    role: Role
    """``read`` when absent."""
    rate_limit: RateLimitDoc | None
    """300 requests per 10 s when absent; ``null`` for none (raises a guard rail)."""
    expires_at: str | None


class ApiKeyUpdateRequest(TypedDict, total=False):
    """``PATCH /v1/keys/{key_id}``: what to change; omitted fields stay."""

    label: str
    role: Role
    enabled: bool
    rate_limit: RateLimitDoc | None
    expires_at: str | None


class ApiKeyRotateRequest(TypedDict, total=False):
    """``POST /v1/keys/{key_id}/rotate``."""

    grace_seconds: int
    """How long the old secret keeps working (0 when absent: refused at once)."""


class ApiKeyIssued(TypedDict):
    """A key and its secret, shown only in this answer."""

    key: ApiKeyView
    api_key: str
    """``key_id:secret``, the value of the ``x-revaer-api-key`` header."""


class PublicSnapshotDoc(TypedDict):
    """``GET /.well-known/revaer.json``: the revision and every settings document, no keys."""

    revision: int
    app_profile: dict[str, Any]
    engine_profile: dict[str, Any]
    fs_policy: dict[str, Any]
    secrets: list[str]


class ConfigSnapshotDoc(PublicSnapshotDoc):
    """The snapshot as admins see it (settings answers): with the API keys."""

    api_keys: list[ApiKeyView]


class ApiKeyChange(TypedDict):
    """One API key operation in a changeset."""

    op: Literal["upsert", "delete"]
    key_id: str
    label: NotRequired[str]
    enabled: NotRequired[bool]
    secret: NotRequired[str]
    rate_limit: NotRequired[RateLimitDoc | None]
    expires_at: NotRequired[str | None]
    role: NotRequired[Role]
    grace_seconds: NotRequired[int]
    """With ``secret``: how long the old secret keeps working."""


class SecretChange(TypedDict):
    """One named-secret operation in a changeset."""

    op: Literal["set", "delete"]
    name: str
    value: NotRequired[str]


class SettingsChangesetDoc(TypedDict, total=False):
    """A partial change to the configuration; omitted fields stay as they are."""

    expected_revision: int
    app_profile: dict[str, Any]
    engine_profile: dict[str, Any]
    fs_policy: dict[str, Any]
    api_keys: list[ApiKeyChange]
    secrets: list[SecretChange]


class SetupStartRequest(TypedDict, total=False):
    """``POST /admin/setup/start`` body (optional)."""

    issued_by: str
    ttl_seconds: int


class SetupStartResponse(TypedDict):
    """The one-time setup token, shown only here."""

    token: str
    expires_at: str


class SetupCompleteResponse(ConfigSnapshotDoc):
    """The hydrated snapshot plus the first API key as ``key_id:secret`` (shown once)."""

    api_key: str


class SettingsPatchResponse(ConfigSnapshotDoc):
    """The snapshot after a patch, plus secrets of keys the patch created (shown once)."""

    issued_api_keys: list[str]


class HealthDoc(TypedDict):
    """``GET /health``: cheap readiness; 503 when the database is unreachable."""

    status: Literal["ok", "degraded"]
    mode: Literal["setup", "active"]
    revision: int
    database: Literal["ok", "unavailable"]
    degraded: list[str]


class HealthFullDoc(TypedDict):
    """``GET /health/full``: every component, the engine, the journal, streams and counters."""

    status: Literal["ok", "degraded"]
    mode: Literal["setup", "active"]
    revision: int
    build_sha: str
    version: str
    uptime_seconds: float
    degraded: list[str]
    database: dict[str, Any]
    config_watcher: dict[str, Any]
    engine: dict[str, Any]
    journal: dict[str, Any]
    sse: dict[str, Any]
    components: dict[str, Any]
    actor_restarts: dict[str, int]
    metrics: dict[str, float]


class TorrentListDoc(TypedDict):
    """``GET /v1/torrents``: one page of torrent summaries and the cursor of the next."""

    torrents: list[dict[str, Any]]
    next: str | None
