"""The engine subtree: session actor → alert pump → progress coalescer → resume writer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.events import EventBus, TorrentCatalog
from revaer.runtime import Backoff, ChildSpec, HealthRegistry, Supervisor, Watched
from revaer.telemetry import Metrics
from revaer.torrent._coalescer import ProgressCoalescer
from revaer.torrent._handle import CommandEnvelope, EngineHandle
from revaer.torrent._pump import AlertPump
from revaer.torrent._records import ResumeData, StateUpdate
from revaer.torrent._resume import ResumeStore
from revaer.torrent._resume_writer import ResumeWriter
from revaer.torrent._session import SessionActor
from revaer.torrent._state import EngineState

__all__ = ["Engine", "EngineTuning"]

_log = logger.bind(actor="engine")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineTuning:
    """Knobs tests and benchmarks turn; defaults suit production."""

    extra_settings: Mapping[str, Any] | None = None
    coalesce_interval: float = 0.1
    resume_interval: float = 30.0
    command_queue: int = 64
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.25, maximum=10.0))


class Engine:
    """Owns the engine's shared state and channels; builds its supervisor on demand."""

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
    ) -> None:
        self.tuning = tuning or EngineTuning()
        self.state = EngineState(catalog=catalog)
        self._metrics = metrics
        self._snapshots = snapshots
        self._bus = bus
        self._health = health
        self._on_restart = on_restart
        self._on_guardrail = on_guardrail
        send, self._commands = trio.open_memory_channel[CommandEnvelope](self.tuning.command_queue)
        self.handle = EngineHandle(self.state, send)
        self._updates_send, self._updates = trio.open_memory_channel[StateUpdate](16)
        self._resume_send, self._resume = trio.open_memory_channel[ResumeData](256)
        self.pump: AlertPump | None = None

    def supervisor(self, resume_dir: Path) -> Supervisor:
        """The engine's supervisor; each child restarts on its own, torrents survive."""
        store = ResumeStore(resume_dir, health=self._health)
        session = SessionActor(
            state=self.state,
            commands=self._commands,
            store=store,
            bus=self._bus,
            snapshots=self._snapshots,
            health=self._health,
            on_guardrail=self._on_guardrail,
            extra_settings=self.tuning.extra_settings,
        )
        self.pump = AlertPump(
            state=self.state,
            bus=self._bus,
            store=store,
            updates=self._updates_send,
            resume=self._resume_send,
        )
        coalescer = ProgressCoalescer(
            state=self.state,
            bus=self._bus,
            updates=self._updates,
            interval=self.tuning.coalesce_interval,
            metrics=self._metrics,
        )
        writer = ResumeWriter(
            state=self.state, store=store, blobs=self._resume, interval=self.tuning.resume_interval
        )
        backoff = self.tuning.backoff
        children = [
            ChildSpec(name="session", start=session.run, backoff=backoff, shutdown_timeout=15),
            ChildSpec(name="alert_pump", start=self.pump.run, backoff=backoff),
            ChildSpec(name="progress_coalescer", start=coalescer.run, backoff=backoff),
            ChildSpec(name="resume_store", start=writer.run, backoff=backoff),
        ]
        return Supervisor("engine", children, health=self._health, on_restart=self._on_restart)

    async def run_when_active(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Ready at once; starts the engine when the instance is (or becomes) active."""
        task_status.started()
        version = -1
        while True:
            version, snapshot = await self._snapshots.wait_newer(version)
            resume_dir = snapshot.engine_profile.get("resume_dir")
            if snapshot.mode == "active" and resume_dir:
                break
        _log.info("instance active; starting the torrent engine")
        await self.supervisor(Path(resume_dir)).run()
