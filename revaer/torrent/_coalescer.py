"""The progress coalescer: at most 10 progress events per second per torrent, latest wins.

The session actor hands it the statuses of the torrents that changed (without waiting: a full
queue drops a batch, the next one is newer). It publishes ``progress`` from the latest status
of each torrent, at most once per interval, and counts payload bytes. It reads engine state
(to skip torrents that are gone) and writes none: it touches neither libtorrent nor the store.
"""

from __future__ import annotations

import trio

from revaer.events import Progress, Publisher
from revaer.telemetry import Metrics
from revaer.torrent._core import ProgressBatch
from revaer.torrent._records import StatusRecord
from revaer.torrent._state import EngineState

__all__ = ["ProgressCoalescer"]


def _progress(torrent_id: str, st: StatusRecord) -> Progress:
    remaining = max(st.total_wanted - st.total_done, 0)
    rate = st.download_rate
    downloaded = max(st.all_time_download, st.total_done)
    return Progress(
        torrent_id=torrent_id,
        bytes_done=st.total_done,
        bytes_total=st.total_wanted,
        download_bps=st.download_rate,
        upload_bps=st.upload_rate,
        eta_seconds=(remaining // rate if rate > 0 else None) if remaining else 0,
        peers=st.num_peers,
        seeds=st.num_seeds,
        ratio=round(st.all_time_upload / downloaded, 4) if downloaded else 0.0,
    )


class ProgressCoalescer:
    """Turns statuses into ``progress`` events, at most one per torrent per ``interval``."""

    def __init__(
        self,
        *,
        state: EngineState,
        publisher: Publisher,
        samples: trio.MemoryReceiveChannel[ProgressBatch],
        interval: float = 0.1,
        metrics: Metrics | None = None,
    ) -> None:
        self._state = state
        self._publisher = publisher
        self._samples = samples
        self._interval = interval
        self._metrics = metrics
        self._latest: dict[str, StatusRecord] = {}
        self._wake = trio.Event()
        self._last_emit: dict[str, float] = {}
        self._transferred: dict[str, tuple[int, int]] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Coalesce until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect)
            task_status.started()
            while True:
                await self._wake.wait()  # asleep while nothing changes
                self._flush()
                if not self._latest:
                    self._wake = trio.Event()
                await trio.sleep(self._interval)

    async def _collect(self) -> None:
        async for batch in self._samples:
            for torrent_id, status in batch.samples:
                self._latest[torrent_id] = status  # latest wins
            self._wake.set()

    def _flush(self) -> None:
        now = trio.current_time()
        pending, self._latest = self._latest, {}
        entries = self._state.entries
        for torrent_id, status in pending.items():
            if torrent_id not in entries:
                # Removed meanwhile: no progress after torrent_removed.
                self._last_emit.pop(torrent_id, None)
                self._transferred.pop(torrent_id, None)
                continue
            if now - self._last_emit.get(torrent_id, -1.0) < self._interval:
                self._latest.setdefault(torrent_id, status)  # too soon: keep it for next tick
                continue
            self._last_emit[torrent_id] = now
            self._publisher.publish(_progress(torrent_id, status))
            self._count_bytes(torrent_id, status)

    def _count_bytes(self, torrent_id: str, status: StatusRecord) -> None:
        if self._metrics is None:
            return
        before_in, before_out = self._transferred.get(torrent_id, (0, 0))
        now_in, now_out = status.all_time_download, status.all_time_upload
        # A restored torrent starts from its stored totals: count only what moved since.
        if torrent_id in self._transferred:
            self._metrics.engine_bytes_in.inc(max(now_in - before_in, 0))
            self._metrics.engine_bytes_out.inc(max(now_out - before_out, 0))
        self._transferred[torrent_id] = (now_in, now_out)
