"""The id of the API request whose work is running, carried across actors.

The HTTP layer binds it for the duration of a request. A context variable does not cross a
channel into another actor's task, so whoever hands work to another actor captures
``current_request_id()`` with the work and binds it again (``bound_request_id``) while doing it:
log lines and events produced there then carry the id of the request that caused them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from loguru import logger

__all__ = ["bound_request_id", "current_request_id"]

_REQUEST_ID: ContextVar[str | None] = ContextVar("revaer_request_id", default=None)


def current_request_id() -> str | None:
    """The request id bound in this context, if any."""
    return _REQUEST_ID.get()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Bind ``request_id`` (context variable and log lines) for the ``with`` body."""
    if request_id is None:
        yield
        return
    token = _REQUEST_ID.set(request_id)
    try:
        with logger.contextualize(request_id=request_id):
            yield
    finally:
        _REQUEST_ID.reset(token)
