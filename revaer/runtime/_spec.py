"""The vocabulary of supervision: restart policies, child specs and the escalation error.

Exceptions::

    RevaerError
    └── RestartBudgetExceeded   a child needed more than ``max_restarts`` restarts in ``window``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from revaer.errors import RevaerError
from revaer.runtime._backoff import Backoff

__all__ = ["ChildSpec", "RestartBudgetExceeded", "RestartPolicy"]


class RestartPolicy(StrEnum):
    """When a child that ended is started again.

    A :class:`~revaer.errors.FatalError` escalates under every policy.
    """

    PERMANENT = "permanent"
    """Always restarted; returning normally counts as a failure ("returned unexpectedly")."""
    TRANSIENT = "transient"
    """Restarted only after an exception; a normal return ends it."""
    TEMPORARY = "temporary"
    """Never restarted; a crash marks it FAILED without escalating."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to run and restart one child of a :class:`~revaer.runtime.Supervisor`.

    ``start`` is awaited as ``start(task_status=status)`` and must call ``status.started()``
    once it is ready; returning before that counts as a crash, whatever the policy.
    """

    name: str
    start: Callable[..., Awaitable[object]]
    policy: RestartPolicy = RestartPolicy.PERMANENT
    max_restarts: int = 5
    """Restarts allowed within ``window`` seconds; needing one more escalates to the parent."""
    window: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
    shutdown_timeout: float = 10.0
    """Seconds the child gets to end after it is cancelled before the next one is stopped."""
    report_health: bool = True
    """Register the child as a health component called ``name``."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a child needs a name")
        if self.max_restarts < 0 or self.window <= 0 or self.shutdown_timeout < 0:
            raise ValueError("need max_restarts >= 0, window > 0 and shutdown_timeout >= 0")


class RestartBudgetExceeded(RevaerError):
    """A child crashed more often than its restart budget allows; ``child`` names it.

    Raised from the child's last error, which is its ``__cause__``.
    """

    title = "Restart budget exceeded"
    slug = "restart-budget-exceeded"

    def __init__(self, child: str, *, max_restarts: int, window: float) -> None:
        super().__init__(
            f"child {child!r} needed more than {max_restarts} restarts within {window:g} s"
        )
        self.child = child
