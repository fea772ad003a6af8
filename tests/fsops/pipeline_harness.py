"""The pipeline actor on real PostgreSQL and real files, fed by events instead of libtorrent.

``running_pipeline`` starts :class:`FsPipeline` with a real bus, catalog and job store; a test
lays files out under ``downloads``, then ``complete`` publishes the events the engine would
(added, files discovered, completed) so the pipeline takes the torrent as after a download.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from revaer.auth import SecretBox
from revaer.config import ConfigService, ConfigSnapshot
from revaer.db import Database
from revaer.events import (
    Completed,
    EventBus,
    FileInfo,
    FilesDiscovered,
    Publisher,
    Subscription,
    TorrentAdded,
    TorrentCatalog,
)
from revaer.fsops import EngineMoves, FsPipeline, PipelineIntake
from revaer.runtime import HealthRegistry, Watched
from revaer.telemetry import Metrics

__all__ = ["PipelineHarness", "running_pipeline"]


@dataclass
class PipelineHarness:
    root: Path
    pipeline: FsPipeline
    publisher: Publisher
    health: HealthRegistry
    metrics: Metrics
    snapshots: Watched[ConfigSnapshot]
    config: ConfigService
    catalog: TorrentCatalog

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def library(self) -> Path:
        return self.root / "library"

    def subscribe(self) -> Subscription:
        return self.publisher.bus.subscribe(queue_size=10_000)

    def complete(
        self,
        name: str,
        files: Mapping[str, int],
        *,
        save_path: Path | None = None,
        tags: tuple[str, ...] = (),
    ) -> str:
        """Announce a finished torrent whose files (path → size) are already on disk."""
        torrent_id = str(uuid.uuid4())
        where = str(save_path or self.downloads)
        self.publisher.publish(
            TorrentAdded(torrent_id=torrent_id, info_hash=uuid.uuid4().hex + "00000000",
                         name=name, download_dir=where, tags=tags)
        )  # fmt: skip
        infos = tuple(
            FileInfo(index=i, path=p, size=s, priority=4) for i, (p, s) in enumerate(files.items())
        )
        self.publisher.publish(
            FilesDiscovered(torrent_id=torrent_id, name=name, total_size=sum(files.values()),
                            piece_length=16384, files=infos)
        )  # fmt: skip
        self.publisher.publish(Completed(torrent_id=torrent_id, save_path=where, name=name))
        return torrent_id

    async def outcome(self, events: Subscription, torrent_id: str, timeout: float = 30) -> Any:
        """The payload of the torrent's ``fsops_completed`` or ``fsops_failed`` event."""
        with trio.fail_after(timeout):
            async for event in events:
                payload = event.payload
                if getattr(payload, "torrent_id", None) == torrent_id and payload.kind in (
                    "fsops_completed",
                    "fsops_failed",
                ):
                    return payload
        raise AssertionError("the bus closed")

    async def set_policy(self, **fields: Any) -> None:
        result = await self.config.apply({"fs_policy": fields}, source="test")
        self.snapshots.set(result.snapshot)


async def _no_engine(_torrent_id: str, _download_dir: str) -> None:
    raise AssertionError("move mode needs the engine: use a daemon test")


@asynccontextmanager
async def running_pipeline(
    db: Database,
    root: Path,
    *,
    probe_interval: float = 30.0,
    catalog: TorrentCatalog | None = None,
    **policy: Any,
) -> AsyncIterator[PipelineHarness]:
    """The pipeline actor with ``library_root`` and ``download_root`` under ``root``."""
    (root / "downloads").mkdir(parents=True, exist_ok=True)
    config = ConfigService(db, SecretBox(bytes(range(32))))
    await config.apply(
        {
            "engine_profile": {"download_root": str(root / "downloads")},
            "fs_policy": {"library_root": str(root / "library")} | policy,
        },
        source="test",
    )
    snapshots = Watched(await config.load())
    bus = EventBus()
    catalog = catalog if catalog is not None else TorrentCatalog()
    intake = PipelineIntake()
    publisher = Publisher(bus, [catalog, intake], state_of=catalog.state_of)
    health = HealthRegistry()
    metrics = Metrics()
    pipeline = FsPipeline(
        db, snapshots, publisher, catalog, intake, EngineMoves(_no_engine),
        health=health, metrics=metrics, probe_interval=probe_interval,
    )  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run)
        yield PipelineHarness(
            root=root, pipeline=pipeline, publisher=publisher, health=health,
            metrics=metrics, snapshots=snapshots, config=config, catalog=catalog,
        )  # fmt: skip
        nursery.cancel_scope.cancel()
