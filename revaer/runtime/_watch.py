"""A "latest value" cell that tasks can wait on without ever blocking the writer."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Generic, TypeVar

import trio

__all__ = ["Watched"]

T = TypeVar("T")


class Watched(Generic[T]):
    """Holds the latest value of something and wakes every waiter when it changes.

    ``set()`` is synchronous and never blocks, so a producer cannot be slowed by its readers;
    a slow reader simply misses intermediate values and sees the newest one (latest wins).
    Use it from tasks of a single ``trio.run``.
    """

    def __init__(self, initial: T) -> None:
        self._value = initial
        self._version = 0
        self._changed = trio.Event()

    @property
    def value(self) -> T:
        """The current value."""
        return self._value

    @property
    def version(self) -> int:
        """How many times ``set()`` was called; starts at 0."""
        return self._version

    def set(self, value: T) -> None:
        """Replace the value and wake all current waiters."""
        self._value = value
        self._version += 1
        # An Event cannot be cleared, so each generation gets a fresh one; waiters of the
        # old generation are woken by setting it.
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    async def wait_newer(self, version: int) -> tuple[int, T]:
        """Wait until the version is above ``version``; return ``(version, value)``.

        Returns at once (after a checkpoint) when a newer value is already there.
        """
        while self._version <= version:
            await self._changed.wait()
        # Always a checkpoint, so a subscriber loop that keeps up cannot starve other tasks.
        await trio.lowlevel.checkpoint()
        return self._version, self._value

    async def subscribe(self) -> AsyncGenerator[T, None]:
        """Yield the current value, then each newer one (intermediate values may be skipped).

        Close it when done (``contextlib.aclosing``) rather than leaving it to the garbage
        collector.
        """
        version, value = self._version, self._value
        yield value
        while True:
            version, value = await self.wait_newer(version)
            yield value
