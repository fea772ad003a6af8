"""Nothing acknowledged is lost; nothing stored disagrees with what libtorrent confirmed."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import libtorrent as lt
import pytest
import trio

from revaer.errors import ServiceUnavailable
from revaer.runtime import HealthState
from revaer.torrent import AddTorrent, EngineTuning
from tests.harness import Seeder, TorrentFile, make_payload, make_torrent
from tests.torrent.engine_harness import (
    TEST_SETTINGS,
    running_engine,
    tiny_metainfo,
    wait_until,
)

pytestmark = pytest.mark.integration
MIB = 1 << 20


def block_directory(path: Path) -> Path:
    """Put a regular file where the directory ``path`` was; returns where its files went."""
    aside = path.with_name(path.name + ".aside")
    if path.exists():
        path.rename(aside)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a directory\n")
    return aside


def unblock_directory(path: Path, aside: Path) -> None:
    path.unlink()
    if aside.exists():
        aside.rename(path)


def have_pieces(blob: bytes) -> int:
    params = lt.read_resume_data(blob)
    return sum(1 for have in params.have_pieces if have)


async def test_an_add_fails_when_its_metadata_cannot_be_stored(
    tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with running_engine(tmp_path / "e") as run:
        resume = run.root / "resume"
        aside = block_directory(resume)
        with pytest.raises(ServiceUnavailable) as info:
            await run.engine.handle.add(AddTorrent(metainfo=torrent_v1.data))
        assert str(resume) in info.value.detail
        assert run.engine.state.entries == {}
        assert len(run.catalog) == 0
        store = run.health.get("resume_store")
        assert store is not None and store.state is HealthState.DEGRADED
        unblock_directory(resume, aside)
        added = await run.engine.handle.add(AddTorrent(metainfo=torrent_v1.data))
        assert added.torrent_id in run.engine.state.entries


async def test_a_remove_that_cannot_be_stored_keeps_the_torrent(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        added = await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        tid = added.torrent_id
        resume = run.root / "resume"
        aside = block_directory(resume)
        with pytest.raises(ServiceUnavailable):
            await run.engine.handle.remove(tid)
        assert tid in run.engine.state.entries
        assert run.catalog.get(tid) is not None
        unblock_directory(resume, aside)
        await run.engine.handle.remove(tid)
        assert tid not in run.engine.state.entries
    async with running_engine(tmp_path / "e") as again:
        assert again.engine.state.entries == {}


async def test_a_failed_move_keeps_the_old_download_dir(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data))
        tid = added.torrent_id
        await handle.connect_peer(tid, *seeder.endpoint)
        await run.log.wait_for("completed", tid)
        before = run.engine.state.entries[tid].meta.download_dir
        blocker = tmp_path / "blocker"
        blocker.write_text("a file, so nothing can be created under it\n")
        await handle.move(tid, str(blocker / "library"))
        failure = await run.log.wait_for("failure", tid, where=lambda p: p.source == "storage")
        assert failure.payload.message  # type: ignore[union-attr]
        assert run.engine.state.entries[tid].meta.download_dir == before
        record = run.catalog.get(tid)
        assert record is not None and record.save_path == before
        meta = json.loads((run.root / "resume" / f"{tid}.meta.json").read_text())
        assert meta["download_dir"] == before

        target = tmp_path / "moved"
        await handle.move(tid, str(target))
        await wait_until(lambda: run.engine.state.entries[tid].meta.download_dir == str(target))
        record = run.catalog.get(tid)
        assert record is not None and record.save_path == str(target)


async def test_a_quarantined_file_shows_as_degraded_after_start(tmp_path: Path) -> None:
    resume = tmp_path / "e" / "resume"
    resume.mkdir(parents=True)
    (resume / f"{uuid.uuid4()}.meta.json").write_text("{not json")
    async with running_engine(tmp_path / "e") as run:
        store = run.health.get("resume_store")
        assert store is not None and store.state is HealthState.DEGRADED
        assert "moved aside" in (store.reason or "")
        assert run.health.get("resume_store") is not None
        assert list(resume.glob("*.corrupt"))


async def test_a_half_added_torrent_is_cleaned_up_at_start(
    tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with running_engine(tmp_path / "e") as run:
        added = await run.engine.handle.add(AddTorrent(metainfo=torrent_v1.data, paused=True))
    resume = tmp_path / "e" / "resume"
    # What a kill between the two writes of an add left behind before: metadata, no blob.
    (resume / f"{added.torrent_id}.fastresume").unlink()
    async with running_engine(tmp_path / "e") as run:
        assert run.engine.state.entries == {}
        assert not (resume / f"{added.torrent_id}.meta.json").exists()
        assert list(resume.glob(f"{added.torrent_id}.meta.json*.corrupt"))
    async with running_engine(tmp_path / "e") as run:  # and it stays cleaned up
        assert run.engine.state.entries == {}
        store = run.health.get("resume_store")
        assert store is not None and store.state is HealthState.OK


async def test_completed_is_published_only_once_its_resume_data_is_on_disk(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    pieces_at_completion: list[int] = []
    # Progress saves all the time, so one is usually still unanswered when the torrent
    # finishes: its (older) blob must not be what `completed` waits for.
    eager = EngineTuning(
        extra_settings=TEST_SETTINGS,
        coalesce_interval=0.002,
        resume_progress_seconds=0.001,
        resume_progress_bytes=1,
        resume_progress_min_gap=0,
    )
    async with running_engine(tmp_path / "e", tuning=eager) as run:
        sub = run.bus.subscribe(queue_size=100_000)
        added = await run.engine.handle.add(
            AddTorrent(metainfo=torrent_v1.data, max_download_bps=4 * MIB)
        )
        blob_path = run.root / "resume" / f"{added.torrent_id}.fastresume"
        await run.engine.handle.connect_peer(added.torrent_id, *seeder.endpoint)
        with trio.fail_after(30):
            async for event in sub:
                if event.kind == "completed":
                    # Read at the moment completed is delivered: nothing has run since.
                    pieces_at_completion.append(have_pieces(blob_path.read_bytes()))
                    break
        sub.close()
    total = lt.load_torrent_buffer(torrent_v1.data).ti.num_pieces()  # type: ignore[union-attr]
    assert pieces_at_completion == [total]


async def test_resume_data_follows_a_download_in_progress(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "seed", {"Slow/data.bin": 8 * MIB})
    torrent = make_torrent(payload, piece_length=64 * 1024)
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        async with running_engine(tmp_path / "e") as run:
            added = await run.engine.handle.add(
                AddTorrent(metainfo=torrent.data, max_download_bps=MIB)
            )
            blob_path = run.root / "resume" / f"{added.torrent_id}.fastresume"
            await run.engine.handle.connect_peer(added.torrent_id, *seeder.endpoint)
            await run.log.wait_for("progress", added.torrent_id, where=lambda p: p.bytes_done > 0)
            # The periodic save is 30 s away: progress itself must keep the blob current.
            await wait_until(
                lambda: have_pieces(blob_path.read_bytes()) * 64 * 1024 >= MIB,
                timeout=6,
                what="resume data with a MiB of pieces",
            )
            assert not run.log.of(added.torrent_id, "completed")  # long before the end


async def test_the_restored_catalog_matches_the_resume_store(
    tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with running_engine(tmp_path / "e") as run:
        kept = await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(2), tags=("x",)))
        catalog = run.catalog
    ghost = next(r for r in catalog.all() if r.torrent_id != kept.torrent_id)
    # A torrent the catalog still lists although its files are gone (removed while lagging).
    for path in (tmp_path / "e" / "resume").glob(f"{ghost.torrent_id}.*"):
        path.unlink()
    shutil.rmtree(tmp_path / "e" / "downloads", ignore_errors=True)
    async with running_engine(tmp_path / "e", catalog=catalog) as run:
        assert {r.torrent_id for r in run.catalog.all()} == {kept.torrent_id}
        assert set(run.engine.state.entries) == {kept.torrent_id}


async def test_the_catalog_is_complete_after_a_flood_of_events(tmp_path: Path) -> None:
    from revaer.events import HealthChanged  # noqa: PLC0415

    async with running_engine(tmp_path / "e") as run:
        added = await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        for _ in range(20_000):  # far more than any subscriber queue holds
            run.bus.publish(HealthChanged(degraded=()))
        await run.engine.handle.remove(added.torrent_id)
        assert run.catalog.get(added.torrent_id) is None


async def test_completed_waits_while_its_resume_data_cannot_be_stored(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "seed", {"Slow/data.bin": 2 * MIB})
    torrent = make_torrent(payload, piece_length=64 * 1024)
    tuning = EngineTuning(extra_settings=TEST_SETTINGS, resume_interval=0.2)
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        async with running_engine(tmp_path / "e", tuning=tuning) as run:
            added = await run.engine.handle.add(
                AddTorrent(metainfo=torrent.data, max_download_bps=MIB)
            )
            tid = added.torrent_id
            await run.engine.handle.connect_peer(tid, *seeder.endpoint)
            await run.log.wait_for("progress", tid, where=lambda p: p.bytes_done > 0)
            aside = block_directory(run.root / "resume")
            await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "seeding")
            with trio.move_on_after(1):  # several periodic saves fail meanwhile
                await run.log.wait_for("completed", tid)
            assert not run.log.of(tid, "completed"), "completed without its resume data"
            unblock_directory(run.root / "resume", aside)
            await run.log.wait_for("completed", tid, timeout=10)
            blob = (run.root / "resume" / f"{tid}.fastresume").read_bytes()
            assert have_pieces(blob) == lt.load_torrent_buffer(torrent.data).ti.num_pieces()  # type: ignore[union-attr]
