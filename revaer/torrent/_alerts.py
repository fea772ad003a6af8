"""Alert records → engine state and events, handled by the session actor one batch at a time.

Resume blobs that arrive in a batch are written together at its end (one directory sync);
``completed`` for a finished torrent is published only once its resume data is on disk, so a
crash right after it never loses a piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import assert_never

import trio
from loguru import logger

from revaer.errors import InvalidParam, ValidationFailed
from revaer.events import (
    Completed,
    FilesDiscovered,
    SelectionReconciled,
    TorrentFailed,
    TorrentState,
)
from revaer.torrent._commands import AddedTorrent
from revaer.torrent._core import PendingAdd, SessionCore, added_event
from revaer.torrent._lt import LtTorrent
from revaer.torrent._records import (
    AddFinished,
    AlertRecord,
    AlertsDropped,
    DataDeleteFailed,
    FileError,
    ListenResult,
    LtStateChanged,
    MetadataReceived,
    ResumeData,
    ResumeDataFailed,
    StateUpdate,
    StatusRecord,
    StorageMoved,
    StorageMoveFailed,
    TorrentChecked,
    TorrentError,
    TorrentFinished,
    TorrentPaused,
    TrackerError,
)
from revaer.torrent._resume import ResumeStoreUnavailable
from revaer.torrent._selection import Selection, compute_priorities, with_priorities
from revaer.torrent._settings import configured_peer_ports
from revaer.torrent._state import Cause, TorrentEntry
from revaer.torrent._text import clean_name

__all__ = ["AlertHandler", "ResumePolicy", "derive_state", "state_of"]

_log = logger.bind(actor="session")
# A batch at restore holds tens of thousands of records: let other tasks run in between.
_YIELD_EVERY = 512

_ANY_STATE = frozenset(TorrentState)

_LT_STATES = {
    "checking_files": TorrentState.CHECKING,
    "checking_resume_data": TorrentState.CHECKING,
    "downloading_metadata": TorrentState.FETCHING_METADATA,
    "downloading": TorrentState.DOWNLOADING,
    "finished": TorrentState.SEEDING,
    "seeding": TorrentState.SEEDING,
}


def state_of(lt_state: str) -> TorrentState:
    """The user-facing state for one of libtorrent's states (when not paused)."""
    return _LT_STATES.get(lt_state, TorrentState.DOWNLOADING)


def derive_state(status: StatusRecord) -> TorrentState:
    """The user-facing state of a libtorrent status."""
    if status.error:
        return TorrentState.ERROR
    if status.moving_storage:
        return TorrentState.MOVING
    if status.paused:
        return TorrentState.QUEUED if status.auto_managed else TorrentState.PAUSED
    return state_of(status.lt_state)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumePolicy:
    """When a changing torrent's resume data is saved while it transfers."""

    every_seconds: float = 5.0
    every_bytes: int = 64 * 1024 * 1024
    min_gap: float = 1.0
    """Never more often than this, however fast it downloads (each save costs libtorrent work)."""

    def due(self, entry: TorrentEntry, now: float) -> bool:
        """Whether ``entry`` (which libtorrent says needs saving) should be saved now."""
        if entry.pending_saves:
            return False
        moved = entry.done - (entry.done if entry.saved_done is None else entry.saved_done)
        since = now - entry.save_asked_at
        return moved > 0 and (
            since >= self.every_seconds or (moved >= self.every_bytes and since >= self.min_gap)
        )


class AlertHandler:
    """Turns alert records into state changes and events; owned by one session incarnation."""

    def __init__(self, core: SessionCore, policy: ResumePolicy) -> None:
        self._core = core
        self._policy = policy
        self.closing = False
        """Set during the final save: state changes caused by stopping are not news."""
        self.write_failures = 0
        """Resume blobs that could not be written (the final save is then not clean)."""
        self._refused: list[str] = []
        self._stale: list[TorrentEntry] = []

    async def handle(self, records: Sequence[AlertRecord]) -> None:
        """Handle one batch in order; resume blobs are written at the end, together.

        A batch is handled whole, even when the session is being cancelled: libtorrent gave
        these answers once (its adds are done, its need-save flags cleared), so half a batch
        would lose them for good. It is bounded work; a stop waits for it.
        """
        with trio.CancelScope(shield=True):
            await self._handle(records)

    async def _handle(self, records: Sequence[AlertRecord]) -> None:
        blobs: dict[str, bytes] = {}
        completing: list[TorrentEntry] = []
        added: list[tuple[PendingAdd, TorrentEntry]] = []
        for index, record in enumerate(records):
            if index and index % _YIELD_EVERY == 0:
                await trio.lowlevel.checkpoint()
            await self._one(record, blobs, completing, added)
        if added:
            self._announce(added)
        if self._refused:
            await self._remove_refused()
        if self._stale:
            stale, self._stale = self._stale, []
            await self._core.ask_resume(stale)
        written = True
        if blobs:
            try:
                await self._core.store.save_resumes(blobs)
            except ResumeStoreUnavailable as exc:
                written = False
                self.write_failures += len(blobs)
                _log.warning("resume data of {} torrent(s) not saved: {}", len(blobs), exc.detail)
        for entry in completing:
            if written or entry.meta.torrent_id not in blobs:
                await self._complete(entry)
            # Otherwise it stays completing: the periodic save asks again until it is stored.

    async def _one(  # noqa: PLR0912 -- one case per record
        self,
        record: AlertRecord,
        blobs: dict[str, bytes],
        completing: list[TorrentEntry],
        added: list[tuple[PendingAdd, TorrentEntry]],
    ) -> None:
        match record:
            case StateUpdate():
                if not self.closing:
                    await self._statuses(record.statuses)
            case AddFinished():
                found = self._added(record)
                if found is not None:
                    added.append(found)
            case ResumeData() | ResumeDataFailed():
                self._resume_answer(record, blobs, completing)
            case LtStateChanged() | TorrentPaused():
                self._state_alert(record)
            case MetadataReceived():
                await self._metadata(record.ref)
            case TorrentFinished():
                await self._finished(record.ref)
            case TorrentError():
                self._failed(record.ref, "torrent", record.message)
            case FileError():
                self._failed(record.ref, "file", f"{record.file}: {record.message}")
            case TrackerError():
                self._failed(record.ref, "tracker", record.message, tracker=record.tracker)
            case StorageMoveFailed():
                self._failed(record.ref, "storage", record.message)
            case StorageMoved():
                await self._moved(record)
            case TorrentChecked():
                pass  # the state changes report it
            case ListenResult():
                self._listen(record)
            case AlertsDropped():
                _log.warning("libtorrent dropped alerts: {}", record.message)
            case DataDeleteFailed():
                _log.warning("cannot delete the data of {}: {}", record.info_hash, record.message)
            case _:
                assert_never(record)

    def _resume_answer(
        self,
        record: ResumeData | ResumeDataFailed,
        blobs: dict[str, bytes],
        completing: list[TorrentEntry],
    ) -> None:
        entry = self._entry(record.ref)
        if entry is None:
            return  # a late answer for a removed torrent is dropped
        entry.pending_saves = max(0, entry.pending_saves - 1)
        if isinstance(record, ResumeData):
            blobs[entry.meta.torrent_id] = record.blob  # answers come in order: latest wins
        if entry.completing and entry.pending_saves == 0:
            # The answer to the request made when it finished (or a later one): complete.
            if isinstance(record, ResumeDataFailed):
                _log.warning(
                    "{}: no resume data at completion: {}", entry.meta.torrent_id, record.message
                )
            completing.append(entry)

    def _state_alert(self, record: LtStateChanged | TorrentPaused) -> None:
        entry = self._entry(record.ref)
        if entry is None or self.closing:
            return
        if isinstance(record, TorrentPaused):
            self._core.set_state(entry, TorrentState.PAUSED)
        elif not entry.meta.paused and entry.state is not TorrentState.PAUSED:
            # Immediate, so short states (a recheck of small data) are not lost between
            # status updates; those publish only what differs from this. A paused torrent's
            # state comes from its statuses (libtorrent's own state flickers at a restore).
            self._core.set_state(entry, state_of(record.lt_state))

    def _entry(self, ref: LtTorrent) -> TorrentEntry | None:
        torrent_id = self._core.state.by_ref.get(ref)
        return None if torrent_id is None else self._core.state.entries.get(torrent_id)

    # -- adds ---------------------------------------------------------------------------------

    def _added(self, record: AddFinished) -> tuple[PendingAdd, TorrentEntry] | None:
        core = self._core
        pending = next((core.adding[h] for h in record.info_hashes if h in core.adding), None)
        if pending is None:
            return None
        for h in pending.hashes:
            core.adding.pop(h, None)
        meta = pending.meta
        if record.ref is None:
            message = f"libtorrent refused the torrent: {record.error}"
            if pending.group is None:
                _log.error("cannot restore torrent {}: {}", meta.torrent_id, message)
            else:
                where = "/magnet" if meta.source == "magnet" else "/metainfo"
                pending.group.resolve(
                    pending.index,
                    ValidationFailed([InvalidParam(pointer=where, message=message)]),
                )
                self._forget_stored(meta.torrent_id)
            return None
        entry = TorrentEntry(
            meta=meta,
            ref=record.ref,
            files_known=pending.files_known,
            # A new torrent's stored blob has no pieces; a restored one's matches the torrent,
            # unless pieces found on disk were added to it (then it is saved at once).
            saved_done=None if pending.restored and pending.blob_current else 0,
        )
        request_id = pending.request_id
        if request_id is not None:
            entry.cause = Cause(request_id, _ANY_STATE)  # its first state is the add's doing
        if not pending.blob_current:
            self._stale.append(entry)
        core.state.register(entry, pending.hashes)
        core.publish(added_event(meta, restored=pending.restored), request_id=request_id)
        if meta.paused:
            # Known without asking libtorrent: read models are consistent at once.
            core.set_state(entry, TorrentState.PAUSED)
        for detail in pending.reconciled:
            core.publish(SelectionReconciled(torrent_id=meta.torrent_id, detail=detail))
        return pending, entry

    def _forget_stored(self, torrent_id: str) -> None:
        # Refused by libtorrent: the stored files would make it fail again at every start.
        self._refused.append(torrent_id)

    def _announce(self, added: list[tuple[PendingAdd, TorrentEntry]]) -> None:
        core = self._core
        for pending, entry in added:
            info, meta = pending.info, entry.meta
            if not info.has_metadata or (pending.restored and core.files_known(meta.torrent_id)):
                continue
            # The listing parsed before the add, with the priorities it was added with: no
            # libtorrent round trip.
            files = info.files if pending.source is None else pending.source.listing()
            if meta.priorities is not None and len(meta.priorities) > max(
                (f.index for f in files), default=-1
            ):
                files = with_priorities(files, meta.priorities)
            core.publish(
                FilesDiscovered(
                    torrent_id=meta.torrent_id,
                    name=meta.name,
                    total_size=info.total_size,
                    piece_length=info.piece_length,
                    files=files,
                ),
                request_id=pending.request_id,
            )
        for pending, entry in added:
            if pending.group is not None:
                meta = entry.meta
                pending.group.resolve(
                    pending.index,
                    AddedTorrent(
                        torrent_id=meta.torrent_id, info_hash=meta.info_hash, name=meta.name
                    ),
                )

    async def _remove_refused(self) -> None:
        refused, self._refused = self._refused, []
        for torrent_id in refused:
            try:
                await self._core.store.remove(torrent_id)
            except ResumeStoreUnavailable as exc:
                _log.warning("refused torrent {} stays stored: {}", torrent_id, exc.detail)

    # -- progress and completion --------------------------------------------------------------

    async def _statuses(self, statuses: Sequence[StatusRecord]) -> None:
        core = self._core
        now = trio.current_time()
        samples: list[tuple[str, StatusRecord]] = []
        due: list[TorrentEntry] = []
        for status in statuses:
            entry = self._entry(status.ref)
            if entry is None:
                continue
            core.set_state(entry, derive_state(status))
            entry.done = status.total_done
            if entry.saved_done is None:
                entry.saved_done = entry.done  # what its stored blob says
            entry.needs_save = status.need_save_resume
            if entry.needs_save and self._policy.due(entry, now):
                due.append(entry)
            samples.append((entry.meta.torrent_id, status))
        core.progress.offer(samples)
        # A kill mid-download then loses at most a few seconds of pieces (and those are
        # found on disk again at the next start).
        await core.ask_resume(due, only_if_modified=True)

    async def _finished(self, ref: LtTorrent) -> None:
        core = self._core
        entry = self._entry(ref)
        if entry is None:
            return
        await core.lt(core.session.post_torrent_updates)  # so the final 100 % progress follows
        if not entry.meta.completed:
            entry.completing = True
        await core.ask_resume([entry])

    async def _complete(self, entry: TorrentEntry) -> None:
        core = self._core
        if not entry.completing or core.state.entries.get(entry.meta.torrent_id) is not entry:
            return
        entry.completing = False
        core.progress.forget(entry.meta.torrent_id)  # a status from before it finished is stale
        try:
            await core.store_meta(entry, replace(entry.meta, completed=True))
        except ResumeStoreUnavailable as exc:
            # The data is complete on disk; at worst `completed` is announced again later.
            _log.warning("{}: completion not recorded: {}", entry.meta.torrent_id, exc.detail)
        core.publish(
            Completed(
                torrent_id=entry.meta.torrent_id,
                save_path=entry.meta.download_dir,
                name=entry.meta.name,
            )
        )

    # -- metadata, storage, errors ------------------------------------------------------------

    async def _metadata(self, ref: LtTorrent) -> None:
        core = self._core
        entry = self._entry(ref)
        if entry is None:
            return
        files = await core.lt(ref.files)
        if files is None:
            return
        listed, total, piece_length = files
        meta = entry.meta
        selection = Selection(
            include=meta.include, exclude=meta.exclude, skip_fluff=meta.skip_fluff
        )
        name = meta.name if meta.named else (clean_name(await core.lt(ref.name)) or meta.name)
        priorities = None if selection.is_default else compute_priorities(listed, selection)
        try:
            await core.store_meta(entry, replace(meta, name=name, priorities=priorities))
        except ResumeStoreUnavailable as exc:
            _log.warning("{}: metadata not saved: {}", meta.torrent_id, exc.detail)
        if priorities is not None:
            await core.lt(ref.prioritize_files, priorities)
            listed = with_priorities(listed, priorities)
        entry.files_known = True
        await core.ask_resume([entry])  # its info dictionary, so a restart needs no peers
        core.publish(
            FilesDiscovered(
                torrent_id=meta.torrent_id,
                name=name,
                total_size=total,
                piece_length=piece_length,
                files=listed,
            )
        )

    async def _moved(self, record: StorageMoved) -> None:
        entry = self._entry(record.ref)
        if entry is None or entry.meta.download_dir == record.path:
            return
        try:
            await self._core.store_meta(entry, replace(entry.meta, download_dir=record.path))
        except ResumeStoreUnavailable as exc:
            _log.warning("{}: new location not saved: {}", entry.meta.torrent_id, exc.detail)

    def _failed(
        self, ref: LtTorrent, source: str, message: str, *, tracker: str | None = None
    ) -> None:
        entry = self._entry(ref)
        if entry is None:
            return
        message = clean_name(message)
        _log.warning("{} {} error: {}", entry.meta.torrent_id, source, message)
        self._core.publish(
            TorrentFailed(
                torrent_id=entry.meta.torrent_id,
                source=source,
                message=message,
                tracker=None if tracker is None else clean_name(tracker),
            )
        )

    def _listen(self, record: ListenResult) -> None:
        if record.ok:
            self._core.state.listen_port = record.port
            wanted = configured_peer_ports(self._core.profile())
            if record.port in wanted or 0 in wanted:
                _log.info(
                    "peers reach us on {}:{} ({})", record.address, record.port, record.transport
                )
            else:
                # libtorrent falls back to a port the OS picks when the configured one is
                # taken: peers behind a port forward for the configured port will not reach us.
                _log.warning(
                    "peer port {} was busy on {}; listening on {} ({}) instead: free it, or set "
                    "engine_profile.listen_port to a free port and forward that one",
                    "/".join(str(p) for p in sorted(wanted)),
                    record.address,
                    record.port,
                    record.transport,
                    address=record.address,
                    port=record.port,
                )
        else:
            _log.error(
                "cannot listen on {}:{} ({}): {}",
                record.address,
                record.port,
                record.transport,
                record.message,
            )
