"""The engine subtree: the session actor, with its alert pump, ticker and progress coalescer.

``Engine.run_when_active`` is the daemon's ``engine`` child: ready at once, it runs the engine
supervisor once the instance is active. An engine that cannot run (a resume directory it cannot
read, a session that keeps crashing) never takes the daemon down: ``engine`` shows as failed
with the reason, and it is tried again with a capped backoff, or at once when the
configuration changes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.events import EventBus, Publisher, TorrentCatalog
from revaer.runtime import Backoff, ChildSpec, HealthRegistry, Supervisor, Watched, describe
from revaer.telemetry import Metrics
from revaer.torrent._alerts import ResumePolicy
from revaer.torrent._handle import EngineHandle
from revaer.torrent._lt import LtSession
from revaer.torrent._resume import ResumeStore
from revaer.torrent._session import SessionActor, SessionFactory, SessionTiming
from revaer.torrent._state import EngineState

__all__ = ["Engine", "EngineTuning"]

_log = logger.bind(actor="engine")
StoreFactory = Callable[..., ResumeStore]


def _default_store(directory: Path, *, health: HealthRegistry) -> ResumeStore:
    return ResumeStore(directory, health=health)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineTuning:
    """Knobs tests and benchmarks turn; defaults suit production.

    ``session_factory`` and ``store_factory`` are the seams tests use to inject faults: they
    build the libtorrent session (from a settings dict) and the resume store.
    """

    extra_settings: Mapping[str, Any] | None = None
    coalesce_interval: float = 0.1
    idle_update_interval: float = 1.0
    resume_interval: float = 30.0
    resume_progress_seconds: float = 5.0
    resume_progress_bytes: int = 64 * 1024 * 1024
    resume_progress_min_gap: float = 1.0
    command_queue: int = 64
    command_timeout: float = 30.0
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.25, maximum=10.0))
    """Between restarts of the session (5 within 60 s, then the engine fails)."""
    start_backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=60.0))
    """Between attempts to run an engine that failed."""
    session_factory: SessionFactory = LtSession
    store_factory: StoreFactory = _default_store


class Engine:
    """Owns the engine's state and channels; builds its supervisor on demand."""

    def __init__(
        self,
        *,
        snapshots: Watched[ConfigSnapshot],
        bus: EventBus,
        health: HealthRegistry,
        on_restart: Callable[[str], None] = lambda _name: None,
        on_guardrail: Callable[[str], None] = lambda _kind: None,
        tuning: EngineTuning | None = None,
        metrics: Metrics | None = None,
        catalog: TorrentCatalog | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.tuning = tuning or EngineTuning()
        self.state = EngineState()
        self.handle = EngineHandle(self.state, timeout=self.tuning.command_timeout)
        self.publisher = publisher or Publisher(bus, [catalog] if catalog is not None else [])
        """Every engine event goes through it: the catalog sees each one before the bus."""
        self._catalog = catalog
        self._metrics = metrics
        self._snapshots = snapshots
        self._health = health
        self._on_restart = on_restart
        self._on_guardrail = on_guardrail
        self._rng = random.Random()  # noqa: S311 -- backoff jitter only

    def supervisor(self, resume_dir: Path) -> Supervisor:
        """The engine's supervisor: the session (its pump, ticker and coalescer inside)."""
        tuning = self.tuning
        store = tuning.store_factory(resume_dir, health=self._health)
        session = SessionActor(
            state=self.state,
            store=store,
            publisher=self.publisher,
            snapshots=self._snapshots,
            health=self._health,
            timing=SessionTiming(
                update_interval=tuning.coalesce_interval,
                idle_interval=tuning.idle_update_interval,
                resume_interval=tuning.resume_interval,
                resume_policy=ResumePolicy(
                    every_seconds=tuning.resume_progress_seconds,
                    every_bytes=tuning.resume_progress_bytes,
                    min_gap=tuning.resume_progress_min_gap,
                ),
                inbox_size=tuning.command_queue + 8,
            ),
            catalog=self._catalog,
            factory=tuning.session_factory,
            on_guardrail=self._on_guardrail,
            extra_settings=tuning.extra_settings,
            metrics=self._metrics,
        )
        backoff = tuning.backoff
        children = [
            # Its final resume save takes at most 10 s, its session close a little more.
            ChildSpec(name="session", start=session.run, backoff=backoff, shutdown_timeout=20),
        ]
        return Supervisor("engine", children, health=self._health, on_restart=self._on_restart)

    async def run_when_active(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Ready at once; runs the engine while the instance is active, retrying failures."""
        task_status.started()
        version = -1
        failures = 0
        while True:
            version, snapshot = await self._active(version)
            resume_dir = Path(snapshot.engine_profile["resume_dir"])
            _log.info("instance active; starting the torrent engine (resume_dir {})", resume_dir)
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.supervisor(resume_dir).run)
                    self._health.ok("engine")
                    failures = 0
            except Exception as exc:  # noqa: BLE001 -- any failure: report, wait, try again
                delay = self.tuning.start_backoff.delay(failures, self._rng)
                failures += 1
                reason = f"the torrent engine cannot run: {_cause(exc)}; retrying in {delay:.0f} s"
                _log.error("{}", reason)
                self._health.failed("engine", reason)
                # Sooner when the configuration changes: it may be the fix.
                with trio.move_on_after(delay):
                    version, _ = await self._snapshots.wait_newer(version)
                version = -1  # re-read the current snapshot either way

    async def _active(self, version: int) -> tuple[int, ConfigSnapshot]:
        while True:
            if version < 0:
                version, snapshot = self._snapshots.version, self._snapshots.value
            else:
                version, snapshot = await self._snapshots.wait_newer(version)
            if snapshot.mode == "active" and snapshot.engine_profile.get("resume_dir"):
                return version, snapshot


def _cause(exc: BaseException) -> str:
    """What made the engine fail: the escalation and the error behind it."""
    text = describe(exc)
    cause = exc.__cause__
    if cause is None and isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        cause = exc.exceptions[0].__cause__
    if cause is not None:
        text = f"{text} (last error: {describe(cause)})"
    return text
