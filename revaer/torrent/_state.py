"""Engine state that outlives any one actor incarnation (so restarts lose nothing)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import trio

from revaer.events import TorrentCatalog, TorrentState
from revaer.torrent._lt import LtSession, LtTorrent
from revaer.torrent._resume import TorrentMeta

__all__ = ["EngineState", "TorrentEntry", "drain_pipe"]


@dataclass(slots=True)
class TorrentEntry:
    """One torrent the engine manages."""

    meta: TorrentMeta
    ref: LtTorrent
    state: TorrentState | None = None
    completed: bool = False
    files_known: bool = False


@dataclass(slots=True)
class EngineState:
    """Shared by the engine's actors; owned by the engine, not by any actor."""

    session: LtSession | None = None
    catalog: TorrentCatalog | None = None
    """Kept current with what no event carries (tags, save path, sequential)."""
    alert_fd: int | None = None
    """Read end of the pipe libtorrent writes to when alerts are waiting."""
    running: bool = False
    entries: dict[str, TorrentEntry] = field(default_factory=dict)
    by_ref: dict[LtTorrent, str] = field(default_factory=dict)
    by_hash: dict[str, str] = field(default_factory=dict)
    # Adds in flight: the pump waits for them before giving up on an unknown handle, since
    # libtorrent may report on a torrent before add_torrent has returned to the actor.
    adding: int = 0
    added: trio.Event = field(default_factory=trio.Event)

    def register(self, entry: TorrentEntry, hashes: tuple[str, ...]) -> None:
        """Make a torrent known to every actor."""
        self.entries[entry.meta.torrent_id] = entry
        self.by_ref[entry.ref] = entry.meta.torrent_id
        for h in hashes:
            self.by_hash[h] = entry.meta.torrent_id

    def forget(self, torrent_id: str) -> TorrentEntry | None:
        """Drop a torrent; returns what it was."""
        entry = self.entries.pop(torrent_id, None)
        if entry is not None:
            self.by_ref.pop(entry.ref, None)
            for h, tid in list(self.by_hash.items()):
                if tid == torrent_id:
                    del self.by_hash[h]
        return entry

    def sync_catalog(self, entry: TorrentEntry, *, registering: bool = False) -> None:
        """Tell the catalog the metadata of ``entry``."""
        if self.catalog is None:
            return
        meta = entry.meta
        if registering:
            self.catalog.register(
                meta.torrent_id,
                info_hash=meta.info_hash,
                name=meta.name,
                save_path=meta.download_dir,
                tags=meta.tags,
                trackers=meta.trackers,
                sequential=meta.sequential,
            )
        elif self.catalog.get(meta.torrent_id) is not None:
            self.catalog.update_meta(
                meta.torrent_id,
                save_path=meta.download_dir,
                tags=meta.tags,
                trackers=meta.trackers,
                sequential=meta.sequential,
            )

    def signal_added(self) -> None:
        """Wake tasks waiting for an add to settle."""
        self.added.set()
        self.added = trio.Event()

    async def lookup(self, ref: LtTorrent, *, wait: float = 2.0) -> str | None:
        """The torrent id of ``ref``, waiting briefly if an add is still in flight."""
        with trio.move_on_after(wait):
            while (torrent_id := self.by_ref.get(ref)) is None and self.adding:
                await self.added.wait()
            return torrent_id
        return self.by_ref.get(ref)


def drain_pipe(fd: int) -> None:
    """Empty the non-blocking alert pipe (libtorrent writes a byte per wake-up)."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
