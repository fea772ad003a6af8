"""Every route of the route map refuses a missing or wrong API key, unless it is listed open,
and refuses keys whose role is below the one it declares.

The tables are checked against the route map itself: a route added without authentication,
or without an entry in ``ROLES``, fails here until it is deliberately listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from revaer.api._openapi import route_doc
from revaer.config import Role, role_allows
from tests.integration.api_harness import active_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration

OPEN = {
    ("GET", "/health"),
    ("GET", "/health/full"),
    # Open to callers on this host (the tests' clients are); others need a read key.
    ("GET", "/metrics"),
    ("GET", "/.well-known/revaer.json"),
    ("GET", "/docs/openapi.json"),
    # The setup flow: loopback only, a one-time token, refused once the instance is active.
    ("POST", "/admin/setup/start"),
    ("POST", "/admin/setup/complete"),
}
SOME_ID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"
ROLES: dict[tuple[str, str], Role] = {
    ("GET", "/v1/torrents"): "read",
    ("GET", "/admin/torrents"): "read",
    ("GET", "/v1/torrents/<uuid:torrent_id>"): "read",
    ("GET", "/admin/torrents/<uuid:torrent_id>"): "read",
    ("GET", "/v1/events"): "read",
    ("GET", "/v1/torrents/events"): "read",
    ("POST", "/v1/torrents"): "operate",
    ("POST", "/admin/torrents"): "operate",
    ("POST", "/v1/torrents/actions"): "operate",
    ("POST", "/v1/torrents/<uuid:torrent_id>/select"): "operate",
    ("POST", "/v1/torrents/<uuid:torrent_id>/action"): "operate",
    ("DELETE", "/admin/torrents/<uuid:torrent_id>"): "operate",
    ("PATCH", "/admin/settings"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("GET", "/v1/keys/<key_id>"): "admin",
    ("PATCH", "/v1/keys/<key_id>"): "admin",
    ("POST", "/v1/keys/<key_id>/rotate"): "admin",
    ("DELETE", "/v1/keys/<key_id>"): "admin",
}
"""The least role each keyed route needs."""


def route_map(app: Any) -> list[tuple[str, str]]:
    return sorted(
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    )


def concrete(rule: str) -> str:
    # A key id that does not exist: allowed callers get 404, never a change.
    return rule.replace("<uuid:torrent_id>", SOME_ID).replace("<key_id>", "ghost")


async def status_of(url: str, method: str, path: str, headers: dict[str, str]) -> int:
    """The status of one request on a raw socket, without reading the body (event streams
    never end), with ``{}`` as the body."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}:{port}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["content-type: application/json", "content-length: 2"]
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n{}").encode())
        head = b""
        with trio.fail_after(10):
            while b"\r\n" not in head:
                chunk = await stream.receive_some(4096)
                assert chunk, (method, path, head)
                head += chunk
    return int(head.split(b" ", 2)[1])


async def test_every_route_refuses_a_missing_or_wrong_key(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        routes = route_map(daemon.live.daemon.app)
        assert len(routes) > 15
        protected = [r for r in routes if r not in OPEN]
        assert {r for r in routes if r in OPEN} == OPEN
        key_id = daemon.headers["x-revaer-api-key"].split(":")[0]
        wrong = [{}, {"x-revaer-api-key": f"{key_id}:wrong-secret"}, {"x-revaer-api-key": "x"}]
        async with httpx.AsyncClient(base_url=daemon.url, timeout=10) as client:
            for method, rule in protected:
                path = concrete(rule)
                for headers in wrong:
                    response = await client.request(method, path, headers=headers, json={})
                    problem = assert_problem(response, 401)
                    assert key_id not in problem["detail"], (method, rule)


async def test_every_keyed_route_admits_exactly_the_roles_it_declares(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        app = daemon.live.daemon.app
        routes = route_map(app)
        for method, rule in routes:
            endpoint = next(
                r.endpoint
                for r in app.url_map.iter_rules()
                if r.rule == rule and method in (r.methods or ())
            )
            doc = route_doc(app.view_functions[endpoint])
            assert doc is not None, f"{method} {rule} has no @documented declaration"
            if (method, rule) in OPEN:
                assert doc.auth != "api_key", (method, rule)
            else:
                assert (method, rule) in ROLES, f"{method} {rule}: add it to ROLES"
                assert doc.role == ROLES[method, rule], (method, rule)
        assert set(ROLES) <= set(routes)
        keys: dict[str, dict[str, str]] = {}
        for role in ("read", "operate"):
            issued = await daemon.api.post("/v1/keys", json={"key_id": role, "role": role})
            assert issued.status_code == 201, issued.text
            keys[role] = {"x-revaer-api-key": issued.json()["api_key"]}
        keys["admin"] = daemon.headers
        for (method, rule), needed in sorted(ROLES.items()):
            for role, headers in keys.items():
                status = await status_of(daemon.url, method, concrete(rule), headers)
                if role_allows(role, needed):  # type: ignore[arg-type]
                    assert status not in (401, 403, 429), (method, rule, role, status)
                else:
                    assert status == 403, (method, rule, role, status)
        refused = await daemon.api.patch("/admin/settings", json={}, headers=keys["operate"])
        problem = assert_problem(refused, 403)
        assert "needs an API key with the admin role" in problem["detail"]
        assert "operate" in problem["detail"]
