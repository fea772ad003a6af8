"""Supervision core: supervisors, restart policies, backoff and the health registry.

Every long-running part of Revaer runs as a child of a :class:`Supervisor`, described by a
:class:`ChildSpec`; children report into one :class:`HealthRegistry`. Exceptions::

    RevaerError
    └── RestartBudgetExceeded   a child needed more than ``max_restarts`` restarts in ``window``
"""

from revaer.runtime._backoff import Backoff
from revaer.runtime._durable import fsync_directory, write_atomically
from revaer.runtime._health import ComponentHealth, HealthRegistry, HealthSnapshot, HealthState
from revaer.runtime._heap import settle_heap
from revaer.runtime._request_context import bound_request_id, current_request_id
from revaer.runtime._runner import describe
from revaer.runtime._spec import ChildSpec, RestartBudgetExceeded, RestartPolicy
from revaer.runtime._supervisor import ChildStatistics, Supervisor, SupervisorStatistics
from revaer.runtime._watch import Watched

__all__ = [
    "Backoff",
    "ChildSpec",
    "ChildStatistics",
    "ComponentHealth",
    "HealthRegistry",
    "HealthSnapshot",
    "HealthState",
    "RestartBudgetExceeded",
    "RestartPolicy",
    "Supervisor",
    "SupervisorStatistics",
    "Watched",
    "bound_request_id",
    "current_request_id",
    "describe",
    "fsync_directory",
    "settle_heap",
    "write_atomically",
]
