"""Supervision trees: a supervisor nested in another via as_child()."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from revaer.errors import FatalError
from revaer.runtime import (
    HealthRegistry,
    HealthState,
    RestartBudgetExceeded,
    RestartPolicy,
    Supervisor,
)
from tests.runtime.children import STEADY_BACKOFF, Child, Journal, run_to_end, start_in


async def test_the_parent_restarts_a_nested_supervisor_that_escalated(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    x, y = Child("x", journal), Child("y", journal)
    inner = Supervisor("inner", [x.spec(max_restarts=1)], health=health)
    root = Supervisor(
        "root", [inner.as_child(max_restarts=1, backoff=STEADY_BACKOFF), y.spec()], health=health
    )
    inner_health: list[tuple[HealthState, int, str | None]] = []

    async def crash_x() -> None:
        await journal.wait_for("x:ready")
        x.crash()
        await journal.wait_for("x:ready", 2)
        x.crash()  # over inner's budget: inner escalates, root restarts inner
        await journal.wait_for("x:ready", 3)
        await trio.testing.wait_all_tasks_blocked()  # inner reports ready right after x
        record = health.get("inner")
        assert record is not None
        inner_health.append((record.state, record.restarts, record.last_error))
        # A fresh inner run means a fresh budget for x.
        x.crash()
        await journal.wait_for("x:ready", 4)
        x.crash()  # inner escalates again: over root's budget for inner

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_x)
        with pytest.raises(RestartBudgetExceeded) as caught:
            await run_to_end(root)
    assert inner_health == [
        (
            HealthState.OK,
            1,
            "RestartBudgetExceeded: child 'x' needed more than 1 restarts within 60 s",
        )
    ]
    assert y.incarnations == 1
    escalation = caught.value
    assert isinstance(escalation, RestartBudgetExceeded)
    assert escalation.child == "inner"
    assert isinstance(escalation.__cause__, RestartBudgetExceeded)
    assert escalation.__cause__.child == "x"
    assert journal.names(":exit")[-1] == "y:exit"
    assert root.statistics().children["inner"].restarts == 1


async def test_a_fatal_error_escalates_through_every_level(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    x, y = Child("x", journal), Child("y", journal)
    inner = Supervisor("inner", [x.spec()], health=HealthRegistry())
    root = Supervisor("root", [y.spec(), inner.as_child()], health=HealthRegistry())

    async def crash_x() -> None:
        await journal.wait_for("x:ready")
        x.crash(FatalError("disk gone"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_x)
        with pytest.raises(FatalError, match="disk"):
            await run_to_end(root)
    assert (x.incarnations, y.incarnations) == (1, 1)


async def test_a_temporary_nested_supervisor_is_not_restarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    health = HealthRegistry()
    x = Child("x", journal)
    inner = Supervisor("inner", [x.spec(max_restarts=0)], health=health)
    root = Supervisor("root", [inner.as_child(policy=RestartPolicy.TEMPORARY)], health=health)
    async with trio.open_nursery() as nursery:
        await start_in(nursery, root)
        x.crash()
        await trio.sleep(60)
        assert health.snapshot().degraded == ("inner", "x")
        assert x.incarnations == 1
        nursery.cancel_scope.cancel()
