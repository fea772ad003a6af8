"""Request plumbing: request ids, bounded JSON bodies, loopback checks."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pydantic_core
from quart import request
from werkzeug.exceptions import RequestEntityTooLarge

from revaer.api.models import REQUEST_ID_HEADER
from revaer.config import HttpLimits
from revaer.errors import (
    BadRequest,
    Forbidden,
    InvalidParam,
    PayloadTooLarge,
    ValidationFailed,
    pointer,
)
from revaer.runtime import bound_request_id

__all__ = [
    "RequestIdMiddleware",
    "check_json_bounds",
    "current_request_id",
    "decode_json",
    "read_body",
    "read_json",
    "read_optional_object",
    "read_required_body",
    "request_limits",
    "require_loopback",
    "too_large",
]

_DEFAULT_LIMITS = HttpLimits()
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SCOPE_KEY = "revaer.request_id"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class RequestIdMiddleware:
    """Accept a sane ``x-request-id`` or make one; echo it; put it in every log line."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        offered = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()),
            None,
        )
        request_id = offered if offered and _VALID_ID.fullmatch(offered) else uuid.uuid4().hex
        scope[_SCOPE_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        with bound_request_id(request_id):
            await self._app(scope, receive, send_with_id)


def current_request_id() -> str | None:
    """The id of the request being handled."""
    value = request.scope.get(_SCOPE_KEY)
    return value if isinstance(value, str) else None


async def read_body() -> bytes:
    """The raw request body; over the size limit is a 413 that closes the connection."""
    try:
        raw = await request.get_data(cache=False, as_text=False)
    except RequestEntityTooLarge:
        raise too_large() from None
    return raw if isinstance(raw, bytes) else raw.encode()


def too_large() -> PayloadTooLarge:
    """The 413 for this request's body limit."""
    # The unread rest of the body would be parsed as the next request: close the connection.
    return PayloadTooLarge(
        f"the request body is over {request.max_content_length} bytes",
        headers={"connection": "close"},
    )


async def read_required_body() -> bytes:
    """The raw body; none at all is a 400 pointing at the root."""
    raw = await read_body()
    if not raw:
        raise BadRequest(
            "a JSON body is required",
            invalid_params=[InvalidParam(pointer="", message="missing body")],
        )
    return raw


async def read_json(*, required: bool = True) -> Any:
    """The request body as JSON; malformed, oversized or too deep bodies are clear 4xx problems."""
    raw = await (read_required_body() if required else read_body())
    if not raw:
        return None
    value = decode_json(raw)
    check_json_bounds(value, request_limits())
    return value


async def read_optional_object() -> dict[str, Any]:
    """An optional JSON object body: none at all is ``{}``; anything but an object is a 422."""
    value = await read_json(required=False)
    if value is None and not request.content_length:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed([InvalidParam(pointer="", message="must be a JSON object")])
    return value


def request_limits() -> HttpLimits:
    """The limits in effect when this request arrived (set by the app's request class)."""
    limits = getattr(request, "limits", None)
    return limits if isinstance(limits, HttpLimits) else _DEFAULT_LIMITS


def check_json_bounds(value: Any, limits: HttpLimits) -> None:
    """Refuse (422, with the pointer) JSON nested deeper, or with longer strings or more
    elements, than ``limits`` allow. Iterative: a hostile depth cannot exhaust the stack."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        problem = None
        if isinstance(item, str):
            if len(item) > limits.max_json_string:
                problem = f"is longer than {limits.max_json_string} characters"
        elif isinstance(item, list | dict):
            if len(path) >= limits.max_json_depth:
                problem = f"nests deeper than {limits.max_json_depth} levels"
            elif len(item) > limits.max_json_items:
                problem = f"has more than {limits.max_json_items} elements"
            elif isinstance(item, list):
                stack.extend((child, (*path, i)) for i, child in enumerate(item))
            else:
                stack.extend((k, (*path, k)) for k in item)  # member names are strings too
                stack.extend((child, (*path, k)) for k, child in item.items())
        if problem is not None:
            raise ValidationFailed([InvalidParam(pointer=pointer(*path), message=problem)])


def decode_json(raw: bytes) -> Any:
    """Untrusted JSON bytes as Python values, or a 400 Problem; never a 500.

    ``json.loads`` lets hostile bodies through to fail later: deep nesting raises
    ``RecursionError``, a 4,300-digit integer ``ValueError``, and lone surrogates (escaped or
    as CESU-8 bytes) decode to strings PostgreSQL refuses. pydantic-core's parser (the one the
    typed routes validate with) refuses all of them up front: strict UTF-8, nesting bounded,
    numbers bounded, no NaN.
    """
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise BadRequest(
            f"the body is not valid JSON: {exc}",
            invalid_params=[InvalidParam(pointer="", message=f"not valid JSON: {exc}")],
        ) from None


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is a loopback IP (IPv4-mapped IPv6 included)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def require_loopback() -> None:
    """Refuse callers that are not on this host (the setup flow is loopback-only)."""
    client = request.scope.get("client")
    address = client[0] if client else None
    if not is_loopback(address):
        raise Forbidden("setup is only accepted from a loopback address while in setup mode")
