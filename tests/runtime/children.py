"""Controllable children and a journal of what they did, for the supervisor tests."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from revaer.runtime import (
    Backoff,
    ChildSpec,
    HealthRegistry,
    HealthSnapshot,
    RestartPolicy,
    Supervisor,
    Watched,
)

# Without jitter restarts happen at exact virtual times: after 1, 2, 4, 8, 8, ... seconds.
STEADY_BACKOFF = Backoff(initial=1.0, multiplier=2.0, maximum=8.0, jitter=0.0)

# Virtual seconds a test waits for something before it fails. Under autojump_clock a test
# whose tasks all wait for something that never happens jumps straight to this deadline, so
# a broken supervisor fails the test at once instead of hanging it.
LIMIT = 3600.0


async def start_in(nursery: trio.Nursery, supervisor: Supervisor) -> None:
    """Start ``supervisor`` in ``nursery`` and wait until it is ready (or fail after ``LIMIT``)."""
    with trio.fail_after(LIMIT):
        await nursery.start(supervisor.run)


async def run_to_end(supervisor: Supervisor) -> None:
    """Run ``supervisor`` until it escalates (or fail after ``LIMIT``).

    pytest-trio lets a test that ends in a stray ``Cancelled`` pass, so one leaving ``run()``
    here (where nothing cancels it) is turned into a failure.
    """
    try:
        with trio.fail_after(LIMIT):
            await supervisor.run()
    except trio.Cancelled:
        raise AssertionError("run() raised Cancelled although nothing cancelled it") from None


async def next_change(health: HealthRegistry, version: int) -> tuple[int, HealthSnapshot]:
    """The next health change after ``version`` (or fail after ``LIMIT``)."""
    with trio.fail_after(LIMIT):
        return await health.changes.wait_newer(version)


class Journal:
    """What the children did, with the virtual time it happened at."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str]] = []
        self._changed: Watched[int] = Watched(0)

    def add(self, entry: str) -> None:
        self.entries.append((trio.current_time(), entry))
        self._changed.set(len(self.entries))

    def names(self, suffix: str = "") -> list[str]:
        """Entries in order, optionally only those ending in ``suffix`` (e.g. ``":exit"``)."""
        return [entry for _, entry in self.entries if entry.endswith(suffix)]

    def times(self, entry: str) -> list[float]:
        return [at for at, name in self.entries if name == entry]

    async def wait_for(self, entry: str, count: int = 1) -> None:
        """Wait until ``entry`` was added ``count`` times in all."""
        version = self._changed.version
        with trio.fail_after(LIMIT):
            while len(self.times(entry)) < count:
                version, _ = await self._changed.wait_newer(version)


class Child:
    """A child that journals ``name:start``, ``name:ready`` and ``name:exit``.

    ``lifetimes[i]`` makes incarnation ``i`` crash that many seconds after it is ready; later
    incarnations run until :meth:`crash` is called. ``stop_takes`` seconds of shielded
    clean-up follow a cancellation (more than ``shutdown_timeout`` makes it stubborn).
    """

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        ready_after: float = 0.0,
        start_failures: int = 0,
        lifetimes: Sequence[float] = (),
        stop_takes: float = 0.0,
    ) -> None:
        self.name = name
        self.journal = journal
        self.ready_after = ready_after
        self.start_failures = start_failures
        self.lifetimes = list(lifetimes)
        self.stop_takes = stop_takes
        self.incarnations = 0
        self._crash = trio.Event()
        self._error: Exception = ValueError(f"{name} crashed")

    async def __call__(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.incarnations += 1
        self._crash = crash = trio.Event()
        self.journal.add(f"{self.name}:start")
        try:
            await trio.sleep(self.ready_after)
            if self.start_failures:
                self.start_failures -= 1
                raise ValueError(f"{self.name} failed to start")
            task_status.started()
            self.journal.add(f"{self.name}:ready")
            if self.lifetimes:
                await trio.sleep(self.lifetimes.pop(0))
                raise ValueError(f"{self.name} crashed")
            await crash.wait()
            raise self._error
        finally:
            self.journal.add(f"{self.name}:exit")
            if self.stop_takes:
                with trio.CancelScope(shield=True):
                    await trio.sleep(self.stop_takes)

    def crash(self, error: Exception | None = None) -> None:
        """Make the running incarnation raise ``error`` (a ValueError by default)."""
        self._error = error if error is not None else ValueError(f"{self.name} crashed")
        self._crash.set()

    def spec(
        self,
        *,
        policy: RestartPolicy = RestartPolicy.PERMANENT,
        max_restarts: int = 5,
        window: float = 60.0,
        shutdown_timeout: float = 10.0,
    ) -> ChildSpec:
        """A spec for this child, restarting with the steady backoff."""
        return ChildSpec(
            name=self.name,
            start=self,
            policy=policy,
            max_restarts=max_restarts,
            window=window,
            backoff=STEADY_BACKOFF,
            shutdown_timeout=shutdown_timeout,
        )
