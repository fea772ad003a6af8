"""Engine settings follow the configuration live; guard rails report risky caps."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from revaer.runtime import ComponentHealth, HealthState
from tests.torrent.engine_harness import RunningEngine, change_profile, running_engine

pytestmark = pytest.mark.integration
MIB = 1 << 20


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
