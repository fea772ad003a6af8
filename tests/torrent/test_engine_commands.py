"""Each engine command against the live session, on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest
import trio

from revaer.errors import NotFound, ValidationFailed
from revaer.torrent import AddedTorrent, AddTorrent
from tests.harness import Seeder, TorrentFile, make_payload, make_torrent, same_tree
from tests.torrent.engine_harness import RunningEngine, running_engine, tiny_metainfo, wait_until

pytestmark = pytest.mark.integration
MIB = 1 << 20


async def status(run: RunningEngine, torrent_id: str):  # type: ignore[no-untyped-def]
    entry = run.engine.state.entries[torrent_id]
    return await trio.to_thread.run_sync(entry.ref.status)


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, TorrentFile]:
    payload = make_payload(tmp_path / "big-seed", {"Big/data.bin": 6 * MIB})
    return payload, make_torrent(payload, piece_length=64 * 1024)


async def test_pause_resume_and_a_rate_cap(tmp_path: Path, big: tuple[Path, TorrentFile]) -> None:
    payload, torrent = big
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        async with running_engine(tmp_path / "e") as run:
            added = await run.engine.handle.add(
                AddTorrent(metainfo=torrent.data, max_download_bps=MIB)
            )
            tid = added.torrent_id
            await run.engine.handle.connect_peer(tid, *seeder.endpoint)
            await wait_until(lambda: _done_at_least(run, tid, MIB // 2))
            first = await status(run, tid)
            started = trio.current_time()
            await trio.sleep(2)
            second = await status(run, tid)
            rate = (second.total_done - first.total_done) / (trio.current_time() - started)
            assert 0.5 * MIB < rate < 1.5 * MIB, rate  # near the 1 MiB/s cap

            await run.engine.handle.pause(tid)
            await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "paused")
            paused_at = (await status(run, tid)).total_done
            await trio.sleep(1)
            assert (await status(run, tid)).total_done == paused_at  # paused: no transfer

            await run.engine.handle.set_rate_limits(tid, download_bps=None, upload_bps=None)
            await run.engine.handle.resume(tid)
            await run.engine.handle.connect_peer(tid, *seeder.endpoint)
            await run.log.wait_for("completed", tid)
            assert same_tree(payload, tmp_path / "e" / "downloads" / payload.name)
            meta = run.engine.state.entries[tid].meta
            assert meta.max_download_bps is None and meta.paused is False


def _download_dir(run: RunningEngine, tid: str) -> str:
    return run.engine.state.entries[tid].meta.download_dir


async def _done_at_least(run: RunningEngine, tid: str, amount: int) -> bool:
    return bool((await status(run, tid)).total_done >= amount)


async def test_deselected_files_sequential_remove_and_delete(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        added = await handle.add(
            AddTorrent(metainfo=torrent_v1.data, exclude=("*sample*",), sequential=True)
        )
        tid = added.torrent_id
        assert (await status(run, tid)).sequential
        await handle.connect_peer(tid, *seeder.endpoint)
        await run.log.wait_for("completed", tid)
        downloaded = tmp_path / "e" / "downloads" / payload.name
        assert (downloaded / "ep1.mkv").read_bytes() == (payload / "ep1.mkv").read_bytes()
        sample = downloaded / "sample" / "sample.mkv"
        assert (
            not sample.exists()
            or sample.read_bytes() != (payload / "sample" / "sample.mkv").read_bytes()
        )
        await handle.set_sequential(tid, False)
        assert not (await status(run, tid)).sequential

        await handle.remove(tid)  # keeps the files
        await run.log.wait_for("torrent_removed", tid)
        assert (downloaded / "ep1.mkv").exists()
        with pytest.raises(NotFound):
            await handle.pause(tid)

        # Added again over the kept files: only the sample, deselected before, is fetched.
        again = await handle.add(AddTorrent(metainfo=torrent_v1.data))
        await handle.connect_peer(again.torrent_id, *seeder.endpoint)
        await run.log.wait_for("completed", again.torrent_id)
        await handle.remove(again.torrent_id, delete_data=True)
        with trio.fail_after(10):
            while (downloaded / "ep1.mkv").exists():
                await trio.sleep(0.05)


async def test_recheck_reannounce_and_move_storage(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        # A tracker on a closed loopback port: announcing fails fast, with a tracker error.
        added = await handle.add(
            AddTorrent(metainfo=torrent_v1.data, trackers=("http://127.0.0.1:9/announce",))
        )
        tid = added.torrent_id
        await handle.connect_peer(tid, *seeder.endpoint)
        await run.log.wait_for("completed", tid)
        await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "seeding")

        await handle.recheck(tid)
        await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "checking")
        await run.log.wait_for(
            "state_changed", tid, where=lambda p: p.state == "seeding" and p.previous == "checking"
        )

        failures = len(run.log.of(tid, "failure"))
        await handle.reannounce(tid)
        # A failure from before the reannounce would satisfy wait_for at once: wait for a new one.
        with trio.fail_after(20):
            while len(run.log.of(tid, "failure")) <= failures:
                await trio.sleep(0.02)
        assert run.log.of(tid, "failure")[-1].payload.source == "tracker"  # type: ignore[union-attr]
        assert len(run.log.of(tid, "failure")) > failures

        target = tmp_path / "moved"
        await handle.move(tid, str(target))
        # Recorded once libtorrent confirms the move (storage_moved): every file is there then
        # (the first file to appear says nothing of the others).
        await wait_until(lambda: _download_dir(run, tid) == str(target), timeout=15)
        assert same_tree(payload, target / payload.name)


async def test_bad_input_is_a_typed_error_and_harmless(
    tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        cases = [
            (AddTorrent(metainfo=b"d4:infoi1ee"), "/metainfo"),
            (AddTorrent(metainfo=b"\x00garbage"), "/metainfo"),
            (AddTorrent(magnet="magnet:?xt=urn:btih:nothex"), "/magnet"),
            (AddTorrent(magnet="http://example.invalid/x.torrent"), "/magnet"),
            (AddTorrent(metainfo=_evil_torrent(b"..")), "/metainfo"),
            (AddTorrent(metainfo=_evil_torrent(b"/etc")), "/metainfo"),
            (AddTorrent(), ""),
            (AddTorrent(metainfo=torrent_v1.data, download_dir="relative"), "/download_dir"),
            (AddTorrent(metainfo=torrent_v1.data, torrent_id="not-a-uuid"), "/torrent_id"),
        ]
        for command, where in cases:
            with pytest.raises(ValidationFailed) as info:
                await handle.add(command)
            assert info.value.invalid_params[0].pointer == where, command
        with pytest.raises(NotFound):
            await handle.pause("00000000-0000-4000-8000-000000000000")
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data))  # still healthy
        assert added.info_hash == torrent_v1.info_hash_v1
        assert run.restarts == []


def _evil_torrent(component: bytes) -> bytes:
    info: Any = {
        b"name": b"evil",
        b"piece length": 16384,
        b"pieces": b"\x00" * 20,
        b"files": [{b"length": 10, b"path": [component, b"passwd"]}],
    }
    return bytes(lt.bencode({b"info": info}))


async def test_select_refuses_bad_priorities_and_applies_good_ones(
    tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with running_engine(
        tmp_path / "e", tracker={"extra_trackers": ["udp://127.0.0.1:9"]}
    ) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data, paused=True))
        with pytest.raises(ValidationFailed) as info:
            await handle.select(added.torrent_id, priorities={0: 9})
        assert info.value.invalid_params[0].pointer == "/priorities/0"
        await handle.select(added.torrent_id, exclude=("*.nfo",), priorities={0: 7})
        entry = run.engine.state.entries[added.torrent_id]
        prios = await trio.to_thread.run_sync(entry.ref.file_priorities)
        assert prios[0] == 7 and entry.meta.exclude == ("*.nfo",)
        assert 0 in prios  # the .nfo is skipped


async def test_a_bulk_add_answers_each_item_in_order(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        zero = tiny_metainfo(0)  # each call makes another torrent: keep the bytes
        present = await handle.add(AddTorrent(metainfo=zero, paused=True))
        twice = tiny_metainfo(2)
        results = await handle.add_many(
            [
                AddTorrent(metainfo=tiny_metainfo(1), paused=True),
                AddTorrent(metainfo=twice, paused=True),
                AddTorrent(metainfo=twice, paused=True),  # the same torrent again: refused
                AddTorrent(metainfo=b"not a torrent"),
                AddTorrent(metainfo=zero),  # already present
                AddTorrent(metainfo=tiny_metainfo(3), tags=("bulk",), paused=True),
            ]
        )
        kinds = [type(r).__name__ for r in results]
        assert kinds == [
            "AddedTorrent",
            "AddedTorrent",
            "Conflict",
            "ValidationFailed",
            "Conflict",
            "AddedTorrent",
        ]
        assert present.torrent_id in str(results[4])
        added = [r.torrent_id for r in results if isinstance(r, AddedTorrent)]
        assert set(added) | {present.torrent_id} == set(run.engine.state.entries)
        assert {r.torrent_id for r in run.catalog.all()} == set(run.engine.state.entries)
        stored = {p.name.split(".")[0] for p in (run.root / "resume").glob("*.meta.json")}
        assert stored == set(run.engine.state.entries)
        with pytest.raises(ValidationFailed) as info:
            await handle.add_many([AddTorrent(magnet="x")] * 1001)
        assert "at most 1000" in info.value.detail


async def test_a_bulk_add_that_cannot_be_stored_changes_nothing(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        (run.root / "resume").parent.mkdir(parents=True, exist_ok=True)
        (run.root / "resume").write_text("a file where the directory should be")
        results = await run.engine.handle.add_many(
            [AddTorrent(metainfo=tiny_metainfo(i), paused=True) for i in range(3)]
        )
        assert [type(r).__name__ for r in results] == ["ResumeStoreUnavailable"] * 3
        assert run.engine.state.entries == {}
        assert len(run.catalog) == 0
