"""Downloads through the running engine subtree from the loopback seeder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import trio

from revaer.torrent import AddTorrent
from tests.harness import Seeder, TorrentFile, same_tree
from tests.torrent.engine_harness import running_engine
from tests.torrent.faults import Faults

pytestmark = pytest.mark.integration


def max_progress_per_second(times: list[float]) -> int:
    """The most events inside any one-second window."""
    best = 0
    start = 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_a_torrent_file_downloads_byte_identical(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    async with running_engine(tmp_path / "engine") as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data))
        await handle.connect_peer(added.torrent_id, *seeder.endpoint)
        await run.log.wait_for("completed", added.torrent_id)
        await run.log.wait_for(
            "state_changed", added.torrent_id, where=lambda p: p.state == "seeding"
        )
        await run.log.wait_for(
            "progress", added.torrent_id, where=lambda p: p.bytes_done == p.bytes_total > 0
        )
        downloaded = tmp_path / "engine" / "downloads" / payload.name
        assert same_tree(payload, downloaded)
        kinds = [e.kind for e in run.log.of(added.torrent_id)]
        assert (
            kinds.index("torrent_added")
            < kinds.index("files_discovered")
            < kinds.index("completed")
        )
        assert "progress" in kinds
        times = [e.at.timestamp() for e in run.log.of(added.torrent_id, "progress")]
        assert max_progress_per_second(times) <= 10


async def test_a_magnet_fetches_metadata_from_the_seeder(
    tmp_path: Path, payload: Path, torrent_hybrid: TorrentFile, seeder: Seeder
) -> None:
    async with running_engine(tmp_path / "engine") as run:
        magnet = torrent_hybrid.magnet(peer=seeder.endpoint)
        added = await run.engine.handle.add(AddTorrent(magnet=magnet))
        await run.log.wait_for("completed", added.torrent_id)
        assert same_tree(payload, tmp_path / "engine" / "downloads" / payload.name)
        counts = Counter(e.kind for e in run.log.of(added.torrent_id))
        assert counts["files_discovered"] == 1 and counts["completed"] == 1


async def test_an_idle_engine_asks_for_statuses_rarely_and_wakes_for_activity(
    tmp_path: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    faults = Faults()
    tuning = faults.tuning(idle_update_interval=1.0)  # the product's default
    async with running_engine(tmp_path / "engine", tuning=tuning) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data, paused=True))
        await run.log.wait_for(
            "state_changed", added.torrent_id, where=lambda p: p.state == "paused"
        )
        asked = _updates(faults)
        await trio.sleep(2.5)  # what is measured here is a rate over time
        idle = _updates(faults) - asked
        assert idle <= 4, f"{idle} status requests in 2.5 s with every torrent paused"
        resumed = _updates(faults)
        await handle.resume(added.torrent_id)
        await run.log.wait_for(
            "state_changed", added.torrent_id, where=lambda p: p.state == "downloading"
        )
        # Statuses follow at the active rate at once, not after the idle interval.
        with trio.fail_after(0.8):
            while _updates(faults) < resumed + 3:
                await trio.sleep(0.02)
        await handle.connect_peer(added.torrent_id, *seeder.endpoint)
        await run.log.wait_for("completed", added.torrent_id)


def _updates(faults: Faults) -> int:
    return sum(1 for name, _ in faults.calls if name == "post_torrent_updates")
