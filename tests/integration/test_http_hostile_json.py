"""Untrusted JSON on every JSON route: each hostile body is a 4xx Problem with a pointer.

Each body once gave a 500 somewhere: nesting deep enough for a ``RecursionError``, an integer
literal over Python's 4,300-digit limit (``ValueError``), and lone surrogates (escaped, or as
CESU-8 bytes) that ``json.loads`` accepts and PostgreSQL then refuses. The fix lives in the one
shared body parser, so the table below names every route that reads JSON; a route added
without a row fails ``test_every_json_route_is_in_the_table``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.daemon_harness import RunningDaemon, daemon_settings, running_daemon
from tests.integration.test_http_setup import SETUP_BODY, assert_problem, complete, start_token

pytestmark = pytest.mark.integration

DEEP = 100_000


def _deep(prefix: bytes, suffix: bytes) -> bytes:
    return prefix + b"[" * DEEP + b"]" * DEEP + suffix


@dataclass(frozen=True)
class JsonRoute:
    method: str
    rule: str
    setup_mode: bool
    """Served only before setup is complete (else after, with an API key)."""
    body: Callable[[bytes], bytes]
    """A valid-looking body with ``value`` (raw JSON) at a string field the route stores."""

    @property
    def path(self) -> str:
        return self.rule.replace("<uuid:torrent_id>", SOME_ID).replace("<key_id>", "admin")


SOME_ID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"
MAGNET = b'"magnet:?xt=urn:btih:' + b"a" * 40 + b'"'


ROUTES = [
    JsonRoute("POST", "/admin/setup/start", True, lambda v: b'{"issued_by": ' + v + b"}"),
    JsonRoute(
        "POST",
        "/admin/setup/complete",
        True,
        lambda v: b'{"app_profile": {"instance_name": ' + v + b"}}",
    ),
    JsonRoute(
        "PATCH",
        "/admin/settings",
        False,
        lambda v: b'{"app_profile": {"instance_name": ' + v + b"}}",
    ),
    JsonRoute(
        "POST", "/v1/torrents", False, lambda v: b'{"magnet": ' + MAGNET + b', "name": ' + v + b"}"
    ),
    JsonRoute(
        "POST",
        "/admin/torrents",
        False,
        lambda v: b'{"magnet": ' + MAGNET + b', "tags": [' + v + b"]}",
    ),
    JsonRoute(
        "POST",
        "/v1/torrents/actions",
        False,
        lambda v: (
            b'{"ids": ["'
            + SOME_ID.encode()
            + b'"], "action": {"type": "move", "download_dir": '
            + v
            + b"}}"
        ),
    ),
    JsonRoute(
        "POST",
        "/v1/torrents/<uuid:torrent_id>/select",
        False,
        lambda v: b'{"include": [' + v + b"]}",
    ),
    JsonRoute(
        "POST",
        "/v1/torrents/<uuid:torrent_id>/action",
        False,
        lambda v: b'{"type": "move", "download_dir": ' + v + b"}",
    ),
    JsonRoute("POST", "/v1/keys", False, lambda v: b'{"label": ' + v + b"}"),
    JsonRoute("PATCH", "/v1/keys/<key_id>", False, lambda v: b'{"label": ' + v + b"}"),
    JsonRoute(
        "POST", "/v1/keys/<key_id>/rotate", False, lambda v: b'{"grace_seconds": ' + v + b"}"
    ),
]

HOSTILE: dict[str, Callable[[JsonRoute], bytes]] = {
    "nested 100,000 deep": lambda r: r.body(_deep(b"", b"")),
    "nested 100,000 deep at the top": lambda r: _deep(b"", b""),
    "an integer of 5,000 digits": lambda r: r.body(b"1" * 5000),
    "an escaped lone surrogate": lambda r: r.body(b'"a\\ud800b"'),
    "a lone low surrogate": lambda r: r.body(b'"\\udfff"'),
    "a CESU-8 surrogate": lambda r: r.body(b'"a\xed\xa0\x80b"'),
    "an escaped NUL": lambda r: r.body(b'"a\\u0000b"'),
    "NaN": lambda r: r.body(b"NaN"),
    "not UTF-8": lambda r: r.body(b'"\xff\xfe"'),
}


@pytest.fixture
async def live(aio_loop: None, db_url: str, tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    async with running_daemon(daemon_settings(tmp_path / "data", db_url)) as running:
        yield running


async def _send(
    client: httpx.AsyncClient, route: JsonRoute, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(
        route.method,
        route.path,
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def _assert_pointed_problem(response: httpx.Response, case: str, route: JsonRoute) -> None:
    where = f"{case} to {route.method} {route.path}"
    assert response.status_code in (400, 422), (where, response.status_code, response.text)
    problem: dict[str, Any] = assert_problem(response, response.status_code)
    pointers = [p["pointer"] for p in problem.get("invalid_params", [])]
    assert pointers, (where, problem)
    assert all(p == "" or p.startswith("/") for p in pointers), (where, pointers)


async def test_every_hostile_body_is_a_problem_with_a_pointer_on_every_json_route(
    live: RunningDaemon,
) -> None:
    client = live.client
    token = await start_token(client)
    for route in (r for r in ROUTES if r.setup_mode):
        headers = {"x-revaer-setup-token": token}
        for case, build in HOSTILE.items():
            _assert_pointed_problem(await _send(client, route, build(route), headers), case, route)
    # The token still works: no hostile body consumed it or changed anything.
    api_key = (await complete(client, token, SETUP_BODY)).json()["api_key"]
    before = (await client.get("/.well-known/revaer.json")).json()
    for route in (r for r in ROUTES if not r.setup_mode):
        headers = {"x-revaer-api-key": api_key}
        for case, build in HOSTILE.items():
            _assert_pointed_problem(await _send(client, route, build(route), headers), case, route)
    assert (await client.get("/.well-known/revaer.json")).json() == before
    # (The engine may be degraded here: SETUP_BODY's directories are not writable.)
    assert (await client.get("/health")).json()["database"] == "ok"


async def test_every_json_route_is_in_the_table(live: RunningDaemon) -> None:
    app = live.daemon.app
    body_methods = {"POST", "PUT", "PATCH"}
    routed = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) & body_methods
        if getattr(app.view_functions[rule.endpoint], "_revaer_reads_json", True)
    }
    assert routed == {(r.method, r.rule) for r in ROUTES}
