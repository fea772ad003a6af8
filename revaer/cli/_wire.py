"""Checks the server's JSON against the wire shapes in ``revaer.api.models``.

Responses are validated here, at the edge, before any command reads them; a document that
passes is returned unchanged (extension members included, so JSON output shows exactly what was
received) typed as its model. Anything else is an ``BadResponseError``. A few members are
tolerated when absent because leaner servers may omit them (an API key's ``rate_limit`` and
``expires_at``, a patch response's ``issued_api_keys``); readers use ``.get`` for those.
"""

from __future__ import annotations

from typing import cast

from revaer.api.models import (
    ConfigSnapshotDoc,
    InvalidParamDoc,
    ProblemDoc,
    SettingsPatchResponse,
    SetupCompleteResponse,
    SetupStartResponse,
    TorrentListDoc,
)
from revaer.cli._errors import BadResponseError

__all__ = [
    "decode_object",
    "decode_problem",
    "decode_settings_patch",
    "decode_setup_complete",
    "decode_setup_start",
    "decode_snapshot",
    "decode_torrent_list",
]

_SNAPSHOT_SECTIONS = ("app_profile", "engine_profile", "fs_policy")


def decode_setup_start(value: object) -> SetupStartResponse:
    """``POST /admin/setup/start`` → ``{token, expires_at}``."""
    doc = _object(value, "response")
    _string(doc, "token")
    _string(doc, "expires_at")
    return cast(SetupStartResponse, doc)


def decode_snapshot(value: object) -> ConfigSnapshotDoc:
    """A configuration snapshot: revision, the three settings sections, keys, secret names."""
    doc = _object(value, "response")
    revision = doc.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise _shape("revision", "an integer")
    for section in _SNAPSHOT_SECTIONS:
        _object(doc.get(section), section)
    for index, key in enumerate(_list(doc, "api_keys")):
        where = f"api_keys[{index}]"
        entry = _object(key, where)
        _string(entry, "key_id", where)
        _string(entry, "label", where)
        if not isinstance(entry.get("enabled"), bool):
            raise _shape(f"{where}.enabled", "a boolean")
        _rate_limit(entry.get("rate_limit"), f"{where}.rate_limit")
        expires_at = entry.get("expires_at")
        if expires_at is not None and not isinstance(expires_at, str):
            raise _shape(f"{where}.expires_at", "a string or null")
    if not all(isinstance(name, str) for name in _list(doc, "secrets")):
        raise _shape("secrets", "a list of names")
    return cast(ConfigSnapshotDoc, doc)


def decode_setup_complete(value: object) -> SetupCompleteResponse:
    """``POST /admin/setup/complete`` → the snapshot plus the issued ``api_key``."""
    snapshot = decode_snapshot(value)
    _string(cast(dict[str, object], snapshot), "api_key")
    return cast(SetupCompleteResponse, snapshot)


def decode_settings_patch(value: object) -> SettingsPatchResponse:
    """``PATCH /admin/settings`` → the snapshot plus ``issued_api_keys``."""
    snapshot = cast(dict[str, object], decode_snapshot(value))
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
