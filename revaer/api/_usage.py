"""When each API key was last used: remembered per request, written in batches.

Writing a row per request would put a database round trip on the hot path; instead the
request path notes the time in memory (:meth:`KeyUsage.touch`) and the actor writes what
changed every few seconds and once more when it stops. A crash loses at most that interval of
``last_used_at`` updates, which is bookkeeping, not acknowledged state.
"""

from __future__ import annotations

from datetime import UTC, datetime

import trio
from loguru import logger

from revaer.db import Database
from revaer.errors import RevaerError

__all__ = ["KeyUsage"]

_FLUSH_SECONDS = 5.0
_log = logger.bind(actor="key_usage")

_UPSERT = """
INSERT INTO api_key_usage (key_id, last_used_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[])
ON CONFLICT (key_id) DO UPDATE SET last_used_at = GREATEST(api_key_usage.last_used_at,
                                                            EXCLUDED.last_used_at)
"""


class KeyUsage:
    """Last use per key id; the actor is the only writer of the table."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[str, datetime] = {}

    def touch(self, key_id: str) -> None:
        """Note that ``key_id`` was used now."""
        self._pending[key_id] = datetime.now(UTC)

    async def last_used(self) -> dict[str, datetime]:
        """Last use of every key that was ever used (stored, then this process's newer ones)."""
        rows = await self._db.fetch("SELECT key_id, last_used_at FROM api_key_usage")
        used = {row["key_id"]: row["last_used_at"] for row in rows}
        for key_id, at in self._pending.items():
            if key_id not in used or used[key_id] < at:
                used[key_id] = at
        return used

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write pending uses every few seconds, and once more when cancelled."""
        task_status.started()
        try:
            while True:
                await trio.sleep(_FLUSH_SECONDS)
                await self._flush()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await self._flush()
                except RevaerError as exc:
                    _log.warning("could not record API key use at shutdown: {}", exc.detail)

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._db.execute(_UPSERT, list(batch), list(batch.values()))
        except BaseException:
            # Keep the uses for the next attempt (newer touches win).
            self._pending = {**batch, **self._pending}
            raise
