"""Serve the app with hypercorn on trio; re-bind when the configured endpoint changes."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from loguru import logger
from quart_trio import QuartTrio

from revaer.config import ConfigSnapshot
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


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _config(host: str, port: int, graceful_timeout: float) -> Config:
    config = Config()
    config.bind = [_bind(host, port)]
    config.graceful_timeout = graceful_timeout
    # Our own access log line is written by the app (route pattern, key id); hypercorn's
    # errors go through the standard logging module into the one JSON stream.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    return config


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
    worked and reports ``http`` degraded until the configuration names another address.

    When the very first bind of the daemon (``first_bind()``) fails, that is a ``FatalError``
    saying what to do: retrying would not free the port. A later start (a restart after a
    crash) raises the ``OSError``, so the supervisor retries with backoff.
    """
    working: tuple[str, int] | None = None
    refused: tuple[str, int] | None = None
    version = snapshots.version
    target = endpoint.resolve(snapshots.value)
    while True:
        stop = trio.Event()
        try:
            _probe(*target)
        except OSError as exc:
            if working is None:
                if first_bind():
                    raise _unbindable(target, exc) from None
                raise  # a restart: the port may still be held for a moment

            refused, target = target, working
            _report(health, f"cannot listen on {_bind(*refused)}: {exc.strerror or exc}")
            continue
        async with trio.open_nursery() as nursery:
            bound: list[str] = await nursery.start(
                partial(serve, app, _config(*target, graceful_timeout), shutdown_trigger=stop.wait)
            )
            _log.info("listening on {}", ", ".join(bound))
            if working is None:
                task_status.started(bound)
            working = target
            if on_bound is not None:
                on_bound(bound)
            while True:
                version, snapshot = await snapshots.wait_newer(version)
                target = endpoint.resolve(snapshot)
                if target == working and refused is not None:
                    refused = None  # the configuration went back to where we are
                    _report(health, None)
                if target not in (working, refused):
                    break
            refused = None
            _report(health, None)
            _log.info("HTTP endpoint changed to {}; re-binding", _bind(*target))
            before_stop()  # event streams never end by themselves: close them first
            stop.set()


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
