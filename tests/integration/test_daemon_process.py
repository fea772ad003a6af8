"""The real daemon as a process: scripts/serve, the CLI against it, signals, kill -9, locking."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from revaer.db import Database, open_asyncio_loop
from tests.conftest import ROOT
from tests.integration.processes import BIN, Proc, base_env, cli, free_port

pytestmark = pytest.mark.integration


def test_scripts_serve_starts_the_daemon_and_sigterm_stops_it(
    procs: list[Proc], db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    proc = Proc(
        [str(ROOT / "scripts" / "serve"), "--port", str(port)],
        base_env(DATABASE_URL=db_url, REVAER_DATA_DIR=str(tmp_path / "data")),
        tmp_path / "serve.log",
    )
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    assert proc.wait_healthy(url)["mode"] == "setup"
    started = time.monotonic()
    assert proc.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert "revaer stopped" in proc.output()


def test_cli_setup_and_settings_against_the_daemon_survive_kill_9(
    procs: list[Proc], tmp_path: Path
) -> None:
    # The zero-configuration default: no DATABASE_URL, so PostgreSQL is embedded in the data dir.
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        str(BIN / "revaer-app"),
        "--data-dir",
        str(data),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
    ]
    first = Proc(args, base_env(), tmp_path / "first.log")
    procs.append(first)
    first.wait_healthy(url, timeout=120)
    _keep_the_engine_on_loopback(data / "pg")

    code, out, err = cli(url, "--format", "json", "setup", "start", "--issued-by", "pytest")
    assert code == 0, err
    token = json.loads(out)["token"]
    code, out, err = cli(
        url, "--format", "json", "setup", "complete",
        "--instance", "lab", "--bind", "127.0.0.1", "--port", str(port),
        "--resume-dir", str(tmp_path / "resume"), "--download-root", str(tmp_path / "dl"),
        "--library-root", str(tmp_path / "lib"), "--api-key-label", "bootstrap",
        "--passphrase", "correct horse", "--token", token,
    )  # fmt: skip
    assert code == 0, err
    completed = json.loads(out)
    api_key = completed["api_key"]
    assert completed["app_profile"]["mode"] == "active"

    # The README's first-run changeset leaves the instance healthy: both caps set.
    patch = tmp_path / "patch.json"
    patch.write_text(
        json.dumps({"engine_profile": {"max_download_bps": 10485760, "max_upload_bps": 2048}})
    )
    code, out, err = cli(
        url, "--format", "json", "settings", "patch", "--file", str(patch), api_key=api_key
    )
    assert code == 0, err
    revision = json.loads(out)["revision"]
    assert revision > completed["revision"]
    deadline = time.monotonic() + 10
    while (full := httpx.get(url + "/health/full", timeout=5).json())["degraded"]:
        assert time.monotonic() < deadline, full
        time.sleep(0.1)

    # validation problems exit 2 and change nothing
    patch.write_text(json.dumps({"engine_profile": {"max_upload_bps": -1}}))
    code, out, err = cli(url, "settings", "patch", "--file", str(patch), api_key=api_key)
    assert code == 2 and "/engine_profile/max_upload_bps" in err

    # a second daemon on the same data dir refuses clearly
    second = Proc(args, base_env(), tmp_path / "second.log")
    procs.append(second)
    assert second.popen.wait(30) != 0
    assert "already running" in second.output()

    first.popen.kill()
    first.popen.wait()
    restarted = Proc(args, base_env(), tmp_path / "restarted.log")
    procs.append(restarted)
    assert restarted.wait_healthy(url, timeout=120)["mode"] == "active"
    code, out, err = cli(url, "--format", "json", "config", "get")
    assert code == 0, err
    snapshot = json.loads(out)
    assert snapshot["revision"] == revision
    assert snapshot["app_profile"]["instance_name"] == "lab"
    assert snapshot["engine_profile"]["max_upload_bps"] == 2048
    assert snapshot["secrets"] == ["libtorrent.passphrase"]
    # An open event stream does not hold shutdown up: streams are closed first, well inside
    # hypercorn's 5 s graceful drain.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stream:
        head = f"GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\nx-revaer-api-key: {api_key}"
        stream.sendall((head + "\r\n\r\n").encode())
        assert b"text/event-stream" in stream.recv(4096)
        started = time.monotonic()
        assert restarted.stop() == 0
        assert time.monotonic() - started < 4, restarted.output()[-2000:]


def _keep_the_engine_on_loopback(pgdata: Path) -> None:
    """Before setup starts the engine: no DHT or LSD, peers on 127.0.0.1 only (tests never
    reach the internet; the CLI's setup flow does not set these)."""
    socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]

    async def update() -> None:
        async with (
            open_asyncio_loop(),
            Database.open(f"postgresql://postgres:@/postgres?host={socket_dir}") as db,
        ):
            await db.execute(
                "UPDATE engine_profile SET dht = false, lsd = false, listen_interfaces = $1",
                ["127.0.0.1:0"],
            )

    trio.run(update)


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "revaer-app"), "--data-dir", str(tmp_path), "--bind", "not-an-ip"],
        env=base_env(), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--bind" in done.stderr


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose here (its parent may not have reaped it yet).
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_a_lost_database_directory_is_reported_and_sigterm_still_stops_postgres(
    procs: list[Proc], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc(
        [str(BIN / "revaer-app"), "--data-dir", str(data), "--port", str(port)],
        base_env(),
        tmp_path / "daemon.log",
    )
    procs.append(proc)
    assert proc.wait_healthy(url, timeout=120)["status"] == "ok"
    postmaster = _postmaster_pid(data / "pg")
    shutil.rmtree(data / "pg")

    # Health notices that PostgreSQL cannot write any more ...
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        health = httpx.get(url + "/health", timeout=5).json()
        if "database" in health["degraded"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"database never reported degraded: {health}")
    # ... and a write that fails there is a 503 Problem, not a 500.
    response = httpx.post(url + "/admin/setup/start", json={}, timeout=10)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")

    # SIGTERM stops the daemon and the PostgreSQL it started, although pg_ctl cannot find it.
    assert proc.stop(signal.SIGTERM, timeout=30) == 0
    deadline = time.monotonic() + 10
    while _alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(postmaster), proc.output()
