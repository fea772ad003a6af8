"""Token buckets per key, on trio's clock (autojump: no real waiting)."""

from __future__ import annotations

import trio

from revaer.api.server import RateLimiter
from revaer.config import ConfigSnapshot, RateLimit
from revaer.runtime import HealthRegistry, Watched
from revaer.telemetry import Metrics
from tests.api.snapshots import key, snapshot_with


def limiter() -> tuple[RateLimiter, Watched[ConfigSnapshot]]:
    snapshots = Watched(snapshot_with())
    return RateLimiter(snapshots), snapshots


async def test_burst_then_refusal_then_refill(autojump_clock: trio.testing.MockClock) -> None:
    rl, _ = limiter()
    limit = RateLimit(burst=3, per_seconds=6)  # one token every 2 s
    answers = [rl.take("a", limit) for _ in range(4)]
    assert [d.allowed for d in answers if d] == [True, True, True, False]
    first, last = answers[0], answers[3]
    assert first is not None and last is not None
    assert first.headers() == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "2",
        "x-ratelimit-reset": "2",
    }
    assert last.headers()["retry-after"] == "2" and last.remaining == 0
    assert last.reset_seconds == 6
    await trio.sleep(2)
    again = rl.take("a", limit)
    assert again is not None and again.allowed and again.remaining == 0
    await trio.sleep(6)
    full = rl.take("a", limit)
    assert full is not None and full.remaining == 2  # never more than the burst


async def test_keys_have_their_own_buckets_and_unlimited_keys_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rl, _ = limiter()
    limit = RateLimit(burst=1, per_seconds=60)
    assert rl.take("a", limit).allowed  # type: ignore[union-attr]
    assert not rl.take("a", limit).allowed  # type: ignore[union-attr]
    assert rl.take("b", limit).allowed  # type: ignore[union-attr]
    assert rl.take("c", None) is None


async def test_a_changed_limit_applies_to_the_next_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rl, _ = limiter()
    for _ in range(10):
        rl.take("a", RateLimit(burst=10, per_seconds=10))
    assert not rl.take("a", RateLimit(burst=10, per_seconds=10)).allowed  # type: ignore[union-attr]
    # Raising the limit does not hand out tokens at once; lowering drops the excess.
    raised = rl.take("a", RateLimit(burst=100, per_seconds=1))
    assert raised is not None and raised.limit == 100 and not raised.allowed
    await trio.sleep(0.05)
    assert rl.take("a", RateLimit(burst=100, per_seconds=1)).allowed  # type: ignore[union-attr]
    await trio.sleep(10)
    lowered = rl.take("a", RateLimit(burst=2, per_seconds=1))
    assert lowered is not None and lowered.allowed and lowered.remaining == 1


async def test_the_actor_raises_the_guard_rail_for_keys_without_a_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    snapshots = Watched(snapshot_with(key("a", rate_limit=RateLimit(burst=1, per_seconds=1))))
    health, metrics = HealthRegistry(), Metrics()
    rl = RateLimiter(snapshots, health=health, metrics=metrics)
    async with trio.open_nursery() as nursery:
        await nursery.start(rl.run)
        await trio.sleep(0.01)
        assert "api_rate_limit_guard" not in health.snapshot().degraded
        snapshots.set(snapshot_with(key("alpha"), key("bravo")))
        await trio.sleep(0.01)
        component = health.get("api_rate_limit_guard")
        assert component is not None and component.reason is not None
        assert "2 API key(s) without a rate limit" in component.reason
        assert "alpha" not in component.reason  # health is public: no key ids
        counter = metrics.guardrail_violations_total.labels(kind="api_rate_limit_guard")
        assert counter._value.get() == 1
        snapshots.set(snapshot_with(key("a", rate_limit=RateLimit(burst=1, per_seconds=1))))
        await trio.sleep(0.01)
        assert "api_rate_limit_guard" not in health.snapshot().degraded
        nursery.cancel_scope.cancel()
