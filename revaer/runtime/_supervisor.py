"""The supervisor: start children in order, restart them by policy, stop them in reverse."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import trio
from loguru import logger

from revaer.runtime._backoff import Backoff
from revaer.runtime._health import HealthRegistry
from revaer.runtime._runner import ChildRunner, RunContext, describe
from revaer.runtime._spec import ChildSpec, RestartPolicy

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["ChildStatistics", "Supervisor", "SupervisorStatistics"]

_DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatistics:
    """One child as its supervisor sees it."""

    restarts: int
    """Restarts over the supervisor's lifetime (all of its runs)."""
    running: bool
    """Whether an incarnation has called ``started()`` and has not ended yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStatistics:
    """What :meth:`Supervisor.statistics` returns."""

    name: str
    children: Mapping[str, ChildStatistics]
    """Per child name, in start order."""


class _RunState:
    """What one ``Supervisor.run()`` shares with its runners."""

    def __init__(self, log: Logger) -> None:
        # Cancelled only by an escalation, so it never swallows a cancellation from outside.
        self.escalated = trio.CancelScope()
        self.escalation: BaseException | None = None
        self.stopping = False
        self._log = log

    def escalate(self, error: BaseException) -> None:
        if self.escalation is not None:
            self._log.warning("also failed while escalating: {error}", error=describe(error))
            return
        self.escalation = error
        self.escalated.cancel()


class Supervisor:
    """Runs children one-for-one: a crash restarts only the child that crashed.

    ``run()`` starts the children one after another, each only once the previous one called
    ``task_status.started()``, and reports itself started when all are ready. A child that
    needs more restarts than its budget allows, or raises
    :class:`~revaer.errors.FatalError`, escalates: its siblings are stopped and the error
    leaves ``run()``. Stopping (cancellation or escalation) goes in reverse start order, each
    child getting its ``shutdown_timeout`` after being cancelled. trio cannot kill a task, so
    a child that ignores cancellation longer than that is left behind while the others are
    stopped; ``run()`` still returns only once it has ended.

    The supervisor keeps running when all of its children have ended (finished or failed
    for good); only cancellation or an escalation ends ``run()``, with ``Cancelled`` or the
    escalated error (never wrapped in an exception group). Once stopping has begun, a child
    that crashes is neither restarted nor escalated.

    ``on_restart`` (a metrics hook) is called with the child's name on every restart; it must
    not raise. ``rng`` drives the backoff jitter (pass a seeded one for reproducible delays).
    """

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        health: HealthRegistry,
        on_restart: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"supervisor {name!r}: child names must be unique, got {names}")
        self._name = name
        self._specs = tuple(children)
        self._health = health
        self._on_restart = on_restart
        # Jitter only needs to spread restarts, not to be unpredictable.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._restarts = dict.fromkeys(names, 0)
        self._runners: dict[str, ChildRunner] = {}
        self._running = False
        self._log = logger.bind(actor=name)

    @property
    def name(self) -> str:
        """The supervisor's name (also its name as a child of another supervisor)."""
        return self._name

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the children, supervise them until cancelled or escalated, stop them.

        May be called again after it ended (a parent supervisor restarting this one), but
        not while it is running.
        """
        if self._running:
            raise RuntimeError(f"supervisor {self._name!r} is already running")
        self._running = True
        state = _RunState(self._log)
        context = RunContext(
            supervisor=self._name,
            health=self._health,
            rng=self._rng,
            restarted=self._restarted,
            escalate=state.escalate,
            stopping=lambda: state.stopping,
        )
        cancelled: list[trio.Cancelled] = []
        try:
            async with trio.open_nursery() as nursery:
                with state.escalated:
                    try:
                        await self._start_and_wait(nursery, context, state, task_status)
                    except trio.Cancelled as exc:
                        # Re-raised below, once the nursery is closed: raised inside it, it
                        # would leave run() wrapped in an exception group.
                        cancelled.append(exc)
        finally:
            self._running = False
        if state.escalation is not None:
            raise state.escalation
        if cancelled:
            raise cancelled[0]

    async def _start_and_wait(
        self,
        nursery: trio.Nursery,
        context: RunContext,
        state: _RunState,
        task_status: trio.TaskStatus[None],
    ) -> None:
        started: list[ChildRunner] = []
        self._runners = {}
        try:
            for spec in self._specs:
                runner = ChildRunner(spec, context)
                started.append(runner)
                self._runners[spec.name] = runner
                nursery.start_soon(runner.run, name=f"{self._name}/{spec.name}")
                await runner.settled.wait()
            self._log.info("all {count} children ready", count=len(started))
            task_status.started()
            await trio.sleep_forever()
        finally:
            state.stopping = True
            # Shielded so the ordered stop runs to the end even though we are being
            # cancelled; each stop() is bounded by its child's shutdown_timeout.
            with trio.CancelScope(shield=True):
                for runner in reversed(started):
                    self._log.debug("stopping {child}", child=runner.spec.name)
                    await runner.stop()

    def _restarted(self, child: str) -> None:
        self._restarts[child] += 1
        if self._on_restart is not None:
            self._on_restart(child)

    def as_child(
        self,
        *,
        policy: RestartPolicy = RestartPolicy.PERMANENT,
        max_restarts: int = 5,
        window: float = 60.0,
        backoff: Backoff = _DEFAULT_BACKOFF,
        shutdown_timeout: float = 10.0,
        report_health: bool = True,
    ) -> ChildSpec:
        """A spec that runs this supervisor as a child of another one (a supervision tree).

        Give it a ``shutdown_timeout`` at least as long as the sum of its children's.
        """
        return ChildSpec(
            name=self._name,
            start=self.run,
            policy=policy,
            max_restarts=max_restarts,
            window=window,
            backoff=backoff,
            shutdown_timeout=shutdown_timeout,
            report_health=report_health,
        )

    def statistics(self) -> SupervisorStatistics:
        """Restart counts and liveness of the children."""
        children = {}
        for spec in self._specs:
            runner = self._runners.get(spec.name)
            children[spec.name] = ChildStatistics(
                restarts=self._restarts[spec.name],
                running=runner is not None and runner.running,
            )
        return SupervisorStatistics(name=self._name, children=MappingProxyType(children))
