"""The session actor: sole owner of the ``lt.session`` and the only writer of engine state.

Each incarnation creates a libtorrent session and an inbox, restores every stored torrent, and
then handles one message at a time: commands from ``EngineHandle``, alert batches from the
alert pump, timer ticks and settings. A command is handled with the request id it was sent
under bound (``bound_request_id``): its log lines and the events it publishes carry it. The
pump and the ticker are tasks of the incarnation, so they always work on its session and they
end before it does (a crash of either restarts the whole incarnation: they depend on the live
session). When it stops it fails every command it will not answer, saves the resume data that
changed, and closes the session off the loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

import outcome
import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.errors import RevaerError
from revaer.events import Publisher, TorrentCatalog
from revaer.runtime import HealthRegistry, Watched, bound_request_id
from revaer.telemetry import Metrics
from revaer.torrent._alerts import AlertHandler, ResumePolicy
from revaer.torrent._commands import Inspect
from revaer.torrent._core import SessionCore
from revaer.torrent._execute import DEFERRED, execute
from revaer.torrent._handle import EngineUnavailable
from revaer.torrent._inbox import (
    AlertBatch,
    ApplySettings,
    CommandRequest,
    FlushProgress,
    Inbound,
    Reply,
    SaveDue,
)
from revaer.torrent._lt import LtSession
from revaer.torrent._pump import pump_alerts
from revaer.torrent._restore import final_save, restore
from revaer.torrent._resume import ResumeStore, ResumeStoreUnavailable
from revaer.torrent._settings import guardrails, session_settings
from revaer.torrent._state import EngineState, worth_saving

__all__ = ["SessionActor", "SessionTiming"]

_log = logger.bind(actor="session")
_FINAL_SAVE_TIMEOUT = 10.0
_STOPPED = "the torrent engine stopped before answering; retry shortly"

SessionFactory = Callable[[Mapping[str, Any]], LtSession]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTiming:
    """How often the session asks for statuses and saves resume data; its inbox size."""

    update_interval: float
    """Seconds between ``post_torrent_updates`` (statuses for progress and states)."""
    idle_interval: float
    """The same while no torrent is active (states still change at once, through alerts)."""
    resume_interval: float
    """Seconds between saves of every torrent libtorrent says changed."""
    resume_policy: ResumePolicy
    """When a transferring torrent's resume data is saved in between."""
    inbox_size: int


class SessionActor:
    """Creates the session, restores torrents, serves its inbox, applies settings live."""

    def __init__(
        self,
        *,
        state: EngineState,
        store: ResumeStore,
        publisher: Publisher,
        snapshots: Watched[ConfigSnapshot],
        health: HealthRegistry,
        timing: SessionTiming,
        catalog: TorrentCatalog | None = None,
        factory: SessionFactory = LtSession,
        on_guardrail: Callable[[str], None] = lambda _kind: None,
        extra_settings: Mapping[str, Any] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._state = state
        self._store = store
        self._publisher = publisher
        self._snapshots = snapshots
        self._health = health
        self._timing = timing
        self._catalog = catalog
        self._factory = factory
        self._on_guardrail = on_guardrail
        self._extra = dict(extra_settings or {})
        self._metrics = metrics

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own a session until cancelled; ready once every stored torrent is restored."""
        limiter = trio.CapacityLimiter(1)
        read_fd, write_fd = os.pipe()
        try:
            os.set_blocking(read_fd, False)
            os.set_blocking(write_fd, False)
            version, snapshot = self._snapshots.version, self._snapshots.value
            settings = self._settings(snapshot)
            session = await trio.to_thread.run_sync(self._factory, settings, limiter=limiter)
            try:
                await trio.to_thread.run_sync(session.set_alert_fd, write_fd, limiter=limiter)
                core = SessionCore(
                    session=session,
                    state=self._state,
                    store=self._store,
                    publisher=self._publisher,
                    snapshots=self._snapshots,
                    health=self._health,
                    metrics=self._metrics,
                    limiter=limiter,
                    catalog=self._catalog,
                    progress_interval=self._timing.update_interval,
                )
                await _Incarnation(self, core, settings, version).run(read_fd, task_status)
            finally:
                # Off the loop (it waits for libtorrent's threads), and before the pipe is
                # closed: libtorrent must never write to a closed descriptor.
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(session.close, limiter=limiter)
        finally:
            os.close(write_fd)
            os.close(read_fd)

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


class _Incarnation:
    """One session's life inside ``SessionActor.run``: restore, serve, wind down."""

    def __init__(
        self, actor: SessionActor, core: SessionCore, settings: dict[str, Any], version: int
    ) -> None:
        self._actor = actor
        self._core = core
        self._applied = settings
        self._settings_version = version
        self._handler = AlertHandler(core, actor._timing.resume_policy)
        self._current: Reply | None = None
        send, receive = trio.open_memory_channel[Inbound](actor._timing.inbox_size)
        self._send = send
        self._inbox = receive

    async def run(self, alert_fd: int, task_status: trio.TaskStatus[None]) -> None:
        state, actor = self._core.state, self._actor
        state.session = self._core.session
        crashed = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    pump_alerts, self._core, alert_fd, self._send.clone(), actor._health
                )
                nursery.start_soon(self._tick, self._send.clone())
                await restore(self._core, self._inbox, self._handle)
                if self._actor._catalog is not None:
                    # Restores libtorrent has not answered yet still exist.
                    self._actor._catalog.retain(set(state.entries) | self._core.pending_ids())
                actor._check_guardrails(actor._snapshots.value)
                nursery.start_soon(self._follow_settings, self._send.clone())
                state.inbox = self._send
                state.running = True
                task_status.started()
                async for message in self._inbox:
                    await self._handle(message)
        except BaseException as exc:
            crashed = not _only_cancelled(exc)
            raise
        finally:
            state.running = False
            state.inbox = None
            with trio.CancelScope(shield=True):
                await self._wind_down(after_crash=crashed)
            state.clear()
            state.session = None

    async def _wind_down(self, *, after_crash: bool) -> None:
        clean = False
        with trio.move_on_after(_FINAL_SAVE_TIMEOUT) as scope:
            try:
                clean = await self._final_save(after_crash=after_crash)
            except ResumeStoreUnavailable as exc:
                _log.error("final resume save incomplete: {}", exc.detail)
            except Exception as exc:  # noqa: BLE001 -- raising here would hide why we stopped
                _log.opt(exception=exc).error("final resume save failed: {!r}", exc)
        if scope.cancelled_caught:
            _log.error("final resume save did not finish within {} s", _FINAL_SAVE_TIMEOUT)
        self._answer_the_rest()
        if clean:
            _log.info("stopped with every torrent's resume data saved")

    async def _final_save(self, *, after_crash: bool) -> bool:
        # What the pump delivered but nobody handled yet is handled; commands are refused.
        handler = self._handler
        handler.closing = True
        while True:
            try:
                message = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(message, AlertBatch):
                await self._handle(message)
            elif isinstance(message, CommandRequest):
                message.reply.set(outcome.Error(EngineUnavailable(_STOPPED)))
        batch = self._core.in_transit
        if batch is not None and not batch.handled.is_set():
            await self._handle(batch)
        clean = await final_save(self._core, handler, after_crash=after_crash)
        if clean:
            await self._core.store.mark_clean()
        return clean

    def _answer_the_rest(self) -> None:
        # Whoever still waits gets an answer now, whatever happened before.
        unavailable = outcome.Error(EngineUnavailable(_STOPPED))
        if self._current is not None:
            self._current.set(unavailable)
        for pending in self._core.adding.values():
            if pending.group is not None:
                pending.group.fail_open(EngineUnavailable(_STOPPED))
        self._core.adding.clear()
        self._send.close()
        while True:
            try:
                message = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(message, CommandRequest):
                message.reply.set(unavailable)
        self._inbox.close()

    # -- the inbox ---------------------------------------------------------------------------

    async def _handle(self, message: Inbound) -> None:
        match message:
            case CommandRequest():
                with bound_request_id(message.request_id):
                    await self._command(message)
            case AlertBatch():
                try:
                    await self._handler.handle(message.records)
                finally:
                    message.handled.set()
            case FlushProgress():
                self._core.progress.flush(trio.current_time(), self._core.state.entries)
            case SaveDue():
                entries = [e for e in self._core.state.entries.values() if not e.pending_saves]
                # A finished torrent whose final blob could not be stored: ask again, always.
                await self._core.ask_resume([e for e in entries if e.completing])
                await self._core.ask_resume(
                    [e for e in entries if not e.completing and worth_saving(e)],
                    only_if_modified=True,
                )
            case ApplySettings():
                await self._apply(message.snapshot)
            case _:
                assert_never(message)

    async def _command(self, request: CommandRequest) -> None:
        reply, name = request.reply, type(request.command).__name__
        if reply.abandoned:
            _log.debug("dropped {}: its caller stopped waiting", name)
            return
        # Kept while the command runs: if the actor is cancelled meanwhile, the wind-down
        # answers it (so it is deliberately not cleared in a ``finally``).
        self._current = reply
        started = trio.current_time()
        try:
            result = await execute(self._core, request.command, reply)
        except RevaerError as exc:
            # Refused (bad input, unknown torrent, conflict, store unavailable): nothing changed.
            _log.debug("{} refused: {}", name, exc)
            reply.set(outcome.Error(exc))
        except Exception as exc:
            # A bug or a libtorrent failure half way: restart from what is stored. The caller
            # learns what libtorrent said.
            reply.set(
                outcome.Error(
                    EngineUnavailable(
                        f"the torrent engine failed ({exc or type(exc).__name__}); "
                        "it restarts from what is stored",
                        headers={"retry-after": "1"},
                    )
                )
            )
            raise
        else:
            if result is not DEFERRED:
                reply.set(outcome.Value(result))
            # One line per change an operator (or an *arr app) asked for, carrying its request
            # id; reads (Inspect) stay at debug so a polling dashboard does not flood the log.
            level = "DEBUG" if isinstance(request.command, Inspect) else "INFO"
            _log.log(level, "{} handled in {:.1f} ms", name, (trio.current_time() - started) * 1000)
        self._current = None

    async def _apply(self, snapshot: ConfigSnapshot) -> None:
        actor = self._actor
        wanted = actor._settings(snapshot)
        changed = {k: v for k, v in wanted.items() if self._applied.get(k) != v}
        if changed:
            await self._core.lt(self._core.session.apply_settings, changed)
            self._applied.update(changed)
            _log.info("applied engine settings: {}", sorted(changed))
        actor._check_guardrails(snapshot)

    # -- helper tasks (they only send messages or make libtorrent calls) ---------------------

    async def _tick(self, inbox: trio.MemorySendChannel[Inbound]) -> None:
        timing, core = self._actor._timing, self._core
        async with inbox:
            # Statuses of thousands of torrents in the middle of a restore would only slow it.
            await core.restored.wait()
            next_save = trio.current_time() + timing.resume_interval
            while True:
                await core.lt(core.session.post_torrent_updates)
                with contextlib.suppress(trio.WouldBlock):  # a busy session flushes next time
                    inbox.send_nowait(FlushProgress())
                # Statuses change only while something transfers or checks: with every torrent
                # paused, ask rarely (idle CPU), and speed up the moment one becomes active.
                active = core.state.active() > 0
                with trio.move_on_after(timing.update_interval if active else timing.idle_interval):
                    await core.became_active.wait()
                if trio.current_time() >= next_save:
                    next_save = trio.current_time() + timing.resume_interval
                    with contextlib.suppress(trio.WouldBlock):  # busy: the next one will do
                        inbox.send_nowait(SaveDue())

    async def _follow_settings(self, inbox: trio.MemorySendChannel[Inbound]) -> None:
        snapshots = self._actor._snapshots
        version = self._settings_version  # a change made while restoring is applied too
        async with inbox:
            while True:
                version, snapshot = await snapshots.wait_newer(version)
                await inbox.send(ApplySettings(snapshot=snapshot))


def _only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation (possibly grouped), not a crash."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)
