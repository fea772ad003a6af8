"""Hostile HTTP clients against the real server: every connection is answered, closed or bounded.

Each test once showed a defect on loopback (issue R-SEC7): a slowloris head held its
connection for the keep-alive time, closed idle connections kept their descriptors, an early
401 left its keep-alive connection hung, a 413 went on reading the body, a request with both
Content-Length and Transfer-Encoding was served, HTTP/2 was served in cleartext, and nothing
bounded the header fields, the URL or the connection count. The server here is
``serve_http`` with ``HardeningMiddleware`` around a small Quart-Trio app, spoken to over raw
sockets.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

import pytest
import trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.tcp_server import TCPServer
from quart import Response
from quart_trio import QuartTrio

from revaer.api._hardening import DRAIN_BYTES, DRAIN_SECONDS, HardeningMiddleware
from revaer.api._hypercorn_seams import HYPERCORN_VERSION
from revaer.api._problem import problem_response
from revaer.api._request import read_body
from revaer.api.server import Endpoint, serve_http
from revaer.config import ConfigSnapshot, HttpLimits
from revaer.errors import RevaerError
from revaer.runtime import Watched
from revaer.types import Revision

pytestmark = pytest.mark.integration

MAX_BODY = 1024


def _snapshot(limits: HttpLimits, revision: int = 1) -> ConfigSnapshot:
    return ConfigSnapshot(
        revision=Revision(revision),
        app_profile=MappingProxyType(
            {"mode": "active", "instance_name": "test", "http_limits": dataclasses.asdict(limits)}
        ),
        engine_profile=MappingProxyType({}),
        fs_policy=MappingProxyType({}),
        api_keys=(),
        secret_names=(),
    )


@dataclass
class Served:
    port: int
    snapshots: Watched[ConfigSnapshot]
    binds: list[list[str]]
    entered: trio.Event = field(default_factory=trio.Event)
    """Set when the early-401 route runs (it never reads the body)."""
    opened: list[Conn] = field(default_factory=list)

    def set_limits(self, limits: HttpLimits) -> None:
        current = self.snapshots.value
        self.snapshots.set(_snapshot(limits, current.revision + 1))

    async def connect(self, port: int | None = None) -> Conn:
        conn = Conn(await trio.open_tcp_stream("127.0.0.1", port or self.port))
        self.opened.append(conn)
        return conn


def _app(served: list[Served]) -> QuartTrio:
    app = QuartTrio("hostile", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, PROPAGATE_EXCEPTIONS=False)

    @app.errorhandler(RevaerError)
    async def _problem(error: RevaerError) -> Response:
        return problem_response(error)

    @app.get("/")
    async def _root() -> Response:
        return Response("hello", content_type="text/plain")

    @app.post("/auth")
    async def _auth() -> Response:
        served[0].entered.set()
        return Response("no key", status=401, content_type="text/plain")

    @app.post("/upload")
    async def _upload() -> Response:
        return Response(f"{len(await read_body())} bytes", content_type="text/plain")

    return app


@asynccontextmanager
async def serving(limits: HttpLimits | None = None) -> AsyncIterator[Served]:
    """``serve_http`` on 127.0.0.1:0 with the hardening middleware, in this process."""
    snapshots = Watched(_snapshot(limits or HttpLimits()))
    box: list[Served] = []
    app = _app(box)
    app.asgi_app = HardeningMiddleware(app.asgi_app, snapshots)  # type: ignore[method-assign,assignment,arg-type]
    binds: list[list[str]] = []
    async with trio.open_nursery() as nursery:
        bound: list[str] = await nursery.start(
            partial(
                serve_http,
                app,
                snapshots,
                Endpoint(host="127.0.0.1", port=0),
                on_bound=binds.append,
                graceful_timeout=0.5,
            )
        )
        box.append(Served(int(bound[0].rsplit(":", 1)[1]), snapshots, binds))
        try:
            yield box[0]
        finally:
            for conn in box[0].opened:
                await conn.aclose()
            nursery.cancel_scope.cancel()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self, status: int) -> dict[str, Any]:
        assert self.status == status, self
        assert self.headers["content-type"] == "application/problem+json"
        doc: dict[str, Any] = json.loads(self.body)
        assert doc["status"] == status and doc["title"] and doc["detail"]
        assert doc["type"].startswith("urn:revaer:problem:")
        return doc


class Conn:
    """A raw HTTP/1.1 client connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def get(self, target: str = "/", extra: bytes = b"") -> None:
        await self.send(f"GET {target} HTTP/1.1\r\nhost: t\r\n".encode() + extra + b"\r\n")

    async def answer(self) -> Answer:
        """The next response (the server must not close before it)."""
        answer = await self.answer_or_eof()
        assert answer is not None, "closed without an answer"
        return answer

    async def answer_or_eof(self) -> Answer | None:
        while b"\r\n\r\n" not in self._buffer:
            if not await self._fill():
                assert not self._buffer, bytes(self._buffer)
                return None
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        self._buffer = bytearray(rest)
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            assert await self._fill(), "closed inside a response body"
        body, self._buffer = bytes(self._buffer[:length]), self._buffer[length:]
        return Answer(status, headers, body)

    async def eof(self) -> None:
        """The server closed the connection (after any answer already read)."""
        assert not await self._fill(), bytes(self._buffer)

    async def _fill(self) -> bool:
        try:
            data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:  # reset: the server closed with our bytes unread
            return False
        self._buffer += data
        return bool(data)

    async def aclose(self) -> None:
        await self.stream.aclose()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _closed_within(conn: Conn, seconds: float) -> float:
    """Wait for the server to close ``conn``; return how long it took."""
    started = trio.current_time()
    with trio.fail_after(seconds):
        await conn.eof()
    return trio.current_time() - started


def test_the_seams_were_checked_against_the_installed_hypercorn() -> None:
    # _hypercorn_seams overrides these internals; re-read hypercorn before moving the pin.
    assert importlib.metadata.version("hypercorn") == HYPERCORN_VERSION
    for name in ("run", "_read_data", "_idle_timeout", "_close", "_initiate_server_close"):
        assert callable(getattr(TCPServer, name)), name
    assert "self._idle_timeout" in inspect.getsource(TCPServer.protocol_send)
    assert "self.send_lock" in inspect.getsource(TCPServer.protocol_send)
    handle_events = inspect.getsource(H11Protocol._handle_events)
    assert "self.connection.next_event()" in handle_events
    assert "self._check_protocol(event)" in handle_events
    assert "= h11.Connection(" in inspect.getsource(H11Protocol.__init__)


async def test_a_half_sent_head_is_closed_after_the_header_timeout() -> None:
    async with serving(HttpLimits(header_timeout_seconds=1, keep_alive_seconds=60)) as served:
        slowloris = await served.connect()
        await slowloris.send(b"GET / HTTP/1.1\r\nhost: t\r\n")
        waited = await _closed_within(slowloris, 5)
        assert 0.8 < waited < 2.5

        # On a keep-alive connection the head clock starts with its first byte: trickling it
        # a byte at a time does not extend it.
        kept = await served.connect()
        await kept.get()
        assert (await kept.answer()).status == 200
        started = trio.current_time()
        with trio.fail_after(5):
            for byte in b"GET / HTTP/1.1\r\nx-slow: " + b"a" * 1000:
                try:
                    await kept.send(bytes([byte]))
                except trio.BrokenResourceError:
                    break
                await trio.sleep(0.05)  # the client's pace, not a synchronisation
        await _closed_within(kept, 2)
        assert trio.current_time() - started < 2.5


async def test_an_idle_keep_alive_connection_is_closed_after_keep_alive_seconds() -> None:
    async with serving(HttpLimits(header_timeout_seconds=60, keep_alive_seconds=1)) as served:
        conn = await served.connect()
        await conn.get()
        assert (await conn.answer()).status == 200
        assert 0.8 < await _closed_within(conn, 5) < 2.5


@pytest.mark.parametrize("served_first", [False, True], ids=["fresh", "after-a-request"])
async def test_closed_idle_connections_give_back_their_descriptors(served_first: bool) -> None:
    # Timeouts far away: only the peer's close can release the descriptors in time.
    limits = HttpLimits(header_timeout_seconds=60, keep_alive_seconds=60)
    async with serving(limits) as served:
        baseline = _open_fds()
        conns: list[Conn] = []

        async def open_one() -> None:
            conn = await served.connect()
            if served_first:
                await conn.get()
                assert (await conn.answer()).status == 200
            conns.append(conn)

        with trio.fail_after(20):
            for _ in range(10):
                async with trio.open_nursery() as nursery:
                    for _ in range(100):
                        nursery.start_soon(open_one)
            while _open_fds() < baseline + 2 * len(conns):  # the server accepted them all
                await trio.sleep(0.05)
        for conn in conns:
            await conn.aclose()
        with trio.fail_after(3):
            while _open_fds() > baseline:
                await trio.sleep(0.05)


async def test_an_early_401_drains_a_small_late_body_and_serves_the_next_request() -> None:
    async with serving() as served:
        conn = await served.connect()
        await conn.send(b"POST /auth HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n")
        with trio.fail_after(5):
            await served.entered.wait()  # answered before the body was sent
            await conn.send(b"x" * 1000)
            first = await conn.answer()
            assert first.status == 401 and "connection" not in first.headers
            await conn.get()
            assert (await conn.answer()).body == b"hello"


@pytest.mark.parametrize("length", [1000, DRAIN_BYTES * 16], ids=["body-withheld", "body-large"])
async def test_an_early_401_closes_when_the_body_does_not_come(length: int) -> None:
    async with serving() as served:
        conn = await served.connect()
        head = f"POST /auth HTTP/1.1\r\nhost: t\r\ncontent-length: {length}\r\n\r\n"
        await conn.send(head.encode())
        with trio.fail_after(DRAIN_SECONDS + 3):
            first = await conn.answer()
            assert first.status == 401 and first.headers["connection"] == "close"
            with suppress(trio.BrokenResourceError):
                await conn.get()
            assert await conn.answer_or_eof() is None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_413_stops_reading_a_slow_body_and_closes(chunked: bool) -> None:
    async with serving() as served:
        conn = await served.connect()
        framing = b"transfer-encoding: chunked" if chunked else b"content-length: 104857600"
        await conn.send(b"POST /upload HTTP/1.1\r\nhost: t\r\n" + framing + b"\r\n\r\n")
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n" if chunked else b"x" * 1024
        sent = 0
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def trickle() -> None:
                    nonlocal sent
                    try:
                        while True:
                            await conn.send(chunk)
                            sent += len(chunk)
                            await trio.sleep(0.01)  # the client's pace
                    except trio.BrokenResourceError:
                        nursery.cancel_scope.cancel()  # the server closed: it stopped reading

                nursery.start_soon(trickle)
                answer = await conn.answer()
                answer.problem(413)
                assert answer.headers["connection"] == "close"
                await conn.eof()
        assert sent < 1 << 20


async def test_a_413_for_a_fast_chunked_body_is_not_read_to_the_end() -> None:
    async with serving() as served:
        conn = await served.connect()
        await conn.send(b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        sent = 0
        with trio.fail_after(5):
            try:
                while sent < 1 << 30:
                    await conn.send(chunk)
                    sent += len(chunk)
            except trio.BrokenResourceError:
                pass
        # Kernel buffers on both ends hold a few MiB; the server read about MAX_BODY of it.
        assert sent < 64 << 20


async def test_content_length_with_transfer_encoding_is_a_400_and_closes() -> None:
    async with serving() as served:
        conn = await served.connect()
        await conn.send(
            b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n"
            b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            b"GET / HTTP/1.1\r\nhost: t\r\n\r\n"
        )
        with trio.fail_after(5):
            answer = await conn.answer()
            assert "Transfer-Encoding" in answer.problem(400)["detail"]
            assert answer.headers["connection"] == "close"
            assert await conn.answer_or_eof() is None


async def test_an_h2c_upgrade_is_answered_in_http_1_1() -> None:
    async with serving() as served:
        conn = await served.connect()
        await conn.get(
            extra=b"connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
            b"http2-settings: AAMAAABkAAQAAP__\r\n"
        )
        with trio.fail_after(5):
            answer = await conn.answer()
            assert answer.status == 200 and answer.body == b"hello"
            await conn.get()
            assert (await conn.answer()).status == 200


async def test_an_http2_prior_knowledge_preface_is_a_400_and_closes() -> None:
    async with serving() as served:
        conn = await served.connect()
        await conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        with trio.fail_after(5):
            answer = await conn.answer()
            assert "HTTP/1.1 only" in answer.problem(400)["detail"]
            assert answer.headers["connection"] == "close"
            await conn.eof()


async def test_header_and_url_bounds_are_problems_and_follow_the_live_configuration() -> None:
    async with serving() as served:
        cases = [
            ("/", b"".join(b"x-h%d: v\r\n" % i for i in range(120)), 431),
            ("/", b"x-big: " + b"v" * 17_000 + b"\r\n", 431),
            ("/?q=" + "a" * 8200, b"", 414),
        ]
        with trio.fail_after(10):
            for target, extra, status in cases:
                conn = await served.connect()
                await conn.get(target, extra)
                (await conn.answer()).problem(status)
                await conn.eof()

            # Lowered live: the next request is refused, without a re-bind.
            conn = await served.connect()
            await conn.get(extra=b"".join(b"x-h%d: v\r\n" % i for i in range(20)))
            assert (await conn.answer()).status == 200
            served.set_limits(HttpLimits(max_headers=16))
            await conn.get(extra=b"".join(b"x-h%d: v\r\n" % i for i in range(20)))
            assert "16 header fields" in (await conn.answer()).problem(431)["detail"]
        assert len(served.binds) == 1


async def test_connections_over_the_limit_wait_until_one_closes() -> None:
    async with serving(HttpLimits(max_connections=16)) as served:
        with trio.fail_after(10):
            conns = [await served.connect() for _ in range(16)]
            for conn in conns:
                await conn.get()
                assert (await conn.answer()).status == 200
            waiting = await served.connect()  # the kernel completes it; nobody accepts it
            await waiting.get()
            with trio.move_on_after(0.5) as unanswered:
                await waiting.answer()
            assert unanswered.cancelled_caught
            await conns[0].aclose()
            assert (await waiting.answer()).status == 200


async def test_a_change_of_server_limits_rebinds_with_them() -> None:
    async with serving(HttpLimits(header_timeout_seconds=60)) as served:
        with trio.fail_after(10):
            served.set_limits(HttpLimits(header_timeout_seconds=1))
            while len(served.binds) < 2:
                await trio.sleep(0.02)
            port = int(served.binds[1][0].rsplit(":", 1)[1])
            conn = await served.connect(port)
            await conn.send(b"GET / HTTP/1.1\r\n")
            assert await _closed_within(conn, 3) < 2.5
