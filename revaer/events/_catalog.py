"""The torrent catalog: current summaries and details of every torrent, kept from events.

:class:`TorrentCatalog` holds one :class:`TorrentRecord` per torrent in memory (what list,
filter and detail requests read). It is a projection fed one way: the engine's
:class:`~revaer.events.Publisher` applies every event to it synchronously (it never subscribes,
so it can never miss one), and the engine reconciles it with the restored torrents at every
start (:meth:`TorrentCatalog.retain`). Its ``run`` actor persists changes to the ``torrents``
table, so lists are complete right after a restart, before the engine is up.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, assert_never

import trio
from loguru import logger

from revaer.db import Connection, Database, DatabaseUnavailable, QueryError, Row, storable_text
from revaer.events._bus import Event
from revaer.events._final import write_once_more
from revaer.events._payloads import (
    Completed,
    FileInfo,
    FilesDiscovered,
    FsopsCompleted,
    FsopsFailed,
    FsopsProgress,
    FsopsStarted,
    HealthChanged,
    Progress,
    SelectionReconciled,
    SettingsChanged,
    StateChanged,
    TorrentAdded,
    TorrentFailed,
    TorrentRemoved,
    TorrentState,
    TorrentUpdated,
)
from revaer.runtime import Watched

__all__ = ["CatalogStatistics", "TorrentCatalog", "TorrentRecord"]

_log = logger.bind(actor="catalog")

# Failures of these sources stop the torrent; tracker and metadata errors do not.
_FATAL_SOURCES = frozenset({"torrent", "file"})


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _file_json(f: FileInfo) -> dict[str, Any]:
    return {"index": f.index, "path": f.path, "size": f.size, "priority": f.priority}


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _fraction(done: int, total: int) -> float:
    return min(1.0, max(0.0, done / total)) if total > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentRecord:
    """Everything the API shows about one torrent. Sizes in bytes, rates in bytes per second."""

    torrent_id: str
    info_hash: str
    name: str
    state: TorrentState = TorrentState.QUEUED
    progress: float = 0.0
    """Fraction done, 0..1."""
    bytes_done: int = 0
    bytes_total: int = 0
    download_bps: int = 0
    upload_bps: int = 0
    eta_seconds: int | None = None
    peers: int = 0
    seeds: int = 0
    ratio: float = 0.0
    files: tuple[FileInfo, ...] = ()
    tags: tuple[str, ...] = ()
    trackers: tuple[str, ...] = ()
    save_path: str = ""
    sequential: bool = False
    added_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    last_error: str | None = None
    max_download_bps: int | None = None
    max_upload_bps: int | None = None

    def to_summary(self) -> dict[str, Any]:
        """The JSON list entry (everything but the files): the API's ``TorrentSummary``."""
        return {
            "torrent_id": self.torrent_id,
            "info_hash": self.info_hash,
            "name": self.name,
            "state": self.state.value,
            "progress": self.progress,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "download_bps": self.download_bps,
            "upload_bps": self.upload_bps,
            "eta_seconds": self.eta_seconds,
            "peers": self.peers,
            "seeds": self.seeds,
            "ratio": self.ratio,
            "tags": list(self.tags),
            "trackers": list(self.trackers),
            "download_dir": self.save_path,
            "sequential": self.sequential,
            "max_download_bps": self.max_download_bps,
            "max_upload_bps": self.max_upload_bps,
            "added_at": _iso(self.added_at),
            "completed_at": _iso(self.completed_at),
            "last_error": self.last_error,
        }

    def to_detail(self) -> dict[str, Any]:
        """The JSON detail: the summary plus ``files``."""
        return self.to_summary() | {"files": [_file_json(f) for f in self.files]}


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogStatistics:
    """Counters of a :class:`TorrentCatalog`."""

    records: int
    pending_writes: int
    """Torrents changed (or removed) in memory and not yet written."""
    flushes: int
    """Batches written to PostgreSQL since this catalog was created."""
    applied_id: int
    """Id of the last event applied in memory."""
    persisted_id: int
    """Every event up to this id is reflected in PostgreSQL."""
    rejected_rows: int = 0
    """Rows PostgreSQL refused (logged and skipped; memory still has them)."""


# Column names are the record's field names, in the same order.
_COLUMNS = tuple(f.name for f in fields(TorrentRecord))
_UPSERT = (
    f"INSERT INTO torrents ({', '.join(_COLUMNS)}) "  # noqa: S608 -- fixed column names
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
    "ON CONFLICT (torrent_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
)


def _record_row(r: TorrentRecord) -> tuple[object, ...]:
    values = {c: getattr(r, c) for c in _COLUMNS} | {
        "name": storable_text(r.name),
        "save_path": storable_text(r.save_path),
        "last_error": None if r.last_error is None else storable_text(r.last_error),
        "state": r.state.value,
        "files": [_file_json(f) | {"path": storable_text(f.path)} for f in r.files],
        "tags": [storable_text(t) for t in r.tags],
        "trackers": [storable_text(t) for t in r.trackers],
    }
    return tuple(values[c] for c in _COLUMNS)


def _row_record(row: Row) -> TorrentRecord:
    values = {c: row[c] for c in _COLUMNS} | {
        "torrent_id": str(row["torrent_id"]),  # asyncpg returns uuid.UUID
        "state": TorrentState(row["state"]),
        "files": tuple(FileInfo(**f) for f in row["files"]),
        "tags": tuple(row["tags"]),
        "trackers": tuple(row["trackers"]),
    }
    return TorrentRecord(**values)


async def _write(conn: Connection, deletes: list[str], upserts: list[tuple[object, ...]]) -> None:
    # Runs on the asyncio side: the whole batch is one crossing and one transaction.
    async with conn.transaction():
        if deletes:
            await conn.execute("DELETE FROM torrents WHERE torrent_id = ANY($1::uuid[])", deletes)
        if upserts:
            await conn.executemany(_UPSERT, upserts)


async def _write_each(
    conn: Connection, deletes: list[str], upserts: list[tuple[object, ...]]
) -> list[tuple[object, str]]:
    """The batch row by row, each in its own savepoint; returns (id, error) of refused rows."""
    refused: list[tuple[object, str]] = []
    async with conn.transaction():
        if deletes:
            await conn.execute("DELETE FROM torrents WHERE torrent_id = ANY($1::uuid[])", deletes)
        for row in upserts:
            try:
                async with conn.transaction():
                    await conn.execute(_UPSERT, *row)
            except Exception as exc:  # noqa: BLE001 -- asyncio side: report, keep the others
                refused.append((row[0], f"{type(exc).__name__}: {exc}"))
    return refused


class TorrentCatalog:
    """Every torrent's current record, updated from events and persisted by ``run``.

    ``apply`` and the metadata methods change memory only and note what must be written;
    the ``run`` actor writes removals and state or metadata changes at once and progress-only
    changes at most every ``flush_interval`` seconds. Use it from tasks of a single
    ``trio.run``.
    """

    def __init__(self, records: Iterable[TorrentRecord] = ()) -> None:
        self._records: dict[str, TorrentRecord] = {r.torrent_id: r for r in records}
        # (added_at, id) of every record, kept sorted as records come and go: reading all of
        # them, or a page after a key, never sorts (10,000 records took 5-7 ms a read).
        self._order: list[tuple[datetime, str]] = sorted(
            (r.added_at, r.torrent_id) for r in self._records.values()
        )
        self._rejected = 0
        self._pending: set[str] = set()
        self._removed: set[str] = set()
        # Whether a pending change should be written without waiting for the progress batch.
        self._urgent = False
        self._changes = Watched(0)
        self._applied_id = 0
        self._persisted = Watched(0)
        self._flushes = 0
        # True while a batch is on its way: taken from pending, not yet committed.
        self._writing = False
        # Batches must commit in the order they were taken, or an older one could win.
        self._flush_lock = trio.Lock()

    @classmethod
    async def load(cls, db: Database) -> TorrentCatalog:
        """The catalog as last persisted."""
        rows = await db.fetch("SELECT * FROM torrents")
        return cls(_row_record(row) for row in rows)

    def get(self, torrent_id: str) -> TorrentRecord | None:
        """The record of ``torrent_id``, or None."""
        return self._records.get(torrent_id)

    def all(self) -> list[TorrentRecord]:
        """Every record, oldest first (by ``added_at``, then id)."""
        records = self._records
        return [records[torrent_id] for _, torrent_id in self._order]

    def page(self, after: tuple[datetime, str] | None, limit: int) -> list[TorrentRecord]:
        """Up to ``limit`` records after the key ``(added_at, torrent_id)``, oldest first.

        Keyset pagination: a walk page by page sees every record that existed for the whole
        walk exactly once, whatever is added or removed meanwhile.
        """
        start = 0 if after is None else bisect.bisect_right(self._order, after)
        records = self._records
        return [records[tid] for _, tid in self._order[start : start + limit]]

    def page_iter(self, after: tuple[datetime, str] | None) -> Iterator[TorrentRecord]:
        """Records after the key ``(added_at, torrent_id)``, oldest first (a filtered page).

        Do not change the catalog while iterating (the API reads it between awaits only).
        """
        start = 0 if after is None else bisect.bisect_right(self._order, after)
        records = self._records
        for index in range(start, len(self._order)):
            yield records[self._order[index][1]]

    @property
    def version(self) -> int:
        """Grows with every change of any record (a cache of a read is valid while it stays)."""
        return self._changes.value

    def state_of(self, torrent_id: str) -> str | None:
        """The state of ``torrent_id`` (its value), or None when it is not in the catalog."""
        record = self._records.get(torrent_id)
        return None if record is None else record.state.value

    def __len__(self) -> int:
        return len(self._records)

    def statistics(self) -> CatalogStatistics:
        """Current counters."""
        return CatalogStatistics(
            records=len(self._records),
            pending_writes=len(self._pending | self._removed),
            flushes=self._flushes,
            applied_id=self._applied_id,
            persisted_id=self._persisted.value,
            rejected_rows=self._rejected,
        )

    def retain(self, torrent_ids: Iterable[str]) -> list[str]:
        """Drop every record not in ``torrent_ids`` (the torrents the engine restored).

        Returns the ids dropped. Together with the restored ``torrent_added`` events, this makes
        the catalog match the engine after every start, whatever happened while it was down.
        """
        keep = set(torrent_ids)
        ghosts = [tid for tid in self._records if tid not in keep]
        for tid in ghosts:
            self._remove(tid)
        if ghosts:
            _log.info("dropped {} catalog record(s) of torrents that are gone", len(ghosts))
        return ghosts

    def apply(self, event: Event) -> TorrentRecord | None:
        """Update memory from one event; returns the changed record (None if none changed)."""
        self._applied_id = max(self._applied_id, event.id)
        try:
            return self._apply(event)
        finally:
            self._note_caught_up()

    def _apply(self, event: Event) -> TorrentRecord | None:  # noqa: PLR0911 -- one branch per payload type
        payload, at = event.payload, event.at
        match payload:
            case TorrentAdded():
                return self._added(payload, at)
            case TorrentUpdated():
                return self._change(
                    payload.torrent_id,
                    at,
                    name=payload.name,
                    save_path=payload.download_dir,
                    sequential=payload.sequential,
                    tags=payload.tags,
                    trackers=payload.trackers,
                    max_download_bps=payload.max_download_bps,
                    max_upload_bps=payload.max_upload_bps,
                )
            case FilesDiscovered():
                return self._change(
                    payload.torrent_id,
                    at,
                    name=payload.name,
                    files=payload.files,
                    bytes_total=payload.total_size,
                )
            case Progress():
                return self._change(
                    payload.torrent_id,
                    at,
                    urgent=False,
                    bytes_done=payload.bytes_done,
                    bytes_total=payload.bytes_total,
                    download_bps=payload.download_bps,
                    upload_bps=payload.upload_bps,
                    eta_seconds=payload.eta_seconds,
                    peers=payload.peers,
                    seeds=payload.seeds,
                    ratio=payload.ratio,
                )
            case StateChanged():
                return self._change(payload.torrent_id, at, state=payload.state)
            case Completed():
                return self._completed(payload, at)
            case TorrentRemoved():
                return self._remove(payload.torrent_id)
            case TorrentFailed():
                fields: dict[str, Any] = {"last_error": payload.message}
                if payload.source in _FATAL_SOURCES:
                    fields["state"] = TorrentState.ERROR
                return self._change(payload.torrent_id, at, **fields)
            case (
                SelectionReconciled()
                | SettingsChanged()
                | HealthChanged()
                | FsopsStarted()
                | FsopsProgress()
                | FsopsCompleted()
                | FsopsFailed()
            ):
                return None
            case _:
                assert_never(payload)

    def _added(self, payload: TorrentAdded, at: datetime) -> TorrentRecord | None:
        old = self._records.get(payload.torrent_id)
        stored: dict[str, Any] = {
            "info_hash": payload.info_hash,
            "save_path": payload.download_dir,
            "sequential": payload.sequential,
            "tags": payload.tags,
            "trackers": payload.trackers,
            "max_download_bps": payload.max_download_bps,
            "max_upload_bps": payload.max_upload_bps,
            "added_at": _parse_time(payload.added_at) or (old.added_at if old else at),
        }
        if old is None:
            record = TorrentRecord(
                torrent_id=payload.torrent_id, name=payload.name, updated_at=at, **stored
            )
            return self._store(record, urgent=True)
        # Live figures of a previous session are stale. A restored torrent keeps what was
        # downloaded and its last known state until the session reports one (a restart of
        # thousands of unchanged torrents then rewrites nothing); a fresh add starts over.
        fields = stored | {
            "name": payload.name or old.name,
            "download_bps": 0,
            "upload_bps": 0,
            "eta_seconds": None,
            "peers": 0,
            "seeds": 0,
        }
        if not payload.restored:
            fields |= {
                "state": TorrentState.QUEUED,
                "bytes_done": 0,
                "ratio": 0.0,
                "completed_at": None,
                "last_error": None,
            }
        return self._change(payload.torrent_id, at, **fields)

    def _completed(self, payload: Completed, at: datetime) -> TorrentRecord | None:
        old = self._records.get(payload.torrent_id)
        if old is None:
            return None
        fields: dict[str, Any] = {"completed_at": at}
        if old.bytes_total > 0:
            fields |= {"progress": 1.0, "bytes_done": old.bytes_total}
        if payload.name:
            fields["name"] = payload.name
        if payload.save_path:
            fields["save_path"] = payload.save_path
        return self._change(payload.torrent_id, at, **fields)

    def _change(
        self, torrent_id: str, at: datetime, *, urgent: bool = True, **fields: Any
    ) -> TorrentRecord | None:
        old = self._records.get(torrent_id)
        if old is None:
            # Without TorrentAdded there is no info hash to key a row on; the add comes first.
            return None
        fields["progress"] = _fraction(
            fields.get("bytes_done", old.bytes_done), fields.get("bytes_total", old.bytes_total)
        )
        # Most events change nothing the catalog shows (a restore re-announces every torrent):
        # comparing the fields is far cheaper than building a record to compare.
        if all(getattr(old, name) == value for name, value in fields.items()):
            return None
        return self._store(replace(old, updated_at=at, **fields), urgent=urgent)

    def _unorder(self, record: TorrentRecord) -> None:
        key = (record.added_at, record.torrent_id)
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]

    def _remove(self, torrent_id: str) -> TorrentRecord | None:
        record = self._records.pop(torrent_id, None)
        if record is None:
            return None
        self._unorder(record)
        self._pending.discard(torrent_id)
        self._removed.add(torrent_id)
        self._urgent = True
        self._signal()
        return record

    def _store(self, record: TorrentRecord, *, urgent: bool) -> TorrentRecord:
        old = self._records.get(record.torrent_id)
        if old is None or old.added_at != record.added_at:
            if old is not None:
                self._unorder(old)
            bisect.insort(self._order, (record.added_at, record.torrent_id))
        self._records[record.torrent_id] = record
        self._pending.add(record.torrent_id)
        self._urgent = self._urgent or urgent
        self._signal()
        return record

    def _signal(self) -> None:
        self._changes.set(self._changes.value + 1)

    def _has_pending(self) -> bool:
        return bool(self._pending or self._removed)

    def _note_caught_up(self) -> None:
        idle = not self._has_pending() and not self._writing
        if idle and self._applied_id > self._persisted.value:
            self._persisted.set(self._applied_id)

    async def wait_persisted(self, event_id: int) -> None:
        """Wait until every event up to ``event_id`` is applied and written to PostgreSQL."""
        while self._persisted.value < event_id:
            await self._persisted.wait_newer(self._persisted.version)

    async def flush(self, db: Database) -> None:
        """Write every pending change now, in one transaction and one crossing."""
        async with self._flush_lock:
            await self._flush_locked(db)

    async def _flush_locked(self, db: Database) -> None:
        if not self._has_pending():
            return
        upto = self._applied_id
        pending, removed = self._pending, self._removed
        self._pending, self._removed, self._urgent = set(), set(), False
        rows = [_record_row(self._records[i]) for i in sorted(pending) if i in self._records]
        self._writing = True
        try:
            try:
                await db.run(lambda conn: _write(conn, sorted(removed), rows))
            except QueryError as exc:
                # One row PostgreSQL refuses must not hold back the others, nor crash the
                # writer into a loop: write them one by one and skip the refused ones.
                _log.warning("catalog batch refused ({}); writing row by row", exc.detail)
                refused = await db.run(lambda conn: _write_each(conn, sorted(removed), rows))
                for torrent_id, why in refused:
                    self._rejected += 1
                    _log.error("catalog row of {} refused by PostgreSQL: {}", torrent_id, why)
        except BaseException:
            # Put them back (newer changes made meanwhile win) so the next flush retries them.
            self._pending |= {i for i in pending if i in self._records}
            self._removed |= {i for i in removed if i not in self._records}
            self._urgent = True
            raise
        finally:
            self._writing = False
        self._flushes += 1
        if self._has_pending():
            self._persisted.set(max(self._persisted.value, upto))
        else:
            self._note_caught_up()

    async def run(
        self,
        db: Database,
        *,
        flush_interval: float = 1.0,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Persist changes until cancelled.

        On cancellation the pending changes are written one last time (shielded, at most a
        few seconds).
        """
        try:
            task_status.started()
            await self._write_loop(db, flush_interval)
        finally:
            await write_once_more(lambda: self.flush(db), "catalog", "catalog")

    async def _write_loop(self, db: Database, flush_interval: float) -> None:
        last_flush = -math.inf
        version = 0
        retry_delay = flush_interval
        while True:
            while not self._has_pending():
                version, _ = await self._changes.wait_newer(version)
            # Progress-only changes wait for the batch; anything urgent ends the wait early.
            with trio.move_on_at(last_flush + flush_interval):
                while not self._urgent:
                    version, _ = await self._changes.wait_newer(version)
            try:
                await self.flush(db)
            except DatabaseUnavailable as exc:
                _log.warning("catalog write failed, retrying in {:.1f}s: {}", retry_delay, exc)
                await trio.sleep(retry_delay)
                retry_delay = min(30.0, max(1.0, retry_delay * 2))
                continue
            retry_delay = flush_interval
            last_flush = trio.current_time()
