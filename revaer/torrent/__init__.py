"""The torrent engine: a real libtorrent session behind typed actors and a handle.

The session actor is the only writer of engine state (torrents, their stored metadata and
resume data); everything else sends it commands through :class:`EngineHandle` or reads.
Exceptions::

    RevaerError
    └── ServiceUnavailable (503)
        ├── EngineUnavailable        no session serves commands (starting, restarting, down)
        └── ResumeStoreUnavailable   the resume directory cannot be written: nothing was stored
"""

from revaer.torrent._commands import (
    AddedTorrent,
    AddTorrent,
    ChangeTags,
    ConnectPeer,
    Inspect,
    Inspected,
    MoveStorage,
    PauseTorrent,
    Reannounce,
    Recheck,
    RemoveTorrent,
    ResumeTorrent,
    SelectFiles,
    SetRateLimits,
    SetSequential,
)
from revaer.torrent._engine import Engine, EngineTuning
from revaer.torrent._handle import (
    MAX_BULK_ADD,
    EngineHandle,
    EngineUnavailable,
    HandleStatistics,
)
from revaer.torrent._lt import LtSession
from revaer.torrent._records import Inspection, TrackerStatus
from revaer.torrent._resume import ResumeStore, ResumeStoreUnavailable, StoredTorrent, TorrentMeta
from revaer.torrent._selection import FLUFF_GLOBS, PRIORITY_NAMES, Selection, compute_priorities
from revaer.torrent._text import control_character

__all__ = [
    "FLUFF_GLOBS",
    "MAX_BULK_ADD",
    "PRIORITY_NAMES",
    "AddTorrent",
    "AddedTorrent",
    "ChangeTags",
    "ConnectPeer",
    "Engine",
    "EngineHandle",
    "EngineTuning",
    "EngineUnavailable",
    "HandleStatistics",
    "Inspect",
    "Inspected",
    "Inspection",
    "LtSession",
    "MoveStorage",
    "PauseTorrent",
    "Reannounce",
    "Recheck",
    "RemoveTorrent",
    "ResumeStore",
    "ResumeStoreUnavailable",
    "ResumeTorrent",
    "SelectFiles",
    "Selection",
    "SetRateLimits",
    "SetSequential",
    "StoredTorrent",
    "TorrentMeta",
    "TrackerStatus",
    "compute_priorities",
    "control_character",
]
