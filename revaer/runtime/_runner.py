"""One child's life under a supervisor: start, watch, restart with backoff, stop."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import trio
from loguru import logger

from revaer.errors import FatalError
from revaer.runtime._health import HealthRegistry, HealthState
from revaer.runtime._spec import ChildSpec, RestartBudgetExceeded, RestartPolicy

__all__ = ["ChildRunner", "RunContext", "describe"]


def describe(error: BaseException) -> str:
    """``"ValueError: boom"``; a group is described by its leaves, joined by ``"; "``."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e) for e in error.exceptions)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """What a runner needs from its supervisor's current ``run()``."""

    supervisor: str
    health: HealthRegistry
    rng: random.Random
    restarted: Callable[[str], None]
    """Called with the child's name on each restart."""
    escalate: Callable[[BaseException], None]
    """Hands an error to the supervisor, which stops everything and raises it."""
    stopping: Callable[[], bool]
    """Whether the supervisor is stopping its children (then nothing is restarted)."""


class _Status(trio.TaskStatus[object]):
    """The ``task_status`` a child gets; ``started()`` reports readiness to its runner.

    A status of our own (instead of ``nursery.start``) lets the child run directly in the
    runner's task, so its exceptions arrive unwrapped and an attempt needs no nursery.
    """

    def __init__(self, on_started: Callable[[], None]) -> None:
        self._on_started = on_started
        self._called = False

    @property
    def called(self) -> bool:
        """Whether ``started()`` was called."""
        return self._called

    def started(self, value: object = None) -> None:
        if self._called:
            raise RuntimeError("called 'started' twice on the same task status")
        self._called = True
        self._on_started()


class ChildRunner:
    """Runs one child's incarnations, one after another, inside a scope only ``stop()`` cancels."""

    def __init__(self, spec: ChildSpec, context: RunContext) -> None:
        self.spec = spec
        # Shielded, so cancelling the supervisor does not reach the child directly: only
        # stop() cancels it, which is what lets the supervisor stop children in reverse order.
        self.scope = trio.CancelScope(shield=True)
        self.settled = trio.Event()
        """Set at the first readiness, or when the runner ends without one."""
        self.done = trio.Event()
        self.running = False
        """Whether an incarnation has called ``started()`` and has not ended yet."""
        self._ctx = context
        self._restart_times: deque[float] = deque()
        self._log = logger.bind(actor=spec.name, supervisor=context.supervisor)

    async def run(self) -> None:
        """Supervise the child until it ends for good, escalates, or ``stop()`` is called."""
        try:
            with self.scope:
                await self._supervise()
        except* Exception as group:
            # Reached only by a child that raised next to the Cancelled that stopped it;
            # anything else would be a bug of ours and must surface.
            if not self.scope.cancel_called:
                raise
            self._log.opt(exception=group).warning(
                "raised while stopping: {error}", error=describe(group)
            )
        finally:
            self.running = False
            self.settled.set()
            self.done.set()

    async def stop(self) -> None:
        """Cancel the child, then wait at most ``shutdown_timeout`` for it to end."""
        self.scope.cancel()
        with trio.move_on_after(self.spec.shutdown_timeout):
            await self.done.wait()
        if not self.done.is_set():
            # trio cannot kill a task: it keeps running (and holds up the end of
            # Supervisor.run()), but the remaining children still get stopped on time.
            self._log.error(
                "ignored cancellation for {timeout:g} s; stopping the others",
                timeout=self.spec.shutdown_timeout,
            )

    async def _supervise(self) -> None:
        spec = self.spec
        while True:
            self._set_health(HealthState.STARTING)
            self._log.debug("starting")
            error: Exception | None = None
            status = _Status(self._on_started)
            try:
                await spec.start(task_status=status)
            except Exception as exc:  # noqa: BLE001 - every Exception is a crash, handled below
                error = exc
            finally:
                self.running = False
            if self.scope.cancel_called or self._ctx.stopping():
                # Stopped, or about to be: whatever it raised on the way out is not a crash,
                # and restarting it would only delay the shutdown.
                if error is not None:
                    self._log.opt(exception=error).warning(
                        "raised while stopping: {error}", error=describe(error)
                    )
                return
            if error is None and not status.called:
                error = RuntimeError("returned without calling task_status.started()")
            if error is None:
                if spec.policy is not RestartPolicy.PERMANENT:
                    self._log.info("finished")
                    if spec.report_health:
                        self._ctx.health.remove(spec.name)
                    return
                error = RuntimeError("returned unexpectedly")
            if not await self._restart_after(error):
                return

    async def _restart_after(self, error: Exception) -> bool:
        """Decide on a crash: sleep the backoff and return True when the child goes again."""
        spec, reason = self.spec, describe(error)
        if isinstance(error, FatalError):
            # Whoever runs the root reports a fatal error as its one line; the trace is
            # for debugging only.
            self._log.opt(exception=error).debug("fatal, escalating: {error}", error=reason)
            self._fail(reason)
            self._ctx.escalate(error)
            return False
        if spec.policy is RestartPolicy.TEMPORARY:
            self._log.opt(exception=error).error("crashed, not restarted: {error}", error=reason)
            self._fail(reason)
            return False
        attempt = self._next_attempt()
        if attempt is None:
            escalation = RestartBudgetExceeded(
                spec.name, max_restarts=spec.max_restarts, window=spec.window
            )
            escalation.__cause__ = error
            self._log.opt(exception=error).error(
                "{escalation}, escalating: {error}", escalation=escalation, error=reason
            )
            self._fail(f"{escalation}; last error: {reason}")
            self._ctx.escalate(escalation)
            return False
        delay = spec.backoff.delay(attempt, self._ctx.rng)
        if spec.report_health:
            self._ctx.health.record_restart(spec.name, reason)
            self._ctx.health.degraded(spec.name, reason)
        self._ctx.restarted(spec.name)
        self._log.opt(exception=error).warning(
            "crashed, restarting in {delay:.2f} s: {error}", delay=delay, error=reason
        )
        await trio.sleep(delay)
        return True

    def _next_attempt(self) -> int | None:
        """0-based number of this restart within the window, or None when over budget."""
        now = trio.current_time()
        # Restarts older than the window no longer count: a child that ran stably for longer
        # than the window starts again from attempt 0.
        while self._restart_times and now - self._restart_times[0] >= self.spec.window:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.spec.max_restarts:
            return None
        self._restart_times.append(now)
        return len(self._restart_times) - 1

    def _on_started(self) -> None:
        self.running = True
        self._log.info("started")
        current = self._ctx.health.get(self.spec.name)
        # A child may report its own state before it says it is ready; that report stands.
        if current is None or current.state is HealthState.STARTING:
            self._set_health(HealthState.OK)
        self.settled.set()

    def _set_health(self, state: HealthState) -> None:
        if self.spec.report_health:
            self._ctx.health.set(self.spec.name, state)

    def _fail(self, reason: str) -> None:
        if self.spec.report_health:
            self._ctx.health.failed(self.spec.name, reason)
