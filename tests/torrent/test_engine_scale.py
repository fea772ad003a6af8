"""Thousands of torrents: a restart restores every one and the catalog agrees exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from revaer.db import Database
from revaer.events import TorrentCatalog, TorrentState
from revaer.torrent import MAX_BULK_ADD, AddedTorrent, AddTorrent
from tests.torrent.engine_harness import running_engine, tiny_metainfo, wait_until

pytestmark = pytest.mark.integration
COUNT = 5000


async def test_5000_paused_torrents_restore_with_the_catalog_matching_the_session(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "e"
    async with Database.open(db_url) as db:
        catalog = TorrentCatalog()
        async with trio.open_nursery() as writer:
            await writer.start(catalog.run, db)
            async with running_engine(root, catalog=catalog, log=False) as run:
                metainfos = [tiny_metainfo(i) for i in range(COUNT)]
                for start in range(0, COUNT, MAX_BULK_ADD):
                    chunk = metainfos[start : start + MAX_BULK_ADD]
                    results = await run.engine.handle.add_many(
                        [AddTorrent(metainfo=m, paused=True) for m in chunk]
                    )
                    assert all(isinstance(r, AddedTorrent) for r in results), results[:3]
                await catalog.wait_persisted(run.bus.last_id)
            writer.cancel_scope.cancel()

        # A new daemon: the catalog as PostgreSQL has it, then the engine restores.
        catalog = await TorrentCatalog.load(db)
        async with trio.open_nursery() as writer:
            await writer.start(catalog.run, db)
            async with running_engine(root, catalog=catalog, log=False) as run:
                entries = run.engine.state.entries
                assert len(entries) == COUNT  # every one restored before the engine is up

                def paused() -> bool:
                    return all(r.state is TorrentState.PAUSED for r in catalog.all())

                await wait_until(paused, timeout=30, what="every record paused")
                await catalog.wait_persisted(run.bus.last_id)
                rows = await db.fetch("SELECT torrent_id::text AS id, state FROM torrents")
                assert {r["id"] for r in rows} == set(entries)
                assert {r.torrent_id for r in catalog.all()} == set(entries)
                assert {r["state"] for r in rows} == {"paused"}
                assert {e.state for e in entries.values()} == {TorrentState.PAUSED}
                for torrent_id, entry in list(entries.items())[:50]:
                    record = catalog.get(torrent_id)
                    assert record is not None
                    assert (record.info_hash, record.save_path) == (
                        entry.meta.info_hash,
                        entry.meta.download_dir,
                    )
            writer.cancel_scope.cancel()
