"""What happened, as frozen records: the payloads of events on the bus and on SSE.

Each payload names its SSE event kind in ``kind``. Torrent ids are UUID strings; sizes are
bytes, rates bytes per second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar, get_args

__all__ = [
    "EVENT_KINDS",
    "FSOPS_KINDS",
    "Completed",
    "EventPayload",
    "FileInfo",
    "FilesDiscovered",
    "FsopsCompleted",
    "FsopsFailed",
    "FsopsProgress",
    "FsopsStarted",
    "HealthChanged",
    "Progress",
    "SelectionReconciled",
    "SettingsChanged",
    "StateChanged",
    "TorrentAdded",
    "TorrentFailed",
    "TorrentRemoved",
    "TorrentState",
    "TorrentUpdated",
]


class TorrentState(StrEnum):
    """A torrent's lifecycle state as users see it."""

    QUEUED = "queued"
    CHECKING = "checking"
    FETCHING_METADATA = "fetching_metadata"
    DOWNLOADING = "downloading"
    SEEDING = "seeding"
    PAUSED = "paused"
    MOVING = "moving"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """One file of a torrent: index in the torrent, path relative to the save path, priority 0-7."""

    index: int
    path: str
    size: int
    priority: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Payload:
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON body of this payload (``kind`` excluded; the envelope carries it)."""
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentAdded(_Payload):
    """A torrent entered the session (new, or restored at start-up with ``restored``).

    It carries the torrent's stored settings, so a read model needs no other source.
    """

    kind: ClassVar[str] = "torrent_added"
    torrent_id: str
    info_hash: str
    name: str
    restored: bool = False
    download_dir: str = ""
    sequential: bool = False
    paused: bool = False
    tags: tuple[str, ...] = ()
    trackers: tuple[str, ...] = ()
    max_download_bps: int | None = None
    max_upload_bps: int | None = None
    added_at: str | None = None
    """ISO 8601, when the torrent was first added (kept across restarts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentUpdated(_Payload):
    """A torrent's stored settings changed (pause, caps, sequential, location, name)."""

    kind: ClassVar[str] = "torrent_updated"
    torrent_id: str
    name: str
    download_dir: str
    sequential: bool
    paused: bool
    tags: tuple[str, ...]
    trackers: tuple[str, ...]
    max_download_bps: int | None
    max_upload_bps: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesDiscovered(_Payload):
    """Metadata is known: the file list (after a magnet's metadata arrives, or at add)."""

    kind: ClassVar[str] = "files_discovered"
    torrent_id: str
    name: str
    total_size: int
    piece_length: int
    files: tuple[FileInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(_Payload):
    """Transfer figures; coalesced to at most 10 per second per torrent."""

    kind: ClassVar[str] = "progress"
    torrent_id: str
    bytes_done: int
    bytes_total: int
    download_bps: int
    upload_bps: int
    eta_seconds: int | None
    peers: int
    seeds: int
    ratio: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(_Payload):
    """The torrent moved from ``previous`` to ``state``."""

    kind: ClassVar[str] = "state_changed"
    torrent_id: str
    state: TorrentState
    previous: TorrentState | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed(_Payload):
    """Every wanted piece is downloaded and verified."""

    kind: ClassVar[str] = "completed"
    torrent_id: str
    save_path: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentRemoved(_Payload):
    """The torrent left the session; ``deleted_data`` when its files were removed too."""

    kind: ClassVar[str] = "torrent_removed"
    torrent_id: str
    deleted_data: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentFailed(_Payload):
    """A torrent, file, tracker or storage error; ``source`` says which."""

    kind: ClassVar[str] = "failure"
    torrent_id: str
    source: str
    message: str
    tracker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectionReconciled(_Payload):
    """Stored selection and the live session disagreed; ``detail`` says what was done."""

    kind: ClassVar[str] = "selection_reconciled"
    torrent_id: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsChanged(_Payload):
    """A new configuration revision is in effect."""

    kind: ClassVar[str] = "settings_changed"
    revision: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChanged(_Payload):
    """The set of degraded health components changed."""

    kind: ClassVar[str] = "health_changed"
    degraded: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FsopsStarted(_Payload):
    """The post-download pipeline started (or resumed at ``resumed_from``) for a torrent."""

    kind: ClassVar[str] = "fsops_started"
    torrent_id: str
    attempt: int
    resumed_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FsopsProgress(_Payload):
    """A pipeline stage's progress (at most a few per second), or a warning about it."""

    kind: ClassVar[str] = "fsops_progress"
    torrent_id: str
    stage: str
    bytes_done: int
    bytes_total: int
    warning: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FsopsCompleted(_Payload):
    """The payload is in the library: its folder, the checksum manifest, the file count."""

    kind: ClassVar[str] = "fsops_completed"
    torrent_id: str
    library_path: str
    manifest: str | None
    files: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FsopsFailed(_Payload):
    """A pipeline stage failed; ``member`` or ``path`` says what it failed on."""

    kind: ClassVar[str] = "fsops_failed"
    torrent_id: str
    stage: str
    reason: str
    member: str | None = None
    path: str | None = None


EventPayload = (
    TorrentAdded
    | TorrentUpdated
    | FilesDiscovered
    | Progress
    | StateChanged
    | Completed
    | TorrentRemoved
    | TorrentFailed
    | SelectionReconciled
    | SettingsChanged
    | HealthChanged
    | FsopsStarted
    | FsopsProgress
    | FsopsCompleted
    | FsopsFailed
)

FSOPS_KINDS = frozenset({"fsops_started", "fsops_progress", "fsops_completed", "fsops_failed"})
"""Kinds the post-download pipeline emits."""

EVENT_KINDS: frozenset[str] = frozenset(payload.kind for payload in get_args(EventPayload))
"""Every event kind a stream may carry (what SSE's ``event`` filter accepts)."""
