"""The config watcher: LISTEN for changes, poll while disconnected, publish new snapshots."""

from __future__ import annotations

import time

import trio
from loguru import logger

from revaer.config._service import ConfigService
from revaer.config._snapshot import ConfigSnapshot
from revaer.db import DatabaseUnavailable, QueryError
from revaer.runtime import HealthRegistry, Watched
from revaer.telemetry import Metrics

__all__ = ["CHANNEL", "ConfigWatcher"]

CHANNEL = "revaer_settings_changed"
_log = logger.bind(actor="config_watcher")


class ConfigWatcher:
    """Keeps ``snapshots`` current; a change reaches subscribers within milliseconds.

    While the LISTEN connection works, every NOTIFY triggers a re-read (plus a slow safety poll).
    When it is lost the watcher polls every ``poll_interval`` seconds and reconnects with
    backoff; after reconnecting it LISTENs first and then re-reads, so a change made during the
    gap is still delivered.
    """

    def __init__(
        self,
        service: ConfigService,
        snapshots: Watched[ConfigSnapshot],
        *,
        health: HealthRegistry,
        metrics: Metrics,
        name: str = "config_watcher",
        poll_interval: float = 5.0,
        idle_poll_interval: float = 30.0,
    ) -> None:
        self._service = service
        self.snapshots = snapshots
        self._health = health
        self._metrics = metrics
        self._name = name
        self._poll = poll_interval
        self._idle_poll = idle_poll_interval
        self._last_latency_ms: float | None = None
        self._listening = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch forever; ready once the first LISTEN is in place."""
        ready = False
        delay = 0.05
        while True:
            try:
                async with self._service.db.listen([CHANNEL]) as notes:
                    self._listening = True
                    await self._refresh(None)  # LISTEN first, then re-read
                    if not ready:
                        task_status.started()
                        ready = True
                    delay = 0.05
                    await self._follow(notes)
                reason = "LISTEN connection lost"
            except (DatabaseUnavailable, QueryError) as exc:
                reason = f"LISTEN failed: {exc}"
            self._listening = False
            self._metrics.config_update_failures_total.inc()
            self._health.degraded(self._name, reason, mode="polling", **self._details())
            _log.warning("{}; polling every {}s while reconnecting", reason, self._poll)
            await self._poll_once()
            await trio.sleep(delay)
            delay = min(self._poll, delay * 4)

    async def _follow(self, notes: trio.MemoryReceiveChannel[object]) -> None:
        while True:
            with trio.move_on_after(self._idle_poll):
                try:
                    note = await notes.receive()
                except trio.EndOfChannel:
                    return
                received = getattr(note, "received_at", time.monotonic())
                # Drain what queued up meanwhile: one re-read covers them all.
                while True:
                    try:
                        notes.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await self._refresh(received)
                continue
            await self._refresh(None)

    async def _poll_once(self) -> None:
        try:
            await self._refresh(None)
        except (DatabaseUnavailable, QueryError) as exc:
            self._metrics.config_update_failures_total.inc()
            _log.warning("configuration poll failed: {}", exc)

    async def _refresh(self, received_at: float | None) -> None:
        snapshot = await self._service.load()
        if snapshot.revision > self.snapshots.value.revision:  # never go back
            self.snapshots.set(snapshot)
            self._metrics.config_revision.set(int(snapshot.revision))
            _log.info("configuration revision {} in effect", snapshot.revision)
        if received_at is not None:
            latency = time.monotonic() - received_at
            self._last_latency_ms = latency * 1000.0
            self._metrics.config_watch_latency_seconds.observe(latency)
        if self._listening:
            self._health.ok(self._name, mode="listen", **self._details())

    def _details(self) -> dict[str, object]:
        return {
            "revision": int(self.snapshots.value.revision),
            "last_latency_ms": self._last_latency_ms,
        }
