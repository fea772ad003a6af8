"""API key verification that is cheap on the hot path and bounded under attack.

argon2id costs ~100 ms and 64 MiB, far too much per request. A presented ``key_id:secret`` is
verified with argon2 once per process; the verifier then remembers a keyed BLAKE2b digest of
it (never the secret) together with the stored hash it matched. A later request with the same
header is answered from that memory while the key's snapshot record still accepts that hash:
a rotation, revocation or disable (from this process, another one, or direct SQL) reaches the
snapshot through NOTIFY and the config watcher, and from then on the remembered digest no
longer matches anything.

What an attacker can make it do is bounded:

* Unknown key ids, disabled or expired keys and wrong secrets all cost one argon2 verification
  (unknown ids against a decoy hash), so timing says nothing about which key ids exist.
* A header that failed once is remembered as failed (until the keys change): repeating it
  costs nothing.
* At most ``argon2_concurrency`` verifications run at once and at most ``max_waiting`` wait;
  beyond that the answer is 429 at once.
* Each client address and each key id may start ``failures`` verifications that fail within
  ``window_seconds`` (``app_profile.auth_throttle``); further uncached attempts get 429.
  Requests whose header is already known good are never throttled here.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import trio

from revaer.auth import decoy_hash, verify_secret
from revaer.config import ApiKeyRecord, AuthThrottle, ConfigSnapshot
from revaer.errors import InvalidParam, TooManyRequests, Unauthorized
from revaer.runtime import Watched
from revaer.telemetry import Metrics

__all__ = ["ApiKeyVerifier", "FailureWindows", "parse_api_key"]

_HEADER_POINTER = "/headers/x-revaer-api-key"
_MAX_HEADER = 512
_REMEMBERED_FAILURES = 4096


def parse_api_key(value: str | None) -> tuple[str, str]:
    """Split ``key_id:secret``; a missing or malformed header is ``Unauthorized``."""
    if not value:
        raise Unauthorized(
            "an API key is required (header x-revaer-api-key: key_id:secret)",
            invalid_params=[InvalidParam(pointer=_HEADER_POINTER, message="missing")],
        )
    key_id, sep, secret = value.partition(":")
    if not sep or not key_id or not secret or len(value) > _MAX_HEADER:
        raise Unauthorized(
            "the API key must look like key_id:secret",
            invalid_params=[InvalidParam(pointer=_HEADER_POINTER, message="malformed")],
        )
    return key_id, secret


class FailureWindows:
    """Counts attempts per name (client address, key id) in fixed windows; bounded memory.

    An attempt counts from when it starts (so a burst of concurrent guesses is bounded too)
    and is given back when it succeeds.
    """

    def __init__(self, clock: Callable[[], float] = trio.current_time) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._prune_at = 1024

    def retry_after(self, name: str, throttle: AuthThrottle) -> int | None:
        """Seconds until ``name`` may try again, or None when it may try now."""
        window = self._windows.get(name)
        if window is None:
            return None
        started, count = window
        remaining = started + throttle.window_seconds - self._clock()
        if remaining <= 0 or count < throttle.failures:
            return None
        return max(1, math.ceil(remaining))

    def begin(self, name: str, throttle: AuthThrottle) -> None:
        """Count an attempt of ``name``."""
        now = self._clock()
        started, count = self._windows.get(name, (now, 0))
        if now - started >= throttle.window_seconds:
            started, count = now, 0
        self._windows[name] = (started, count + 1)
        if len(self._windows) > self._prune_at:
            self._prune(now, throttle)

    def succeeded(self, name: str) -> None:
        """Give back the attempt of ``name`` that succeeded."""
        window = self._windows.get(name)
        if window is not None:
            self._windows[name] = (window[0], max(0, window[1] - 1))

    def _prune(self, now: float, throttle: AuthThrottle) -> None:
        self._windows = {
            name: window
            for name, window in self._windows.items()
            if now - window[0] < throttle.window_seconds
        }
        # Amortised: the next pruning waits until the table has doubled again.
        self._prune_at = max(1024, 2 * len(self._windows))


@dataclass(frozen=True, slots=True)
class _Known:
    key_id: str
    secret_hash: str


class ApiKeyVerifier:
    """Checks ``key_id:secret`` against the current snapshot's keys."""

    def __init__(
        self,
        snapshots: Watched[ConfigSnapshot],
        *,
        metrics: Metrics | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify: Callable[[str, str], bool] = verify_secret,
        argon2_concurrency: int = 1,
        max_waiting: int = 16,
    ) -> None:
        self._snapshots = snapshots
        self._metrics = metrics
        self._now = now
        self._verify = verify
        self._mac_key = os.urandom(32)
        self._decoy = decoy_hash()
        self._limiter = trio.CapacityLimiter(argon2_concurrency)
        self._max_waiting = max_waiting
        self._version = snapshots.version
        self._keys = snapshots.value.api_keys
        # digest of a header → the key and stored hash it was verified against
        self._good: dict[bytes, _Known] = {}
        self._bad: OrderedDict[bytes, None] = OrderedDict()
        self._inflight: dict[bytes, trio.Event] = {}
        self.failures = FailureWindows()

    @property
    def argon2_waiting(self) -> int:
        """Verifications waiting for the argon2 limiter."""
        return self._limiter.statistics().tasks_waiting

    async def verify(self, header: str | None, *, client: str | None = None) -> ApiKeyRecord:
        """The key record for a valid header; ``Unauthorized`` otherwise (never says which part).

        ``client`` is the caller's address, for the failed-authentication throttle.
        """
        try:
            key_id, _ = parse_api_key(header)
        except Unauthorized as exc:
            self._failed(exc.invalid_params[0].message)
            raise
        assert header is not None
        self._follow_snapshot()
        digest = self._digest(header)
        while True:
            record = self._cached(digest)
            if record is not None:
                self._count("ok", cached=True)
                return record
            if digest in self._bad:
                self._count("invalid", cached=True)
                self._failed("invalid")
                raise Unauthorized("invalid API key")
            pending = self._inflight.get(digest)
            if pending is None:
                break
            await pending.wait()  # the same header is being verified: share its answer
        return await self._verify_slowly(digest, header, key_id, client)

    def still_valid(self, header: str) -> bool:
        """Whether ``header``, verified before, is still accepted (for long-lived streams)."""
        self._follow_snapshot()
        return self._cached(self._digest(header)) is not None

    def _digest(self, header: str) -> bytes:
        return hashlib.blake2b(header.encode(), key=self._mac_key, digest_size=32).digest()

    def _follow_snapshot(self) -> None:
        # Any change of the keys forgets remembered failures (a secret may have become
        # valid) and remembered successes of hashes no longer stored.
        if self._snapshots.version == self._version:
            return
        self._version = self._snapshots.version
        keys = self._snapshots.value.api_keys
        if keys == self._keys:
            return
        self._keys = keys
        self._bad.clear()
        stored = {h for k in keys for h in (k.secret_hash, k.previous_secret_hash) if h}
        self._good = {d: known for d, known in self._good.items() if known.secret_hash in stored}

    def _cached(self, digest: bytes) -> ApiKeyRecord | None:
        known = self._good.get(digest)
        if known is None:
            return None
        record = self._snapshots.value.api_key(known.key_id)
        now = self._now()
        if (
            record is not None
            and record.usable(now)
            and known.secret_hash in record.accepted_hashes(now)
        ):
            return record
        del self._good[digest]
        return None

    async def _verify_slowly(
        self, digest: bytes, header: str, key_id: str, client: str | None
    ) -> ApiKeyRecord:
        throttle = AuthThrottle.of(self._snapshots.value.app_profile)
        names = [f"key:{key_id}"] + ([f"client:{client}"] if client else [])
        waits = [w for w in (self.failures.retry_after(n, throttle) for n in names) if w]
        if waits:
            self._failed("throttled")
            raise TooManyRequests(
                "too many failed authentications; try again later",
                headers={"retry-after": str(max(waits))},
            )
        if self.argon2_waiting >= self._max_waiting:
            self._failed("busy")
            raise TooManyRequests(
                "too many authentications in progress; try again shortly",
                headers={"retry-after": "1"},
            )
        for name in names:
            self.failures.begin(name, throttle)
        done = self._inflight[digest] = trio.Event()
        try:
            known = await self._check(header, key_id)
        finally:
            del self._inflight[digest]
            done.set()
        self._count("ok" if known else "invalid", cached=False)
        if known is None:
            self._remember_failure(digest)
            self._failed("invalid")
            raise Unauthorized("invalid API key")
        for name in names:
            self.failures.succeeded(name)
        self._good[digest] = known
        record = self._cached(digest)
        if record is None:  # the key changed while argon2 ran
            self._failed("invalid")
            raise Unauthorized("invalid API key")
        return record

    async def _check(self, header: str, key_id: str) -> _Known | None:
        """One argon2 verification whatever the key's state: the same cost for every refusal."""
        secret = header.partition(":")[2]
        record = self._snapshots.value.api_key(key_id)
        now = self._now()
        candidates = record.accepted_hashes(now) if record is not None else (self._decoy,)
        for secret_hash in candidates:
            if await trio.to_thread.run_sync(
                self._verify, secret_hash, secret, limiter=self._limiter
            ):
                if record is None or not record.usable(now):
                    return None
                return _Known(key_id=key_id, secret_hash=secret_hash)
        return None

    def _remember_failure(self, digest: bytes) -> None:
        self._bad[digest] = None
        if len(self._bad) > _REMEMBERED_FAILURES:
            self._bad.popitem(last=False)

    def _count(self, result: str, *, cached: bool) -> None:
        if self._metrics is not None:
            self._metrics.api_key_verifications_total.labels(
                result=result, cached="true" if cached else "false"
            ).inc()

    def _failed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.api_auth_failures_total.labels(reason=reason).inc()
