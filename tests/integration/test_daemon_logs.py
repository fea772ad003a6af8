"""What an operator reads: with output piped, every line the daemon writes is one JSON object.

The daemon is started as a process, set up, sent failing requests, cut off its PostgreSQL for a
few seconds (through a proxy) and stopped; each line must parse, with the documented keys.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.pg_proxy import PgProxy
from tests.integration.processes import BIN, LOG_KEYS, Proc, base_env, free_port

pytestmark = pytest.mark.integration

LEVELS = {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}
ACCESS_KEYS = {"method", "route", "status", "duration_ms", "request_id"}


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def health_status(url: str) -> int:
    try:
        return httpx.get(url + "/health", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def setup_body(root: Path, port: int) -> dict[str, Any]:
    return {
        "app_profile": {"instance_name": "logs", "bind_addr": "127.0.0.1", "http_port": port},
        "engine_profile": {
            "resume_dir": str(root / "resume"),
            "download_root": str(root / "downloads"),
            "listen_interfaces": ["127.0.0.1:0"],
            "dht": False,
            "lsd": False,
            "utp": False,
            "max_download_bps": 10_000_000,
            "max_upload_bps": 10_000_000,
        },
        "fs_policy": {"library_root": str(root / "library")},
        "api_keys": [{"op": "upsert", "key_id": "admin", "label": "ops", "enabled": True}],
    }


def test_every_line_of_a_daemon_lifecycle_is_json_with_the_documented_keys(
    procs: list[Proc], db_url: str, tmp_path: Path
) -> None:
    with contextlib.closing(PgProxy(db_url, password="pw-never-logged")) as proxy:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        daemon = Proc(
            [str(BIN / "revaer-app"), "--data-dir", str(tmp_path / "data"), "--port", str(port)],
            base_env(DATABASE_URL=proxy.url, REVAER_BIND_ADDR="127.0.0.1"),
            tmp_path / "daemon.log",
        )
        procs.append(daemon)
        daemon.wait_healthy(url)
        client = httpx.Client(base_url=url, timeout=10)

        token = client.post("/admin/setup/start", json={"issued_by": "ops"}).json()["token"]
        done = client.post(
            "/admin/setup/complete",
            json=setup_body(tmp_path, port),
            headers={"x-revaer-setup-token": token},
        )
        assert done.status_code == 200, done.text
        api_key = done.json()["api_key"]
        auth = {"x-revaer-api-key": api_key}

        refused = client.patch(
            "/admin/settings", json={"engine_profile": {"max_upload_bps": -1}}, headers=auth
        )
        assert refused.status_code == 422
        assert client.get("/no/such/route").status_code == 404

        proxy.cut()
        wait_for(lambda: health_status(url) == 503, "/health to report the database down")
        lost = client.patch(
            "/admin/settings", json={"engine_profile": {"max_upload_bps": 5000}}, headers=auth
        )
        assert lost.status_code == 503, lost.text
        proxy.restore()
        wait_for(lambda: health_status(url) == 200, "/health to recover")
        wait_for(lambda: "database back" in daemon.output(), "the 'database back' line")
        changed = client.patch(
            "/admin/settings", json={"engine_profile": {"max_upload_bps": 6000}}, headers=auth
        )
        assert changed.status_code == 200, changed.text
        client.close()
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0

    records = daemon.json_lines()
    text = daemon.output()
    for record in records:
        assert set(record) >= LOG_KEYS, record
        assert record["level"] in LEVELS, record
        assert record.get("request_id") != "-", record
    # Nothing secret, ever: the database password, the setup token, the key's secret.
    for secret in (proxy.password, token, api_key.split(":", 1)[1]):
        assert secret not in text
    messages = [r["msg"] for r in records]
    assert f"database: PostgreSQL at 127.0.0.1:{proxy.port}" in messages[0]
    assert any(m.startswith("database unavailable: ") for m in messages)
    back = next(r for r in records if r["msg"].startswith("database back after "))
    assert back["actor"] == "database" and back["level"] == "INFO"
    assert messages[-1] == "revaer stopped"

    access = [r for r in records if r["actor"] == "access"]
    assert all(set(r) >= ACCESS_KEYS for r in access), access
    by_route = {(r["method"], r["route"], r["status"]): r for r in access}
    assert ("POST", "/admin/setup/start", 201) in by_route
    assert by_route[("PATCH", "/admin/settings", 422)]["key_id"] == "admin"
    assert by_route[("PATCH", "/admin/settings", 503)]["key_id"] == "admin"
    assert ("GET", "unmatched", 404) in by_route
    assert (
        by_route[("PATCH", "/admin/settings", 422)]["request_id"] == refused.headers["x-request-id"]
    )

    audit = [r for r in records if r.get("audit")]
    assert [(r["who"], r["source"]) for r in audit] == [
        ("setup", "setup"),
        ("api key admin", "api"),
    ]
    assert audit[1]["changed"] == ["engine_profile.max_upload_bps"]
    assert audit[1]["revision"] > audit[0]["revision"]
    assert "api_keys.admin:upsert" in audit[0]["changed"]
