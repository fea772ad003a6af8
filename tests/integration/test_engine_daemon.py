"""The engine inside the daemon: starts when active, follows PostgreSQL changes live."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import trio

from revaer.db import Database
from revaer.runtime import Backoff, HealthState
from revaer.torrent import AddTorrent, EngineTuning
from tests.harness import Seeder, TorrentFile, same_tree
from tests.integration.daemon_harness import daemon_settings, running_daemon
from tests.torrent.engine_harness import TEST_SETTINGS

pytestmark = pytest.mark.integration


async def _activate(db_url: str, root: Path) -> None:
    async with Database.open(db_url) as db:
        await db.execute(
            "UPDATE engine_profile SET resume_dir = $1, download_root = $2, listen_interfaces = $3,"
            " dht = false, lsd = false, utp = false, max_download_bps = 100000000,"
            " max_upload_bps = 100000000",
            str(root / "resume"),
            str(root / "downloads"),
            json.loads('["127.0.0.1:0"]'),
        )
        await db.execute(
            "INSERT INTO api_keys (key_id, secret_hash) VALUES ('admin', 'x');"
            "UPDATE app_profile SET mode = 'active'"
        )


async def test_engine_runs_when_active_and_applies_caps_from_postgres_within_2s(
    aio_loop: None,
    db_url: str,
    tmp_path: Path,
    payload: Path,
    torrent_v1: TorrentFile,
    seeder: Seeder,
) -> None:
    await _activate(db_url, tmp_path)
    tuning = EngineTuning(extra_settings=TEST_SETTINGS)
    async with running_daemon(daemon_settings(tmp_path / "d", db_url), tuning=tuning) as live:
        engine = live.daemon.engine
        with trio.fail_after(10):
            while not engine.handle.running:
                await trio.sleep(0.01)
        added = await engine.handle.add(AddTorrent(metainfo=torrent_v1.data))
        await engine.handle.connect_peer(added.torrent_id, *seeder.endpoint)
        with trio.fail_after(30):
            while (
                r := live.daemon.catalog.get(added.torrent_id)
            ) is None or r.completed_at is None:
                await trio.sleep(0.05)
        assert same_tree(payload, tmp_path / "downloads" / payload.name)

        session = engine.state.session
        assert session is not None
        async with Database.open(db_url) as other:
            started = time.monotonic()
            await other.execute("UPDATE engine_profile SET max_download_bps = 3145728")
        with trio.fail_after(2):
            while (await trio.to_thread.run_sync(session.get_settings))[
                "download_rate_limit"
            ] != 3145728:
                await trio.sleep(0.01)
        assert time.monotonic() - started < 2
        full = (await live.client.get("/health/full")).json()
        assert {"engine", "session", "alert_pump", "resume_store"} <= set(full["components"])


async def test_an_engine_that_cannot_start_leaves_the_daemon_up_and_recovers(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the resume directory's parent should be\n")
    await _activate(db_url, tmp_path)
    async with Database.open(db_url) as db:
        await db.execute("UPDATE engine_profile SET resume_dir = $1", str(blocker / "resume"))
    fast = Backoff(initial=0.05, maximum=0.2, jitter=0)
    tuning = EngineTuning(extra_settings=TEST_SETTINGS, backoff=fast, start_backoff=fast)
    async with running_daemon(daemon_settings(tmp_path / "d", db_url), tuning=tuning) as live:
        with trio.fail_after(20):
            while (
                c := live.daemon.health.get("engine")
            ) is None or c.state is not HealthState.FAILED:
                await trio.sleep(0.05)
        assert str(blocker / "resume") in (c.reason or "")
        # The rest of the daemon is up, and says why the engine is not.
        full = (await live.client.get("/health/full")).json()
        engine = full["components"]["engine"]
        assert engine["state"] == "failed" and str(blocker) in engine["reason"]
        handle = live.daemon.engine.handle
        assert not handle.statistics().running

        async with Database.open(db_url) as db:
            await db.execute("UPDATE engine_profile SET resume_dir = $1", str(tmp_path / "ok"))
        with trio.fail_after(10):
            while not handle.statistics().running:
                await trio.sleep(0.05)
        with trio.fail_after(5):
            while (c := live.daemon.health.get("engine")) is None or c.state is not HealthState.OK:
                await trio.sleep(0.05)
