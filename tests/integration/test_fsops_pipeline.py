"""The post-download pipeline end to end: a real download from the loopback seeder into the
library, in hardlink and move modes, over the daemon's HTTP API and event stream."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

from revaer.events import StateChanged
from revaer.fsops._checksum import MANIFEST_NAME, verify_manifest
from revaer.fsops._meta import META_NAME
from tests.fsops.media import RELEASE, build_release, have_archive_tools
from tests.harness import make_torrent, open_seeder
from tests.integration.api_harness import ActiveDaemon, SseStream, active_daemon, sse
from tests.integration.test_http_torrents import until

pytestmark = pytest.mark.skipif(have_archive_tools() is not None, reason=f"{have_archive_tools()}")

POLICY = {
    "chmod_file": "0640",
    "chmod_dir": "0750",
    "cleanup_drop": ["*.nfo", "Sample/*"],
}


async def fsops_outcome(stream: SseStream, timeout: float = 60) -> dict[str, Any]:
    """The ``fsops_completed`` event's data, or a failure naming what the pipeline said."""
    with trio.fail_after(timeout):
        while True:
            event = await stream.next(timeout=timeout)
            if event.event == "fsops_failed":
                raise AssertionError(f"pipeline failed: {event.data}")
            if event.event == "fsops_completed":
                data: dict[str, Any] = event.json()["data"]
                return data


async def still_seeds(daemon: ActiveDaemon, torrent_id: str) -> None:
    """libtorrent checks the torrent's data where it now is and finds every piece."""
    states: list[str] = []
    with daemon.live.daemon.bus.subscribe() as events, trio.fail_after(30):
        action = {"type": "recheck"}
        response = await daemon.api.post(f"/v1/torrents/{torrent_id}/action", json=action)
        assert response.status_code == 200, response.text
        async for event in events:
            payload = event.payload
            if isinstance(payload, StateChanged) and payload.torrent_id == torrent_id:
                states.append(payload.state.value)
                if "checking" in states and states[-1] != "checking":
                    break
    assert states[-1] == "seeding", states
    done = await until(daemon, torrent_id, lambda b: b["state"] == "seeding")
    assert done["progress"] == 1.0 and done["live"] is True


def library_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


async def add_and_finish(
    daemon: ActiveDaemon, tmp_path: Path, *, tags: list[str]
) -> tuple[str, dict[str, Any], dict[str, bytes], Path]:
    """Seed the release, download it through the daemon, wait for the pipeline."""
    seed_dir = tmp_path / "seed"
    payload, expected = await trio.to_thread.run_sync(build_release, seed_dir)
    torrent = await trio.to_thread.run_sync(make_torrent, payload)
    async with open_seeder() as seeder:
        seeder.seed(torrent, seed_dir)
        torrent_id = str(uuid.uuid4())
        async with sse(daemon, params={"torrent": torrent_id}) as stream:
            added = await daemon.api.post(
                "/v1/torrents",
                json={
                    "metainfo": base64.b64encode(torrent.data).decode(),
                    "id": torrent_id,
                    "tags": tags,
                    "peers": ["{}:{}".format(*seeder.endpoint)],
                },
            )
            assert added.status_code == 202, added.text
            done = await fsops_outcome(stream)
    return torrent_id, done, expected, payload


async def test_hardlink_mode_extracts_flattens_and_keeps_seeding(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        await daemon.patch({"fs_policy": POLICY})
        torrent_id, done, expected, payload = await add_and_finish(daemon, tmp_path, tags=[])
        folder = tmp_path / "library" / RELEASE
        assert done["library_path"] == str(folder)
        assert done["manifest"] == str(folder / MANIFEST_NAME)
        # Extracted (nested zip too), wrapper lifted, fluff and archives gone, nothing else.
        got = library_tree(folder)
        manifest = got.pop(MANIFEST_NAME)
        assert json.loads(got.pop(META_NAME))["torrent_id"] == torrent_id  # the job's record
        assert got == expected, sorted(got)
        assert done["files"] == len(expected)
        assert verify_manifest(folder) == []
        assert len(manifest.splitlines()) == len(expected)
        if shutil.which("sha256sum"):
            subprocess.run(["sha256sum", "-c", "--quiet", MANIFEST_NAME], cwd=folder, check=True)
        # Modes applied; the loose file is a hardlink of the torrent's own file.
        for path in folder.rglob("*"):
            wanted = 0o750 if path.is_dir() else 0o640
            if path.name not in (MANIFEST_NAME, META_NAME):
                assert stat.S_IMODE(path.stat().st_mode) == wanted, path
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
        download = tmp_path / "downloads" / RELEASE / f"{RELEASE}.1080p"
        assert os.path.samefile(folder / "guide.txt", download / "guide.txt")
        # The torrent seeds on from its untouched download (archives included); the staging
        # area is gone; the detail shows every stage.
        original = payload / f"{RELEASE}.1080p" / "e01.zip"
        assert (download / "e01.zip").read_bytes() == original.read_bytes()
        assert not (tmp_path / "downloads" / RELEASE / ".revaer.staging").exists()
        assert not (tmp_path / "downloads" / RELEASE / META_NAME).exists()
        detail = await until(daemon, torrent_id, lambda b: b["fsops"]["state"] == "completed")
        assert detail["state"] == "seeding"
        await still_seeds(daemon, torrent_id)
        stages = {s["name"]: s["status"] for s in detail["fsops"]["stages"]}
        assert stages == {
            "validate": "done",
            "par2": "skipped",
            "extract": "done",
            "flatten": "done",
            "transfer": "done",
            "permissions": "done",
            "cleanup": "done",
            "checksum": "done",
        }
        metrics = (await daemon.api.get("/metrics")).text
        assert 'revaer_fsops_steps_total{status="ok",step="extract"} 1.0' in metrics
        assert "revaer_fsops_queue_depth 0.0" in metrics

        # On demand, every stage runs again and finds everything in place: no duplicates.
        async with sse(daemon, params={"torrent": torrent_id}) as stream:
            again = await daemon.api.post(
                f"/v1/torrents/{torrent_id}/action", json={"type": "fsops"}
            )
            assert again.status_code == 200, again.text
            await fsops_outcome(stream)
        assert library_tree(folder).keys() == expected.keys() | {MANIFEST_NAME, META_NAME}


async def test_move_mode_by_tag_moves_the_torrent_into_the_library(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        rules = {"tv": {"subdir": "tv", "move_mode": "move"}}
        await daemon.patch({"fs_policy": POLICY | {"tag_rules": rules}})
        torrent_id, done, expected, _payload = await add_and_finish(daemon, tmp_path, tags=["tv"])
        folder = tmp_path / "library" / "tv" / RELEASE
        assert done["library_path"] == str(folder)
        # The torrent now seeds from the library; its own files keep their layout there
        # (archives included: it seeds them), extracted files sit beside their archives.
        detail = await until(
            daemon,
            torrent_id,
            lambda b: b["download_dir"] == str(folder.parent) and b["state"] == "seeding",
        )
        assert detail["fsops"]["state"] == "completed"
        inner = folder / f"{RELEASE}.1080p"
        for rel, data in expected.items():
            assert (inner / rel).read_bytes() == data, rel
        assert (inner / "e01.zip").is_file()
        assert (inner / f"{RELEASE}.nfo").is_file()  # seeded from: never deleted
        assert verify_manifest(folder) == []
        assert not (tmp_path / "downloads" / RELEASE).exists()
        await still_seeds(daemon, torrent_id)
        # A rerun on request, with the torrent already seeding from the library, goes through.
        before = library_tree(folder)
        async with sse(daemon, params={"torrent": torrent_id}) as stream:
            again = await daemon.api.post(
                f"/v1/torrents/{torrent_id}/action", json={"type": "fsops"}
            )
            assert again.status_code == 200, again.text
            await fsops_outcome(stream)
        assert library_tree(folder).keys() == before.keys()
