"""The settings sections: every field, its validator, and whether a patch may write it.

This table is the single source for validation, the SQL that writes a section, and the
configuration reference in docs/configuration.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from revaer.config import _fields as f
from revaer.config._limits import LIMIT_FIELDS, THROTTLE_FIELDS

__all__ = ["SECTIONS", "Field", "Section", "immutable_key_names"]

_PORT = f.integer(1, 65535)
_BPS = f.nullable(f.integer(0, 1_000_000_000_000))
_GLOB = f.string(min_len=1, max_len=256)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a settings document."""

    name: str
    validate: f.Validator
    description: str
    writable: bool = True
    column: str | None = None

    @property
    def sql_column(self) -> str:
        """The quoted column name."""
        return '"' + (self.column or self.name) + '"'


@dataclass(frozen=True, slots=True)
class Section:
    """A singleton settings table."""

    name: str
    table: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        """The field called ``name``, if any."""
        return next((fd for fd in self.fields if fd.name == name), None)


def _readonly(name: str, description: str) -> Field:
    return Field(name, lambda v: v, description, writable=False)


APP_PROFILE = Section(
    "app_profile",
    "app_profile",
    (
        _readonly("id", "Singleton identifier of the document."),
        Field("instance_name", f.string(min_len=1, max_len=128), "Human-readable label."),
        _readonly("mode", "`setup` or `active`; changed only by the setup flow."),
        Field(
            "version",
            f.integer(1, 2**62),
            "Optimistic lock: a patch that names it must match the stored value.",
        ),
        Field("http_port", _PORT, "TCP port of the HTTP API (flags/env override it)."),
        Field("bind_addr", f.ip_address, "Listen address of the HTTP API (flags/env override)."),
        Field("telemetry", f.json_object(), "Free-form logging/metrics toggles (e.g. log_level)."),
        Field("features", f.bool_map, "Feature switches such as fs_extract, par2."),
        Field(
            "events",
            f.typed_object(
                {
                    "retention_days": f.nullable(f.integer(1, 3650)),
                    "retention_rows": f.nullable(f.integer(1000, 100_000_000)),
                    "keepalive_seconds": f.integer(1, 300),
                    "stream_queue": f.integer(16, 1_000_000),
                }
            ),
            "Event journal retention (retention_days, default 7; retention_rows, default "
            "1,000,000; null: no limit), the SSE keep-alive interval (keepalive_seconds, 20) "
            "and how far one SSE client may fall behind before it is dropped (stream_queue, "
            "65,536 events).",
        ),
        Field(
            "http_limits",
            f.typed_object(LIMIT_FIELDS),
            "Request bounds and server timeouts: header_timeout_seconds (5), keep_alive_seconds "
            "(15), max_connections (1024), max_headers (100), max_header_bytes (16384), "
            "max_url_bytes (8192), max_body_bytes (1 MiB), max_upload_bytes (32 MiB), "
            "max_json_depth (32), max_json_string (65536), max_json_items (10000).",
        ),
        Field(
            "auth_throttle",
            f.typed_object(THROTTLE_FIELDS),
            "Failed authentications allowed per client address and per key id (failures, 10) "
            "within a window (window_seconds, 60) before further attempts get 429.",
        ),
        Field(
            "immutable_keys",
            f.string_list(lambda v: v),  # checked against the known names in _changeset
            "Fields (`section.field`) or whole sections that patches may not change.",
        ),
    ),
)

ENGINE_PROFILE = Section(
    "engine_profile",
    "engine_profile",
    (
        _readonly("id", "Singleton identifier of the document."),
        Field("implementation", f.choice("libtorrent"), "Torrent engine; only `libtorrent`."),
        Field(
            "listen_port",
            f.nullable(_PORT),
            "Peer listen port on all interfaces; null means 6881.",
        ),
        Field(
            "listen_interfaces",
            f.string_list(f.listen_interface, max_items=16),
            "Explicit `address:port` listen sockets; empty means all interfaces.",
        ),
        Field("dht", f.boolean, "Enable the DHT."),
        Field("lsd", f.boolean, "Enable local service discovery."),
        Field("upnp", f.boolean, "Enable UPnP port mapping."),
        Field("natpmp", f.boolean, "Enable NAT-PMP port mapping."),
        Field("utp", f.boolean, "Enable uTP (TCP is always on)."),
        Field("encryption", f.choice("require", "prefer", "disable"), "Peer encryption policy."),
        Field("max_active", f.nullable(f.integer(1, 100_000)), "Active torrents cap; null: none."),
        Field("max_download_bps", _BPS, "Global download cap in bytes/s; null: unlimited."),
        Field("max_upload_bps", _BPS, "Global upload cap in bytes/s; null: unlimited."),
        Field("max_connections", f.nullable(f.integer(2, 65_535)), "Global peer connection cap."),
        Field("sequential_default", f.boolean, "Download new torrents sequentially by default."),
        Field("resume_dir", f.nullable(f.abs_path), "Where fast-resume data is stored."),
        Field("download_root", f.nullable(f.abs_path), "Where in-progress payloads are written."),
        Field(
            "tracker",
            f.typed_object(
                {
                    "user_agent": f.string(max_len=256),
                    "announce_to_all_trackers": f.boolean,
                    "announce_to_all_tiers": f.boolean,
                    "extra_trackers": f.string_list(f.url, max_items=32),
                }
            ),
            "Tracker options: user_agent, announce_to_all_trackers/tiers, extra_trackers.",
        ),
    ),
)

FS_POLICY = Section(
    "fs_policy",
    "fs_policy",
    (
        _readonly("id", "Singleton identifier of the document."),
        Field("library_root", f.nullable(f.abs_path), "Destination of completed payloads."),
        Field("extract", f.boolean, "Extract archives in completed payloads."),
        Field("par2", f.choice("off", "verify", "repair"), "PAR2 handling."),
        Field("flatten", f.boolean, "Collapse a single top-level directory."),
        Field("move_mode", f.choice("copy", "move", "hardlink"), "How payloads reach the library."),
        Field("cleanup_keep", f.string_list(_GLOB), "Globs always kept during cleanup."),
        Field("cleanup_drop", f.string_list(_GLOB), "Globs removed during cleanup."),
        Field("chmod_file", f.nullable(f.octal_mode), "Mode applied to files, e.g. 0644."),
        Field("chmod_dir", f.nullable(f.octal_mode), "Mode applied to directories, e.g. 0755."),
        Field("owner", f.nullable(f.string(min_len=1, max_len=64)), "Owner (user name or uid)."),
        Field("group", f.nullable(f.string(min_len=1, max_len=64)), "Group (name or gid)."),
        Field("umask", f.nullable(f.octal_mode), "Umask applied while writing, e.g. 0022."),
        Field(
            "allow_paths",
            f.string_list(f.abs_path),
            "Extra paths the pipeline may read or write besides download_root and library_root.",
        ),
        Field("enabled", f.boolean, "Run the pipeline when a torrent completes."),
        Field(
            "conflict",
            f.choice("skip", "rename", "overwrite"),
            "A library file that exists with other content: skip, rename the new one, overwrite.",
        ),
        Field("checksums", f.boolean, "Write a sha256 manifest of the library files."),
        Field("workers", f.integer(1, 8), "Jobs run at once (extraction is CPU and disk heavy)."),
        Field(
            "tag_rules",
            f.keyed_objects(
                f.string(min_len=1, max_len=64),
                f.typed_object(
                    {
                        "subdir": f.relative_path,
                        "move_mode": f.choice("copy", "move", "hardlink"),
                    }
                ),
            ),
            "Per-tag overrides: tag → {subdir, move_mode}; the first of a torrent's tags wins.",
        ),
    ),
)

SECTIONS: dict[str, Section] = {s.name: s for s in (APP_PROFILE, ENGINE_PROFILE, FS_POLICY)}


def immutable_key_names() -> list[str]:
    """Every name ``immutable_keys`` may hold: sections and their writable fields."""
    names = [*SECTIONS, "api_keys", "secrets"]
    for section in SECTIONS.values():
        names.extend(f"{section.name}.{fd.name}" for fd in section.fields if fd.writable)
    return names
