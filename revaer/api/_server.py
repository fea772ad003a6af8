"""Serve the app with hypercorn on trio; re-bind when the endpoint or server limits change.

The server-level ``HttpLimits`` (head and keep-alive timeouts, connection count, and the size
of hypercorn's own head buffer derived from the header and URL bounds) apply when the server
binds, so a change to them re-binds at the same address. The request-level bounds are read
for each request by ``HardeningMiddleware``, which the app installs.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import trio
from hypercorn.config import Config
from loguru import logger
from quart_trio import QuartTrio

from revaer.api._hypercorn_seams import ConnectionLimits, serve
from revaer.config import ConfigSnapshot, HttpLimits
from revaer.errors import FatalError
from revaer.runtime import HealthRegistry, Watched

__all__ = ["Endpoint", "serve_http"]

_log = logger.bind(actor="http")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where to listen; ``host``/``port`` set here override app_profile's."""

    host: str | None = None
    port: int | None = None

    def resolve(self, snapshot: ConfigSnapshot) -> tuple[str, int]:
        """The effective address: flags and environment win over the stored profile."""
        host = self.host if self.host is not None else str(snapshot.app_profile["bind_addr"])
        port = self.port if self.port is not None else int(snapshot.app_profile["http_port"])
        return host, port


@dataclass(frozen=True, slots=True, kw_only=True)
class _Binding:
    """What a bind fixes: the address and the server-level limits."""

    host: str
    port: int
    header_timeout: int
    keep_alive: int
    max_connections: int
    head_buffer: int
    """hypercorn's bound on an unparsed request head (a bare 431 above it)."""

    @classmethod
    def of(cls, endpoint: Endpoint, snapshot: ConfigSnapshot) -> _Binding:
        host, port = endpoint.resolve(snapshot)
        limits = HttpLimits.of(snapshot.app_profile)
        return cls(
            host=host,
            port=port,
            header_timeout=limits.header_timeout_seconds,
            keep_alive=limits.keep_alive_seconds,
            max_connections=limits.max_connections,
            head_buffer=_head_buffer(limits),
        )

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def at(self, address: tuple[str, int]) -> _Binding:
        return replace(self, host=address[0], port=address[1])

    def config(self, graceful_timeout: float) -> Config:
        config = Config()
        config.bind = [_bind(*self.address)]
        config.graceful_timeout = graceful_timeout
        # Our own access log line is written by the app (route pattern, key id); hypercorn's
        # errors go through the standard logging module into the one JSON stream.
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.keep_alive_timeout = self.keep_alive
        # Connections over max_connections wait here for the listener to accept them.
        config.backlog = max(128, min(self.max_connections, 4096))
        config.h11_max_incomplete_size = self.head_buffer
        return config

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(
            header_timeout=self.header_timeout, max_connections=self.max_connections
        )


def _head_buffer(limits: HttpLimits) -> int:
    """Twice the largest head the app accepts, rounded up to a power of two (64 KiB at least).

    Over ``max_header_bytes``/``max_url_bytes`` by up to that margin, the app's 431/414 Problem
    answers; rounding keeps most changes to those (live) bounds from re-binding the server.
    """
    wanted = 2 * (limits.max_header_bytes + limits.max_url_bytes)
    return max(1 << 16, 1 << (wanted - 1).bit_length())


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve_http(
    app: QuartTrio,
    snapshots: Watched[ConfigSnapshot],
    endpoint: Endpoint,
    *,
    health: HealthRegistry | None = None,
    on_bound: Callable[[list[str]], None] | None = None,
    first_bind: Callable[[], bool] = lambda: True,
    before_stop: Callable[[], None] = lambda: None,
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ready once bound (reports the bound URLs).

    When the effective bind address or port changes in the configuration, the server drains
    and binds at the new address. If that address cannot be bound, it goes back to the one that
    worked and reports ``http`` degraded until the configuration names another address. A
    change of the server-level limits re-binds in the same way (at the address in use while
    the configured one is refused).

    The server speaks HTTP/1.1 only (see ``_hypercorn_seams``): an ``Upgrade: h2c`` request
    is answered in HTTP/1.1 as if the header were absent, and an HTTP/2 prior-knowledge
    preface gets a 400 Problem and the connection closed (``HardeningMiddleware``).

    When the very first bind of the daemon (``first_bind()``) fails, that is a ``FatalError``
    saying what to do: retrying would not free the port. A later start (a restart after a
    crash) raises the ``OSError``, so the supervisor retries with backoff.
    """
    working: _Binding | None = None
    refused: tuple[str, int] | None = None
    version = snapshots.version
    target = _Binding.of(endpoint, snapshots.value)
    while True:
        stop = trio.Event()
        try:
            _probe(*target.address)
        except OSError as exc:
            if working is None:
                if first_bind():
                    raise _unbindable(target.address, exc) from None
                raise  # a restart: the port may still be held for a moment
            if target.address == working.address:
                raise  # our own address was taken while re-binding: restart with backoff
            refused, target = target.address, target.at(working.address)
            _report(health, f"cannot listen on {_bind(*refused)}: {exc.strerror or exc}")
            continue
        async with trio.open_nursery() as nursery:
            bound: list[str] = await nursery.start(
                partial(
                    serve,
                    app,
                    target.config(graceful_timeout),
                    target.connection_limits(),
                    shutdown_trigger=stop.wait,
                )
            )
            _log.info("listening on {}", ", ".join(bound))
            if working is None:
                task_status.started(bound)
            working = target
            if on_bound is not None:
                on_bound(bound)
            while True:
                version, snapshot = await snapshots.wait_newer(version)
                target, still_refused = _follow(_Binding.of(endpoint, snapshot), working, refused)
                if refused is not None and still_refused is None:
                    _report(health, None)  # back where we are, or on to another address
                refused = still_refused
                if target != working:
                    break
            if target.address != working.address:
                _log.info("HTTP endpoint changed to {}; re-binding", _bind(*target.address))
            else:
                _log.info("HTTP server limits changed; re-binding")
            before_stop()  # event streams never end by themselves: close them first
            stop.set()


def _follow(
    wanted: _Binding, working: _Binding, refused: tuple[str, int] | None
) -> tuple[_Binding, tuple[str, int] | None]:
    """Where to serve for ``wanted``, and the address still refused (served elsewhere)."""
    if wanted.address == refused:
        return wanted.at(working.address), refused
    return wanted, None


def _unbindable(target: tuple[str, int], exc: OSError) -> FatalError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        fix = "stop the other program, or choose another port with --port or REVAER_HTTP_PORT"
    elif exc.errno == errno.EADDRNOTAVAIL:
        fix = "this host has no such address; choose another with --bind or REVAER_BIND_ADDR"
    elif exc.errno == errno.EACCES:
        fix = "ports below 1024 need privileges; choose a port from 1024 with --port"
    else:
        fix = "choose another address with --bind/--port"
    return FatalError(f"cannot listen on {_bind(*target)}: {reason}; {fix}")


def _probe(host: str, port: int) -> None:
    """Raise ``OSError`` if ``host:port`` cannot be bound.

    hypercorn leaks its sockets when a bind fails (and wraps the error in a group), so the
    address is tried here first, with the same SO_REUSEADDR it uses.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _report(health: HealthRegistry | None, problem: str | None) -> None:
    if problem is not None:
        _log.error("{}; still serving on the previous address", problem)
    if health is not None:
        if problem is None:
            health.ok("http")
        else:
            health.degraded("http", problem + "; still serving on the previous address")
