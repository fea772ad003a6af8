"""Test support for the CLI: a scripted HTTP peer behind the transport seam, and a runner."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from click.testing import CliRunner, Result

from revaer.api.models import PROBLEM_CONTENT_TYPE, InvalidParamDoc
from revaer.cli import Wiring, cli

API_URL = "http://127.0.0.1:7070"
TELEMETRY_URL = "http://telemetry.test/collect"
API_KEY = "admin:s3cr3t-value"
REVAER_ENV_VARS = (
    "REVAER_API_URL",
    "REVAER_API_KEY",
    "REVAER_HTTP_TIMEOUT_SECS",
    "REVAER_SETUP_TOKEN",
    "REVAER_TELEMETRY_ENDPOINT",
)

Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Answers requests from scripted routes and records every request it saw.

    A request to an unscripted route fails the test loudly instead of returning something
    the CLI might mistake for a real answer.
    """

    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` with a fresh response each time."""

        def respond(_request: httpx.Request) -> httpx.Response:
            if content is not None:
                return httpx.Response(status, content=content, headers=headers)
            return httpx.Response(status, json=json, headers=headers)

        self.routes[(method, path)] = respond

    def problem(
        self,
        method: str,
        path: str,
        *,
        status: int,
        title: str,
        detail: str,
        invalid_params: Sequence[InvalidParamDoc] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Answer with an RFC 9457 problem document."""
        document: dict[str, object] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
        }
        if invalid_params is not None:
            document["invalid_params"] = list(invalid_params)
        if request_id is not None:
            document["request_id"] = request_id
        self.on(
            method,
            path,
            status=status,
            content=json.dumps(document).encode(),
            headers={"content-type": PROBLEM_CONTENT_TYPE},
        )

    def fail(self, method: str, path: str, error: Exception) -> None:
        """Make ``method path`` raise ``error`` inside the transport."""

        def respond(_request: httpx.Request) -> httpx.Response:
            raise error

        self.routes[(method, path)] = respond

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The transport handler."""
        self.requests.append(request)
        responder = self.routes.get((request.method, request.url.path))
        if responder is None:
            raise AssertionError(f"unscripted request: {request.method} {request.url}")
        return responder(request)

    @property
    def transport(self) -> httpx.MockTransport:
        """A transport routing to this fake."""
        return httpx.MockTransport(self.handle)

    def only_request(self) -> httpx.Request:
        """The single request sent to the API (telemetry excluded)."""
        sent = self.api_requests()
        assert len(sent) == 1, [str(request.url) for request in sent]
        return sent[0]

    def api_requests(self) -> list[httpx.Request]:
        """Requests sent anywhere but the telemetry endpoint."""
        return [request for request in self.requests if str(request.url) != TELEMETRY_URL]

    def telemetry_events(self) -> list[object]:
        """Bodies POSTed to the telemetry endpoint."""
        return [
            json.loads(request.content)
            for request in self.requests
            if str(request.url) == TELEMETRY_URL
        ]


def run(
    api: FakeApi,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> Result:
    """Invoke ``revaer *args`` against ``api``, with no REVAER_* variable leaking in."""
    cleared: dict[str, str | None] = dict.fromkeys(REVAER_ENV_VARS)
    runner = CliRunner(env={**cleared, **(env or {})})
    return runner.invoke(cli, list(args), obj=Wiring(transport=api.transport), input=input)


def body_of(request: httpx.Request) -> object:
    """The JSON body a request carried."""
    return json.loads(request.content)


PUBLIC_SNAPSHOT: dict[str, object] = {
    "revision": 7,
    "app_profile": {
        "instance_name": "den",
        "mode": "active",
        "bind_addr": "127.0.0.1",
        "http_port": 7070,
        "telemetry": {"log_level": "info"},
        "features": {},
    },
    "engine_profile": {
        "implementation": "libtorrent",
        "dht": True,
        "max_active": None,
        "resume_dir": "/var/lib/revaer/resume",
        "download_root": "/srv/downloads",
    },
    "fs_policy": {"library_root": "/srv/library", "cleanup_keep": ["*.mkv", "*.srt"]},
    "secrets": ["libtorrent.passphrase"],
}
"""``GET /.well-known/revaer.json``: no API keys."""

ADMIN_KEY: dict[str, object] = {
    "key_id": "admin",
    "label": "bootstrap",
    "role": "admin",
    "enabled": True,
    "rate_limit": {"burst": 10, "per_seconds": 1},
    "expires_at": None,
    "created_at": "2026-12-01T10:00:00+00:00",
    "previous_secret_valid_until": None,
}
CI_KEY: dict[str, object] = {
    "key_id": "ci",
    "label": "automation",
    "role": "read",
    "enabled": False,
    "rate_limit": None,
    "expires_at": "2030-01-01T00:00:00Z",
    "created_at": "2026-12-02T08:30:00+00:00",
    "previous_secret_valid_until": None,
}

SNAPSHOT: dict[str, object] = {**PUBLIC_SNAPSHOT, "api_keys": [ADMIN_KEY, CI_KEY]}
"""The snapshot as the admin answers (setup complete, settings patch) carry it."""
