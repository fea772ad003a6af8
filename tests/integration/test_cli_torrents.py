"""The torrent commands of the CLI against a real daemon (real engine, real PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result

from revaer.cli import cli
from tests.harness import TorrentFile
from tests.integration.api_harness import ActiveDaemon, active_daemon

pytestmark = pytest.mark.integration


async def revaer(daemon: ActiveDaemon, *args: str) -> Result:
    """``revaer --api-url … --api-key … *args`` in a worker thread (the daemon runs here)."""
    key = daemon.headers["x-revaer-api-key"]
    runner = CliRunner(env={"REVAER_API_KEY": None, "REVAER_API_URL": None})
    argv = ["--api-url", daemon.url, "--api-key", key, *args]
    return await trio.to_thread.run_sync(lambda: runner.invoke(cli, argv))


async def test_add_list_status_act_and_remove_from_the_cli(
    aio_loop: None, db_url: str, tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    path = tmp_path / "v1.torrent"
    path.write_bytes(torrent_v1.data)
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        added = await revaer(daemon, "--format", "json", "torrent", "add", str(path), "--paused",
                             "--tag", "cli")  # fmt: skip
        assert added.exit_code == 0, added.output
        tid = json.loads(added.stdout)["torrents"][0]["torrent_id"]
        listed = await revaer(daemon, "ls", "--tags", "cli")
        assert listed.exit_code == 0, listed.output
        assert tid in listed.stdout and torrent_v1.name in listed.stdout
        shown = await revaer(daemon, "status", tid)
        assert shown.exit_code == 0 and "files:" in shown.stdout, shown.output
        assert (await revaer(daemon, "action", tid, "tags", "--add-tag", "more")).exit_code == 0
        assert (await revaer(daemon, "select", tid, "--priority", "0=high")).exit_code == 0
        again = await revaer(daemon, "torrent", "add", str(path))
        assert again.exit_code == 3 and tid in again.stderr  # 409 names the existing id
        bad = await revaer(daemon, "action", tid, "move", "--download-dir", "relative")
        assert bad.exit_code == 2 and "/download_dir" in bad.stderr
        assert (await revaer(daemon, "torrent", "remove", tid)).exit_code == 0
        gone = await revaer(daemon, "status", tid)
        with trio.fail_after(10):
            while gone.exit_code == 0:
                gone = await revaer(daemon, "status", tid)
        assert gone.exit_code == 3
