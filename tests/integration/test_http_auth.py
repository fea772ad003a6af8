"""Every route of the route map refuses a missing or wrong API key, unless it is listed open.

The table is the route map itself: a route added without authentication fails here until it
is either protected or deliberately listed in ``OPEN``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.api_harness import active_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration

OPEN = {
    ("GET", "/health"),
    ("GET", "/health/full"),
    ("GET", "/metrics"),
    ("GET", "/.well-known/revaer.json"),
    ("GET", "/docs/openapi.json"),
    # The setup flow: loopback only, a one-time token, refused once the instance is active.
    ("POST", "/admin/setup/start"),
    ("POST", "/admin/setup/complete"),
}
SOME_ID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"


async def test_every_route_refuses_a_missing_or_wrong_key(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        app = daemon.live.daemon.app
        routes = sorted(
            (method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")
        )
        assert len(routes) > 15
        protected = [r for r in routes if r not in OPEN]
        assert {r for r in routes if r in OPEN} == OPEN
        key_id = daemon.headers["x-revaer-api-key"].split(":")[0]
        wrong = [{}, {"x-revaer-api-key": f"{key_id}:wrong-secret"}, {"x-revaer-api-key": "x"}]
        async with httpx.AsyncClient(base_url=daemon.url, timeout=10) as client:
            for method, rule in protected:
                path = rule.replace("<uuid:torrent_id>", SOME_ID)
                for headers in wrong:
                    response = await client.request(method, path, headers=headers, json={})
                    problem = assert_problem(response, 401)
                    assert key_id not in problem["detail"], (method, rule)
