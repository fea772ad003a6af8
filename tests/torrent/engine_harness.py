"""Run the engine subtree on loopback for tests: snapshot, bus, supervisor, event log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import trio

from revaer.config import ConfigSnapshot
from revaer.events import Event, EventBus, Subscription
from revaer.runtime import HealthRegistry, Watched
from revaer.torrent import Engine, EngineTuning
from revaer.types import Revision

# Loopback only: TCP, no discovery, a fast tick so peers are dialled promptly.
TEST_SETTINGS = {
    "allow_multiple_connections_per_ip": True,
    "tick_interval": 100,
}


def engine_profile(root: Path, **overrides: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "implementation": "libtorrent",
        "listen_port": None,
        "listen_interfaces": ["127.0.0.1:0"],
        "dht": False,
        "lsd": False,
        "upnp": False,
        "natpmp": False,
        "utp": False,
        "encryption": "prefer",
        "max_active": None,
        "max_download_bps": 500_000_000,
        "max_upload_bps": 500_000_000,
        "max_connections": None,
        "sequential_default": False,
        "resume_dir": str(root / "resume"),
        "download_root": str(root / "downloads"),
        "tracker": {},
    }
    profile.update(overrides)
    return profile


def snapshot(root: Path, revision: int = 1, **overrides: Any) -> ConfigSnapshot:
    return ConfigSnapshot(
        revision=Revision(revision),
        app_profile=MappingProxyType({"mode": "active", "instance_name": "test"}),
        engine_profile=MappingProxyType(engine_profile(root, **overrides)),
        fs_policy=MappingProxyType({}),
        api_keys=(),
        secret_names=(),
    )


def change_profile(snapshots: Watched[ConfigSnapshot], **changes: Any) -> None:
    current = snapshots.value
    snapshots.set(
        replace(
            current,
            revision=Revision(current.revision + 1),
            engine_profile=MappingProxyType({**current.engine_profile, **changes}),
        )
    )


@dataclass
class EventLog:
    """Every event since the log opened, and a way to wait for one."""

    subscription: Subscription
    events: list[Event] = field(default_factory=list)
    _arrived: trio.Event = field(default_factory=trio.Event)

    async def collect(self) -> None:
        async for event in self.subscription:
            self.events.append(event)
            self._arrived.set()
            self._arrived = trio.Event()

    async def wait_for(
        self,
        kind: str,
        torrent_id: str | None = None,
        *,
        where: Callable[[Any], bool] = lambda _payload: True,
        timeout: float = 30,
    ) -> Event:
        """The first event of ``kind`` (for ``torrent_id``) whose payload satisfies ``where``."""
        with trio.fail_after(timeout):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    payload: Any = event.payload
                    if (
                        event.kind == kind
                        and (
                            torrent_id is None or getattr(payload, "torrent_id", None) == torrent_id
                        )
                        and where(payload)
                    ):
                        return event
                seen = len(self.events)
                await self._arrived.wait()

    def of(self, torrent_id: str, kind: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if getattr(e.payload, "torrent_id", None) == torrent_id
            and (kind is None or e.kind == kind)
        ]


@dataclass
class RunningEngine:
    engine: Engine
    bus: EventBus
    health: HealthRegistry
    snapshots: Watched[ConfigSnapshot]
    log: EventLog
    restarts: list[str]
    root: Path


@asynccontextmanager
async def running_engine(
    root: Path, *, tuning: EngineTuning | None = None, **profile: Any
) -> AsyncIterator[RunningEngine]:
    snapshots = Watched(snapshot(root, **profile))
    bus = EventBus()
    health = HealthRegistry()
    restarts: list[str] = []
    engine = Engine(
        snapshots=snapshots,
        bus=bus,
        health=health,
        on_restart=restarts.append,
        tuning=tuning or EngineTuning(extra_settings=TEST_SETTINGS),
    )
    log = EventLog(bus.subscribe(queue_size=100_000))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(log.collect)
        await nursery.start(engine.run_when_active)
        with trio.fail_after(10):
            while not engine.handle.running:
                await trio.sleep(0.01)
        yield RunningEngine(engine, bus, health, snapshots, log, restarts, root)
        nursery.cancel_scope.cancel()
