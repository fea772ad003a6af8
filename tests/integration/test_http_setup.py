"""The setup flow and settings over real HTTP against the in-process daemon."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from revaer.db import Database
from tests.conftest import ROOT
from tests.integration.daemon_harness import RunningDaemon, daemon_settings, running_daemon

pytestmark = pytest.mark.integration

SETUP_BODY: dict[str, Any] = {
    "app_profile": {"instance_name": "den"},
    "engine_profile": {"resume_dir": "/srv/revaer/resume", "download_root": "/srv/revaer/dl"},
    "fs_policy": {"library_root": "/srv/library"},
    "api_keys": [{"op": "upsert", "key_id": "admin", "label": "bootstrap", "enabled": True}],
}


@pytest.fixture
async def live(aio_loop: None, db_url: str, tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    async with running_daemon(daemon_settings(tmp_path / "data", db_url)) as running:
        yield running


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:revaer:")
    return body


async def start_token(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/admin/setup/start", json=body or None)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def complete(client: httpx.AsyncClient, token: str, body: Any = None) -> httpx.Response:
    return await client.post(
        "/admin/setup/complete",
        json=SETUP_BODY if body is None else body,
        headers={"x-revaer-setup-token": token},
    )


async def test_setup_flow_issues_a_key_and_activates(live: RunningDaemon, db_url: str) -> None:
    client = live.client
    assert (await client.get("/health")).json()["mode"] == "setup"
    token = await start_token(client, issued_by="test", ttl_seconds=120)
    response = await complete(client, token)
    assert response.status_code == 200, response.text
    body = response.json()
    key_id, secret = body["api_key"].split(":", 1)
    assert key_id == "admin" and len(secret) >= 32
    assert body["app_profile"]["mode"] == "active"
    assert body["app_profile"]["instance_name"] == "den"
    # single use, and refused once active
    assert_problem(await complete(client, token), 409)
    assert_problem(await client.post("/admin/setup/start"), 409)
    # the key works for settings and the change shows in the well-known snapshot
    patched = await client.patch(
        "/admin/settings",
        json={"engine_profile": {"max_download_bps": 123456}},
        headers={"x-revaer-api-key": body["api_key"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["revision"] > body["revision"]
    known = (await client.get("/.well-known/revaer.json")).json()
    assert known["revision"] == patched.json()["revision"]
    assert known["engine_profile"]["max_download_bps"] == 123456
    # neither the token nor the secret is anywhere in the database in plaintext
    async with Database.open(db_url) as db:
        dump = await db.fetchval(
            "SELECT string_agg(t::text, '|') FROM ("
            " SELECT to_jsonb(s)::text AS t FROM setup_tokens s"
            " UNION ALL SELECT to_jsonb(k)::text FROM api_keys k"
            " UNION ALL SELECT to_jsonb(h)::text FROM settings_history h) x"
        )
    assert token not in dump and secret not in dump
    assert "$argon2id$" in dump


async def test_setup_token_rules(live: RunningDaemon) -> None:
    client = live.client
    # no token yet, wrong token, missing header
    assert_problem(await complete(client, "nope"), 401)
    first = await start_token(client)
    second = await start_token(client)  # supersedes the first: one active at most
    superseded = assert_problem(await complete(client, first), 401)
    assert "superseded by a newer `revaer setup start`" in superseded["detail"]
    missing = await client.post("/admin/setup/complete", json=SETUP_BODY)
    body = assert_problem(missing, 401)
    assert body["invalid_params"][0]["pointer"] == "/headers/x-revaer-setup-token"
    # a refused changeset leaves the token usable
    bad = await complete(client, second, {**SETUP_BODY, "fs_policy": {"library_root": "rel"}})
    assert assert_problem(bad, 422)["invalid_params"] == [
        {"pointer": "/fs_policy/library_root", "message": "must be an absolute path"}
    ]
    missing_paths = await complete(client, second, {"app_profile": {"instance_name": "x"}})
    pointers = {p["pointer"] for p in assert_problem(missing_paths, 422)["invalid_params"]}
    assert pointers == {
        "/engine_profile/resume_dir",
        "/engine_profile/download_root",
        "/fs_policy/library_root",
    }
    assert (await complete(client, second)).status_code == 200


async def test_expired_token_is_refused(live: RunningDaemon) -> None:
    token = await start_token(live.client, ttl_seconds=60)
    await live.daemon.db.execute("UPDATE setup_tokens SET expires_at = now() - interval '1 s'")
    body = assert_problem(await complete(live.client, token), 401)
    assert "expired" in body["detail"]


async def test_malformed_requests_get_problems_not_500s(live: RunningDaemon) -> None:
    client = live.client
    cases = [
        client.post(
            "/admin/setup/start", content=b"{not json", headers={"content-type": "application/json"}
        ),
        client.post("/admin/setup/start", json={"ttl_seconds": "soon", "who": 1}),
        client.post("/admin/setup/start", json=[1, 2]),
        client.post("/admin/setup/start", content=b"\xff\xfe"),
        _oversized(live.url + "/admin/setup/start"),
        client.post("/admin/setup/complete", headers={"x-revaer-setup-token": "t"}),
        client.patch("/admin/settings", json={}),
        client.patch("/admin/settings", json={}, headers={"x-revaer-api-key": "no-colon"}),
        client.patch("/admin/settings", json={}, headers={"x-revaer-api-key": "ghost:secret"}),
        client.get("/no/such/route"),
        client.delete("/health"),
    ]
    statuses = []
    for pending in cases:
        response = await pending
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        statuses.append(response.status_code)
    assert statuses == [400, 422, 422, 400, 413, 400, 401, 401, 401, 404, 405]
    invalid = (
        await client.post("/admin/setup/start", json={"ttl_seconds": "soon", "who": 1})
    ).json()
    assert {p["pointer"] for p in invalid["invalid_params"]} == {"/ttl_seconds", "/who"}


async def _oversized(url: str) -> httpx.Response:
    # httpx's async body iterator is left unfinished when the server answers 413 early, which
    # trio reports as a ResourceWarning; the sync client has no such generator.
    return await trio.to_thread.run_sync(
        lambda: httpx.post(url, content=b"x" * (2 << 20), timeout=10)
    )


async def test_settings_patch_problems(live: RunningDaemon) -> None:
    client = live.client
    token = await start_token(client)
    api_key = (await complete(client, token)).json()["api_key"]
    headers = {"x-revaer-api-key": api_key}
    before = (await client.get("/.well-known/revaer.json")).json()
    bad = await client.patch(
        "/admin/settings",
        json={"engine_profile": {"listen_port": 0, "nope": 1}, "app_profile": {"mode": "setup"}},
        headers=headers,
    )
    assert {p["pointer"] for p in assert_problem(bad, 422)["invalid_params"]} == {
        "/engine_profile/listen_port",
        "/engine_profile/nope",
        "/app_profile/mode",
    }
    wrong_secret = api_key.split(":")[0] + ":wrong-secret-value"
    assert_problem(
        await client.patch("/admin/settings", json={}, headers={"x-revaer-api-key": wrong_secret}),
        401,
    )
    stale = await client.patch(
        "/admin/settings",
        json={"expected_revision": 0, "fs_policy": {"extract": False}},
        headers=headers,
    )
    assert_problem(stale, 409)
    assert (await client.get("/.well-known/revaer.json")).json() == before
    issued = await client.patch(
        "/admin/settings",
        json={"api_keys": [{"op": "upsert", "key_id": "ci", "label": "ci"}]},
        headers=headers,
    )
    (new_key,) = issued.json()["issued_api_keys"]
    # A new key is a read key unless the change names a role: settings need admin.
    refused = await client.patch("/admin/settings", json={}, headers={"x-revaer-api-key": new_key})
    assert "needs an API key with the admin role" in assert_problem(refused, 403)["detail"]
    promoted = await client.patch(
        "/admin/settings",
        json={"api_keys": [{"op": "upsert", "key_id": "ci", "role": "admin"}]},
        headers=headers,
    )
    assert promoted.status_code == 200
    again = await client.patch("/admin/settings", json={}, headers={"x-revaer-api-key": new_key})
    assert again.status_code == 200


async def test_request_ids_health_and_metrics(live: RunningDaemon) -> None:
    client = live.client
    echoed = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health", headers={"x-request-id": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    problem = await client.get("/missing", headers={"x-request-id": "trace-1"})
    assert problem.json()["request_id"] == "trace-1"
    health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["database"] == "ok"
    with trio.fail_after(5):  # the watcher reports in once LISTEN is up
        while (
            "config_watcher"
            not in (full := (await client.get("/health/full")).json())["components"]
        ):
            await trio.sleep(0.05)
    assert full["build_sha"] == "test-sha"
    assert full["database"]["status"] == "ok" and full["database"]["latency_ms"] >= 0
    assert full["config_watcher"]["state"] == "ok"
    assert full["config_watcher"]["details"]["revision"] == full["revision"]
    assert set(full["components"]) >= {"database", "config_watcher", "http"}
    assert full["degraded"] == []
    metrics = (await client.get("/metrics")).text
    assert 'revaer_http_requests_total{code="200",method="GET",route="/health"}' in metrics
    assert "revaer_config_watch_latency_seconds_bucket" in metrics


def _documented_metrics() -> dict[str, str]:
    """``name → type`` from the table in docs/operations.md "Metrics"."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", section, flags=re.MULTILINE)
    return dict(rows)


async def test_metrics_are_the_documented_ones_and_follow_the_conventions(
    live: RunningDaemon,
) -> None:
    await live.client.get("/health")
    text = (await live.client.get("/metrics")).text
    served = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))

    assert served == _documented_metrics()
    assert all(name.startswith("revaer_") for name in served)
    assert all(name.endswith("_total") for name, kind in served.items() if kind == "counter")
    assert "_created" not in text
    # The catalog is fed directly: with no event stream open, nobody subscribes to the bus.
    assert re.search(r"^revaer_sse_subscribers 0\.0$", text, flags=re.MULTILINE)
    # Both directions exist before any byte moved, so rate() has a series.
    assert 'revaer_engine_payload_bytes_total{direction="download"} 0.0' in text
