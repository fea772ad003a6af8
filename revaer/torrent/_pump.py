"""The alert pump: wakes on libtorrent's alert fd, turns alert records into engine events.

No Python callback is ever registered with libtorrent: libtorrent writes a byte to a pipe
when alerts are waiting, and the pump waits for that pipe to become readable, so cancelling
it is instant. Alerts are copied into records inside ``LtSession.pop_alerts``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import assert_never

import trio
from loguru import logger

from revaer.events import Completed, EventBus, FilesDiscovered, TorrentFailed, TorrentState
from revaer.torrent._coalescer import publish_state, state_of
from revaer.torrent._lt import LtTorrent
from revaer.torrent._records import (
    AlertRecord,
    FileError,
    ListenResult,
    LtStateChanged,
    MetadataReceived,
    ResumeData,
    ResumeDataFailed,
    StateUpdate,
    StorageMoved,
    StorageMoveFailed,
    TorrentChecked,
    TorrentError,
    TorrentFinished,
    TorrentPaused,
    TrackerError,
)
from revaer.torrent._resume import ResumeStore
from revaer.torrent._selection import Selection, compute_priorities, with_priorities
from revaer.torrent._state import EngineState, TorrentEntry, drain_pipe

__all__ = ["AlertPump"]

_log = logger.bind(actor="alert_pump")


class InjectedFailure(RuntimeError):
    """Raised by the pump when a test asked it to fail."""


class AlertPump:
    """Drains alerts; progress goes to the coalescer, the rest becomes events or resume data."""

    def __init__(
        self,
        *,
        state: EngineState,
        bus: EventBus,
        store: ResumeStore,
        updates: trio.MemorySendChannel[StateUpdate],
        resume: trio.MemorySendChannel[ResumeData],
    ) -> None:
        self._state = state
        self._bus = bus
        self._store = store
        self._updates = updates
        self._resume = resume
        self._fail_next = False
        self.listen_port: int | None = None

    def inject_failure(self) -> None:
        """Test hook: the pump raises on its next wake-up (to prove it is restarted)."""
        self._fail_next = True
        if self._state.session is not None:
            self._state.session.post_torrent_updates()  # guarantees a wake-up

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Pump until cancelled."""
        session, fd = self._state.session, self._state.alert_fd
        if session is None or fd is None:
            raise RuntimeError("the session is not running")
        task_status.started()
        while True:
            # Copying a batch (statuses, bencoded resume data) is real work: not on the loop.
            for record in await trio.to_thread.run_sync(session.pop_alerts):
                await self._dispatch(record)
            await trio.lowlevel.wait_readable(fd)
            drain_pipe(fd)
            if self._fail_next:
                self._fail_next = False
                raise InjectedFailure("injected alert pump failure (test hook)")

    async def _dispatch(self, record: AlertRecord) -> None:  # noqa: PLR0912 -- one case per record
        match record:
            case StateUpdate():
                # A coalescer that is behind loses nothing: the next update is newer anyway.
                with contextlib.suppress(trio.WouldBlock):
                    self._updates.send_nowait(record)
            case ResumeData():
                await self._resume.send(record)
            case LtStateChanged():
                # Immediate, so short states (a recheck of small data) are not lost between
                # coalescer ticks; the coalescer publishes only what differs from this.
                entry = await self._entry(record.ref)
                if entry is not None and entry.state is not TorrentState.PAUSED:
                    publish_state(self._bus, entry, state_of(record.lt_state))
            case TorrentPaused():
                entry = await self._entry(record.ref)
                if entry is not None:
                    publish_state(self._bus, entry, TorrentState.PAUSED)
            case MetadataReceived():
                await self._metadata(record.ref)
            case TorrentFinished():
                await self._finished(record.ref)
            case TorrentError():
                await self._failed(record.ref, "torrent", record.message)
            case FileError():
                await self._failed(record.ref, "file", f"{record.file}: {record.message}")
            case TrackerError():
                await self._failed(record.ref, "tracker", record.message, tracker=record.tracker)
            case StorageMoveFailed():
                await self._failed(record.ref, "storage", record.message)
            case StorageMoved():
                entry = await self._entry(record.ref)
                if entry is not None and entry.meta.download_dir != record.path:
                    entry.meta = replace(entry.meta, download_dir=record.path)
                    await self._store.save_meta(entry.meta)
                    self._state.sync_catalog(entry)
            case ResumeDataFailed():
                _log.debug("resume data not saved: {}", record.message)
            case TorrentChecked():
                pass  # state changes are reported by the coalescer
            case ListenResult():
                if record.ok:
                    self.listen_port = record.port
                    _log.info("peers reach us on {}:{}", record.address, record.port)
                else:
                    _log.error(
                        "cannot listen on {}:{}: {}", record.address, record.port, record.message
                    )
            case _:
                assert_never(record)

    async def _entry(self, ref: LtTorrent) -> TorrentEntry | None:
        torrent_id = await self._state.lookup(ref)
        return None if torrent_id is None else self._state.entries.get(torrent_id)

    async def _metadata(self, ref: LtTorrent) -> None:
        entry = await self._entry(ref)
        if entry is None:
            return
        files = await trio.to_thread.run_sync(ref.files)
        if files is None:
            return
        listed, total, piece_length = files
        meta = entry.meta
        selection = Selection(
            include=meta.include, exclude=meta.exclude, skip_fluff=meta.skip_fluff
        )
        name = await trio.to_thread.run_sync(ref.name)
        priorities = None
        if not selection.is_default:
            priorities = compute_priorities(listed, selection)
            await trio.to_thread.run_sync(ref.prioritize_files, priorities)
            listed = with_priorities(listed, priorities)
        entry.meta = replace(meta, name=name, priorities=priorities)
        entry.files_known = True
        await self._store.save_meta(entry.meta)
        await trio.to_thread.run_sync(ref.save_resume_data)
        self._bus.publish(
            FilesDiscovered(
                torrent_id=meta.torrent_id,
                name=name,
                total_size=total,
                piece_length=piece_length,
                files=listed,
            )
        )

    async def _finished(self, ref: LtTorrent) -> None:
        entry = await self._entry(ref)
        if entry is None:
            return
        await trio.to_thread.run_sync(ref.save_resume_data)
        if self._state.session is not None:
            self._state.session.post_torrent_updates()  # so the final 100 % progress follows
        if entry.completed:
            return  # announced before (e.g. restored seed, or a recheck of complete data)
        entry.completed = True
        entry.meta = replace(entry.meta, completed=True)
        await self._store.save_meta(entry.meta)
        self._bus.publish(
            Completed(
                torrent_id=entry.meta.torrent_id,
                save_path=entry.meta.download_dir,
                name=entry.meta.name,
            )
        )

    async def _failed(
        self, ref: LtTorrent, source: str, message: str, *, tracker: str | None = None
    ) -> None:
        entry = await self._entry(ref)
        if entry is None:
            return
        _log.warning("{} {} error: {}", entry.meta.torrent_id, source, message)
        self._bus.publish(
            TorrentFailed(
                torrent_id=entry.meta.torrent_id, source=source, message=message, tracker=tracker
            )
        )
