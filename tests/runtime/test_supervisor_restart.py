"""Supervisor restarts: policies, backoff timing, the restart budget, isolation, health."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from revaer.runtime import (
    ChildSpec,
    HealthRegistry,
    HealthState,
    RestartBudgetExceeded,
    RestartPolicy,
    Supervisor,
)
from tests.runtime.children import Child, Journal, next_change, run_to_end, start_in

if TYPE_CHECKING:
    from loguru import Record


async def test_restarts_back_off_exponentially_up_to_the_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a = Child("a", journal, lifetimes=[0.0] * 10)
    supervisor = Supervisor("root", [a.spec(max_restarts=6, window=1000)], health=HealthRegistry())
    with pytest.raises(RestartBudgetExceeded):
        await run_to_end(supervisor)
    # Delays 1, 2, 4, 8, then capped at 8 (STEADY_BACKOFF has no jitter).
    assert journal.times("a:start") == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0]


async def test_the_attempt_counter_restarts_after_a_stable_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a = Child("a", journal, lifetimes=[0.0, 0.0, 20.0, 0.0])
    supervisor = Supervisor("root", [a.spec(window=10)], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        await journal.wait_for("a:ready", 5)
        nursery.cancel_scope.cancel()
    # Crashes at 0 and 1 back off 1 s and 2 s; after running 20 s (> window) the crash at 23
    # is attempt 0 again (1 s), and the next one attempt 1 (2 s).
    assert journal.times("a:start") == [0.0, 1.0, 3.0, 24.0, 26.0]


async def test_exceeding_the_budget_fails_the_child_and_escalates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    restarted: list[str] = []
    a, b, c = Child("a", journal), Child("b", journal, lifetimes=[0.0] * 3), Child("c", journal)
    supervisor = Supervisor(
        "root",
        [a.spec(), b.spec(max_restarts=2), c.spec()],
        health=health,
        on_restart=restarted.append,
    )
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    assert caught.value.child == "b"
    assert isinstance(caught.value.__cause__, ValueError)
    assert str(caught.value.__cause__) == "b crashed"
    assert restarted == ["b", "b"]
    record = health.get("b")
    assert record is not None
    assert record.state is HealthState.FAILED
    assert record.reason is not None
    assert "more than 2 restarts" in record.reason
    assert "ValueError: b crashed" in record.reason
    assert record.restarts == 2
    # The siblings were stopped, c (started later) first.
    assert journal.names(":exit")[-2:] == ["c:exit", "a:exit"]
    assert supervisor.statistics().children["b"].restarts == 2


async def test_a_crash_does_not_disturb_the_siblings(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    a, b, c = Child("a", journal), Child("b", journal), Child("c", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec(), c.spec()], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        for n in range(2, 4):
            b.crash()
            await journal.wait_for("b:ready", n)
        assert (a.incarnations, b.incarnations, c.incarnations) == (1, 3, 1)
        assert journal.names(":exit") == ["b:exit", "b:exit"]
        assert health.snapshot().degraded == ()
        nursery.cancel_scope.cancel()


async def test_health_is_degraded_while_waiting_to_restart_then_ok_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    a, b = Child("a", journal), Child("b", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec()], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        version = health.changes.version
        b.crash(OSError("connection reset"))
        version, snapshot = await next_change(health, version)
        assert snapshot.degraded == ("b",)
        record = health.get("b")
        assert record is not None
        assert (record.state, record.reason, record.restarts, record.last_error) == (
            HealthState.DEGRADED,
            "OSError: connection reset",
            1,
            "OSError: connection reset",
        )
        version, snapshot = await next_change(health, version)
        assert snapshot.degraded == ()
        record = health.get("b")
        assert record is not None
        assert (record.state, record.reason, record.restarts) == (HealthState.OK, None, 1)
        nursery.cancel_scope.cancel()


async def test_a_running_child_reports_its_own_health(
    autojump_clock: trio.testing.MockClock,
) -> None:
    health = HealthRegistry()
    lagging = trio.Event()

    async def bus(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await lagging.wait()
        health.degraded("bus", "subscriber lagging", dropped=3)
        await trio.sleep_forever()

    supervisor = Supervisor("root", [ChildSpec(name="bus", start=bus)], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        lagging.set()
        _, snapshot = await next_change(health, health.changes.version)
        assert snapshot.degraded == ("bus",)
        assert dict(snapshot.components[0].details) == {"dropped": 3}
        nursery.cancel_scope.cancel()


async def test_a_permanent_child_that_returns_is_restarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs = 0

    async def quitter(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

    supervisor = Supervisor(
        "root", [ChildSpec(name="quitter", start=quitter, max_restarts=3)], health=HealthRegistry()
    )
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    assert runs == 4
    assert str(caught.value.__cause__) == "returned unexpectedly"


async def test_a_transient_child_ends_when_it_returns_and_restarts_when_it_crashes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    health = HealthRegistry()
    runs = 0

    async def migrate(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()
        await trio.sleep(1)
        if runs == 1:
            raise ValueError("lock timeout")

    spec = ChildSpec(name="migrate", start=migrate, policy=RestartPolicy.TRANSIENT)
    journal = Journal()
    after = Child("after", journal)
    supervisor = Supervisor("root", [spec, after.spec()], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        await trio.sleep(60)
        assert runs == 2
        # Finished for good: no longer a component, not running, siblings untouched.
        assert health.get("migrate") is None
        assert supervisor.statistics().children["migrate"].running is False
        assert after.incarnations == 1
        nursery.cancel_scope.cancel()


async def test_a_temporary_child_that_crashes_is_failed_but_not_restarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    health = HealthRegistry()
    restarted: list[str] = []
    journal = Journal()
    probe, other = Child("probe", journal, lifetimes=[1.0]), Child("other", journal)
    supervisor = Supervisor(
        "root",
        [probe.spec(policy=RestartPolicy.TEMPORARY), other.spec()],
        health=health,
        on_restart=restarted.append,
    )
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        await trio.sleep(60)
        assert probe.incarnations == 1
        assert restarted == []
        record = health.get("probe")
        assert record is not None
        assert (record.state, record.reason) == (HealthState.FAILED, "ValueError: probe crashed")
        assert other.incarnations == 1
        nursery.cancel_scope.cancel()


async def test_an_exception_group_is_a_crash_described_by_its_leaves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    health = HealthRegistry()
    runs = 0

    async def fails_inside(
        *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

        async def broken() -> None:
            raise KeyError("peer")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(broken)
            await trio.sleep_forever()

    supervisor = Supervisor(
        "root", [ChildSpec(name="engine", start=fails_inside, max_restarts=1)], health=health
    )
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    assert runs == 2
    assert isinstance(caught.value.__cause__, ExceptionGroup)
    record = health.get("engine")
    assert record is not None
    assert record.last_error == "KeyError: 'peer'"


async def test_statistics_count_restarts_and_show_who_is_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a, b = Child("a", journal), Child("b", journal)
    supervisor = Supervisor("root", [a.spec(), b.spec()], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        b.crash()
        await journal.wait_for("b:exit")
        await trio.testing.wait_all_tasks_blocked()
        stats = supervisor.statistics()
        assert stats.name == supervisor.name == "root"
        assert list(stats.children) == ["a", "b"]
        assert (stats.children["a"].running, stats.children["a"].restarts) == (True, 0)
        assert (stats.children["b"].running, stats.children["b"].restarts) == (False, 1)
        await journal.wait_for("b:ready", 2)
        assert supervisor.statistics().children["b"].running is True
        nursery.cancel_scope.cancel()
    assert not any(c.running for c in supervisor.statistics().children.values())


async def test_crashes_are_logged_with_the_child_and_the_error(
    autojump_clock: trio.testing.MockClock, log_records: list[Record]
) -> None:
    journal = Journal()
    a = Child("a", journal)
    supervisor = Supervisor("root", [a.spec()], health=HealthRegistry())
    async with trio.open_nursery() as nursery:
        await start_in(nursery, supervisor)
        a.crash(OSError("disk {full}"))
        await journal.wait_for("a:ready", 2)
        nursery.cancel_scope.cancel()
    crashes = [r for r in log_records if r["level"].name == "WARNING"]
    assert len(crashes) == 1
    assert crashes[0]["extra"]["actor"] == "a"
    assert crashes[0]["extra"]["supervisor"] == "root"
    assert crashes[0]["message"] == "crashed, restarting in 1.00 s: OSError: disk {full}"
    assert crashes[0]["exception"] is not None


async def test_a_child_without_health_reporting_stays_out_of_the_registry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    quiet = Child("quiet", journal, lifetimes=[0.0])
    spec = ChildSpec(name="quiet", start=quiet, report_health=False, max_restarts=1)
    supervisor = Supervisor("root", [spec], health=health)

    async def crash_again() -> None:
        await journal.wait_for("quiet:ready", 2)
        quiet.crash()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_again)
        with pytest.raises(RestartBudgetExceeded):
            await run_to_end(supervisor)
    assert supervisor.statistics().children["quiet"].restarts == 1
    assert health.snapshot().components == ()
