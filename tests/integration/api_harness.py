"""An active daemon (setup done over HTTP, engine on loopback) and an SSE reader for API tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import trio

from revaer.torrent import EngineTuning
from tests.integration.daemon_harness import RunningDaemon, daemon_settings, running_daemon
from tests.torrent.engine_harness import TEST_SETTINGS


def setup_body(root: Path) -> dict[str, Any]:
    """A setup changeset whose engine downloads under ``root`` and listens on loopback only."""
    return {
        "app_profile": {"instance_name": "api-test"},
        "engine_profile": {
            "resume_dir": str(root / "resume"),
            "download_root": str(root / "downloads"),
            "listen_interfaces": ["127.0.0.1:0"],
            "dht": False,
            "lsd": False,
            "upnp": False,
            "natpmp": False,
            "utp": False,
            "max_download_bps": 200_000_000,
            "max_upload_bps": 200_000_000,
        },
        "fs_policy": {"library_root": str(root / "library")},
        # A limit far above what any test sends (a key without one raises a guard rail).
        "api_keys": [
            {
                "op": "upsert",
                "key_id": "admin",
                "label": "tests",
                "enabled": True,
                "rate_limit": {"burst": 1_000_000, "per_seconds": 1},
            }
        ],
    }


@dataclass
class ActiveDaemon:
    """A daemon after setup, its API key header, and a client that sends it."""

    live: RunningDaemon
    headers: dict[str, str]
    api: httpx.AsyncClient
    root: Path

    @property
    def url(self) -> str:
        return self.live.url

    async def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.api.patch("/admin/settings", json=body)
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        return doc

    async def engine_running(self) -> None:
        with trio.fail_after(20):
            while not self.live.daemon.engine.handle.running:
                await trio.sleep(0.02)


async def complete_setup(client: httpx.AsyncClient, root: Path) -> str:
    """Run the setup flow; the API key (``key_id:secret``)."""
    started = await client.post("/admin/setup/start")
    assert started.status_code == 201, started.text
    done = await client.post(
        "/admin/setup/complete",
        json=setup_body(root),
        headers={"x-revaer-setup-token": started.json()["token"]},
    )
    assert done.status_code == 200, done.text
    key: str = done.json()["api_key"]
    return key


@asynccontextmanager
async def active_daemon(
    root: Path, db_url: str, *, api_key: str | None = None
) -> AsyncIterator[ActiveDaemon]:
    """The daemon in-process with its engine on loopback; setup is completed unless a key
    from an earlier run on the same database is given."""
    tuning = EngineTuning(extra_settings=TEST_SETTINGS)
    async with running_daemon(daemon_settings(root / "data", db_url), tuning=tuning) as live:
        key = api_key or await complete_setup(live.client, root)
        headers = {"x-revaer-api-key": key}
        async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=20) as api:
            yield ActiveDaemon(live=live, headers=headers, api=api, root=root)


@dataclass
class SseEvent:
    """One dispatched SSE block."""

    event: str
    id: int | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseStream:
    """A minimal SSE client on a raw trio socket (HTTP/1.1, chunked body).

    httpx's async streaming leaves httpcore's body generator to the garbage collector when a
    never-ending response is closed early, which trio reports as a ResourceWarning; a stream
    this small is easier to own outright.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._raw = bytearray()
        self._body = bytearray()
        self._chunked = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.retry: int | None = None
        self.comments = 0

    async def _more_raw(self) -> None:
        data = await self._stream.receive_some(65536)
        if not data:
            raise EOFError("the stream ended")
        self._raw += data

    async def _raw_line(self) -> bytes:
        while b"\r\n" not in self._raw:
            await self._more_raw()
        line, _, rest = bytes(self._raw).partition(b"\r\n")
        self._raw = bytearray(rest)
        return line

    async def start(self) -> None:
        self.status = int((await self._raw_line()).split()[1])
        while line := await self._raw_line():
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = self.headers.get("transfer-encoding") == "chunked"

    async def _more_body(self) -> None:
        if not self._chunked:
            if not self._raw:
                await self._more_raw()
            self._body += self._raw
            self._raw.clear()
            return
        size = int((await self._raw_line()).split(b";")[0], 16)
        if size == 0:
            raise EOFError("the stream ended")
        while len(self._raw) < size + 2:
            await self._more_raw()
        self._body += self._raw[:size]
        del self._raw[: size + 2]

    async def _line(self) -> str:
        while b"\n" not in self._body:
            await self._more_body()
        line, _, rest = bytes(self._body).partition(b"\n")
        self._body = bytearray(rest)
        return line.decode()

    async def body(self) -> bytes:
        """The rest of a finite (error) response."""
        with contextlib.suppress(EOFError):
            while True:
                await self._more_body()
        return bytes(self._body)

    async def next(self, timeout: float = 10) -> SseEvent:
        """The next event (comments and the retry hint are noted on the way)."""
        fields: dict[str, str] = {}
        with trio.fail_after(timeout):
            while True:
                line = await self._line()
                if line == "":
                    if "data" in fields:
                        return SseEvent(
                            event=fields.get("event", "message"),
                            id=int(fields["id"]) if "id" in fields else None,
                            data=fields["data"],
                        )
                    fields.clear()
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "retry":
                        self.retry = int(value)
                    else:
                        fields[name] = value

    async def take(self, count: int, timeout: float = 10) -> list[SseEvent]:
        return [await self.next(timeout) for _ in range(count)]


@asynccontextmanager
async def sse(
    daemon: ActiveDaemon,
    path: str = "/v1/events",
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[SseStream]:
    """An open event stream of ``daemon`` (status checked), sending its API key."""
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    target = path + ("?" + urlencode(params) if params else "")
    # connection: close, so an error answer ends with EOF (body() reads until then).
    lines = [
        f"GET {target} HTTP/1.1",
        f"host: {host}:{port}",
        "accept: text/event-stream",
        "connection: close",
    ]
    lines += [f"{k}: {v}" for k, v in (daemon.headers | (headers or {})).items()]
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        reader = SseStream(stream)
        with trio.fail_after(10):
            await reader.start()
        if reader.status != 200:
            raise AssertionError((reader.status, await reader.body()))
        assert reader.headers["content-type"].startswith("text/event-stream")
        yield reader
