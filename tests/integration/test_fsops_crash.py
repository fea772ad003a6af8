"""SIGKILL of the daemon inside each pipeline stage: after a restart the job resumes and the
library ends exactly as without the crash (nothing duplicated, nothing missing, manifest right).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from revaer.fsops import STAGE_NAMES
from revaer.fsops._checksum import MANIFEST_NAME, verify_manifest
from revaer.fsops._meta import META_NAME
from tests.fsops.media import RELEASE, build_release, have_archive_tools
from tests.harness import Seeder, make_torrent
from tests.integration.api_harness import setup_body
from tests.integration.processes import Proc, base_env, free_port
from tests.integration.test_fsops_pipeline import POLICY, library_tree

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(have_archive_tools() is not None, reason=f"{have_archive_tools()}"),
]


def _start(stage: str, tmp_path: Path, db_url: str, port: int, name: str) -> Proc:
    args = [
        sys.executable, "-m", "tests.integration.fsops_kill_daemon", stage,
        str(tmp_path / "killed"), "--",
        "--data-dir", str(tmp_path / "data"), "--bind", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    proc = Proc(args, base_env(DATABASE_URL=db_url), tmp_path / f"{name}.log")
    proc.wait_healthy(f"http://127.0.0.1:{port}", timeout=60)
    return proc


def _wait_job(client: httpx.Client, torrent_id: str, proc: Proc, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            return None
        try:
            response = client.get(f"/v1/torrents/{torrent_id}")
        except httpx.TransportError:
            proc.popen.wait(10)  # killed while it answered
            return None
        if response.status_code == 200:
            fsops = response.json()["fsops"]
            if fsops is not None and fsops["state"] in ("completed", "failed"):
                return fsops
        time.sleep(0.1)  # polling a state over HTTP; the loop ends on it
    raise AssertionError(f"no pipeline outcome in {timeout} s:\n{proc.output()[-3000:]}")


CASES = [(s, "hardlink") for s in STAGE_NAMES] + [
    (s, "move") for s in ("transfer", "cleanup", "checksum")
]


@pytest.mark.parametrize(("stage", "mode"), CASES)
def test_a_kill_in_any_stage_resumes_without_loss_or_duplicates(
    stage: str, mode: str, db_url: str, tmp_path: Path
) -> None:
    if stage == "par2" and shutil.which("par2") is None:
        pytest.skip("par2 not installed (apt-get install par2)")
    payload, expected = build_release(tmp_path / "seed")
    if stage == "par2":
        subprocess.run(
            ["par2", "create", "-q", "-q", "-r10", "guide.par2", "guide.txt"],
            cwd=payload / f"{RELEASE}.1080p",
            check=True,
        )
    torrent = make_torrent(payload)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Seeder() as seeder:
        seeder.seed(torrent, tmp_path / "seed")
        first = _start(stage, tmp_path, db_url, port, "first")
        try:
            with httpx.Client(base_url=url, timeout=20) as client:
                token = client.post("/admin/setup/start").json()["token"]
                body = setup_body(tmp_path)
                body["fs_policy"] |= POLICY | {"par2": "verify"}
                body["fs_policy"]["cleanup_drop"] = [*POLICY["cleanup_drop"], "*.par2"]
                body["fs_policy"]["move_mode"] = mode
                done = client.post(
                    "/admin/setup/complete", json=body, headers={"x-revaer-setup-token": token}
                )
                assert done.status_code == 200, done.text
                client.headers["x-revaer-api-key"] = done.json()["api_key"]
                torrent_id = str(uuid.uuid4())
                added = client.post(
                    "/v1/torrents",
                    json={
                        "metainfo": base64.b64encode(torrent.data).decode(),
                        "id": torrent_id,
                        "peers": ["{}:{}".format(*seeder.endpoint)],
                    },
                )
                assert added.status_code == 202, added.text
                assert _wait_job(client, torrent_id, first) is None, "the seam did not fire"
            assert first.popen.wait(10) == -9
            assert (tmp_path / "killed").exists()
        finally:
            first.close()

        second = _start(stage, tmp_path, db_url, port, "second")
        try:
            with httpx.Client(base_url=url, timeout=20, headers=client.headers) as client:
                fsops = _wait_job(client, torrent_id, second)
                assert fsops is not None and fsops["state"] == "completed", fsops
                assert fsops["attempts"] == 2
        finally:
            second.stop()
            second.close()
    folder = tmp_path / "library" / RELEASE
    got = library_tree(folder)
    got.pop(MANIFEST_NAME)
    got.pop(META_NAME)
    if mode == "move":
        # The torrent seeds from the library: its own files as they were, extracted ones
        # beside their archives; nothing left in the download directory.
        expected = library_tree(payload) | {
            f"{RELEASE}.1080p/{rel}": data for rel, data in expected.items()
        }
        assert not (tmp_path / "downloads" / RELEASE).exists()
    assert got == expected, sorted(got)
    assert verify_manifest(folder) == []
