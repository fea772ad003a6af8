"""The engine survives its actors' failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from revaer.runtime import ComponentHealth, HealthState
from revaer.torrent import AddTorrent
from tests.harness import Seeder, make_payload, make_torrent, same_tree
from tests.torrent.engine_harness import RunningEngine, change_profile, running_engine

pytestmark = pytest.mark.integration
MIB = 1 << 20


async def test_a_pump_failure_degrades_restarts_and_the_download_completes(
    tmp_path: Path,
) -> None:
    payload = make_payload(tmp_path / "seed", {"Big/data.bin": 4 * MIB})
    torrent = make_torrent(payload, piece_length=64 * 1024)
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        async with running_engine(tmp_path / "e") as run:
            handle = run.engine.handle
            added = await handle.add(AddTorrent(metainfo=torrent.data, max_download_bps=MIB))
            await handle.connect_peer(added.torrent_id, *seeder.endpoint)
            await run.log.wait_for("progress", added.torrent_id, where=lambda p: p.bytes_done > 0)

            assert run.engine.pump is not None
            run.engine.pump.inject_failure()
            with trio.fail_after(10):
                while "alert_pump" not in run.restarts:
                    await trio.sleep(0.01)
            pump_health = run.health.get("alert_pump")
            assert pump_health is not None and pump_health.restarts == 1
            with trio.fail_after(10):
                while (c := run.health.get("alert_pump")) is None or c.state is not HealthState.OK:
                    await trio.sleep(0.01)
            assert run.health.get("session").state is HealthState.OK  # type: ignore[union-attr]

            # The torrent survived the pump's restart and finishes.
            await handle.set_rate_limits(added.torrent_id, download_bps=None, upload_bps=None)
            await run.log.wait_for("completed", added.torrent_id)
            assert same_tree(payload, tmp_path / "e" / "downloads" / payload.name)
            assert run.restarts == ["alert_pump"]


async def test_live_engine_settings_and_guard_rails(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        session = run.engine.state.session
        assert session is not None
        await _guardrails(run, HealthState.OK)
        change_profile(run.snapshots, max_download_bps=2 * MIB, max_upload_bps=None)
        with trio.fail_after(2):
            while (await trio.to_thread.run_sync(session.get_settings))[
                "download_rate_limit"
            ] != 2 * MIB:
                await trio.sleep(0.01)
        guard = await _guardrails(run, HealthState.DEGRADED)
        assert "max_upload_bps is disabled" in (guard.reason or "")
        change_profile(run.snapshots, max_upload_bps=MIB, dht=True)
        with trio.fail_after(2):
            while not (await trio.to_thread.run_sync(session.get_settings))["enable_dht"]:
                await trio.sleep(0.01)
        await _guardrails(run, HealthState.OK)


async def _guardrails(run: RunningEngine, state: HealthState) -> ComponentHealth:
    # The actor re-checks the guard rails right after libtorrent took the settings.
    with trio.fail_after(2):
        while (guard := run.health.get("engine_guardrails")) is None or guard.state is not state:
            await trio.sleep(0.01)
    return guard
