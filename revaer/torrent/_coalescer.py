"""The progress coalescer: at most 10 progress events per second per torrent, latest wins.

It asks libtorrent for the changed torrents (``post_torrent_updates``) every tick; the pump
hands the answer over without waiting (a full channel just drops an update, since the next
one is newer). State changes are derived from the same statuses.
"""

from __future__ import annotations

import trio
from loguru import logger

from revaer.events import EventBus, Progress, StateChanged, TorrentState
from revaer.telemetry import Metrics
from revaer.torrent._lt import LtTorrent
from revaer.torrent._records import StateUpdate, StatusRecord
from revaer.torrent._state import EngineState, TorrentEntry

__all__ = ["ProgressCoalescer", "derive_state", "publish_state", "state_of"]

_log = logger.bind(actor="progress_coalescer")

_LT_STATES = {
    "checking_files": TorrentState.CHECKING,
    "checking_resume_data": TorrentState.CHECKING,
    "downloading_metadata": TorrentState.FETCHING_METADATA,
    "downloading": TorrentState.DOWNLOADING,
    "finished": TorrentState.SEEDING,
    "seeding": TorrentState.SEEDING,
}


_ACTIVE = frozenset(
    {
        TorrentState.CHECKING,
        TorrentState.FETCHING_METADATA,
        TorrentState.DOWNLOADING,
        TorrentState.SEEDING,
    }
)


def state_of(lt_state: str) -> TorrentState:
    """The user-facing state for one of libtorrent's states (when not paused)."""
    return _LT_STATES.get(lt_state, TorrentState.DOWNLOADING)


def derive_state(status: StatusRecord) -> TorrentState:
    """The user-facing state of a libtorrent status."""
    if status.error:
        return TorrentState.ERROR
    if status.moving_storage:
        return TorrentState.MOVING
    if status.paused:
        return TorrentState.QUEUED if status.auto_managed else TorrentState.PAUSED
    return state_of(status.lt_state)


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


def publish_state(bus: EventBus, entry: TorrentEntry, state: TorrentState) -> None:
    """Publish ``state_changed`` when ``state`` differs from the last one published."""
    if state != entry.state:
        bus.publish(
            StateChanged(torrent_id=entry.meta.torrent_id, state=state, previous=entry.state)
        )
        entry.state = state


class ProgressCoalescer:
    """Turns status updates into ``progress`` and ``state_changed`` events."""

    def __init__(
        self,
        *,
        state: EngineState,
        bus: EventBus,
        updates: trio.MemoryReceiveChannel[StateUpdate],
        interval: float = 0.1,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._transferred: dict[str, tuple[int, int]] = {}
        self._state = state
        self._bus = bus
        self._updates = updates
        self._interval = interval
        self._latest: dict[LtTorrent, StatusRecord] = {}
        self._last_emit: dict[str, float] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Coalesce until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect)
            task_status.started()
            while True:
                session = self._state.session
                if session is not None:
                    session.post_torrent_updates()
                await trio.sleep(self._interval)
                self._flush()

    async def _collect(self) -> None:
        async for update in self._updates:
            for status in update.statuses:
                self._latest[status.ref] = status  # latest wins

    def _flush(self) -> None:
        now = trio.current_time()
        pending = self._latest
        self._latest = {}
        for ref, status in pending.items():
            torrent_id = self._state.by_ref.get(ref)
            entry = self._state.entries.get(torrent_id) if torrent_id else None
            if entry is None or torrent_id is None:
                continue
            publish_state(self._bus, entry, derive_state(status))
            if now - self._last_emit.get(torrent_id, -1.0) < self._interval:
                self._latest.setdefault(ref, status)  # too soon: keep it for the next tick
                continue
            self._last_emit[torrent_id] = now
            self._bus.publish(_progress(torrent_id, status))
            self._count_bytes(torrent_id, status)
        if self._metrics is not None:
            self._metrics.active_torrents.set(
                sum(1 for e in self._state.entries.values() if e.state in _ACTIVE)
            )

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
