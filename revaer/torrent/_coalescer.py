"""The progress coalescer: at most one progress event per torrent per interval, latest wins.

It is part of the session actor (used only from its task, like the rest of the engine state):
the session offers it the statuses of the torrents that changed, and flushes it at every tick,
publishing ``progress`` from the latest status of each torrent at most once per interval —
at most 10 per second per torrent with the default 0.1 s. Being the session's, it publishes in
order with the session's other events: a removed torrent's pending status is dropped with it,
and a finished torrent's stale one before ``completed``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from revaer.events import Progress, Publisher
from revaer.telemetry import Metrics
from revaer.torrent._records import StatusRecord

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
    """Latest status per torrent; ``flush`` turns them into ``progress`` events, rate-limited."""

    def __init__(
        self, *, publisher: Publisher, interval: float = 0.1, metrics: Metrics | None = None
    ) -> None:
        self._publisher = publisher
        self._interval = interval
        self._metrics = metrics
        self._latest: dict[str, StatusRecord] = {}
        self._last_emit: dict[str, float] = {}
        self._transferred: dict[str, tuple[int, int]] = {}

    def offer(self, samples: Iterable[tuple[str, StatusRecord]]) -> None:
        """Keep the latest status of each torrent (an older one waiting is replaced)."""
        self._latest.update(samples)

    def forget(self, torrent_id: str) -> None:
        """Drop what waits for ``torrent_id`` (removed, or its pending status is stale)."""
        self._latest.pop(torrent_id, None)
        self._last_emit.pop(torrent_id, None)

    def flush(self, now: float, live: Container[str]) -> None:
        """Publish what waits, at most once per interval per torrent, for torrents in ``live``."""
        pending, self._latest = self._latest, {}
        for torrent_id, status in pending.items():
            if torrent_id not in live:
                self._transferred.pop(torrent_id, None)
                continue
            if now - self._last_emit.get(torrent_id, -1.0) < self._interval:
                self._latest[torrent_id] = status  # too soon: keep it for the next flush
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
            self._metrics.downloaded_bytes.inc(max(now_in - before_in, 0))
            self._metrics.uploaded_bytes.inc(max(now_out - before_out, 0))
        self._transferred[torrent_id] = (now_in, now_out)
