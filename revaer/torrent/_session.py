"""The session actor: sole owner of the ``lt.session``; executes commands one at a time.

Every libtorrent call that may block runs in a worker thread (one at a time, in order).
A torrent's metadata is persisted before it is added, so a crash at any moment either
restores it on the next start or never added it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Any, TypeVar, assert_never

import outcome
import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.errors import Conflict, InvalidParam, NotFound, ValidationFailed
from revaer.events import EventBus, FilesDiscovered, SelectionReconciled, TorrentAdded
from revaer.events import TorrentRemoved as TorrentRemovedEvent
from revaer.runtime import HealthRegistry, Watched
from revaer.torrent._commands import (
    AddedTorrent,
    AddTorrent,
    Command,
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
from revaer.torrent._handle import CommandEnvelope
from revaer.torrent._lt import (
    AddParams,
    LtSession,
    parse_magnet,
    parse_torrent,
    read_resume,
)
from revaer.torrent._records import ResumeData, ResumeDataFailed
from revaer.torrent._resume import ResumeStore, StoredTorrent, TorrentMeta
from revaer.torrent._selection import Selection, compute_priorities, with_priorities
from revaer.torrent._settings import guardrails, session_settings
from revaer.torrent._state import EngineState, TorrentEntry, drain_pipe

__all__ = ["SessionActor"]

T = TypeVar("T")
_log = logger.bind(actor="session")
_FINAL_SAVE_TIMEOUT = 10.0


class SessionActor:
    """Creates the session, restores torrents, serves commands, applies settings live."""

    def __init__(
        self,
        *,
        state: EngineState,
        commands: trio.MemoryReceiveChannel[CommandEnvelope],
        store: ResumeStore,
        bus: EventBus,
        snapshots: Watched[ConfigSnapshot],
        health: HealthRegistry,
        on_guardrail: Callable[[str], None] = lambda _kind: None,
        extra_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._state = state
        self._commands = commands
        self._store = store
        self._bus = bus
        self._snapshots = snapshots
        self._health = health
        self._on_guardrail = on_guardrail
        self._extra = dict(extra_settings or {})
        self._lt_limiter = trio.CapacityLimiter(1)
        self._applied: dict[str, Any] = {}

    async def _lt(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args), limiter=self._lt_limiter)

    @property
    def _session(self) -> LtSession:
        assert self._state.session is not None
        return self._state.session

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own a session until cancelled; ready once every stored torrent is restored."""
        settings = self._settings(self._snapshots.value)
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        session = await self._lt(LtSession, settings)
        session.set_alert_fd(write_fd)
        self._applied = settings
        self._state.session = session
        self._state.alert_fd = read_fd
        try:
            await self._restore()
            self._check_guardrails(self._snapshots.value)
            self._state.running = True
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_settings)
                await self._serve()
        finally:
            self._state.running = False
            with trio.CancelScope(shield=True), trio.move_on_after(_FINAL_SAVE_TIMEOUT):
                await self._final_save(session, read_fd)
            self._state.session = None
            self._state.alert_fd = None
            self._state.entries.clear()
            self._state.by_ref.clear()
            self._state.by_hash.clear()
            # The session goes first: libtorrent must not write to a closed descriptor.
            del session
            trio.lowlevel.notify_closing(read_fd)  # a pump still waiting on it wakes up
            os.close(write_fd)
            os.close(read_fd)

    async def _final_save(self, session: LtSession, read_fd: int) -> None:
        # The pump is already stopped (shutdown runs in reverse start order), so this drains
        # the resume alerts itself.
        entries = list(self._state.entries.values())
        if not entries:
            return
        await self._lt(session.pause)
        pending = {e.ref: e.meta.torrent_id for e in entries}
        for entry in entries:
            await self._lt(entry.ref.save_resume_data)
        while pending:
            if not await self._lt(session.wait_for_alert, 500):
                continue
            for record in await self._lt(session.pop_alerts):
                # Only the answers count: pausing also posts alerts for these torrents.
                if isinstance(record, ResumeData | ResumeDataFailed) and record.ref in pending:
                    torrent_id = pending.pop(record.ref)
                    if isinstance(record, ResumeData):
                        await self._store.save_resume(torrent_id, record.blob)
        drain_pipe(read_fd)
        _log.info("saved resume data of {} torrents", len(entries))

    async def _restore(self) -> None:
        stored = await self._store.load_all()
        for item in stored:
            try:
                await self._restore_one(item)
            except (ValidationFailed, Conflict) as exc:
                _log.error("cannot restore torrent {}: {}", item.meta.torrent_id, exc.detail)
        if stored:
            _log.info("restored {} torrents", len(self._state.entries))

    async def _restore_one(self, item: StoredTorrent) -> None:
        meta = item.meta
        if item.resume is not None:
            source = read_resume(item.resume)
        elif meta.magnet is not None:
            source = parse_magnet(meta.magnet)
        else:
            raise ValidationFailed([InvalidParam(pointer="/resume", message="no resume data")])
        stored_priorities = source.info_priorities
        stored_sequential = source.info_sequential
        entry = await self._add_to_session(meta, source, restored=True)
        if (
            meta.priorities is not None
            and stored_priorities
            and stored_priorities != meta.priorities
        ):
            self._bus.publish(
                SelectionReconciled(
                    torrent_id=meta.torrent_id,
                    detail="file priorities in the resume data differed; restored Revaer's",
                )
            )
        if stored_sequential is not None and stored_sequential != meta.sequential:
            self._bus.publish(
                SelectionReconciled(
                    torrent_id=meta.torrent_id,
                    detail=f"sequential restored to {meta.sequential}",
                )
            )
        entry.completed = meta.completed

    # -- settings ----------------------------------------------------------------------------

    def _settings(self, snapshot: ConfigSnapshot) -> dict[str, Any]:
        return {**session_settings(snapshot.engine_profile), **self._extra}

    def _check_guardrails(self, snapshot: ConfigSnapshot) -> None:
        violations = guardrails(snapshot.engine_profile)
        current = self._health.get("engine_guardrails")
        if violations:
            reason = "; ".join(violations)
            if current is None or current.reason != reason:
                for violation in violations:
                    self._on_guardrail(violation.split(" ", 1)[0])
                _log.warning("guard rail: {}", reason)
            self._health.degraded("engine_guardrails", reason)
        else:
            self._health.ok("engine_guardrails")

    async def _follow_settings(self) -> None:
        version = self._snapshots.version
        while True:
            version, snapshot = await self._snapshots.wait_newer(version)
            wanted = self._settings(snapshot)
            changed = {k: v for k, v in wanted.items() if self._applied.get(k) != v}
            if changed:
                await self._lt(self._session.apply_settings, changed)
                self._applied.update(changed)
                _log.info("applied engine settings: {}", sorted(changed))
            self._check_guardrails(snapshot)

    # -- commands ----------------------------------------------------------------------------

    async def _serve(self) -> None:
        async for command, reply in self._commands:
            result = await outcome.acapture(self._execute, command)
            try:
                reply.send_nowait(result)
            except (trio.WouldBlock, trio.BrokenResourceError):
                pass  # the caller gave up waiting (timeout); the command still took effect
            finally:
                await reply.aclose()

    async def _execute(self, command: Command) -> object:
        match command:
            case AddTorrent():
                return await self._add(command)
            case PauseTorrent():
                await self._update(command.torrent_id, lambda e: e.ref.pause(), paused=True)
            case ResumeTorrent():
                await self._update(command.torrent_id, lambda e: e.ref.resume(), paused=False)
            case RemoveTorrent():
                await self._remove(command)
            case SetSequential():
                await self._update(
                    command.torrent_id,
                    lambda e: e.ref.set_sequential(command.enabled),
                    sequential=command.enabled,
                )
            case SetRateLimits():
                await self._update(
                    command.torrent_id,
                    lambda e: e.ref.set_limits(command.download_bps, command.upload_bps),
                    max_download_bps=command.download_bps,
                    max_upload_bps=command.upload_bps,
                )
            case SelectFiles():
                await self._select(command)
            case Reannounce():
                await self._update(command.torrent_id, lambda e: e.ref.force_reannounce())
            case Recheck():
                await self._update(command.torrent_id, lambda e: e.ref.force_recheck())
            case MoveStorage():
                path = _absolute(command.download_dir, "/download_dir")
                await self._update(
                    command.torrent_id, lambda e: e.ref.move_storage(path), download_dir=path
                )
            case ConnectPeer():
                entry = self._entry(command.torrent_id)
                await self._lt(entry.ref.connect_peer, command.host, command.port)
            case _:
                assert_never(command)
        return None

    def _entry(self, torrent_id: str) -> TorrentEntry:
        entry = self._state.entries.get(torrent_id)
        if entry is None:
            raise NotFound(f"no torrent {torrent_id}")
        return entry

    async def _update(
        self, torrent_id: str, action: Callable[[TorrentEntry], None], **meta_changes: Any
    ) -> None:
        entry = self._entry(torrent_id)
        await self._lt(action, entry)
        if meta_changes:
            entry.meta = replace(entry.meta, **meta_changes)
            await self._store.save_meta(entry.meta)
            self._state.sync_catalog(entry)
        await self._lt(entry.ref.save_resume_data)

    async def _add(self, command: AddTorrent) -> AddedTorrent:
        source = await self._parse(command)
        snapshot = self._snapshots.value
        profile = snapshot.engine_profile
        extra = (profile.get("tracker") or {}).get("extra_trackers") or ()
        if extra:
            source.add_trackers(tuple(extra))
        torrent_id = _torrent_id(command.torrent_id)
        existing = next(
            (self._state.by_hash[h] for h in source.info.info_hashes if h in self._state.by_hash),
            None,
        )
        if existing is not None:
            raise Conflict(f"this torrent is already present as {existing}")
        if torrent_id in self._state.entries:
            raise Conflict(f"a torrent with id {torrent_id} exists already")
        root = command.download_dir or profile.get("download_root")
        if not root:
            raise ValidationFailed(
                [InvalidParam(pointer="/download_dir", message="required: no download_root is set")]
            )
        download_dir = _absolute(root, "/download_dir")
        selection = Selection(
            include=command.include, exclude=command.exclude, skip_fluff=command.skip_fluff
        )
        priorities = (
            compute_priorities(source.info.files, selection)
            if source.info.has_metadata and not selection.is_default
            else None
        )
        meta = TorrentMeta(
            torrent_id=torrent_id,
            info_hash=source.info.info_hash,
            name=source.info.name,
            source="magnet" if command.magnet else "torrent",
            magnet=command.magnet,
            download_dir=download_dir,
            sequential=(
                command.sequential
                if command.sequential is not None
                else bool(profile.get("sequential_default"))
            ),
            paused=command.paused,
            tags=command.tags,
            trackers=command.trackers,
            include=command.include,
            exclude=command.exclude,
            skip_fluff=command.skip_fluff,
            priorities=priorities,
            max_download_bps=command.max_download_bps,
            max_upload_bps=command.max_upload_bps,
            added_at=datetime.now(UTC).isoformat(),
        )
        # Persist before adding: after a crash the torrent is either restored or never was.
        await self._store.save_meta(meta)
        if source.info.has_metadata:
            await self._store.save_resume(torrent_id, source.to_resume())
        try:
            await self._add_to_session(meta, source, restored=False)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._store.remove(torrent_id)
            raise
        return AddedTorrent(torrent_id=torrent_id, info_hash=meta.info_hash, name=meta.name)

    async def _parse(self, command: AddTorrent) -> AddParams:
        if (command.magnet is None) == (command.metainfo is None):
            raise ValidationFailed(
                [InvalidParam(pointer="", message="give exactly one of magnet or metainfo")]
            )
        if command.magnet is not None:
            source = parse_magnet(command.magnet)
        else:
            assert command.metainfo is not None
            source = await trio.to_thread.run_sync(parse_torrent, command.metainfo)
        if command.trackers:
            source.add_trackers(command.trackers)
        return source

    async def _add_to_session(
        self, meta: TorrentMeta, source: AddParams, *, restored: bool
    ) -> TorrentEntry:
        self._state.adding += 1
        try:
            ref = await self._lt(
                partial(
                    self._session.add,
                    source,
                    save_path=meta.download_dir,
                    paused=meta.paused,
                    sequential=meta.sequential,
                    download_bps=meta.max_download_bps,
                    upload_bps=meta.max_upload_bps,
                    priorities=meta.priorities,
                )
            )
            entry = TorrentEntry(meta=meta, ref=ref, files_known=source.info.has_metadata)
            self._state.register(entry, source.info.info_hashes)
            self._state.sync_catalog(entry, registering=True)
        finally:
            self._state.adding -= 1
            self._state.signal_added()
        self._bus.publish(
            TorrentAdded(
                torrent_id=meta.torrent_id,
                info_hash=meta.info_hash,
                name=meta.name,
                restored=restored,
            )
        )
        if source.info.has_metadata:
            files = await self._lt(ref.files)
            if files is not None:
                listed, total, piece_length = files
                self._bus.publish(
                    FilesDiscovered(
                        torrent_id=meta.torrent_id,
                        name=meta.name,
                        total_size=total,
                        piece_length=piece_length,
                        files=listed,
                    )
                )
        return entry

    async def _select(self, command: SelectFiles) -> None:
        entry = self._entry(command.torrent_id)
        bad = [
            InvalidParam(pointer=f"/priorities/{index}", message="must be 0 (skip) to 7 (top)")
            for index, priority in command.priorities.items()
            if not 0 <= priority <= 7
        ]
        if bad:
            raise ValidationFailed(bad)
        selection = Selection(
            include=command.include, exclude=command.exclude, skip_fluff=command.skip_fluff
        )
        files = await self._lt(entry.ref.files)
        priorities = None
        if files is not None:
            priorities = compute_priorities(files[0], selection, command.priorities)
            await self._lt(entry.ref.prioritize_files, priorities)
        entry.meta = replace(
            entry.meta,
            include=command.include,
            exclude=command.exclude,
            skip_fluff=command.skip_fluff,
            priorities=priorities,
        )
        await self._store.save_meta(entry.meta)
        await self._lt(entry.ref.save_resume_data)
        if files is not None and priorities is not None:
            listed, total, piece_length = files
            self._bus.publish(
                FilesDiscovered(
                    torrent_id=entry.meta.torrent_id,
                    name=entry.meta.name,
                    total_size=total,
                    piece_length=piece_length,
                    files=with_priorities(listed, priorities),
                )
            )

    async def _remove(self, command: RemoveTorrent) -> None:
        entry = self._entry(command.torrent_id)
        await self._lt(partial(self._session.remove, entry.ref, delete_files=command.delete_data))
        self._state.forget(command.torrent_id)
        await self._store.remove(command.torrent_id)
        self._bus.publish(
            TorrentRemovedEvent(torrent_id=command.torrent_id, deleted_data=command.delete_data)
        )


def _torrent_id(given: str | None) -> str:
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise ValidationFailed(
            [InvalidParam(pointer="/torrent_id", message="must be a UUID")]
        ) from None


def _absolute(path: str, ptr: str) -> str:
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise ValidationFailed(
            [InvalidParam(pointer=ptr, message="must be an absolute path without '..'")]
        )
    return str(pure)
