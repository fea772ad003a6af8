"""Checks the server's JSON against the wire shapes in ``revaer.api.models``.

Responses are validated here, at the edge, before any command reads them; a document that
passes is returned unchanged (extension members included, so JSON output shows exactly what was
received) typed as its model. Anything else is an ``BadResponseError``. A few members are
tolerated when absent because older or leaner servers may omit them (in the snapshot an API
key's ``role``, ``rate_limit``, ``expires_at``, ``created_at`` and
``previous_secret_valid_until``; a patch response's ``issued_api_keys``); readers use ``.get``
for those. The public snapshot has no ``api_keys``; when a server still sends them they are
checked like the admin answers' keys.
"""

from __future__ import annotations

from typing import cast, get_args

from revaer.api.models import (
    ApiKeyIssued,
    ApiKeyList,
    ApiKeyListItem,
    ApiKeyView,
    ConfigSnapshotDoc,
    InvalidParamDoc,
    ProblemDoc,
    PublicSnapshotDoc,
    Role,
    SettingsPatchResponse,
    SetupCompleteResponse,
    SetupStartResponse,
    TorrentListDoc,
)
from revaer.cli._errors import BadResponseError

__all__ = [
    "decode_key",
    "decode_key_issued",
    "decode_key_list",
    "decode_key_view",
    "decode_object",
    "decode_problem",
    "decode_settings_patch",
    "decode_setup_complete",
    "decode_setup_start",
    "decode_snapshot",
    "decode_torrent_list",
]

_SNAPSHOT_SECTIONS = ("app_profile", "engine_profile", "fs_policy")
_ROLES: tuple[str, ...] = get_args(Role)
_KEY_TIMESTAMPS = ("expires_at", "created_at", "previous_secret_valid_until")


def decode_setup_start(value: object) -> SetupStartResponse:
    """``POST /admin/setup/start`` → ``{token, expires_at}``."""
    doc = _object(value, "response")
    _string(doc, "token")
    _string(doc, "expires_at")
    return cast(SetupStartResponse, doc)


def decode_snapshot(value: object) -> PublicSnapshotDoc:
    """A configuration snapshot: revision, the three settings sections, secret names.

    ``api_keys`` is optional (``GET /.well-known/revaer.json`` no longer has it) and checked
    when present.
    """
    doc = _object(value, "response")
    revision = doc.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise _shape("revision", "an integer")
    for section in _SNAPSHOT_SECTIONS:
        _object(doc.get(section), section)
    if "api_keys" in doc:
        _snapshot_keys(doc)
    if not all(isinstance(name, str) for name in _list(doc, "secrets")):
        raise _shape("secrets", "a list of names")
    return cast(PublicSnapshotDoc, doc)


def _admin_snapshot(value: object) -> ConfigSnapshotDoc:
    """A snapshot as the admin answers (setup, settings patch) carry it: with ``api_keys``."""
    doc = cast(dict[str, object], decode_snapshot(value))
    _list(doc, "api_keys")
    return cast(ConfigSnapshotDoc, doc)


def _snapshot_keys(doc: dict[str, object]) -> None:
    for index, key in enumerate(_list(doc, "api_keys")):
        _key_view(key, f"api_keys[{index}]", strict=False)


def decode_key_list(value: object) -> ApiKeyList:
    """``GET /v1/keys`` → ``{keys: [ApiKeyListItem, ...]}``."""
    doc = _object(value, "response")
    for index, key in enumerate(_list(doc, "keys")):
        _last_used(_key_view(key, f"keys[{index}]"), f"keys[{index}]")
    return cast(ApiKeyList, doc)


def decode_key(value: object) -> ApiKeyListItem:
    """``GET /v1/keys/{key_id}`` → the key with ``last_used_at``."""
    doc = _key_view(value, "response")
    _last_used(doc, "response")
    return cast(ApiKeyListItem, doc)


def decode_key_view(value: object) -> ApiKeyView:
    """``PATCH /v1/keys/{key_id}`` → the key as changed."""
    return cast(ApiKeyView, _key_view(value, "response"))


def decode_key_issued(value: object) -> ApiKeyIssued:
    """``POST /v1/keys`` and ``POST /v1/keys/{key_id}/rotate`` → ``{key, api_key}``."""
    doc = _object(value, "response")
    _key_view(doc.get("key"), "key")
    _string(doc, "api_key")
    return cast(ApiKeyIssued, doc)


def _key_view(value: object, where: str, *, strict: bool = True) -> dict[str, object]:
    """Check an ``ApiKeyView``; ``strict=False`` lets the fields older servers lack be absent."""
    entry = _object(value, where)
    _string(entry, "key_id", where)
    _string(entry, "label", where)
    if not isinstance(entry.get("enabled"), bool):
        raise _shape(f"{where}.enabled", "a boolean")
    if (strict or "role" in entry) and entry.get("role") not in _ROLES:
        raise _shape(f"{where}.role", "one of " + ", ".join(_ROLES))
    if strict and "rate_limit" not in entry:
        raise _shape(f"{where}.rate_limit", "an object or null")
    _rate_limit(entry.get("rate_limit"), f"{where}.rate_limit")
    for name in _KEY_TIMESTAMPS:
        if (strict and name not in entry) or not _optional_string(entry.get(name)):
            raise _shape(f"{where}.{name}", "a string or null")
    return entry


def _last_used(entry: dict[str, object], where: str) -> None:
    if "last_used_at" not in entry or not _optional_string(entry["last_used_at"]):
        raise _shape(f"{where}.last_used_at", "a string or null")


def _optional_string(value: object) -> bool:
    return value is None or isinstance(value, str)


def decode_setup_complete(value: object) -> SetupCompleteResponse:
    """``POST /admin/setup/complete`` → the snapshot plus the issued ``api_key``."""
    snapshot = _admin_snapshot(value)
    _string(cast(dict[str, object], snapshot), "api_key")
    return cast(SetupCompleteResponse, snapshot)


def decode_settings_patch(value: object) -> SettingsPatchResponse:
    """``PATCH /admin/settings`` → the snapshot plus ``issued_api_keys``."""
    snapshot = cast(dict[str, object], _admin_snapshot(value))
    # Absent is read as "no keys issued"; present, it must be a list of ``key_id:secret``.
    issued = snapshot.get("issued_api_keys", [])
    if not isinstance(issued, list) or not all(isinstance(key, str) for key in issued):
        raise _shape("issued_api_keys", "a list of strings")
    return cast(SettingsPatchResponse, snapshot)


def decode_problem(value: object, *, http_status: int, reason: str) -> ProblemDoc | None:
    """Normalise a problem body; ``None`` when it is not a JSON object.

    Servers differ in what they fill in, so missing members fall back to the HTTP status
    line rather than failing: the user still deserves to see what went wrong.
    """
    if not isinstance(value, dict):
        return None
    title = value.get("title")
    detail = value.get("detail")
    problem_type = value.get("type")
    problem = ProblemDoc(
        type=problem_type if isinstance(problem_type, str) else "about:blank",
        title=title if isinstance(title, str) and title else reason,
        status=http_status,
        detail=detail if isinstance(detail, str) else "",
    )
    request_id = value.get("request_id")
    if isinstance(request_id, str):
        problem["request_id"] = request_id
    raw_params = value.get("invalid_params")
    if isinstance(raw_params, list):
        problem["invalid_params"] = [
            InvalidParamDoc(pointer=str(item.get("pointer", "")), message=str(item["message"]))
            for item in raw_params
            if isinstance(item, dict) and "message" in item
        ]
    return problem


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _shape(where, "a JSON object")
    return cast(dict[str, object], value)


def _list(doc: dict[str, object], key: str) -> list[object]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise _shape(key, "a list")
    return cast(list[object], value)


def _string(doc: dict[str, object], key: str, where: str | None = None) -> None:
    if not isinstance(doc.get(key), str):
        raise _shape(f"{where}.{key}" if where else key, "a string")


def _rate_limit(value: object, where: str) -> None:
    if value is None:
        return
    limit = _object(value, where)
    for key in ("burst", "per_seconds"):
        if not isinstance(limit.get(key), int):
            raise _shape(f"{where}.{key}", "an integer")


def _shape(where: str, expected: str) -> BadResponseError:
    return BadResponseError(f"unexpected response from server: {where} is not {expected}")


def decode_object(value: object) -> dict[str, object]:
    """Any JSON object (torrent answers are shown as received)."""
    return _object(value, "response")


def decode_torrent_list(value: object) -> TorrentListDoc:
    """``GET /v1/torrents`` → ``{torrents: [...], next}``."""
    doc = _object(value, "response")
    for index, item in enumerate(_list(doc, "torrents")):
        entry = _object(item, f"torrents[{index}]")
        _string(entry, "torrent_id", f"torrents[{index}]")
    cursor = doc.get("next")
    if cursor is not None and not isinstance(cursor, str):
        raise _shape("next", "a string or null")
    return cast(TorrentListDoc, doc)
