"""The resume writer: stores resume data the pump receives and asks for it periodically."""

from __future__ import annotations

from functools import partial

import trio
from loguru import logger

from revaer.torrent._records import ResumeData
from revaer.torrent._resume import ResumeStore
from revaer.torrent._state import EngineState

__all__ = ["ResumeWriter"]

_log = logger.bind(actor="resume_store")


class ResumeWriter:
    """Writes resume blobs (atomically, via the store) and requests them every ``interval`` s."""

    def __init__(
        self,
        *,
        state: EngineState,
        store: ResumeStore,
        blobs: trio.MemoryReceiveChannel[ResumeData],
        interval: float = 30.0,
    ) -> None:
        self._state = state
        self._store = store
        self._blobs = blobs
        self._interval = interval

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._periodic)
            task_status.started()
            async for record in self._blobs:
                torrent_id = await self._state.lookup(record.ref)
                # A late blob for a removed torrent must not bring its files back.
                if torrent_id is not None and torrent_id in self._state.entries:
                    await self._store.save_resume(torrent_id, record.blob)

    async def _periodic(self) -> None:
        while True:
            await trio.sleep(self._interval)
            for entry in list(self._state.entries.values()):
                # libtorrent answers with "not modified" for torrents without changes.
                await trio.to_thread.run_sync(
                    partial(entry.ref.save_resume_data, only_if_modified=True)
                )
