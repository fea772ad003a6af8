"""Examples the OpenAPI document shows for each route (realistic, not exhaustive)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCEPTED",
    "ACTION",
    "ADDED",
    "BULK",
    "DETAIL",
    "HEALTH",
    "HEALTH_FULL",
    "KEY_ISSUED",
    "KEY_LIST",
    "KEY_VIEW",
    "LIST",
    "PUBLIC_SNAPSHOT",
    "SETTINGS_PATCH",
    "SETUP_COMPLETE",
    "SETUP_START",
    "SNAPSHOT",
]

_ID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"

SUMMARY: dict[str, Any] = {
    "torrent_id": _ID,
    "info_hash": "c9e15763f722f23e98a29decdfae341b98d53056",
    "name": "debian-13.2.0-amd64-netinst.iso",
    "state": "downloading",
    "progress": 0.42,
    "bytes_done": 331350016,
    "bytes_total": 788529152,
    "download_bps": 10485760,
    "upload_bps": 524288,
    "eta_seconds": 44,
    "peers": 23,
    "seeds": 17,
    "ratio": 0.03,
    "tags": ["linux"],
    "trackers": ["http://bttracker.debian.org:6969/announce"],
    "download_dir": "/srv/revaer/downloads",
    "sequential": False,
    "max_download_bps": None,
    "max_upload_bps": 1048576,
    "added_at": "2026-12-01T10:00:00+00:00",
    "completed_at": None,
    "last_error": None,
}
LIST = {"torrents": [SUMMARY], "next": "q8Zc1Ey0-VtH3kM2WyJhZGRlZF9hdCJd"}
DETAIL = SUMMARY | {
    "files": [
        {
            "index": 0,
            "path": "debian-13.2.0-amd64-netinst.iso",
            "size": 788529152,
            "priority": 4,
            "progress": 0.42,
            "bytes_done": 331350016,
        }
    ],
    "tracker_status": [
        {
            "url": "http://bttracker.debian.org:6969/announce",
            "tier": 0,
            "status": "working",
            "message": None,
            "seeds": 812,
            "peers": 35,
        }
    ],
    "pieces": {"total": 3008, "done": 1264, "length": 262144},
    "connections": 31,
    "selection": {"include": [], "exclude": [], "skip_fluff": False},
    "paused": False,
    "fsops": None,
    "live": True,
}
ADDED = {
    "torrents": [
        {
            "torrent_id": _ID,
            "info_hash": "c9e15763f722f23e98a29decdfae341b98d53056",
            "name": "debian-13.2.0-amd64-netinst.iso",
        }
    ],
    "rejected": [],
}
ACTION = {"type": "rate", "download_bps": 1048576, "upload_bps": None}
ACCEPTED = {"torrent_id": _ID, "action": "pause"}
BULK = {"action": "pause", "results": [{"torrent_id": _ID, "status": 200, "problem": None}]}
HEALTH = {"status": "ok", "mode": "active", "revision": 12, "database": "ok", "degraded": []}
HEALTH_FULL = {
    "status": "ok",
    "mode": "active",
    "revision": 12,
    "build_sha": "4efc9f9",
    "version": "0.1.0",
    "uptime_seconds": 3600.0,
    "degraded": [],
    "database": {"status": "ok", "latency_ms": 0.4},
    "config_watcher": {"name": "config_watcher", "state": "ok", "restarts": 0},
    "engine": {"running": True, "torrents": 1, "by_state": {"downloading": 1}, "queued": 0},
    "journal": {"last_id": 20000042, "persisted_id": 20000040, "pending": 2},
    "sse": {"subscribers": 1, "open_streams": 1},
    "components": {},
    "actor_restarts": {},
    "metrics": {"revaer_config_update_failures_total": 0.0},
}
PUBLIC_SNAPSHOT: dict[str, Any] = {
    "revision": 12,
    "app_profile": {"instance_name": "den", "mode": "active", "http_port": 7070},
    "engine_profile": {"download_root": "/srv/revaer/downloads"},
    "fs_policy": {"library_root": "/srv/library"},
    "secrets": [],
}
KEY_VIEW: dict[str, Any] = {
    "key_id": "sonarr",
    "label": "Sonarr on nas",
    "role": "operate",
    "enabled": True,
    "rate_limit": {"burst": 300, "per_seconds": 10},
    "expires_at": None,
    "created_at": "2026-12-01T10:00:00+00:00",
    "previous_secret_valid_until": None,
}
SNAPSHOT: dict[str, Any] = PUBLIC_SNAPSHOT | {"api_keys": [KEY_VIEW]}
KEY_LIST = {"keys": [KEY_VIEW | {"last_used_at": "2026-12-01T10:42:07+00:00"}]}
KEY_ISSUED = {"key": KEY_VIEW, "api_key": "sonarr:3q2+7w…(shown once)"}
SETUP_START = {"token": "Yq3…(shown once)", "expires_at": "2026-12-01T10:15:00+00:00"}
SETUP_COMPLETE = SNAPSHOT | {"api_key": "admin:Zm9vYmFy…(shown once)"}
SETTINGS_PATCH = SNAPSHOT | {"issued_api_keys": []}
