"""Loopback-only setup and live re-binding of the HTTP server."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from quart_trio import QuartTrio

from revaer.api.server import Endpoint, serve_http
from revaer.db import Database
from revaer.errors import FatalError
from revaer.runtime import Watched
from tests.integration.daemon_harness import daemon_settings, running_daemon
from tests.integration.test_http_setup import SETUP_BODY, complete, start_token
from tests.torrent.engine_harness import snapshot

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_setup_is_refused_from_a_non_loopback_client(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with running_daemon(daemon_settings(tmp_path / "d", db_url)) as live:
        app = live.daemon.app
        client = app.test_client()
        remote = {"client": ("203.0.113.7", 40000)}
        response = await client.post("/admin/setup/start", scope_base=remote)
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"
        mapped = {"client": ("::ffff:127.0.0.1", 40000)}
        response = await client.post("/admin/setup/start", scope_base=mapped)
        assert response.status_code == 201
        assert await live.daemon.db.fetchval("SELECT count(*) FROM setup_tokens") == 1


async def test_changing_the_port_live_rebinds_the_http_server(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    first, second = _free_port(), _free_port()
    async with Database.open(db_url) as db:
        await db.execute("UPDATE app_profile SET http_port = $1", first)
    settings = replace(daemon_settings(tmp_path / "d", db_url), bind=None, port=None)
    async with running_daemon(settings) as live:
        assert live.url == f"http://127.0.0.1:{first}"
        token = await start_token(live.client)
        body = {**SETUP_BODY, "app_profile": {"instance_name": "moved", "http_port": second}}
        response = await complete(live.client, token, body)
        assert response.status_code == 200, response.text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second}") as moved:
            with trio.fail_after(10):
                while True:
                    try:
                        health = await moved.get("/health")
                        break
                    except httpx.ConnectError:
                        await trio.sleep(0.05)
        assert health.json()["mode"] == "active"
        with pytest.raises(httpx.ConnectError):
            await live.client.get("/health")


async def test_an_unbindable_address_keeps_the_old_one_and_degrades(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    async with Database.open(db_url) as db:
        await db.execute("UPDATE app_profile SET http_port = $1", port)
    settings = replace(daemon_settings(tmp_path / "d", db_url), bind=None, port=None)
    async with running_daemon(settings) as live:
        # 192.0.2.0/24 is TEST-NET-1: never assigned here, so binding it fails (nothing is sent).
        await live.daemon.db.execute("UPDATE app_profile SET bind_addr = '192.0.2.1'")
        with trio.fail_after(15):
            while "http" not in (await _health(live.client))["degraded"]:
                await trio.sleep(0.05)
        full = (await live.client.get("/health/full")).json()
        assert "cannot listen on 192.0.2.1" in full["components"]["http"]["reason"]
        # going back to the working address clears it
        await live.daemon.db.execute("UPDATE app_profile SET bind_addr = '127.0.0.1'")
        with trio.fail_after(15):
            while (await _health(live.client))["degraded"]:
                await trio.sleep(0.05)


async def _health(client: httpx.AsyncClient) -> dict[str, Any]:
    # While the server drains for a re-bind, idle keep-alive connections are closed.
    while True:
        try:
            body: dict[str, Any] = (await client.get("/health")).json()
        except httpx.TransportError:
            await trio.sleep(0.05)
        else:
            return body


async def test_a_busy_port_is_fatal_at_the_first_bind_and_retried_on_a_restart(
    tmp_path: Path,
) -> None:
    snapshots = Watched(snapshot(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = Endpoint(host="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(FatalError, match="Address already in use; stop the other program"):
            await serve_http(QuartTrio("t"), snapshots, endpoint)
        # Once the daemon has been up, a crashed server that restarts gets the plain OSError,
        # so the supervisor's backoff applies instead of ending the daemon.
        with pytest.raises(OSError, match="Address already in use"):
            await serve_http(QuartTrio("t"), snapshots, endpoint, first_bind=lambda: False)
