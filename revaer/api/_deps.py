"""What the HTTP layer needs from the rest of the daemon, passed in (never global)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from revaer.api._auth import ApiKeyVerifier
from revaer.api._sse import StreamHub
from revaer.config import ConfigService, ConfigSnapshot, SetupService
from revaer.events import EventBus, EventJournal, TorrentCatalog
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
    bus: EventBus
    journal: EventJournal
    catalog: TorrentCatalog
    engine: EngineHandle
    streams: StreamHub = field(default_factory=StreamHub)
    sse_queue_size: int = 65_536
    cursor_key: bytes = field(default_factory=lambda: os.urandom(32))
    """Signs list cursors: they are valid until the daemon restarts."""
    max_upload_bytes: int = 32 << 20
    """Body limit of adds (base64 or multipart .torrent files); other bodies: max_body_bytes."""
    build_sha: str = "unknown"
    version: str = "0.0.0"
    started_at: float = field(default_factory=time.time)
    max_body_bytes: int = 1 << 20
