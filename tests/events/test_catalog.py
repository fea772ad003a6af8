"""TorrentCatalog: records kept from events, and persisted so they survive a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from revaer.db import Connection, Database, DatabaseUnavailable
from revaer.events import (
    Completed,
    Event,
    EventBus,
    EventPayload,
    FileInfo,
    FilesDiscovered,
    HealthChanged,
    Progress,
    Publisher,
    SelectionReconciled,
    SettingsChanged,
    StateChanged,
    TorrentAdded,
    TorrentCatalog,
    TorrentFailed,
    TorrentRecord,
    TorrentRemoved,
    TorrentState,
    TorrentUpdated,
)

T = TypeVar("T")

TID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"
OTHER = "0b2d4e6f-8a1c-4e3b-9d5f-7a9c1e3b5d70"
HASH = "aa" * 20
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
FILES = (
    FileInfo(index=0, path="Show/ep1.mkv", size=600, priority=4),
    FileInfo(index=1, path="Show/ep1.nfo", size=400, priority=1),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def progress(done: int, total: int = 1000, torrent_id: str = TID, **extra: Any) -> Progress:
    figures: dict[str, Any] = {
        "download_bps": 5000,
        "upload_bps": 700,
        "eta_seconds": 12,
        "peers": 8,
        "seeds": 3,
        "ratio": 0.25,
    } | extra
    return Progress(torrent_id=torrent_id, bytes_done=done, bytes_total=total, **figures)


class Feed:
    """Events with explicit ids and times, applied straight to a catalog."""

    def __init__(self, catalog: TorrentCatalog) -> None:
        self.catalog = catalog
        self.next_id = 0

    def __call__(self, payload: EventPayload, seconds: float = 0.0) -> TorrentRecord | None:
        self.next_id += 1
        return self.catalog.apply(Event(id=self.next_id, at=at(seconds), payload=payload))


@pytest.fixture
def feed() -> Feed:
    return Feed(TorrentCatalog())


def add_with_files(feed: Feed) -> None:
    feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="magnet"), 0)
    feed(
        FilesDiscovered(
            torrent_id=TID, name="Show", total_size=1000, piece_length=256, files=FILES
        ),
        1,
    )


def test_torrent_added_creates_a_queued_record(feed: Feed) -> None:
    record = feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="magnet"), 5)
    assert record == TorrentRecord(
        torrent_id=TID, info_hash=HASH, name="magnet", added_at=at(5), updated_at=at(5)
    )
    assert record.state is TorrentState.QUEUED
    assert feed.catalog.get(TID) == record
    assert len(feed.catalog) == 1


def test_files_discovered_sets_name_files_and_size(feed: Feed) -> None:
    add_with_files(feed)
    record = feed.catalog.get(TID)
    assert record is not None
    assert (record.name, record.files, record.bytes_total) == ("Show", FILES, 1000)
    assert record.updated_at == at(1)


def test_progress_sets_the_figures_and_the_fraction(feed: Feed) -> None:
    add_with_files(feed)
    record = feed(progress(250), 2)
    assert record is not None
    assert record.progress == 0.25
    assert (record.bytes_done, record.bytes_total) == (250, 1000)
    assert (record.download_bps, record.upload_bps, record.eta_seconds) == (5000, 700, 12)
    assert (record.peers, record.seeds, record.ratio) == (8, 3, 0.25)
    assert record.updated_at == at(2)
    unknown_size = feed(progress(0, total=0), 3)
    assert unknown_size is not None and unknown_size.progress == 0.0


def test_an_unchanged_progress_changes_nothing(feed: Feed) -> None:
    add_with_files(feed)
    feed(progress(250), 2)
    assert feed(progress(250), 3) is None
    record = feed.catalog.get(TID)
    assert record is not None and record.updated_at == at(2)


def test_state_changed_sets_the_state(feed: Feed) -> None:
    add_with_files(feed)
    record = feed(
        StateChanged(torrent_id=TID, state=TorrentState.DOWNLOADING, previous=TorrentState.QUEUED)
    )
    assert record is not None and record.state is TorrentState.DOWNLOADING


def test_completed_marks_the_time_and_full_progress(feed: Feed) -> None:
    add_with_files(feed)
    feed(progress(900), 2)
    record = feed(Completed(torrent_id=TID, save_path="/srv/done", name="Show"), 9)
    assert record is not None
    assert record.completed_at == at(9)
    assert (record.progress, record.bytes_done) == (1.0, 1000)
    assert record.save_path == "/srv/done"


def test_completed_without_a_known_size_keeps_the_figures(feed: Feed) -> None:
    feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="magnet"))
    record = feed(Completed(torrent_id=TID, save_path="", name=""), 4)
    assert record is not None
    assert (record.completed_at, record.progress, record.name) == (at(4), 0.0, "magnet")


def test_failures_set_the_last_error_and_stop_the_torrent_only_when_fatal(feed: Feed) -> None:
    add_with_files(feed)
    tracker = feed(
        TorrentFailed(torrent_id=TID, source="tracker", message="timed out", tracker="udp://t")
    )
    assert tracker is not None
    assert (tracker.last_error, tracker.state) == ("timed out", TorrentState.QUEUED)
    disk = feed(TorrentFailed(torrent_id=TID, source="file", message="disk full"))
    assert disk is not None
    assert (disk.last_error, disk.state) == ("disk full", TorrentState.ERROR)


def test_torrent_removed_deletes_the_record(feed: Feed) -> None:
    add_with_files(feed)
    removed = feed(TorrentRemoved(torrent_id=TID, deleted_data=True))
    assert removed is not None and removed.torrent_id == TID
    assert feed.catalog.get(TID) is None
    assert len(feed.catalog) == 0
    assert feed(TorrentRemoved(torrent_id=TID, deleted_data=False)) is None


def test_other_payloads_and_unknown_torrents_change_nothing(feed: Feed) -> None:
    add_with_files(feed)
    before = feed.catalog.all()
    assert feed(SelectionReconciled(torrent_id=TID, detail="re-applied priorities")) is None
    assert feed(SettingsChanged(revision=3)) is None
    assert feed(HealthChanged(degraded=("database",))) is None
    assert feed(progress(1, torrent_id=OTHER)) is None
    assert feed(StateChanged(torrent_id=OTHER, state=TorrentState.PAUSED, previous=None)) is None
    assert feed(Completed(torrent_id=OTHER, save_path="/x", name="x")) is None
    assert feed.catalog.all() == before


def test_a_restored_torrent_keeps_its_figures_but_not_its_live_rates(feed: Feed) -> None:
    add_with_files(feed)
    feed(progress(400), 2)
    feed(StateChanged(torrent_id=TID, state=TorrentState.DOWNLOADING, previous=None), 3)
    restored = feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="Show", restored=True), 60)
    assert restored is not None
    assert (restored.bytes_done, restored.progress, restored.files) == (400, 0.4, FILES)
    assert (restored.download_bps, restored.peers, restored.eta_seconds) == (0, 0, None)
    # The last known state stands until the session reports one (no churn at a restart).
    assert restored.state is TorrentState.DOWNLOADING
    assert restored.added_at == at(0)
    # A restored torrent that changed nothing the catalog shows is not rewritten.
    feed(StateChanged(torrent_id=TID, state=TorrentState.PAUSED, previous=None), 61)
    before = feed.catalog.statistics().pending_writes
    assert (
        feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="Show", restored=True), 62) is None
    )
    assert feed(StateChanged(torrent_id=TID, state=TorrentState.PAUSED, previous=None), 63) is None
    assert feed.catalog.statistics().pending_writes == before


def test_torrent_added_carries_the_stored_settings(feed: Feed) -> None:
    record = feed(
        TorrentAdded(
            torrent_id=TID,
            info_hash=HASH,
            name="magnet",
            download_dir="/srv/downloads",
            tags=("tv", "hd"),
            trackers=("udp://tracker.example:1337",),
            sequential=True,
            added_at=at(-3600).isoformat(),
        ),
        1,
    )
    assert record is not None
    assert (record.tags, record.trackers) == (("tv", "hd"), ("udp://tracker.example:1337",))
    assert (record.save_path, record.sequential) == ("/srv/downloads", True)
    assert record.added_at == at(-3600)  # when it was first added, not this event's time


def test_torrent_updated_changes_the_stored_settings_only(feed: Feed) -> None:
    add_with_files(feed)
    feed(progress(100), 2)
    record = feed(
        TorrentUpdated(
            torrent_id=TID,
            name="Renamed",
            download_dir="/srv/moved",
            sequential=True,
            paused=True,
            tags=("keep",),
            trackers=(),
            max_download_bps=None,
            max_upload_bps=1000,
        ),
        3,
    )
    assert record is not None
    assert (record.save_path, record.name, record.tags) == ("/srv/moved", "Renamed", ("keep",))
    assert (record.sequential, record.bytes_done, record.files) == (True, 100, FILES)
    assert record.updated_at == at(3)


def test_retain_drops_the_records_of_torrents_that_are_gone(feed: Feed) -> None:
    add_with_files(feed)
    feed(TorrentAdded(torrent_id=OTHER, info_hash="bb" * 20, name="gone"), 1)
    assert feed.catalog.retain([TID]) == [OTHER]
    assert [r.torrent_id for r in feed.catalog.all()] == [TID]
    assert feed.catalog.statistics().pending_writes == 2  # TID's rows, OTHER's deletion


def test_all_is_ordered_by_added_time_then_id(feed: Feed) -> None:
    feed(TorrentAdded(torrent_id=TID, info_hash=HASH, name="b"), 5)
    feed(TorrentAdded(torrent_id=OTHER, info_hash="bb" * 20, name="a"), 5)
    third = "ffffffff-0000-4000-8000-000000000000"
    feed(TorrentAdded(torrent_id=third, info_hash="cc" * 20, name="c"), 1)
    assert [r.torrent_id for r in feed.catalog.all()] == [third, OTHER, TID]


def test_summary_and_detail_are_json_ready(feed: Feed) -> None:
    add_with_files(feed)
    feed(progress(500), 2)
    record = feed.catalog.get(TID)
    assert record is not None
    summary = record.to_summary()
    assert "files" not in summary
    assert summary["state"] == "queued" and type(summary["state"]) is str
    assert summary["progress"] == 0.5
    assert summary["added_at"] == at(0).isoformat()
    assert summary["completed_at"] is None
    assert summary["tags"] == []
    detail = record.to_detail()
    assert detail == summary | {
        "files": [
            {"index": 0, "path": "Show/ep1.mkv", "size": 600, "priority": 4},
            {"index": 1, "path": "Show/ep1.nfo", "size": 400, "priority": 1},
        ]
    }


# --- Persistence policy, with a database fake behind the Database seam and a mock clock ---


@dataclass
class Batch:
    at: float
    deletes: list[str]
    upserts: list[tuple[object, ...]]


@dataclass
class FakeConnection:
    """Records what one ``Database.run`` batch writes, as the asyncpg connection would get it."""

    batch: Batch

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def execute(self, sql: str, *args: Any) -> str:
        assert sql.startswith("DELETE FROM torrents")
        self.batch.deletes.extend(args[0])
        return "DELETE"

    async def executemany(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        assert sql.startswith("INSERT INTO torrents")
        self.batch.upserts.extend(rows)


@dataclass
class RecordingDatabase(Database):
    """A Database whose ``run`` batches are recorded instead of sent anywhere."""

    batches: list[Batch] = field(default_factory=list)
    failures: int = 0

    def __post_init__(self) -> None:
        super().__init__(pool=None, dsn="recording")

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        await trio.sleep(0.01)  # a write takes a moment
        if self.failures:
            self.failures -= 1
            raise DatabaseUnavailable("database unreachable: test")
        batch = Batch(at=trio.current_time(), deletes=[], upserts=[])
        self.batches.append(batch)
        return await fn(FakeConnection(batch))

    def written(self) -> list[tuple[float, list[str], list[int]]]:
        """Each batch as (time, deleted ids, bytes_done of each upserted row)."""
        return [
            (round(b.at, 2), b.deletes, [int(str(r[5])) for r in b.upserts]) for b in self.batches
        ]


@asynccontextmanager
async def running(
    catalog: TorrentCatalog, bus: EventBus, db: Database, **kwargs: Any
) -> AsyncIterator[Callable[[EventPayload], Event]]:
    """The catalog's writer running; yields a publish function that feeds it as the engine's
    publisher does (the catalog first, then ``bus``)."""
    publisher = Publisher(bus, [catalog])
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: catalog.run(db, task_status=task_status, **kwargs))
        yield publisher.publish
        nursery.cancel_scope.cancel()


async def test_progress_is_written_at_most_once_per_interval_and_state_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus, catalog, db = EventBus(), TorrentCatalog(), RecordingDatabase()
    async with running(catalog, bus, db, flush_interval=1.0) as publish:
        publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="t"))
        await catalog.wait_persisted(bus.last_id)
        assert db.written() == [(0.01, [], [0])]
        for tick in range(1, 26):  # 10 Hz from 0.15 s to 2.55 s, clear of the batch edges
            await trio.sleep_until(0.05 + tick * 0.1)
            publish(progress(tick * 10))
        await catalog.wait_persisted(bus.last_id)
        # Each batch is due one interval after the previous write ended (0.01 s to write),
        # and holds only the latest figures.
        assert db.written() == [
            (0.01, [], [0]),
            (1.02, [], [90]),
            (2.03, [], [190]),
            (3.04, [], [250]),
        ]

        await trio.sleep(0.2)
        before = trio.current_time()
        publish(StateChanged(torrent_id=TID, state=TorrentState.PAUSED, previous=None))
        await catalog.wait_persisted(bus.last_id)
        assert trio.current_time() - before < 0.05
    assert catalog.statistics().flushes == 5
    assert catalog.statistics().pending_writes == 0


async def test_a_burst_of_events_is_one_batch(autojump_clock: trio.testing.MockClock) -> None:
    bus, catalog, db = EventBus(), TorrentCatalog(), RecordingDatabase()
    async with running(catalog, bus, db) as publish:
        for n in range(100):
            publish(
                TorrentAdded(
                    torrent_id=f"00000000-0000-4000-8000-{n:012d}",
                    info_hash=f"{n:040x}",
                    name=str(n),
                )
            )
        await catalog.wait_persisted(bus.last_id)
    assert len(db.batches) == 1
    assert len(db.batches[0].upserts) == 100


async def test_pending_progress_is_written_on_cancellation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus, catalog, db = EventBus(), TorrentCatalog(), RecordingDatabase()
    async with running(catalog, bus, db, flush_interval=3600) as publish:
        publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="t"))
        await catalog.wait_persisted(bus.last_id)
        publish(progress(700))
        await trio.sleep(10)
        assert len(db.batches) == 1
    assert db.written()[-1][2] == [700]
    assert catalog.statistics().persisted_id == bus.last_id


async def test_writes_are_retried_while_the_database_is_away(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus, catalog, db = EventBus(), TorrentCatalog(), RecordingDatabase(failures=2)
    async with running(catalog, bus, db, flush_interval=1.0) as publish:
        publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="t"))
        publish(TorrentAdded(torrent_id=OTHER, info_hash="bb" * 20, name="u"))
        publish(TorrentRemoved(torrent_id=OTHER, deleted_data=False))
        await catalog.wait_persisted(bus.last_id)
    assert len(db.batches) == 1
    assert db.batches[0].deletes == [OTHER]
    assert [r[0] for r in db.batches[0].upserts] == [TID]
    assert db.batches[0].at > 2.0  # after two failed attempts and their waits


# --- Persistence on real PostgreSQL ---


class CountingDatabase(Database):
    """A real Database that counts its ``run`` batches."""

    def __init__(self, pool: Any, dsn: str) -> None:
        super().__init__(pool, dsn)
        self.runs = 0

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        self.runs += 1
        return await super().run(fn)


@pytest.mark.integration
async def test_records_survive_a_restart(db: Database) -> None:
    bus = EventBus()
    catalog = TorrentCatalog()
    async with running(catalog, bus, db, flush_interval=0.05) as publish:
        publish(
            TorrentAdded(
                torrent_id=TID,
                info_hash=HASH,
                name="magnet",
                download_dir="/srv/dl",
                tags=("tv",),
                trackers=("udp://t",),
            )
        )
        publish(
            FilesDiscovered(
                torrent_id=TID, name="Show", total_size=1000, piece_length=256, files=FILES
            )
        )
        publish(StateChanged(torrent_id=TID, state=TorrentState.DOWNLOADING, previous=None))
        publish(progress(1000, ratio=1.5, eta_seconds=None))
        publish(Completed(torrent_id=TID, save_path="/srv/dl", name="Show"))
        publish(StateChanged(torrent_id=TID, state=TorrentState.SEEDING, previous=None))
        publish(TorrentAdded(torrent_id=OTHER, info_hash="bb" * 20, name="other"))
        publish(TorrentFailed(torrent_id=OTHER, source="torrent", message="bad torrent"))
        await catalog.wait_persisted(bus.last_id)

    reloaded = await TorrentCatalog.load(db)
    assert reloaded.all() == catalog.all()
    record = reloaded.get(TID)
    assert record is not None
    assert record.state is TorrentState.SEEDING
    assert (record.progress, record.files, record.tags) == (1.0, FILES, ("tv",))
    assert record.completed_at is not None and record.completed_at.tzinfo is not None
    other = reloaded.get(OTHER)
    assert other is not None
    assert (other.state, other.last_error) == (TorrentState.ERROR, "bad torrent")

    # A restarted daemon restores the torrent: what was downloaded is still there.
    bus = EventBus(start_id=bus.last_id)
    async with running(reloaded, bus, db) as publish:
        publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="Show", restored=True))
        publish(TorrentRemoved(torrent_id=OTHER, deleted_data=True))
        await reloaded.wait_persisted(bus.last_id)
    rows = await db.fetch("SELECT torrent_id::text AS id, progress, state FROM torrents")
    assert [(r["id"], r["progress"], r["state"]) for r in rows] == [(TID, 1.0, "seeding")]


@pytest.mark.integration
async def test_many_progress_events_are_one_write(aio_loop: None, db_url: str) -> None:
    async with CountingDatabase.open(db_url, max_size=2) as opened:
        assert isinstance(opened, CountingDatabase)
        counting: CountingDatabase = opened
        bus, catalog = EventBus(), TorrentCatalog()
        async with running(catalog, bus, counting, flush_interval=0.2) as publish:
            publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="t"))
            await catalog.wait_persisted(bus.last_id)
            assert counting.runs == 1
            for n in range(1, 51):
                publish(progress(n * 10))
            await catalog.wait_persisted(bus.last_id)
            assert counting.runs == 2
            row = await counting.fetchrow("SELECT bytes_done, progress FROM torrents")
            assert row is not None
            assert (row["bytes_done"], row["progress"]) == (500, 0.5)

            publish(TorrentRemoved(torrent_id=TID, deleted_data=False))
            await catalog.wait_persisted(bus.last_id)
            assert counting.runs == 3
            assert await counting.fetchval("SELECT count(*) FROM torrents") == 0


@pytest.mark.integration
async def test_text_postgres_cannot_hold_is_cleaned_and_a_refused_row_is_skipped(
    db: Database,
) -> None:
    bus, catalog = EventBus(), TorrentCatalog()
    third = "ffffffff-0000-4000-8000-000000000000"
    async with running(catalog, bus, db, flush_interval=0.05) as publish:
        publish(TorrentAdded(torrent_id=third, info_hash="cc" * 20, name="bad\x00name\udcff"))
        publish(TorrentFailed(torrent_id=third, source="tracker", message="tracker said \x00"))
        # Two torrents claiming one info hash: PostgreSQL refuses one row (unique index).
        publish(TorrentAdded(torrent_id=TID, info_hash=HASH, name="one"))
        publish(TorrentAdded(torrent_id=OTHER, info_hash=HASH, name="duplicate"))
        await catalog.wait_persisted(bus.last_id)
        assert catalog.statistics().rejected_rows == 1
        # The writer keeps going: later changes are written.
        publish(StateChanged(torrent_id=third, state=TorrentState.SEEDING, previous=None))
        await catalog.wait_persisted(bus.last_id)
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT torrent_id::text AS id, name, state, last_error FROM torrents"
        )
    }
    assert len(set(rows) & {TID, OTHER}) == 1 and third in rows
    assert rows[third]["name"] == "bad\ufffdname?"
    assert rows[third]["last_error"] == "tracker said \ufffd"
    assert rows[third]["state"] == "seeding"


def test_records_stay_in_added_order_and_pages_walk_them_once(feed: Feed) -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(30)]
    for n in reversed(range(30)):  # arriving out of order
        feed(TorrentAdded(torrent_id=ids[n], info_hash=f"{n:040x}", name=str(n)), n)
    assert [r.torrent_id for r in feed.catalog.all()] == ids
    seen: list[str] = []
    after = None
    while page := feed.catalog.page(after, 7):
        seen.extend(r.torrent_id for r in page)
        # Changes during the walk: one removed ahead, one added at the end, one behind.
        if len(seen) == 7:
            feed(TorrentRemoved(torrent_id=ids[20], deleted_data=False))
            feed(TorrentAdded(torrent_id=OTHER, info_hash="bb" * 20, name="late"), 99)
            feed(TorrentRemoved(torrent_id=ids[0], deleted_data=False))
        last = page[-1]
        after = (last.added_at, last.torrent_id)
    survivors = [i for i in ids if i not in (ids[0], ids[20])]
    assert [i for i in seen if i in survivors] == survivors  # each exactly once, in order
    assert len(seen) == len(set(seen))
    assert [r.torrent_id for r in feed.catalog.all()][-1] == OTHER


@pytest.mark.integration
async def test_a_filtered_keyset_page_uses_an_index_at_10k_rows(db: Database) -> None:
    await db.execute(
        "INSERT INTO torrents (torrent_id, info_hash, name, state, added_at) "
        "SELECT gen_random_uuid(), md5(n::text) || substr(md5((n + 1)::text), 1, 8), "
        "'t' || n, (ARRAY['paused', 'seeding', 'downloading'])[n % 3 + 1], "
        "now() - n * interval '1 second' FROM generate_series(1, 10000) AS n"
    )
    await db.execute("ANALYZE torrents")
    queries = [
        "SELECT * FROM torrents WHERE state = 'paused' AND (added_at, torrent_id) > "
        "(now() - interval '1 hour', '00000000-0000-0000-0000-000000000000') "
        "ORDER BY added_at, torrent_id LIMIT 50",
        "SELECT * FROM torrents WHERE (added_at, torrent_id) > "
        "(now() - interval '1 hour', '00000000-0000-0000-0000-000000000000') "
        "ORDER BY added_at, torrent_id LIMIT 50",
        "SELECT * FROM torrents WHERE (lower(name), torrent_id) > "
        "('t5', '00000000-0000-0000-0000-000000000000') ORDER BY lower(name), torrent_id LIMIT 50",
        "SELECT * FROM torrents WHERE tags @> '[\"tv\"]' LIMIT 50",
    ]
    for query in queries:
        plan = "\n".join(r["QUERY PLAN"] for r in await db.fetch("EXPLAIN " + query))
        assert "Seq Scan" not in plan and "Sort" not in plan.split("->")[0], plan
