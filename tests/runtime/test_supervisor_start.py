"""Supervisor start-up: readiness order, retries before readiness, fatal errors."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from revaer.errors import FatalError
from revaer.runtime import (
    ChildSpec,
    HealthRegistry,
    HealthState,
    RestartBudgetExceeded,
    RestartPolicy,
    Supervisor,
)
from tests.runtime.children import Child, Journal, next_change, run_to_end, start_in


async def test_children_start_one_after_another_and_the_supervisor_is_ready_last(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    children = [Child(name, journal, ready_after=t) for name, t in [("a", 3), ("b", 2), ("c", 1)]]
    supervisor = Supervisor("root", [c.spec() for c in children], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        journal.add("root:ready")
        nursery.cancel_scope.cancel()
    assert journal.entries[:7] == [
        (0.0, "a:start"),
        (3.0, "a:ready"),
        (3.0, "b:start"),
        (5.0, "b:ready"),
        (5.0, "c:start"),
        (6.0, "c:ready"),
        (6.0, "root:ready"),
    ]


async def test_health_is_starting_until_started_then_ok(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    a, b = Child("a", journal, ready_after=5), Child("b", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec()], health=health)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.testing.wait_all_tasks_blocked()
        record = health.get("a")
        assert record is not None
        assert record.state is HealthState.STARTING
        assert health.get("b") is None
        assert health.changes.value.degraded == ("a",)
        await journal.wait_for("b:ready")
        assert health.snapshot().degraded == ()
        assert [c.state for c in health.snapshot().components] == [HealthState.OK] * 2
        nursery.cancel_scope.cancel()


async def test_a_child_failing_to_start_is_degraded_while_it_waits_to_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    a, b = Child("a", journal, start_failures=2), Child("b", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec()], health=health)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await journal.wait_for("a:exit")
        await trio.testing.wait_all_tasks_blocked()
        record = health.get("a")
        assert record is not None
        assert (record.state, record.reason, record.restarts) == (
            HealthState.DEGRADED,
            "ValueError: a failed to start",
            1,
        )
        nursery.cancel_scope.cancel()


async def test_supervisor_readiness_waits_for_a_child_that_fails_to_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a, b = Child("a", journal, start_failures=2), Child("b", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec()], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await start_in(nursery, supervisor)
        # Backoff 1 s then 2 s before the third attempt gets ready; b waits for it.
        assert trio.current_time() - start == 3.0
        assert journal.names()[:7] == [
            "a:start",
            "a:exit",
            "a:start",
            "a:exit",
            "a:start",
            "a:ready",
            "b:start",
        ]
        nursery.cancel_scope.cancel()


async def test_a_temporary_child_that_fails_to_start_does_not_block_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    probe, b = Child("probe", journal, start_failures=1), Child("b", journal)
    specs = [probe.spec(policy=RestartPolicy.TEMPORARY), b.spec()]
    supervisor = Supervisor("root", specs, health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        assert journal.names() == ["probe:start", "probe:exit", "b:start", "b:ready"]
        assert health.snapshot().degraded == ("probe",)
        nursery.cancel_scope.cancel()


async def test_a_child_returning_before_started_counts_as_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    async def forgetful(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal calls
        calls += 1

    spec = ChildSpec(name="job", start=forgetful, policy=RestartPolicy.TRANSIENT, max_restarts=1)
    supervisor = Supervisor("root", [spec], health=HealthRegistry())
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    assert calls == 2
    assert "without calling task_status.started()" in str(caught.value.__cause__)


async def test_calling_started_twice_is_a_crash(autojump_clock: trio.testing.MockClock) -> None:
    async def eager(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        task_status.started()

    supervisor = Supervisor(
        "root", [ChildSpec(name="eager", start=eager, max_restarts=0)], health=HealthRegistry()
    )
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    assert "called 'started' twice" in str(caught.value.__cause__)


async def test_fatal_error_before_readiness_escalates_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    a, c = Child("a", journal), Child("c", journal)
    attempts = 0

    async def locked(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal attempts
        attempts += 1
        raise FatalError("data directory is locked")

    specs = [a.spec(), ChildSpec(name="b", start=locked), c.spec()]
    supervisor = Supervisor("root", specs, health=health)
    start = trio.current_time()
    with pytest.raises(FatalError, match="locked"):
        await run_to_end(supervisor)
    assert attempts == 1
    assert trio.current_time() == start
    assert journal.names() == ["a:start", "a:ready", "a:exit"]  # c never started
    record = health.get("b")
    assert record is not None
    assert (record.state, record.reason) == (
        HealthState.FAILED,
        "FatalError: data directory is locked",
    )


async def test_child_names_must_be_unique() -> None:
    journal = Journal()
    with pytest.raises(ValueError, match="unique"):
        Supervisor(
            "root",
            [Child("a", journal).spec(), Child("a", journal).spec()],
            health=HealthRegistry(),
        )


async def test_a_supervisor_cannot_run_twice_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    supervisor = Supervisor("root", [Child("a", Journal()).spec()], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        with pytest.raises(RuntimeError, match="already running"):
            await supervisor.run()
        nursery.cancel_scope.cancel()


async def test_a_child_state_reported_before_started_is_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    health = HealthRegistry()

    async def catching_up(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        health.degraded("catalog", "replaying journal", pending=12)
        task_status.started()
        await trio.sleep(10)
        health.ok("catalog", pending=0)
        await trio.sleep_forever()

    supervisor = Supervisor("root", [ChildSpec(name="catalog", start=catching_up)], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        record = health.get("catalog")
        assert record is not None
        assert (record.state, record.reason, dict(record.details)) == (
            HealthState.DEGRADED,
            "replaying journal",
            {"pending": 12},
        )
        _, snapshot = await next_change(health, health.changes.version)
        assert snapshot.degraded == ()
        nursery.cancel_scope.cancel()
