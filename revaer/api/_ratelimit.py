"""Per-key token buckets, and the actor that keeps them in line with the configuration.

A key's ``rate_limit`` is ``burst`` requests refilled evenly over ``per_seconds``: a full
bucket holds ``burst`` tokens, each request takes one, and tokens come back at
``burst / per_seconds`` a second. The request path calls :meth:`RateLimiter.take` (no I/O,
no await); the limiter alone writes the buckets. Its actor (:meth:`RateLimiter.run`) follows
the snapshots: buckets of removed keys are dropped, and keys without a limit raise the
``api_rate_limit_guard`` guard rail (degraded health, counted) until each has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import trio
from loguru import logger

from revaer.config import ConfigSnapshot, RateLimit
from revaer.runtime import HealthRegistry, Watched
from revaer.telemetry import Metrics

__all__ = ["GUARD_RAIL", "RateDecision", "RateLimiter"]

GUARD_RAIL = "api_rate_limit_guard"
_log = logger.bind(actor="rate_limiter")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateDecision:
    """The answer for one request, and what its ``X-RateLimit-*`` headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    """Seconds until the bucket is full again."""
    retry_after: int
    """Seconds until one token is back (0 when allowed)."""

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (and ``Retry-After`` when refused)."""
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_after)
        return headers


class _Bucket:
    __slots__ = ("limit", "tokens", "updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = now


class RateLimiter:
    """Token buckets per key id, refilled by the (trio) clock."""

    def __init__(
        self,
        snapshots: Watched[ConfigSnapshot],
        *,
        health: HealthRegistry | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._snapshots = snapshots
        self._health = health
        self._metrics = metrics
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, limit: RateLimit | None) -> RateDecision | None:
        """Take a token for ``key_id``; None for a key without a limit.

        ``limit`` is the key's limit in the current snapshot, so a changed limit applies to
        the very next request (tokens above a lowered burst are dropped).
        """
        if limit is None:
            return None
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(limit, now)
        elif bucket.limit != limit:
            bucket.limit = limit
            bucket.tokens = min(bucket.tokens, float(limit.burst))
        rate = limit.burst / limit.per_seconds
        bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        elif self._metrics is not None:
            self._metrics.api_rate_limit_throttled_total.labels(key_id=key_id).inc()
        return RateDecision(
            allowed=allowed,
            limit=limit.burst,
            remaining=math.floor(bucket.tokens),
            reset_seconds=math.ceil((limit.burst - bucket.tokens) / rate),
            retry_after=0 if allowed else max(1, math.ceil((1.0 - bucket.tokens) / rate)),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the configuration: drop buckets of removed keys, report the guard rail."""
        task_status.started()
        async for snapshot in self._snapshots.subscribe():
            known = {k.key_id for k in snapshot.api_keys}
            for key_id in [k for k in self._buckets if k not in known]:
                del self._buckets[key_id]
            self._guard(sum(1 for k in snapshot.api_keys if k.rate_limit is None))

    def _guard(self, unlimited: int) -> None:
        # Health is public: it counts the keys, never names them.
        if self._health is None:
            return
        was_degraded = GUARD_RAIL in self._health.snapshot().degraded
        if not unlimited:
            self._health.ok(GUARD_RAIL, unlimited_keys=0)
            return
        problem = (
            f"{unlimited} API key(s) without a rate limit; GET /v1/keys lists them, "
            "PATCH /v1/keys/{key_id} with a rate_limit fixes each"
        )
        self._health.degraded(GUARD_RAIL, problem, unlimited_keys=unlimited)
        if not was_degraded:
            _log.warning(problem)
            if self._metrics is not None:
                self._metrics.guardrail_violations_total.labels(kind=GUARD_RAIL).inc()
