"""Supervisor shutdown: reverse order, bounded waits, cancellation that propagates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from revaer.runtime import ChildSpec, HealthRegistry, RestartBudgetExceeded, Supervisor
from tests.runtime.children import Child, Journal, run_to_end

if TYPE_CHECKING:
    from loguru import Record


async def test_cancellation_stops_children_in_reverse_one_at_a_time_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a = Child("a", journal)
    b = Child("b", journal, stop_takes=2.0)
    c = Child("c", journal, stop_takes=1.0)
    supervisor = Supervisor("root", [a.spec(), b.spec(), c.spec()], health=HealthRegistry())
    outcome: list[str] = []
    with trio.move_on_after(10) as scope:
        try:
            await supervisor.run()
        except trio.Cancelled:
            outcome.append("cancelled")
            raise
    assert scope.cancelled_caught
    assert outcome == ["cancelled"]
    # Each child is cancelled only once the one started after it has finished its clean-up.
    assert [(at, name) for at, name in journal.entries if name.endswith(":exit")] == [
        (10.0, "c:exit"),
        (11.0, "b:exit"),
        (13.0, "a:exit"),
    ]
    assert trio.current_time() == 13.0


async def test_a_child_ignoring_cancellation_does_not_hold_up_the_others(
    autojump_clock: trio.testing.MockClock, log_records: list[Record]
) -> None:
    journal = Journal()
    a = Child("a", journal)
    stubborn = Child("stubborn", journal, stop_takes=100.0)
    c = Child("c", journal)
    specs = [a.spec(), stubborn.spec(shutdown_timeout=5.0), c.spec()]
    supervisor = Supervisor("root", specs, health=HealthRegistry())
    with trio.move_on_after(10):
        await supervisor.run()
    assert [(at, name) for at, name in journal.entries if name.endswith(":exit")] == [
        (10.0, "c:exit"),
        (10.0, "stubborn:exit"),
        (15.0, "a:exit"),
    ]
    # trio cannot kill a task: run() ends only once the stubborn child is done.
    assert trio.current_time() == 110.0
    assert any(
        r["extra"]["actor"] == "stubborn" and "ignored cancellation" in r["message"]
        for r in log_records
    )


async def test_an_escalation_stops_the_siblings_in_reverse(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a, b, c = Child("a", journal), Child("b", journal, lifetimes=[5.0]), Child("c", journal)
    specs = [a.spec(), b.spec(max_restarts=0), c.spec()]
    supervisor = Supervisor("root", specs, health=HealthRegistry())
    with pytest.raises(RestartBudgetExceeded):
        await run_to_end(supervisor)
    assert journal.names(":exit") == ["b:exit", "c:exit", "a:exit"]
    assert trio.current_time() == 5.0


async def test_errors_raised_while_stopping_are_logged_not_restarted(
    autojump_clock: trio.testing.MockClock, log_records: list[Record]
) -> None:
    async def converts(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            raise RuntimeError("flush failed") from None

    async def groups(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async def flusher() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise OSError("socket closed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flusher)
            task_status.started()
            await trio.sleep_forever()

    restarted: list[str] = []
    specs = [ChildSpec(name="converts", start=converts), ChildSpec(name="groups", start=groups)]
    supervisor = Supervisor("root", specs, health=HealthRegistry(), on_restart=restarted.append)
    with trio.move_on_after(1) as scope:
        await supervisor.run()
    assert scope.cancelled_caught
    assert restarted == []
    stopping = {
        r["extra"]["actor"]: r["message"]
        for r in log_records
        if r["message"].startswith("raised while stopping")
    }
    assert stopping == {
        "converts": "raised while stopping: RuntimeError: flush failed",
        "groups": "raised while stopping: OSError: socket closed",
    }


async def test_only_the_first_of_simultaneous_escalations_is_raised(
    autojump_clock: trio.testing.MockClock, log_records: list[Record]
) -> None:
    go = trio.Event()

    async def doomed(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await go.wait()
        raise ValueError("shared dependency gone")

    async def trigger(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(1)
        go.set()
        await trio.sleep_forever()

    specs = [
        ChildSpec(name="x", start=doomed, max_restarts=0),
        ChildSpec(name="y", start=doomed, max_restarts=0),
        ChildSpec(name="trigger", start=trigger),
    ]
    supervisor = Supervisor("root", specs, health=HealthRegistry())
    with pytest.raises(RestartBudgetExceeded) as caught:
        await run_to_end(supervisor)
    other = {"x": "y", "y": "x"}[caught.value.child]
    assert any(
        r["message"].startswith("also failed while escalating")
        and f"child {other!r}" in r["message"]
        for r in log_records
    )


async def test_a_child_crashing_during_shutdown_is_neither_restarted_nor_escalated(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    a, b = Child("a", journal), Child("b", journal, stop_takes=2.0)
    restarted: list[str] = []
    supervisor = Supervisor(
        "root",
        [a.spec(max_restarts=0), b.spec()],
        health=HealthRegistry(),
        on_restart=restarted.append,
    )

    async def crash_a_while_b_stops() -> None:
        await journal.wait_for("b:exit")
        a.crash()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_a_while_b_stops)
        with trio.move_on_after(10) as scope:
            await supervisor.run()
    assert scope.cancelled_caught  # the budget of 0 restarts did not turn into an escalation
    assert (a.incarnations, restarted) == (1, [])
    assert journal.times("a:exit") == [10.0]
