"""The session actor is the only writer of engine state; restarts of it are safe and prompt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from revaer.runtime import Backoff, HealthState
from revaer.torrent import AddTorrent, EngineUnavailable
from tests.harness import Seeder, TorrentFile
from tests.torrent.engine_harness import (
    RunningEngine,
    running_engine,
    tiny_metainfo,
    wait_running,
    wait_until,
)
from tests.torrent.faults import Faults

pytestmark = pytest.mark.integration


def magnet_of(torrent: TorrentFile, seeder: Seeder) -> str:
    return torrent.magnet(peer=seeder.endpoint)


async def retry_unavailable(call, timeout: float = 10):  # type: ignore[no-untyped-def]
    """``await call()`` until the engine accepts it (it is restarting meanwhile)."""
    with trio.fail_after(timeout):
        while True:
            try:
                return await call()
            except EngineUnavailable:
                await trio.sleep(0.02)


def stored_ids(run: RunningEngine) -> set[str]:
    return {p.name.removesuffix(".meta.json") for p in (run.root / "resume").glob("*.meta.json")}


async def test_session_restart_keeps_serving_commands(tmp_path: Path) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        faults.arm("session")
        started = trio.current_time()
        await wait_until(lambda: "session" in run.restarts, what="session restarted")
        # Served again at once: no final save waiting out its timeout for stolen alerts.
        await retry_unavailable(lambda: handle.set_sequential(added.torrent_id, True))
        assert trio.current_time() - started < 5
        await wait_running(run.engine)
        assert run.restarts == ["session"]
        assert len(faults.sessions) == 2
        assert run.engine.state.entries[added.torrent_id].meta.sequential is True
        pump = run.health.get("alert_pump")
        assert pump is not None and pump.state is HealthState.OK


async def test_a_pump_crash_restarts_it_with_the_session_and_the_download_completes(
    tmp_path: Path, payload: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data, max_download_bps=1 << 20))
        await handle.connect_peer(added.torrent_id, *seeder.endpoint)
        await run.log.wait_for("progress", added.torrent_id, where=lambda p: p.bytes_done > 0)
        faults.arm("pump")
        await wait_until(lambda: "session" in run.restarts, what="restart after the pump crash")
        pump = run.health.get("alert_pump")
        assert pump is not None and pump.restarts == 1
        assert "injected alert pump failure" in (pump.last_error or "")
        await wait_running(run.engine)
        await wait_until(lambda: run.health.get("alert_pump").state is HealthState.OK)  # type: ignore[union-attr]
        await retry_unavailable(
            lambda: handle.set_rate_limits(added.torrent_id, download_bps=None, upload_bps=None)
        )
        await retry_unavailable(lambda: handle.connect_peer(added.torrent_id, *seeder.endpoint))
        await run.log.wait_for("completed", added.torrent_id)
        assert run.restarts == ["session"]


async def test_removed_torrent_stays_removed(
    tmp_path: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    # A slow store holds the session in the metadata step of a magnet; the remove that arrives
    # meanwhile must win: no metadata file written back, no torrent restored later.
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(magnet=magnet_of(torrent_v1, seeder)))
        tid = added.torrent_id
        faults.store_delay = 0.3
        await run.log.wait_for("files_discovered", tid, timeout=30)
        await handle.remove(tid)
        faults.store_delay = 0
        assert tid not in run.engine.state.entries
        assert tid not in stored_ids(run)
        assert run.catalog.get(tid) is None
    async with running_engine(tmp_path / "e") as again:
        assert tid not in again.engine.state.entries
        assert again.catalog.get(tid) is None


async def test_a_selection_made_while_metadata_arrives_is_kept(
    tmp_path: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        faults.store_delay = 0.2
        added = await handle.add(AddTorrent(magnet=magnet_of(torrent_v1, seeder), paused=False))
        tid = added.torrent_id
        await handle.select(tid, exclude=("*.nfo",))
        await handle.pause(tid)
        faults.store_delay = 0
        await run.log.wait_for("files_discovered", tid, timeout=30)
        await wait_until(lambda: run.engine.state.entries[tid].meta.priorities is not None)
        meta = run.engine.state.entries[tid].meta
        assert meta.exclude == ("*.nfo",) and meta.paused is True
        assert 0 in (meta.priorities or ())  # the .nfo is skipped
    async with running_engine(tmp_path / "e") as again:
        restored = again.engine.state.entries[tid].meta
        assert restored.exclude == ("*.nfo",) and restored.paused is True


async def test_queued_commands_fail_when_the_session_restarts(tmp_path: Path) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        tid = added.torrent_id
        errors: list[BaseException] = []

        async def capture(call) -> None:  # type: ignore[no-untyped-def]
            try:
                await call()
            except EngineUnavailable as exc:
                errors.append(exc)

        store = faults.stores[-1]
        before = store.started
        faults.store_delay = 0.5
        # Both are answered promptly: the one in flight and the one queued behind it.
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    capture, lambda: handle.set_rate_limits(tid, download_bps=1, upload_bps=None)
                )
                await wait_until(lambda: store.started > before, what="command in the store")
                nursery.start_soon(capture, lambda: handle.set_sequential(tid, True))
                await wait_until(lambda: handle.statistics().queued > 0, what="command queued")
                faults.arm("session")
        faults.store_delay = 0
        await wait_running(run.engine)
        assert len(errors) == 2, errors
        # The queued command never ran against the new session.
        assert run.engine.state.entries[tid].meta.sequential is False


async def test_a_command_whose_caller_gave_up_is_not_run_later(tmp_path: Path) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning(command_timeout=0.3)) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=tiny_metainfo(1), paused=True))
        tid = added.torrent_id
        store = faults.stores[-1]
        before = store.started
        faults.store_delay = 1.0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                _expect_unavailable, handle.set_rate_limits(tid, download_bps=1, upload_bps=None)
            )
            await wait_until(lambda: store.started > before, what="command in the store")
            with pytest.raises(EngineUnavailable):
                await handle.set_sequential(tid, True)  # queued behind, gives up after 0.3 s
        faults.store_delay = 0
        # Once this one is answered, everything queued before it has been handled.
        await retry_unavailable(lambda: handle.reannounce(tid))
        assert run.engine.state.entries[tid].meta.sequential is False


async def _expect_unavailable(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineUnavailable):
        await call


async def test_a_caller_gets_engine_unavailable_not_cancelled_when_the_engine_stops(
    tmp_path: Path,
) -> None:
    faults = Faults()
    outcome: list[BaseException | None] = []

    async def pause(run: RunningEngine, tid: str) -> None:
        try:
            await run.engine.handle.pause(tid)
        except EngineUnavailable as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    # Leaving the block stops the engine first, then waits for the caller's task.
    async with (
        trio.open_nursery() as callers,
        running_engine(tmp_path / "e", tuning=faults.tuning()) as run,
    ):
        added = await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(1)))
        store = faults.stores[-1]
        before = store.started
        faults.store_delay = 0.5
        callers.start_soon(pause, run, added.torrent_id)
        await wait_until(lambda: store.started > before, what="command in the store")
    # The caller got an answer; its task was not cancelled along with the engine.
    assert len(outcome) == 1 and isinstance(outcome[0], EngineUnavailable)


async def test_libtorrent_is_called_one_call_at_a_time_off_the_event_loop(
    tmp_path: Path, torrent_v1: TorrentFile, seeder: Seeder
) -> None:
    faults = Faults()
    async with running_engine(tmp_path / "e", tuning=faults.tuning()) as run:
        handle = run.engine.handle
        added = await handle.add(AddTorrent(metainfo=torrent_v1.data))
        await handle.connect_peer(added.torrent_id, *seeder.endpoint)
        await run.log.wait_for("completed", added.torrent_id)
        await handle.pause(added.torrent_id)
    loop_thread = "MainThread"
    names = {name for name, _ in faults.calls}
    assert {"__init__", "pop_alerts", "post_torrent_updates", "close"} <= names
    on_loop = [name for name, thread in faults.calls if thread == loop_thread]
    assert on_loop == [], on_loop
    assert faults.max_concurrent == 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_session_that_cannot_start_leaks_no_descriptors(tmp_path: Path) -> None:
    attempts: list[int] = []

    def broken(_settings: object) -> object:
        attempts.append(1)
        raise RuntimeError("libtorrent cannot start (test)")

    tuning = Faults().tuning(
        session_factory=broken,
        backoff=Backoff(initial=0.01, maximum=0.02, jitter=0),
        start_backoff=Backoff(initial=0.01, maximum=0.02, jitter=0),
    )
    before = _open_fds()
    async with running_engine(tmp_path / "e", tuning=tuning, wait=False) as run:
        await wait_until(lambda: len(attempts) >= 8, what="repeated start attempts")
        engine = run.health.get("engine")
        assert engine is not None and engine.state is not HealthState.OK
        assert "libtorrent cannot start" in (engine.reason or "")
        assert not run.engine.handle.running
    assert _open_fds() <= before + 2  # the harness's own channels may hold one or two
