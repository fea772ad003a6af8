"""What one session incarnation works with: its libtorrent session, the state, the store.

A :class:`SessionCore` is created by the session actor for each session it starts and used only
from that actor's task (the command executor, the alert handler, restore and final save are
functions of it). That is what makes the actor the only writer of engine state: nothing else
holds a core.

Request ids on events. An event published while a command runs carries the id of the request
that sent it (bound by the session). An event libtorrent reports later carries the id of the
command that caused it only when that is certain, and the engine remembers it until then:

- everything an add publishes when libtorrent answers it (``torrent_added``,
  ``files_discovered`` of a .torrent) and the torrent's first ``state_changed`` carry the add's
  id (:class:`PendingAdd` holds it);
- a pause of a torrent not paused leaves its id for the torrent's next ``state_changed`` into
  ``paused``; a resume of a paused one for its next ``state_changed`` out of ``paused``
  (:meth:`SessionCore.expect`). Both are bound to follow; a later pause or resume replaces
  the id, and one that changes nothing (already in that state) leaves none.

Anything else libtorrent reports (progress, a magnet's metadata, completion, errors, states of
its own making) carries no request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import outcome
import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.errors import NotFound, RevaerError
from revaer.events import (
    EventPayload,
    Publisher,
    StateChanged,
    TorrentAdded,
    TorrentCatalog,
    TorrentState,
    TorrentUpdated,
)
from revaer.runtime import HealthRegistry, Watched, current_request_id
from revaer.telemetry import Metrics
from revaer.torrent._coalescer import ProgressCoalescer
from revaer.torrent._commands import AddedTorrent
from revaer.torrent._inbox import AlertBatch, Reply
from revaer.torrent._lt import AddParams, LtSession
from revaer.torrent._records import TorrentSourceInfo
from revaer.torrent._resume import ResumeStore, TorrentMeta
from revaer.torrent._state import Cause, EngineState, TorrentEntry

__all__ = [
    "AddGroup",
    "PendingAdd",
    "SessionCore",
    "added_event",
    "updated_event",
]

T = TypeVar("T")
_log = logger.bind(actor="session")


class AddGroup:
    """The adds of one command — one, or many for a bulk add — answered together, in order."""

    __slots__ = ("_open", "_reply", "results")

    def __init__(self, reply: Reply, size: int) -> None:
        self._reply = reply
        self.results: list[AddedTorrent | RevaerError | None] = [None] * size
        self._open = size
        if size == 0:
            reply.set(outcome.Value([]))

    def resolve(self, index: int, result: AddedTorrent | RevaerError) -> None:
        """Record item ``index``'s outcome; the reply goes out with the last one."""
        if self.results[index] is not None:
            return
        self.results[index] = result
        self._open -= 1
        if self._open == 0:
            self._reply.set(outcome.Value(list(self.results)))

    def fail_open(self, error: RevaerError) -> None:
        """Every item not answered yet gets ``error``."""
        for index, result in enumerate(self.results):
            if result is None:
                self.resolve(index, error)


@dataclass(slots=True, kw_only=True)
class PendingAdd:
    """An ``async_add`` libtorrent has not answered yet (a new torrent, or one restored)."""

    meta: TorrentMeta
    hashes: tuple[str, ...]
    info: TorrentSourceInfo
    """What parsing the .torrent, magnet or resume data found (the file list, when known)."""
    group: AddGroup | None = None
    """The command waiting for this add (None for a restore), and this add's place in it."""
    index: int = 0
    source: AddParams | None = None
    """A restore's parsed blob, to list its files if the catalog does not know them."""
    blob_current: bool = True
    """False for a restore that kept pieces the stored blob does not record (save it soon)."""
    reconciled: list[str] = field(default_factory=list)
    """``selection_reconciled`` details to publish once a restored torrent is in."""
    request_id: str | None = None
    """The request that sent the add: what libtorrent's answer publishes carries it."""

    @property
    def files_known(self) -> bool:
        """Whether the file list is known (a .torrent, or a magnet whose metadata arrived)."""
        return self.info.has_metadata

    @property
    def restored(self) -> bool:
        """Whether this is a torrent restored from the resume store."""
        return self.group is None


def _stored_settings(meta: TorrentMeta) -> dict[str, Any]:
    return {
        "torrent_id": meta.torrent_id,
        "name": meta.name,
        "download_dir": meta.download_dir,
        "sequential": meta.sequential,
        "paused": meta.paused,
        "tags": meta.tags,
        "trackers": meta.trackers,
        "max_download_bps": meta.max_download_bps,
        "max_upload_bps": meta.max_upload_bps,
    }


def added_event(meta: TorrentMeta, *, restored: bool) -> TorrentAdded:
    """``torrent_added`` for a torrent now in the session."""
    return TorrentAdded(
        info_hash=meta.info_hash,
        restored=restored,
        added_at=meta.added_at,
        **_stored_settings(meta),
    )


def updated_event(meta: TorrentMeta) -> TorrentUpdated:
    """``torrent_updated`` after a torrent's stored settings changed."""
    return TorrentUpdated(**_stored_settings(meta))


class SessionCore:
    """One session incarnation's world; every method runs in the session actor's task."""

    def __init__(
        self,
        *,
        session: LtSession,
        state: EngineState,
        store: ResumeStore,
        publisher: Publisher,
        snapshots: Watched[ConfigSnapshot],
        health: HealthRegistry,
        metrics: Metrics | None,
        limiter: trio.CapacityLimiter,
        catalog: TorrentCatalog | None = None,
        progress_interval: float = 0.1,
    ) -> None:
        self.session = session
        self.state = state
        self.store = store
        self.publisher = publisher
        self.snapshots = snapshots
        self.health = health
        self.adding: dict[str, PendingAdd] = {}
        """Adds libtorrent has not answered, by each of their info hashes."""
        self.in_transit: AlertBatch | None = None
        """The batch the pump popped last (handled once its ``handled`` is set)."""
        self.restored = trio.Event()
        """Set once every stored torrent is back (statuses are not asked for before)."""
        self.progress = ProgressCoalescer(
            publisher=publisher, interval=progress_interval, metrics=metrics
        )
        """Rate-limited ``progress`` events (flushed at every tick)."""
        self.became_active = trio.Event()
        """Set (and replaced) when the first torrent becomes active: the ticker speeds up."""
        self._metrics = metrics
        self._limiter = limiter
        self._catalog = catalog

    async def lt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one libtorrent call in a worker thread, one call at a time, in order."""
        return await trio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)

    def publish(self, payload: EventPayload, *, request_id: str | None = None) -> None:
        """Publish an event (the catalog sees it before any subscriber), carrying
        ``request_id``, else the id of the request whose command is running."""
        self.publisher.publish(payload, request_id=request_id)

    def entry(self, torrent_id: str) -> TorrentEntry:
        """The live torrent ``torrent_id``; ``NotFound`` otherwise."""
        entry = self.state.entries.get(torrent_id)
        if entry is None:
            raise NotFound(f"no torrent {torrent_id}")
        return entry

    def files_known(self, torrent_id: str) -> bool:
        """Whether the catalog already lists this torrent's files (a restore need not)."""
        record = self._catalog.get(torrent_id) if self._catalog is not None else None
        return record is not None and bool(record.files)

    def pending_ids(self) -> set[str]:
        """Torrent ids of adds still in flight."""
        return {pending.meta.torrent_id for pending in self.adding.values()}

    def expect(self, entry: TorrentEntry, states: frozenset[TorrentState]) -> None:
        """The running command moves ``entry`` into one of ``states`` (libtorrent reports it
        later): that ``state_changed`` carries the command's request id.

        Unless it is in one of them already (nothing will change): then no id is kept, nor
        when no request is bound. Either way an earlier command's id is dropped.
        """
        request_id = current_request_id()
        entry.cause = (
            Cause(request_id, states)
            if request_id is not None and entry.state not in states
            else None
        )

    def set_state(self, entry: TorrentEntry, state: TorrentState) -> None:
        """Publish ``state_changed`` when ``state`` differs from the last one published."""
        if state == entry.state:
            return
        previous = entry.state
        was_active = self.state.active()
        self.state.set_state(entry, state)
        request_id = None
        cause = entry.cause
        if cause is not None and state in cause.states:
            request_id, entry.cause = cause.request_id, None
        self.publish(
            StateChanged(torrent_id=entry.meta.torrent_id, state=state, previous=previous),
            request_id=request_id,
        )
        active = self.state.active()
        if active and not was_active:
            self.became_active.set()
            self.became_active = trio.Event()

    async def post_adds(self, adds: Sequence[tuple[AddParams, TorrentMeta]]) -> None:
        """Hand torrents to libtorrent, as stored in ``meta``, in one call (answered by
        ``AddFinished`` records)."""

        def post_all() -> None:
            for source, meta in adds:
                self.session.async_add(
                    source,
                    save_path=meta.download_dir,
                    paused=meta.paused,
                    sequential=meta.sequential,
                    download_bps=meta.max_download_bps,
                    upload_bps=meta.max_upload_bps,
                    priorities=meta.priorities,
                )

        await self.lt(post_all)

    async def store_meta(self, entry: TorrentEntry, meta: TorrentMeta) -> None:
        """Persist ``meta`` (``ResumeStoreUnavailable`` when it cannot be), then adopt it."""
        await self.store.save_meta(meta)
        entry.meta = meta
        self.publish(updated_event(meta))

    async def ask_resume(
        self, entries: Sequence[TorrentEntry], *, only_if_modified: bool = False
    ) -> None:
        """Ask libtorrent for fresh resume data of ``entries`` (answered by resume alerts)."""
        if not entries:
            return
        now = trio.current_time()
        for entry in entries:
            entry.save_asked_at = now
            entry.saved_done = entry.done
            entry.pending_saves += 1
        await self.lt(
            self.session.request_resume,
            [e.ref for e in entries],
            only_if_modified=only_if_modified,
        )

    def profile(self) -> Mapping[str, Any]:
        """The engine profile in effect."""
        return self.snapshots.value.engine_profile
