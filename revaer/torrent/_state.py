"""Engine state: written by the session actor alone, read by the handle and by tests.

It lives on the ``Engine`` rather than in the actor so that readers keep one object across
session restarts; each session incarnation fills it when it starts and empties it when it
stops.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field

import trio

from revaer.events import TorrentState
from revaer.torrent._inbox import Inbound
from revaer.torrent._lt import LtSession, LtTorrent
from revaer.torrent._resume import TorrentMeta

__all__ = [
    "ACTIVE_STATES",
    "Cause",
    "EngineState",
    "TorrentEntry",
    "drain_pipe",
    "worth_saving",
]

ACTIVE_STATES = frozenset(
    {
        TorrentState.CHECKING,
        TorrentState.FETCHING_METADATA,
        TorrentState.DOWNLOADING,
        TorrentState.SEEDING,
    }
)


@dataclass(frozen=True, slots=True)
class Cause:
    """A request whose command will move a torrent into one of ``states``, reported later."""

    request_id: str
    states: frozenset[TorrentState]


@dataclass(slots=True)
class TorrentEntry:
    """One torrent in the live session."""

    meta: TorrentMeta
    """As stored in the resume store (the session actor saves before it changes this)."""
    ref: LtTorrent
    state: TorrentState | None = None
    """The state last published in ``state_changed``."""
    files_known: bool = False
    done: int = 0
    """Wanted bytes done, as of the latest status."""
    needs_save: bool = False
    """libtorrent says the resume data on disk is out of date."""
    pending_saves: int = 0
    """Resume-data requests libtorrent has not answered yet (it answers them in order)."""
    saved_done: int | None = 0
    """Bytes done when resume data was last asked for; None: whatever the first status says
    (a restored torrent's blob is as current as the torrent)."""
    save_asked_at: float = -math.inf
    """``trio.current_time()`` when resume data was last asked for."""
    completing: bool = False
    """Finished: ``completed`` waits until its resume data is on disk."""
    cause: Cause | None = None
    """The request whose command changes this torrent's state, until the ``state_changed``
    into one of its states is published (see ``SessionCore.expect``)."""


def worth_saving(entry: TorrentEntry) -> bool:
    """Whether ``entry``'s stored resume data is out of date in a way that matters.

    libtorrent flags every torrent it just added, or restored, as needing a save; a paused
    torrent that has not moved since its blob was written does not, so 10,000 untouched
    torrents cost nothing at shutdown.
    """
    if not entry.needs_save:
        return False
    moved = entry.saved_done is not None and entry.done != entry.saved_done
    return moved or entry.state in ACTIVE_STATES


@dataclass(slots=True)
class EngineState:
    """What the engine knows now; only the session actor changes it."""

    session: LtSession | None = None
    inbox: trio.MemorySendChannel[Inbound] | None = None
    """Where commands go while a session serves them (None while it starts or is down)."""
    running: bool = False
    listen_port: int | None = None
    entries: dict[str, TorrentEntry] = field(default_factory=dict)
    by_ref: dict[LtTorrent, str] = field(default_factory=dict)
    by_hash: dict[str, str] = field(default_factory=dict)
    by_state: Counter[TorrentState | None] = field(default_factory=Counter)
    """Entries per published state, kept as states change (gauges never scan the entries)."""

    def register(self, entry: TorrentEntry, hashes: tuple[str, ...]) -> None:
        """Make a torrent known by id, handle and info hash."""
        self.entries[entry.meta.torrent_id] = entry
        self.by_ref[entry.ref] = entry.meta.torrent_id
        for h in hashes:
            self.by_hash[h] = entry.meta.torrent_id
        self.by_state[entry.state] += 1

    def forget(self, torrent_id: str) -> TorrentEntry | None:
        """Drop a torrent; returns what it was."""
        entry = self.entries.pop(torrent_id, None)
        if entry is not None:
            self.by_ref.pop(entry.ref, None)
            for h in [h for h, tid in self.by_hash.items() if tid == torrent_id]:
                del self.by_hash[h]
            self.by_state[entry.state] -= 1
        return entry

    def set_state(self, entry: TorrentEntry, state: TorrentState) -> None:
        """Record the state published for ``entry``."""
        self.by_state[entry.state] -= 1
        self.by_state[state] += 1
        entry.state = state

    def active(self) -> int:
        """Torrents checking, fetching metadata, downloading or seeding."""
        return sum(self.by_state[s] for s in ACTIVE_STATES)

    def clear(self) -> None:
        """Forget every torrent (the session that held them is gone)."""
        self.entries.clear()
        self.by_ref.clear()
        self.by_hash.clear()
        self.by_state.clear()


def drain_pipe(fd: int) -> None:
    """Empty the non-blocking alert pipe (libtorrent writes a byte per wake-up)."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
