"""What the session actor receives: one inbox per session incarnation, one message at a time.

Commands come from ``EngineHandle`` (each with a :class:`Reply` slot and the request id it was
sent under), alert batches from the alert pump, and timer and settings messages from the
actor's own helper tasks. Because one task handles them in order, a command never interleaves
with an alert's handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import outcome
import trio

from revaer.config import ConfigSnapshot
from revaer.torrent._commands import (
    AddTorrent,
    ChangeTags,
    ConnectPeer,
    Inspect,
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
from revaer.torrent._lt import AddParams
from revaer.torrent._records import AlertRecord

__all__ = [
    "AlertBatch",
    "ApplySettings",
    "CommandRequest",
    "FlushProgress",
    "Inbound",
    "PreparedAdd",
    "PreparedAdds",
    "Reply",
    "SaveDue",
    "SessionCommand",
]


class Reply:
    """The one-shot answer to one command, shared by its caller and the session actor.

    The caller sets ``abandoned`` when it stops waiting (timeout or cancellation); the actor
    then drops the command if it has not started it, so nothing runs later unasked.
    """

    __slots__ = ("_done", "_result", "abandoned")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._result: outcome.Outcome[Any] | None = None
        self.abandoned = False

    @property
    def answered(self) -> bool:
        """Whether an outcome was set."""
        return self._result is not None

    def set(self, result: outcome.Outcome[Any]) -> None:
        """Answer (only the first answer counts)."""
        if self._result is None:
            self._result = result
            self._done.set()

    async def wait(self) -> outcome.Outcome[Any]:
        """The outcome, once set."""
        await self._done.wait()
        assert self._result is not None
        return self._result


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedAdd:
    """An ``AddTorrent`` checked and parsed in the caller's task, ready for the session."""

    command: AddTorrent
    torrent_id: str
    source: AddParams


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedAdds:
    """One or more adds in one command; answered with one result per item, in order."""

    items: tuple[PreparedAdd, ...]


SessionCommand = (
    PreparedAdds
    | PauseTorrent
    | ResumeTorrent
    | RemoveTorrent
    | SetSequential
    | SetRateLimits
    | SelectFiles
    | Reannounce
    | Recheck
    | MoveStorage
    | ConnectPeer
    | ChangeTags
    | Inspect
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest:
    """A command, the slot its outcome goes to, and the request id it was sent under.

    A context variable does not cross the inbox: the handle captures the id where the command
    is sent, and the session binds it again while it handles the command.
    """

    command: SessionCommand
    reply: Reply
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertBatch:
    """One ``pop_alerts`` worth of records; ``handled`` is set once the actor is through it.

    The pump waits for ``handled`` before it takes the next batch, so alerts queue in
    libtorrent (not in the inbox) while the actor is busy, and commands always find room.
    """

    records: tuple[AlertRecord, ...]
    handled: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushProgress:
    """A tick: publish the progress that waits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveDue:
    """Time for the periodic resume save of the torrents that changed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplySettings:
    """A new configuration snapshot to apply to the live session."""

    snapshot: ConfigSnapshot


Inbound = CommandRequest | AlertBatch | FlushProgress | SaveDue | ApplySettings
