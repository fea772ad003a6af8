"""Engine settings follow the configuration live; guard rails report risky caps."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from revaer.runtime import ComponentHealth, HealthState
from tests.torrent.engine_harness import RunningEngine, change_profile, running_engine, wait_until

if TYPE_CHECKING:
    from loguru import Record

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


async def test_a_busy_peer_port_is_replaced_and_the_operator_warned(
    tmp_path: Path, log_records: list[Record]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_engine(tmp_path / "e", listen_interfaces=[f"127.0.0.1:{port}"]) as run:
            await wait_until(lambda: run.engine.state.listen_port is not None, what="a listen port")
            used = run.engine.state.listen_port
            warnings = [r for r in log_records if r["message"].startswith("peer port ")]
    assert used != port
    # libtorrent tries the next ports (max_retry_port_bind); one line per socket it opened.
    (warning,) = [w for w in warnings if "(tcp)" in w["message"]]
    assert warning["level"].name == "WARNING"
    assert warning["message"] == (
        f"peer port {port} was busy on 127.0.0.1; listening on {used} (tcp) instead: free it, "
        "or set engine_profile.listen_port to a free port and forward that one"
    )
