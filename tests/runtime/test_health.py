"""HealthRegistry: component records, snapshots and the degraded-set change feed."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from revaer.runtime import ComponentHealth, HealthRegistry, HealthSnapshot, HealthState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_since_moves_only_when_the_state_changes() -> None:
    clock = FakeClock()
    health = HealthRegistry(clock=clock)
    health.degraded("db", "slow")
    clock.now = 1010.0
    health.degraded("db", "slower")
    record = health.get("db")
    assert record is not None
    assert (record.state, record.reason, record.since) == (HealthState.DEGRADED, "slower", 1000.0)
    clock.now = 1020.0
    health.ok("db")
    record = health.get("db")
    assert record is not None
    assert (record.state, record.reason, record.since) == (HealthState.OK, None, 1020.0)


def test_details_are_kept_unless_replaced_and_cannot_be_mutated() -> None:
    health = HealthRegistry()
    given: dict[str, object] = {"latency_ms": 3.2}
    health.set("db", HealthState.OK, details=given)
    given["latency_ms"] = 99.0
    health.degraded("db", "slow")
    record = health.get("db")
    assert record is not None
    assert dict(record.details) == {"latency_ms": 3.2}
    with pytest.raises(TypeError):
        record.details["latency_ms"] = 1.0  # type: ignore[index]
    health.ok("db", latency_ms=1.5)
    record = health.get("db")
    assert record is not None
    assert dict(record.details) == {"latency_ms": 1.5}


def test_record_restart_counts_without_changing_the_state() -> None:
    health = HealthRegistry()
    health.ok("engine")
    health.record_restart("engine", "ValueError: boom")
    health.record_restart("engine", "OSError: gone")
    record = health.get("engine")
    assert record is not None
    assert (record.state, record.restarts, record.last_error) == (
        HealthState.OK,
        2,
        "OSError: gone",
    )


def test_record_restart_of_an_unknown_component_registers_it_degraded() -> None:
    health = HealthRegistry()
    health.record_restart("engine", "ValueError: boom")
    record = health.get("engine")
    assert record is not None
    assert (record.state, record.reason, record.restarts) == (
        HealthState.DEGRADED,
        "ValueError: boom",
        1,
    )


def test_snapshot_is_sorted_and_lists_every_component_that_is_not_ok() -> None:
    health = HealthRegistry()
    health.ok("http")
    health.failed("fsops", "disk full")
    health.set("catalog", HealthState.STARTING)
    health.degraded("bus", "lagging")
    snapshot = health.snapshot()
    assert [c.name for c in snapshot.components] == ["bus", "catalog", "fsops", "http"]
    assert snapshot.degraded == ("bus", "catalog", "fsops")
    assert not snapshot.ok
    health.remove("http")
    health.remove("not-there")
    assert [c.name for c in health.snapshot().components] == ["bus", "catalog", "fsops"]


def test_to_json_shape() -> None:
    health = HealthRegistry(clock=FakeClock())
    health.ok("http", port=8080)
    health.degraded("db", "slow", latency_ms=250)
    health.record_restart("db", "OSError: reset")
    assert health.snapshot().to_json() == {
        "status": "degraded",
        "degraded": ["db"],
        "components": [
            {
                "name": "db",
                "state": "degraded",
                "reason": "slow",
                "restarts": 1,
                "last_error": "OSError: reset",
                "since": 1000.0,
                "details": {"latency_ms": 250},
            },
            {
                "name": "http",
                "state": "ok",
                "reason": None,
                "restarts": 0,
                "last_error": None,
                "since": 1000.0,
                "details": {"port": 8080},
            },
        ],
    }
    assert HealthSnapshot().to_json() == {"status": "ok", "degraded": [], "components": []}


def test_component_health_freezes_the_details_it_is_given() -> None:
    details: dict[str, object] = {"a": 1}
    record = ComponentHealth(name="x", state=HealthState.OK, since=0.0, details=details)
    details["a"] = 2
    assert record.details == {"a": 1}


def test_changes_fire_only_when_the_degraded_set_changes() -> None:
    health = HealthRegistry()
    changes = health.changes
    health.ok("a")
    assert changes.version == 0  # nothing degraded before or after
    health.degraded("a", "slow")
    assert (changes.version, changes.value.degraded) == (1, ("a",))
    health.degraded("a", "slower", lag=3)
    health.failed("a", "gone")
    health.record_restart("a", "boom")
    assert changes.version == 1  # same names, only reasons and details changed
    health.set("b", HealthState.STARTING)
    assert (changes.version, changes.value.degraded) == (2, ("a", "b"))
    health.remove("a")
    assert (changes.version, changes.value.degraded) == (3, ("b",))
    health.ok("b")
    assert (changes.version, changes.value.degraded, changes.value.ok) == (4, (), True)


async def test_changes_wake_a_waiting_task() -> None:
    health = HealthRegistry()
    seen: list[tuple[str, ...]] = []

    async def watcher() -> None:
        _, snapshot = await health.changes.wait_newer(health.changes.version)
        seen.append(snapshot.degraded)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher)
        await trio.testing.wait_all_tasks_blocked()
        health.degraded("db", "down")
    assert seen == [("db",)]
