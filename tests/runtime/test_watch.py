"""Watched: the latest value, a version counter, and waiting for something newer."""

from __future__ import annotations

from contextlib import aclosing

import trio
import trio.testing

from revaer.runtime import Watched


def test_set_replaces_the_value_and_bumps_the_version() -> None:
    watched = Watched("a")
    assert (watched.version, watched.value) == (0, "a")
    watched.set("b")
    watched.set("c")
    assert (watched.version, watched.value) == (2, "c")


async def test_wait_newer_returns_at_once_when_a_newer_value_exists(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watched = Watched(0)
    watched.set(1)
    watched.set(2)
    start = trio.current_time()
    assert await watched.wait_newer(0) == (2, 2)
    assert trio.current_time() == start


async def test_wait_newer_waits_for_the_next_set(autojump_clock: trio.testing.MockClock) -> None:
    watched = Watched("old")
    seen: list[tuple[float, tuple[int, str]]] = []

    async def waiter() -> None:
        result = await watched.wait_newer(watched.version)
        seen.append((trio.current_time(), result))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(5)
        assert seen == []
        watched.set("new")
    assert seen == [(5.0, (1, "new"))]


async def test_set_wakes_every_waiter() -> None:
    watched = Watched(0)
    results: list[tuple[int, int]] = []

    async def waiter() -> None:
        results.append(await watched.wait_newer(0))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        watched.set(7)
    assert results == [(1, 7)] * 3


async def test_subscribe_yields_the_current_value_then_only_the_latest() -> None:
    watched = Watched(0)

    async def set_later() -> None:
        await trio.testing.wait_all_tasks_blocked()
        watched.set(3)

    async with aclosing(watched.subscribe()) as subscription:
        assert await anext(subscription) == 0
        # Two sets while the subscriber is not looking: it sees only the latest.
        watched.set(1)
        watched.set(2)
        assert await anext(subscription) == 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(set_later)
            assert await anext(subscription) == 3
