"""Embedded PostgreSQL (pgserver) for the zero-configuration default."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revaer.errors import FatalError

__all__ = ["EmbeddedPostgres"]


@dataclass(slots=True)
class EmbeddedPostgres:
    """A PostgreSQL server running from the pgserver wheel in ``pgdata``.

    ``start`` and ``stop`` block (initdb takes a few seconds the first time): call them in a
    worker thread. The caller must hold the data directory's lock, so no other Revaer uses it.
    """

    pgdata: Path
    _server: Any = None

    def start(self) -> str:
        """Start (or re-attach to) the server; returns its connection URI."""
        from pgserver import get_server  # type: ignore[attr-defined]  # noqa: PLC0415 -- heavy, embedded mode only

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:
            raise FatalError(
                f"embedded PostgreSQL failed to start in {self.pgdata}: {exc}"
            ) from exc
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (pgserver stops it once its last live handle is gone)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _forget_dead_handles(self) -> None:
        # pgserver refcounts users by pid and only stops the server when the last one leaves;
        # a Revaer killed with SIGKILL leaves its pid behind, which would keep it running forever.
        handles = self.pgdata / ".handle_pids.json"
        if not handles.exists():
            return
        try:
            pids = [int(p) for p in json.loads(handles.read_text())]
        except (ValueError, TypeError):
            pids = []
        handles.write_text(json.dumps([p for p in pids if _alive(p)]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
