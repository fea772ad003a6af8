"""Run the engine subtree on loopback for tests: snapshot, bus, supervisor, event log."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import libtorrent as lt
import trio

from revaer.config import ConfigSnapshot
from revaer.events import Event, EventBus, Subscription, TorrentCatalog
from revaer.runtime import HealthRegistry, Watched
from revaer.torrent import Engine, EngineTuning
from revaer.types import Revision

# Loopback only: TCP, no discovery, a fast tick so peers are dialled promptly. Without
# bootstrap nodes a test that turns DHT on never looks up the public DHT routers.
TEST_SETTINGS = {
    "allow_multiple_connections_per_ip": True,
    "tick_interval": 100,
    "dht_bootstrap_nodes": "",
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

    async def wait_beyond(self, seen: int) -> None:
        """Until more than ``seen`` events are logged."""
        while len(self.events) <= seen:
            await self._arrived.wait()

    def of(self, torrent_id: str, kind: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if getattr(e.payload, "torrent_id", None) == torrent_id
            and (kind is None or e.kind == kind)
        ]


def tiny_metainfo(index: int) -> bytes:
    """A distinct single-piece .torrent with no payload on disk (for adds that never transfer)."""
    info: Any = {
        b"name": f"tiny-{index:05d}.bin".encode(),
        b"piece length": 16 * 1024,
        b"length": 16 * 1024,
        b"pieces": os.urandom(20),
    }
    return bytes(lt.bencode({b"info": info}))


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], *, timeout: float = 20, what: str = ""
) -> None:
    """Poll ``predicate`` (sync or async) until it holds; fail after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await trio.sleep(0.02)


async def wait_running(engine: Engine, *, timeout: float = 20) -> None:
    """Until the engine accepts commands (after a start or a restart)."""
    await wait_until(lambda: engine.handle.running, timeout=timeout, what="engine running")


@dataclass
class RunningEngine:
    engine: Engine
    bus: EventBus
    health: HealthRegistry
    snapshots: Watched[ConfigSnapshot]
    log: EventLog
    restarts: list[str]
    root: Path
    catalog: TorrentCatalog


@asynccontextmanager
async def running_engine(
    root: Path,
    *,
    tuning: EngineTuning | None = None,
    catalog: TorrentCatalog | None = None,
    wait: bool = True,
    log: bool = True,
    **profile: Any,
) -> AsyncIterator[RunningEngine]:
    """The engine subtree on a loopback profile, with an in-memory catalog it feeds.

    With ``wait`` (the default) the engine accepts commands when this yields. Without ``log``
    nothing keeps the events (benchmarks measuring memory).
    """
    snapshots = Watched(snapshot(root, **profile))
    bus = EventBus()
    health = HealthRegistry()
    restarts: list[str] = []
    catalog = catalog if catalog is not None else TorrentCatalog()
    engine = Engine(
        snapshots=snapshots,
        bus=bus,
        health=health,
        on_restart=restarts.append,
        tuning=tuning or EngineTuning(extra_settings=TEST_SETTINGS),
        catalog=catalog,
    )
    events = EventLog(bus.subscribe(queue_size=1_000_000 if log else 1))
    async with trio.open_nursery() as nursery:
        if log:
            nursery.start_soon(events.collect)
        await nursery.start(engine.run_when_active)
        if wait:
            await wait_running(engine)
        yield RunningEngine(engine, bus, health, snapshots, events, restarts, root, catalog)
        nursery.cancel_scope.cancel()
