"""Run the whole daemon tree in-process on 127.0.0.1:0 for HTTP-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from revaer.torrent import EngineTuning
from supervisors._settings import DaemonSettings
from supervisors._tree import Daemon, run_daemon
from tests.conftest import MIGRATIONS


def daemon_settings(data_dir: Path, database_url: str, *, port: int = 0) -> DaemonSettings:
    return DaemonSettings(
        data_dir=data_dir,
        bind="127.0.0.1",
        port=port,
        database_url=database_url,
        migrations_dir=MIGRATIONS,
        build_sha="test-sha",
    )


@dataclass
class RunningDaemon:
    daemon: Daemon
    client: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.daemon.urls[0]


@asynccontextmanager
async def running_daemon(
    settings: DaemonSettings, *, tuning: EngineTuning | None = None
) -> AsyncIterator[RunningDaemon]:
    """The daemon tree inside the caller's trio-asyncio loop, plus an httpx client to it."""
    box: list[Daemon] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_daemon(
                settings, on_ready=box.append, tuning=tuning, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=box[-1].urls[0], timeout=10) as client:
            yield RunningDaemon(daemon=box[-1], client=client)
        nursery.cancel_scope.cancel()
