"""ASGI edge defences: refuse malformed or oversized request heads, never strand a connection.

``HardeningMiddleware`` wraps the whole app (outside every other middleware). Per HTTP request:

- A request that is not HTTP/1.0 or 1.1 (an HTTP/2 ``PRI * HTTP/2.0`` preface, which the
  server in ``_hypercorn_seams`` passes on as a request instead of switching protocol) is a 400
  Problem, and so is one with both ``Content-Length`` and ``Transfer-Encoding``
  (RFC 9112 §6.1: its framing cannot be trusted). Both close the connection.
- More than ``max_headers`` header fields, or more than ``max_header_bytes`` of names and
  values, is a 431 Problem; a path and query string over ``max_url_bytes`` is a 414 Problem.
  The bounds are read from the live configuration for each request.
- An answer that starts before the request body has been received (a 401 checked before the
  body is read, a 413) waits up to ``DRAIN_SECONDS`` for a remaining body of at most
  ``DRAIN_BYTES``, which the app reads on (Quart reads its receive channel while it answers),
  so the connection stays usable; otherwise the answer says ``connection: close``. The
  server then closes instead of reading the rest of the body.
- While the last part of an answer is sent, whatever the client still sends is read and
  dropped: hypercorn's queue towards the app is bounded, and with nobody reading it the
  server would block for good before it gets to close the connection.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
from loguru import logger

from revaer.api._problem import render_problem
from revaer.api.models import PROBLEM_CONTENT_TYPE, ProblemDoc
from revaer.config import ConfigSnapshot, HttpLimits
from revaer.errors import BadRequest
from revaer.runtime import Watched

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "HardeningMiddleware"]

DRAIN_BYTES = 64 * 1024
"""An early answer waits for at most this much unsent body to keep the connection open."""
DRAIN_SECONDS = 1.0
"""And for at most this long."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HTTP1_VERSIONS = frozenset({"1.0", "1.1"})

_log = logger.bind(actor="http")


class HardeningMiddleware:
    """Refuse hostile request heads with Problems; make early answers drain or close."""

    def __init__(self, app: ASGIApp, snapshots: Watched[ConfigSnapshot]) -> None:
        self._app = app
        self._snapshots = snapshots
        self._read_from: ConfigSnapshot | None = None
        self._limits = HttpLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send)
        refusal = _refusal(scope, self._current_limits())
        if refusal is None:
            await self._app(scope, exchange.receive, exchange.send)
        else:
            _log.info("refused a request from {}: {}", scope.get("client"), refusal["detail"])
            await exchange.refuse(refusal)

    def _current_limits(self) -> HttpLimits:
        snapshot = self._snapshots.value
        if snapshot is not self._read_from:
            self._limits = HttpLimits.of(snapshot.app_profile)
            self._read_from = snapshot
        return self._limits


def _refusal(scope: Scope, limits: HttpLimits) -> ProblemDoc | None:
    """The Problem document refusing this request head, or ``None`` to serve it."""
    if scope.get("http_version") not in _HTTP1_VERSIONS:
        return _bad_request("this server speaks HTTP/1.1 only (no HTTP/2, no h2c)")
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    names = {name for name, _ in headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        return _bad_request("a request must not have both Content-Length and Transfer-Encoding")
    query: bytes = scope["query_string"]
    if len(scope["raw_path"]) + len(query) + (1 if query else 0) > limits.max_url_bytes:
        return render_problem(
            status=414,
            title="URI too long",
            slug="uri-too-long",
            detail=f"the path and query string are over {limits.max_url_bytes} bytes",
        )
    if len(headers) > limits.max_headers:
        detail = f"the request has over {limits.max_headers} header fields"
    elif sum(len(name) + len(value) for name, value in headers) > limits.max_header_bytes:
        detail = f"the request's header fields are over {limits.max_header_bytes} bytes"
    else:
        return None
    return render_problem(
        status=431, title="Request header fields too large", slug="headers-too-large", detail=detail
    )


def _bad_request(detail: str) -> ProblemDoc:
    return render_problem(
        status=BadRequest.status, title=BadRequest.title, slug=BadRequest.slug, detail=detail
    )


class _Exchange:
    """One request/response: how much body the app has received, and the answer's framing."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._received = 0
        self._body_done = trio.Event()
        self._expected = _content_length(scope["headers"])

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self._body_done.set()
        elif message["type"] == "http.disconnect":
            self._body_done.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self._body_done.is_set():
            if self._remaining_is_small():
                with trio.move_on_after(DRAIN_SECONDS):
                    await self._body_done.wait()
            if not self._body_done.is_set():
                message = _closing(message)
        if (
            message["type"] == "http.response.body"
            and not message.get("more_body", False)
            and not self._body_done.is_set()
        ):
            await self._send_discarding(message)
        else:
            await self._send(message)

    async def refuse(self, problem: ProblemDoc) -> None:
        """Answer ``problem`` without the app and close the connection."""
        body = json.dumps(problem).encode()
        await self._send(
            {
                "type": "http.response.start",
                "status": problem["status"],
                "headers": [
                    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await self._send_discarding({"type": "http.response.body", "body": body})

    def _remaining_is_small(self) -> bool:
        # Unknown (chunked) is not small; no Content-Length at all means no body.
        return self._expected is not None and self._expected - self._received <= DRAIN_BYTES

    async def _send_discarding(self, message: Message) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._discard)
            await self._send(message)
            nursery.cancel_scope.cancel()

    async def _discard(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared body length: 0 without a body, ``None`` when chunked (h11 checked it)."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


def _closing(message: Message) -> Message:
    headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != b"connection"]
    headers.append((b"connection", b"close"))
    return {**message, "headers": headers}
