"""Small actors that turn shared state changes into events on the bus."""

from __future__ import annotations

from typing import Protocol, TypeVar

import trio

from revaer.events._payloads import HealthChanged, SettingsChanged
from revaer.events._publisher import Publisher
from revaer.runtime import HealthRegistry, Watched

__all__ = ["publish_health_changes", "publish_settings_changes"]


class _Revisioned(Protocol):
    @property
    def revision(self) -> int: ...


S = TypeVar("S", bound=_Revisioned)


async def publish_settings_changes(
    snapshots: Watched[S],
    publisher: Publisher,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``settings_changed`` for every new configuration revision."""
    version = snapshots.version
    task_status.started()
    while True:
        version, snapshot = await snapshots.wait_newer(version)
        publisher.publish(SettingsChanged(revision=int(snapshot.revision)))


async def publish_health_changes(
    health: HealthRegistry,
    publisher: Publisher,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``health_changed`` whenever the set of degraded components changes."""
    changes = health.changes
    version = changes.version
    task_status.started()
    while True:
        version, snapshot = await changes.wait_newer(version)
        publisher.publish(HealthChanged(degraded=tuple(snapshot.degraded)))
