"""An exclusive lock on the data directory: one daemon per data dir."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from revaer.errors import FatalError

__all__ = ["DataDirLock"]


class DataDirLock:
    """``flock`` on ``<data_dir>/revaer.lock``; the kernel releases it if the process dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "revaer.lock"
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FatalError(
                f"cannot use data dir {self.path.parent}: {exc.strerror or exc}; choose a "
                "writable directory with --data-dir or REVAER_DATA_DIR"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FatalError(
                f"another revaer-app (pid {holder}) is already running with data dir "
                f"{self.path.parent}; stop it or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
