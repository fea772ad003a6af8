"""HTTP for the CLI: the only module that imports httpx.

``ApiClient`` sends one request per call, stamps every request with the invocation's
``x-request-id``, and turns whatever happens into either the decoded JSON body or one of the
errors in ``_errors`` (it never lets an httpx exception escape). ``post_quietly`` is the
best-effort POST used for telemetry.

Both accept a ``transport``: anything shaped like ``httpx.BaseTransport`` (tests pass an
``httpx.MockTransport``). A transport passed in belongs to the caller and is never closed here,
so one can serve every request of an invocation. Proxy and certificate settings are not taken
from the environment (``trust_env=False``): the CLI is configured only through its options.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import httpx

from revaer.api.models import (
    API_KEY_HEADER,
    PROBLEM_CONTENT_TYPE,
    REQUEST_ID_HEADER,
    SETUP_TOKEN_HEADER,
)
from revaer.cli._errors import BadResponseError, ProblemError, RequestFailedError
from revaer.cli._secrets import MASK, mask_api_key
from revaer.cli._wire import decode_problem

__all__ = ["ApiClient", "StreamEvent", "Transport", "post_quietly"]

STREAM_READ_TIMEOUT = 90.0
"""An event stream silent this long (keep-alives come every 20 s) is taken as dead."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event: its ``id`` (None if it had none), ``event`` name and ``data``."""

    id: int | None
    event: str
    data: str


_START_HINT = (
    "is the daemon running? Start it (scripts/serve in a checkout, else revaer-app), "
    "or point --api-url (REVAER_API_URL) at it"
)
_JSON_CONTENT_TYPES = frozenset({PROBLEM_CONTENT_TYPE, "application/json"})
_MASKERS: Mapping[str, Callable[[str], str]] = {
    API_KEY_HEADER: mask_api_key,
    SETUP_TOKEN_HEADER: lambda _value: MASK,
}


class Transport(Protocol):
    """What the client needs from a transport: httpx's synchronous transport interface."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the response."""
        ...

    def close(self) -> None:
        """Release the transport's resources."""
        ...


class _Borrowed(httpx.BaseTransport):
    """Wraps a caller-owned transport; closing the client leaves it open."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        # The caller opened it and decides when it closes.
        return


def _open_client(
    *, timeout: float, transport: Transport | None, base_url: str = ""
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=None if transport is None else _Borrowed(transport),
        trust_env=False,
        follow_redirects=False,
    )


class ApiClient:
    """A synchronous client for the Revaer API, one per command.

    ``log`` receives one diagnostic line per request and per response, with credentials
    masked; pass ``None`` to stay quiet.
    """

    def __init__(
        self,
        base_url: str,
        *,
        request_id: str,
        timeout: float,
        transport: Transport | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._client = _open_client(timeout=timeout, transport=transport, base_url=base_url)
        self._request_id = request_id
        self._timeout = timeout
        self._log = log

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> object:
        """Send a request and return its decoded JSON body (any 2xx; ``None`` for a 204).

        Raises ``ProblemError`` for a problem response, ``RequestFailedError`` when the request
        does not complete, and ``BadResponseError`` for any other answer.
        """
        request, where = self._build(method, path, headers, json=body)
        started = time.monotonic()
        response = self._send(request, where)
        elapsed_ms = (time.monotonic() - started) * 1000
        self._diagnostic(
            f"<- {response.status_code} {response.reason_phrase} ({elapsed_ms:.0f} ms)"
        )
        if response.status_code == httpx.codes.NO_CONTENT:
            return None
        if response.is_success:
            try:
                return response.json()
            except ValueError as exc:
                raise BadResponseError(
                    f"{where}: the server answered {response.status_code} with a body that "
                    "is not JSON"
                ) from exc
        raise _failure(where, response)

    def stream_events(
        self, path: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[StreamEvent]:
        """GET an event stream and yield its events until the server ends it.

        Raises like ``request`` (``ProblemError`` for a problem answer, ``RequestFailedError``
        when the connection fails or goes silent, ``BadResponseError`` for anything but
        ``text/event-stream``).
        """
        timeout = httpx.Timeout(self._timeout, read=STREAM_READ_TIMEOUT)
        request, where = self._build("GET", path, headers, timeout=timeout)
        response = self._send(request, where, stream=True)
        try:
            self._diagnostic(f"<- {response.status_code} {response.reason_phrase}")
            if not response.is_success:
                response.read()
                raise _failure(where, response)
            media_type = response.headers.get("content-type", "").partition(";")[0].strip()
            if media_type != "text/event-stream":
                raise BadResponseError(
                    f"{where}: the answer is {media_type!r}, not an event stream"
                )
            yield from _events(response.iter_lines())
        except httpx.RequestError as exc:
            raise RequestFailedError(f"{where}: the stream broke ({_reason(exc)})") from exc
        finally:
            response.close()

    def _build(
        self, method: str, path: str, headers: Mapping[str, str] | None, **options: Any
    ) -> tuple[httpx.Request, str]:
        """The request (with this invocation's request id), and how errors name it."""
        all_headers = {REQUEST_ID_HEADER: self._request_id, **(headers or {})}
        request = self._client.build_request(method, path, headers=all_headers, **options)
        where = f"{method} {request.url}"
        self._diagnostic(f"-> {where} {_describe_headers(all_headers)}")
        return request, where

    def _send(self, request: httpx.Request, where: str, *, stream: bool = False) -> httpx.Response:
        """Send; every way the request can fail becomes a ``RequestFailedError``."""
        try:
            return self._client.send(request, stream=stream)
        except httpx.ConnectTimeout as exc:
            raise RequestFailedError(
                f"{where}: no connection within {self._timeout:g}s; {_START_HINT}", sent=False
            ) from exc
        except httpx.TimeoutException as exc:
            raise RequestFailedError(f"{where}: no answer within {self._timeout:g}s") from exc
        except httpx.ConnectError as exc:
            raise RequestFailedError(
                f"{where}: cannot connect ({_reason(exc)}); {_START_HINT}", sent=False
            ) from exc
        except httpx.RequestError as exc:
            raise RequestFailedError(f"{where}: request failed ({_reason(exc)})") from exc

    def _diagnostic(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


def post_quietly(
    url: str,
    payload: Mapping[str, object],
    *,
    request_id: str,
    timeout: float,
    transport: Transport | None = None,
) -> None:
    """POST ``payload`` as JSON to ``url``, ignoring every failure (best effort).

    A ``url`` that is not an absolute http(s) URL is skipped without a request.
    """
    try:
        target = httpx.URL(url)
        if target.scheme not in {"http", "https"} or not target.host:
            return
        with _open_client(timeout=timeout, transport=transport) as client:
            client.post(target, json=payload, headers={REQUEST_ID_HEADER: request_id})
    except (httpx.HTTPError, httpx.InvalidURL):
        # Telemetry must never change a command's outcome or output.
        return


def _failure(where: str, response: httpx.Response) -> ProblemError | BadResponseError:
    status = f"{response.status_code} {response.reason_phrase}"
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type in _JSON_CONTENT_TYPES:
        try:
            document: object = response.json()
        except ValueError:
            document = None
        problem = decode_problem(
            document, http_status=response.status_code, reason=response.reason_phrase
        )
        # Plain JSON counts as a problem only when it looks like one.
        looks_like_problem = media_type == PROBLEM_CONTENT_TYPE or (
            isinstance(document, dict) and "title" in document
        )
        if problem is not None and isinstance(document, dict) and looks_like_problem:
            return ProblemError(
                problem,
                document,
                http_status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        if media_type == PROBLEM_CONTENT_TYPE:
            return BadResponseError(f"{where}: {status} with an unreadable problem document")
    return BadResponseError(f"{where}: the server answered {status} without a problem document")


def _events(lines: Iterator[str]) -> Iterator[StreamEvent]:
    """SSE lines into events (blocks without data, like keep-alive comments, are skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                raw_id = fields.get("id", "")
                yield StreamEvent(
                    id=int(raw_id) if raw_id.isdigit() else None,
                    event=fields.get("event", "message"),
                    data="\n".join(data),
                )
            fields, data = {}, []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


def _describe_headers(headers: Mapping[str, str]) -> str:
    return " ".join(
        f"{name}={_MASKERS.get(name, str)(value)}" for name, value in sorted(headers.items())
    )


def _reason(exc: httpx.RequestError) -> str:
    return str(exc) or type(exc).__name__
