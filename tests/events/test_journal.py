"""EventJournal against real PostgreSQL: ids across restarts, batching, exact replay, retention."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import trio

from revaer.db import Connection, Database
from revaer.events import (
    RESERVE,
    Event,
    EventBus,
    EventFilter,
    EventJournal,
    EventPayload,
    JournalPolicy,
    Progress,
    Publisher,
    SettingsChanged,
    StateChanged,
    TorrentFailed,
    TorrentState,
)
from revaer.runtime import bound_request_id

pytestmark = pytest.mark.integration

T = TypeVar("T")
A = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"
B = "0b8c1b2e-2a8c-4e7a-9a39-6f0f5b0e7e1a"


class CountingDatabase:
    """Counts ``run`` crossings (each journal flush is one) of a real database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.runs = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        self.runs += 1
        return await self._db.run(fn)


def publisher_for(journal: EventJournal) -> tuple[EventBus, Callable[[EventPayload], Event]]:
    bus = EventBus(start_id=journal.start_id)
    states: dict[str, str] = {}

    def state_of(torrent_id: str) -> str | None:
        return states.get(torrent_id)

    publisher = Publisher(bus, recorders=[journal], state_of=state_of)

    def publish(payload: EventPayload) -> Event:
        if isinstance(payload, StateChanged):
            states[payload.torrent_id] = payload.state.value
        return publisher.publish(payload)

    return bus, publish


def progress(torrent_id: str, done: int) -> Progress:
    return Progress(
        torrent_id=torrent_id, bytes_done=done, bytes_total=100, download_bps=1, upload_bps=0,
        eta_seconds=None, peers=1, seeds=1, ratio=0.0,
    )  # fmt: skip


def mixed(count: int) -> list[EventPayload]:
    """Events of two torrents and of the instance: states, progress, failures, settings."""
    out: list[EventPayload] = []
    states = [TorrentState.DOWNLOADING, TorrentState.PAUSED, TorrentState.SEEDING]
    for i in range(count):
        torrent = A if i % 2 else B
        match i % 5:
            case 0:
                out.append(StateChanged(torrent_id=torrent, state=states[i % 3], previous=None))
            case 1 | 2:
                out.append(progress(torrent, i))
            case 3:
                out.append(TorrentFailed(torrent_id=torrent, source="tracker", message=f"m{i}"))
            case _:
                out.append(SettingsChanged(revision=i))
    return out


async def replayed(
    journal: EventJournal, db: Database, after: int, wanted: EventFilter
) -> list[int]:
    ids: list[int] = []
    async for frames in journal.replay(db, after, journal.last_id, wanted, page=7):
        for frame in frames:
            doc = json.loads(frame.json)
            assert doc["id"] == frame.id and doc["kind"] == frame.kind
            ids.append(frame.id)
    return ids


async def test_ids_continue_above_every_earlier_run_even_after_a_crash(db: Database) -> None:
    first = await EventJournal.load(db)
    _, publish = publisher_for(first)
    ids = [publish(p).id for p in mixed(10)]
    await first.flush(db)
    ids += [publish(progress(A, n)).id for n in range(50)]  # never written: the run "crashes"
    second = await EventJournal.load(db)
    assert second.start_id >= max(ids)
    _, publish_again = publisher_for(second)
    assert publish_again(SettingsChanged(revision=1)).id > max(ids)
    third = await EventJournal.load(db)
    assert third.start_id >= second.start_id + RESERVE


async def test_the_reservation_is_extended_before_the_counter_reaches_it(db: Database) -> None:
    journal = await EventJournal.load(db)
    bus, publish = publisher_for(journal)
    bus._last_id += RESERVE // 2  # as if half the block went to progress events
    last = publish(progress(A, 1)).id
    await journal.flush(db)
    assert (await EventJournal.load(db)).start_id > last


async def test_a_burst_of_thousands_is_written_in_a_few_round_trips(db: Database) -> None:
    counting = CountingDatabase(db)
    journal = await EventJournal.load(db)
    _, publish = publisher_for(journal)
    async with trio.open_nursery() as nursery:
        await nursery.start(journal.run, counting)
        for n in range(5000):
            publish(TorrentFailed(torrent_id=A, source="tracker", message=f"down {n}"))
        with trio.fail_after(10):
            while journal.statistics().pending:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert counting.runs <= 3
    assert await db.fetchval("SELECT count(*) FROM event_journal") == 5000


async def test_replay_gives_exactly_the_missed_events_that_match(db: Database) -> None:
    journal = await EventJournal.load(db, tail_size=6)
    _, publish = publisher_for(journal)
    events = [publish(p) for p in mixed(60)]
    await journal.flush(db)
    events += [publish(p) for p in mixed(20)]  # pending, and partly beyond the tail
    filters = [
        EventFilter(),
        EventFilter(kinds=frozenset({"state_changed", "failure"})),
        EventFilter(torrents=frozenset({A})),
        EventFilter(states=frozenset({"paused"})),
        EventFilter(kinds=frozenset({"progress"}), torrents=frozenset({B})),
        EventFilter(kinds=frozenset({"settings_changed"}), torrents=frozenset({A})),
    ]
    for wanted in filters:
        for after in (events[0].id - 1, events[17].id, events[59].id, events[-3].id):
            expected = [e.id for e in events if e.id > after and wanted.matches(e)]
            assert await replayed(journal, db, after, wanted) == expected, (wanted, after)

    # After a restart the earlier run's events come from PostgreSQL alone (progress is gone).
    await journal.flush(db)
    restarted = await EventJournal.load(db)
    _, publish_again = publisher_for(restarted)
    later = [publish_again(p) for p in mixed(5)]
    wanted = EventFilter()
    expected = [e.id for e in events[10:] + later if e.kind != "progress" or e in later]
    assert await replayed(restarted, db, events[9].id, wanted) == expected


async def test_retention_prunes_and_an_older_id_must_resync(db: Database) -> None:
    journal = await EventJournal.load(db)
    _, publish = publisher_for(journal)
    events = [publish(SettingsChanged(revision=n)) for n in range(30)]
    await journal.flush(db)
    assert journal.resync_reason(events[0].id - 1) is None
    assert await journal.prune(db, JournalPolicy(days=None, rows=10)) == 20
    assert journal.statistics().pruned_through == events[19].id
    reason = journal.resync_reason(events[5].id)
    assert reason is not None and "pruned" in reason
    assert journal.resync_reason(events[19].id) is None
    assert journal.resync_reason(events[-1].id + 1) is not None  # never sent
    await db.execute("UPDATE event_journal SET at = now() - interval '3 days' WHERE id <= $1",
                     events[24].id)  # fmt: skip
    assert await journal.prune(db, JournalPolicy(days=2, rows=None)) == 5
    assert (await EventJournal.load(db)).resync_reason(events[23].id) is not None


async def test_hostile_text_in_a_payload_is_written_and_replayed(db: Database) -> None:
    journal = await EventJournal.load(db, tail_size=1)
    _, publish = publisher_for(journal)
    nasty = publish(TorrentFailed(torrent_id=A, source="tracker", message="a\x00b\ud800c"))
    publish(SettingsChanged(revision=1))
    await journal.flush(db)
    assert journal.statistics().pending == 0
    frames = [f async for page in journal.replay(db, nasty.id - 1, nasty.id, EventFilter())
              for f in page]  # fmt: skip
    assert [f.id for f in frames] == [nasty.id]
    assert json.loads(frames[0].json)["data"]["message"].startswith("a")


async def test_events_dropped_while_the_database_is_down_make_older_ids_resync(
    db: Database,
) -> None:
    journal = await EventJournal.load(db, max_pending=3)
    _, publish = publisher_for(journal)
    events = [publish(SettingsChanged(revision=n)) for n in range(5)]
    assert journal.statistics().dropped == 2
    reason = journal.resync_reason(events[0].id)
    assert reason is not None and "could not be written" in reason
    assert journal.resync_reason(events[1].id) is None


async def test_a_request_id_is_journaled_and_replayed_from_postgresql(db: Database) -> None:
    journal = await EventJournal.load(db, tail_size=1)
    _, publish = publisher_for(journal)
    with bound_request_id("trace-abc123"):
        traced = publish(StateChanged(torrent_id=A, state=TorrentState.PAUSED, previous=None))
    plain = publish(SettingsChanged(revision=1))
    await journal.flush(db)
    stored = await db.fetchval("SELECT request_id FROM event_journal WHERE id = $1", traced.id)
    assert stored == "trace-abc123"

    restarted = await EventJournal.load(db)  # nothing in memory: every frame is from a row
    frames = [f async for page in restarted.replay(db, traced.id - 1, plain.id, EventFilter())
              for f in page]  # fmt: skip
    docs = [json.loads(f.json) for f in frames]
    assert docs == [traced.to_json(), plain.to_json()]  # the same envelope as live
    assert docs[0]["request_id"] == "trace-abc123"
    assert list(docs[0]) == list(traced.to_json())
    assert "request_id" not in docs[1]
