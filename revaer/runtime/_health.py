"""Health of the running components, as one registry every actor reports into."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from revaer.runtime._watch import Watched

__all__ = ["ComponentHealth", "HealthRegistry", "HealthSnapshot", "HealthState"]


class HealthState(StrEnum):
    """How a component is doing; anything but ``OK`` makes the daemon "degraded"."""

    OK = "ok"
    STARTING = "starting"
    DEGRADED = "degraded"
    FAILED = "failed"


def _frozen(details: Mapping[str, object]) -> Mapping[str, object]:
    # A copy behind a read-only proxy: the caller's dict may change later, the record must not.
    return MappingProxyType(dict(details))


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentHealth:
    """The health of one component at one moment."""

    name: str
    state: HealthState
    since: float
    """Wall-clock time (``time.time()``) of the last state change."""
    reason: str | None = None
    restarts: int = 0
    last_error: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen(self.details))

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (details are copied, not shared)."""
        return {
            "name": self.name,
            "state": self.state.value,
            "reason": self.reason,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "since": self.since,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthSnapshot:
    """Every component's health at one moment."""

    components: tuple[ComponentHealth, ...] = ()
    """Sorted by name."""
    degraded: tuple[str, ...] = ()
    """Sorted names of the components whose state is not ``OK``."""

    @property
    def ok(self) -> bool:
        """Whether every component is ``OK``."""
        return not self.degraded

    def to_json(self) -> dict[str, object]:
        """``{"status": "ok" | "degraded", "degraded": [...], "components": [...]}``."""
        return {
            "status": "ok" if self.ok else "degraded",
            "degraded": list(self.degraded),
            "components": [c.to_json() for c in self.components],
        }


class HealthRegistry:
    """Where components report their health; every method is sync and never blocks.

    ``changes`` is updated only when the *set of degraded names* changes (not on every
    reason or detail update), so it can drive ``health_changed`` events without flooding them.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._components: dict[str, ComponentHealth] = {}
        self._changes: Watched[HealthSnapshot] = Watched(HealthSnapshot())

    @property
    def changes(self) -> Watched[HealthSnapshot]:
        """The latest snapshot, replaced whenever the degraded set changes."""
        return self._changes

    def set(
        self,
        name: str,
        state: HealthState,
        *,
        reason: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        """Record ``name``'s state; ``details=None`` keeps the previous details."""
        previous = self._components.get(name)
        if previous is None:
            current = ComponentHealth(
                name=name, state=state, since=self._clock(), reason=reason, details=details or {}
            )
        else:
            current = replace(
                previous,
                state=state,
                reason=reason,
                since=previous.since if previous.state is state else self._clock(),
                details=previous.details if details is None else details,
            )
        self._components[name] = current
        self._publish()

    def ok(self, name: str, **details: object) -> None:
        """Mark ``name`` healthy; with no details given the previous ones are kept."""
        self.set(name, HealthState.OK, details=details or None)

    def degraded(self, name: str, reason: str, **details: object) -> None:
        """Mark ``name`` degraded because of ``reason``."""
        self.set(name, HealthState.DEGRADED, reason=reason, details=details or None)

    def failed(self, name: str, reason: str) -> None:
        """Mark ``name`` failed: it is down and will not come back by itself."""
        self.set(name, HealthState.FAILED, reason=reason)

    def record_restart(self, name: str, error: str) -> None:
        """Count a restart of ``name`` caused by ``error``; the state is left alone.

        An unknown component is registered as ``DEGRADED`` with the error as its reason.
        """
        previous = self._components.get(name)
        if previous is None:
            self.set(name, HealthState.DEGRADED, reason=error)
            previous = self._components[name]
        self._components[name] = replace(previous, restarts=previous.restarts + 1, last_error=error)

    def remove(self, name: str) -> None:
        """Forget ``name`` (e.g. a one-shot component that finished); unknown names are fine."""
        if self._components.pop(name, None) is not None:
            self._publish()

    def get(self, name: str) -> ComponentHealth | None:
        """The current health of ``name``, if it is registered."""
        return self._components.get(name)

    def snapshot(self) -> HealthSnapshot:
        """Every component's current health, sorted by name."""
        components = tuple(self._components[name] for name in sorted(self._components))
        degraded = tuple(c.name for c in components if c.state is not HealthState.OK)
        return HealthSnapshot(components=components, degraded=degraded)

    def _publish(self) -> None:
        snapshot = self.snapshot()
        if snapshot.degraded != self._changes.value.degraded:
            self._changes.set(snapshot)
