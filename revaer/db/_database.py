"""A connection pool for trio code: queries, transactions and a dedicated LISTEN connection."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import asyncpg
import trio

from revaer.db._bridge import call

__all__ = ["Connection", "Database", "Notification", "Row"]

#: A result row; asyncpg records are read-only mappings of column name → value.
Row = Mapping[str, Any]
#: An asyncpg connection, handed to asyncio-side batch functions given to ``Database.run``.
Connection = asyncpg.Connection
Isolation = Literal["read_committed", "repeatable_read", "serializable"]
T = TypeVar("T")

# Pools and listeners are closed under a shielded, bounded scope so cancellation never leaks them.
_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One NOTIFY payload, stamped with the monotonic time it arrived."""

    channel: str
    payload: str
    received_at: float


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Without codecs asyncpg returns json/jsonb as str.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Tx:
    """Statements inside one transaction (see ``Database.transaction``)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: object) -> str:
        """Run a statement; returns the command tag."""
        return await call(self._conn.execute, sql, *args)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """Run a query; returns every row."""
        return list(await call(self._conn.fetch, sql, *args))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        """Run a query; returns its first row or None."""
        row: Row | None = await call(self._conn.fetchrow, sql, *args)
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        """Run a query; returns the first column of its first row."""
        return await call(self._conn.fetchval, sql, *args)


class Database:
    """An asyncpg pool used from trio. Open with ``Database.open(dsn)``."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn

    @classmethod
    @asynccontextmanager
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 10.0
    ) -> AsyncIterator[Database]:
        """Open a pool (the trio-asyncio loop must be running) and close it on exit."""
        pool = await call(
            asyncpg.create_pool,
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            timeout=connect_timeout,
            command_timeout=60,
        )
        try:
            yield cls(pool, dsn)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                await call(pool.close)
            if scope.cancelled_caught:
                pool.terminate()

    async def execute(self, sql: str, *args: object) -> str:
        """Run a statement in autocommit; returns the command tag."""
        return await call(self._pool.execute, sql, *args)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """Run a query; returns every row."""
        return list(await call(self._pool.fetch, sql, *args))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        """Run a query; returns its first row or None."""
        row: Row | None = await call(self._pool.fetchrow, sql, *args)
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        """Run a query; returns the first column of its first row."""
        return await call(self._pool.fetchval, sql, *args)

    async def ping(self) -> float:
        """Round-trip a trivial query; returns the latency in milliseconds."""
        started = time.perf_counter()
        await call(self._pool.fetchval, "SELECT 1")
        return (time.perf_counter() - started) * 1000.0

    async def probe_write(self) -> float:
        """Prove the server can still create files (a temporary table, rolled back).

        A plain ``SELECT 1`` keeps answering when PostgreSQL's data directory is gone or not
        writable while every write fails. Returns the latency in milliseconds; raises
        ``DatabaseUnavailable`` when the server cannot write.
        """

        async def probe(conn: asyncpg.Connection) -> None:
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.execute("CREATE TEMP TABLE revaer_write_probe (x int)")
            finally:
                await tr.rollback()

        started = time.perf_counter()
        await self.run(probe)
        return (time.perf_counter() - started) * 1000.0

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run an asyncio-side function with one pooled connection, in a single crossing.

        For bulk work (migrations, batch writes) where per-statement crossings would add up.
        """

        async def with_connection() -> T:
            async with self._pool.acquire() as conn:
                return await fn(conn)

        return await call(with_connection)

    @asynccontextmanager
    async def transaction(self, *, isolation: Isolation = "read_committed") -> AsyncIterator[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        conn: asyncpg.Connection = await call(self._pool.acquire)
        try:
            tr = conn.transaction(isolation=isolation)
            await call(tr.start)
            try:
                yield Tx(conn)
            except BaseException:
                with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
                    await call(tr.rollback)
                raise
            await call(tr.commit)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                await call(self._pool.release, conn)
            if scope.cancelled_caught:
                conn.terminate()

    @asynccontextmanager
    async def listen(
        self, channels: Sequence[str], *, buffer: int = 64
    ) -> AsyncIterator[trio.MemoryReceiveChannel[Notification]]:
        """LISTEN on a dedicated connection; notifications arrive on the yielded channel.

        The channel ends (``EndOfChannel``) when the connection is lost, so the caller can
        reconnect. When the buffer is full, further notifications are dropped: every
        notification is a hint to re-read state, and a full buffer already holds one.
        """
        conn: asyncpg.Connection = await call(
            asyncpg.connect, self._dsn, timeout=10.0, command_timeout=60
        )
        send, receive = trio.open_memory_channel[Notification](buffer)

        def on_notify(_conn: object, _pid: int, channel: str, payload: str) -> None:
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                send.send_nowait(
                    Notification(channel=channel, payload=payload, received_at=time.monotonic())
                )

        def on_terminated(_conn: object) -> None:
            send.close()

        try:
            conn.add_termination_listener(on_terminated)
            for channel in channels:
                await call(conn.add_listener, channel, on_notify)
            yield receive
        finally:
            send.close()
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                if not conn.is_closed():
                    await call(conn.close)
            if scope.cancelled_caught:
                conn.terminate()

    @property
    def dsn(self) -> str:
        """The connection string this pool was opened with."""
        return self._dsn
