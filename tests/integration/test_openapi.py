"""The OpenAPI document: served = checked in, valid, complete; and schemathesis against it.

schemathesis loads the checked-in document at import (the first test proves it equals what
the live server serves) and sends what it generates to a real daemon (real engine, real
PostgreSQL) running in a thread with its own ``trio.run``: no 5xx, and every answer conforms.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import trio
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis import checks

from revaer.db import open_asyncio_loop
from revaer.torrent import EngineTuning
from supervisors._tree import Daemon, run_daemon
from tests.conftest import ROOT, _admin, with_database
from tests.integration.api_harness import complete_setup
from tests.integration.daemon_harness import daemon_settings
from tests.torrent.engine_harness import TEST_SETTINGS

pytestmark = pytest.mark.integration

DOCUMENT = ROOT / "docs" / "api" / "openapi.json"
SPEC: dict[str, Any] = json.loads(DOCUMENT.read_text())
# The fuzzer must not reconfigure the instance it is testing (move its port, delete its key):
# settings have their own hostile-input tests. Setup routes answer 409 once active. Streams
# never end; their behaviour is tested in test_http_events.py.
schema = (
    schemathesis.openapi.from_dict(SPEC)
    .exclude(method="PATCH", path="/admin/settings")
    .exclude(path_regex=r".*/events$")
)

# Every outgoing connection goes to a dead SOCKS proxy on loopback, host names unresolved:
# whatever trackers or web seeds the fuzzer invents, nothing leaves this machine.
NO_EGRESS = TEST_SETTINGS | {
    "proxy_type": 2,  # socks5
    "proxy_hostname": "127.0.0.1",
    "proxy_port": 9,
    "proxy_hostnames": True,
    "proxy_peer_connections": True,
    "proxy_tracker_connections": True,
}


def test_the_served_document_is_the_checked_in_one_and_valid(live_api: tuple[str, str]) -> None:
    url, _key = live_api
    served = httpx.get(url + "/docs/openapi.json", timeout=10).json()
    assert served == SPEC, "docs/api/openapi.json is out of date: run scripts/export-openapi"
    validate(served)


def test_every_route_is_documented_with_examples_problems_and_security(
    live_api: tuple[str, str],
) -> None:
    paths = SPEC["paths"]
    for path, methods in paths.items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert "security" in op, where
            responses = op["responses"]
            for status, response in responses.items():
                if status.startswith(("4", "5")) and (path, status) != ("/health", "503"):
                    assert list(response["content"]) == ["application/problem+json"], where
            ok = [r for s, r in responses.items() if s.startswith("2")]
            assert ok, where
            media = [m for r in ok for m in r.get("content", {}).values()]
            plain = any(t in r.get("content", {}) for r in ok for t in ("text/plain",))
            assert (
                plain
                or path == "/docs/openapi.json"
                or any("example" in m or "examples" in m.get("schema", {}) for m in media)
                or "text/event-stream" in str(ok)
                or all("content" not in r for r in ok)  # 204: nothing to show
            ), where
            if "requestBody" in op:
                content = op["requestBody"]["content"]["application/json"]
                assert (
                    "example" in content
                    or "examples" in json.dumps(content)
                    or "$ref" in (json.dumps(content))
                ), where
            if path.startswith("/v1/"):
                role = op["x-revaer-role"]
                assert role in ("read", "operate", "admin"), where
                assert op["security"] == [{"ApiKey": [role]}], where
                assert f"`{role}`" in op["description"], where
                assert {"401", "403", "429"} <= set(responses), where
    assert set(SPEC["components"]["securitySchemes"]) == {"ApiKey", "SetupToken"}


@pytest.fixture(scope="module")
def live_api(
    pg_admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A daemon after setup, in a thread: its URL and API key."""
    name = f"revaer_api_{uuid.uuid4().hex[:12]}"
    trio.run(_admin, pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    root = tmp_path_factory.mktemp("api")
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        tuning = EngineTuning(extra_settings=NO_EGRESS)
        settings_ = daemon_settings(root / "data", with_database(pg_admin_url, name))
        settings_.data_dir.mkdir(parents=True, exist_ok=True)
        async with open_asyncio_loop(), trio.open_nursery() as nursery:
            box["cancel"] = nursery.cancel_scope
            box["token"] = trio.lowlevel.current_trio_token()

            def on_ready(daemon: Daemon) -> None:
                box["url"] = daemon.urls[0]
                ready.set()

            nursery.start_soon(lambda: run_daemon(settings_, on_ready=on_ready, tuning=tuning))

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    assert ready.wait(30), "the daemon did not start"
    url = box["url"]
    key = trio.run(_setup, url, root)
    yield url, key
    trio.from_thread.run_sync(box["cancel"].cancel, trio_token=box["token"])
    thread.join(30)
    trio.run(_admin, pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _setup(url: str, root: Path) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        return await complete_setup(client, root)


# Every answer must conform. Not asked: that any schema-valid request succeeds (a valid
# shape can still name a torrent that does not exist, or a magnet that is not one).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.allow_header_conformance,
    checks.ignored_auth,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_document(case: Any, live_api: tuple[str, str]) -> None:
    url, key = live_api
    case.call_and_validate(base_url=url, headers={"x-revaer-api-key": key}, checks=CHECKS)
