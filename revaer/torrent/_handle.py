"""EngineHandle: typed async methods that send commands to the session actor.

Stateless checks and parsing happen here, in the caller's task (a bad command never reaches
the actor, a big .torrent is parsed in parallel with other work); the actor does the rest.
Each command takes along the request id bound in the caller's task (an HTTP request's), so
the session's log lines and events for it carry that id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from revaer.errors import InvalidParam, RevaerError, ServiceUnavailable, ValidationFailed
from revaer.runtime import current_request_id
from revaer.torrent._commands import (
    AddedTorrent,
    AddTorrent,
    ChangeTags,
    Command,
    ConnectPeer,
    Inspect,
    Inspected,
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
from revaer.torrent._inbox import (
    CommandRequest,
    PreparedAdd,
    PreparedAdds,
    Reply,
    SessionCommand,
)
from revaer.torrent._lt import parse_magnet, parse_torrent
from revaer.torrent._state import EngineState
from revaer.torrent._validate import (
    check_add,
    check_caps,
    check_connect,
    check_select,
    check_tags,
    torrent_id_of,
)

__all__ = ["MAX_BULK_ADD", "EngineHandle", "EngineUnavailable", "HandleStatistics"]

MAX_BULK_ADD = 1000
"""Torrents one ``add_many`` may carry."""


class EngineUnavailable(ServiceUnavailable):
    """The torrent engine is not running (setup not complete, starting, or restarting)."""

    title = "Engine unavailable"
    slug = "engine-unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class HandleStatistics:
    """What :meth:`EngineHandle.statistics` returns."""

    running: bool
    queued: int
    """Commands (and internal messages) waiting in the session's inbox."""
    torrents: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    """Torrents per published state (``unknown`` before the first status)."""


# Parsing a typical .torrent takes tens of microseconds, far less than a thread round trip;
# only big ones (many files, long piece lists) go to a worker thread.
_PARSE_INLINE = 64 * 1024


async def prepare_add(command: AddTorrent) -> PreparedAdd:
    """Check and parse an add (``ValidationFailed`` with pointers); off the event loop."""
    check_add(command)
    if command.magnet is not None:
        source = parse_magnet(command.magnet)
    elif len(command.metainfo or b"") <= _PARSE_INLINE:
        source = parse_torrent(command.metainfo or b"")
    else:
        assert command.metainfo is not None
        source = await trio.to_thread.run_sync(parse_torrent, command.metainfo)
    if command.trackers:
        source.add_trackers(command.trackers)
    return PreparedAdd(command=command, torrent_id=torrent_id_of(command.torrent_id), source=source)


class EngineHandle:
    """What the API (and tests) use to drive the engine; safe to share between tasks."""

    def __init__(self, state: EngineState, *, timeout: float = 30.0) -> None:
        self._state = state
        self._timeout = timeout

    @property
    def running(self) -> bool:
        """Whether the session actor is serving commands."""
        return self._state.running and self._state.inbox is not None

    def statistics(self) -> HandleStatistics:
        """Whether the engine runs, and how much waits for it."""
        inbox = self._state.inbox
        queued = inbox.statistics().current_buffer_used if inbox is not None else 0
        by_state = {
            (state.value if state is not None else "unknown"): count
            for state, count in self._state.by_state.items()
            if count > 0
        }
        return HandleStatistics(
            running=self.running,
            queued=queued,
            torrents=len(self._state.entries),
            by_state=by_state,
        )

    async def call(self, command: Command) -> Any:
        """Send ``command`` and wait for its outcome; commands are never dropped silently.

        Raises what the command raises (``ValidationFailed``, ``NotFound``, ``Conflict``, …),
        ``EngineUnavailable`` when no session serves commands or it stopped before answering,
        and ``ServiceUnavailable`` (with ``retry-after``) when its queue is full. A command
        whose caller stopped waiting is dropped unless it had already started.
        """
        if isinstance(command, AddTorrent):
            return await self.add(command)
        # A checkpoint on every path, as trio's own calls do: a caller looping on refusals
        # must not starve the engine it waits for.
        await trio.lowlevel.checkpoint()
        if isinstance(command, SelectFiles):
            check_select(command)
        elif isinstance(command, SetRateLimits):
            check_caps(command.download_bps, command.upload_bps)
        elif isinstance(command, ConnectPeer):
            check_connect(command)
        elif isinstance(command, ChangeTags):
            check_tags(command)
        return await self._send(command)

    async def add(self, command: AddTorrent) -> AddedTorrent:
        """Add a magnet or .torrent."""
        [result] = await self.add_many([command])
        if isinstance(result, RevaerError):
            raise result
        return result

    async def add_many(self, commands: Sequence[AddTorrent]) -> list[AddedTorrent | RevaerError]:
        """Add up to 1,000 torrents in one command: one store batch, one libtorrent call.

        Each item gets its own result, in order: its ``AddedTorrent``, or the error that
        refused it (``ValidationFailed``, ``Conflict``, ``ResumeStoreUnavailable``). Raises
        only what stops the whole command (engine unavailable or busy, too many items).
        """
        await trio.lowlevel.checkpoint()
        if len(commands) > MAX_BULK_ADD:
            raise ValidationFailed(
                [InvalidParam(pointer="", message=f"at most {MAX_BULK_ADD} torrents per request")]
            )
        results: list[AddedTorrent | RevaerError | None] = [None] * len(commands)
        prepared: list[tuple[int, PreparedAdd]] = []
        for index, command in enumerate(commands):
            try:
                prepared.append((index, await prepare_add(command)))
            except ValidationFailed as exc:
                results[index] = exc
        if prepared:
            answers = await self._send(PreparedAdds(items=tuple(p for _, p in prepared)))
            for (index, _), answer in zip(prepared, answers, strict=True):
                results[index] = answer
        return [r for r in results if r is not None]

    async def _send(self, request: SessionCommand) -> Any:
        inbox = self._state.inbox
        if inbox is None or not self._state.running:
            raise EngineUnavailable("the torrent engine is not running", headers=_RETRY)
        reply = Reply()
        try:
            inbox.send_nowait(
                CommandRequest(command=request, reply=reply, request_id=current_request_id())
            )
        except trio.WouldBlock:
            raise ServiceUnavailable(
                "the torrent engine is busy; retry shortly", headers=_RETRY
            ) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise EngineUnavailable("the torrent engine is restarting", headers=_RETRY) from None
        try:
            with trio.move_on_after(self._timeout):
                result = await reply.wait()
                return result.unwrap()
        finally:
            if not reply.answered:
                reply.abandoned = True
        raise EngineUnavailable(
            f"the torrent engine did not answer within {self._timeout:g} s; "
            "the command was dropped unless it had started",
            headers=_RETRY,
        )

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
        """Move the data to ``download_dir`` (confirmed later by a storage alert)."""
        await self.call(MoveStorage(torrent_id=torrent_id, download_dir=download_dir))

    async def change_tags(
        self,
        torrent_id: str,
        *,
        replace: tuple[str, ...] | None = None,
        add: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
    ) -> None:
        """Set, add or remove tags."""
        await self.call(ChangeTags(torrent_id=torrent_id, replace=replace, add=add, remove=remove))

    async def inspect(self, torrent_id: str) -> Inspected:
        """libtorrent's live view of a torrent (file progress, trackers, pieces)."""
        result: Inspected = await self.call(Inspect(torrent_id=torrent_id))
        return result

    async def connect_peer(self, torrent_id: str, host: str, port: int) -> None:
        """Dial a peer."""
        await self.call(ConnectPeer(torrent_id=torrent_id, host=host, port=port))


_RETRY = {"retry-after": "1"}
