"""Serve the app with hypercorn on trio; re-bind when the configured endpoint changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from loguru import logger
from quart_trio import QuartTrio

from revaer.config import ConfigSnapshot
from revaer.runtime import Watched

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
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 75
    return config


async def serve_http(
    app: QuartTrio,
    snapshots: Watched[ConfigSnapshot],
    endpoint: Endpoint,
    *,
    on_bound: Callable[[list[str]], None] | None = None,
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ready once bound (reports the bound URLs).

    When the effective bind address or port changes in the configuration, the server drains
    and binds again at the new address.
    """
    ready = False
    while True:
        host, port = endpoint.resolve(snapshots.value)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            bound: list[str] = await nursery.start(
                partial(
                    serve, app, _config(host, port, graceful_timeout), shutdown_trigger=stop.wait
                )
            )
            _log.info("listening on {}", ", ".join(bound))
            if on_bound is not None:
                on_bound(bound)
            if not ready:
                task_status.started(bound)
                ready = True
            version = snapshots.version
            while True:
                version, snapshot = await snapshots.wait_newer(version)
                if endpoint.resolve(snapshot) != (host, port):
                    _log.info("HTTP endpoint changed; re-binding")
                    stop.set()
                    break
