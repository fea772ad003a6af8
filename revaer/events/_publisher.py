"""Publisher: the one way events reach read models, the journal and the bus.

A read model (the torrent catalog) must never depend on a subscription that can be dropped: a
lagging subscriber loses events, and a lost ``torrent_removed`` would leave a ghost forever.
So the publisher applies each event to every projection synchronously, in the publishing
task; then it stamps the torrent's resulting state on the event, hands it to every recorder
(the journal), and only then fans it out to the bus's subscribers (SSE clients, tests), which
may lag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from revaer.events._bus import Event, EventBus
from revaer.events._payloads import EventPayload

__all__ = ["Projection", "Publisher", "Recorder"]


class Projection(Protocol):
    """A read model kept from events; ``apply`` must not block or await."""

    def apply(self, event: Event) -> object:
        """Update the model from one event."""
        ...


class Recorder(Protocol):
    """Keeps events as published (state included); ``record`` must not block or await."""

    def record(self, event: Event) -> object:
        """Keep one event."""
        ...


class Publisher:
    """Stamps a payload (via the bus), applies it to each projection, records it, fans it out.

    ``state_of`` gives a torrent's state after the projections applied the event (the
    catalog's ``state_of``); events of a torrent then carry it.
    """

    def __init__(
        self,
        bus: EventBus,
        projections: Iterable[Projection] = (),
        *,
        recorders: Iterable[Recorder] = (),
        state_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self._bus = bus
        self._projections = tuple(projections)
        self._recorders = tuple(recorders)
        self._state_of = state_of

    @property
    def bus(self) -> EventBus:
        """The bus events are fanned out on."""
        return self._bus

    def publish(self, payload: EventPayload, *, request_id: str | None = None) -> Event:
        """Publish ``payload``; projections and recorders see it before any subscriber does.

        The event carries ``request_id``, else the request id bound in the caller's context.
        """
        event = self._bus.stamp(payload, request_id=request_id)
        for projection in self._projections:
            projection.apply(event)
        if self._state_of is not None and event.torrent_id is not None:
            state = self._state_of(event.torrent_id)
            if state is not None:
                event = replace(event, state=state)
        for recorder in self._recorders:
            recorder.record(event)
        self._bus.deliver(event)
        return event
