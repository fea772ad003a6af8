"""What the HTTP layer needs from the rest of the daemon, passed in (never global)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from revaer.api._auth import ApiKeyVerifier
from revaer.api._ratelimit import RateLimiter
from revaer.api._sse import StreamHub
from revaer.api._usage import KeyUsage
from revaer.config import ConfigService, ConfigSnapshot, SetupService
from revaer.events import EventBus, EventJournal, TorrentCatalog
from revaer.fsops import FsPipeline
from revaer.runtime import HealthRegistry, Watched
from revaer.telemetry import Metrics
from revaer.torrent import EngineHandle

__all__ = ["ApiDeps"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiDeps:
    """Services and shared state the routes use."""

    config: ConfigService
    setup: SetupService
    snapshots: Watched[ConfigSnapshot]
    health: HealthRegistry
    metrics: Metrics
    verifier: ApiKeyVerifier
    limiter: RateLimiter
    usage: KeyUsage
    bus: EventBus
    journal: EventJournal
    catalog: TorrentCatalog
    engine: EngineHandle
    fsops: FsPipeline
    streams: StreamHub = field(default_factory=StreamHub)
    sse_queue_size: int = 65_536
    cursor_key: bytes = field(default_factory=lambda: os.urandom(32))
    """Signs list cursors: they are valid until the daemon restarts."""
    build_sha: str = "unknown"
    version: str = "0.0.0"
    started_at: float = field(default_factory=time.time)

    def publish(self, snapshot: ConfigSnapshot) -> None:
        """Read-your-writes: publish a snapshot this process just committed.

        The caller's next request sees the change even before the watcher's NOTIFY round
        trip; the watcher publishes the same revision again as a no-op.
        """
        if snapshot.revision > self.snapshots.value.revision:
            self.snapshots.set(snapshot)
