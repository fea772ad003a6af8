"""engine_profile → libtorrent session settings, and the guard rails on global caps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["GUARDRAIL_MAX_BPS", "configured_peer_ports", "guardrails", "session_settings"]

#: Caps above 5 Gbit/s are almost certainly a unit mistake (bits vs bytes).
GUARDRAIL_MAX_BPS = 5_000_000_000 // 8

# libtorrent's enc_policy: 0 forced, 1 enabled, 2 disabled.
_ENCRYPTION = {"require": 0, "prefer": 1, "disable": 2}
_DEFAULT_PORT = 6881


def _listen_interfaces(profile: Mapping[str, Any]) -> str:
    explicit = profile.get("listen_interfaces") or []
    if explicit:
        return ",".join(explicit)
    port = profile.get("listen_port")
    if port is None:
        port = _DEFAULT_PORT
    return f"0.0.0.0:{port},[::]:{port}"


def configured_peer_ports(profile: Mapping[str, Any]) -> frozenset[int]:
    """The peer ports the profile asks for; 0 among them means "any port is fine"."""
    return frozenset(
        int(entry.rsplit(":", 1)[1]) for entry in _listen_interfaces(profile).split(",")
    )


def session_settings(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The settings pack for an engine_profile document (every key it controls)."""
    tracker = profile.get("tracker") or {}
    max_active = profile.get("max_active")
    encryption = _ENCRYPTION[profile.get("encryption", "prefer")]
    settings: dict[str, Any] = {
        "listen_interfaces": _listen_interfaces(profile),
        "enable_dht": bool(profile.get("dht", True)),
        "enable_lsd": bool(profile.get("lsd", True)),
        "enable_upnp": bool(profile.get("upnp", False)),
        "enable_natpmp": bool(profile.get("natpmp", False)),
        "enable_outgoing_utp": bool(profile.get("utp", True)),
        "enable_incoming_utp": bool(profile.get("utp", True)),
        "out_enc_policy": encryption,
        "in_enc_policy": encryption,
        # Without a global cap libtorrent takes 0 as "unlimited"; null and 0 both mean that.
        "download_rate_limit": int(profile.get("max_download_bps") or 0),
        "upload_rate_limit": int(profile.get("max_upload_bps") or 0),
        "active_limit": int(max_active) if max_active else -1,
        "active_downloads": int(max_active) if max_active else -1,
        "active_seeds": int(max_active) if max_active else -1,
        "connections_limit": int(profile.get("max_connections") or 200),
        "announce_to_all_trackers": bool(tracker.get("announce_to_all_trackers", False)),
        "announce_to_all_tiers": bool(tracker.get("announce_to_all_tiers", False)),
        # Peers on this host or LAN are not throttled by the global caps' IP overhead.
        "rate_limit_ip_overhead": False,
    }
    if tracker.get("user_agent"):
        settings["user_agent"] = str(tracker["user_agent"])
    return settings


def guardrails(profile: Mapping[str, Any]) -> list[str]:
    """Guard-rail violations in an engine_profile: caps disabled, zero, or above 5 Gbit/s."""
    found: list[str] = []
    for field in ("max_download_bps", "max_upload_bps"):
        value = profile.get(field)
        if value is None:
            found.append(f"{field} is disabled (unlimited)")
        elif value == 0:
            found.append(f"{field} is 0, which libtorrent treats as unlimited")
        elif value > GUARDRAIL_MAX_BPS:
            found.append(f"{field} is {value} B/s, above 5 Gbit/s")
    return found
