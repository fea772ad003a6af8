"""Commands the session actor accepts; each is answered on its own reply channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from revaer.torrent._records import Inspection

__all__ = [
    "AddTorrent",
    "AddedTorrent",
    "ChangeTags",
    "Command",
    "ConnectPeer",
    "Inspect",
    "Inspected",
    "MoveStorage",
    "PauseTorrent",
    "Reannounce",
    "Recheck",
    "RemoveTorrent",
    "ResumeTorrent",
    "SelectFiles",
    "SetRateLimits",
    "SetSequential",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AddTorrent:
    """Add a magnet or .torrent bytes (exactly one)."""

    magnet: str | None = None
    metainfo: bytes | None = field(default=None, repr=False)
    torrent_id: str | None = None
    name: str | None = None
    """A label shown instead of the torrent's own name (kept when metadata arrives)."""
    download_dir: str | None = None
    sequential: bool | None = None
    paused: bool = False
    tags: tuple[str, ...] = ()
    trackers: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_fluff: bool = False
    max_download_bps: int | None = None
    max_upload_bps: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddedTorrent:
    """The reply to ``AddTorrent``."""

    torrent_id: str
    info_hash: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseTorrent:
    """Stop transferring."""

    torrent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeTorrent:
    """Transfer again."""

    torrent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveTorrent:
    """Remove from the session; ``delete_data`` removes the downloaded files too."""

    torrent_id: str
    delete_data: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSequential:
    """Download in piece order (or not)."""

    torrent_id: str
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRateLimits:
    """Per-torrent caps in bytes/s; None removes a cap."""

    torrent_id: str
    download_bps: int | None
    upload_bps: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectFiles:
    """New selection rules and per-file priority overrides (index → 0..7)."""

    torrent_id: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_fluff: bool = False
    priorities: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reannounce:
    """Announce to every tracker now."""

    torrent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Recheck:
    """Verify the data on disk again."""

    torrent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveStorage:
    """Move the files to another directory."""

    torrent_id: str
    download_dir: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTags:
    """Replace the tags (``replace``, unless None), then add ``add`` and drop ``remove``."""

    torrent_id: str
    replace: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspect:
    """A live look at one torrent (reply: ``Inspected``)."""

    torrent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspected:
    """The reply to ``Inspect``: libtorrent's live view and the stored rules."""

    torrent_id: str
    live: Inspection
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    skip_fluff: bool
    paused: bool
    max_download_bps: int | None
    max_upload_bps: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectPeer:
    """Dial a peer directly (``host``, ``port``)."""

    torrent_id: str
    host: str
    port: int


Command = (
    AddTorrent
    | PauseTorrent
    | ResumeTorrent
    | RemoveTorrent
    | SetSequential
    | SetRateLimits
    | SelectFiles
    | Reannounce
    | Recheck
    | MoveStorage
    | ConnectPeer
    | ChangeTags
    | Inspect
)
