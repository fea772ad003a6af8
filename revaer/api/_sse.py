"""Server-Sent Events: the event stream with replay, keep-alive and a bounded queue per client.

A stream subscribes to the bus *first*, then replays from the journal everything after the
client's ``Last-Event-ID`` up to the id the subscription starts at, then goes live: no gap, no
duplicate, and the replay goes to this client alone. A client that stops reading fills its
own queue and is dropped with a final ``lagged`` frame; the bus never waits for it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.db import Database, DatabaseUnavailable
from revaer.events import (
    Event,
    EventBus,
    EventFilter,
    EventJournal,
    Frame,
    SubscriberLagged,
    Subscription,
)
from revaer.runtime import Watched

__all__ = [
    "StreamHub",
    "StreamSettings",
    "close_revoked_streams",
    "event_stream",
    "format_frame",
]

_log = logger.bind(actor="sse")
_ENCODER = msgspec.json.Encoder()
# Events sent in one write when many are queued (a burst at 10,000 torrents).
_BATCH = 512


def format_frame(frame_id: int, kind: str, data: bytes) -> bytes:
    """One SSE frame: ``id:``, ``event:`` and a single ``data:`` line (compact JSON)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (frame_id, kind.encode(), data)


def _frame_of(event: Event) -> bytes:
    return format_frame(event.id, event.kind, event.wire())


def _frames(frames: Iterable[Frame]) -> bytes:
    return b"".join(format_frame(f.id, f.kind, f.json) for f in frames)


def _notice(kind: str, frame_id: int, **data: object) -> bytes:
    return format_frame(frame_id, kind, _ENCODER.encode(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """Per-stream knobs: keep-alive interval, queue bound, reconnect hint."""

    keepalive_seconds: float = 20.0
    queue_size: int = 65_536
    """Events one client may fall behind before it is dropped (one burst at 10k torrents)."""
    retry_ms: int = 3000


@dataclass(slots=True)
class StreamHub:
    """The open streams, so they can all be closed first when the server stops or re-binds,
    and each closed as soon as the key it was opened with is revoked, disabled or rotated out.

    Held weakly: a response that never started (its client left before the headers went out)
    leaves nothing behind once the bus has dropped its subscription.
    """

    _open: weakref.WeakKeyDictionary[Subscription, Callable[[], bool]] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    @property
    def open_streams(self) -> int:
        """Streams being served now."""
        return sum(1 for s in self._open if not s.closed)

    def close_all(self) -> None:
        """End every stream now (each finishes its current write and returns)."""
        for subscription in list(self._open):
            subscription.close()
        self._open.clear()

    def close_unauthorised(self) -> int:
        """End the streams whose credentials no longer hold; how many were ended."""
        ended = [s for s, allowed in list(self._open.items()) if not allowed()]
        for subscription in ended:
            subscription.close()
            self._open.pop(subscription, None)
        return len(ended)

    def _add(self, subscription: Subscription, allowed: Callable[[], bool]) -> None:
        self._open[subscription] = allowed

    def _discard(self, subscription: Subscription) -> None:
        self._open.pop(subscription, None)


async def close_revoked_streams(
    snapshots: Watched[ConfigSnapshot],
    hub: StreamHub,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """End the streams of keys that are no longer valid: at each new configuration, and when
    a key expires or a rotation's grace ends by the clock alone."""
    task_status.started()
    version = snapshots.version
    hub.close_unauthorised()  # what lapsed while this actor was not running
    while True:
        wait = _until_next_lapse(snapshots.value, now())
        with trio.move_on_after(math.inf if wait is None else wait):
            version, _ = await snapshots.wait_newer(version)
        ended = hub.close_unauthorised()
        if ended:
            _log.info("closed {} event stream(s) whose API key is no longer valid", ended)


def _until_next_lapse(snapshot: ConfigSnapshot, at: datetime) -> float | None:
    """Seconds until the next key expiry or grace end after ``at`` (a little past it)."""
    times = [
        moment
        for key in snapshot.api_keys
        for moment in (key.expires_at, key.previous_valid_until)
        if moment is not None and moment > at
    ]
    return (min(times) - at).total_seconds() + 0.05 if times else None


def event_stream(
    *,
    bus: EventBus,
    journal: EventJournal,
    db: Database,
    hub: StreamHub,
    wanted: EventFilter,
    after: int | None,
    settings: StreamSettings,
    allowed: Callable[[], bool] = lambda: True,
) -> AsyncIterator[bytes]:
    """The bytes of one SSE response: hint, replay (or resync), then live events.

    The subscription is taken here, before the response headers go out: a client that has
    its headers receives every event published after that. ``allowed`` says whether the
    credentials the stream was opened with still hold (see ``close_revoked_streams``).
    """
    subscription = bus.subscribe(queue_size=settings.queue_size)
    hub._add(subscription, allowed)
    body = _stream(subscription, bus.last_id, journal, db, hub, wanted, after, settings)
    return _StreamBody(body, subscription, hub)


class _StreamBody:
    """The response body; ``aclose`` ends the subscription even if iteration never began
    (an async generator that never started skips its ``finally``)."""

    def __init__(
        self, body: AsyncGenerator[bytes, None], subscription: Subscription, hub: StreamHub
    ) -> None:
        self._body = body
        self._subscription = subscription
        self._hub = hub

    def __aiter__(self) -> _StreamBody:
        return self

    async def __anext__(self) -> bytes:
        return await self._body.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and unsubscribe."""
        try:
            await self._body.aclose()
        finally:
            self._subscription.close()
            self._hub._discard(self._subscription)


async def _stream(
    subscription: Subscription,
    upto: int,
    journal: EventJournal,
    db: Database,
    hub: StreamHub,
    wanted: EventFilter,
    after: int | None,
    settings: StreamSettings,
) -> AsyncGenerator[bytes, None]:
    try:
        yield b"retry: %d\n\n" % settings.retry_ms
        if after is not None:
            async for chunk in _catch_up(journal, db, after, upto, wanted):
                yield chunk
        async for chunk in _live(subscription, wanted, settings.keepalive_seconds):
            yield chunk
    finally:
        subscription.close()
        hub._discard(subscription)


async def _catch_up(
    journal: EventJournal, db: Database, after: int, upto: int, wanted: EventFilter
) -> AsyncIterator[bytes]:
    reason = journal.resync_reason(after)
    if reason is not None:
        yield _notice("resync", upto, reason=reason, last_id=upto)
        return
    try:
        async for frames in journal.replay(db, after, upto, wanted):
            yield _frames(frames)
    except DatabaseUnavailable as exc:
        # What was missed cannot be read now: say so, and let the client re-list.
        _log.warning("replay after {} failed: {}", after, exc.detail)
        yield _notice("resync", upto, reason=f"the journal is unavailable: {exc}", last_id=upto)


async def _live(
    subscription: Subscription, wanted: EventFilter, keepalive: float
) -> AsyncIterator[bytes]:
    while True:
        batch: list[Event] = []
        end: BaseException | None = None
        try:
            with trio.move_on_after(keepalive):
                batch.append(await subscription.receive())
            while batch and len(batch) < _BATCH:
                batch.append(subscription.receive_nowait())
        except trio.WouldBlock:
            pass
        except (SubscriberLagged, trio.EndOfChannel, trio.ClosedResourceError) as exc:
            end = exc  # what was taken before still goes out
        if not batch and end is None:
            yield b": keep-alive\n\n"
            continue
        chunk = b"".join(_frame_of(e) for e in batch if wanted.matches(e))
        if chunk:
            yield chunk
        if isinstance(end, SubscriberLagged):
            yield _notice(
                "lagged", end.last_delivered_id, reason=str(end), last_id=end.last_delivered_id
            )
        if end is not None:
            return  # dropped, or the server is stopping
