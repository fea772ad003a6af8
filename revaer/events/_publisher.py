"""Publisher: the one way events reach read models and the bus.

A read model (the torrent catalog) must never depend on a subscription that can be dropped: a
lagging subscriber loses events, and a lost ``torrent_removed`` would leave a ghost forever.
So the publisher applies each event to every projection synchronously, in the publishing
task, and only then fans it out to the bus's subscribers (SSE clients, tests), which may lag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from revaer.events._bus import Event, EventBus
from revaer.events._payloads import EventPayload

__all__ = ["Projection", "Publisher"]


class Projection(Protocol):
    """A read model kept from events; ``apply`` must not block or await."""

    def apply(self, event: Event) -> object:
        """Update the model from one event."""
        ...


class Publisher:
    """Stamps a payload (via the bus), applies it to each projection, then fans it out."""

    def __init__(self, bus: EventBus, projections: Iterable[Projection] = ()) -> None:
        self._bus = bus
        self._projections = tuple(projections)

    @property
    def bus(self) -> EventBus:
        """The bus events are fanned out on."""
        return self._bus

    def publish(self, payload: EventPayload) -> Event:
        """Publish ``payload``; projections see it before any subscriber does."""
        event = self._bus.stamp(payload)
        for projection in self._projections:
            projection.apply(event)
        self._bus.deliver(event)
        return event
