"""The API key verifier: argon2 once per secret, same cost for every refusal, bounded work.

argon2 is replaced by a counting function (the seam the verifier takes), so the tests say how
often the expensive check ran, not how long it took.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from revaer.api.server import ApiKeyVerifier
from revaer.config import ConfigSnapshot
from revaer.errors import TooManyRequests, Unauthorized
from revaer.runtime import Watched
from revaer.telemetry import Metrics
from tests.api.snapshots import key, snapshot_with

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Argon2:
    """A stand-in for argon2: ``hash-of-<secret>`` matches ``<secret>``; calls are recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.gate: trio.Event | None = None

    def __call__(self, secret_hash: str, secret: str) -> bool:
        self.calls.append((secret_hash, secret))
        if self.gate is not None:
            trio.from_thread.run(self.gate.wait)
        return secret_hash == f"hash-of-{secret}"


def verifier(
    snapshot: ConfigSnapshot, **kwargs: object
) -> tuple[ApiKeyVerifier, Argon2, Watched[ConfigSnapshot], Metrics]:
    argon2, metrics, snapshots = Argon2(), Metrics(), Watched(snapshot)
    made = ApiKeyVerifier(snapshots, metrics=metrics, now=lambda: NOW, verify=argon2, **kwargs)  # type: ignore[arg-type]
    return made, argon2, snapshots, metrics


def count(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_argon2_runs_once_per_secret_then_the_cache_answers() -> None:
    v, argon2, _, metrics = verifier(snapshot_with(key("ops")))
    for _ in range(1000):
        record = await v.verify("ops:right", client="127.0.0.1")
        assert record.key_id == "ops"
    assert len(argon2.calls) == 1
    ok_cached = {"result": "ok", "cached": "true"}
    assert count(metrics, "revaer_api_key_verifications_total", **ok_cached) == 999
    assert count(metrics, "revaer_api_key_verifications_total", result="ok", cached="false") == 1


async def test_concurrent_first_uses_share_one_verification() -> None:
    v, argon2, _, _ = verifier(snapshot_with(key("ops")))
    argon2.gate = trio.Event()
    results: list[str] = []

    async def use() -> None:
        results.append((await v.verify("ops:right")).key_id)

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(use)
        await trio.testing.wait_all_tasks_blocked()
        argon2.gate.set()
    assert results == ["ops"] * 20 and len(argon2.calls) == 1


async def test_unknown_ids_disabled_keys_and_wrong_secrets_all_cost_one_argon2() -> None:
    v, argon2, _, metrics = verifier(
        snapshot_with(key("ops"), key("off", enabled=False), key("old", expires_at=NOW))
    )
    for header in ("ghost:right", "ops:wrong", "off:right", "old:right"):
        with pytest.raises(Unauthorized) as refused:
            await v.verify(header)
        assert refused.value.detail == "invalid API key"  # never says which part
    assert len(argon2.calls) == 4
    decoy = argon2.calls[0][0]
    assert decoy.startswith("$argon2id$") and decoy != "hash-of-right"
    # The same wrong header again is answered from memory, also for unknown ids.
    for header in ("ghost:right", "ops:wrong"):
        with pytest.raises(Unauthorized):
            await v.verify(header)
    assert len(argon2.calls) == 4
    assert count(metrics, "revaer_api_auth_failures_total", reason="invalid") == 6


async def test_missing_and_malformed_headers_never_reach_argon2() -> None:
    v, argon2, _, metrics = verifier(snapshot_with(key("ops")))
    for header, reason in (
        (None, "missing"),
        ("no-colon", "malformed"),
        ("x:" + "s" * 600, "malformed"),
    ):
        with pytest.raises(Unauthorized):
            await v.verify(header)
        assert count(metrics, "revaer_api_auth_failures_total", reason=reason) >= 1
    assert argon2.calls == []


async def test_a_key_change_is_seen_by_the_next_request() -> None:
    v, argon2, snapshots, _ = verifier(snapshot_with(key("ops")))
    await v.verify("ops:right")
    # Rotated (no grace): the old secret is refused at once, the new one verified once.
    snapshots.set(snapshot_with(key("ops", secret_hash="hash-of-new"), revision=2))
    with pytest.raises(Unauthorized):
        await v.verify("ops:right")
    assert (await v.verify("ops:new")).key_id == "ops"
    # Disabled: refused although the secret is remembered as good.
    snapshots.set(snapshot_with(key("ops", secret_hash="hash-of-new", enabled=False), revision=3))
    with pytest.raises(Unauthorized):
        await v.verify("ops:new")
    # Revoked (gone from the snapshot).
    snapshots.set(snapshot_with(revision=4))
    with pytest.raises(Unauthorized):
        await v.verify("ops:new")
    # A secret that failed before can become valid: failures are forgotten on a key change.
    snapshots.set(snapshot_with(key("ops", secret_hash="hash-of-wrong"), revision=5))
    assert (await v.verify("ops:wrong")).key_id == "ops"
    assert len(argon2.calls) >= 4


async def test_a_rotated_out_secret_works_only_within_its_grace() -> None:
    later = [NOW]
    argon2, snapshots = (
        Argon2(),
        Watched(
            snapshot_with(
                key(
                    "ops",
                    secret_hash="hash-of-new",
                    previous=("hash-of-old", NOW + timedelta(seconds=60)),
                )
            )
        ),
    )
    v = ApiKeyVerifier(snapshots, now=lambda: later[0], verify=argon2)
    assert (await v.verify("ops:old")).key_id == "ops"
    assert (await v.verify("ops:new")).key_id == "ops"
    later[0] = NOW + timedelta(seconds=61)
    with pytest.raises(Unauthorized):
        await v.verify("ops:old")  # remembered as good, but its grace is over
    assert (await v.verify("ops:new")).key_id == "ops"


async def test_failures_are_throttled_per_address_and_per_key_id(
    autojump_clock: trio.testing.MockClock,
) -> None:
    throttle = {"failures": 3, "window_seconds": 60}
    v, argon2, _, metrics = verifier(snapshot_with(key("ops"), key("ci"), auth_throttle=throttle))
    for n in range(3):
        with pytest.raises(Unauthorized):
            await v.verify(f"ops:guess-{n}", client="10.0.0.9")
    with pytest.raises(TooManyRequests) as throttled:
        await v.verify("ops:guess-3", client="10.0.0.9")
    assert 1 <= int(throttled.value.headers["retry-after"]) <= 60
    assert len(argon2.calls) == 3
    # The same address guessing another key id: still throttled (per address).
    with pytest.raises(TooManyRequests):
        await v.verify("ci:guess", client="10.0.0.9")
    # Another address guessing the same key id: throttled too (per key id) …
    with pytest.raises(TooManyRequests):
        await v.verify("ops:guess-4", client="10.0.0.7")
    # … but another address with another key is unaffected, and a known-good header never
    # waits for the throttle.
    assert (await v.verify("ci:right", client="10.0.0.7")).key_id == "ci"
    assert (await v.verify("ci:right", client="10.0.0.9")).key_id == "ci"
    assert count(metrics, "revaer_api_auth_failures_total", reason="throttled") == 3
    await trio.sleep(60)
    assert (await v.verify("ops:right", client="10.0.0.9")).key_id == "ops"


async def test_argon2_work_waiting_is_bounded() -> None:
    v, argon2, _, metrics = verifier(snapshot_with(key("ops")), max_waiting=2)
    argon2.gate = trio.Event()
    outcomes: list[str] = []

    async def guess(n: int) -> None:
        try:
            await v.verify(f"ops:guess-{n}", client=f"10.0.1.{n}")
        except TooManyRequests:
            outcomes.append("busy")
        except Unauthorized:
            outcomes.append("invalid")

    async with trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(guess, n)
        await trio.testing.wait_all_tasks_blocked()
        argon2.gate.set()
    # one running + two waiting; the other three were refused without argon2
    assert sorted(outcomes) == ["busy"] * 3 + ["invalid"] * 3
    assert len(argon2.calls) == 3
    assert count(metrics, "revaer_api_auth_failures_total", reason="busy") == 3
