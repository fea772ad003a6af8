"""The torrent engine: a real libtorrent session behind typed actors and a handle."""

from revaer.torrent._commands import (
    AddedTorrent,
    AddTorrent,
    ConnectPeer,
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
from revaer.torrent._handle import EngineHandle, EngineUnavailable
from revaer.torrent._resume import ResumeStore, StoredTorrent, TorrentMeta
from revaer.torrent._selection import FLUFF_GLOBS, PRIORITY_NAMES, Selection, compute_priorities

__all__ = [
    "FLUFF_GLOBS",
    "PRIORITY_NAMES",
    "AddTorrent",
    "AddedTorrent",
    "ConnectPeer",
    "Engine",
    "EngineHandle",
    "EngineTuning",
    "EngineUnavailable",
    "MoveStorage",
    "PauseTorrent",
    "Reannounce",
    "Recheck",
    "RemoveTorrent",
    "ResumeStore",
    "ResumeTorrent",
    "SelectFiles",
    "Selection",
    "SetRateLimits",
    "SetSequential",
    "StoredTorrent",
    "TorrentMeta",
    "compute_priorities",
]
