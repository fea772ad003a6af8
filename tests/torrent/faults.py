"""Fault-injecting seams for engine tests: a libtorrent session and a resume store that fail,
stall or record on demand. The product takes them through ``EngineTuning.session_factory`` and
``EngineTuning.store_factory``; nothing here is known to product code.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio

from revaer.runtime import HealthRegistry
from revaer.torrent import EngineTuning, LtSession, ResumeStore
from tests.torrent.engine_harness import TEST_SETTINGS

T = TypeVar("T")


class InjectedFault(RuntimeError):
    """Raised where a test asked for a failure."""


@dataclass
class Faults:
    """What the next calls should do; shared by every session and store the engine creates.

    ``arm("pump")`` fails the next ``pop_alerts`` (the alert pump), ``arm("session")`` the next
    ``post_torrent_updates`` (the session's own tick), ``arm("store")`` the next store write with
    an unexpected error, ``arm("disk")`` with an ``OSError`` (a failing disk).
    """

    store_delay: float = 0.0
    """Seconds every store operation waits before it runs (to hold the session in a command)."""
    pending: Counter[str] = field(default_factory=Counter)
    sessions: list[FaultySession] = field(default_factory=list)
    stores: list[FaultyStore] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    # Every LtSession call: (method, thread name); concurrent calls are counted.
    calls: list[tuple[str, str]] = field(default_factory=list)
    max_concurrent: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, what: str, times: int = 1) -> None:
        self.pending[what] += times

    def take(self, what: str) -> bool:
        with self._lock:
            if self.pending[what] > 0:
                self.pending[what] -= 1
                self.fired[what] += 1
                return True
            return False

    def session_factory(self, settings: Mapping[str, Any]) -> LtSession:
        session = FaultySession(settings, self)
        self.sessions.append(session)
        return session

    def store_factory(self, directory: Path, *, health: HealthRegistry) -> ResumeStore:
        store = FaultyStore(directory, health=health, faults=self)
        self.stores.append(store)
        return store

    def tuning(self, **overrides: Any) -> EngineTuning:
        options: dict[str, Any] = {
            "extra_settings": TEST_SETTINGS,
            "session_factory": self.session_factory,
            "store_factory": self.store_factory,
            # The "session" fault fires at the next status request: keep them coming when idle.
            "idle_update_interval": 0.05,
        }
        options.update(overrides)
        return EngineTuning(**options)

    def record(self, name: str, fn: Callable[[], T]) -> T:
        with self._lock:
            self.calls.append((name, threading.current_thread().name))
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        try:
            return fn()
        finally:
            with self._lock:
                self._in_flight -= 1


class FaultySession(LtSession):
    """A real libtorrent session whose calls are recorded and can be made to fail."""

    def __init__(self, settings: Mapping[str, Any], faults: Faults) -> None:
        self._faults = faults
        faults.record("__init__", lambda: super(FaultySession, self).__init__(settings))

    def pop_alerts(self) -> Any:
        if self._faults.take("pump"):
            raise InjectedFault("injected alert pump failure")
        return self._faults.record("pop_alerts", super().pop_alerts)

    def post_torrent_updates(self) -> None:
        if self._faults.take("session"):
            raise InjectedFault("injected session failure")
        self._faults.record("post_torrent_updates", super().post_torrent_updates)

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        self._faults.record(
            "apply_settings", lambda: super(FaultySession, self).apply_settings(settings)
        )

    def async_add(self, *args: Any, **kwargs: Any) -> Any:
        return self._faults.record(
            "async_add", lambda: super(FaultySession, self).async_add(*args, **kwargs)
        )

    def close(self) -> None:
        self._faults.record("close", super().close)


class FaultyStore(ResumeStore):
    """A real resume store whose file operations can be slowed down or made to fail."""

    def __init__(self, directory: Path, *, health: HealthRegistry, faults: Faults) -> None:
        super().__init__(directory, health=health)
        self._faults = faults
        self.started = 0
        """File operations begun (each counted before its delay)."""

    async def run_io(self, fn: Callable[..., T], *args: Any) -> T:
        self.started += 1
        if self._faults.store_delay:
            await trio.sleep(self._faults.store_delay)
        if self._faults.take("store"):
            raise InjectedFault("injected resume store failure")
        if self._faults.take("disk"):
            raise OSError(5, "Input/output error (injected)")
        return await super().run_io(fn, *args)
