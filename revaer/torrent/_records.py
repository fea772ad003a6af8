"""Plain frozen copies of what libtorrent reports, safe to keep and to send over channels.

``_lt`` copies every alert it needs into one of these before the next ``pop_alerts``;
nothing outside ``_lt`` ever sees a libtorrent object (handles travel as ``LtTorrent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from revaer.events import FileInfo

if TYPE_CHECKING:
    # _lt imports this module; the reference is for the type checker only.
    from revaer.torrent._lt import LtTorrent

__all__ = [
    "AddFinished",
    "AlertRecord",
    "AlertsDropped",
    "DataDeleteFailed",
    "FileError",
    "Inspection",
    "ListenResult",
    "LtStateChanged",
    "MetadataReceived",
    "ResumeData",
    "ResumeDataFailed",
    "StateUpdate",
    "StatusRecord",
    "StorageMoveFailed",
    "StorageMoved",
    "TorrentChecked",
    "TorrentError",
    "TorrentFinished",
    "TorrentPaused",
    "TorrentSourceInfo",
    "TrackerError",
    "TrackerStatus",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentSourceInfo:
    """What a .torrent or magnet says before it is added."""

    info_hash: str
    """The key Revaer uses: the v1 hash (40 hex) if there is one, else the v2 hash (64 hex)."""
    info_hashes: tuple[str, ...]
    name: str
    has_metadata: bool
    files: tuple[FileInfo, ...]
    total_size: int
    piece_length: int
    trackers: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRecord:
    """One torrent's status, copied from a ``torrent_status``."""

    ref: LtTorrent
    lt_state: str
    paused: bool
    auto_managed: bool
    has_metadata: bool
    is_finished: bool
    is_seeding: bool
    moving_storage: bool
    total_done: int
    total_wanted: int
    download_rate: int
    upload_rate: int
    num_peers: int
    num_seeds: int
    all_time_download: int
    all_time_upload: int
    session_download: int
    """Payload bytes received since this session added the torrent."""
    error: str | None
    save_path: str
    sequential: bool
    need_save_resume: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StateUpdate:
    """``state_update_alert``: the torrents whose status changed since the last post."""

    statuses: tuple[StatusRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AddFinished:
    """``add_torrent_alert``: an ``async_add`` finished; ``ref`` is None when it failed."""

    ref: LtTorrent | None
    info_hashes: tuple[str, ...]
    """The v1 and/or v2 hash of the torrent added (lowercase hex)."""
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsDropped:
    """libtorrent's alert queue overflowed and alerts were lost."""

    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DataDeleteFailed:
    """Deleting a removed torrent's files failed."""

    info_hash: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataReceived:
    """A magnet's metadata arrived."""

    ref: LtTorrent


@dataclass(frozen=True, slots=True, kw_only=True)
class LtStateChanged:
    """libtorrent's own state changed (checking, downloading, seeding…)."""

    ref: LtTorrent
    lt_state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentPaused:
    """The torrent was paused."""

    ref: LtTorrent


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentFinished:
    """Every wanted piece is there."""

    ref: LtTorrent


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentChecked:
    """A check (at add or a forced recheck) finished."""

    ref: LtTorrent


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeData:
    """Fast-resume data, already bencoded."""

    ref: LtTorrent
    blob: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeDataFailed:
    """A requested resume-data save failed (or was not needed)."""

    ref: LtTorrent
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentError:
    """The torrent stopped on an error."""

    ref: LtTorrent
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FileError:
    """Reading or writing a file failed."""

    ref: LtTorrent
    file: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerError:
    """A tracker announce failed."""

    ref: LtTorrent
    tracker: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageMoved:
    """``move_storage`` finished."""

    ref: LtTorrent
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageMoveFailed:
    """``move_storage`` failed."""

    ref: LtTorrent
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenResult:
    """A listen socket opened (``ok``) or failed."""

    address: str
    port: int
    ok: bool
    message: str
    transport: str = "tcp"  # libtorrent's socket type name: tcp, utp, udp, tcp_ssl, ...


AlertRecord = (
    AddFinished
    | AlertsDropped
    | DataDeleteFailed
    | StateUpdate
    | LtStateChanged
    | TorrentPaused
    | MetadataReceived
    | TorrentFinished
    | TorrentChecked
    | ResumeData
    | ResumeDataFailed
    | TorrentError
    | FileError
    | TrackerError
    | StorageMoved
    | StorageMoveFailed
    | ListenResult
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerStatus:
    """One tracker as libtorrent sees it now."""

    url: str
    tier: int
    status: str
    """``working`` (last announce answered), ``updating``, ``error`` or ``not_contacted``."""
    message: str | None
    """The tracker's message or the error of the last announce."""
    seeds: int | None
    """What the tracker last said (scrape), None when unknown."""
    peers: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspection:
    """A live look at one torrent: per-file progress, trackers, pieces, connections."""

    file_progress: tuple[int, ...] | None
    """Bytes done per file index, None before metadata."""
    trackers: tuple[TrackerStatus, ...]
    pieces_total: int
    pieces_done: int
    piece_length: int
    peers: int
    seeds: int
    connections: int
