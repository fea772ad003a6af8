"""EngineHandle: typed async methods that send commands to the session actor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import outcome
import trio

from revaer.errors import ServiceUnavailable
from revaer.torrent._commands import (
    AddedTorrent,
    AddTorrent,
    Command,
    ConnectPeer,
    MoveStorage,
    PauseTorrent,
    Reannounce,
    Recheck,
    RemoveTorrent,
    ResumeTorrent,
    SelectFiles,
    SetRateLimits,
    SetSequential,
)
from revaer.torrent._state import EngineState

__all__ = ["CommandEnvelope", "EngineHandle", "EngineUnavailable"]

#: A command and the channel its outcome is sent back on.
CommandEnvelope: TypeAlias = tuple[Command, trio.MemorySendChannel[outcome.Outcome[Any]]]


class EngineUnavailable(ServiceUnavailable):
    """The torrent engine is not running (setup not complete, starting, or restarting)."""

    title = "Engine unavailable"
    slug = "engine-unavailable"


class EngineHandle:
    """What the API (and tests) use to drive the engine; safe to share between tasks."""

    def __init__(
        self,
        state: EngineState,
        commands: trio.MemorySendChannel[CommandEnvelope],
        *,
        timeout: float = 30.0,
    ) -> None:
        self._state = state
        self._commands = commands
        self._timeout = timeout

    @property
    def running(self) -> bool:
        """Whether the session actor is up."""
        return self._state.running

    async def call(self, command: Command) -> Any:
        """Send ``command`` and wait for its outcome; commands are never dropped silently."""
        if not self._state.running:
            raise EngineUnavailable("the torrent engine is not running")
        reply_send, reply_receive = trio.open_memory_channel[outcome.Outcome[Any]](1)
        try:
            self._commands.send_nowait((command, reply_send))
        except trio.WouldBlock:
            raise ServiceUnavailable(
                "the torrent engine is busy; retry shortly", headers={"retry-after": "1"}
            ) from None
        with trio.move_on_after(self._timeout):
            async with reply_receive:
                result = await reply_receive.receive()
            return result.unwrap()
        raise EngineUnavailable(f"the torrent engine did not answer within {self._timeout:g} s")

    async def add(self, command: AddTorrent) -> AddedTorrent:
        """Add a magnet or .torrent."""
        result: AddedTorrent = await self.call(command)
        return result

    async def pause(self, torrent_id: str) -> None:
        """Pause a torrent."""
        await self.call(PauseTorrent(torrent_id=torrent_id))

    async def resume(self, torrent_id: str) -> None:
        """Resume a torrent."""
        await self.call(ResumeTorrent(torrent_id=torrent_id))

    async def remove(self, torrent_id: str, *, delete_data: bool = False) -> None:
        """Remove a torrent (and its files with ``delete_data``)."""
        await self.call(RemoveTorrent(torrent_id=torrent_id, delete_data=delete_data))

    async def set_sequential(self, torrent_id: str, enabled: bool) -> None:
        """Sequential download on or off."""
        await self.call(SetSequential(torrent_id=torrent_id, enabled=enabled))

    async def set_rate_limits(
        self, torrent_id: str, *, download_bps: int | None, upload_bps: int | None
    ) -> None:
        """Per-torrent caps (None: no cap)."""
        await self.call(
            SetRateLimits(torrent_id=torrent_id, download_bps=download_bps, upload_bps=upload_bps)
        )

    async def select(
        self,
        torrent_id: str,
        *,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        skip_fluff: bool = False,
        priorities: Mapping[int, int] | None = None,
    ) -> None:
        """New file selection."""
        await self.call(
            SelectFiles(
                torrent_id=torrent_id,
                include=include,
                exclude=exclude,
                skip_fluff=skip_fluff,
                priorities=dict(priorities or {}),
            )
        )

    async def reannounce(self, torrent_id: str) -> None:
        """Announce now."""
        await self.call(Reannounce(torrent_id=torrent_id))

    async def recheck(self, torrent_id: str) -> None:
        """Verify data on disk."""
        await self.call(Recheck(torrent_id=torrent_id))

    async def move(self, torrent_id: str, download_dir: str) -> None:
        """Move the data to ``download_dir``."""
        await self.call(MoveStorage(torrent_id=torrent_id, download_dir=download_dir))

    async def connect_peer(self, torrent_id: str, host: str, port: int) -> None:
        """Dial a peer."""
        await self.call(ConnectPeer(torrent_id=torrent_id, host=host, port=port))
