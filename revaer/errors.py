"""The one error root of Revaer.

Every failure a caller can act on is a :class:`RevaerError`; each subclass carries the HTTP status
and title it is rendered with (``revaer.api`` renders them as RFC 9457 Problem+JSON in one place)::

    RevaerError
    ├── BadRequest           400  malformed input that is not a field problem (bad JSON, headers)
    ├── Unauthorized         401  missing or invalid credentials
    ├── Forbidden            403  authenticated but not allowed (e.g. setup from a remote client)
    ├── NotFound             404
    ├── Conflict             409  state does not allow it (setup already done, stale revision)
    ├── PayloadTooLarge      413
    ├── ValidationFailed     422  field problems, each an InvalidParam with a JSON pointer
    ├── TooManyRequests      429
    ├── ServiceUnavailable   503  a dependency (database, engine) is down or saturated
    └── FatalError           500  start-up cannot continue; supervisors never restart on it
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "FatalError",
    "Forbidden",
    "InvalidParam",
    "NotFound",
    "PayloadTooLarge",
    "RevaerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "ValidationFailed",
    "escape_pointer_token",
    "pointer",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidParam:
    """One field problem: an RFC 6901 JSON pointer into the request and what is wrong there."""

    pointer: str
    message: str


def escape_pointer_token(token: str | int) -> str:
    """Escape one reference token for a JSON pointer (RFC 6901 §4)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    """Build a JSON pointer from reference tokens: ``pointer("a", 0)`` → ``"/a/0"``."""
    return "".join("/" + escape_pointer_token(t) for t in tokens)


class RevaerError(Exception):
    """Root of every error Revaer reports to a caller."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(
        self,
        detail: str,
        *,
        invalid_params: Iterable[InvalidParam] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid_params: tuple[InvalidParam, ...] = tuple(invalid_params)
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(RevaerError):
    """The request is malformed (not JSON, bad header)."""

    status = 400
    title = "Bad request"
    slug = "bad-request"


class Unauthorized(RevaerError):
    """Credentials are missing or wrong."""

    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(RevaerError):
    """The caller may not do this."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(RevaerError):
    """The named resource does not exist."""

    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(RevaerError):
    """The current state does not allow the operation."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(RevaerError):
    """The request body is over its limit."""

    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class ValidationFailed(RevaerError):
    """One or more fields are invalid; ``invalid_params`` names each."""

    status = 422
    title = "Validation failed"
    slug = "validation-failed"

    def __init__(self, problems: Iterable[InvalidParam], detail: str | None = None) -> None:
        params = tuple(problems)
        if detail is None:
            detail = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in params)
        super().__init__(detail, invalid_params=params)


class TooManyRequests(RevaerError):
    """A rate limit was hit."""

    status = 429
    title = "Too many requests"
    slug = "rate-limited"


class ServiceUnavailable(RevaerError):
    """A dependency is down or saturated; retry later."""

    status = 503
    title = "Service unavailable"
    slug = "unavailable"


class FatalError(RevaerError):
    """Start-up cannot continue (e.g. the data directory is locked); never retried."""

    status = 500
    title = "Fatal error"
    slug = "fatal"
