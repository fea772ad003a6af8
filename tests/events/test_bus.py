"""EventBus: ids, fan-out, bounded queues, dropping a subscriber that falls behind."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC

import pytest
import trio
import trio.testing

from revaer.events import (
    Event,
    EventBus,
    FileInfo,
    FilesDiscovered,
    HealthChanged,
    Progress,
    Publisher,
    SettingsChanged,
    StateChanged,
    SubscriberLagged,
    TorrentAdded,
    TorrentState,
)
from revaer.runtime import bound_request_id

TID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"


def added(n: int = 0) -> TorrentAdded:
    return TorrentAdded(torrent_id=TID, info_hash=f"{n:040x}", name=f"t{n}")


def test_ids_continue_from_start_id() -> None:
    bus = EventBus(start_id=41)
    assert bus.last_id == 41
    events = [bus.publish(added(n)) for n in range(3)]
    assert [e.id for e in events] == [42, 43, 44]
    assert bus.last_id == 44
    assert all(e.at.tzinfo is UTC for e in events)
    assert events[0].at <= events[1].at <= events[2].at
    stats = bus.statistics()
    assert (stats.published, stats.last_id, stats.subscribers) == (3, 44, 0)


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    subs = [bus.subscribe() for _ in range(3)]
    published = [bus.publish(added(n)) for n in range(5)]
    for sub in subs:
        assert [await sub.receive() for _ in range(5)] == published
        with pytest.raises(trio.WouldBlock):
            sub.receive_nowait()


async def test_a_subscriber_sees_only_events_published_after_it_subscribed() -> None:
    bus = EventBus()
    bus.publish(added(0))
    sub = bus.subscribe()
    later = bus.publish(added(1))
    assert sub.receive_nowait() == later


async def test_receive_waits_for_the_next_event(autojump_clock: trio.testing.MockClock) -> None:
    bus = EventBus()
    sub = bus.subscribe()
    got: list[tuple[float, Event]] = []

    async def receiver() -> None:
        event = await sub.receive()
        got.append((trio.current_time(), event))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await trio.sleep(3)
        assert got == []
        event = bus.publish(added())
    assert got == [(3.0, event)]


async def test_a_cancelled_receive_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    bus = EventBus()
    sub = bus.subscribe()
    with trio.move_on_after(1) as scope:
        await sub.receive()
    assert scope.cancelled_caught
    event = bus.publish(added())
    assert await sub.receive() == event


async def test_a_slow_subscriber_is_dropped_and_told_while_a_fast_one_gets_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = EventBus()
    slow = bus.subscribe(queue_size=2)
    fast = bus.subscribe(queue_size=2)
    first = bus.publish(added(0))
    assert slow.receive_nowait() == first
    received: list[int] = []

    async def fast_reader() -> None:
        async for event in fast:
            received.append(event.id)
            if len(received) == 6:
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fast_reader)
        assert fast.receive_nowait() == first
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        for n in range(1, 6):
            bus.publish(added(n))
            # publish is synchronous; let the fast reader keep pace as a real one would.
            await trio.testing.wait_all_tasks_blocked()
        bus.publish(added(6))
        assert trio.current_time() == start

    assert received == [2, 3, 4, 5, 6, 7]
    assert slow.lagged and not fast.lagged
    assert slow.queue_depth == 0
    with pytest.raises(SubscriberLagged) as info:
        await slow.receive()
    assert info.value.last_delivered_id == first.id
    assert info.value.status == 503
    with pytest.raises(SubscriberLagged):
        slow.receive_nowait()
    stats = bus.statistics()
    assert (stats.subscribers, stats.dropped_subscribers, stats.published) == (1, 1, 7)


async def test_publish_never_waits_even_when_no_one_reads() -> None:
    bus = EventBus(queue_size=4)
    sub = bus.subscribe()
    for n in range(1000):
        bus.publish(added(n))
    assert bus.last_id == 1000
    with pytest.raises(SubscriberLagged) as info:
        sub.receive_nowait()
    assert info.value.last_delivered_id == 0


async def test_a_waiting_receiver_learns_it_was_dropped() -> None:
    bus = EventBus()
    sub = bus.subscribe(queue_size=1)
    outcome: list[BaseException] = []

    async def waiter() -> None:
        try:
            await sub.receive()
            await sub.receive()
        except SubscriberLagged as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        bus.publish(added(0))
        bus.publish(added(1))
        bus.publish(added(2))  # overflows before the waiter ran again
    assert len(outcome) == 1


async def test_leaving_the_context_manager_unsubscribes() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        assert bus.statistics().subscribers == 1
        bus.publish(added())
    assert bus.statistics().subscribers == 0
    with pytest.raises(trio.ClosedResourceError):
        await sub.receive()
    bus.publish(added(1))  # reaches no one and does not fail
    sub.close()  # idempotent


async def test_closing_the_bus_ends_subscriptions_after_their_queued_events() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    published = [bus.publish(added(n)) for n in range(2)]
    bus.close()
    assert [event async for event in sub] == published
    late = bus.subscribe()
    with pytest.raises(trio.EndOfChannel):
        late.receive_nowait()
    assert bus.statistics().subscribers == 0


def test_queue_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        EventBus(queue_size=0)
    with pytest.raises(ValueError, match="queue_size"):
        EventBus().subscribe(queue_size=0)


def test_to_json_is_the_envelope_with_plain_values() -> None:
    bus = EventBus(start_id=9)
    files = (
        FileInfo(index=0, path="a/b.mkv", size=10, priority=4),
        FileInfo(index=1, path="a/c.nfo", size=1, priority=0),
    )
    discovered = bus.publish(
        FilesDiscovered(torrent_id=TID, name="a", total_size=11, piece_length=16384, files=files)
    )
    assert discovered.kind == "files_discovered"
    body = discovered.to_json()
    assert body == {
        "id": 10,
        "kind": "files_discovered",
        "at": discovered.at.isoformat().replace("+00:00", "Z"),
        "torrent_id": TID,
        "data": {
            "torrent_id": TID,
            "name": "a",
            "total_size": 11,
            "piece_length": 16384,
            "files": [
                {"index": 0, "path": "a/b.mkv", "size": 10, "priority": 4},
                {"index": 1, "path": "a/c.nfo", "size": 1, "priority": 0},
            ],
        },
    }
    assert body["at"].endswith("Z")  # RFC 3339
    assert json.loads(discovered.wire()) == body
    assert discovered.wire() is discovered.wire()  # encoded once
    assert b"\n" not in discovered.wire()  # one SSE data line

    state = bus.publish(
        StateChanged(torrent_id=TID, state=TorrentState.SEEDING, previous=None)
    ).to_json()
    assert state["data"] == {"torrent_id": TID, "state": "seeding", "previous": None}
    assert type(state["data"]["state"]) is str
    health = bus.publish(HealthChanged(degraded=("database", "engine"))).to_json()
    assert health["kind"] == "health_changed"
    assert "torrent_id" not in health and "state" not in health
    assert health["data"] == {"degraded": ["database", "engine"]}
    assert json.loads(json.dumps(health)) == health


@dataclass
class FakeGauge:
    value: float = 0.0

    def set(self, value: float) -> None:
        self.value = value


@dataclass
class FakeCounter:
    counts: Counter[str] = field(default_factory=Counter)

    def labels(self, **labels: str) -> FakeCounterChild:
        return FakeCounterChild(self, labels["kind"])


@dataclass
class FakeCounterChild:
    parent: FakeCounter
    kind: str

    def inc(self, amount: float = 1) -> None:
        self.parent.counts[self.kind] += int(amount)


@dataclass
class FakeMetrics:
    events_emitted_total: FakeCounter = field(default_factory=FakeCounter)
    sse_subscribers: FakeGauge = field(default_factory=FakeGauge)
    event_queue_depth: FakeGauge = field(default_factory=FakeGauge)


async def test_metrics_count_events_by_kind_and_track_subscribers_and_depth() -> None:
    metrics = FakeMetrics()
    bus = EventBus(metrics=metrics)
    first = bus.subscribe(queue_size=3)
    second = bus.subscribe()
    assert metrics.sse_subscribers.value == 2
    bus.publish(added())
    bus.publish(SettingsChanged(revision=2))
    bus.publish(SettingsChanged(revision=3))
    assert metrics.event_queue_depth.value == 3
    assert second.receive_nowait().id == 1
    bus.publish(
        Progress(
            torrent_id=TID,
            bytes_done=1,
            bytes_total=2,
            download_bps=0,
            upload_bps=0,
            eta_seconds=None,
            peers=0,
            seeds=0,
            ratio=0.0,
        )
    )  # overflows ``first``
    assert first.lagged
    assert metrics.sse_subscribers.value == 1
    assert metrics.event_queue_depth.value == 3
    assert metrics.events_emitted_total.counts == Counter(
        {"torrent_added": 1, "settings_changed": 2, "progress": 1}
    )
    second.close()
    assert metrics.sse_subscribers.value == 0


async def test_events_published_while_a_request_is_bound_carry_its_id() -> None:
    bus = EventBus()
    seen: list[Event] = []
    states = {TID: "paused"}
    publisher = Publisher(bus, [_Seen(seen)], recorders=[_Seen(seen)], state_of=states.get)
    with bus.subscribe() as sub:
        with bound_request_id("trace-abc123"):
            traced = publisher.publish(
                StateChanged(torrent_id=TID, state=TorrentState.PAUSED, previous=None)
            )
            explicit = bus.publish(SettingsChanged(revision=1), request_id="cause-1")
        plain = publisher.publish(SettingsChanged(revision=2))
        delivered = [sub.receive_nowait() for _ in range(3)]

    assert [e.request_id for e in delivered] == ["trace-abc123", "cause-1", None]
    # Projections and recorders (the journal) see it too, with the state stamped alongside.
    assert [(e.request_id, e.state) for e in seen] == [
        ("trace-abc123", None),
        ("trace-abc123", "paused"),
        (None, None),
        (None, None),
    ]
    body = traced.to_json()
    assert body["request_id"] == "trace-abc123" and body["state"] == "paused"
    assert list(body) == ["id", "kind", "at", "torrent_id", "state", "request_id", "data"]
    assert explicit.to_json()["request_id"] == "cause-1"
    assert "request_id" not in plain.to_json()  # omitted, never null
    assert b"request_id" not in plain.wire()


@dataclass
class _Seen:
    events: list[Event]

    def apply(self, event: Event) -> None:
        self.events.append(event)

    def record(self, event: Event) -> None:
        self.events.append(event)
