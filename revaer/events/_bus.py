"""The in-process event bus: ids, timestamps and bounded fan-out to subscribers.

``EventBus.publish`` is synchronous and never waits: each subscriber has its own bounded queue,
and a subscriber whose queue is full is dropped (its next ``receive`` raises
:class:`SubscriberLagged`) rather than slowing the publisher or anyone else.

An event carries the id of the API request that caused it: the one given, else the one bound
in the publishing context (``revaer.runtime.current_request_id``), else none.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType
from typing import Any, Protocol

import msgspec
import trio
from loguru import logger

from revaer.errors import RevaerError
from revaer.events._payloads import EventPayload
from revaer.runtime import current_request_id

__all__ = [
    "BusMetrics",
    "BusStatistics",
    "Event",
    "EventBus",
    "SubscriberLagged",
    "Subscription",
    "encode_event",
]

_log = logger.bind(actor="event_bus")


class SubscriberLagged(RevaerError):
    """The subscriber fell behind and was dropped; subscribe again and re-read state."""

    status = 503
    title = "Subscriber lagged"
    slug = "subscriber-lagged"

    def __init__(self, detail: str, *, last_delivered_id: int) -> None:
        super().__init__(detail)
        self.last_delivered_id = last_delivered_id


class _Incrementable(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _LabelledCounter(Protocol):
    def labels(self, **labels: str) -> _Incrementable: ...


class _Settable(Protocol):
    def set(self, value: float) -> None: ...


class BusMetrics(Protocol):
    """The metrics the bus reports into (prometheus-client shaped; ``revaer.telemetry.Metrics``).

    ``events_emitted_total`` is a counter labelled ``kind``;
    ``sse_subscribers`` and ``event_queue_depth`` are gauges.
    """

    @property
    def events_emitted_total(self) -> _LabelledCounter:
        """Events published, by kind."""
        ...

    @property
    def sse_subscribers(self) -> _Settable:
        """Current subscribers."""
        ...

    @property
    def event_queue_depth(self) -> _Settable:
        """Deepest subscriber queue, sampled at each publish."""
        ...


def _plain(value: Any) -> Any:
    # Payload dicts from ``asdict`` keep enums and tuples; JSON wants their values and lists.
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A payload as published: a bus-wide monotonic ``id`` and the UTC time ``at``.

    ``torrent_id`` is the payload's torrent (None for instance-wide events); ``state`` is that
    torrent's state right after the event was applied (set by the publisher), which is what
    SSE's ``state`` filter matches, live and on replay alike. ``request_id`` is the
    ``x-request-id`` of the API request that caused the event (None when none did: alerts,
    timers, configuration changes).
    """

    id: int
    at: datetime
    payload: EventPayload
    torrent_id: str | None = None
    state: str | None = None
    request_id: str | None = None
    _wire: list[bytes] = field(default_factory=list, init=False, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """The payload's kind (the SSE event name)."""
        return self.payload.kind

    def to_json(self) -> dict[str, Any]:
        """``{"id", "kind", "at" (RFC 3339), "torrent_id"?, "state"?, "request_id"?, "data"}``:
        the wire JSON (optional keys are left out, never null)."""
        doc: dict[str, Any] = msgspec.json.decode(self.wire())
        return doc

    def wire(self) -> bytes:
        """The event as compact JSON (RFC 3339 ``at``), encoded once however many read it."""
        if not self._wire:
            self._wire.append(encode_event(self))
        return self._wire[0]


def encode_event(event: Event) -> bytes:
    """The JSON of one event as SSE and the journal's replay send it."""
    doc: dict[str, Any] = {"id": event.id, "kind": event.kind, "at": event.at}
    if event.torrent_id is not None:
        doc["torrent_id"] = event.torrent_id
    if event.state is not None:
        doc["state"] = event.state
    if event.request_id is not None:
        doc["request_id"] = event.request_id
    doc["data"] = event.payload
    try:
        return _ENCODER.encode(doc)
    except (UnicodeEncodeError, TypeError, ValueError):
        # A lone surrogate from some library's message: degrade the text, never the stream.
        doc["data"] = _scrub(_plain(event.payload.to_json()))
        return _ENCODER.encode(doc)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True, kw_only=True)
class BusStatistics:
    """Counters of an :class:`EventBus`."""

    subscribers: int
    published: int
    dropped_subscribers: int
    last_id: int


class Subscription:
    """One subscriber's bounded queue of events. Create with ``EventBus.subscribe``.

    Use it as a context manager (or call ``close``) to unsubscribe. ``receive`` raises
    :class:`SubscriberLagged` once the bus dropped it, ``trio.EndOfChannel`` after the bus was
    closed and the queue drained, and ``trio.ClosedResourceError`` after ``close``.
    """

    def __init__(self, bus: EventBus, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self._bus = bus
        self._queue_size = queue_size
        self._queue: deque[Event] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._last_delivered_id = bus.last_id
        self._lagged = False
        self._ended = False
        self._closed = False

    @property
    def lagged(self) -> bool:
        """Whether the bus dropped this subscriber for falling behind."""
        return self._lagged

    @property
    def closed(self) -> bool:
        """Whether it was closed, or dropped by the bus for falling behind."""
        return self._closed or self._lagged

    @property
    def queue_depth(self) -> int:
        """Events waiting to be received."""
        return len(self._queue)

    def _offer(self, event: Event) -> bool:
        """Queue ``event``; on overflow mark this subscriber lagged and return False."""
        if len(self._queue) >= self._queue_size:
            self._queue.clear()
            self._lagged = True
            self._lot.unpark_all()
            return False
        self._queue.append(event)
        self._lot.unpark_all()
        return True

    def _end(self) -> None:
        self._ended = True
        self._lot.unpark_all()

    def receive_nowait(self) -> Event:
        """The next event, or ``trio.WouldBlock`` when none is queued."""
        if self._closed:
            raise trio.ClosedResourceError("subscription is closed")
        if self._queue:
            event = self._queue.popleft()
            self._last_delivered_id = event.id
            return event
        if self._lagged:
            raise SubscriberLagged(
                f"subscriber fell more than {self._queue_size} events behind and was dropped",
                last_delivered_id=self._last_delivered_id,
            )
        if self._ended:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Event:
        """Wait for the next event."""
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            event = self.receive_nowait()
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return event
        while True:
            await self._lot.park()
            try:
                return self.receive_nowait()
            except trio.WouldBlock:
                continue

    def close(self) -> None:
        """Unsubscribe; pending events are discarded. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._bus._discard(self)
        self._lot.unpark_all()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class EventBus:
    """Assigns event ids and fans events out to subscribers without ever blocking.

    Ids continue from ``start_id`` (``start_id + 1`` is the first). Use it from tasks of a
    single ``trio.run``.
    """

    def __init__(
        self, *, start_id: int = 0, queue_size: int = 1024, metrics: BusMetrics | None = None
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self._last_id = start_id
        self._queue_size = queue_size
        self._metrics = metrics
        # A dict keeps subscription order, so fan-out order is stable and removal is O(1).
        self._subscribers: dict[Subscription, None] = {}
        self._published = 0
        self._dropped = 0
        self._closed = False

    @property
    def last_id(self) -> int:
        """The id of the last published event (``start_id`` before the first)."""
        return self._last_id

    def publish(self, payload: EventPayload, *, request_id: str | None = None) -> Event:
        """Stamp ``payload`` with the next id and the current time and deliver it to everyone."""
        return self.deliver(self.stamp(payload, request_id=request_id))

    def stamp(self, payload: EventPayload, *, request_id: str | None = None) -> Event:
        """``payload`` as the next event (id, time), not yet delivered; see :meth:`deliver`.

        It carries ``request_id``, or else the request id bound where it is stamped.
        """
        self._last_id += 1
        self._published += 1
        return Event(
            id=self._last_id,
            at=datetime.now(UTC),
            payload=payload,
            torrent_id=getattr(payload, "torrent_id", None),
            request_id=request_id if request_id is not None else current_request_id(),
        )

    def deliver(self, event: Event) -> Event:
        """Fan a stamped event out to every subscriber (in stamping order, never waiting)."""
        dropped = [sub for sub in self._subscribers if not sub._offer(event)]
        for sub in dropped:
            del self._subscribers[sub]
            self._dropped += 1
            _log.warning("dropped a subscriber that fell behind at event {}", event.id)
        if self._metrics is not None:
            self._metrics.events_emitted_total.labels(kind=event.kind).inc()
            self._metrics.event_queue_depth.set(
                max((sub.queue_depth for sub in self._subscribers), default=0)
            )
            if dropped:
                self._metrics.sse_subscribers.set(len(self._subscribers))
        return event

    def subscribe(self, *, queue_size: int | None = None) -> Subscription:
        """A new subscription receiving every event published from now on."""
        sub = Subscription(self, self._queue_size if queue_size is None else queue_size)
        if self._closed:
            sub._end()
            return sub
        self._subscribers[sub] = None
        self._report_subscribers()
        return sub

    def close(self) -> None:
        """End every subscription (after its queued events) so streams can finish at shutdown.

        Later publishes still get ids but reach nobody; later subscriptions end at once.
        """
        self._closed = True
        for sub in self._subscribers:
            sub._end()
        self._subscribers.clear()
        self._report_subscribers()

    def statistics(self) -> BusStatistics:
        """Current counters."""
        return BusStatistics(
            subscribers=len(self._subscribers),
            published=self._published,
            dropped_subscribers=self._dropped,
            last_id=self._last_id,
        )

    def _discard(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            del self._subscribers[sub]
            self._report_subscribers()

    def _report_subscribers(self) -> None:
        if self._metrics is not None:
            self._metrics.sse_subscribers.set(len(self._subscribers))
