"""Downloads through the running engine subtree from the loopback seeder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from revaer.torrent import AddTorrent
from tests.harness import Seeder, TorrentFile, same_tree
from tests.torrent.engine_harness import running_engine

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
