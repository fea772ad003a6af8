"""The asyncio bridge: trio-asyncio's loop and the one place asyncpg calls cross into trio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg
import trio_asyncio
from loguru import logger

from revaer.db._errors import DatabaseUnavailable, QueryError

__all__ = ["call", "open_asyncio_loop"]

P = ParamSpec("P")
R = TypeVar("R")

# Errors that mean "the server is gone or unreachable", as opposed to "the statement failed".
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


# While PostgreSQL is away the pool warns, with a traceback, each time it fails to refill its
# minimum size (about once a second); the database monitor reports the outage once instead.
logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)

# SQLSTATE classes: 53 insufficient resources (disk full, out of memory), 57 operator
# intervention (shutdown, cancelled), 58 system error (I/O error, file missing), XX internal.
_SERVER_TROUBLE = frozenset({"53", "57", "58", "XX"})


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # An exception escaping an asyncio callback would otherwise tear the whole loop down.
    del loop
    logger.bind(actor="asyncio").error("asyncio callback failed: {}", context.get("message"))


@asynccontextmanager
async def open_asyncio_loop() -> AsyncIterator[None]:
    """Run the trio-asyncio loop every database call needs; open it once around the tree."""
    async with trio_asyncio.open_loop() as loop:
        loop.set_exception_handler(_log_loop_exception)
        yield


async def call(fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Await an asyncio coroutine function from trio, translating asyncpg errors.

    Each crossing costs ~0.5 ms; batch bulk work into one asyncio coroutine instead.
    """
    try:
        return await trio_asyncio.aio_as_trio(fn)(*args, **kwargs)  # type: ignore[no-any-return]
    except asyncpg.PostgresError as exc:
        if isinstance(exc, _CONNECTION_ERRORS):
            raise DatabaseUnavailable(f"database connection lost: {exc}") from exc
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate is not None and sqlstate[:2] in _SERVER_TROUBLE:
            # The server cannot do its job (files gone, disk full, shutting down): not the
            # statement's fault, and retrying later may work.
            raise DatabaseUnavailable(f"the database cannot serve requests: {exc}") from exc
        raise QueryError(str(exc), sqlstate=sqlstate) from exc
    except _CONNECTION_ERRORS as exc:
        raise DatabaseUnavailable(f"database unreachable: {exc}") from exc
