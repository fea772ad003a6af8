"""Embedded PostgreSQL (pgserver) for the zero-configuration default."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from revaer.errors import FatalError

__all__ = ["EmbeddedPostgres"]

_log = logger.bind(actor="database")


@dataclass(slots=True)
class EmbeddedPostgres:
    """A PostgreSQL server running from the pgserver wheel in ``pgdata``.

    ``start`` and ``stop`` block (initdb takes a few seconds the first time): call them in a
    worker thread. The caller must hold the data directory's lock, so no other Revaer uses it.
    """

    pgdata: Path
    _server: Any = None
    _postmaster: int | None = None

    @property
    def data_present(self) -> bool:
        """Whether the data directory still looks like a PostgreSQL cluster."""
        return (self.pgdata / "PG_VERSION").is_file()

    def start(self) -> str:
        """Start (or re-attach to) the server; returns its connection URI."""
        # pgserver keeps its lock under the user's runtime dir; without XDG_RUNTIME_DIR (root,
        # systemd services) platformdirs warns on import and falls back to /tmp/runtime-<uid>,
        # which works: the warning is nothing an operator can act on.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pgserver import get_server  # type: ignore[attr-defined]  # noqa: PLC0415 -- heavy, embedded mode only

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:
            raise FatalError(
                f"embedded PostgreSQL failed to start in {self.pgdata}: {exc}"
            ) from exc
        self._postmaster = self._server.get_pid()
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server we started, always.

        pgserver stops it once its last live handle is gone, using files in the data
        directory; when those are gone (the directory was deleted) it cannot, so the
        postmaster is then signalled directly: fast shutdown, then immediate, then kill.
        """
        server, self._server = self._server, None
        if server is not None:
            try:
                server.cleanup()
            except Exception as exc:  # noqa: BLE001 -- fall back to signals below
                _log.warning("pgserver could not stop PostgreSQL: {}", exc)
        pid, self._postmaster = self._postmaster, None
        if pid is not None and _is_postmaster(pid) and not self._other_users():
            _log.warning("embedded PostgreSQL (pid {}) still runs; stopping it by signal", pid)
            for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGQUIT, 2.0), (signal.SIGKILL, 2.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if _wait_gone(pid, wait):
                    return
            _log.error("embedded PostgreSQL (pid {}) did not stop", pid)

    def _other_users(self) -> bool:
        """Whether another live process still holds a pgserver handle on this server."""
        try:
            pids = [int(p) for p in json.loads((self.pgdata / ".handle_pids.json").read_text())]
        except (OSError, ValueError, TypeError):
            return False  # no list (e.g. the data directory is gone): nobody else registered
        return any(p != os.getpid() and _alive(p) for p in pids)

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


def _is_postmaster(pid: int) -> bool:
    """Whether ``pid`` is a live PostgreSQL process (not a reused pid, not a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return "State:\tZ" not in status and b"postgres" in command


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _is_postmaster(pid):
            return True
        time.sleep(0.05)
    return not _is_postmaster(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
