"""The event journal: what SSE clients missed, kept in PostgreSQL across restarts.

Every event but ``progress`` is written to ``event_journal``; progress events (thousands a
second at scale, each superseded by the next) live only in a bounded in-memory ring. Ids come
from the bus's in-memory counter. ``load`` reserves a block of ids in ``event_ids`` before the
first event of a run is stamped, and the writer extends the reservation long before the
counter reaches it, so a start after a crash (which loses unwritten progress ids) still
continues above every id ever handed out; the wall clock in microseconds is a floor as well.

The writer batches: each flush is one crossing to asyncio and one ``INSERT … SELECT FROM
unnest(…)`` of every pending event, however many thousands there are. Retention (days and/or
rows, from ``app_profile.events``) is pruned in the background; ``pruned_through`` records the
highest pruned id so a client asking for older ids is told to resync.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import trio
from loguru import logger

from revaer.db import Connection, Database, DatabaseUnavailable, QueryError
from revaer.errors import RevaerError
from revaer.events._bus import Event
from revaer.events._final import write_once_more

__all__ = [
    "RESERVE",
    "EventFilter",
    "EventJournal",
    "Frame",
    "JournalPolicy",
    "JournalStatistics",
]

_log = logger.bind(actor="journal")

RESERVE = 10_000_000
"""Ids reserved ahead of the counter; a restart continues above the reservation."""
_EXTEND_AT = RESERVE // 2
_PRUNE_BATCH = 50_000

_INSERT = """
INSERT INTO event_journal (id, kind, at, torrent_id, state, request_id, data)
SELECT i, k, a, t, s, r, d::jsonb
FROM unnest(
    $1::bigint[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[], $6::text[], $7::text[]
) AS u(i, k, a, t, s, r, d)
ON CONFLICT (id) DO NOTHING
"""
_RESERVE = "UPDATE event_ids SET reserved = GREATEST(reserved, $1)"
_REPLAY = """
SELECT id, kind, at, torrent_id::text AS torrent_id, state, request_id, data::text AS data
FROM event_journal
WHERE id > $1 AND id <= $2
  AND ($3::text[] IS NULL OR kind = ANY($3))
  AND ($4::uuid[] IS NULL OR torrent_id = ANY($4))
  AND ($5::text[] IS NULL OR state = ANY($5))
ORDER BY id
LIMIT $6
"""


@dataclass(frozen=True, slots=True)
class Frame:
    """One event ready for the wire: its id, kind and JSON."""

    id: int
    kind: str
    json: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which events a client wants; None means any. Filters combine with AND."""

    torrents: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    states: frozenset[str] | None = None

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes every filter (instance-wide events fail torrent/state)."""
        return (
            (self.kinds is None or event.kind in self.kinds)
            and (self.torrents is None or event.torrent_id in self.torrents)
            and (self.states is None or event.state in self.states)
        )

    def _sql_args(self) -> tuple[list[str] | None, list[str] | None, list[str] | None]:
        def listed(values: frozenset[str] | None) -> list[str] | None:
            return None if values is None else sorted(values)

        return listed(self.kinds), listed(self.torrents), listed(self.states)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalPolicy:
    """Retention: events older than ``days`` and beyond the newest ``rows`` are pruned."""

    days: int | None = 7
    rows: int | None = 1_000_000

    @classmethod
    def from_settings(cls, events: dict[str, Any] | None) -> JournalPolicy:
        """From ``app_profile.events`` (absent keys take the defaults)."""
        events = events or {}
        default = cls()
        return cls(
            days=events.get("retention_days", default.days),
            rows=events.get("retention_rows", default.rows),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalStatistics:
    """Counters of an :class:`EventJournal` (``/health/full`` shows them)."""

    last_id: int
    """The newest id recorded (progress included)."""
    persisted_id: int
    """Every journaled event up to this id is in PostgreSQL."""
    pending: int
    """Events recorded and not yet written: the journal's lag."""
    flushes: int
    dropped: int
    """Events lost because PostgreSQL was down longer than the pending buffer holds."""
    pruned_through: int


class EventJournal:
    """Records every published event and replays what a reconnecting client missed.

    A :class:`~revaer.events.Recorder` of the publisher: ``record`` only appends to memory;
    ``run`` writes. Use it from tasks of a single ``trio.run``.
    """

    def __init__(
        self,
        *,
        start_id: int = 0,
        reserved: int | None = None,
        pruned_through: int = 0,
        tail_size: int = 10_000,
        ring_size: int = 50_000,
        max_pending: int = 500_000,
    ) -> None:
        self._start_id = start_id
        self._last_id = start_id
        self._reserved = start_id + RESERVE if reserved is None else reserved
        self._pruned_through = pruned_through
        # Recent non-progress events (written or not), so most replays need no query.
        self._tail: deque[Event] = deque(maxlen=tail_size)
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._pending: deque[Event] = deque()
        self._max_pending = max_pending
        self._persisted_id = start_id
        self._flushes = 0
        self._dropped = 0
        # Events up to this id may be missing from the journal (dropped while it was down).
        self._lost_through = 0
        self._changes = trio.lowlevel.ParkingLot()
        self._flush_lock = trio.Lock()

    @classmethod
    async def load(cls, db: Database, **kwargs: Any) -> EventJournal:
        """The journal of this run: ids start above every id of earlier runs.

        The new reservation is written here, before any event of this run gets an id.
        """
        # The wall clock in microseconds is a floor too: a run whose reservation could not be
        # extended (PostgreSQL down for millions of ids) and that then crashed still handed out
        # fewer ids than microseconds passed, so the next run starts above all of them.
        row = await db.fetchrow(
            "UPDATE event_ids SET reserved = GREATEST(reserved,"
            " (SELECT coalesce(max(id), 0) FROM event_journal), $2) + $1"
            " RETURNING reserved, pruned_through",
            RESERVE,
            time.time_ns() // 1000,
        )
        if row is None:
            raise RevaerError("the event_ids row is missing; the migrations did not run")
        reserved = int(row["reserved"])
        return cls(
            start_id=reserved - RESERVE,
            reserved=reserved,
            pruned_through=int(row["pruned_through"]),
            **kwargs,
        )

    @property
    def start_id(self) -> int:
        """The bus must start counting here (its first id is ``start_id + 1``)."""
        return self._start_id

    @property
    def last_id(self) -> int:
        """The newest id recorded."""
        return self._last_id

    def statistics(self) -> JournalStatistics:
        """Current counters."""
        return JournalStatistics(
            last_id=self._last_id,
            persisted_id=self._persisted_id,
            pending=len(self._pending),
            flushes=self._flushes,
            dropped=self._dropped,
            pruned_through=self._pruned_through,
        )

    def record(self, event: Event) -> None:
        """Keep ``event``: progress in the ring, everything else in the tail and for writing."""
        self._last_id = max(self._last_id, event.id)
        if event.kind == "progress":
            self._ring.append(event)
            if self._last_id + _EXTEND_AT > self._reserved:
                self._changes.unpark_all()
            return
        self._tail.append(event)
        self._pending.append(event)
        if len(self._pending) > self._max_pending:
            lost = self._pending.popleft()
            self._lost_through = max(self._lost_through, lost.id)
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                _log.error(
                    "PostgreSQL has been unavailable too long: {} event(s) dropped from the "
                    "journal so far (they were delivered live, but cannot be replayed)",
                    self._dropped,
                )
        self._changes.unpark_all()

    def resync_reason(self, after: int) -> str | None:
        """Why a client whose last event was ``after`` cannot be given what it missed, or None."""
        if after < self._lost_through:
            return (
                f"events up to {self._lost_through} could not be written to the journal while "
                "PostgreSQL was unavailable; re-list the torrents, then follow from here"
            )
        if after < self._pruned_through:
            return (
                f"event {after + 1} and later up to {self._pruned_through} were pruned from "
                "the journal; re-list the torrents, then follow from here"
            )
        if after > self._last_id:
            return f"event {after} was never sent by this instance; re-list and follow from here"
        return None

    async def replay(
        self, db: Database, after: int, upto: int, wanted: EventFilter, *, page: int = 2000
    ) -> AsyncIterator[list[Frame]]:
        """Every event with ``after < id <= upto`` that ``wanted`` matches, in id order, by page.

        Progress comes from the ring (as far back as it reaches); everything else from memory
        when the tail reaches back far enough, else from PostgreSQL plus what is not written
        yet. Check :meth:`resync_reason` first.
        """
        memory_from = self._tail[0].id if self._tail else upto + 1
        recent = [e for e in self._tail if after < e.id <= upto and wanted.matches(e)]
        if wanted.kinds is None or "progress" in wanted.kinds:
            recent.extend(e for e in self._ring if after < e.id <= upto and wanted.matches(e))
        if after + 1 < memory_from:
            # Taken before the query: an event written meanwhile is then in one or both.
            recent.extend(
                e for e in self._pending if after < e.id < memory_from and wanted.matches(e)
            )
        recent.sort(key=lambda e: e.id)
        cursor = after
        if after + 1 < memory_from:
            async for rows in self._query(db, after, min(upto, memory_from - 1), wanted, page):
                top = rows[-1].id
                taken = 0
                while taken < len(recent) and recent[taken].id <= top:
                    taken += 1
                merged = {f.id: f for f in rows}
                for e in recent[:taken]:
                    merged.setdefault(e.id, _frame(e))
                recent = recent[taken:]
                cursor = top
                yield [merged[i] for i in sorted(merged)]
        seen = cursor
        chunk: list[Frame] = []
        for e in recent:
            if e.id <= seen:
                continue  # the same event from two sources
            seen = e.id
            chunk.append(_frame(e))
            if len(chunk) >= page:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def _query(
        self, db: Database, after: int, upto: int, wanted: EventFilter, page: int
    ) -> AsyncIterator[list[Frame]]:
        kinds, torrents, states = wanted._sql_args()
        if kinds is not None:
            kinds = [k for k in kinds if k != "progress"]
        while after < upto:
            rows = await db.fetch(_REPLAY, after, upto, kinds, torrents, states, page)
            if not rows:
                return
            frames = [_row_frame(row) for row in rows]
            yield frames
            after = frames[-1].id
            if len(rows) < page:
                return

    async def flush(self, db: Database) -> None:
        """Write every pending event (and extend the id reservation) in one transaction."""
        async with self._flush_lock:
            await self._flush_locked(db)

    async def _flush_locked(self, db: Database) -> None:
        batch = list(self._pending)
        reserve = self._reserved
        if self._last_id + _EXTEND_AT > reserve:
            reserve = self._last_id + RESERVE
        if not batch and reserve == self._reserved:
            return
        columns = _columns(batch)
        try:
            await db.run(lambda conn: _write(conn, columns, reserve))
        except QueryError as exc:
            # One row PostgreSQL refuses must not hold back the others: write them one by one.
            _log.warning("journal batch refused ({}); writing event by event", exc.detail)
            refused = await db.run(lambda conn: _write_each(conn, batch, reserve))
            for event_id, why in refused:
                _log.error("journal refused event {}: {}", event_id, why)
        self._reserved = reserve
        if batch:
            # Only what was written leaves; events recorded during the write stay pending.
            written = batch[-1].id
            while self._pending and self._pending[0].id <= written:
                self._pending.popleft()
            self._persisted_id = max(self._persisted_id, written)
        self._flushes += 1

    async def prune(self, db: Database, policy: JournalPolicy) -> int:
        """Delete what retention no longer keeps; returns how many events went."""
        removed = highest = 0
        if policy.days is not None:
            n, top = await _delete(db, _PRUNE_OLDER, policy.days)
            removed, highest = removed + n, max(highest, top)
        if policy.rows is not None:
            n, top = await _delete(db, _PRUNE_BEYOND, policy.rows)
            removed, highest = removed + n, max(highest, top)
        if highest > self._pruned_through:
            await db.execute(
                "UPDATE event_ids SET pruned_through = GREATEST(pruned_through, $1)", highest
            )
            self._pruned_through = highest
        if removed:
            _log.info("pruned {} event(s) from the journal (through id {})", removed, highest)
        return removed

    async def run(
        self,
        db: Database,
        policy: Callable[[], JournalPolicy] = JournalPolicy,
        *,
        flush_interval: float = 0.05,
        prune_interval: float = 300.0,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Write batches until cancelled, then once more (shielded, a few seconds at most)."""
        try:
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._prune_loop, db, policy, prune_interval)
                await self._write_loop(db, flush_interval)
        finally:
            await write_once_more(lambda: self.flush(db), "journal", "journal")

    def _due(self) -> bool:
        return bool(self._pending) or self._last_id + _EXTEND_AT > self._reserved

    async def _write_loop(self, db: Database, flush_interval: float) -> None:
        retry_delay = flush_interval
        last = -math.inf
        while True:
            while not self._due():
                await self._changes.park()
            # Gather a batch: events of one burst share a write.
            await trio.sleep_until(last + flush_interval)
            try:
                await self.flush(db)
            except DatabaseUnavailable as exc:
                _log.warning("journal write failed, retrying in {:.1f}s: {}", retry_delay, exc)
                await trio.sleep(retry_delay)
                retry_delay = min(30.0, max(1.0, retry_delay * 2))
                continue
            retry_delay = flush_interval
            last = trio.current_time()

    async def _prune_loop(
        self, db: Database, policy: Callable[[], JournalPolicy], interval: float
    ) -> None:
        while True:
            try:
                removed = _PRUNE_BATCH
                while removed >= _PRUNE_BATCH:  # a big backlog goes in batches
                    removed = await self.prune(db, policy())
            except DatabaseUnavailable as exc:
                _log.warning("journal pruning failed, trying again later: {}", exc)
            await trio.sleep(interval)


# Each deletes at most one batch (oldest first) and reports how many and the highest id.
_PRUNE_OLDER = (
    "WITH d AS (DELETE FROM event_journal WHERE id IN (SELECT id FROM event_journal"
    " WHERE at < now() - make_interval(days => $1) ORDER BY id LIMIT $2)"
    " RETURNING id) SELECT count(*) AS n, coalesce(max(id), 0) AS top FROM d"
)
_PRUNE_BEYOND = (
    "WITH cut AS (SELECT id FROM event_journal ORDER BY id DESC OFFSET $1 LIMIT 1),"
    " d AS (DELETE FROM event_journal WHERE id IN (SELECT id FROM event_journal"
    " WHERE id <= (SELECT id FROM cut) ORDER BY id LIMIT $2) RETURNING id)"
    " SELECT count(*) AS n, coalesce(max(id), 0) AS top FROM d"
)


async def _delete(db: Database, sql: str, bound: int) -> tuple[int, int]:
    row = await db.fetchrow(sql, bound, _PRUNE_BATCH)
    assert row is not None  # an aggregate always has a row
    return int(row["n"]), int(row["top"])


def _frame(event: Event) -> Frame:
    return Frame(event.id, event.kind, event.wire())


_ENCODER = msgspec.json.Encoder()


def _row_frame(row: Any) -> Frame:
    head: dict[str, Any] = {"id": row["id"], "kind": row["kind"], "at": row["at"]}
    if row["torrent_id"] is not None:
        head["torrent_id"] = row["torrent_id"]
    if row["state"] is not None:
        head["state"] = row["state"]
    if row["request_id"] is not None:
        head["request_id"] = row["request_id"]
    # The stored payload is spliced in as PostgreSQL prints it (one line, same values).
    body = _ENCODER.encode(head)[:-1] + b',"data":' + row["data"].encode() + b"}"
    return Frame(int(row["id"]), str(row["kind"]), body)


def _data_text(event: Event) -> str:
    # The payload exactly as the live frame carries it; jsonb refuses \u0000 in strings.
    wire = event.wire()
    data = wire[wire.index(b',"data":') + 8 : -1].decode()
    return data.replace("\\u0000", "\\ufffd")


def _columns(batch: Iterable[Event]) -> tuple[list[Any], ...]:
    ids: list[int] = []
    kinds: list[str] = []
    ats: list[datetime] = []
    torrents: list[str | None] = []
    states: list[str | None] = []
    requests: list[str | None] = []
    datas: list[str] = []
    for e in batch:
        ids.append(e.id)
        kinds.append(e.kind)
        ats.append(e.at)
        torrents.append(e.torrent_id)
        states.append(e.state)
        requests.append(e.request_id)
        datas.append(_data_text(e))
    return ids, kinds, ats, torrents, states, requests, datas


async def _write(conn: Connection, columns: tuple[list[Any], ...], reserve: int) -> None:
    # Runs on the asyncio side: the whole batch is one crossing and one transaction.
    async with conn.transaction():
        if columns[0]:
            await conn.execute(_INSERT, *columns)
        await conn.execute(_RESERVE, reserve)


async def _write_each(conn: Connection, batch: list[Event], reserve: int) -> list[tuple[int, str]]:
    refused: list[tuple[int, str]] = []
    async with conn.transaction():
        for event in batch:
            try:
                async with conn.transaction():
                    await conn.execute(_INSERT, *_columns([event]))
            except Exception as exc:  # noqa: BLE001 -- asyncio side: report, keep the others
                refused.append((event.id, f"{type(exc).__name__}: {exc}"))
        await conn.execute(_RESERVE, reserve)
    return refused
