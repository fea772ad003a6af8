"""The last write of a persisting actor, when it is cancelled: shielded, and bounded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
from loguru import logger

from revaer.errors import RevaerError

__all__ = ["FINAL_WRITE_TIMEOUT", "write_once_more"]

FINAL_WRITE_TIMEOUT = 5.0
"""The final write at shutdown must not hold the tree up for long."""


async def write_once_more(flush: Callable[[], Awaitable[None]], what: str, actor: str) -> None:
    """Run ``flush`` although the caller is being cancelled, for at most a few seconds.

    A failure or a timeout is logged (as ``actor``), never raised: the actor is stopping.
    """
    report = logger.bind(actor=actor)
    with trio.CancelScope(shield=True), trio.move_on_after(FINAL_WRITE_TIMEOUT) as scope:
        try:
            await flush()
        except RevaerError as exc:
            report.error("final {} write failed: {}", what, exc)
    if scope.cancelled_caught:
        report.error("final {} write timed out after {}s", what, FINAL_WRITE_TIMEOUT)
