"""Request bounds on the real daemon: headers (431), URL (414), body (413), JSON shape (422);
each a Problem, nothing changed, and the limits follow ``app_profile.http_limits`` live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.integration.api_harness import ActiveDaemon, active_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration


async def oversized(daemon: ActiveDaemon, body: bytes) -> httpx.Response:
    """PATCH a body the server refuses before reading it all (a sync client in a thread: the
    async one leaves its unsent body to the garbage collector)."""

    def send() -> httpx.Response:
        return httpx.patch(
            daemon.url + "/admin/settings", content=body, headers=daemon.headers, timeout=30
        )

    return await trio.to_thread.run_sync(send)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_oversized_and_overdeep_requests_are_problems_that_change_nothing(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        api = daemon.api
        before = (await api.get("/.well-known/revaer.json")).json()

        many = {f"x-filler-{n}": "v" for n in range(120)}
        assert (
            "header" in assert_problem(await api.get("/v1/torrents", headers=many), 431)["detail"]
        )
        big = {"x-filler": "v" * 20_000}
        assert_problem(await api.get("/v1/torrents", headers=big), 431)
        assert_problem(await api.get("/v1/torrents?name=" + "a" * 9_000), 414)

        deep = {"app_profile": {"telemetry": nested(40)}}
        problem = assert_problem(await api.patch("/admin/settings", json=deep), 422)
        (param,) = problem["invalid_params"]
        assert param["message"] == "nests deeper than 32 levels"
        assert param["pointer"].startswith("/app_profile/telemetry/a/a/")
        long_string = {"app_profile": {"telemetry": {"note": "x" * 70_000}}}
        problem = assert_problem(await api.patch("/admin/settings", json=long_string), 422)
        assert problem["invalid_params"] == [
            {"pointer": "/app_profile/telemetry/note", "message": "is longer than 65536 characters"}
        ]
        long_list = {"app_profile": {"telemetry": {"list": [0] * 10_001}}}
        problem = assert_problem(await api.patch("/admin/settings", json=long_list), 422)
        assert problem["invalid_params"][0]["pointer"] == "/app_profile/telemetry/list"
        too_big = await oversized(daemon, b" " * (1 << 20) + b"{}")
        assert_problem(too_big, 413)
        assert too_big.headers["connection"] == "close"
        assert (await api.get("/.well-known/revaer.json")).json() == before

        # The bounds follow the configuration, from the next request on.
        await daemon.patch({"app_profile": {"http_limits": {"max_json_depth": 8}}})
        problem = assert_problem(
            await api.patch("/admin/settings", json={"app_profile": {"telemetry": nested(9)}}), 422
        )
        assert problem["invalid_params"][0]["message"] == "nests deeper than 8 levels"
        await daemon.patch({"app_profile": {"http_limits": {"max_body_bytes": 2048}}})
        assert_problem(await oversized(daemon, b" " * 4096 + b"{}"), 413)
        await daemon.patch({"app_profile": {"http_limits": {}}})
        ok = await api.patch("/admin/settings", content=b" " * 4096 + b"{}")
        assert ok.status_code == 200, ok.text
