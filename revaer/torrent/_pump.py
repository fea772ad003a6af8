"""The alert pump: wakes on libtorrent's alert fd and hands alert batches to the session actor.

No Python callback is ever registered with libtorrent: libtorrent writes a byte to a pipe
when alerts are waiting, and the pump waits for that pipe to become readable, so cancelling
it is instant. Alerts are copied into records inside ``LtSession.pop_alerts`` (one call at a
time with every other libtorrent call). The pump changes nothing itself: it runs inside the
session actor's incarnation, so it always pumps the live session and stops before the session
is closed.
"""

from __future__ import annotations

import trio
from loguru import logger

from revaer.runtime import HealthRegistry, describe
from revaer.torrent._core import SessionCore
from revaer.torrent._inbox import AlertBatch, Inbound
from revaer.torrent._state import drain_pipe

__all__ = ["pump_alerts"]

_log = logger.bind(actor="alert_pump")
COMPONENT = "alert_pump"


async def pump_alerts(
    core: SessionCore,
    alert_fd: int,
    inbox: trio.MemorySendChannel[Inbound],
    health: HealthRegistry,
) -> None:
    """Pump until cancelled; a failure marks ``alert_pump`` degraded and is re-raised."""
    health.ok(COMPONENT)
    try:
        async with inbox:
            while True:
                records = await core.lt(core.session.pop_alerts)
                if records:
                    batch = AlertBatch(records=tuple(records))
                    # Popped alerts exist nowhere else: if this task is cancelled before the
                    # actor has the batch, the final save finds it here.
                    core.in_transit = batch
                    await inbox.send(batch)
                    # One batch at a time: alerts wait in libtorrent, the inbox stays free.
                    await batch.handled.wait()
                await trio.lowlevel.wait_readable(alert_fd)
                drain_pipe(alert_fd)
    except Exception as exc:
        reason = describe(exc)
        health.record_restart(COMPONENT, reason)
        health.degraded(COMPONENT, f"restarting with the session: {reason}")
        _log.error("alert pump failed: {}", reason)
        raise
